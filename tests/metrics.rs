//! Prometheus `/metrics` against the real binary: promtool (Debian's `prometheus` package)
//! checks a scrape taken while ffmpeg publishes and ffmpeg players read HTTP-FLV, and its
//! figures agree with `/api/v1/streams` and `/api/v1/summaries`; the exporter's own port
//! (`exporter.listen`) serves `/metrics` and nothing else; without `exporter.enabled` there
//! is no `/metrics`.
//!
//! A scrape during a 100-player run (tinysrs-bench) agrees with the API too; the error count
//! and the GB28181 gauges move with what they count.
//!
//! Ports: the exporter listens on 127.0.0.1:31201 (the rest are ephemeral).

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::{curl, ffmpeg_publish, get_json, require, Proc, Server, TempDir};

static SERIAL: Mutex<()> = Mutex::new(());

/// One ffmpeg test at a time (two shared cores).
fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const EXPORTER_PORT: u16 = 31201;

/// `promtool check metrics` on `text`: (success, its output).
fn promtool(text: &str) -> (bool, String) {
    require("promtool");
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), said)
}

/// The samples of an exposition: `name{labels}` (as written) → value.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').unwrap();
            (name.to_owned(), value.parse().unwrap())
        })
        .collect()
}

/// An ffmpeg player reading `url` for `seconds`, killed by PID when dropped.
fn ffmpeg_player(dir: &TempDir, url: &str, seconds: u32, n: usize) -> Proc {
    require("ffmpeg");
    Proc::spawn(
        Command::new("ffmpeg")
            .args(["-hide_banner", "-nostats", "-v", "error", "-i", url])
            .args(["-t", &seconds.to_string(), "-c", "copy", "-f", "null", "-"])
            .stdout(Stdio::null()),
        &dir.path(&format!("player-{n}.err")),
    )
}

#[test]
fn a_scrape_passes_promtool_and_agrees_with_the_api() {
    let _guard = serial();
    let server = Server::start(&format!(
        "[exporter]\nenabled = true\nlisten = \"127.0.0.1:{EXPORTER_PORT}\"\n\
         label = \"lab\"\ntag = \"edge-1\"\n"
    ));
    let http = server.http_addr.unwrap();
    let dir = TempDir::new("metrics");
    let _publisher = ffmpeg_publish(&dir, &server.url("live/cam"), 20, 25, "300k");
    let flv = server.http_url("live/cam.flv");
    let _players: Vec<Proc> = (0..3).map(|n| ffmpeg_player(&dir, &flv, 15, n)).collect();

    // Wait for the publisher and the three players, then long enough for 30 s rates to have
    // two samples (one every 5 s).
    let end = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, streams) = get_json(http, "/api/v1/streams");
        let clients = streams["streams"][0]["clients"].as_u64().unwrap_or(0);
        if clients == 4 {
            break;
        }
        assert!(Instant::now() < end, "not 4 clients: {streams}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Rates need two of the server's 5 s samples of the publisher's counter; where the first
    // falls depends on when the connection came in relative to the server's tick, so wait for
    // the API's rate rather than a fixed time (a fixed 6 s read 0 in a CI run).
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, streams) = get_json(http, "/api/v1/streams");
        if streams["streams"][0]["kbps"]["recv_30s"]
            .as_u64()
            .unwrap_or(0)
            > 0
        {
            break;
        }
        assert!(
            Instant::now() < end,
            "no receive rate after 20 s: {streams}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    let (_, streams) = get_json(http, "/api/v1/streams");
    let (_, summaries) = get_json(http, "/api/v1/summaries");
    let (status, head, body) = curl(&[&server.http_url("metrics")]);
    let text = String::from_utf8(body).unwrap();
    assert_eq!(status, 200, "{head}{text}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    let (ok, said) = promtool(&text);
    assert!(ok, "promtool check metrics: {said}\n{text}");

    let m = samples(&text);
    let stream = &streams["streams"][0];
    let labels = "{vhost=\"__defaultVhost__\",app=\"live\",stream=\"cam\"}";
    let get = |name: &str| {
        *m.get(name)
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
    };
    assert_eq!(get("srs_streams"), 1.0);
    assert_eq!(get(&format!("tinysrs_stream_players{labels}")), 3.0);
    assert_eq!(stream["clients"].as_u64(), Some(4));
    // The API's counters were read first; the exporter's only grow and include them.
    let api_recv = summaries["data"]["system"]["srs_recv_bytes"]
        .as_f64()
        .unwrap();
    let api_send = summaries["data"]["system"]["srs_send_bytes"]
        .as_f64()
        .unwrap();
    assert!(api_recv > 100_000.0, "{summaries}");
    assert!(get("srs_receive_bytes_total") >= api_recv, "{text}");
    assert!(get("srs_send_bytes_total") >= api_send, "{text}");
    // 4 stream clients and this scrape's own connection at least; every client counted.
    assert!(get("srs_clients") >= 5.0, "{text}");
    assert!(get("srs_clients_total") >= get("srs_clients"), "{text}");
    // Rates within a quarter of the API's, read just before or just after the scrape (the
    // rates move every 5 s, and early in a stream one new sample moves them a lot).
    let recv_kbps = get(&format!("tinysrs_stream_recv_kbps{labels}"));
    let api_kbps = stream["kbps"]["recv_30s"].as_f64().unwrap();
    let (_, after) = get_json(http, "/api/v1/streams");
    let api_after = after["streams"][0]["kbps"]["recv_30s"]
        .as_f64()
        .unwrap_or(0.0);
    assert!(api_kbps > 100.0, "{stream}");
    assert!(
        [api_kbps, api_after]
            .iter()
            .any(|api| (recv_kbps - api).abs() <= api / 4.0),
        "metrics {recv_kbps} kbit/s, API {api_kbps} before, {api_after} after"
    );
    assert!(get(&format!("tinysrs_stream_send_kbps{labels}")) > 2.0 * api_kbps);
    assert!(get(&format!("tinysrs_stream_gop_cache_bytes{labels}")) > 0.0);
    assert!(get("tinysrs_rss_bytes") > 1_000_000.0);
    assert_eq!(get("srs_memory") * 1024.0, get("tinysrs_rss_bytes"));
    assert!(get("tinysrs_memory_budget_bytes") > get("tinysrs_rss_bytes"));
    assert_eq!(get("tinysrs_metrics_dropped_samples"), 0.0);
    let build = m
        .keys()
        .find(|k| k.starts_with("srs_build_info{"))
        .expect("srs_build_info");
    for part in [
        "server=\"vid-",
        "major=\"0\"",
        ",label=\"lab\"",
        ",tag=\"edge-1\"",
    ] {
        assert!(build.contains(part), "{build}");
    }
    let pid = format!("pid=\"{}\"", server.pid());
    assert!(build.contains(&pid), "{build}");

    // The exporter's port: /metrics, and 404 for the API and the streams.
    let exporter = format!("http://127.0.0.1:{EXPORTER_PORT}");
    let (status, _, body) = curl(&[&format!("{exporter}/metrics")]);
    assert_eq!(status, 200);
    assert!(promtool(&String::from_utf8(body).unwrap()).0);
    for path in ["/api/v1/versions", "/live/cam.flv", "/"] {
        let (status, _, _) = curl(&[&format!("{exporter}{path}")]);
        assert_eq!(status, 404, "{path}");
    }
    // Not a method Prometheus uses.
    let (status, _, _) = curl(&["-X", "POST", &server.http_url("metrics")]);
    assert_eq!(status, 405);
}

#[test]
fn no_metrics_unless_the_exporter_is_enabled() {
    let _guard = serial();
    let server = Server::start("");
    let (status, _, _) = curl(&[&server.http_url("metrics")]);
    assert_eq!(status, 404);
}

#[test]
fn metrics_need_the_api_credentials() {
    let _guard = serial();
    let server = Server::start(
        "[exporter]\nenabled = true\n[http_api.auth]\nenabled = true\nusername = \"u\"\n\
         password = \"p\"\n",
    );
    let url = server.http_url("metrics");
    let (status, head, _) = curl(&[&url]);
    assert_eq!(status, 401, "{head}");
    assert!(head.contains("WWW-Authenticate: Basic"), "{head}");
    let (status, _, body) = curl(&["-u", "u:p", &url]);
    assert_eq!(status, 200);
    assert!(String::from_utf8(body)
        .unwrap()
        .contains("\nsrs_streams 0\n"));
}

/// One request the heartbeat listener received: when, its head, its body.
type Beat = (Instant, String, String);

/// A one-thread HTTP server on `port` that records requests and answers `0` (SRS's "ok"),
/// until `count` requests or `timeout`.
fn record_posts(port: u16, count: usize, timeout: Duration) -> std::thread::JoinHandle<Vec<Beat>> {
    use std::io::Read;
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind 31202");
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let end = Instant::now() + timeout;
        let mut beats = Vec::new();
        while beats.len() < count && Instant::now() < end {
            let mut c = match listener.accept() {
                Ok((c, _)) => c,
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
            };
            c.set_nonblocking(false).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let at = Instant::now();
            let mut bytes = Vec::new();
            let mut buf = [0u8; 4096];
            let (head, body) = loop {
                let n = c.read(&mut buf).unwrap_or(0);
                bytes.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&bytes).into_owned();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse().ok())?
                        })
                        .unwrap_or(0);
                    if body.len() >= len || n == 0 {
                        break (head.to_owned(), body.to_owned());
                    }
                } else if n == 0 {
                    break (text, String::new());
                }
            };
            let _ =
                c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\n0");
            beats.push((at, head, body));
        }
        beats
    })
}

#[test]
fn the_heartbeat_posts_srs_body_every_interval() {
    let _guard = serial();
    const PORT: u16 = 31202;
    let posts = record_posts(PORT, 3, Duration::from_secs(10));
    let server = Server::start(&format!(
        "[heartbeat]\nenabled = true\ninterval = 1.0\n\
         url = \"http://127.0.0.1:{PORT}/api/v1/servers\"\ndevice_id = \"box-7\"\n\
         summaries = true\nports = true\n[exporter]\nenabled = true\n"
    ));
    let beats = posts.join().unwrap();
    assert_eq!(beats.len(), 3, "{}", server.log());
    for pair in beats.windows(2) {
        let gap = pair[1].0 - pair[0].0;
        assert!(
            gap >= Duration::from_millis(700) && gap <= Duration::from_millis(1500),
            "{gap:?}"
        );
    }
    let (_, head, body) = &beats[2];
    assert!(
        head.starts_with("POST /api/v1/servers HTTP/1.1\r\n"),
        "{head}"
    );
    let v: serde_json::Value = serde_json::from_str(body).expect(body);
    assert_eq!(v["device_id"], "box-7");
    assert_eq!(v["ip"], "127.0.0.1");
    assert!(v["server"].as_str().unwrap().starts_with("vid-"), "{v}");
    assert_eq!(v["service"].as_str().unwrap().len(), 8, "{v}");
    assert_eq!(v["pid"], server.pid().to_string());
    assert_eq!(v["summaries"]["self"]["pid"], server.pid());
    assert!(
        v["summaries"]["system"]["cpus"].as_u64().unwrap() > 0,
        "{v}"
    );
    assert_eq!(v["rtmp"], serde_json::json!(["127.0.0.1:0"]));
    assert_eq!(v["http"], serde_json::json!(["127.0.0.1:0"]));
    assert_eq!(v["api"], serde_json::json!(["127.0.0.1:0"]));
    // SRS's keys in SRS's order.
    let keys: Vec<&str> = body
        .match_indices("\":")
        .map(|(i, _)| i)
        .take(5)
        .map(|i| &body[body[..i].rfind('"').unwrap() + 1..i])
        .collect();
    assert_eq!(
        keys,
        ["device_id", "ip", "server", "service", "pid"],
        "{body}"
    );
    assert!(!server.log().contains("failed"), "{}", server.log());
    // The hooks' client counts the heartbeat's posts by event, as it counts every hook's.
    let (status, _, body) = curl(&[&server.http_url("metrics")]);
    assert_eq!(status, 200);
    let text = String::from_utf8(body).unwrap();
    let m = samples(&text);
    let requests = m["tinysrs_hook_requests_total{event=\"heartbeat\"}"];
    let failures = m["tinysrs_hook_failures_total{event=\"heartbeat\"}"];
    assert!(requests >= 3.0, "{text}");
    assert!(requests - failures >= 3.0, "{text}");
    assert_eq!(m["tinysrs_hook_requests_total{event=\"on_play\"}"], 0.0);
    assert_eq!(m["tinysrs_hook_dropped_total{event=\"heartbeat\"}"], 0.0);
    #[cfg(feature = "rtsp")]
    assert_eq!(m["tinysrs_ingests{state=\"playing\"}"], 0.0, "{text}");
}

/// `srs_clients_errs_total` counts the clients that ended by an error: a kicked RTMP
/// connection and an HTTP request head that is not HTTP each add one; a player that leaves
/// in order adds none. A GB28181 device that registers shows in `tinysrs_gb28181_devices`
/// within the driver's one-second count.
#[cfg(all(feature = "gb28181", feature = "rtmp"))]
#[test]
fn errors_and_gb28181_devices_are_counted() {
    use std::io::Read;
    use std::net::{SocketAddr, TcpStream, UdpSocket};
    let _guard = serial();
    let server = Server::start(
        "[exporter]\nenabled = true\n[gb28181]\nenabled = true\n\
         sip_listen = \"127.0.0.1:0\"\nmedia_listen = \"127.0.0.1:0\"\n",
    );
    let http = server.http_addr.unwrap();
    let scrape = || {
        let (status, _, body) = curl(&[&server.http_url("metrics")]);
        assert_eq!(status, 200);
        let text = String::from_utf8(body).unwrap();
        let (ok, said) = promtool(&text);
        assert!(ok, "promtool check metrics: {said}\n{text}");
        (samples(&text), text)
    };
    let (m, text) = scrape();
    assert_eq!(m.get("srs_clients_errs_total"), Some(&0.0), "{text}");
    assert_eq!(m.get("tinysrs_gb28181_devices"), Some(&0.0), "{text}");
    for state in ["idle", "inviting", "playing", "stopping"] {
        let name = format!("tinysrs_gb28181_channels{{state=\"{state}\"}}");
        assert_eq!(m.get(&name), Some(&0.0), "{text}");
    }

    // An orderly API request: no error.
    let _ = get_json(http, "/api/v1/versions");
    // Not HTTP: the server answers 400 and the connection ends by an error.
    let mut bad = TcpStream::connect(http).unwrap();
    bad.write_all(b"\x00\x01\x02 nonsense\r\n\r\n").unwrap();
    let mut sink = Vec::new();
    let _ = bad.read_to_end(&mut sink);
    // An RTMP player waiting for a stream, kicked through the API.
    let mut player = common::client::Client::connect(&server.addr.to_string(), "live").unwrap();
    player.create_stream().unwrap();
    player.play("cam").unwrap();
    let end = Instant::now() + Duration::from_secs(5);
    let id = loop {
        let (_, clients) = get_json(http, "/api/v1/clients");
        let found = clients["clients"].as_array().and_then(|all| {
            all.iter()
                .find(|c| c["type"] == "rtmp-play")
                .and_then(|c| c["id"].as_str().map(str::to_owned))
        });
        if let Some(id) = found {
            break id;
        }
        assert!(Instant::now() < end, "no RTMP player: {clients}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let (status, _, _) = curl(&[
        "-X",
        "DELETE",
        &server.http_url(&format!("api/v1/clients/{id}")),
    ]);
    assert_eq!(status, 200);

    // A device registers (no password asked).
    let log = server.log();
    let sip: SocketAddr = log
        .lines()
        .find_map(|l| l.split("GB28181 SIP listening on ").nth(1))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .expect("the SIP address");
    let device = UdpSocket::bind("127.0.0.1:0").unwrap();
    let me = device.local_addr().unwrap();
    let register = format!(
        "REGISTER sip:34020000002000000001@3402000000 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {me};rport;branch=z9hG4bK-reg-1\r\n\
         From: <sip:34020000001110000001@3402000000>;tag=dev\r\n\
         To: <sip:34020000001110000001@3402000000>\r\n\
         Call-ID: metrics-register-1\r\nCSeq: 1 REGISTER\r\n\
         Contact: <sip:34020000001110000001@{me}>\r\nMax-Forwards: 70\r\n\
         Expires: 3600\r\nContent-Length: 0\r\n\r\n"
    );
    device.send_to(register.as_bytes(), sip).unwrap();

    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let (m, text) = scrape();
        let errs = m["srs_clients_errs_total"];
        let devices = m["tinysrs_gb28181_devices"];
        if errs == 2.0 && devices == 1.0 {
            break;
        }
        assert!(
            Instant::now() < end,
            "errors {errs} (want 2), devices {devices} (want 1):\n{text}\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Issue 18: a scrape while 100 players (tinysrs-bench, RTMP) watch one stream passes
/// promtool and agrees with the API: 100 in `tinysrs_stream_players`, the stream's 101
/// clients within `srs_clients`, and the send rate of 100 players over the publisher's.
#[cfg(feature = "rtmp")]
#[test]
fn a_scrape_during_a_100_player_run_agrees_with_the_api() {
    let _guard = serial();
    let server = Server::start("[exporter]\nenabled = true\n");
    let http = server.http_addr.unwrap();
    let pid = server.pid().to_string();
    let url = server.url("live/hundred");
    let bench = Proc::spawn(
        Command::new(env!("CARGO_BIN_EXE_tinysrs-bench"))
            .args(["run", &url, "--players", "100", "--ramp", "200"])
            .args(["--warmup", "1", "--duration", "12", "--kbps", "200"])
            .args(["--server-pid", &pid])
            .stdout(Stdio::null()),
        &server.dir.path("bench.err"),
    );
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, streams) = get_json(http, "/api/v1/streams");
        if streams["streams"][0]["clients"].as_u64() == Some(101) {
            break;
        }
        assert!(
            Instant::now() < end,
            "not 101 clients: {streams}\n{}",
            bench.stderr()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Two rate samples (one every 5 s) for the kbps families.
    std::thread::sleep(Duration::from_secs(6));
    let (_, before) = get_json(http, "/api/v1/streams");
    let (status, _, body) = curl(&[&server.http_url("metrics")]);
    let (_, after) = get_json(http, "/api/v1/streams");
    assert_eq!(status, 200);
    let text = String::from_utf8(body).unwrap();
    let (ok, said) = promtool(&text);
    assert!(ok, "promtool check metrics: {said}\n{text}");
    let m = samples(&text);
    let labels = "{vhost=\"__defaultVhost__\",app=\"live\",stream=\"hundred\"}";
    let get = |name: &str| {
        *m.get(name)
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
    };
    for streams in [&before, &after] {
        assert_eq!(
            streams["streams"][0]["clients"].as_u64(),
            Some(101),
            "{streams}"
        );
    }
    assert_eq!(
        get(&format!("tinysrs_stream_players{labels}")),
        100.0,
        "{text}"
    );
    assert_eq!(get("srs_streams"), 1.0);
    // The 101 stream clients and this scrape's connection.
    assert!(get("srs_clients") >= 102.0, "{text}");
    assert!(get("srs_clients_total") >= 102.0, "{text}");
    assert_eq!(get("srs_clients_errs_total"), 0.0, "{text}");
    let recv = get(&format!("tinysrs_stream_recv_kbps{labels}"));
    let send = get(&format!("tinysrs_stream_send_kbps{labels}"));
    assert!(recv > 100.0, "{text}");
    assert!(send > 50.0 * recv, "send {send} kbit/s, recv {recv}");
    assert!(get("tinysrs_connections") >= 101.0, "{text}");
    // The bench is killed when dropped.
}
