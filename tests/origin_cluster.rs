//! Origin cluster (SRS 3.0's `cluster.origin_cluster` + `cluster.coworkers`, RTMP 302) against
//! real peers: ffmpeg publishes to origin A; origin B lists a dead coworker, then A's API; an
//! edge pulls from B, which finds no stream, asks its coworkers (`GET /api/v1/clusters`),
//! answers the edge's play with an RTMP 302 to A, and the edge follows it; ffprobe on the edge
//! decodes the stream. A plain play on B with no coworker placing the stream is refused. All
//! on ephemeral ports of 127.0.0.1.

mod common;

use std::time::{Duration, Instant};

use common::{ffmpeg_publish, ffmpeg_read, ffprobe, get_json, Server, TempDir};

/// A tinysrs on ephemeral ports of 127.0.0.1 (RTMP, HTTP, API), with `extra`.
fn tinysrs(extra: &str) -> Server {
    Server::start(&format!("http_api.listen = \"127.0.0.1:0\"\n{extra}"))
}

/// A loopback port where nothing listens (bound, then closed).
fn dead_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

fn published(server: &Server, name: &str) -> bool {
    let (_, json) = get_json(server.api_addr.expect("API"), "/api/v1/streams");
    json["streams"].as_array().is_some_and(|s| {
        s.iter()
            .any(|s| s["name"] == name && s["publish"]["active"] == true)
    })
}

/// An origin of a cluster whose coworkers are these API addresses.
fn cluster_origin(coworkers: &[String]) -> Server {
    let list: Vec<String> = coworkers.iter().map(|c| format!("\"{c}\"")).collect();
    tinysrs(&format!(
        "[vhost.__defaultVhost__.cluster]\norigin_cluster = true\ncoworkers = [{}]\n",
        list.join(", ")
    ))
}

#[test]
fn an_edge_follows_the_origins_rtmp_302_to_the_coworker_with_the_stream() {
    let a = cluster_origin(&[dead_port()]);
    let b = cluster_origin(&[dead_port(), a.api_addr.expect("API").to_string()]);
    let edge = tinysrs(&format!(
        "[vhost.__defaultVhost__.cluster]\nmode = \"remote\"\norigin = \"{}\"\n",
        b.addr
    ));
    let dir = TempDir::new("ocluster-publish");
    let mut publish = ffmpeg_publish(&dir, &a.url("live/oc"), 40, 50, "500k");
    let end = Instant::now() + Duration::from_secs(15);
    while !published(&a, "oc") && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(published(&a, "oc"), "{}", a.log());

    let out = dir.path("edge.flv");
    let url = edge.url("live/oc");
    let (ok, err) = ffmpeg_read(&dir, &url, 6, &out, Duration::from_secs(40));
    assert!(
        ok,
        "ffmpeg read {url}: {err}\nedge:\n{}\nB:\n{}",
        edge.log(),
        b.log()
    );
    let probe = ffprobe(&dir, out.to_str().unwrap(), Duration::from_secs(20));
    assert!(probe.codecs.contains(&"h264".to_owned()), "{probe:?}");
    assert!(probe.video_frames >= 50, "{probe:?}");

    let b_log = b.log();
    assert!(
        b_log.contains(&format!(
            "redirected (RTMP 302) to rtmp://127.0.0.1:{}/live/oc",
            a.addr.port()
        )),
        "{b_log}"
    );
    assert!(!published(&b, "oc"), "B never had the stream");
    let edge_log = edge.log();
    assert!(edge_log.contains("redirected (RTMP 302)"), "{edge_log}");

    // A play on B of a stream no coworker has: refused, nothing redirected.
    let (ok, _) = ffmpeg_read(
        &dir,
        &b.url("live/nowhere"),
        2,
        &dir.path("none.flv"),
        Duration::from_secs(20),
    );
    assert!(!ok, "a stream nobody has must not play");
    let b_log = b.log();
    assert!(b_log.contains("no coworker has it"), "{b_log}");

    let _ = publish.child.kill();
    let _ = publish.child.wait();
}
