//! HTTP delivery against the real binary with real clients: ffmpeg/ffprobe read HTTP-FLV,
//! HTTP-TS and HLS while ffmpeg publishes over RTMP; curl reads the API and static files.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{curl, ffmpeg_publish, ffmpeg_read, ffprobe, require, Proc, Server, TempDir};

const SECS: Duration = Duration::from_secs(1);

fn assert_received(dir: &TempDir, file: &std::path::Path, min_video: usize) {
    let p = ffprobe(dir, file.to_str().unwrap(), 20 * SECS);
    assert!(p.success && p.errors.trim().is_empty(), "{p:?}");
    assert_eq!(p.codecs, vec!["aac", "h264"], "{p:?}");
    assert_eq!(p.video_size, Some((320, 240)), "{p:?}");
    assert!(p.video_frames >= min_video, "{p:?}");
    assert!(p.audio_frames >= min_video, "{p:?}");
    assert_eq!(p.first_video, Some((true, "I".to_string())), "{p:?}");
}

#[test]
fn flv_ts_and_hls_play_while_ffmpeg_publishes() {
    let server = Server::start("");
    let dir = TempDir::new("http-live");
    let mut publisher = ffmpeg_publish(&dir, &server.url("live/test"), 12, 25, "500k");
    assert!(server.wait_log("publish __defaultVhost__/live/test", 10 * SECS));
    std::thread::sleep(SECS);

    let reads: Vec<_> = [("flv", "out.flv"), ("ts", "out.ts")]
        .into_iter()
        .map(|(ext, out)| {
            let url = server.http_url(&format!("live/test.{ext}"));
            let path = dir.path(out);
            let d = TempDir::new("reader");
            std::thread::spawn(move || {
                let r = ffmpeg_read(&d, &url, 4, &path, 20 * SECS);
                (path, r)
            })
        })
        .collect();
    for r in reads {
        let (path, (ok, errors)) = r.join().unwrap();
        // `-v error` prints nothing unless something is wrong: decode, demux, continuity.
        assert!(
            ok && errors.trim().is_empty(),
            "{}: {errors}",
            path.display()
        );
        assert_received(&dir, &path, 80);
    }

    // HLS: by now several 2 s segments exist.
    let (status, head, body) = curl(&[&server.http_url("live/test.m3u8")]);
    assert_eq!(status, 200, "{head}");
    assert!(head
        .to_ascii_lowercase()
        .contains("application/vnd.apple.mpegurl"));
    let playlist = String::from_utf8(body).unwrap();
    check_playlist(&playlist);
    let hls_out = dir.path("hls.ts");
    let (ok, errors) = ffmpeg_read(
        &dir,
        &server.http_url("live/test.m3u8"),
        3,
        &hls_out,
        30 * SECS,
    );
    assert!(ok && errors.trim().is_empty(), "HLS: {errors}");
    assert_received(&dir, &hls_out, 50);

    assert!(
        publisher.wait(20 * SECS).success(),
        "{}",
        publisher.stderr()
    );
}

/// RFC 8216 checks: tags, TARGETDURATION >= every EXTINF, segments listed are fetchable.
fn check_playlist(m3u8: &str) {
    assert!(m3u8.starts_with("#EXTM3U\n"), "{m3u8}");
    let target: f64 = m3u8
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-TARGETDURATION:"))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no target duration: {m3u8}"));
    assert!(m3u8.contains("#EXT-X-MEDIA-SEQUENCE:"), "{m3u8}");
    let durations: Vec<f64> = m3u8
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .map(|v| v.trim_end_matches(',').parse().unwrap())
        .collect();
    assert!(!durations.is_empty(), "{m3u8}");
    for d in &durations {
        // RFC 8216 4.3.3.1: rounded to the nearest integer, at most the target.
        assert!(
            d.round() <= target,
            "EXTINF {d} over target {target}: {m3u8}"
        );
        assert!(*d >= 1.5, "segments are cut at keyframes after 2 s: {m3u8}");
    }
    // The window (10 s) plus at most one segment.
    assert!(durations.iter().sum::<f64>() <= 10.0 + target, "{m3u8}");
}

#[test]
fn hls_segments_are_fetchable_and_the_window_slides() {
    let server = Server::start("[vhost.__defaultVhost__.hls]\nhls_fragment = 1\nhls_window = 3\n");
    let dir = TempDir::new("hls");
    let mut publisher = ffmpeg_publish(&dir, &server.url("live/w"), 9, 25, "300k");
    assert!(server.wait_log("publish __defaultVhost__/live/w", 10 * SECS));
    std::thread::sleep(5 * SECS);
    let (status, _, body) = curl(&[&server.http_url("live/w.m3u8")]);
    assert_eq!(status, 200);
    let first = String::from_utf8(body).unwrap();
    let seq = |m: &str| -> u64 {
        m.lines()
            .find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
            .unwrap()
            .parse()
            .unwrap()
    };
    let segments: Vec<&str> = first.lines().filter(|l| l.ends_with(".ts")).collect();
    assert!(!segments.is_empty() && segments.len() <= 4, "{first}");
    for s in &segments {
        let (status, head, body) = curl(&[&server.http_url(&format!("live/{s}"))]);
        assert_eq!(status, 200, "{s}: {head}");
        assert_eq!(body.len() % 188, 0);
        assert_eq!(body.first(), Some(&0x47));
        // Each segment starts with PAT/PMT then a keyframe: ffprobe decodes it alone.
        let path = dir.path(s);
        std::fs::write(&path, &body).unwrap();
        let p = ffprobe(&dir, path.to_str().unwrap(), 10 * SECS);
        assert!(p.success && p.errors.trim().is_empty(), "{s}: {p:?}");
        assert_eq!(p.first_video, Some((true, "I".to_string())), "{s}");
    }
    std::thread::sleep(3 * SECS);
    let (_, _, body) = curl(&[&server.http_url("live/w.m3u8")]);
    let later = String::from_utf8(body).unwrap();
    assert!(
        seq(&later) > seq(&first),
        "the window slides:\n{first}\n{later}"
    );
    // A segment that left the window (and the two kept after it) is gone from RAM.
    let (status, _, _) = curl(&[&server.http_url("live/w-0.ts")]);
    assert_eq!(status, 404);
    assert!(
        publisher.wait(20 * SECS).success(),
        "{}",
        publisher.stderr()
    );
}

#[test]
fn api_reports_streams_and_clients_and_kicks_an_rtmp_player() {
    let server = Server::start("");
    let dir = TempDir::new("api");
    let _publisher = ffmpeg_publish(&dir, &server.url("live/api"), 30, 25, "300k");
    assert!(server.wait_log("publish __defaultVhost__/live/api", 10 * SECS));
    require("ffmpeg");
    let mut player = Proc::spawn(
        Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-nostats",
                "-v",
                "error",
                "-i",
                &server.url("live/api"),
            ])
            .args(["-c", "copy", "-f", "null", "-"])
            .stdout(Stdio::null()),
        &dir.path("player.err"),
    );
    assert!(server.wait_log("play __defaultVhost__/live/api", 10 * SECS));

    let json = |path: &str| -> serde_json::Value {
        let (status, head, body) = curl(&[&server.http_url(path)]);
        assert_eq!(status, 200, "{path}: {head}");
        assert!(
            head.to_ascii_lowercase().contains("application/json"),
            "{head}"
        );
        serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    let v = json("api/v1/versions");
    assert_eq!(v["code"], 0);
    assert!(v["data"]["major"].is_number(), "{v}");
    let v = json("api/v1/summaries");
    assert_eq!(v["code"], 0);
    assert!(v["data"]["self"]["pid"].is_number(), "{v}");

    let v = json("api/v1/streams");
    let streams = v["streams"].as_array().unwrap();
    let s = streams
        .iter()
        .find(|s| s["name"] == "api")
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(s["app"], "live");
    assert_eq!(s["publish"]["active"], true);
    assert!(s["clients"].as_u64().unwrap() >= 2, "{s}");

    let v = json("api/v1/clients");
    let clients = v["clients"].as_array().unwrap();
    let player_client = clients
        .iter()
        .find(|c| c["type"] == "rtmp-play")
        .unwrap_or_else(|| panic!("no rtmp-play client: {v}"));
    assert!(clients
        .iter()
        .any(|c| c["type"] == "fmle-publish" && c["publish"] == true));
    let id = player_client["id"].as_str().unwrap().to_string();

    let (status, _, body) = curl(&[
        "-X",
        "DELETE",
        &server.http_url(&format!("api/v1/clients/{id}")),
    ]);
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["code"], 0, "{v}");
    // The RTMP player is really disconnected.
    player.wait(10 * SECS);
    assert!(
        server.wait_log("kicked through the API", 5 * SECS),
        "{}",
        server.log()
    );
    let v = json("api/v1/clients");
    assert!(
        !v["clients"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == id.as_str()),
        "{v}"
    );
    // SRS answers an unknown client id with HTTP 200 and ERROR_RTMP_CLIENT_NOT_FOUND.
    let (status, _, body) = curl(&[&server.http_url("api/v1/clients/nosuchclient")]);
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["code"], 2049, "{v}");
}

#[test]
fn static_files_with_range_and_no_way_out_of_the_root() {
    let www = TempDir::new("www");
    std::fs::write(www.path("index.html"), "<h1>tinysrs</h1>\n").unwrap();
    std::fs::write(www.path("data.bin"), (0u8..=255).collect::<Vec<_>>()).unwrap();
    let outside = TempDir::new("outside");
    std::fs::write(outside.path("secret.txt"), "secret").unwrap();
    std::os::unix::fs::symlink(outside.path("secret.txt"), www.path("link.txt")).unwrap();
    let server = Server::start(&format!(
        "[http_server]\nlisten = \"127.0.0.1:0\"\ndir = \"{}\"\n",
        www.0.display()
    ));
    let (status, head, body) = curl(&[&server.http_url("")]);
    assert_eq!(status, 200, "{head}");
    assert_eq!(body, b"<h1>tinysrs</h1>\n");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/html"),
        "{head}"
    );
    assert!(
        head.contains("Access-Control-Allow-Origin: *"),
        "CORS by default: {head}"
    );

    let (status, head, body) = curl(&["-r", "10-19", &server.http_url("data.bin")]);
    assert_eq!(status, 206, "{head}");
    assert_eq!(body, (10u8..20).collect::<Vec<_>>());
    assert!(head.contains("Content-Range: bytes 10-19/256"), "{head}");
    let (status, _, _) = curl(&["-r", "300-", &server.http_url("data.bin")]);
    assert_eq!(status, 416);

    for attack in [
        "/../outside/secret.txt",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/..%2f..%2fetc%2fpasswd",
        "/link.txt",
        "/%2E%2e/etc/passwd",
        "/.%2e/etc/passwd",
    ] {
        let url = format!(
            "http://127.0.0.1:{}{attack}",
            server.http_addr.unwrap().port()
        );
        let (status, _, body) = curl(&["--path-as-is", &url]);
        assert!(matches!(status, 403 | 404 | 400), "{attack}: {status}");
        assert!(
            !String::from_utf8_lossy(&body).contains("secret"),
            "{attack}"
        );
        assert!(
            !String::from_utf8_lossy(&body).contains("root:"),
            "{attack}"
        );
    }
    let (status, _, _) = curl(&[&server.http_url("missing.html")]);
    assert_eq!(status, 404);
    let (status, _, _) = curl(&["-X", "POST", &server.http_url("index.html")]);
    assert_eq!(status, 405);
    let (status, _, _) = curl(&["-X", "POST", &server.http_url("live/x.flv")]);
    assert_eq!(status, 405);
}

/// The shipped web root (www/, what `cargo run` and every package serve): `/` redirects to the
/// console, which is served with its player libraries, and the console with the players page
/// stays within its 600 KB budget (README "Web console").
#[test]
fn the_shipped_web_root_redirects_to_the_console() {
    let www = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("www");
    let server = Server::start(&format!(
        "[http_server]\nlisten = \"127.0.0.1:0\"\ndir = \"{}\"\n",
        www.display()
    ));
    let (status, head, _) = curl(&[&server.http_url("")]);
    assert_eq!(status, 302, "{head}");
    assert!(head.contains("Location: /console/"), "{head}");
    let (status, head, body) = curl(&["-L", &server.http_url("")]);
    assert_eq!(status, 200, "{head}");
    assert!(String::from_utf8_lossy(&body).contains("<title>tinysrs console</title>"));
    for (path, kind) in [
        ("console/vendor/mpegts.min.js", "text/javascript"),
        ("console/vendor/hls.light.min.js", "text/javascript"),
        ("console/console.js", "text/javascript"),
        ("console/console.css", "text/css"),
        ("players/", "text/html"),
    ] {
        let (status, head, body) = curl(&[&server.http_url(path)]);
        assert_eq!(status, 200, "{path}: {head}");
        assert!(
            head.contains(&format!("Content-Type: {kind}")),
            "{path}: {head}"
        );
        assert!(!body.is_empty(), "{path}");
    }
    // The memory budget the overview shows beside the RSS (ours, in SRS's summaries).
    let (_, _, body) = curl(&[&server.http_url("api/v1/summaries")]);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let budget = v["data"]["tinysrs"]["budget_bytes"].as_u64().unwrap();
    let rss = v["data"]["self"]["mem_kbyte"].as_u64().unwrap() * 1024;
    assert!(budget > rss, "budget {budget} over RSS {rss}");
    // The RTMP port the overview's publish hint names (the bound one: the test asks port 0).
    assert_eq!(
        v["data"]["tinysrs"]["rtmp_port"].as_u64(),
        Some(u64::from(server.addr.port())),
        "{v}"
    );
    let (_, _, js) = curl(&[&server.http_url("console/console.js")]);
    assert!(
        String::from_utf8_lossy(&js).contains("live.rtmp_port"),
        "the console reads the RTMP port from the summaries"
    );
    let mut total = 0;
    for dir in ["console", "console/vendor", "players"] {
        for entry in std::fs::read_dir(www.join(dir)).unwrap() {
            let meta = entry.unwrap().metadata().unwrap();
            if meta.is_file() {
                total += meta.len();
            }
        }
    }
    assert!(
        total <= 600_000,
        "the console is {total} bytes, over its 600 KB budget"
    );
}

#[test]
fn bad_heads_get_errors_and_slow_heads_are_closed() {
    let server = Server::start("handshake_timeout = 1000\n");
    let addr = server.http_addr.unwrap();
    // Oversized head: 431, then closed.
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(5 * SECS)).unwrap();
    let mut req = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
    req.extend(std::iter::repeat_n(b'a', 10_000));
    let _ = c.write_all(&req);
    let mut resp = String::new();
    let _ = c.read_to_string(&mut resp);
    assert!(resp.starts_with("HTTP/1.1 431"), "{resp}");

    // Garbage: 400.
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(5 * SECS)).unwrap();
    c.write_all(b"\x16\x03\x01 not http\r\n\r\n").unwrap();
    let mut resp = String::new();
    let _ = c.read_to_string(&mut resp);
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");

    // Slow-loris: half a head, then nothing: closed after handshake_timeout.
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(5 * SECS)).unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    let start = std::time::Instant::now();
    let mut buf = [0u8; 64];
    match c.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("not closed: {other:?}"),
    }
    assert!(start.elapsed() < 4 * SECS);

    // Keep-alive: two requests on one connection.
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(5 * SECS)).unwrap();
    c.write_all(b"GET /api/v1/versions HTTP/1.1\r\nHost: x\r\n\r\nGET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut resp = String::new();
    let _ = c.read_to_string(&mut resp);
    assert_eq!(resp.matches("HTTP/1.1 ").count(), 2, "{resp}");
    assert!(resp.contains("HTTP/1.1 404"), "{resp}");
    // The server is still fine.
    let (status, _, _) = curl(&[&server.http_url("api/v1/versions")]);
    assert_eq!(status, 200);
}

#[test]
fn flv_player_waits_for_the_publisher_and_ends_when_it_leaves() {
    let server = Server::start("");
    let dir = TempDir::new("flv-wait");
    let url = server.http_url("live/late.flv");
    let out = dir.path("late.flv");
    let reader = {
        let (d, out, url) = (TempDir::new("r"), out.clone(), url.clone());
        std::thread::spawn(move || ffmpeg_read(&d, &url, 30, &out, 30 * SECS))
    };
    assert!(server.wait_log("HTTP-FLV play __defaultVhost__/live/late", 10 * SECS));
    std::thread::sleep(SECS);
    let mut publisher = ffmpeg_publish(&dir, &server.url("live/late"), 4, 25, "300k");
    assert!(
        publisher.wait(20 * SECS).success(),
        "{}",
        publisher.stderr()
    );
    let (ok, errors) = reader.join().unwrap();
    // The response ended cleanly when the publisher left: ffmpeg saw the end of the file.
    assert!(ok && errors.trim().is_empty(), "{errors}");
    assert_received(&dir, &out, 80);
}

/// Issue 17 item 4: an HTTP-FLV player is listed with SRS's tcUrl for it
/// (`srs_generate_tc_url`: `http://` + the Host header's name and port + `/` + app) and its
/// Referer as pageUrl, as SRS's `SrsHttpMessage::to_request` fills them.
#[test]
fn api_lists_an_http_player_with_srs_tc_url_and_its_referer() {
    require("curl");
    let server = Server::start("");
    let dir = TempDir::new("api-referer");
    let referer = "http://console.example/players/srs_player.html?app=live&stream=cam.flv";
    // A player waiting for its publisher is listed already.
    let _player = Proc::spawn(
        Command::new("curl")
            .args(["-s", "--max-time", "20", "-o", "/dev/null", "-e", referer])
            .arg(server.http_url("live/cam.flv"))
            .stdout(Stdio::null()),
        &dir.path("curl.err"),
    );
    assert!(
        server.wait_log("HTTP-FLV play __defaultVhost__/live/cam", 10 * SECS),
        "{}",
        server.log()
    );
    let http = server.http_addr.unwrap();
    let (status, v) = common::get_json(http, "/api/v1/clients");
    assert_eq!(status, 200, "{v}");
    let player = v["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "flv-play")
        .unwrap_or_else(|| panic!("no flv-play client: {v}"));
    assert_eq!(
        player["tcUrl"],
        format!("http://127.0.0.1:{}/live", http.port()),
        "{v}"
    );
    assert_eq!(player["pageUrl"], referer, "{v}");
    assert_eq!(player["url"], "/live/cam", "{v}");
    // The stream takes its tcUrl from its first client, the player here.
    let (_, v) = common::get_json(http, "/api/v1/streams");
    let stream = &v["streams"][0];
    assert_eq!(
        stream["tcUrl"],
        format!("http://127.0.0.1:{}/live", http.port()),
        "{v}"
    );
}

/// Issue 17 item 4: `self.cpu_percent` is the CPU share of the last sampling interval, as SRS
/// reports it, not the average over the process's life: after a busy spell and two idle
/// seconds it is near 0 while the lifetime average is not.
#[test]
fn api_cpu_percent_is_the_share_of_the_last_interval() {
    let started = std::time::Instant::now();
    let server = Server::start("");
    let http = server.http_addr.unwrap();
    // Busy: summaries as fast as they are answered (each reads a dozen /proc files), until the
    // server has used half a second of CPU and at least two sweeps (one a second) sampled it.
    let mut busiest = 0.0f64;
    let busy_from = std::time::Instant::now();
    let busy_until = busy_from + 30 * SECS;
    while common::cpu_s(server.pid()) < 0.5 || busy_from.elapsed() < 2500 * Duration::from_millis(1)
    {
        assert!(
            std::time::Instant::now() < busy_until,
            "the server used only {} s of CPU in 30 s",
            common::cpu_s(server.pid())
        );
        let (status, v) = common::get_json(http, "/api/v1/summaries");
        assert_eq!(status, 200, "{v}");
        busiest = busiest.max(v["data"]["self"]["cpu_percent"].as_f64().unwrap());
    }
    // Two sweeps later, the last interval was idle.
    std::thread::sleep(2500 * Duration::from_millis(1));
    let lifetime = common::cpu_s(server.pid()) / started.elapsed().as_secs_f64();
    let (_, v) = common::get_json(http, "/api/v1/summaries");
    let recent = v["data"]["self"]["cpu_percent"].as_f64().unwrap();
    assert!(
        recent < 0.05 && recent < lifetime / 2.0,
        "cpu_percent {recent} after 2.5 idle seconds; lifetime average {lifetime:.3}: {v}"
    );
    assert!(
        busiest > 0.05,
        "cpu_percent at most {busiest} while busy (lifetime average {lifetime:.3})"
    );
}

/// Issue 17 item 5: `http_api.listen` serves the API on a port of its own (SRS's console looks
/// for it on 1985), through the same HTTP layer: API paths answer there, every other path is
/// 404, and its connections count in the same `max_connections` as the others.
#[test]
fn api_on_its_own_port_serves_the_api_only() {
    let server = Server::start("max_connections = 1\nhttp_api.listen = \"127.0.0.1:0\"\n");
    let api = server
        .api_addr
        .unwrap_or_else(|| panic!("no \"HTTP API listening on\" line:\n{}", server.log()));
    let http = server.http_addr.unwrap();
    assert_ne!(api, http);
    let (status, v) = common::get_json(api, "/api/v1/versions");
    assert_eq!((status, &v["code"]), (200, &serde_json::json!(0)), "{v}");
    assert!(v["data"]["major"].is_number(), "{v}");
    let (status, v) = common::get_json(api, "/api/v1/streams");
    assert_eq!(status, 200, "{v}");
    assert!(v["streams"].is_array(), "{v}");
    for path in ["live/x.flv", "live/x.m3u8", "index.html"] {
        let (status, _, _) = curl(&[&server.api_url(path)]);
        assert_eq!(status, 404, "{path} on the API port");
    }
    // The HTTP server still has both. The curl connection before this one may not have been
    // released yet (max_connections = 1): a refusal is retried for at most 2 s.
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    let status = loop {
        let (status, _) = common::get_json(http, "/api/v1/versions");
        if status != 0 || std::time::Instant::now() > deadline {
            break status;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status, 200);

    // One connection open on either port leaves none for the other (max_connections = 1).
    for (held, other) in [(api, http), (http, api)] {
        let mut holder = TcpStream::connect(held).unwrap();
        holder
            .write_all(b"GET /api/v1/versions HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        holder.set_read_timeout(Some(5 * SECS)).unwrap();
        let mut buf = [0u8; 512];
        assert!(
            holder.read(&mut buf).unwrap() > 0,
            "the first connection is served"
        );
        let mut refused = TcpStream::connect(other).unwrap();
        refused.set_read_timeout(Some(5 * SECS)).unwrap();
        let _ = refused.write_all(b"GET /api/v1/versions HTTP/1.1\r\nHost: x\r\n\r\n");
        let n = refused.read(&mut buf).unwrap_or(0);
        assert_eq!(n, 0, "a second connection on {other} is closed unanswered");
        drop(holder);
        assert!(server.wait_log("max_connections 1 reached", 5 * SECS));
        // Once the first one is gone, the port serves again.
        let served = (0..50).any(|_| {
            std::thread::sleep(Duration::from_millis(100));
            common::get_json(other, "/api/v1/versions").0 == 200
        });
        assert!(served, "{other} never served again:\n{}", server.log());
    }
}

/// Issue 17: a GOP much longer than `hls_fragment` (OBS's default 250 frames; here 10 s at
/// 25 fps against 2 s fragments) must still give segments that stand alone. Each segment is
/// fetched and checked on its own, as a player joining on it would see it: PAT then PMT first,
/// then a video PES that starts with an IDR (parsed the way hls.js does), and ffprobe decodes
/// the file alone without a word on stderr. Continuity counters run on across segments.
#[test]
fn hls_long_gop_segments_each_start_with_pat_pmt_and_a_keyframe() {
    // The window lists every segment; segments are cut between keyframes only at
    // hls_max_bytes / (30 / 2 + 4) = 883 KB, over a GOP here (about 500 KB).
    let (server, dir) = publish_long_gop("");
    let hls = fetch_hls(&server, "gop");
    assert!(
        hls.segments.iter().any(|s| s.duration > 6.0),
        "a GOP longer than 3 x hls_fragment stays one segment: {}",
        hls.m3u8
    );
    assert!(
        !server.log().contains("cut between keyframes"),
        "{}",
        server.log()
    );
    for seg in &hls.segments {
        let name = &seg.name;
        assert!(
            seg.start.idr,
            "{name}: the first video access unit is not an IDR: {:?}",
            seg.start
        );
        assert!(seg.start.random_access, "{name}: {:?}", seg.start);
        let path = dir.path(name);
        std::fs::write(&path, &seg.body).unwrap();
        let (video_frames, errors) = ffprobe_count_frames(&dir, &path);
        assert!(errors.trim().is_empty(), "{name}: ffprobe: {errors}");
        assert!(video_frames > 0, "{name}: no video frame decoded");
    }
}

/// The same long GOP against a small `hls_max_bytes` (segment cap 2 MiB / 19 = 110 KB, about
/// 2 s here): segments are cut between keyframes. Every segment still starts with PAT and
/// PMT, a segment after a forced cut is not marked as a discontinuity, every keyframe starts
/// a segment again, continuity counters run on, and a player that plays on through the
/// forced cuts (the segments in a row) decodes every frame without an error.
#[test]
fn hls_segments_cut_between_keyframes_by_the_byte_cap_still_start_with_pat_pmt() {
    let (server, dir) = publish_long_gop("hls_max_bytes = 2097152\n");
    let hls = fetch_hls(&server, "gop");
    assert!(
        server.log().contains("cut between keyframes"),
        "{}",
        server.log()
    );
    let forced: Vec<_> = hls.segments.iter().filter(|s| !s.start.idr).collect();
    assert!(forced.len() >= 3, "{}", hls.m3u8);
    // 22 s with an IDR every 10 s: the segments at 0, 10 and 20 s start with it.
    assert!(hls.segments.len() - forced.len() >= 3, "{}", hls.m3u8);
    for seg in &hls.segments {
        assert_eq!(seg.start.idr, seg.start.random_access, "{}", seg.name);
        if seg.start.idr {
            let path = dir.path(&seg.name);
            std::fs::write(&path, &seg.body).unwrap();
            let (video_frames, errors) = ffprobe_count_frames(&dir, &path);
            assert!(errors.trim().is_empty(), "{}: ffprobe: {errors}", seg.name);
            assert!(video_frames > 0, "{}", seg.name);
        }
    }
    let all = dir.path("all.ts");
    let bytes: Vec<u8> = hls.segments.iter().flat_map(|s| s.body.clone()).collect();
    std::fs::write(&all, bytes).unwrap();
    let (video_frames, errors) = ffprobe_count_frames(&dir, &all);
    assert!(
        errors.trim().is_empty(),
        "segments in a row: ffprobe: {errors}"
    );
    // 25 fps for 22 s, less what ffmpeg's -re start and the first keyframe wait cost.
    assert!(video_frames >= 500, "{video_frames} frames");
}

/// A server with HLS fragments of 2 s, a 30 s window and the HLS keys in `hls`, and ffmpeg
/// publishing `live/gop` for 22 s with a keyframe every 250 frames (10 s); returns once the
/// publisher has left. grace_period keeps the Source, so its HLS (the last segment closed at
/// unpublish) stays.
fn publish_long_gop(hls: &str) -> (Server, TempDir) {
    let server = Server::start(&format!(
        "grace_period = 60000\n[vhost.__defaultVhost__.hls]\nhls_fragment = 2\n\
         hls_window = 30\n{hls}"
    ));
    let dir = TempDir::new("hls-long-gop");
    let mut publisher = ffmpeg_publish(&dir, &server.url("live/gop"), 22, 250, "300k");
    assert!(
        publisher.wait(40 * SECS).success(),
        "{}",
        publisher.stderr()
    );
    assert!(server.wait_log("unpublish __defaultVhost__/live/gop", 5 * SECS));
    (server, dir)
}

struct Hls {
    m3u8: String,
    segments: Vec<FetchedSegment>,
}

struct FetchedSegment {
    name: String,
    duration: f64,
    body: Vec<u8>,
    start: SegmentStart,
}

/// Fetches `live/{stream}.m3u8` and every segment it lists, and checks what holds for any
/// segment: the playlist lists the whole publish from sequence 0 without a discontinuity,
/// `EXT-X-TARGETDURATION` covers every `EXTINF` rounded (RFC 8216 4.3.3.1), each segment
/// starts with PAT then PMT, and continuity counters run on from one segment to the next.
fn fetch_hls(server: &Server, stream: &str) -> Hls {
    let (status, head, body) = curl(&[&server.http_url(&format!("live/{stream}.m3u8"))]);
    assert_eq!(status, 200, "{head}");
    let m3u8 = String::from_utf8(body).unwrap();
    let target: f64 = m3u8
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-TARGETDURATION:"))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no target duration: {m3u8}"));
    assert!(m3u8.contains("#EXT-X-MEDIA-SEQUENCE:0\n"), "{m3u8}");
    assert!(!m3u8.contains("#EXT-X-DISCONTINUITY"), "{m3u8}");
    let durations: Vec<f64> = m3u8
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .map(|v| v.trim_end_matches(',').parse().unwrap())
        .collect();
    let names: Vec<&str> = m3u8.lines().filter(|l| l.ends_with(".ts")).collect();
    assert_eq!(durations.len(), names.len(), "{m3u8}");
    assert!(names.len() >= 2, "{m3u8}");
    let mut cc = ContinuityCheck::default();
    let mut segments = Vec::new();
    for (name, duration) in names.into_iter().zip(durations) {
        assert!(
            duration.round() <= target,
            "EXTINF {duration} over target {target}: {m3u8}"
        );
        let (status, head, body) = curl(&[&server.http_url(&format!("live/{name}"))]);
        assert_eq!(status, 200, "{name}: {head}");
        let start = parse_segment_start(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
        cc.push(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
        segments.push(FetchedSegment {
            name: name.to_string(),
            duration,
            body,
            start,
        });
    }
    Hls { m3u8, segments }
}

/// `ffprobe -v error -count_frames` on one file: (video frames decoded, stderr).
fn ffprobe_count_frames(dir: &TempDir, file: &std::path::Path) -> (u64, String) {
    require("ffprobe");
    let err_path = dir.path("count-frames.err");
    let out_path = dir.path("count-frames.csv");
    let mut p = Proc::spawn(
        Command::new("ffprobe")
            .args(["-v", "error", "-count_frames", "-show_entries"])
            .args(["stream=codec_type,nb_read_frames", "-of", "csv=p=0"])
            .arg(file)
            .stdout(std::fs::File::create(&out_path).unwrap()),
        &err_path,
    );
    assert!(p.wait(20 * SECS).success(), "ffprobe: {}", p.stderr());
    let out = std::fs::read_to_string(&out_path).unwrap();
    let video = out
        .lines()
        .filter_map(|l| l.strip_prefix("video,"))
        .filter_map(|n| n.trim().parse::<u64>().ok())
        .sum();
    (video, p.stderr())
}

/// What a player parsing a segment from its first byte finds (hls.js's tsdemuxer: the PAT
/// gives the PMT PID, the PMT the elementary streams, then PES).
#[derive(Debug)]
struct SegmentStart {
    /// The first video PES has random_access_indicator set.
    random_access: bool,
    /// The first video PES holds an IDR slice (NAL type 5) before any other slice.
    idr: bool,
}

const TS_PACKET: usize = 188;

/// One transport packet, read independently of tinysrs's demuxer.
struct Packet<'a> {
    pid: u16,
    /// payload_unit_start_indicator.
    start: bool,
    cc: u8,
    has_payload: bool,
    /// The adaptation field after its length byte (empty if none).
    af: &'a [u8],
    payload: &'a [u8],
}

fn ts_packet(p: &[u8]) -> Result<Packet<'_>, String> {
    if p.len() != TS_PACKET || p[0] != 0x47 {
        return Err(format!("not a TS packet: {:02x?}", &p[..p.len().min(4)]));
    }
    let afc = (p[3] >> 4) & 3;
    let (af, payload) = if afc & 2 != 0 {
        let len = usize::from(p[4]);
        if 5 + len > TS_PACKET {
            return Err("adaptation field too long".into());
        }
        (&p[5..5 + len], &p[5 + len..])
    } else {
        (&p[4..4], &p[4..])
    };
    Ok(Packet {
        pid: u16::from(p[1] & 0x1F) << 8 | u16::from(p[2]),
        start: p[1] & 0x40 != 0,
        cc: p[3] & 0x0F,
        has_payload: afc & 1 != 0,
        af,
        payload,
    })
}

/// A PSI section starting in this payload (pointer_field, then the section up to its CRC).
fn section(payload: &[u8], table_id: u8) -> Result<&[u8], String> {
    let start = 1 + usize::from(*payload.first().ok_or("empty PSI")?);
    let s = payload.get(start..).ok_or("bad pointer_field")?;
    if s.first() != Some(&table_id) {
        return Err(format!("table_id {:?}, wanted {table_id}", s.first()));
    }
    let len = usize::from(s[1] & 0x0F) << 8 | usize::from(s[2]);
    s.get(..3 + len)
        .ok_or_else(|| "section runs past the packet".into())
}

fn parse_segment_start(seg: &[u8]) -> Result<SegmentStart, String> {
    if seg.len() < 3 * TS_PACKET || seg.len() % TS_PACKET != 0 {
        return Err(format!("{} bytes", seg.len()));
    }
    let mut packets = seg.chunks(TS_PACKET);
    // Packet 1: the PAT (PID 0), one program; its PMT PID.
    let p = ts_packet(packets.next().unwrap())?;
    if p.pid != 0 || !p.start {
        return Err(format!("first packet is PID {:#x}, not the PAT", p.pid));
    }
    let pat = section(p.payload, 0x00)?;
    let program = pat.get(8..12).ok_or("empty PAT")?;
    let pmt_pid = u16::from(program[2] & 0x1F) << 8 | u16::from(program[3]);
    // Packet 2: the PMT; the H.264 stream's PID.
    let p = ts_packet(packets.next().unwrap())?;
    if p.pid != pmt_pid || !p.start {
        return Err(format!(
            "second packet is PID {:#x}, not the PMT {pmt_pid:#x}",
            p.pid
        ));
    }
    let pmt = section(p.payload, 0x02)?;
    if pmt.len() < 16 {
        return Err("short PMT".into());
    }
    let info_len = usize::from(pmt[10] & 0x0F) << 8 | usize::from(pmt[11]);
    let mut es = pmt.get(12 + info_len..pmt.len() - 4).ok_or("bad PMT")?;
    let mut video_pid = None;
    while es.len() >= 5 {
        let es_pid = u16::from(es[1] & 0x1F) << 8 | u16::from(es[2]);
        if es[0] == 0x1B {
            video_pid = Some(es_pid);
        }
        let skip = 5 + (usize::from(es[3] & 0x0F) << 8 | usize::from(es[4]));
        es = es.get(skip..).unwrap_or_default();
    }
    let video_pid = video_pid.ok_or("no H.264 stream in the PMT")?;
    // Then PES: gather the first video PES.
    let mut pes = Vec::new();
    let mut random_access = None;
    for p in packets {
        let p = ts_packet(p)?;
        if p.pid != video_pid {
            continue;
        }
        match (random_access, p.start) {
            (None, false) => return Err("video starts mid-PES".into()),
            (None, true) => random_access = Some(p.af.first().is_some_and(|f| f & 0x40 != 0)),
            (Some(_), true) => break,
            (Some(_), false) => {}
        }
        pes.extend_from_slice(p.payload);
    }
    let random_access = random_access.ok_or("no video PES")?;
    if pes.get(..4) != Some(&[0, 0, 1, 0xE0][..]) || pes.len() < 9 {
        return Err("bad video PES header".into());
    }
    let es = &pes[9 + usize::from(pes[8])..];
    // Annex B: the NAL type after each start code; the first slice decides.
    let first_slice = es
        .windows(4)
        .filter(|w| w[..3] == [0, 0, 1])
        .map(|w| w[3] & 0x1F)
        .find(|t| matches!(t, 1 | 5));
    Ok(SegmentStart {
        random_access,
        idr: first_slice == Some(5),
    })
}

/// Continuity counters per PID across consecutive segments (ISO/IEC 13818-1 2.4.3.3): +1 for
/// each packet with payload, the same for one without.
#[derive(Default)]
struct ContinuityCheck {
    last: std::collections::HashMap<u16, u8>,
    offset: usize,
}

impl ContinuityCheck {
    fn push(&mut self, bytes: &[u8]) -> Result<(), String> {
        for p in bytes.chunks(TS_PACKET) {
            let p = ts_packet(p)?;
            if let Some(last) = self.last.insert(p.pid, p.cc) {
                let want = if p.has_payload {
                    (last + 1) & 0x0F
                } else {
                    last
                };
                if p.cc != want {
                    return Err(format!(
                        "PID {:#x} continuity counter {}, wanted {want} at byte {}",
                        p.pid, p.cc, self.offset
                    ));
                }
            }
            self.offset += TS_PACKET;
        }
        Ok(())
    }
}

#[test]
fn refer_play_checks_the_rtmp_page_url_and_the_http_referer() {
    require("ffmpeg");
    require("ffprobe");
    let server =
        Server::start("[vhost.__defaultVhost__.refer]\nenabled = true\nplay = \"example.com\"\n");
    let dir = TempDir::new("refer-play");
    let url = server.url("live/ref");
    // ffmpeg reports no page; the publish list is empty, so it publishes.
    let mut publisher = ffmpeg_publish(&dir, &url, 12, 50, "300k");
    assert!(
        server.wait_log("publish __defaultVhost__/live/ref params", 10 * SECS),
        "{}",
        server.log()
    );
    let rtmp_frames = |page: &str| -> (bool, u32) {
        let out = dir.path(&format!("probe-{}.out", page.len()));
        let mut cmd = Command::new("ffprobe");
        cmd.args(["-v", "error"]);
        if !page.is_empty() {
            cmd.args(["-rtmp_pageurl", page]);
        }
        let status = Proc::spawn(
            cmd.args(["-count_frames", "-select_streams", "v"])
                .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
                .args(["-read_intervals", "%+3", &url])
                .stdout(std::fs::File::create(&out).unwrap()),
            &dir.path(&format!("probe-{}.err", page.len())),
        )
        .wait(20 * SECS);
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        (status.success(), text.trim().parse().unwrap_or(0))
    };
    // RTMP: ffprobe's pageUrl (librtmp and ffmpeg send it when they play).
    let (ok, frames) = rtmp_frames("http://www.example.com/watch.html");
    assert!(
        ok && frames >= 25,
        "RTMP play from www.example.com: {ok} {frames}"
    );
    let (ok, frames) = rtmp_frames("http://badexample.com/");
    assert!(
        !ok && frames == 0,
        "RTMP play from badexample.com: {ok} {frames}"
    );
    assert!(server.wait_log(
        "play __defaultVhost__/live/ref refused by refer.play",
        5 * SECS
    ));
    let (ok, _) = rtmp_frames("");
    assert!(!ok, "RTMP play with no page");
    // HTTP-FLV: the Referer header.
    let flv = server.http_url("live/ref.flv");
    let (status, _, _) = curl(&["-H", "Referer: http://badexample.com/", &flv]);
    assert_eq!(status, 403, "HTTP-FLV from badexample.com");
    let (status, _, _) = curl(&[&flv]);
    assert_eq!(status, 403, "HTTP-FLV with no Referer");
    let (status, _, body) = curl(&[
        "--max-time",
        "2",
        "-H",
        "Referer: https://cam.EXAMPLE.com:8443/watch",
        &flv,
    ]);
    assert_eq!(status, 200, "HTTP-FLV from cam.example.com");
    assert!(body.starts_with(b"FLV"), "{} bytes", body.len());
    // HLS: every request (hls.js sends the page as Referer on each).
    let m3u8 = server.http_url("live/ref.m3u8");
    let (status, _, _) = curl(&["-H", "Referer: http://evil.net/", &m3u8]);
    assert_eq!(status, 403, "HLS from evil.net");
    let (status, _, body) = curl(&["-H", "Referer: http://example.com/", &m3u8]);
    assert_eq!(status, 200, "HLS from example.com");
    assert!(
        body.starts_with(b"#EXTM3U"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert!(
        publisher.wait(20 * SECS).success(),
        "{}",
        publisher.stderr()
    );
}

#[test]
fn refer_all_and_publish_check_the_publishers_page() {
    let server = Server::start(
        "[vhost.__defaultVhost__.refer]\nenabled = true\nall = [\"example.com\", \"example.org\"]\n\
         publish = \"studio.example.com\"\n",
    );
    let addr = server.addr.to_string();
    // ffmpeg, OBS and cameras send no pageUrl when they publish: refused at connect.
    let dir = TempDir::new("refer-publish");
    let mut p = ffmpeg_publish(&dir, &server.url("live/p"), 3, 25, "300k");
    assert!(
        !p.wait(15 * SECS).success(),
        "publish without a page passed"
    );
    assert!(server.wait_log("connect refused by refer.all", 5 * SECS));
    // A web publisher (pageUrl in connect, as Flash sent it): refer.all then refer.publish.
    let refused = common::client::Client::connect_from_page(&addr, "live", "http://evil.net/");
    assert!(refused.is_err(), "connect from evil.net was accepted");
    let mut c = common::client::Client::connect_from_page(&addr, "live", "http://www.example.org/")
        .expect("connect from www.example.org");
    c.create_stream().unwrap();
    assert_eq!(c.publish("p").unwrap(), "NetStream.Publish.Rejected");
    let mut c = common::client::Client::connect_from_page(
        &addr,
        "live",
        "https://studio.example.com/go?x=1",
    )
    .expect("connect from studio.example.com");
    c.create_stream().unwrap();
    assert_eq!(c.publish("p").unwrap(), "NetStream.Publish.Start");
}
