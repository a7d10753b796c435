//! HLS on disk against the real binary: file work runs on the disk thread, so a disk slower
//! than the streams (here one that never answers) makes file ops drop, counted and logged,
//! while players, the API and HLS from RAM carry on; and a healthy disk gets every file.

mod common;

use std::time::Duration;

use common::paced::{read_until_unpublish, Paced};
use common::{curl, player, publisher, Server, TempDir};
use serde_json::Value;

/// A keyframe every 2 s, as cameras send.
const GOP_FRAMES: u32 = 50;
const FRAME_LEN: usize = 4000;
const MW_LATENCY_MS: u64 = 350;
const SECS: Duration = Duration::from_secs(1);

fn summaries(server: &Server) -> Value {
    let (status, _, body) = curl(&[&server.http_url("api/v1/summaries")]);
    assert_eq!(status, 200, "summaries: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).expect("summaries JSON")
}

fn config(hls_path: &std::path::Path) -> String {
    format!(
        "[vhost.__defaultVhost__.play]\ntime_jitter = \"off\"\nmw_latency = {MW_LATENCY_MS}\n\
         [vhost.__defaultVhost__.hls]\nenabled = true\nhls_fragment = 1\nhls_window = 2\n\
         hls_storage = \"disk\"\nhls_path = \"{}\"\n",
        hls_path.display()
    )
}

/// The slow-disk test: the first segment's temporary file is a FIFO nobody opens, so
/// the disk thread blocks in `open()` for good, as on a dead SD card. Four streams keep
/// closing segments; the file work behind them drops (counted in the API, logged), and a
/// player's frames still arrive on time, the API answers, and HLS is served from RAM. The
/// stuck thread does not keep the server from exiting on SIGTERM.
#[test]
fn a_disk_that_never_answers_drops_file_work_and_stalls_no_player() {
    let dir = TempDir::new("slow-disk");
    let hls = dir.path("hls");
    std::fs::create_dir_all(hls.join("live")).unwrap();
    // `s0-0.ts.tmp` is where the segment goes first; `s0-0.tmp` is where it went before the
    // disk thread (when a FIFO there blocked the event loop itself).
    for tmp in ["live/s0-0.ts.tmp", "live/s0-0.tmp"] {
        nix::unistd::mkfifo(&hls.join(tmp), nix::sys::stat::Mode::S_IRWXU).unwrap();
    }
    let mut server = Server::start(&config(&hls));
    let watcher = {
        let mut c = player(&server, "s0");
        std::thread::spawn(move || read_until_unpublish(&mut c, Duration::from_secs(60)))
    };
    let publishers: Vec<Paced> = (0..4)
        .map(|i| Paced::start(publisher(&server, &format!("s{i}")), FRAME_LEN, GOP_FRAMES))
        .collect();

    std::thread::sleep(6 * SECS);
    // By now s0's first segment (closed at 2 s) holds the thread; the event loop still
    // answers, and serves that segment from RAM.
    let (status, _, body) = curl(&[&server.http_url("api/v1/versions")]);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let (status, _, m3u8) = curl(&[&server.http_url("live/s0.m3u8")]);
    assert_eq!(status, 200);
    let m3u8 = String::from_utf8(m3u8).unwrap();
    let first = m3u8
        .lines()
        .find(|l| l.ends_with(".ts"))
        .unwrap_or_else(|| panic!("{m3u8}"));
    let (status, _, ts) = curl(&[&server.http_url(&format!("live/{first}"))]);
    assert_eq!(status, 200, "{first}");
    assert!(!ts.is_empty() && ts.len() % 188 == 0 && ts[0] == 0x47);
    assert!(
        !hls.join("live/s0.m3u8").exists(),
        "no playlist file names a segment whose file was never written"
    );

    std::thread::sleep(6 * SECS);
    let (status, _, _) = curl(&[&server.http_url("api/v1/versions")]);
    assert_eq!(status, 200);
    let counts = summaries(&server)["data"]["tinysrs"].clone();
    let dropped = counts["file_ops_dropped"].as_u64().unwrap_or(0);
    assert!(dropped > 0, "dropped file ops are counted: {counts}");
    assert!(
        server.wait_log("disk too slow: dropped", 5 * SECS),
        "and logged:\n{}",
        server.log()
    );

    let mut sent_s0 = None;
    for (i, p) in publishers.into_iter().enumerate() {
        let r = p.finish();
        if i == 0 {
            sent_s0 = Some(r);
        }
    }
    let (sent, sent_at) = sent_s0.unwrap();
    let got = watcher
        .join()
        .unwrap()
        .unwrap_or_else(|e| panic!("player: {e}"));
    let numbers: Vec<u32> = got.iter().map(|g| g.0).collect();
    assert_eq!(
        numbers,
        (0..sent).collect::<Vec<_>>(),
        "every frame, in order"
    );
    // No gap at the player longer than the publisher's gap plus mw_latency + 100 ms.
    let bound = Duration::from_millis(MW_LATENCY_MS + 100);
    let mut worst = Duration::ZERO;
    for w in got.windows(2) {
        let (a, b) = (w[0], w[1]);
        let at_player = b.1.saturating_duration_since(a.1);
        let at_publisher = sent_at[b.0 as usize].saturating_duration_since(sent_at[a.0 as usize]);
        worst = worst.max(at_player.saturating_sub(at_publisher));
    }
    eprintln!("slow disk: {sent} frames, {dropped} file ops dropped, worst extra gap {worst:?}");
    assert!(
        worst <= bound,
        "a frame gap grew by {worst:?} (bound {bound:?})"
    );

    // The thread is still stuck in open(); SIGTERM ends the process anyway.
    let status = server.stop(5 * SECS);
    assert!(
        status.is_some_and(|s| s.success()),
        "the server exits on SIGTERM: {status:?}\n{}",
        server.log()
    );
}

/// A healthy disk: every segment and the playlist land under `hls_path/app/`, the playlist
/// on disk names only files that exist, segments are served from their files, and nothing is
/// dropped.
#[test]
fn disk_hls_writes_the_playlist_after_its_segments() {
    let dir = TempDir::new("disk-hls");
    let hls = dir.path("hls");
    let server = Server::start(&config(&hls));
    let p = Paced::start(publisher(&server, "cam"), FRAME_LEN, GOP_FRAMES);
    std::thread::sleep(7 * SECS);
    let app = hls.join("live");
    let on_disk = std::fs::read_to_string(app.join("cam.m3u8")).expect("playlist file");
    let names: Vec<&str> = on_disk.lines().filter(|l| l.ends_with(".ts")).collect();
    assert!(!names.is_empty(), "{on_disk}");
    for name in &names {
        let file = std::fs::read(app.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(file.len() % 188 == 0 && file[0] == 0x47, "{name}");
        let (status, _, body) = curl(&[&server.http_url(&format!("live/{name}"))]);
        assert_eq!(status, 200, "{name}");
        assert_eq!(body, file, "{name} is served from its file");
    }
    let (_, _) = p.finish();
    let counts = summaries(&server)["data"]["tinysrs"].clone();
    assert_eq!(counts["file_ops_dropped"], 0, "{counts}");
    assert_eq!(counts["file_ops_failed"], 0, "{counts}");
    let leftovers: Vec<_> = std::fs::read_dir(&app)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
