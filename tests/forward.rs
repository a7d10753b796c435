//! Forward (SRS's `forward` per vhost) against real peers: ffmpeg publishes to tinysrs A,
//! which forwards to a second tinysrs B and to nginx-rtmp (Debian's nginx with
//! libnginx-mod-rtmp); ffprobe reads the stream back from each destination. Also a
//! destination that is down at first: A backs off, the API says so, and A publishes once the
//! destination comes up; a destination that stops reading (SIGSTOP) costs only the forward's
//! queue while the players are unaffected, and is published to again when it reads again.
//! Dynamic forward (`forward.backend`) against the test hook server.
//! Ports 31400-31499, nginx-rtmp's and a dead destination's from `common::free_port` (below
//! the ephemeral range), else ephemeral (the hook servers too), on 127.0.0.1.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::api::{forward_to, published, streams, wait_stream, with_api};
use common::hookserver::Hooks;
use common::nginx::Nginx;
use common::{ffmpeg_publish, ffmpeg_read, ffprobe, free_port, Proc, Server, TempDir};

/// A tinysrs listening on `port` (RTMP), `port + 1` (HTTP) and `port + 2` (API), with `extra`.
fn tinysrs(port: u16, extra: &str) -> Server {
    let dir = TempDir::new("forward");
    let path = dir.path("tinysrs.toml");
    std::fs::write(
        &path,
        format!(
            "listen = \"127.0.0.1:{port}\"\nhttp_server.listen = \"127.0.0.1:{}\"\n\
             http_api.listen = \"127.0.0.1:{}\"\ngb28181.sip_listen = \"127.0.0.1:{}\"\n\
             gb28181.media_listen = \"127.0.0.1:{}\"\n{extra}",
            port + 1,
            port + 2,
            port + 3,
            port + 4,
        ),
    )
    .unwrap();
    Server::start_with_file(dir, path)
}

/// Video frames in `seconds` of `url`, read into an FLV and decoded by ffprobe. Reading
/// longer than a GOP (2 s here) is what makes frames arrive at all.
fn read_back(dir: &TempDir, url: &str, seconds: u32, tag: &str) -> usize {
    let out = dir.path(&format!("{tag}.flv"));
    let (ok, err) = ffmpeg_read(dir, url, seconds, &out, Duration::from_secs(30));
    assert!(ok, "ffmpeg read {url}: {err}");
    let probe = ffprobe(dir, out.to_str().unwrap(), Duration::from_secs(20));
    assert!(
        probe.codecs.contains(&"h264".to_owned()),
        "{url}: {probe:?}"
    );
    probe.video_frames
}

#[test]
fn forwards_to_tinysrs_and_nginx_rtmp() {
    let nginx = Nginx::start();
    let b = tinysrs(31410, "");
    let a = tinysrs(
        31420,
        &format!(
            "[vhost.__defaultVhost__.forward]\nenabled = true\n\
             destination = [\"127.0.0.1:31410\", \"{}\"]\n",
            nginx.url("live/fwd?key=k1")
        ),
    );
    let dir = TempDir::new("forward-read");
    // 2 s GOPs (50 frames at 25 fps), like a camera; long enough for both reads.
    let mut publish = ffmpeg_publish(&dir, &a.url("live/cam"), 25, 50, "1M");
    assert!(
        wait_stream(&b, Duration::from_secs(15), published("cam")),
        "B never got the stream; A's log:\n{}",
        a.log()
    );
    let both = |s: &serde_json::Value| {
        s["name"] == "cam"
            && s["forwards"]
                .as_array()
                .is_some_and(|f| f.len() == 2 && f.iter().all(|f| f["state"] == "publishing"))
    };
    assert!(
        wait_stream(&a, Duration::from_secs(10), both),
        "A's forwards: {:?}\n{}",
        streams(&a),
        a.log()
    );
    let to_b = std::thread::spawn({
        let dir = TempDir::new("read-b");
        let url = b.url("live/cam");
        move || read_back(&dir, &url, 6, "b")
    });
    let from_nginx = read_back(&dir, &nginx.url("live/fwd"), 6, "nginx");
    let from_b = to_b.join().unwrap();
    // 6 s at 25 fps is 150 frames; the reads start at a keyframe.
    assert!(from_b >= 100, "B: {from_b} video frames");
    assert!(from_nginx >= 100, "nginx-rtmp: {from_nginx} video frames");
    let a_streams = streams(&a);
    let cam = a_streams.iter().find(|s| s["name"] == "cam").unwrap();
    for f in cam["forwards"].as_array().unwrap() {
        assert!(f["send_bytes"].as_u64().unwrap() > 100_000, "{f}");
        assert!(
            !f["url"].as_str().unwrap().contains("k1"),
            "the stream key stays out of the API: {f}"
        );
    }
    let _ = publish.child.kill();
    let _ = publish.child.wait();
    assert!(
        a.wait_log("stopped", Duration::from_secs(10)),
        "forwards stop at unpublish:\n{}",
        a.log()
    );
    // A says FCUnpublish + deleteStream before it closes: B ends the publish on them, before
    // the connection's close (without them the close comes first and ends it). The close is
    // "closed by peer" or, when A's socket goes with B's answers unread, a reset.
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let log = b.log();
        let unpublish = log
            .lines()
            .position(|l| l.contains("] unpublish "))
            .map(|i| (i, log.lines().nth(i).unwrap().to_owned()));
        if let Some((at, line)) = unpublish {
            let end_cid = line.find("] unpublish ").unwrap();
            let cid = &line[line[..end_cid].rfind('[').unwrap()..=end_cid];
            let closed = log
                .lines()
                .position(|l| l.contains(&format!("{cid} closed")));
            if let Some(closed) = closed {
                assert!(at < closed, "B's log:\n{log}");
                break;
            }
        }
        assert!(Instant::now() < end, "B's log:\n{log}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_destination_down_at_start_is_retried_with_backoff() {
    let a = tinysrs(31430, &forward_to("127.0.0.1:31440"));
    let dir = TempDir::new("forward-down");
    let mut publish = ffmpeg_publish(&dir, &a.url("live/late"), 40, 50, "500k");
    let backoff = |s: &serde_json::Value| {
        s["name"] == "late"
            && s["forwards"][0]["state"] == "backoff"
            && s["forwards"][0]["error"]
                .as_str()
                .is_some_and(|e| e.contains("connect"))
    };
    assert!(
        wait_stream(&a, Duration::from_secs(10), backoff),
        "{:?}",
        streams(&a)
    );
    assert!(
        a.wait_log("retrying in", Duration::from_secs(5)),
        "{}",
        a.log()
    );
    let b = tinysrs(31440, "");
    // Backoff: 1, 2, 4, 8 s: the next attempt comes within 16 s of B's start.
    assert!(
        wait_stream(&b, Duration::from_secs(20), published("late")),
        "A did not reconnect:\n{}",
        a.log()
    );
    let frames = read_back(&dir, &b.url("live/late"), 5, "late");
    assert!(frames >= 75, "B: {frames} video frames");
    assert!(
        streams(&a)
            .iter()
            .any(|s| s["name"] == "late" && s["forwards"][0]["state"] == "publishing"),
        "{:?}",
        streams(&a)
    );
    let _ = publish.child.kill();
    let _ = publish.child.wait();
}

/// A destination that stops reading (B stopped by SIGSTOP: its connection stays open, nothing
/// is read) costs the source only its queue: the forward's queue (`forward.queue_max_bytes`,
/// 1 MiB here) drops and counts frames instead of growing, A's RSS stays within the queue and
/// the client session's outbox, the session ends at the send timeout (10 s without progress)
/// and enters the backoff, the players of the stream on A get it at its bitrate all the while,
/// and the forward publishes again once B reads again (SIGCONT). The publisher is
/// `tinysrs-bench` at 8 Mbit/s so that the loopback's socket buffers (several MB) fill within
/// seconds.
#[test]
fn a_destination_that_stops_reading_costs_only_its_queue() {
    let b = tinysrs(31490, "");
    let a = tinysrs(
        31480,
        &format!(
            "{}queue_max_bytes = 1048576\n[vhost.__defaultVhost__.hls]\nenabled = false\n",
            forward_to("127.0.0.1:31490")
        ),
    );
    let dir = TempDir::new("forward-stall");
    let pid = a.pid().to_string();
    let url = a.url("live/stall");
    let mut bench = Proc::spawn(
        Command::new(env!("CARGO_BIN_EXE_tinysrs-bench"))
            .args([
                "run",
                &url,
                "--players",
                "2",
                "--warmup",
                "2",
                "--duration",
                "45",
            ])
            .args(["--kbps", "8000", "--gop", "25", "--server-pid", &pid])
            .stdout(Stdio::piped()),
        &dir.path("bench.err"),
    );
    fn forward(f: impl Fn(&serde_json::Value) -> bool) -> impl Fn(&serde_json::Value) -> bool {
        move |s| s["name"] == "stall" && f(&s["forwards"][0])
    }
    assert!(
        wait_stream(
            &a,
            Duration::from_secs(15),
            forward(|f| f["state"] == "publishing")
        ),
        "{:?}\n{}",
        streams(&a),
        a.log()
    );
    // A's RSS grows for the first seconds of an 8 Mbit/s stream (about 6 MB, then flat, as
    // measured without a stall): the stall starts after that.
    std::thread::sleep(Duration::from_secs(10));
    let rss_before = a.rss_kib();
    b.signal("STOP");
    let mut rss_max = rss_before;
    let end = Instant::now() + Duration::from_secs(30);
    let mut backoff = None;
    while Instant::now() < end {
        rss_max = rss_max.max(a.rss_kib());
        let stall = streams(&a).into_iter().find(|s| s["name"] == "stall");
        let f = stall.map(|s| s["forwards"][0].clone()).unwrap_or_default();
        if f["state"] == "backoff" && f["dropped_frames"].as_u64().unwrap_or(0) > 0 {
            backoff = Some(f);
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let f = backoff.unwrap_or_else(|| {
        panic!(
            "no drops and backoff within 30 s of B's stop: {:?}\n{}",
            streams(&a),
            a.log()
        )
    });
    assert!(
        f["error"]
            .as_str()
            .is_some_and(|e| e.contains("the destination does not read")),
        "{f}"
    );
    // Unbounded, 8 Mbit/s for the 17 s or so of the stall would be about 10 MB past the
    // loopback's socket buffers; bounded, the queue (1 MiB) and the session's outbox (1 MiB).
    let grown = rss_max.saturating_sub(rss_before);
    assert!(
        grown < 4 * 1024,
        "A's RSS grew by {grown} KiB while B did not read ({f})"
    );
    b.signal("CONT");
    assert!(
        wait_stream(
            &a,
            Duration::from_secs(20),
            forward(|f| f["state"] == "publishing" && f["sessions"].as_u64() >= Some(2))
        ),
        "the forward did not publish again after B's SIGCONT: {:?}\n{}",
        streams(&a),
        a.log()
    );
    let status = bench.wait(Duration::from_secs(60));
    let mut stdout = String::new();
    if let Some(mut out) = bench.child.stdout.take() {
        out.read_to_string(&mut stdout).unwrap();
    }
    assert!(
        status.success(),
        "tinysrs-bench: {}\n{stdout}",
        bench.stderr()
    );
    let last = stdout.lines().last().unwrap_or_default();
    let figures: serde_json::Value =
        serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {last:?}"));
    // The players on A did not feel the stalled destination.
    assert_eq!(figures["connected"], 2, "{figures}");
    assert_eq!(figures["starved"], 0, "{figures}");
    assert!(
        figures["recv_kbps_min"].as_f64().unwrap_or(0.0) > 6000.0,
        "{figures}"
    );
    eprintln!(
        "stalled destination: A's RSS +{grown} KiB at most, {} frames dropped, error {:?}; \
         players {} kbps at least",
        f["dropped_frames"], f["error"], figures["recv_kbps_min"]
    );
}

/// SRS 5.0 dynamic forward: the backend answers two URLs for the stream; both destinations
/// get it, `destination` is not used, and the backend got SRS's `on_forward` fields.
#[test]
fn a_backend_gives_the_destinations_of_each_stream() {
    let hooks = Hooks::start(0, 10);
    let b = with_api("");
    let c = with_api("");
    // Nothing listens there: the backend's answer must replace it.
    let unused = free_port();
    let a = with_api(&format!(
        "[vhost.__defaultVhost__.forward]\nenabled = true\n\
             destination = \"127.0.0.1:{unused}\"\nbackend = \"{}\"\n",
        hooks.url(&format!("forward/{}/{}", b.addr.port(), c.addr.port()))
    ));
    let dir = TempDir::new("forward-backend");
    let mut publish = ffmpeg_publish(&dir, &a.url("live/dyn?token=t1"), 25, 50, "1M");
    for (name, server) in [("B", &b), ("C", &c)] {
        assert!(
            wait_stream(server, Duration::from_secs(15), published("dyn")),
            "{name} never got the stream; A's log:\n{}",
            a.log()
        );
    }
    let asked = hooks.wait("on_forward", 1, Duration::from_secs(1));
    assert_eq!(asked.len(), 1, "{asked:?}");
    let body = &asked[0];
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "action",
            "app",
            "client_id",
            "ip",
            "param",
            "server_id",
            "service_id",
            "stream",
            "tcUrl",
            "vhost"
        ],
        "{body}"
    );
    assert_eq!(
        (&body["app"], &body["stream"], &body["param"], &body["ip"]),
        (
            &serde_json::json!("live"),
            &serde_json::json!("dyn"),
            &serde_json::json!("?token=t1"),
            &serde_json::json!("127.0.0.1")
        ),
        "{body}"
    );
    let two = |s: &serde_json::Value| {
        s["name"] == "dyn"
            && s["forwards"].as_array().is_some_and(|f| {
                f.len() == 2
                    && f.iter().all(|f| {
                        f["state"] == "publishing"
                            && !f["url"]
                                .as_str()
                                .unwrap_or("")
                                .contains(&format!(":{unused}"))
                    })
            })
    };
    assert!(
        wait_stream(&a, Duration::from_secs(10), two),
        "A's forwards: {:?}",
        streams(&a)
    );
    let to_c = std::thread::spawn({
        let dir = TempDir::new("read-c");
        let url = c.url("live/dyn");
        move || read_back(&dir, &url, 6, "c")
    });
    let from_b = read_back(&dir, &b.url("live/dyn"), 6, "b");
    let from_c = to_c.join().unwrap();
    assert!(from_b >= 100, "B: {from_b} video frames");
    assert!(from_c >= 100, "C: {from_c} video frames");
    let _ = publish.child.kill();
    let _ = publish.child.wait();
}

/// A backend that fails: logged, and the stream still publishes (unforwarded).
#[test]
fn a_failing_backend_leaves_the_stream_published() {
    let hooks = Hooks::start(0, 10);
    let a = with_api(&format!(
        "[vhost.__defaultVhost__.forward]\nenabled = true\nbackend = \"{}\"\n",
        hooks.url("error")
    ));
    let dir = TempDir::new("forward-backend-error");
    let mut publish = ffmpeg_publish(&dir, &a.url("live/nofwd"), 20, 50, "500k");
    assert!(
        a.wait_log("not forwarded", Duration::from_secs(10)),
        "{}",
        a.log()
    );
    assert!(
        wait_stream(&a, Duration::from_secs(5), published("nofwd")),
        "{:?}",
        streams(&a)
    );
    let frames = read_back(&dir, &a.url("live/nofwd"), 5, "a");
    assert!(frames >= 75, "A: {frames} video frames");
    assert!(streams(&a)
        .iter()
        .any(|s| s["name"] == "nofwd" && s["forwards"].as_array().is_none_or(|f| f.is_empty())));
    let _ = publish.child.kill();
    let _ = publish.child.wait();
}
