//! Edge (SRS's `cluster.mode = "remote"`) against real peers: ffmpeg publishes to an origin (a
//! second tinysrs, or nginx-rtmp), players read from the tinysrs edge over RTMP, HTTP-FLV,
//! HTTP-TS and HLS; they share one upstream connection, which ends after the grace once they
//! leave; a dead first origin makes the edge use the next, a killed one too while a player
//! reads; a stream published on the edge reaches the origin. Real GOPs (2 s at 25 fps), read
//! for longer than a GOP. With `token_traverse`, the origin's on_connect hook decides which
//! RTMP clients the edge takes. Ephemeral ports on 127.0.0.1 (the hook server too); nginx-rtmp
//! on a free port below the ephemeral range (`common::free_port`).

mod common;

use std::time::{Duration, Instant};

use common::hookserver::Hooks;
use common::nginx::Nginx;
use common::{curl, ffmpeg_publish, ffmpeg_read, ffprobe, get_json, Proc, Server, TempDir};

/// A tinysrs on ephemeral ports of 127.0.0.1 (RTMP, HTTP, API), with `extra`. Fixed ports
/// here collided with other tests' client sockets (the kernel's ephemeral range).
fn tinysrs(extra: &str) -> Server {
    Server::start(&format!("http_api.listen = \"127.0.0.1:0\"\n{extra}"))
}

/// `host:port` of a server's RTMP.
fn at(server: &Server) -> String {
    server.addr.to_string()
}

/// A loopback port where nothing listens (bound, then closed).
fn dead_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// An edge of `origins` (each `host:port`).
fn edge(origins: &[String]) -> Server {
    let list: Vec<String> = origins.iter().map(|o| format!("\"{o}\"")).collect();
    tinysrs(&format!(
        "[vhost.__defaultVhost__.cluster]\nmode = \"remote\"\norigin = [{}]\n",
        list.join(", ")
    ))
}

fn streams(server: &Server) -> Vec<serde_json::Value> {
    let (_, json) = get_json(server.api_addr.expect("API"), "/api/v1/streams");
    json["streams"].as_array().cloned().unwrap_or_default()
}

fn stream(server: &Server, name: &str) -> Option<serde_json::Value> {
    streams(server).into_iter().find(|s| s["name"] == name)
}

/// Waits until `f` holds for stream `name` of `server` (bounded).
fn wait_stream(
    server: &Server,
    name: &str,
    timeout: Duration,
    f: impl Fn(&serde_json::Value) -> bool,
) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if stream(server, name).is_some_and(|s| f(&s)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

fn published(s: &serde_json::Value) -> bool {
    s["publish"]["active"] == true
}

/// Video frames in `seconds` of `url`, read into an FLV and decoded by ffprobe.
fn read_back(url: &str, seconds: u32, tag: &str) -> usize {
    let dir = TempDir::new(tag);
    let out = dir.path(&format!("{tag}.flv"));
    let (ok, err) = ffmpeg_read(&dir, url, seconds, &out, Duration::from_secs(40));
    assert!(ok, "ffmpeg read {url}: {err}");
    let probe = ffprobe(&dir, out.to_str().unwrap(), Duration::from_secs(20));
    assert!(
        probe.codecs.contains(&"h264".to_owned()),
        "{url}: {probe:?}"
    );
    probe.video_frames
}

/// A log line's time (`2026-12-06T23:43:44.489306864Z [INFO] ...`) as seconds of its day.
fn seconds_of_day(line: &str) -> f64 {
    let time = &line[line.find('T').unwrap() + 1..line.find('Z').unwrap()];
    let f: Vec<f64> = time.split(':').map(|x| x.parse().unwrap()).collect();
    f[0] * 3600.0 + f[1] * 60.0 + f[2]
}

fn stop(mut p: Proc) {
    let _ = p.child.kill();
    let _ = p.child.wait();
}

/// Two players on the edge (RTMP and HTTP-FLV) share one pull: the origin sees one player
/// beside the publisher. After they leave, the pull ends after the grace.
#[test]
fn players_share_one_pull_which_ends_after_the_grace() {
    let origin = tinysrs("");
    let e = edge(&[at(&origin)]);
    let dir = TempDir::new("edge-publish");
    let publish = ffmpeg_publish(&dir, &origin.url("live/cam"), 40, 50, "1M");
    assert!(
        wait_stream(&origin, "cam", Duration::from_secs(15), published),
        "{}",
        origin.log()
    );
    let rtmp = std::thread::spawn({
        let url = e.url("live/cam");
        move || read_back(&url, 8, "edge-rtmp")
    });
    let flv = std::thread::spawn({
        let url = e.http_url("live/cam.flv");
        move || read_back(&url, 8, "edge-flv")
    });
    // While both read: one upstream player at the origin (its stream has the publisher and
    // the edge), and the edge says it plays.
    assert!(
        wait_stream(&e, "cam", Duration::from_secs(10), |s| {
            s["edge"]["state"] == "playing" && s["clients"] == 2
        }),
        "edge: {:?}\n{}",
        stream(&e, "cam"),
        e.log()
    );
    assert!(
        wait_stream(&origin, "cam", Duration::from_secs(5), |s| s["clients"]
            == 2),
        "origin: {:?}",
        stream(&origin, "cam")
    );
    std::thread::sleep(Duration::from_secs(2));
    let at_origin = stream(&origin, "cam").unwrap();
    assert_eq!(
        at_origin["clients"], 2,
        "one pull for two players: {at_origin}"
    );
    let from_rtmp = rtmp.join().unwrap();
    let from_flv = flv.join().unwrap();
    // 8 s at 25 fps is 200 frames; the reads start at a keyframe.
    assert!(
        from_rtmp >= 150,
        "RTMP from the edge: {from_rtmp} video frames"
    );
    assert!(
        from_flv >= 150,
        "HTTP-FLV from the edge: {from_flv} video frames"
    );
    let e_cam = stream(&e, "cam").unwrap();
    assert_eq!(e_cam["edge"]["sessions"], 1, "{e_cam}");
    assert!(
        e_cam["edge"]["recv_bytes"].as_u64().unwrap() > 500_000,
        "{e_cam}"
    );
    // Both left: the pull ends after the 3 s grace, and the origin loses its player.
    assert!(
        e.wait_log("stopped (no viewer)", Duration::from_secs(10)),
        "{}",
        e.log()
    );
    let log = e.log();
    let at = |needle: &str| {
        let line = log.lines().rev().find(|l| l.contains(needle)).unwrap();
        seconds_of_day(line)
    };
    let grace = at("stopped (no viewer)") - at("no viewer; the pull ends");
    assert!((2.9..4.5).contains(&grace), "grace {grace} s:\n{log}");
    assert!(
        wait_stream(&origin, "cam", Duration::from_secs(5), |s| s["clients"]
            == 1),
        "origin: {:?}",
        stream(&origin, "cam")
    );
    stop(publish);
}

/// The first origin is down: the edge fails over to the second; later streams start at the
/// next origin in turn.
#[test]
fn a_dead_origin_fails_over_to_the_next() {
    let origin = tinysrs("");
    let dead = dead_port();
    let e = edge(&[dead.clone(), at(&origin)]);
    let dir = TempDir::new("edge-failover");
    let publish = ffmpeg_publish(&dir, &origin.url("live/fo"), 40, 50, "1M");
    assert!(wait_stream(
        &origin,
        "fo",
        Duration::from_secs(15),
        published
    ));
    let started = Instant::now();
    let frames = read_back(&e.url("live/fo"), 8, "edge-fo");
    assert!(frames >= 100, "{frames} video frames\n{}", e.log());
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let log = e.log();
    assert!(
        log.contains(&format!("from rtmp://{dead}: connect")),
        "the first origin was tried and failed:\n{log}"
    );
    assert!(
        log.contains(&format!("playing from rtmp://{}", at(&origin))),
        "{log}"
    );
    stop(publish);
}

/// `cluster.pull_timeout`: an origin that takes the TCP connection and then sends nothing (a
/// listener that never accepts: the kernel completes the connect, nobody answers the RTMP
/// handshake) is given up after the timeout (2 s here, before the 10 s setup timeout), and
/// the pull moves to the next origin, from which the player plays.
#[test]
fn a_silent_origin_is_left_after_the_pull_timeout() {
    let origin = tinysrs("");
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_at = silent.local_addr().unwrap().to_string();
    let e = tinysrs(&format!(
        "[vhost.__defaultVhost__.cluster]\nmode = \"remote\"\n\
         origin = [\"{silent_at}\", \"{}\"]\npull_timeout = 2\n",
        at(&origin)
    ));
    let dir = TempDir::new("edge-silent");
    let publish = ffmpeg_publish(&dir, &origin.url("live/si"), 40, 50, "1M");
    assert!(wait_stream(
        &origin,
        "si",
        Duration::from_secs(15),
        published
    ));
    let frames = read_back(&e.url("live/si"), 6, "edge-si");
    assert!(frames >= 80, "{frames} video frames\n{}", e.log());
    let log = e.log();
    let line = |needle: &str| {
        log.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in\n{log}"))
    };
    let start = line("edge __defaultVhost__/live/si: pulling from");
    let gave_up = line(&format!("from rtmp://{silent_at}: no data from the origin"));
    assert!(gave_up.contains("cluster.pull_timeout"), "{gave_up}");
    let after = seconds_of_day(gave_up) - seconds_of_day(start);
    eprintln!("pull_timeout = 2 s: the silent origin was left after {after:.2} s");
    assert!((1.9..4.0).contains(&after), "{after} s\n{log}");
    line(&format!("playing from rtmp://{}", at(&origin)));
    drop(silent);
    stop(publish);
}

/// nginx-rtmp as the origin: ten players on the edge at once (HTTP-FLV, HTTP-TS and RTMP in
/// turn), one play at nginx.
#[test]
fn an_nginx_rtmp_origin_sees_one_play_for_ten_players() {
    let ngx = Nginx::start();
    let e = edge(&[format!("127.0.0.1:{}", ngx.port)]);
    let dir = TempDir::new("edge-nginx");
    let publish = ffmpeg_publish(&dir, &ngx.url("live/ng"), 40, 50, "1M");
    std::thread::sleep(Duration::from_secs(2));
    let readers: Vec<_> = (0..10)
        .map(|i| {
            let url = match i % 3 {
                0 => e.http_url("live/ng.flv"),
                1 => e.http_url("live/ng.ts"),
                _ => e.url("live/ng"),
            };
            std::thread::spawn(move || read_back(&url, 8, &format!("edge-ng{i}")))
        })
        .collect();
    for r in readers {
        let frames = r.join().unwrap();
        assert!(frames >= 150, "{frames} video frames\n{}", e.log());
    }
    let log = ngx.log();
    let plays = log
        .lines()
        .filter(|l| l.contains("play: name='ng'"))
        .count();
    assert_eq!(plays, 1, "nginx's plays of ng:\n{log}");
    stop(publish);
}

/// A stream published on the edge goes to an origin (the next one when the first is down),
/// where a player reads it.
#[test]
fn a_publish_on_the_edge_reaches_the_origin() {
    let origin = tinysrs("");
    // Nothing listens on the first: the publish goes to the next origin.
    let dead = dead_port();
    let e = edge(&[dead.clone(), at(&origin)]);
    let dir = TempDir::new("edge-up");
    let publish = ffmpeg_publish(&dir, &e.url("live/up"), 30, 50, "1M");
    assert!(
        wait_stream(&origin, "up", Duration::from_secs(15), published),
        "{}",
        e.log()
    );
    let log = e.log();
    assert!(
        log.contains(&format!("to rtmp://{dead}/live/up: connect"))
            && log.contains(&format!(
                "retrying in 1 s to rtmp://{}/live/up",
                at(&origin)
            )),
        "the first origin was tried, then the next:\n{log}"
    );
    let frames = read_back(&origin.url("live/up"), 6, "origin-up");
    assert!(frames >= 100, "{frames} video frames");
    // The published stream is not pulled back from the origin.
    assert!(
        stream(&e, "up").is_some_and(|s| s["edge"].is_null()),
        "{:?}",
        stream(&e, "up")
    );
    stop(publish);
}

/// An HLS viewer on the edge starts the pull too: the first playlist requests find nothing
/// (404) until the first segment is cut from the pulled stream, then ffmpeg plays the HLS.
#[test]
fn an_hls_viewer_starts_the_pull() {
    let origin = tinysrs("");
    let e = tinysrs(&format!(
        "[vhost.__defaultVhost__.hls]\nenabled = true\nhls_fragment = 2\n\
         [vhost.__defaultVhost__.cluster]\nmode = \"remote\"\norigin = \"{}\"\n",
        at(&origin)
    ));
    let dir = TempDir::new("edge-hls");
    let publish = ffmpeg_publish(&dir, &origin.url("live/hl"), 40, 50, "1M");
    assert!(wait_stream(
        &origin,
        "hl",
        Duration::from_secs(15),
        published
    ));
    let playlist = e.http_url("live/hl.m3u8");
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, _, _) = common::curl(&[&playlist]);
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < end,
            "no playlist within 20 s (HTTP {status})\n{}",
            e.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        e.log()
            .contains("edge __defaultVhost__/live/hl: playing from"),
        "{}",
        e.log()
    );
    let frames = read_back(&playlist, 6, "edge-hls");
    assert!(frames >= 100, "HLS from the edge: {frames} video frames");
    stop(publish);
}

/// The README's third deployment ("Beyond one box"): HLS from a board behind an nginx cache
/// (Debian's nginx, `proxy_cache` with the config `Nginx::cache_for` writes, as the README
/// shows it). Three ffmpeg players read the HLS through nginx at once; nginx's access log
/// shows segments answered from its cache, so tinysrs sends each segment about once however
/// many players there are.
#[test]
fn hls_behind_an_nginx_cache() {
    let board = tinysrs("[vhost.__defaultVhost__.hls]\nenabled = true\nhls_fragment = 2\n");
    let nginx = Nginx::cache_for(board.http_addr.expect("HTTP"));
    let dir = TempDir::new("edge-hls-cache");
    let publish = ffmpeg_publish(&dir, &board.url("live/hc"), 40, 50, "1M");
    let playlist = nginx.http_url("live/hc.m3u8");
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, _, _) = curl(&[&playlist]);
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < end,
            "no playlist through nginx within 20 s (HTTP {status})\n{}\n{}",
            nginx.access_log(),
            board.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let players: Vec<_> = (0..3)
        .map(|i| {
            let url = playlist.clone();
            std::thread::spawn(move || read_back(&url, 6, &format!("edge-hls-cache-{i}")))
        })
        .collect();
    for p in players {
        let frames = p.join().unwrap();
        assert!(frames >= 100, "HLS through nginx: {frames} video frames");
    }
    let log = nginx.access_log();
    let segments: Vec<&str> = log.lines().filter(|l| l.contains(".ts ")).collect();
    let hits = segments.iter().filter(|l| l.ends_with(" HIT")).count();
    let misses = segments.len() - hits;
    // Three players of the same segments: most of their requests are hits.
    assert!(
        hits > 0 && hits >= misses,
        "{hits} hits, {misses} other segment requests:\n{log}"
    );
    eprintln!(
        "HLS behind nginx's cache: {} segment requests from 3 players, {hits} from the cache",
        segments.len()
    );
    stop(publish);
}

/// Two origins with the stream; the one in use is killed: the player on the edge stays
/// connected and gets the stream again from the other within 5 s.
#[test]
fn players_resume_from_the_second_origin_when_the_first_dies() {
    let mut o1 = tinysrs("");
    let o2 = tinysrs("");
    let (port1, port2) = (
        format!(":{}", o1.addr.port()),
        format!(":{}", o2.addr.port()),
    );
    let e = edge(&[at(&o1), at(&o2)]);
    let dir = TempDir::new("edge-ha");
    let p1 = ffmpeg_publish(&dir, &o1.url("live/ha"), 40, 50, "1M");
    let p2 = ffmpeg_publish(&dir, &o2.url("live/ha"), 40, 50, "1M");
    assert!(wait_stream(&o1, "ha", Duration::from_secs(15), published));
    assert!(wait_stream(&o2, "ha", Duration::from_secs(15), published));
    let reader = std::thread::spawn({
        let url = e.url("live/ha");
        move || read_back(&url, 16, "edge-ha")
    });
    let from = |port: String| {
        move |s: &serde_json::Value| {
            s["edge"]["state"] == "playing"
                && s["edge"]["origin"]
                    .as_str()
                    .is_some_and(|o| o.ends_with(&port))
                && published(s)
        }
    };
    assert!(
        wait_stream(&e, "ha", Duration::from_secs(10), from(port1.clone())),
        "{:?}\n{}",
        stream(&e, "ha"),
        e.log()
    );
    std::thread::sleep(Duration::from_secs(4));
    o1.signal("KILL");
    let killed = Instant::now();
    assert!(
        wait_stream(&e, "ha", Duration::from_secs(5), from(port2.clone())),
        "not resumed from the second origin within 5 s: {:?}\n{}",
        stream(&e, "ha"),
        e.log()
    );
    let resumed = killed.elapsed();
    let _ = o1.stop(Duration::from_secs(1));
    let frames = reader.join().unwrap();
    // 16 s at 25 fps is 400 frames; the failover costs at most about 5 s of them.
    assert!(
        frames >= 200,
        "{frames} video frames across the failover (resumed after {resumed:?})\n{}",
        e.log()
    );
    eprintln!(
        "edge failover: playing from the second origin {resumed:?} after the kill; the \
         player read {frames} video frames in 16 s"
    );
    stop(p1);
    stop(p2);
}

/// `token_traverse`: the edge makes each RTMP client's connect at the origin first, whose
/// on_connect hook refuses `token=bad`: that player is refused by the edge (and never starts
/// a pull); a `token=good` player plays. The publisher at the origin has no token (allowed).
#[test]
fn token_traverse_lets_the_origins_hook_decide() {
    let hooks = Hooks::start(0, 10);
    let origin = tinysrs(&format!(
        "[vhost.__defaultVhost__.http_hooks]\nenabled = true\non_connect = \"{}\"\n",
        hooks.url("by_token")
    ));
    let e = tinysrs(&format!(
        "[vhost.__defaultVhost__.cluster]\nmode = \"remote\"\norigin = \"{}\"\n\
         token_traverse = true\n",
        at(&origin)
    ));
    let dir = TempDir::new("edge-traverse");
    let publish = ffmpeg_publish(&dir, &origin.url("live/tt"), 40, 50, "1M");
    assert!(
        wait_stream(&origin, "tt", Duration::from_secs(15), published),
        "{}",
        origin.log()
    );
    // The token rides on the tcUrl (ffmpeg sends app "live?token=..."), as SRS wants it.
    let bad = e.url("live?token=bad/tt");
    let out = dir.path("bad.flv");
    let (ok, err) = ffmpeg_read(&dir, &bad, 3, &out, Duration::from_secs(30));
    assert!(!ok, "the edge let token=bad play: {err}\n{}", e.log());
    assert!(
        e.wait_log(
            "connect refused by the origin (token traverse)",
            Duration::from_secs(5)
        ),
        "{}",
        e.log()
    );
    assert!(
        !e.log().contains("edge __defaultVhost__/live/tt: pulling"),
        "a refused client started a pull:\n{}",
        e.log()
    );
    let frames = read_back(&e.url("live?token=good/tt"), 6, "edge-tt");
    assert!(frames >= 100, "{frames} video frames\n{}", e.log());
    let log = e.log();
    let accepted = log
        .lines()
        .find(|l| l.contains("edge token traverse: accepted by 127.0.0.1:"))
        .unwrap_or_else(|| panic!("{log}"));
    eprintln!("token traverse: {accepted}");
    // The origin's hook saw both clients' tokens in the tcUrl the edge passed on.
    let asked = hooks.wait("on_connect", 3, Duration::from_secs(5));
    let urls: Vec<&str> = asked.iter().filter_map(|b| b["tcUrl"].as_str()).collect();
    for token in ["token=bad", "token=good"] {
        assert!(urls.iter().any(|u| u.contains(token)), "{token}: {urls:?}");
    }
    stop(publish);
}

/// `token_traverse` for HTTP players: an HTTP-FLV, HTTP-TS or HLS play on the edge is first
/// made as an RTMP connect at the origin with the player's query on the tcUrl; the origin's
/// on_connect hook refuses `token=bad` (403 on the edge, no pull), and `token=good` plays.
/// An HLS player's playlist refreshes reuse the origin's answer (one connect, not one per
/// refresh).
#[test]
fn token_traverse_checks_http_players_at_the_origin() {
    let hooks = Hooks::start(0, 10);
    let origin = tinysrs(&format!(
        "[vhost.__defaultVhost__.http_hooks]\nenabled = true\non_connect = \"{}\"\n",
        hooks.url("by_token")
    ));
    let e = tinysrs(&format!(
        "[vhost.__defaultVhost__.hls]\nenabled = true\nhls_fragment = 2\n\
         [vhost.__defaultVhost__.cluster]\nmode = \"remote\"\norigin = \"{}\"\n\
         token_traverse = true\n",
        at(&origin)
    ));
    let dir = TempDir::new("edge-traverse-http");
    let publish = ffmpeg_publish(&dir, &origin.url("live/th"), 40, 50, "1M");
    assert!(
        wait_stream(&origin, "th", Duration::from_secs(15), published),
        "{}",
        origin.log()
    );
    for ext in ["flv", "ts", "m3u8"] {
        let (status, head, _) = curl(&[&e.http_url(&format!("live/th.{ext}?token=bad"))]);
        assert_eq!(status, 403, "{ext}: {head}\n{}", e.log());
    }
    assert!(
        e.wait_log(
            "refused by the origin (token traverse)",
            Duration::from_secs(5)
        ),
        "{}",
        e.log()
    );
    assert!(
        !e.log().contains("edge __defaultVhost__/live/th: pulling"),
        "a refused HTTP player started a pull:\n{}",
        e.log()
    );
    let out = dir.path("good.flv");
    let url = e.http_url("live/th.flv?token=good");
    let (ok, err) = ffmpeg_read(&dir, &url, 4, &out, Duration::from_secs(30));
    assert!(ok, "{url}: {err}\n{}", e.log());
    let probe = ffprobe(&dir, out.to_str().unwrap(), Duration::from_secs(20));
    assert!(
        probe.codecs.contains(&"h264".to_owned()) && probe.video_frames >= 60,
        "{probe:?}\n{}",
        e.log()
    );
    assert!(
        e.log()
            .contains("edge token traverse: accepted by 127.0.0.1:"),
        "{}",
        e.log()
    );
    // HLS with token=good: the playlist comes once the pull has cut a segment (404 until
    // then); every request after the first uses the origin's remembered answer.
    let playlist = e.http_url("live/th.m3u8?token=good");
    let end = Instant::now() + Duration::from_secs(20);
    let mut requests = 0;
    loop {
        let (status, head, body) = curl(&[&playlist]);
        requests += 1;
        if status == 200 {
            assert!(body.starts_with(b"#EXTM3U"), "{head}");
            break;
        }
        assert_eq!(status, 404, "{head}\n{}", e.log());
        assert!(Instant::now() < end, "no playlist within 20 s\n{}", e.log());
        std::thread::sleep(Duration::from_millis(300));
    }
    for _ in 0..3 {
        let (status, head, _) = curl(&[&playlist]);
        assert_eq!(status, 200, "{head}\n{}", e.log());
    }
    // The origin's hook saw the HTTP players' tokens on the tcUrl the edge passed on: three
    // refused players (FLV, TS, HLS) and two accepted (FLV, and HLS once for all its requests).
    hooks.wait("on_connect", 6, Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(500));
    let asked = hooks.wait("on_connect", 6, Duration::from_secs(0));
    let with = |token: &str| {
        asked
            .iter()
            .filter(|b| b["tcUrl"].as_str().is_some_and(|u| u.contains(token)))
            .count()
    };
    assert_eq!(
        (with("token=bad"), with("token=good")),
        (3, 2),
        "HLS made {} playlist requests: {asked:?}",
        requests + 3
    );
    let urls: Vec<&str> = asked.iter().filter_map(|b| b["tcUrl"].as_str()).collect();
    eprintln!("token traverse of HTTP players: origin's on_connect saw {urls:?}");
    for token in ["token=bad", "token=good"] {
        assert!(
            urls.iter()
                .any(|u| u.starts_with("rtmp://") && u.contains(token)),
            "{token}: {urls:?}"
        );
    }
    stop(publish);
}

/// `cluster.protocol = "flv"`: the edge pulls `GET /live/fl.flv` from the origin's HTTP server
/// (a tinysrs origin: nginx-rtmp has no HTTP-FLV); an RTMP and an HTTP-FLV player on the edge
/// read the stream, and the origin sees one player (the pull) beside the publisher.
#[test]
fn an_flv_pull_feeds_rtmp_and_flv_players() {
    let origin = tinysrs("");
    let http = origin
        .http_addr
        .expect("the origin's HTTP server")
        .to_string();
    let e = tinysrs(&format!(
        "[vhost.__defaultVhost__.cluster]\nmode = \"remote\"\norigin = \"{http}\"\n\
         protocol = \"flv\"\n"
    ));
    let dir = TempDir::new("edge-flvpull");
    let publish = ffmpeg_publish(&dir, &origin.url("live/fl"), 40, 50, "1M");
    assert!(
        wait_stream(&origin, "fl", Duration::from_secs(15), published),
        "{}",
        origin.log()
    );
    let rtmp = std::thread::spawn({
        let url = e.url("live/fl");
        move || read_back(&url, 8, "edge-fl-rtmp")
    });
    let flv = std::thread::spawn({
        let url = e.http_url("live/fl.flv");
        move || read_back(&url, 8, "edge-fl-flv")
    });
    let from_http = format!("http://{http}");
    assert!(
        wait_stream(&e, "fl", Duration::from_secs(10), |s| {
            s["edge"]["state"] == "playing" && s["edge"]["origin"] == from_http.as_str()
        }),
        "edge: {:?}\n{}",
        stream(&e, "fl"),
        e.log()
    );
    assert!(
        wait_stream(&origin, "fl", Duration::from_secs(5), |s| s["clients"] == 2),
        "origin: {:?}",
        stream(&origin, "fl")
    );
    let from_rtmp = rtmp.join().unwrap();
    let from_flv = flv.join().unwrap();
    assert!(
        from_rtmp >= 150,
        "RTMP: {from_rtmp} video frames\n{}",
        e.log()
    );
    assert!(
        from_flv >= 150,
        "HTTP-FLV: {from_flv} video frames\n{}",
        e.log()
    );
    let e_fl = stream(&e, "fl").unwrap();
    assert_eq!(e_fl["edge"]["sessions"], 1, "{e_fl}");
    assert!(
        e.log().contains(&format!(
            "edge __defaultVhost__/live/fl: playing from {from_http}"
        )),
        "{}",
        e.log()
    );
    stop(publish);
}

/// SRS's `/api/v1/clusters` (what an SRS origin with `origin_cluster` asks its coworkers),
/// read with curl: a stream published here gives our RTMP and API addresses, as SRS answers;
/// another gives `origin: null`.
#[test]
fn the_clusters_api_says_where_a_stream_is_published() {
    let origin = tinysrs("");
    let api = origin.api_addr.expect("API");
    let dir = TempDir::new("edge-clusters");
    let publish = ffmpeg_publish(&dir, &origin.url("live/cs"), 30, 50, "500k");
    assert!(wait_stream(
        &origin,
        "cs",
        Duration::from_secs(15),
        published
    ));
    let ask = |stream: &str| {
        let url = format!(
            "http://{api}/api/v1/clusters?vhost=__defaultVhost__&ip=127.0.0.1&app=live&\
             stream={stream}&coworker=127.0.0.1:{}",
            api.port()
        );
        let (status, _, body) = common::curl(&["-s", &url]);
        assert_eq!(status, 200, "{url}");
        serde_json::from_slice::<serde_json::Value>(&body).unwrap()
    };
    let found = ask("cs");
    assert_eq!(found["code"], 0, "{found}");
    let data = &found["data"];
    assert_eq!(
        data["query"],
        serde_json::json!({"ip": "127.0.0.1", "vhost": "__defaultVhost__", "app": "live",
                           "stream": "cs"}),
        "{found}"
    );
    let o = &data["origin"];
    assert_eq!(o["ip"], "127.0.0.1", "{found}");
    assert_eq!(o["port"], origin.addr.port(), "{found}");
    assert_eq!(o["vhost"], "__defaultVhost__", "{found}");
    assert_eq!(o["api"], api.to_string(), "{found}");
    assert_eq!(
        o["routers"],
        serde_json::json!([api.to_string()]),
        "{found}"
    );
    let missing = ask("nothere");
    assert!(missing["data"]["origin"].is_null(), "{missing}");
    stop(publish);
}
