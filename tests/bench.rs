//! `tinysrs-bench` against the real server: a publisher and five RTMP players (then five
//! HTTP-FLV players) for a few seconds; the players must get the stream at its bitrate and the
//! stamps must give latency figures; then five RTSP players (RTP interleaved over TCP) of the
//! RTMP publisher, with the `rtsp` feature. Then `ingest` (four publishers, a player each, over RTMP
//! and HTTP-FLV) and `blast`, unbatched and batched.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Proc, Server, TempDir};

/// Runs the bench to its end (bounded) and returns its JSON line.
fn bench(dir: &TempDir, args: &[&str]) -> serde_json::Value {
    let mut proc = Proc::spawn(
        Command::new(env!("CARGO_BIN_EXE_tinysrs-bench"))
            .args(args)
            .stdout(Stdio::piped()),
        &dir.path("bench.err"),
    );
    let status = proc.wait(Duration::from_secs(30));
    let mut stdout = String::new();
    if let Some(mut out) = proc.child.stdout.take() {
        out.read_to_string(&mut stdout).unwrap();
    }
    assert!(
        status.success(),
        "tinysrs-bench failed: {}\n{stdout}",
        proc.stderr()
    );
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {last:?}\n{stdout}"))
}

fn check(figures: &serde_json::Value, players: u64) {
    let f = |k: &str| {
        figures[k]
            .as_f64()
            .unwrap_or_else(|| panic!("{k}: {figures}"))
    };
    assert_eq!(f("connected") as u64, players, "{figures}");
    assert_eq!(f("starved") as u64, 0, "{figures}");
    assert!(f("lat_samples") > 0.0, "{figures}");
    assert!(
        f("lat_p50_ms") > 0.0 && f("lat_p99_ms") >= f("lat_p50_ms"),
        "{figures}"
    );
    assert!(f("recv_kbps_min") > 400.0, "{figures}");
    assert!(f("server_cpu_s") >= 0.0, "{figures}");
    assert!(f("server_rss_peak_kb") > 0.0, "{figures}");
}

#[test]
fn bench_measures_rtmp_and_http_flv_players_of_the_real_server() {
    let server = Server::start("[vhost.__defaultVhost__]\nmin_latency = true\n");
    let pid = server.pid().to_string();
    let url = server.url("live/bench");
    let common = [
        "--players",
        "5",
        "--warmup",
        "1",
        "--duration",
        "3",
        "--kbps",
        "500",
        "--server-pid",
        &pid,
    ];
    let mut args = vec!["run", &url];
    args.extend_from_slice(&common);
    check(&bench(&server.dir, &args), 5);

    let flv = server.http_url("live/bench2.flv");
    let url2 = server.url("live/bench2");
    let mut args = vec!["run", &url2, "--play-url", &flv];
    args.extend_from_slice(&common);
    check(&bench(&server.dir, &args), 5);
}

#[cfg(feature = "rtsp")]
#[test]
fn bench_measures_rtsp_players_of_the_real_server() {
    let server = Server::start(
        "[vhost.__defaultVhost__]\nmin_latency = true\n\
         [rtsp_server]\nenabled = true\nlisten = \"127.0.0.1:0\"\n",
    );
    let rtsp = server
        .log()
        .lines()
        .find_map(|l| l.split("RTSP listening on ").nth(1).map(str::to_owned))
        .and_then(|a| a.trim().parse::<std::net::SocketAddr>().ok())
        .expect("RTSP listening");
    let pid = server.pid().to_string();
    let url = server.url("live/bench");
    let play = format!("rtsp://127.0.0.1:{}/live/bench", rtsp.port());
    let args = [
        "run",
        &url,
        "--play-url",
        &play,
        "--players",
        "5",
        "--warmup",
        "1",
        "--duration",
        "3",
        "--kbps",
        "500",
        "--server-pid",
        &pid,
    ];
    let figures = bench(&server.dir, &args);
    check(&figures, 5);
    assert_eq!(figures["rtp_gaps"].as_u64(), Some(0), "{figures}");
    assert!(figures["first_error"].is_null(), "{figures}");
}

#[test]
fn blast_reports_its_cpu_and_delivered_bitrate() {
    let dir = TempDir::new("blast");
    let figures = bench(
        &dir,
        &[
            "blast",
            "--players",
            "5",
            "--warmup",
            "0.5",
            "--duration",
            "1",
        ],
    );
    let mbps = figures["delivered_mbps"].as_f64().unwrap();
    assert!(mbps > 3.0 && mbps < 8.0, "{figures}");
}

/// What an `ingest` run must show: every publisher counted and publishing, every player fed at
/// its publisher's rate, the server's CPU and RSS read.
fn check_ingest(figures: &serde_json::Value, publishers: u64, kbps: f64) {
    let f = |k: &str| {
        figures[k]
            .as_f64()
            .unwrap_or_else(|| panic!("{k}: {figures}"))
    };
    assert_eq!(f("publishers") as u64, publishers, "{figures}");
    assert_eq!(f("publishing") as u64, publishers, "{figures}");
    assert_eq!(f("connected") as u64, publishers, "{figures}");
    assert_eq!(f("starved") as u64, 0, "{figures}");
    // Every player got bytes, at about the stream's rate.
    assert!(f("recv_kbps_min") > 0.8 * kbps, "{figures}");
    let total = publishers as f64 * kbps / 1000.0;
    assert!(
        f("ingest_mbps") > 0.8 * total && f("ingest_mbps") < 1.2 * total,
        "{figures}"
    );
    assert!(f("delivered_mbps") > 0.8 * total, "{figures}");
    assert!(f("lat_samples") > 0.0, "{figures}");
    assert!(f("server_cpu_s") >= 0.0, "{figures}");
    assert!(f("server_rss_end_kb") > 0.0, "{figures}");
    assert!(figures["rss_per_publisher_kb"].is_number(), "{figures}");
    assert!(f("rss_peak_per_publisher_kb") >= 0.0, "{figures}");
    // One GOP of the synthetic stream: 2 s at `kbps`.
    let gop = kbps * 1000.0 / 8.0 * 2.0;
    assert!((f("gop_bytes") - gop).abs() < 0.05 * gop, "{figures}");
}

#[test]
fn ingest_measures_many_publishers_each_with_a_player() {
    // min_latency: each frame goes out at once, so a 3 s window is enough to hold every player
    // to 90% of its publisher.
    let server = Server::start(
        "[vhost.__defaultVhost__]\nmin_latency = true\n[vhost.__defaultVhost__.hls]\nenabled = false\n",
    );
    let pid = server.pid().to_string();
    let common = [
        "--publishers",
        "4",
        "--ramp",
        "20",
        "--warmup",
        "1",
        "--duration",
        "3",
        "--kbps",
        "500",
        "--server-pid",
        &pid,
    ];
    let url = server.url("live/s");
    let mut args = vec!["ingest", &url];
    args.extend_from_slice(&common);
    check_ingest(&bench(&server.dir, &args), 4, 500.0);

    let url = server.url("live/h");
    let flv = server.http_url("live/h.flv");
    let mut args = vec!["ingest", &url, "--play-url", &flv];
    args.extend_from_slice(&common);
    check_ingest(&bench(&server.dir, &args), 4, 500.0);
}

#[test]
fn batched_blast_writes_the_same_bytes_in_fewer_writes() {
    let dir = TempDir::new("blast-batched");
    let blast = |extra: &[&str]| {
        let mut args = vec![
            "blast",
            "--players",
            "5",
            "--warmup",
            "0.5",
            "--duration",
            "2",
        ];
        args.extend_from_slice(extra);
        bench(&dir, &args)
    };
    let f = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap_or_else(|| panic!("{k}: {v}"));
    let single = blast(&[]);
    let batched = blast(&["--mw-latency", "200"]);
    assert_eq!(f(&single, "mw_latency_ms"), 0.0, "{single}");
    assert_eq!(f(&batched, "mw_latency_ms"), 200.0, "{batched}");
    for v in [&single, &batched] {
        let mbps = f(v, "delivered_mbps");
        assert!(mbps > 3.5 && mbps < 7.0, "{v}");
        assert_eq!(f(v, "stalls"), 0.0, "{v}");
    }
    // One write per frame and socket (25 fps, 5 sockets, 2 s), against one per 200-240 ms.
    let (w1, wb) = (f(&single, "writes"), f(&batched, "writes"));
    // (Fewer when the machine is so loaded that the sender falls behind.)
    assert!((200.0..=260.0).contains(&w1), "{single}");
    assert!((30.0..=60.0).contains(&wb), "{batched}");
    let batched_default = blast(&["--batched"]);
    let shipped = tinysrs::config::Config::embedded()
        .default_vhost()
        .mw_latency_ms;
    assert_eq!(
        f(&batched_default, "mw_latency_ms"),
        f64::from(shipped),
        "{batched_default}"
    );
}
