//! `tinysrs-bench` against the real server: a publisher and five RTMP players (then five
//! HTTP-FLV players) for a few seconds; the players must get the stream at its bitrate and the
//! stamps must give latency figures.

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
