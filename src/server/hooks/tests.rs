use super::*;

/// SRS's own sample bodies (full.conf, `vhost hooks.callback.srs.com`), as fixtures: the
/// fields each event carries. SRS 5's source adds `server_id`, `service_id`, `tcUrl` and
/// `stream_url`/`stream_id` beyond those samples; the key lists below are the source's
/// (`srs_app_http_hooks.cpp`).
const SRS_KEYS: &[(Action, &[&str])] = &[
    (
        Action::Connect,
        &[
            "server_id",
            "service_id",
            "action",
            "client_id",
            "ip",
            "vhost",
            "app",
            "stream",
            "param",
            "tcUrl",
            "pageUrl",
        ],
    ),
    (
        Action::Close,
        &[
            "server_id",
            "service_id",
            "action",
            "client_id",
            "ip",
            "vhost",
            "app",
            "send_bytes",
            "recv_bytes",
        ],
    ),
    (
        Action::Publish,
        &[
            "server_id",
            "service_id",
            "action",
            "client_id",
            "ip",
            "vhost",
            "app",
            "tcUrl",
            "stream",
            "param",
            "stream_url",
            "stream_id",
        ],
    ),
    (
        Action::Unpublish,
        &[
            "server_id",
            "service_id",
            "action",
            "client_id",
            "ip",
            "vhost",
            "app",
            "tcUrl",
            "stream",
            "param",
            "stream_url",
            "stream_id",
        ],
    ),
    (
        Action::Play,
        &[
            "server_id",
            "service_id",
            "action",
            "client_id",
            "ip",
            "vhost",
            "app",
            "stream",
            "tcUrl",
            "param",
            "pageUrl",
            "stream_url",
            "stream_id",
        ],
    ),
    (
        Action::Stop,
        &[
            "server_id",
            "service_id",
            "action",
            "client_id",
            "ip",
            "vhost",
            "app",
            "tcUrl",
            "stream",
            "param",
            "stream_url",
            "stream_id",
        ],
    ),
    (
        Action::Dvr,
        &[
            "server_id",
            "service_id",
            "action",
            "client_id",
            "ip",
            "vhost",
            "app",
            "tcUrl",
            "stream",
            "param",
            "cwd",
            "file",
            "stream_url",
            "stream_id",
        ],
    ),
    (
        Action::Hls,
        &[
            "server_id",
            "service_id",
            "action",
            "client_id",
            "ip",
            "vhost",
            "app",
            "tcUrl",
            "stream",
            "param",
            "duration",
            "cwd",
            "file",
            "url",
            "m3u8",
            "m3u8_url",
            "seq_no",
            "stream_url",
            "stream_id",
        ],
    ),
];

/// full.conf's on_publish sample, values as SRS writes them.
const SRS_ON_PUBLISH: &str = r#"{
    "action": "on_publish",
    "client_id": "9308h583",
    "ip": "192.168.1.10", "vhost": "video.test.com", "app": "live",
    "stream": "livestream", "param":"?token=xxx&salt=yyy", "server_id": "vid-werty",
    "stream_url": "video.test.com/live/livestream", "stream_id": "vid-124q9y3"
}"#;

fn sample_client() -> Client {
    Client {
        cid: "9308h583".into(),
        ip: "192.168.1.10".into(),
        vhost: "video.test.com".into(),
        app: "live".into(),
        stream: "livestream".into(),
        tc_url: "rtmp://video.test.com/live".into(),
        query: "token=xxx&salt=yyy".into(),
        page_url: "http://www.test.com/live.html".into(),
    }
}

fn identity() -> Identity {
    Identity {
        server_id: "vid-werty".into(),
        service_id: "abcdefgh".into(),
        cwd: "/usr/local/srs".into(),
    }
}

fn extra() -> Extra {
    Extra {
        send_bytes: Some(10),
        recv_bytes: Some(20),
        file: Some("./objs/nginx/html/live/livestream.1420254068776.flv".into()),
        duration_s: Some(9.36),
        url: Some("live/livestream/1.ts".into()),
        m3u8: Some("./objs/nginx/html/live/livestream/live.m3u8".into()),
        m3u8_url: Some("live/livestream/live.m3u8".into()),
        seq_no: Some(100),
    }
}

#[test]
fn every_event_has_exactly_the_srs_fields() {
    for (action, keys) in SRS_KEYS {
        let body = payload(&identity(), *action, &sample_client(), &extra());
        let value: serde_json::Value = serde_json::from_str(&body).unwrap();
        let mut got_sorted: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut want_sorted = keys.to_vec();
        got_sorted.sort();
        want_sorted.sort();
        assert_eq!(got_sorted, want_sorted, "{action:?}: {body}");
        assert_eq!(value["action"], action.name());
    }
}

#[test]
fn values_match_the_srs_sample() {
    let srs: serde_json::Value = serde_json::from_str(SRS_ON_PUBLISH).unwrap();
    let ours: serde_json::Value = serde_json::from_str(&payload(
        &identity(),
        Action::Publish,
        &sample_client(),
        &extra(),
    ))
    .unwrap();
    for (key, value) in srs.as_object().unwrap() {
        if key == "stream_id" {
            // Ours is a hash of the stream url, SRS's a random id: same shape.
            assert!(ours[key].as_str().unwrap().starts_with("vid-"));
            continue;
        }
        assert_eq!(&ours[key], value, "{key}");
    }
    // The default vhost's stream url has no vhost, and an empty query is an empty param.
    let mut c = sample_client();
    c.vhost = crate::config::DEFAULT_VHOST.into();
    c.query.clear();
    let ours: serde_json::Value =
        serde_json::from_str(&payload(&identity(), Action::Play, &c, &extra())).unwrap();
    assert_eq!(ours["stream_url"], "/live/livestream");
    assert_eq!(ours["param"], "");
    let close: serde_json::Value =
        serde_json::from_str(&payload(&identity(), Action::Close, &c, &extra())).unwrap();
    assert_eq!(
        (close["send_bytes"].as_u64(), close["recv_bytes"].as_u64()),
        (Some(10), Some(20))
    );
    let hls: serde_json::Value =
        serde_json::from_str(&payload(&identity(), Action::Hls, &c, &extra())).unwrap();
    assert_eq!(hls["duration"].as_f64(), Some(9.36));
    assert_eq!(hls["seq_no"].as_u64(), Some(100));
}

#[test]
fn srs_allow_rule() {
    for (status, body) in [
        (200, &b"0"[..]),
        (201, b"0"),
        (200, b"0\n"),
        (200, b"{\"code\": 0}"),
        (200, b"{\"code\":0,\"data\":\"ok\"}"),
    ] {
        assert_eq!(
            allows(status, body),
            Ok(()),
            "{status} {}",
            body.escape_ascii()
        );
    }
    for (status, body) in [
        (204, &b"0"[..]),
        (500, b"0"),
        (403, b"{\"code\":0}"),
        (200, b""),
        (200, b"1"),
        (200, b"00"),
        (200, b"ok"),
        (200, b"{\"code\": 1}"),
        (200, b"{\"code\": \"0\"}"),
        (200, b"{\"code\": 0.0}"),
        (200, b"{}"),
        (200, b"[0]"),
        (200, b"\"0\""),
    ] {
        assert!(
            allows(status, body).is_err(),
            "{status} {}",
            body.escape_ascii()
        );
    }
}

#[test]
fn calls_only_for_enabled_vhosts_with_urls() {
    let hooks = Hooks::default();
    let mut vhost = crate::config::Config::embedded().default_vhost().clone();
    let c = sample_client();
    assert!(hooks
        .call(&vhost, Action::Publish, &c, &Extra::default())
        .is_none());
    vhost.http_hooks.on_publish =
        crate::config::HookUrls(vec!["http://127.0.0.1:1/a".into(), "http://h/b".into()]);
    assert!(hooks
        .call(&vhost, Action::Publish, &c, &Extra::default())
        .is_none());
    vhost.http_hooks.enabled = true;
    let call = hooks
        .call(&vhost, Action::Publish, &c, &Extra::default())
        .unwrap();
    assert_eq!(call.urls.len(), 2);
    assert_eq!(call.timeout_ms, 3000);
    assert!(hooks
        .call(&vhost, Action::Play, &c, &Extra::default())
        .is_none());
}

#[test]
fn recent_publishes_are_bounded_and_newest_first() {
    let hooks = Hooks::default();
    for i in 0..RECENT_PUBLISHES + 10 {
        let mut c = sample_client();
        c.stream = format!("s{i}");
        hooks.published(&c);
    }
    assert_eq!(hooks.0.recent.borrow().len(), RECENT_PUBLISHES);
    let key = |s: &str| StreamKey {
        vhost: "video.test.com".into(),
        app: "live".into(),
        stream: s.into(),
    };
    assert_eq!(hooks.publisher(&key("s0")).cid, "", "forgotten");
    assert_eq!(hooks.publisher(&key("s70")).cid, "9308h583");
    let mut again = sample_client();
    again.stream = "s70".into();
    again.cid = "newer".into();
    hooks.published(&again);
    assert_eq!(hooks.publisher(&key("s70")).cid, "newer");
}

/// Names and URLs from clients are escaped: the body is JSON whatever they hold.
#[test]
fn strings_are_escaped() {
    let mut c = sample_client();
    c.page_url = "http://x/\"a\"\\b\n\u{1}\u{7f}é".into();
    c.query = "t=\"".into();
    let body = payload(&identity(), Action::Play, &c, &extra());
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["pageUrl"], c.page_url.as_str());
    assert_eq!(v["param"], "?t=\"");
}

#[test]
fn on_hls_notify_templates_are_filled_in_as_srs_fills_them() {
    let id = Identity {
        server_id: "vid-1".into(),
        ..Identity::default()
    };
    let mut c = Client::new("c9", "10.0.0.2".parse().unwrap());
    c.app = "live".into();
    c.stream = "cam".into();
    let t = "http://cdn:8085/[server_id]/[app]/[stream]/[ts_url][param]";
    assert_eq!(
        notify_url(t, &id, &c, "live/cam-7.ts"),
        "http://cdn:8085/vid-1/live/cam/live/cam-7.ts"
    );
    c.query = "token=a".into();
    assert_eq!(
        notify_url("http://h/[ts_url]?x=[app][app]", &id, &c, "s.ts"),
        "http://h/s.ts?x=livelive"
    );
    assert_eq!(
        notify_url(t, &id, &c, "t.ts"),
        "http://cdn:8085/vid-1/live/cam/t.ts?token=a"
    );
}

#[test]
fn every_action_has_its_place_in_the_counts() {
    for (i, a) in ACTIONS.iter().enumerate() {
        assert_eq!(a.index(), i, "{a:?}");
    }
    let names: std::collections::BTreeSet<_> = ACTIONS.iter().map(|a| a.name()).collect();
    assert_eq!(names.len(), ACTIONS.len());
}
