//! The vhost, stream and client objects of SRS's API (SRS: `SrsStatisticVhost::dumps`,
//! `SrsStatisticStream::dumps`, `SrsStatisticClient::dumps` in srs_app_statistic.cpp), built
//! from the hub, the client registry and the config.

use std::cell::RefCell;
use std::rc::Rc;

use serde::Serialize;

use super::media;
use crate::config::{Vhost, DEFAULT_VHOST};
use crate::live::{Source, StreamKey};
use crate::server::stats::ClientRecord;
use crate::server::ServerCtx;

/// FNV-1a, 64 bits: a fixed hash, so that ids stay the same across restarts.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// `digits` base-36 digits of `v`, least significant first.
pub fn base36(mut v: u64, digits: usize) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    (0..digits)
        .map(|_| {
            let d = DIGITS[(v % 36) as usize];
            v /= 36;
            char::from(d)
        })
        .collect()
}

/// A vhost's id: `vid-` and 7 base-36 digits of its canonical name's hash.
pub fn vhost_id(name: &str) -> String {
    format!("vid-{}", base36(fnv1a(name.as_bytes()), 7))
}

/// A stream's id: `vid-` (SRS uses the same generator for streams) and 7 base-36 digits of
/// the hash of its SRS url.
pub fn stream_id(key: &StreamKey) -> String {
    // A leading byte keeps stream ids apart from vhost ids of the same text.
    let mut text = Vec::with_capacity(1 + key.app.len() + key.stream.len() + key.vhost.len() + 2);
    text.push(b'S');
    text.extend_from_slice(stream_url(key).as_bytes());
    format!("vid-{}", base36(fnv1a(&text), 7))
}

/// SRS's stream url (`srs_generate_stream_url`): `/app/stream` on the default vhost,
/// `vhost/app/stream` on a named one.
pub fn stream_url(key: &StreamKey) -> String {
    if key.vhost == DEFAULT_VHOST {
        format!("/{}/{}", key.app, key.stream)
    } else {
        format!("{}/{}/{}", key.vhost, key.app, key.stream)
    }
}

/// SRS prints JSON numbers with `%.2f`.
pub fn round2(v: f64) -> f64 {
    if v.is_finite() {
        (v * 100.0).round() / 100.0
    } else {
        0.0
    }
}

/// A client that publishes or plays a stream (SRS lists no other).
pub struct StreamClient {
    pub record: Rc<ClientRecord>,
    pub key: StreamKey,
}

/// The registry's clients that have a stream, in SRS's order (by id).
pub fn stream_clients(ctx: &ServerCtx) -> Vec<StreamClient> {
    let mut clients: Vec<StreamClient> = ctx
        .clients
        .snapshot()
        .into_iter()
        .filter_map(|record| {
            let key = record.stream.borrow().clone()?;
            Some(StreamClient { record, key })
        })
        .collect();
    clients.sort_by(|a, b| a.record.cid.cmp(&b.record.cid));
    clients
}

/// A stream with a publisher or a player.
pub struct LiveStream {
    pub id: String,
    pub source: Rc<RefCell<Source>>,
}

/// The hub's streams in use, in SRS's order (by id). Sources kept only for their grace
/// period are left out, as SRS drops a stream with its last client.
pub fn live_streams(ctx: &ServerCtx) -> Vec<LiveStream> {
    let hub = ctx.hub.borrow();
    let mut streams: Vec<LiveStream> = hub
        .sources()
        .filter(|s| s.borrow().idle_since().is_none())
        .map(|s| LiveStream {
            id: stream_id(&s.borrow().key),
            source: s.clone(),
        })
        .collect();
    streams.sort_by(|a, b| a.id.cmp(&b.id));
    streams
}

#[derive(Serialize, Default)]
pub struct Kbps {
    pub recv_30s: u64,
    pub send_30s: u64,
}

#[derive(Serialize)]
pub struct Hls {
    pub enabled: bool,
    /// Seconds, present only when HLS is enabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fragment: Option<f64>,
}

#[derive(Serialize)]
pub struct VhostObject {
    pub id: String,
    pub name: String,
    pub enabled: bool,
    pub clients: u64,
    pub streams: u64,
    pub send_bytes: u64,
    pub recv_bytes: u64,
    pub kbps: Kbps,
    pub hls: Hls,
}

/// `clients`: everyone publishing or playing on the vhost; `streams`: its published
/// streams; bytes and rates: the sums over its clients.
pub fn vhost(v: &Vhost, clients: &[StreamClient], streams: &[LiveStream]) -> VhostObject {
    let mut obj = VhostObject {
        id: vhost_id(&v.name),
        name: v.name.clone(),
        enabled: v.enabled,
        clients: 0,
        streams: 0,
        send_bytes: 0,
        recv_bytes: 0,
        kbps: Kbps::default(),
        hls: Hls {
            enabled: v.hls.enabled,
            fragment: v
                .hls
                .enabled
                .then(|| round2(f64::from(v.hls.fragment_ms) / 1000.0)),
        },
    };
    for c in clients.iter().filter(|c| c.key.vhost == v.name) {
        obj.clients += 1;
        obj.send_bytes = obj.send_bytes.wrapping_add(c.record.send.total());
        obj.recv_bytes = obj.recv_bytes.wrapping_add(c.record.recv.total());
        obj.kbps.send_30s += c.record.send.kbps();
        obj.kbps.recv_30s += c.record.recv.kbps();
    }
    obj.streams = streams
        .iter()
        .filter(|s| {
            let s = s.source.borrow();
            s.key.vhost == v.name && s.publisher().is_some()
        })
        .count() as u64;
    obj
}

#[derive(Serialize)]
pub struct Publish {
    pub active: bool,
    /// The publisher's client id, present while someone publishes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cid: Option<String>,
}

#[derive(Serialize)]
pub struct StreamObject {
    pub id: String,
    pub name: String,
    /// The vhost's id.
    pub vhost: String,
    pub app: String,
    #[serde(rename = "tcUrl")]
    pub tc_url: String,
    pub url: String,
    /// The time of the answer in ms since the Unix epoch (SRS: `srs_get_system_time()`).
    pub live_ms: u64,
    pub clients: u64,
    pub frames: u64,
    pub send_bytes: u64,
    pub recv_bytes: u64,
    pub kbps: Kbps,
    pub publish: Publish,
    /// `null` until a video sequence header arrives (SRS sets it from the header).
    pub video: Option<media::VideoInfo>,
    pub audio: Option<media::AudioInfo>,
    /// Ours, after SRS's keys: the stream's recorder (as in `/api/v1/dvrs`), `null` when it
    /// has none (recording off, or a build without DVR).
    pub dvr: Option<DvrObject>,
    /// Ours: the stream's forward destinations and their state (`server::forward`).
    #[cfg(feature = "forward")]
    pub forwards: Vec<crate::server::forward::ForwardObject>,
    /// Ours: on an edge, the stream's pull from the origin (`server::edge`); `null` when
    /// none.
    #[cfg(feature = "edge")]
    pub edge: Option<crate::server::edge::EdgeObject>,
}

/// A stream's recorder (ours), in `/api/v1/streams` (`dvr`) and `/api/v1/dvrs`
/// (`recorders`, with `stream`).
#[derive(Serialize)]
pub struct DvrObject {
    /// The stream's SRS url, in `/api/v1/dvrs` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// idle | waiting (for a keyframe) | writing | failed (retrying).
    pub state: &'static str,
    /// The file being written.
    pub path: Option<String>,
    /// The disk error that stopped the recording, while it is stopped.
    pub error: Option<String>,
    /// Frames skipped because the disk was behind (`dvr_queue_bytes`).
    pub dropped_frames: u64,
    /// Bytes waiting for the disk now.
    pub queued_bytes: u64,
    /// Files started since the recorder was made.
    pub files: u64,
}

pub fn stream(s: &LiveStream, clients: &[StreamClient], epoch_now_ms: u64) -> StreamObject {
    let source = s.source.borrow();
    let key = &source.key;
    let publisher = source.publisher();
    let mine = || clients.iter().filter(|c| &c.key == key);
    let publisher_record = publisher.and_then(|id| mine().find(|c| c.record.id == id));
    let mut kbps = Kbps::default();
    let mut send_bytes = 0u64;
    for c in mine().filter(|c| Some(c.record.id) != publisher) {
        send_bytes = send_bytes.wrapping_add(c.record.send.total());
        kbps.send_30s += c.record.send.kbps();
    }
    let recv_bytes = publisher_record.map_or(0, |c| c.record.recv.total());
    kbps.recv_30s = publisher_record.map_or(0, |c| c.record.recv.kbps());
    // SRS keeps the tcUrl of the client that created the stream; the publisher's is the
    // closest we have, else the first player's.
    let tc_url = publisher_record
        .or_else(|| mine().next())
        .map(|c| c.record.tc_url.borrow().clone())
        .unwrap_or_default();
    StreamObject {
        id: s.id.clone(),
        name: key.stream.clone(),
        vhost: vhost_id(&key.vhost),
        app: key.app.clone(),
        tc_url,
        url: stream_url(key),
        live_ms: epoch_now_ms,
        clients: mine().count() as u64,
        frames: source.stats().video_frames,
        send_bytes,
        recv_bytes,
        kbps,
        publish: Publish {
            active: publisher.is_some(),
            cid: publisher_record.map(|c| c.record.cid.clone()),
        },
        video: source.video_header().map(|h| media::video_info(h)),
        audio: publisher
            .and_then(|_| media::audio_info(source.audio_codec(), source.audio_header())),
        dvr: None,
        #[cfg(feature = "forward")]
        forwards: Vec::new(),
        #[cfg(feature = "edge")]
        edge: None,
    }
}

#[derive(Serialize)]
pub struct ClientObject {
    pub id: String,
    /// The vhost's id.
    pub vhost: String,
    /// The stream's id.
    pub stream: String,
    pub ip: String,
    #[serde(rename = "pageUrl")]
    pub page_url: String,
    #[serde(rename = "swfUrl")]
    pub swf_url: String,
    #[serde(rename = "tcUrl")]
    pub tc_url: String,
    pub url: String,
    /// The stream name.
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub publish: bool,
    /// Seconds since the connection was accepted.
    pub alive: f64,
    pub send_bytes: u64,
    pub recv_bytes: u64,
    pub kbps: Kbps,
}

pub fn client(c: &StreamClient, now_ms: u64) -> ClientObject {
    let r = &c.record;
    let kind = r.kind.get();
    ClientObject {
        id: r.cid.clone(),
        vhost: vhost_id(&c.key.vhost),
        stream: stream_id(&c.key),
        ip: r.peer.ip().to_canonical().to_string(),
        page_url: r.page_url.borrow().clone(),
        // RTMP connect's swfUrl is not kept; SRS echoes it.
        swf_url: String::new(),
        tc_url: r.tc_url.borrow().clone(),
        url: stream_url(&c.key),
        name: c.key.stream.clone(),
        kind: kind.srs_name(),
        publish: kind.is_publish(),
        alive: round2(now_ms.saturating_sub(r.started_ms) as f64 / 1000.0),
        send_bytes: r.send.total(),
        recv_bytes: r.recv.total(),
        kbps: Kbps {
            recv_30s: r.recv.kbps(),
            send_30s: r.send.kbps(),
        },
    }
}
