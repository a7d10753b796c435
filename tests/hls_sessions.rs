//! HLS players as sessions (SRS's `hls_ctx`), against the real binary: ffmpeg plays the HLS URL
//! and is one `hls-play` client of the API with one `on_play` and, after `2 × hls_window`
//! without requests, one `on_stop`, both with SRS's fields; a kicked session's requests are
//! 403; a playlist the `on_play` hook refuses is 403 and opens nothing; a segment asked for
//! without the session is served and not counted.
//!
//! Hook server ports: 127.0.0.1:31100..31149 (one per test).

mod common;

use std::time::{Duration, Instant};

use common::hookserver::{assert_srs_fields, Hooks};
use common::{curl, ffmpeg_publish, ffmpeg_read, Server, TempDir};
use serde_json::Value;

/// `hls_window` 2 s: a session ends 4 s after its last request.
fn config(hooks: &Hooks) -> String {
    format!(
        "[vhost.__defaultVhost__.hls]\nenabled = true\nhls_fragment = 1\nhls_window = 2\n\
         hls_ctx = true\n\
         [vhost.__defaultVhost__.http_hooks]\nenabled = true\nhooks_timeout = 2\n\
         on_play = \"{}\"\non_stop = \"{}\"\n",
        hooks.url("by_stream"),
        hooks.url("allow")
    )
}

/// The API's `hls-play` clients.
fn hls_clients(server: &Server) -> Vec<Value> {
    let (_, clients) = common::get_json(server.http_addr.unwrap(), "/api/v1/clients");
    clients["clients"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c["type"] == "hls-play")
        .collect()
}

/// Waits until `stream` is published, then until its first segment can be fetched (without
/// a session: not counted). Before the publish, `{stream}-0.ts` would be an HTTP-TS play.
fn wait_segment(server: &Server, stream: &str) {
    let end = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, streams) = common::get_json(server.http_addr.unwrap(), "/api/v1/streams");
        let published = streams["streams"].as_array().is_some_and(|s| {
            s.iter()
                .any(|s| s["name"] == stream && s["publish"]["active"] == true)
        });
        if published {
            break;
        }
        assert!(Instant::now() < end, "not published: {}", server.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    loop {
        let (status, _, body) = curl(&[&server.http_url(&format!("live/{stream}-0.ts"))]);
        if status == 200 {
            assert!(body.len() > 188 && body[0] == 0x47, "a TS segment");
            return;
        }
        assert!(Instant::now() < end, "no segment: {}", server.log());
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn an_ffmpeg_player_is_one_session_with_one_on_play_and_one_on_stop() {
    let hooks = Hooks::start(31101, 10);
    let server = Server::start(&config(&hooks));
    let dir = TempDir::new("hls-sessions");
    let mut publisher = ffmpeg_publish(&dir, &server.url("live/cam"), 30, 25, "300k");
    wait_segment(&server, "cam");
    assert!(
        hls_clients(&server).is_empty(),
        "a bare segment opens no session"
    );

    let out = dir.path("played.ts");
    let url = server.http_url("live/cam.m3u8?token=abc");
    let (ok, stderr) = ffmpeg_read(&dir, &url, 3, &out, Duration::from_secs(30));
    assert!(ok, "ffmpeg played: {stderr}");
    assert!(std::fs::metadata(&out).unwrap().len() > 10_000);
    let clients = hls_clients(&server);
    assert_eq!(clients.len(), 1, "{clients:?}");
    let client = &clients[0];
    let id = client["id"].as_str().unwrap().to_owned();
    assert_eq!(client["ip"], "127.0.0.1");
    assert_eq!(client["name"], "cam");
    assert_eq!(client["url"], "/live/cam");
    assert!(
        client["send_bytes"].as_u64().unwrap() > 10_000,
        "the playlists and segments it fetched: {client}"
    );

    // One on_play when it came, one on_stop 4 s after its last request.
    let stops = hooks.wait("on_stop", 1, Duration::from_secs(15));
    assert_eq!(stops.len(), 1, "{:?}", hooks.actions());
    let plays = hooks.wait("on_play", 1, Duration::from_secs(1));
    assert_eq!(plays.len(), 1, "{:?}", hooks.actions());
    let port = server.http_addr.unwrap().port();
    for body in [&plays[0], &stops[0]] {
        assert_srs_fields(body);
        assert_eq!(body["client_id"], id.as_str(), "{body}");
        assert_eq!(body["ip"], "127.0.0.1");
        assert_eq!(body["vhost"], "__defaultVhost__");
        assert_eq!(
            (&body["app"], &body["stream"]),
            (&"live".into(), &"cam".into())
        );
        assert_eq!(body["param"], "?token=abc", "{body}");
        assert_eq!(body["tcUrl"], format!("http://127.0.0.1:{port}/live"));
        assert_eq!(body["stream_url"], "/live/cam");
    }
    assert!(hls_clients(&server).is_empty(), "gone from the API");

    // A session by hand: the master playlist names it, its media playlist passes it on.
    let (status, _, master) = curl(&[&server.http_url("live/cam.m3u8")]);
    assert_eq!(status, 200);
    let master = String::from_utf8(master).unwrap();
    let variant = master.lines().last().unwrap().to_owned();
    assert!(
        master.starts_with("#EXTM3U\n#EXT-X-STREAM-INF:"),
        "{master}"
    );
    let ctx = variant
        .strip_prefix("/live/cam.m3u8?hls_ctx=")
        .unwrap_or_else(|| panic!("{master}"))
        .to_owned();
    let (status, _, media) = curl(&[&server.http_url(&variant[1..])]);
    assert_eq!(status, 200);
    let media = String::from_utf8(media).unwrap();
    let segment = media
        .lines()
        .find(|l| l.ends_with(&format!(".ts?hls_ctx={ctx}")))
        .unwrap_or_else(|| panic!("{media}"))
        .to_owned();
    assert_eq!(hls_clients(&server).len(), 1);

    // Kicked: out of the API at the next sweep, its requests refused.
    let kick = server.http_url(&format!("api/v1/clients/{ctx}"));
    let (status, _, _) = curl(&["-X", "DELETE", &kick]);
    assert_eq!(status, 200);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(hls_clients(&server).is_empty());
    let (status, _, _) = curl(&[&server.http_url(&variant[1..])]);
    assert_eq!(status, 403);
    let (status, _, _) = curl(&[&server.http_url(&format!("live/{segment}"))]);
    assert_eq!(status, 403);

    // A stream the hook refuses: 403, no session, no on_stop.
    let mut denied = ffmpeg_publish(&dir, &server.url("live/denycam"), 10, 25, "300k");
    wait_segment(&server, "denycam");
    let (status, _, _) = curl(&[&server.http_url("live/denycam.m3u8")]);
    assert_eq!(status, 403);
    assert!(hls_clients(&server).is_empty());
    let refused = hooks.wait("on_play", 3, Duration::from_secs(1));
    assert_eq!(refused.last().unwrap()["stream"], "denycam");
    denied.wait(Duration::from_secs(20));
    // The kicked session's on_stop, the refused one has none.
    let stops = hooks.wait("on_stop", 2, Duration::from_secs(10));
    assert_eq!(stops.len(), 2, "{:?}", hooks.actions());
    assert_eq!(stops[1]["client_id"], ctx.as_str());
    assert!(publisher.wait(Duration::from_secs(40)).success());
}
