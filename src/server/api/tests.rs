//! The API against SRS's shapes (`tests/data/srs-api/*.json`) and values, on a hub fed with
//! real sequence headers (ffmpeg libx264/libx265/aac output).

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;

use bytes::Bytes;
use serde_json::Value;

use super::*;
use crate::config::{Config, TimeJitter};
use crate::live::{Hub, PlayerQueue, QueueLimits, SourceSettings, StreamKey};
use crate::media::{AudioCodec, Frame, VideoCodec};
use crate::server::stats::{ClientKind, ClientRecord, Registration};
use crate::testutil::XorShift;

/// FLV video tag body of ffmpeg's libx264 sequence header: 640x360, High, level 3.1
/// (`ffmpeg -f lavfi -i testsrc=size=640x360 -c:v libx264 -profile:v high -level 3.1 -f flv`).
const AVC_SEQUENCE_HEADER: &[u8] = &[
    0x17, 0x00, 0x00, 0x00, 0x00, // keyframe, AVC, sequence header, cts 0
    0x01, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0x00, 0x1a, 0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0xa0,
    0x2f, 0xf9, 0x70, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x32, 0x0f, 0x18,
    0x31, 0x96, 0x01, 0x00, 0x06, 0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0, 0xfd, 0xf8, 0xf8, 0x00,
];

/// FLV audio tag body of ffmpeg's AAC sequence header: LC, 44100 Hz, stereo.
const AAC_SEQUENCE_HEADER: &[u8] = &[0xaf, 0x00, 0x12, 0x10, 0x56, 0xe5, 0x00];

/// libx265's HEVCDecoderConfigurationRecord (VPS, SPS, PPS) for 320x240 4:2:0, Main,
/// level 2 (general_level_idc 60), as Enhanced RTMP carries it after a 5-byte `hvc1` header.
const HEVC_SEQUENCE_HEADER: &[u8] = &[
    0x90, b'h', b'v', b'c', b'1', // enhanced, keyframe, SequenceStart, FourCC
    0x01, 0x01, 0x60, 0x00, 0x00, 0x00, 0x90, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3c, 0xf0, 0x00, 0xfc,
    0xfd, 0xf8, 0xf8, 0x00, 0x00, 0x0f, 0x03, 0xa0, 0x00, 0x01, 0x00, 0x18, 0x40, 0x01, 0x0c, 0x01,
    0xff, 0xff, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00,
    0x3c, 0x95, 0x98, 0x09, 0xa1, 0x00, 0x01, 0x00, 0x2a, 0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00,
    0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x3c, 0xa0, 0x0a, 0x08, 0x0f, 0x16,
    0x59, 0x59, 0xa4, 0x93, 0x2b, 0xc0, 0x5a, 0x02, 0x00, 0x00, 0x03, 0x00, 0x02, 0x00, 0x00, 0x03,
    0x00, 0x32, 0x10, 0xa2, 0x00, 0x01, 0x00, 0x07, 0x44, 0x01, 0xc1, 0x72, 0xb4, 0x62, 0x40,
];

const EPOCH_MS: u64 = 1_732_200_000_000;
const NOW_MS: u64 = 60_000;

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/data/srs-api/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Same keys at every level, same JSON types (integer and float apart, as SRS's `integer`
/// and `number`); every element of an array against the fixture's first.
fn assert_same_shape(actual: &Value, fixture: &Value) {
    fn walk(actual: &Value, fixture: &Value, at: &str) {
        assert_eq!(kind(actual), kind(fixture), "type of {at}");
        match (actual, fixture) {
            (Value::Object(a), Value::Object(f)) => {
                let ak: Vec<&String> = a.keys().collect();
                let fk: Vec<&String> = f.keys().collect();
                assert_eq!(ak, fk, "keys of {at}");
                for (k, fv) in f {
                    walk(&a[k], fv, &format!("{at}.{k}"));
                }
            }
            (Value::Array(a), Value::Array(f)) => {
                if let Some(f0) = f.first() {
                    assert!(!a.is_empty(), "{at} is empty; the fixture has elements");
                    for (i, av) in a.iter().enumerate() {
                        walk(av, f0, &format!("{at}[{i}]"));
                    }
                }
            }
            _ => {}
        }
    }
    walk(actual, fixture, "$");
}

fn settings() -> ApiSettings {
    ApiSettings {
        epoch_ms: EPOCH_MS,
        server_id: "vid-test000".to_owned(),
        service_id: "svc00000".to_owned(),
        listens: Default::default(),
    }
}

fn source_settings() -> SourceSettings {
    SourceSettings {
        gop_cache: true,
        gop_max_frames: 100,
        gop_max_bytes: 1 << 20,
        time_jitter: TimeJitter::Off,
    }
}

fn limits() -> QueueLimits {
    QueueLimits {
        max_bytes: 1 << 20,
        max_duration_ms: 10_000,
    }
}

fn key(vhost: &str, stream: &str) -> StreamKey {
    StreamKey {
        vhost: vhost.into(),
        app: "live".into(),
        stream: stream.into(),
    }
}

/// A server with clients registered as the RTMP glue registers them.
struct Server {
    ctx: ServerCtx,
    regs: Vec<Registration>,
    queues: Vec<Rc<RefCell<PlayerQueue>>>,
    next_id: u32,
}

impl Server {
    fn new(config: &str) -> Server {
        let config = Config::from_toml_str(config, "test.toml").unwrap();
        let hub = Hub::new(config.max_streams);
        Server {
            ctx: ServerCtx::new(config, hub),
            regs: Vec::new(),
            queues: Vec::new(),
            next_id: 1,
        }
    }

    fn register(&mut self, kind: ClientKind, key: &StreamKey) -> Rc<ClientRecord> {
        let id = self.next_id;
        self.next_id += 1;
        let peer: SocketAddr = format!("192.168.1.{}:{}", id % 250 + 1, 50_000 + id)
            .parse()
            .unwrap();
        let cid = format!("c{id:07}");
        let reg = Registration::new(
            self.ctx.clients.clone(),
            ClientRecord::new(id, &cid, peer, 1_000),
        );
        let record = reg.record.clone();
        record.kind.set(kind);
        *record.stream.borrow_mut() = Some(key.clone());
        *record.tc_url.borrow_mut() = format!("rtmp://example.com/{}", key.app);
        self.regs.push(reg);
        record
    }

    /// A publisher on `key` that sent the sequence headers `video`/`audio` and a keyframe.
    fn publish(
        &mut self,
        key: &StreamKey,
        video: Option<(VideoCodec, &'static [u8])>,
        audio: bool,
    ) -> Rc<ClientRecord> {
        let record = self.register(ClientKind::RtmpPublish, key);
        let source = self
            .ctx
            .hub
            .borrow_mut()
            .publish(key, record.id, source_settings(), 0)
            .unwrap();
        let mut s = source.borrow_mut();
        if let Some((codec, header)) = video {
            s.on_frame(Frame::video(
                codec,
                0,
                0,
                true,
                true,
                Bytes::from_static(header),
                5,
            ));
            s.on_frame(Frame::video(
                codec,
                0,
                0,
                true,
                false,
                Bytes::from_static(&[0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65]),
                5,
            ));
        }
        if audio {
            s.on_frame(Frame::audio(
                AudioCodec::Aac,
                0,
                true,
                Bytes::from_static(AAC_SEQUENCE_HEADER),
                2,
            ));
        }
        record
    }

    fn play(&mut self, key: &StreamKey) -> Rc<ClientRecord> {
        let record = self.register(ClientKind::RtmpPlay, key);
        let q = self
            .ctx
            .hub
            .borrow_mut()
            .play(key, record.id, source_settings(), limits(), 0)
            .unwrap();
        self.queues.push(q);
        record
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        query: &str,
        authorization: Option<&str>,
    ) -> ApiResponse {
        let req = ApiRequest {
            method,
            path,
            query,
            authorization,
            body: b"",
        };
        handle(&self.ctx, &settings(), NOW_MS, &req)
    }

    /// GET `path`: a 200 JSON answer, parsed.
    fn get(&self, path: &str, query: &str) -> Value {
        let resp = self.request(Method::Get, path, query, None);
        assert_eq!(resp.status, 200, "{path}: {}", resp.body);
        assert_eq!(resp.content_type, CONTENT_TYPE_JSON);
        serde_json::from_str(&resp.body).unwrap_or_else(|e| panic!("{path}: {e}: {}", resp.body))
    }
}

/// The default vhost with one H.264 + AAC stream, its publisher and two players.
fn live_server() -> (Server, Rc<ClientRecord>, Vec<Rc<ClientRecord>>) {
    let mut server = Server::new("");
    let k = key("__defaultVhost__", "livestream");
    let publisher = server.publish(&k, Some((VideoCodec::Avc, AVC_SEQUENCE_HEADER)), true);
    let players = vec![server.play(&k), server.play(&k)];
    publisher.recv.sample(0);
    publisher.recv.add(750_000);
    publisher.send.add(3_997);
    publisher.recv.sample(30_000);
    for (i, p) in players.iter().enumerate() {
        p.send.sample(0);
        p.send.add(1_500_000 * (i as u64 + 1));
        p.recv.add(100);
        p.send.sample(30_000);
    }
    (server, publisher, players)
}

fn stream_id_of(server: &Server, name: &str) -> String {
    let streams = server.get("/api/v1/streams", "");
    streams["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no stream {name}"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn every_endpoint_has_srs_shape() {
    let (server, publisher, _) = live_server();
    let sid = stream_id_of(&server, "livestream");
    let vid = objects::vhost_id("__defaultVhost__");
    let cases = [
        ("/api/", "api"),
        ("/api/v1/versions", "versions"),
        ("/api/v1/summaries", "summaries"),
        ("/api/v1/rusages", "rusages"),
        ("/api/v1/meminfos", "meminfos"),
        ("/api/v1/authors", "authors"),
        ("/api/v1/features", "features"),
        ("/api/v1/vhosts", "vhosts"),
        ("/api/v1/vhosts/", "vhosts"),
        (&format!("/api/v1/vhosts/{vid}"), "vhost"),
        ("/api/v1/streams", "streams"),
        ("/api/v1/streams/", "streams"),
        (&format!("/api/v1/streams/{sid}"), "stream"),
        ("/api/v1/clients", "clients"),
        ("/api/v1/clients/", "clients"),
        (&format!("/api/v1/clients/{}", publisher.cid), "client"),
        ("/api/v1/streams/vid-nothere", "stream-not-found"),
        ("/api/v1/clients/nothere", "client-not-found"),
        ("/api/v1/vhosts/vid-nothere", "vhost-not-found"),
    ];
    for (path, name) in cases {
        let mut actual = server.get(path, "");
        if name == "summaries" {
            // Our one extra key; SRS's keys must still match field for field.
            let extra = actual["data"].as_object_mut().unwrap().remove("tinysrs");
            assert!(
                extra.is_some_and(|e| e.is_object()),
                "summaries data.tinysrs"
            );
        }
        // Ours, after SRS's keys: the stream's recorder and forwards (none here).
        let streams = match name {
            "stream" => vec![&mut actual["stream"]],
            "streams" => actual["streams"]
                .as_array_mut()
                .unwrap()
                .iter_mut()
                .collect(),
            _ => vec![],
        };
        for s in streams {
            let dvr = s.as_object_mut().unwrap().remove("dvr");
            assert_eq!(dvr, Some(Value::Null), "{path}: stream.dvr");
            // Ours: the stream's forward destinations (none here).
            #[cfg(feature = "forward")]
            {
                let forwards = s.as_object_mut().unwrap().remove("forwards");
                assert_eq!(
                    forwards,
                    Some(Value::Array(vec![])),
                    "{path}: stream.forwards"
                );
            }
            // Ours: the stream's pull from an origin (none here).
            #[cfg(feature = "edge")]
            {
                let edge = s.as_object_mut().unwrap().remove("edge");
                assert_eq!(edge, Some(Value::Null), "{path}: stream.edge");
            }
        }
        assert_same_shape(&actual, &fixture(name));
    }
    let resp = server.request(
        Method::Delete,
        &format!("/api/v1/clients/{}", publisher.cid),
        "",
        None,
    );
    assert_same_shape(
        &serde_json::from_str(&resp.body).unwrap(),
        &fixture("client-delete"),
    );
}

#[test]
fn envelope_ids_are_strings() {
    let (server, _, _) = live_server();
    let v = server.get("/api/v1/versions", "");
    assert_eq!(v["code"], 0);
    assert_eq!(v["server"], "vid-test000");
    assert_eq!(v["service"], "svc00000");
    assert_eq!(v["pid"], std::process::id().to_string());
    assert_eq!(v["data"]["version"], env!("CARGO_PKG_VERSION"));
    // The body starts as SRS's does: code, server, service, pid.
    let body = server
        .request(Method::Get, "/api/v1/versions", "", None)
        .body;
    assert!(
        body.starts_with("{\"code\":0,\"server\":\"vid-test000\",\"service\":"),
        "{body}"
    );
}

#[test]
fn stream_values() {
    let (server, publisher, players) = live_server();
    let v = server.get("/api/v1/streams", "");
    let streams = v["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 1);
    let s = &streams[0];
    assert_eq!(s["name"], "livestream");
    assert_eq!(s["app"], "live");
    assert_eq!(s["url"], "/live/livestream");
    assert_eq!(s["tcUrl"], "rtmp://example.com/live");
    assert_eq!(s["vhost"], objects::vhost_id("__defaultVhost__"));
    assert_eq!(s["live_ms"], EPOCH_MS + NOW_MS);
    assert_eq!(s["clients"], 3);
    assert_eq!(s["frames"], 2, "video frames, as SRS counts");
    assert_eq!(s["recv_bytes"], 750_000);
    assert_eq!(s["send_bytes"], 4_500_000);
    assert_eq!(s["kbps"]["recv_30s"], 200);
    assert_eq!(s["kbps"]["send_30s"], 400 + 800);
    assert_eq!(s["publish"]["active"], true);
    assert_eq!(s["publish"]["cid"], publisher.cid.as_str());
    let video = &s["video"];
    assert_eq!(video["codec"], "H264");
    assert_eq!(video["profile"], "High");
    assert_eq!(video["level"], "3.1");
    assert_eq!(video["width"], 640);
    assert_eq!(video["height"], 360);
    let audio = &s["audio"];
    assert_eq!(audio["codec"], "AAC");
    assert_eq!(audio["sample_rate"], 44_100);
    assert_eq!(audio["channel"], 2);
    assert_eq!(audio["profile"], "LC");
    // The one stream by id is the same object.
    let one = server.get(
        &format!("/api/v1/streams/{}", s["id"].as_str().unwrap()),
        "",
    );
    assert_eq!(&one["stream"], s);
    drop(players);
}

#[test]
fn hevc_stream_and_streams_without_headers() {
    let mut server = Server::new("");
    let hevc = key("__defaultVhost__", "hevc");
    server.publish(&hevc, Some((VideoCodec::Hevc, HEVC_SEQUENCE_HEADER)), false);
    let waiting = key("__defaultVhost__", "waiting");
    server.play(&waiting);
    let bare = key("__defaultVhost__", "bare");
    server.publish(&bare, None, false);

    let v = server.get(
        &format!("/api/v1/streams/{}", stream_id_of(&server, "hevc")),
        "",
    );
    let video = &v["stream"]["video"];
    assert_eq!(video["codec"], "HEVC");
    assert_eq!(video["profile"], "Main");
    assert_eq!(video["level"], "2");
    assert_eq!(video["width"], 320);
    assert_eq!(video["height"], 240);
    assert!(v["stream"]["audio"].is_null());

    // A player waiting for a publisher: a stream, not published, no codecs.
    let v = server.get(
        &format!("/api/v1/streams/{}", stream_id_of(&server, "waiting")),
        "",
    );
    let s = &v["stream"];
    assert_eq!(s["publish"], serde_json::json!({"active": false}));
    assert!(s["video"].is_null() && s["audio"].is_null());
    assert_eq!(s["clients"], 1);
    assert_eq!(s["recv_bytes"], 0);

    let v = server.get(
        &format!("/api/v1/streams/{}", stream_id_of(&server, "bare")),
        "",
    );
    assert!(v["stream"]["video"].is_null() && v["stream"]["audio"].is_null());
    assert_eq!(v["stream"]["publish"]["active"], true);
}

#[test]
fn client_and_vhost_values() {
    let (server, publisher, players) = live_server();
    let v = server.get(&format!("/api/v1/clients/{}", players[1].cid), "");
    let c = &v["client"];
    assert_eq!(c["id"], players[1].cid.as_str());
    assert_eq!(c["type"], "rtmp-play");
    assert_eq!(c["publish"], false);
    assert_eq!(c["ip"], "192.168.1.4");
    assert_eq!(c["url"], "/live/livestream");
    assert_eq!(c["name"], "livestream");
    assert_eq!(c["stream"], stream_id_of(&server, "livestream"));
    assert_eq!(c["alive"], 59.0);
    assert_eq!(c["send_bytes"], 3_000_000);
    assert_eq!(c["recv_bytes"], 100);
    assert_eq!(c["kbps"]["send_30s"], 800);
    let v = server.get(&format!("/api/v1/clients/{}", publisher.cid), "");
    assert_eq!(v["client"]["type"], "fmle-publish");
    assert_eq!(v["client"]["publish"], true);

    let v = server.get("/api/v1/vhosts", "");
    let vhosts = v["vhosts"].as_array().unwrap();
    assert_eq!(vhosts.len(), 1);
    let vh = &vhosts[0];
    assert_eq!(vh["name"], "__defaultVhost__");
    assert_eq!(vh["clients"], 3);
    assert_eq!(vh["streams"], 1);
    assert_eq!(vh["recv_bytes"], 750_000 + 200);
    assert_eq!(vh["send_bytes"], 4_500_000 + 3_997);
    assert_eq!(vh["hls"]["enabled"], true);
    assert!(vh["hls"]["fragment"].is_f64());
}

#[test]
fn named_vhosts_and_ids() {
    let mut server = Server::new(
        "[vhost.\"cam.example.com\"]\n[vhost.\"cam.example.com\".hls]\nenabled = false\n",
    );
    let k = key("cam.example.com", "cam1");
    server.publish(&k, None, false);
    let v = server.get("/api/v1/vhosts", "");
    let vhosts = v["vhosts"].as_array().unwrap();
    assert_eq!(vhosts.len(), 2);
    let cam = &vhosts[1];
    assert_eq!(cam["name"], "cam.example.com");
    assert_eq!(cam["streams"], 1);
    assert_eq!(cam["hls"], serde_json::json!({"enabled": false}));
    let s = &server.get("/api/v1/streams", "")["streams"][0];
    assert_eq!(s["url"], "cam.example.com/live/cam1");
    assert_eq!(s["vhost"], cam["id"]);
    // Stable across calls and restarts; distinct per name; SRS's format.
    let id = objects::vhost_id("cam.example.com");
    assert_eq!(id, objects::vhost_id("cam.example.com"));
    assert_ne!(id, objects::vhost_id("__defaultVhost__"));
    assert_eq!(id.len(), 11);
    assert!(id.starts_with("vid-"));
    assert_ne!(
        objects::stream_id(&key("__defaultVhost__", "a")),
        objects::stream_id(&key("__defaultVhost__", "b"))
    );
}

#[test]
fn paging_follows_srs() {
    let mut server = Server::new("");
    let k = key("__defaultVhost__", "many");
    server.publish(&k, None, false);
    for _ in 0..24 {
        server.play(&k);
    }
    for i in 0..14 {
        server.publish(&key("__defaultVhost__", &format!("s{i:02}")), None, false);
    }
    let count = |path: &str, query: &str, field: &str| {
        server.get(path, query)[field].as_array().unwrap().len()
    };
    for (path, field, total) in [
        ("/api/v1/clients", "clients", 39),
        ("/api/v1/streams", "streams", 15),
    ] {
        assert_eq!(count(path, "", field), 10, "SRS's default count");
        assert_eq!(
            count(path, "count=3", field),
            10,
            "SRS never pages under 10"
        );
        assert_eq!(count(path, "count=100", field), total);
        assert_eq!(count(path, "start=10&count=100", field), total - 10);
        assert_eq!(count(path, "start=-5", field), 10);
        assert_eq!(count(path, "start=x&count=y", field), 10);
        assert_eq!(count(path, &format!("start={total}"), field), 0);
        assert_eq!(count(path, "start=99999999999999999999", field), 0);
    }
    // Pages are consecutive and ordered by id.
    let ids = |query: &str| -> Vec<String> {
        server.get("/api/v1/clients", query)["clients"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = ids("count=1000");
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted);
    assert_eq!(ids("start=10&count=10"), all[10..20]);
}

#[test]
fn srs_atoi() {
    for (s, v) in [
        ("", 0),
        ("12", 12),
        ("  -7x", -7),
        ("+3", 3),
        ("x3", 0),
        ("99999999999", i64::from(i32::MAX)),
        ("-99999999999", i64::from(i32::MIN)),
    ] {
        assert_eq!(atoi(s), v, "{s:?}");
    }
}

#[test]
fn unknown_ids_answer_srs_codes_with_200() {
    let (server, _, _) = live_server();
    for (method, path, code) in [
        (Method::Get, "/api/v1/streams/vid-0000000", 2048),
        (Method::Post, "/api/v1/streams/vid-0000000", 2048),
        (Method::Get, "/api/v1/clients/zzzzzzzz", 2049),
        (Method::Delete, "/api/v1/clients/zzzzzzzz", 2049),
        (Method::Delete, "/api/v1/clients/", 2049),
        (Method::Delete, "/api/v1/clients", 2049),
        (Method::Get, "/api/v1/vhosts/vid-0000000", 2014),
        (Method::Get, "/api/v1/streams/a/b", 2048),
    ] {
        let resp = server.request(method, path, "", None);
        assert_eq!(resp.status, 200, "{path}");
        assert_eq!(
            resp.body,
            format!("{{\"code\":{code}}}"),
            "{method:?} {path}"
        );
    }
}

#[test]
fn methods_srs_refuses_are_405() {
    let (server, publisher, _) = live_server();
    let sid = stream_id_of(&server, "livestream");
    for (method, path) in [
        (Method::Post, "/api/v1/streams".to_owned()),
        (Method::Put, format!("/api/v1/streams/{sid}")),
        (Method::Delete, format!("/api/v1/streams/{sid}")),
        (Method::Post, "/api/v1/vhosts/".to_owned()),
        (Method::Put, format!("/api/v1/clients/{}", publisher.cid)),
        (Method::Head, "/api/v1/clients".to_owned()),
    ] {
        let resp = server.request(method, &path, "", None);
        assert_eq!(resp.status, 405, "{method:?} {path}");
        assert_eq!(resp.content_type, CONTENT_TYPE_TEXT);
        assert_eq!(resp.body, "Method Not Allowed");
    }
    assert!(!publisher.is_kicked());
    // Endpoints without a method check answer any method, as in SRS.
    let resp = server.request(Method::Post, "/api/v1/versions", "", None);
    assert_eq!(resp.status, 200);
}

#[test]
fn delete_kicks_the_client() {
    let (server, publisher, players) = live_server();
    let resp = server.request(
        Method::Delete,
        &format!("/api/v1/clients/{}", players[0].cid),
        "",
        None,
    );
    assert_eq!(resp.status, 200);
    let v: Value = serde_json::from_str(&resp.body).unwrap();
    assert_eq!(v["code"], 0);
    assert!(players[0].is_kicked());
    assert!(!players[1].is_kicked() && !publisher.is_kicked());
}

#[test]
fn paths_outside_the_tree() {
    let (server, _, _) = live_server();
    let resp = server.request(Method::Get, "/crossdomain.xml", "", None);
    assert_eq!((resp.status, resp.body.as_str()), (404, "Not Found"));
    assert_eq!(resp.content_type, CONTENT_TYPE_TEXT);
    // SRS's `/api/v1/` entry catches every unknown path below it.
    for path in ["/api/v1", "/api/v1/", "/api/v1/nothing", "/api/v1/streamsX"] {
        let v = server.get(path, "");
        assert_eq!(v["code"], 0);
        assert!(v["urls"]["streams"].is_string(), "{path}");
    }
    let v = server.get("/api/other", "");
    assert_eq!(v["urls"]["v1"], "the api version 1.0");
    let resp = server.request(Method::Get, "/api/v1/../secret", "", None);
    assert_eq!((resp.status, resp.body.as_str()), (400, "{\"code\":4002}"));
}

#[test]
fn jsonp_wraps_and_can_carry_the_method() {
    let (server, _, players) = live_server();
    let resp = server.request(Method::Get, "/api/v1/versions", "callback=cb_1.x-y", None);
    assert_eq!(resp.content_type, CONTENT_TYPE_JSONP);
    assert!(resp.body.starts_with("cb_1.x-y({\"code\":0,"));
    assert!(resp.body.ends_with("})"));
    let resp = server.request(
        Method::Get,
        &format!("/api/v1/clients/{}", players[0].cid),
        "callback=f&method=DELETE",
        None,
    );
    assert!(resp.body.starts_with("f({\"code\":0"));
    assert!(players[0].is_kicked());
    let resp = server.request(Method::Get, "/api/v1/streams/x", "callback=f", None);
    assert_eq!(resp.body, "f({\"code\":2048})");
    let resp = server.request(Method::Get, "/api/v1/versions", "callback=alert(1)", None);
    assert_eq!((resp.status, resp.body.as_str()), (400, "{\"code\":4058}"));
}

#[test]
fn basic_auth_when_configured() {
    let server = Server::new(
        "[http_api.auth]\nenabled = true\nusername = \"admin\"\npassword = \"se:cret\"\n",
    );
    let path = "/api/v1/versions";
    let unauthorized = |auth: Option<&str>| {
        let resp = server.request(Method::Get, path, "", auth);
        assert_eq!(resp.status, 401, "{auth:?}");
        assert!(resp.body.is_empty());
        assert_eq!(
            resp.extra_headers,
            vec![("WWW-Authenticate", "Basic realm=\"tinysrs\"".to_owned())]
        );
    };
    unauthorized(None);
    unauthorized(Some(""));
    unauthorized(Some("Basic"));
    unauthorized(Some("Basic !!!!"));
    unauthorized(Some("Bearer YWRtaW46c2U6Y3JldA=="));
    unauthorized(Some("Basic YWRtaW46c2VjcmV0")); // admin:secret
    unauthorized(Some("Basic YWRtaW4=")); // admin
    unauthorized(Some("Basic YWRtaW46c2U6Y3JldDo=")); // admin:se:cret:
                                                      // admin:se:cret, any case of the scheme, extra blanks.
    for good in [
        "Basic YWRtaW46c2U6Y3JldA==",
        "basic YWRtaW46c2U6Y3JldA==",
        "  BASIC   YWRtaW46c2U6Y3JldA== ",
    ] {
        let resp = server.request(Method::Get, path, "", Some(good));
        assert_eq!(resp.status, 200, "{good}");
    }
    // Preflights carry no credentials.
    assert_eq!(server.request(Method::Options, path, "", None).status, 200);
    // Without credentials configured, anything goes.
    let open = Server::new("");
    assert_eq!(open.request(Method::Get, path, "", None).status, 200);
    assert_eq!(
        open.request(Method::Get, path, "", Some("Basic junk"))
            .status,
        200
    );
}

#[test]
fn read_only_open_lets_reads_through_and_nothing_that_changes() {
    let server = Server::new(
        "[http_api.auth]\nusername = \"admin\"\npassword = \"pw\"\nread_only_open = true\n",
    );
    let good = Some("Basic YWRtaW46cHc="); // admin:pw
    assert_eq!(
        server
            .request(Method::Get, "/api/v1/streams", "", None)
            .status,
        200
    );
    assert_ne!(
        server
            .request(Method::Head, "/api/v1/streams", "", None)
            .status,
        401
    );
    let kick = "/api/v1/clients/12345";
    assert_eq!(server.request(Method::Delete, kick, "", None).status, 401);
    assert_eq!(
        server
            .request(Method::Post, "/api/v1/dvrs", "", None)
            .status,
        401
    );
    // SRS's JSONP DELETE is a GET on the wire and a DELETE here.
    let jsonp = "callback=cb&method=DELETE";
    assert_eq!(server.request(Method::Get, kick, jsonp, None).status, 401);
    assert_ne!(server.request(Method::Delete, kick, "", good).status, 401);
    assert_ne!(server.request(Method::Get, kick, jsonp, good).status, 401);
}

#[test]
fn a_password_file_not_yet_read_lets_nobody_in() {
    // `Config::from_toml_str` does not read files; `Config::load` does (config tests).
    let server =
        Server::new("[http_api.auth]\nusername = \"admin\"\npassword_file = \"/nonexistent\"\n");
    for auth in [None, Some("Basic YWRtaW46"), Some("Basic YWRtaW46YWRtaW4=")] {
        let resp = server.request(Method::Get, "/api/v1/versions", "", auth);
        assert_eq!(resp.status, 401, "{auth:?}");
    }
}

#[test]
fn system_endpoints_fill_from_proc() {
    let (server, _, _) = live_server();
    let v = server.get("/api/v1/summaries", "");
    let d = &v["data"];
    assert_eq!(d["now_ms"], EPOCH_MS + NOW_MS);
    assert_eq!(d["self"]["pid"], std::process::id());
    assert_eq!(d["self"]["srs_uptime"], NOW_MS / 1000);
    assert_eq!(d["system"]["conn_srs"], 3);
    assert_eq!(d["system"]["srs_recv_bytes"], 750_000 + 200);
    // The live counts: no connection tasks here; one Source with the two players and the
    // three clients `live_server` made.
    let live = &d["tinysrs"];
    assert_eq!(live["connections"], 0);
    assert_eq!(live["tasks"], 0);
    assert_eq!(live["sources"], 1);
    assert_eq!(live["players"], 2);
    assert_eq!(live["clients"], 3);
    // Installed by main (tests/http.rs checks it on the binary); a unit test may run without.
    assert!(
        live["budget_bytes"].is_u64() || live["budget_bytes"].is_null(),
        "{live}"
    );
    if std::path::Path::new("/proc/meminfo").exists() {
        assert!(d["system"]["mem_ram_kbyte"].as_u64().unwrap() > 0);
        assert!(d["system"]["cpus_online"].as_u64().unwrap() > 0);
        assert!(d["self"]["mem_kbyte"].as_u64().unwrap() > 0);
        let m = server.get("/api/v1/meminfos", "");
        assert_eq!(m["data"]["ok"], true);
        assert!(m["data"]["MemTotal"].as_u64().unwrap() > 0);
    }
    let r = server.get("/api/v1/rusages", "");
    assert_eq!(r["data"]["ok"], true);
    assert!(r["data"]["ru_maxrss"].as_i64().unwrap() > 0);
}

/// Issue 17 item 4: `self.cpu_percent` is the share of the last sampled second, with
/// decimals below a whole percent (SRS's console shows it times 100 with 2 decimals).
#[test]
fn summaries_cpu_percent_is_the_share_of_the_last_second() {
    let (server, _, _) = live_server();
    let cpu_percent = |server: &Server| {
        let v = server.get("/api/v1/summaries", "");
        v["data"]["self"]["cpu_percent"].as_f64().unwrap()
    };
    assert_eq!(cpu_percent(&server), 0.0, "no interval sampled yet");
    // A busy second (600 ms of CPU), then a quiet one (1.234 ms).
    server.ctx.cpu.sample(1_000, 2_000_000);
    server.ctx.cpu.sample(2_000, 2_600_000);
    assert_eq!(cpu_percent(&server), 0.6);
    server.ctx.cpu.sample(3_000, 2_601_234);
    assert_eq!(cpu_percent(&server), 0.0012);
    // The sweep samples the real process (the test's): a share, never negative.
    sweep(&server.ctx, 4_000);
    assert!(cpu_percent(&server) >= 0.0);
}

#[test]
fn no_input_panics() {
    let (server, publisher, _) = live_server();
    let sid = stream_id_of(&server, "livestream");
    let pieces: Vec<String> = vec![
        "/".into(),
        "api".into(),
        "v1".into(),
        "streams".into(),
        "clients".into(),
        "vhosts".into(),
        "summaries".into(),
        sid,
        publisher.cid.clone(),
        "..".into(),
        "%".into(),
        "\u{e9}\u{1F600}".into(),
        "".into(),
        "?".into(),
        "&".into(),
        "=".into(),
        "start".into(),
        "count".into(),
        "callback".into(),
        "method".into(),
        "DELETE".into(),
        "-".into(),
        "99999999999999999999".into(),
        "\0".into(),
    ];
    let methods = [
        Method::Get,
        Method::Head,
        Method::Post,
        Method::Put,
        Method::Delete,
        Method::Options,
        Method::Other,
    ];
    let mut rng = XorShift(0xa91_5eed);
    for i in 0..20_000 {
        let mut build = |n: usize| -> String {
            (0..rng.below(n))
                .map(|_| pieces[rng.below(pieces.len())].as_str())
                .collect()
        };
        let mut path = build(8);
        if i % 2 == 0 {
            path.insert_str(0, "/api/v1/");
        }
        let query = build(8);
        let method = methods[i % methods.len()];
        let resp = server.request(method, &path, &query, None);
        if resp.content_type == CONTENT_TYPE_JSON && !resp.body.is_empty() {
            let parsed: Result<Value, _> = serde_json::from_str(&resp.body);
            assert!(
                parsed.is_ok(),
                "{method:?} {path:?} {query:?}: {}",
                resp.body
            );
        }
    }
}

#[test]
fn shape_check_tells_keys_and_number_kinds_apart() {
    let f: Value = serde_json::from_str(r#"{"a":1,"b":[{"c":0.5}],"d":null}"#).unwrap();
    assert_same_shape(
        &serde_json::from_str(r#"{"d":null,"a":7,"b":[{"c":1.0},{"c":2.25}]}"#).unwrap(),
        &f,
    );
    for bad in [
        r#"{"a":1.0,"b":[{"c":0.5}],"d":null}"#,
        r#"{"a":1,"b":[{"c":1}],"d":null}"#,
        r#"{"a":1,"b":[{"c":0.5,"e":1}],"d":null}"#,
        r#"{"a":1,"b":[],"d":null}"#,
        r#"{"a":1,"b":[{"c":0.5}]}"#,
        r#"{"a":"1","b":[{"c":0.5}],"d":null}"#,
        r#"{"a":1,"b":[{"c":0.5}],"d":{}}"#,
    ] {
        let actual: Value = serde_json::from_str(bad).unwrap();
        let caught = std::panic::catch_unwind(|| assert_same_shape(&actual, &f));
        assert!(caught.is_err(), "{bad} passed");
    }
}

/// `/api/v1/dvrs`: POST starts and stops one stream (JSON body or query), GET lists the
/// recorders, and `/api/v1/streams` shows the recorder; refusals carry SRS's DVR codes.
#[cfg(feature = "dvr")]
#[test]
fn dvrs_start_stop_and_list() {
    let mut server = Server::new(
        "[vhost.__defaultVhost__.dvr]\nenabled = true\ndvr_apply = [\"live/other\"]\n\
         dvr_path = \"/nonexistent/dvr/[app]/[stream].flv\"\n\
         [vhost.\"off.example\"]\nenabled = true\n",
    );
    crate::server::on_config(&server.ctx);
    let k = key("__defaultVhost__", "livestream");
    server.publish(&k, Some((VideoCodec::Avc, AVC_SEQUENCE_HEADER)), true);
    let post = |query: &str, body: &[u8]| {
        let req = ApiRequest {
            method: Method::Post,
            path: "/api/v1/dvrs",
            query,
            authorization: None,
            body,
        };
        let resp = handle(&server.ctx, &settings(), NOW_MS, &req);
        assert_eq!(resp.status, 200, "{}", resp.body);
        serde_json::from_str::<Value>(&resp.body).unwrap()
    };
    // Not in dvr_apply: no recorder yet.
    let sid = stream_id_of(&server, "livestream");
    let one = server.get(&format!("/api/v1/streams/{sid}"), "");
    assert_eq!(one["stream"]["dvr"], Value::Null);
    let started = post(
        "",
        br#"{"action":"start","vhost":"__defaultVhost__","app":"live","stream":"livestream"}"#,
    );
    assert_eq!(started["code"], 0, "{started}");
    // The cached GOP started a file at once (its ops wait: this server has no disk).
    assert_eq!(started["dvr"]["state"], "writing", "{started}");
    assert_eq!(
        started["dvr"]["path"],
        "/nonexistent/dvr/live/livestream.flv"
    );
    let one = server.get(&format!("/api/v1/streams/{sid}"), "");
    assert_eq!(one["stream"]["dvr"]["state"], "writing", "{one}");
    let list = server.get("/api/v1/dvrs", "");
    assert_eq!(list["recorders"][0]["stream"], "/live/livestream", "{list}");
    assert_eq!(list["dvrs"][0]["state"], "writing", "{list}");
    assert_eq!(list["dvrs"][0]["name"], "livestream", "{list}");
    assert_eq!(list["roots"][0]["root"], "/nonexistent/dvr", "{list}");
    assert_eq!(list["roots"][0]["bytes"], Value::Null, "no quota pass yet");
    let stopped = post("action=stop&app=live&stream=livestream", b"");
    assert_eq!(stopped["dvr"]["state"], "idle", "{stopped}");
    let one = server.get(&format!("/api/v1/streams/{sid}"), "");
    assert_eq!(one["stream"]["dvr"]["state"], "idle", "{one}");
    for (query, body, code) in [
        ("", &b"{not json"[..], code::HTTP_JSON_REQUIRED),
        (
            "",
            br#"{"action":"pause","app":"live","stream":"x"}"#,
            code::HTTP_DVR_REQUEST,
        ),
        (
            "",
            br#"{"action":"start","app":"live"}"#,
            code::HTTP_DVR_REQUEST,
        ),
        (
            "action=start&app=live&stream=x&vhost=nope.example",
            b"",
            2014,
        ),
        (
            "action=start&app=live&stream=x&vhost=off.example",
            b"",
            code::HTTP_DVR_DISABLED,
        ),
    ] {
        assert_eq!(post(query, body)["code"], code, "{query} {body:?}");
    }
    let put = server.request(Method::Put, "/api/v1/dvrs", "", None);
    assert_eq!(put.status, 405);
}
