//! HTTP callbacks against the real binary and a real hook server (tests/data/hook_server.py,
//! a Python `http.server` that records every request and answers by path): ffmpeg publishes,
//! ffprobe plays over RTMP and HTTP-FLV, and every callback's body is checked field for field
//! against SRS's (`srs_app_http_hooks.cpp`). Refusals (a deny body, HTTP 500, a hook slower
//! than `hooks_timeout`) refuse the client with its protocol's words, and a slow hook for one
//! publisher does not hold up another stream's player.
//!
//! Hook server ports: 127.0.0.1:23300..23399 (one per test).

mod common;

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::hookserver::{assert_srs_fields, srs_keys, Hooks};
use common::paced::{read_until_unpublish, Paced};
use common::{curl, ffmpeg_publish, ffmpeg_read, ffprobe, player, publisher, Server, TempDir};
use serde_json::Value;

static SERIAL: Mutex<()> = Mutex::new(());

/// One ffmpeg test at a time (two shared cores).
fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn hooks_config(hooks: &str) -> String {
    format!("[vhost.__defaultVhost__.http_hooks]\nenabled = true\nhooks_timeout = 2\n{hooks}\n")
}

/// ffmpeg publishes with a token; on_connect, on_publish, on_unpublish and on_close carry
/// SRS's fields with the values the API and the log show for the same client.
#[test]
fn an_allowed_publish_reports_srs_bodies_field_for_field() {
    let _turn = serial();
    let hooks = Hooks::start(23301, 10);
    let url = hooks.url("allow");
    let json = hooks.url("allow_json");
    let server = Server::start(&hooks_config(&format!(
        "on_connect = \"{url}\"\non_publish = [\"{url}\", \"{json}\"]\non_unpublish = \"{url}\"\n\
         on_close = \"{url}\"\n"
    )));
    let dir = TempDir::new("hooks-publish");
    let mut ffmpeg = ffmpeg_publish(&dir, &server.url("live/cam?token=abc"), 3, 25, "300k");
    let published = hooks.wait("on_publish", 2, Duration::from_secs(10));
    assert_eq!(
        published.len(),
        2,
        "both on_publish URLs asked: {:?}",
        hooks.actions()
    );
    // The API lists the publisher under the id the hooks got.
    let http = server.http_addr.unwrap();
    let (_, clients) = common::get_json(http, "/api/v1/clients");
    let (_, summary) = common::get_json(http, "/api/v1/summaries");
    let publisher_id = clients["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "fmle-publish")
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .expect("the publisher in /api/v1/clients");
    assert!(
        ffmpeg.wait(Duration::from_secs(20)).success(),
        "{}",
        ffmpeg.stderr()
    );
    hooks.wait("on_close", 1, Duration::from_secs(10));
    // The decisions come in order; the two notices at the end are posted together.
    let mut actions = hooks.actions();
    assert_eq!(
        actions[..3],
        ["on_connect", "on_publish", "on_publish"],
        "{actions:?}"
    );
    actions[3..].sort();
    assert_eq!(actions[3..], ["on_close", "on_unpublish"], "{actions:?}");
    let port = server.addr.port();
    for (path, body) in hooks.requests() {
        assert_srs_fields(&body);
        assert_eq!(body["client_id"], publisher_id.as_str(), "{path}: {body}");
        assert_eq!(body["ip"], "127.0.0.1");
        assert_eq!(body["vhost"], "__defaultVhost__");
        assert_eq!(body["app"], "live");
        assert_eq!(body["server_id"], summary["server"], "{body}");
        assert_eq!(body["service_id"], summary["service"], "{body}");
        let action = body["action"].as_str().unwrap();
        if action == "on_close" {
            assert!(body["recv_bytes"].as_u64().unwrap() > 10_000, "{body}");
            assert!(body["send_bytes"].as_u64().unwrap() > 1_000, "{body}");
            continue;
        }
        assert_eq!(
            body["tcUrl"],
            format!("rtmp://127.0.0.1:{port}/live"),
            "{body}"
        );
        if action == "on_connect" {
            assert_eq!(
                (&body["stream"], &body["param"]),
                (&Value::from(""), &Value::from(""))
            );
            assert_eq!(body["pageUrl"], "");
            continue;
        }
        assert_eq!(body["stream"], "cam");
        assert_eq!(body["param"], "?token=abc");
        assert_eq!(body["stream_url"], "/live/cam");
        assert!(body["stream_id"].as_str().unwrap().starts_with("vid-"));
    }
    let log = server.log();
    assert!(log.contains(&format!("[{publisher_id}] publish")), "{log}");
    assert!(log.contains("hook on_publish"), "{log}");
}

/// on_publish answering `{"code": 1}`, on_connect answering 500, and an on_publish slower than
/// hooks_timeout: ffmpeg is refused each time, with the RTMP status and the log saying why.
#[test]
fn refusing_hooks_refuse_the_publisher() {
    let _turn = serial();
    let hooks = Hooks::start(23302, 10);
    let dir = TempDir::new("hooks-deny");
    let cases = [
        (
            format!("on_publish = \"{}\"\n", hooks.url("deny")),
            "refused by the on_publish hook: on_publish",
            "code 1",
        ),
        (
            format!(
                "on_connect = \"{}\"\non_close = \"{}\"\n",
                hooks.url("error"),
                hooks.url("allow")
            ),
            "refused by the on_connect hook",
            "HTTP status 500",
        ),
        (
            format!("on_publish = \"{}\"\n", hooks.url("slow")),
            "refused by the on_publish hook",
            "no answer within 2000 ms",
        ),
        (
            // Nobody listens there.
            "on_publish = \"http://127.0.0.1:23399/\"\n".to_owned(),
            "refused by the on_publish hook",
            "refused",
        ),
    ];
    for (config, refused, why) in cases {
        let server = Server::start(&hooks_config(&config));
        let started = Instant::now();
        let mut ffmpeg = ffmpeg_publish(&dir, &server.url("live/denied"), 3, 25, "300k");
        let status = ffmpeg.wait(Duration::from_secs(20));
        assert!(!status.success(), "{config}: ffmpeg was let in");
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{config}: the refusal took {:?}",
            started.elapsed()
        );
        assert!(
            server.wait_log(refused, Duration::from_secs(5)),
            "{config}: {}",
            server.log()
        );
        let log = server.log();
        assert!(log.contains(why), "{config}: {log}");
        // ffmpeg prints the status's description.
        let stderr = ffmpeg.stderr();
        assert!(stderr.contains("refused by the on_"), "{config}: {stderr}");
        if config.contains("on_close") {
            // As SRS: a connection refused by on_connect is closed, and told.
            let closed = hooks.wait("on_close", 1, Duration::from_secs(5));
            assert_eq!(closed.len(), 1, "{:?}", hooks.actions());
            assert_srs_fields(&closed[0]);
        }
        let (_, streams) = common::get_json(server.http_addr.unwrap(), "/api/v1/streams");
        assert!(
            streams["streams"]
                .as_array()
                .is_none_or(|s| s.iter().all(|s| s["publish"]["active"] != true)),
            "{streams}"
        );
    }
}

/// ffmpeg plays over RTMP, HTTP-FLV and HTTP-TS: on_play and on_stop with SRS's fields each;
/// an HTTP-FLV play the hook refuses is 403, an RTMP one fails.
#[test]
fn players_over_rtmp_http_flv_and_http_ts_report_on_play_and_on_stop() {
    let _turn = serial();
    let hooks = Hooks::start(23303, 10);
    let server = Server::start(&hooks_config(&format!(
        "on_play = \"{}\"\non_stop = \"{}\"\n",
        hooks.url("by_stream"),
        hooks.url("allow")
    )));
    let dir = TempDir::new("hooks-play");
    let mut ffmpeg = ffmpeg_publish(&dir, &server.url("live/cam"), 8, 25, "300k");
    std::thread::sleep(Duration::from_secs(2));
    let http = server.http_addr.unwrap();
    let flv = format!("http://127.0.0.1:{}/live/cam.flv?token=t1", http.port());
    let rtmp = server.url("live/cam?token=t2");
    // Each reads a second of the stream, then leaves.
    let ts = format!("http://127.0.0.1:{}/live/cam.ts?token=t3", http.port());
    for (input, out) in [(&rtmp, "rtmp.flv"), (&flv, "flv.flv"), (&ts, "ts.ts")] {
        let (ok, stderr) = ffmpeg_read(&dir, input, 1, &dir.path(out), Duration::from_secs(15));
        assert!(ok, "{input}: {stderr}");
    }
    let played = hooks.wait("on_play", 2, Duration::from_secs(10));
    let stopped = hooks.wait("on_stop", 2, Duration::from_secs(10));
    assert!(
        played.len() >= 2 && stopped.len() >= 2,
        "{:?}",
        hooks.actions()
    );
    let port = server.addr.port();
    let by_param = |bodies: &[Value], param: &str| -> Value {
        bodies
            .iter()
            .find(|b| b["param"] == param)
            .cloned()
            .unwrap_or_else(|| panic!("no body with param {param}: {bodies:?}"))
    };
    for (param, tc_url) in [
        ("?token=t2", format!("rtmp://127.0.0.1:{port}/live")),
        (
            "?token=t1",
            format!("http://127.0.0.1:{}/live", http.port()),
        ),
    ] {
        let play = by_param(&played, param);
        let stop = by_param(&stopped, param);
        for body in [&play, &stop] {
            assert_srs_fields(body);
            assert_eq!(body["stream"], "cam");
            assert_eq!(body["stream_url"], "/live/cam");
            assert_eq!(body["tcUrl"], tc_url.as_str(), "{body}");
            assert_eq!(body["ip"], "127.0.0.1");
        }
        assert_eq!(play["client_id"], stop["client_id"]);
        assert_eq!(play["pageUrl"], "");
    }
    // A stream the hook refuses: 403 over HTTP-FLV (curl), refused over RTMP (ffprobe).
    let (status, _, body) = curl(&[&format!("http://127.0.0.1:{}/live/deny1.flv", http.port())]);
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    let probe = ffprobe(&dir, &server.url("live/deny2"), Duration::from_secs(10));
    assert!(!probe.success && probe.video_frames == 0, "{probe:?}");
    assert!(server.wait_log("deny2 refused by the on_play hook", Duration::from_secs(5)));
    let _ = ffmpeg.wait(Duration::from_secs(20));
}

/// One publisher's on_publish hangs (past hooks_timeout); another stream's player keeps
/// getting its frames on time meanwhile, and the hanging publisher is refused in the end.
#[test]
fn a_slow_hook_holds_only_its_own_client() {
    let _turn = serial();
    let hooks = Hooks::start(23304, 10);
    let server = Server::start(&format!(
        "[vhost.__defaultVhost__.http_hooks]\nenabled = true\nhooks_timeout = 3\n\
         on_publish = \"{}\"\n[vhost.__defaultVhost__.play]\nmw_latency = 100\n",
        hooks.url("by_stream")
    ));
    let mut watcher = player(&server, "fast");
    let reader =
        std::thread::spawn(move || read_until_unpublish(&mut watcher, Duration::from_secs(30)));
    let paced = Paced::start(publisher(&server, "fast"), 2000, 25);
    std::thread::sleep(Duration::from_millis(500));
    // The slow one: our client waits for its publish answer in a thread of its own.
    let addr = server.addr.to_string();
    let slow = std::thread::spawn(move || {
        let started = Instant::now();
        let mut c = common::client::Client::connect(&addr, "live").unwrap();
        c.create_stream().unwrap();
        let code = c.publish("slow1").map_err(|e| e.to_string());
        (code, started.elapsed())
    });
    let (code, waited) = slow.join().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let (sent, sent_at) = paced.finish();
    let got = reader.join().unwrap().unwrap();
    assert!(
        waited >= Duration::from_millis(2900) && waited < Duration::from_secs(6),
        "the slow publish waited {waited:?}"
    );
    assert_eq!(
        code.as_deref(),
        Ok("NetStream.Publish.Rejected"),
        "{}",
        server.log()
    );
    assert_eq!(got.len() as u32, sent, "every frame arrived");
    let mut worst = Duration::ZERO;
    for w in got.windows(2) {
        let at_player = w[1].1.saturating_duration_since(w[0].1);
        let at_publisher =
            sent_at[w[1].0 as usize].saturating_duration_since(sent_at[w[0].0 as usize]);
        worst = worst.max(at_player.saturating_sub(at_publisher));
    }
    eprintln!("hooks: worst extra frame gap while a hook hung: {worst:?}");
    // mw_latency (100 ms) + 100 ms.
    assert!(
        worst < Duration::from_millis(200),
        "worst extra gap {worst:?}"
    );
}

/// A recording closes: on_dvr with the file's path, which exists.
#[cfg(feature = "dvr")]
#[test]
fn a_closed_recording_reports_on_dvr_with_its_file() {
    let _turn = serial();
    let hooks = Hooks::start(23305, 10);
    let dir = TempDir::new("hooks-dvr");
    let root = dir.path("rec");
    let server = Server::start(&format!(
        "{}[vhost.__defaultVhost__.dvr]\nenabled = true\n\
         dvr_path = \"{}/[app]/[stream].[timestamp].flv\"\n",
        hooks_config(&format!("on_dvr = \"{}\"\n", hooks.url("allow"))),
        root.display()
    ));
    let mut ffmpeg = ffmpeg_publish(&dir, &server.url("live/rec?k=v"), 3, 25, "300k");
    assert!(ffmpeg.wait(Duration::from_secs(20)).success());
    let dvr = hooks.wait("on_dvr", 1, Duration::from_secs(15));
    assert_eq!(dvr.len(), 1, "{}", server.log());
    let body = &dvr[0];
    assert_srs_fields(body);
    assert_eq!(body["stream"], "rec");
    assert_eq!(body["param"], "?k=v");
    let file = PathBuf::from(body["file"].as_str().unwrap());
    assert!(
        file.starts_with(&root) && file.extension().unwrap() == "flv",
        "{body}"
    );
    assert!(file.exists(), "{body}");
    assert!(!body["cwd"].as_str().unwrap().is_empty());
    assert!(
        !body["client_id"].as_str().unwrap().is_empty(),
        "the publisher's id: {body}"
    );
}

/// HLS segments close: on_hls for each, with SRS's fields, the segment's URL and sequence
/// number as the playlist lists them, its duration (RAM storage: no files).
#[cfg(feature = "hls")]
#[test]
fn closed_hls_segments_report_on_hls() {
    let _turn = serial();
    let hooks = Hooks::start(23306, 10);
    let server = Server::start(&format!(
        "{}[vhost.__defaultVhost__.hls]\nenabled = true\nhls_fragment = 1\n",
        hooks_config(&format!("on_hls = \"{}\"\n", hooks.url("allow")))
    ));
    let dir = TempDir::new("hooks-hls");
    let mut ffmpeg = ffmpeg_publish(&dir, &server.url("live/seg?a=b"), 5, 25, "300k");
    let reported = hooks.wait("on_hls", 3, Duration::from_secs(15));
    assert!(ffmpeg.wait(Duration::from_secs(20)).success());
    assert!(
        reported.len() >= 3,
        "{:?}\n{}",
        hooks.actions(),
        server.log()
    );
    let http = server.http_addr.unwrap();
    let (status, _, playlist) = curl(&[&format!("http://{http}/live/seg.m3u8")]);
    let playlist = String::from_utf8_lossy(&playlist).into_owned();
    // The first three: whole segments (the last one of a publish may be shorter).
    for (i, body) in reported.iter().take(3).enumerate() {
        let mut keys: Vec<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort();
        let mut want = srs_keys("on_stop");
        want.extend([
            "duration", "cwd", "file", "url", "m3u8", "m3u8_url", "seq_no",
        ]);
        want.sort();
        assert_eq!(keys, want, "{body}");
        let seq = body["seq_no"].as_u64().unwrap();
        assert_eq!(seq, i as u64, "in order, from 0: {body}");
        assert_eq!(body["url"], format!("live/seg-{seq}.ts"));
        assert_eq!(body["m3u8_url"], "live/seg.m3u8");
        assert_eq!(
            (&body["file"], &body["m3u8"]),
            (&Value::from(""), &Value::from(""))
        );
        assert_eq!(body["param"], "?a=b");
        let duration = body["duration"].as_f64().unwrap();
        assert!((0.9..=1.2).contains(&duration), "{body}");
        if status == 200 && playlist.contains(&format!("seg-{seq}.ts")) {
            assert!(
                playlist.contains(&format!("#EXTINF:{duration:.3},")),
                "{playlist}"
            );
        }
    }
}

/// on_hls_notify: a GET per closed segment to the URL template filled in as SRS fills it; the
/// hook server's 4 KiB answer is read only up to hls_nb_notify bytes (nothing waits on it).
#[cfg(feature = "hls")]
#[test]
fn closed_hls_segments_report_on_hls_notify_as_a_get() {
    let _turn = serial();
    let hooks = Hooks::start(23307, 10);
    let template = format!(
        "http://127.0.0.1:{}/notify/[server_id]/[app]/[stream]/[ts_url][param]",
        hooks.port
    );
    let server = Server::start(&format!(
        "{}[vhost.__defaultVhost__.hls]\nenabled = true\nhls_fragment = 1\nhls_nb_notify = 16\n",
        hooks_config(&format!("on_hls_notify = \"{template}\"\n"))
    ));
    let dir = TempDir::new("hooks-hls-notify");
    let mut ffmpeg = ffmpeg_publish(&dir, &server.url("live/nt?k=v"), 5, 25, "300k");
    let end = Instant::now() + Duration::from_secs(15);
    let gets = loop {
        let gets: Vec<String> = hooks
            .requests()
            .into_iter()
            .filter(|(_, body)| body.is_null())
            .map(|(path, _)| path)
            .collect();
        if gets.len() >= 3 || Instant::now() >= end {
            break gets;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(ffmpeg.wait(Duration::from_secs(20)).success());
    assert!(gets.len() >= 3, "{gets:?}\n{}", server.log());
    let (_, summaries) = common::get_json(server.http_addr.unwrap(), "/api/v1/summaries");
    let server_id = summaries["server"].as_str().unwrap_or("").to_owned();
    assert!(!server_id.is_empty(), "{summaries}");
    for (seq, path) in gets.iter().take(3).enumerate() {
        assert_eq!(
            path,
            &format!("/notify/{server_id}/live/nt/live/nt-{seq}.ts?k=v"),
            "{gets:?}"
        );
    }
    // Only GETs: no JSON event was posted, and no failure was logged for the long answers.
    assert!(
        hooks.actions().iter().all(String::is_empty),
        "{:?}",
        hooks.actions()
    );
    assert!(
        !server.log().contains("failed (ignored)"),
        "{}",
        server.log()
    );
}
