//! The router caps against the real binary (issue 16): the config each OpenWrt package ships
//! (`ci/lib/board-config.py` writes it from `boards/<board>/board.toml`, as `ci/package` does)
//! still carries a 1080p H.264 camera at 4 Mbit/s whose keyframes are about 500 KB, published
//! with ffmpeg over RTMP and played back over RTMP and HTTP-FLV; and the same stream with
//! `rtmp.max_message_bytes` below its keyframes is refused, with the key named in the log.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{ffmpeg_read, require, Proc, Server, TempDir};

const SECS: Duration = Duration::from_secs(1);
/// The smallest keyframe the clip must have for the test to mean anything, and the caps of
/// the routers (1 MiB) that it must stay under.
const MIN_KEYFRAME: usize = 450_000;
const ROUTER_CAP: usize = 1 << 20;

/// 8 s of 1080p at 25 fps, a keyframe every 4 s, 4 Mbit/s (x264 with a 6 Mbit VBV buffer),
/// over a noisy picture so that keyframes are large (about 500 to 570 KB), with AAC, as FLV.
fn camera_clip(dir: &TempDir) -> PathBuf {
    require("ffmpeg");
    let path = dir.path("camera-1080p-4M.flv");
    let mut p = Proc::spawn(
        Command::new("ffmpeg")
            .args(["-hide_banner", "-nostats", "-loglevel", "error", "-y"])
            .args(["-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=25"])
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
            .args(["-vf", "noise=alls=20", "-t", "8"])
            .args(["-c:v", "libx264", "-preset", "veryfast", "-g", "100"])
            .args(["-b:v", "4M", "-maxrate", "6M", "-bufsize", "6M"])
            .args(["-x264-params", "keyint=100"])
            .args(["-c:a", "aac", "-b:a", "64k", "-f", "flv"])
            .arg(&path)
            .stdout(Stdio::null()),
        &dir.path("encode.err"),
    );
    assert!(p.wait(120 * SECS).success(), "{}", p.stderr());
    path
}

/// (size, keyframe) of every video packet of a file.
fn video_packets(path: &Path) -> Vec<(usize, bool)> {
    require("ffprobe");
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0"])
        .args(["-show_entries", "packet=size,flags", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("run ffprobe");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (size, flags) = l.split_once(',')?;
            Some((size.parse().ok()?, flags.contains('K')))
        })
        .collect()
}

fn largest_keyframe(packets: &[(usize, bool)]) -> usize {
    packets
        .iter()
        .filter(|(_, key)| *key)
        .map(|(size, _)| *size)
        .max()
        .unwrap_or(0)
}

/// The board's packaged config, with the listeners moved to ephemeral loopback ports and the
/// log at info (the harness waits for the "listening" lines); every cap as shipped. `extra`
/// replaces further lines (`(old line, new line)`).
fn board_server(board: &str, extra: &[(&str, &str)]) -> Server {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = TempDir::new(board);
    let path = dir.path("tinysrs.toml");
    let ok = Command::new("python3")
        .arg(root.join("ci/lib/board-config.py"))
        .arg(root.join(format!("boards/{board}/board.toml")))
        .arg(root.join("rootfs/common/etc/tinysrs/tinysrs.toml"))
        .arg(&path)
        .status()
        .expect("run python3 ci/lib/board-config.py");
    assert!(ok.success(), "board-config.py {board}");
    let mut text = std::fs::read_to_string(&path).unwrap();
    // The package makes the API password at install; the test makes its own.
    let password = dir.path("api-password");
    std::fs::write(&password, "caps-test\n").unwrap();
    let shipped = "password_file = \"/etc/tinysrs/api-password\"";
    assert!(text.contains(shipped), "{board}: {shipped} in its config");
    text = text.replace(
        shipped,
        &format!("password_file = {:?}", password.display().to_string()),
    );
    let mut replace = vec![
        ("listen = \"0.0.0.0:1935\"", "listen = \"127.0.0.1:0\""),
        ("listen = \"0.0.0.0:8080\"", "listen = \"127.0.0.1:0\""),
        (
            "sip_listen = \"0.0.0.0:5060\"",
            "sip_listen = \"127.0.0.1:0\"",
        ),
        (
            "media_listen = \"0.0.0.0:9000\"",
            "media_listen = \"127.0.0.1:0\"",
        ),
        ("level = \"warn\"", "level = \"info\""),
    ];
    replace.extend_from_slice(extra);
    for (old, new) in replace {
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines.iter().filter(|l| **l == old).count(),
            1,
            "{board}: one line {old:?} in its config"
        );
        text = lines
            .iter()
            .map(|l| if *l == old { new } else { l })
            .collect::<Vec<_>>()
            .join("\n");
    }
    std::fs::write(&path, text).unwrap();
    Server::start_with_file(dir, path)
}

/// Reads `url` for `seconds` into `out` on a thread (the reader starts before the publisher).
fn read_in_background(
    dir: &TempDir,
    url: String,
    out: PathBuf,
) -> std::thread::JoinHandle<(bool, String)> {
    let dir = TempDir(dir.0.clone());
    std::thread::spawn(move || {
        let result = ffmpeg_read(&dir, &url, 6, &out, 40 * SECS);
        // The directory belongs to the test: do not remove it here.
        std::mem::forget(dir);
        result
    })
}

fn publish(dir: &TempDir, clip: &Path, url: &str) -> Proc {
    Proc::spawn(
        Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-nostats",
                "-loglevel",
                "error",
                "-re",
                "-i",
            ])
            .arg(clip)
            .args(["-c", "copy", "-f", "flv", url])
            .stdout(Stdio::null()),
        &dir.path("publish.err"),
    )
}

#[test]
fn a_1080p_camera_with_500_kb_keyframes_passes_the_router_caps() {
    let dir = TempDir::new("caps");
    let clip = camera_clip(&dir);
    let sent = video_packets(&clip);
    let largest = largest_keyframe(&sent);
    assert!(
        (MIN_KEYFRAME..ROUTER_CAP).contains(&largest),
        "the clip's largest keyframe is {largest} bytes: {sent:?}"
    );
    for board in ["openwrt-ath79", "openwrt-mt7621"] {
        let server = board_server(board, &[]);
        let rtmp_out = dir.path(&format!("{board}-rtmp.flv"));
        let flv_out = dir.path(&format!("{board}-http.flv"));
        // Players wait for the stream, so both get it from its first keyframe.
        let rtmp = read_in_background(&dir, server.url("live/cam"), rtmp_out.clone());
        let flv = read_in_background(&dir, server.http_url("live/cam.flv"), flv_out.clone());
        // On a loaded machine ffmpeg can take seconds to connect; one that joined after the
        // first keyframe would wait 4 s for the next (the GOP is over the router's cache).
        let waiting = || server.log().matches("/live/cam as client").count();
        let deadline = std::time::Instant::now() + 30 * SECS;
        while waiting() < 2 {
            assert!(
                std::time::Instant::now() < deadline,
                "{board}: both players wait for the stream: {}",
                server.log()
            );
            std::thread::sleep(SECS / 10);
        }
        let mut publisher = publish(&dir, &clip, &server.url("live/cam"));
        for (what, reader, out) in [("RTMP", rtmp, &rtmp_out), ("HTTP-FLV", flv, &flv_out)] {
            let (ok, errors) = reader.join().unwrap();
            assert!(ok && errors.trim().is_empty(), "{board} {what}: {errors}");
            let got = video_packets(out);
            // 6 s at 25 fps, from the first keyframe: both keyframes of the clip's first 6 s.
            assert!(got.len() >= 140, "{board} {what}: {} frames", got.len());
            let keyframes: Vec<usize> = got.iter().filter(|p| p.1).map(|p| p.0).collect();
            assert!(keyframes.len() >= 2, "{board} {what}: {keyframes:?}");
            assert!(
                largest_keyframe(&got) >= MIN_KEYFRAME,
                "{board} {what}: the large keyframes came through whole: {keyframes:?}"
            );
        }
        assert!(
            publisher.wait(30 * SECS).success(),
            "{board}: {}",
            publisher.stderr()
        );
        let log = server.log();
        assert!(!log.contains("rtmp.max_"), "{board}: {log}");
    }
}

#[test]
fn the_same_camera_over_a_lowered_message_cap_is_refused_naming_the_key() {
    let dir = TempDir::new("caps-refused");
    let clip = camera_clip(&dir);
    // 256 KiB: below every keyframe of the clip (the P frames are far smaller).
    let server = board_server(
        "openwrt-ath79",
        &[("max_message_bytes = 1048576", "max_message_bytes = 262144")],
    );
    let mut publisher = publish(&dir, &clip, &server.url("live/cam"));
    assert!(
        server.wait_log("over rtmp.max_message_bytes; closing", 20 * SECS),
        "{}",
        server.log()
    );
    assert!(
        !publisher.wait(30 * SECS).success(),
        "ffmpeg sees the connection closed"
    );
    assert!(
        server.log().contains("exceeds the limit 262144"),
        "{}",
        server.log()
    );
}
