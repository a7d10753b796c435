//! `/api/v1/ingests` (ours; SRS runs ffmpeg for its ingests and lists none): the `[[ingest]]`
//! cameras with their state, in SRS's envelope.
//!
//! | request | answer |
//! |---|---|
//! | `GET /api/v1/ingests` | `ingests[..]` |
//! | `GET /api/v1/ingests/{id}` | `ingest{..}`; an unknown id is `{"code":2048}` (stream not found) |
//! | `POST /api/v1/ingests/{id}/restart` | drops the connection or the backoff wait and connects now; `ingest{..}` as it was asked |
//!
//! Any other method is 405. `POST` is a change: with `http_api.auth` it needs the password
//! even when `read_only_open` lets GETs through.
//!
//! Each ingest: `id`, `url` (password masked), `vhost`, `stream` (`app/stream`), `mode`,
//! `state` (`connecting`, `playing`, `backoff`, `idle`), `since` (epoch ms the state began),
//! `error` (the last failure, or null), `retry_in_ms` (in backoff, else null), `recv_bytes`
//! (from the camera, over all connections), `reconnects` (attempts after the first),
//! `video`/`audio` (`{"codec":"H264"}` while playing, else null), `transport` (`tcp` or `udp`
//! while playing, else null; `ingest.transport = "auto"` shows which one it settled on).

use serde::Serialize;

use super::{code, Api, Method, Reply};
use crate::server::rtsp::IngestStatus;

#[derive(Serialize)]
pub struct Codec {
    codec: &'static str,
}

#[derive(Serialize)]
pub struct IngestObject {
    id: String,
    url: String,
    vhost: String,
    stream: String,
    mode: &'static str,
    state: &'static str,
    since: u64,
    error: Option<String>,
    retry_in_ms: Option<u64>,
    recv_bytes: u64,
    reconnects: u64,
    video: Option<Codec>,
    audio: Option<Codec>,
    transport: Option<&'static str>,
}

fn object(api: &Api<'_>, s: &IngestStatus) -> IngestObject {
    let v = s.view(api.now_ms);
    IngestObject {
        id: s.id.clone(),
        url: s.url.clone(),
        vhost: s.key.vhost.clone(),
        stream: format!("{}/{}", s.key.app, s.key.stream),
        mode: s.mode.as_str(),
        state: v.state.as_str(),
        since: api.settings.epoch_ms.saturating_add(v.since_ms),
        error: v.last_error,
        retry_in_ms: v.retry_in_ms,
        recv_bytes: v.recv_bytes,
        reconnects: v.reconnects,
        video: v.video.map(|codec| Codec { codec }),
        audio: v.audio.map(|codec| Codec { codec }),
        transport: v.transport,
    }
}

/// `rest`: what follows `/api/v1/ingests/` (`""` for the list).
pub(super) fn handle(api: &Api<'_>, method: Method, rest: &str) -> Reply {
    #[derive(Serialize)]
    struct List {
        ingests: Vec<IngestObject>,
    }
    #[derive(Serialize)]
    struct One {
        ingest: IngestObject,
    }
    let table = &api.ctx.ingests;
    if rest.is_empty() {
        if method != Method::Get {
            return Reply::Http(405);
        }
        return api.ok(List {
            ingests: table.all().iter().map(|s| object(api, s)).collect(),
        });
    }
    let (id, action) = match rest.split_once('/') {
        Some((id, action)) => (id, Some(action)),
        None => (rest, None),
    };
    let Some(status) = table.find(id) else {
        return Reply::Code(code::RTMP_STREAM_NOT_FOUND);
    };
    match (method, action) {
        (Method::Get, None) => api.ok(One {
            ingest: object(api, &status),
        }),
        (Method::Post, Some("restart")) => {
            log::warn!(
                "ingest {}/{}: restart asked by the HTTP API",
                status.key.app,
                status.key.stream
            );
            let ingest = object(api, &status);
            table.restart(&status);
            api.ok(One { ingest })
        }
        (_, None | Some("restart")) => Reply::Http(405),
        _ => Reply::Http(404),
    }
}
