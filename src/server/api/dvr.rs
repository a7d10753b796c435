//! `/api/v1/dvrs` (ours; SRS 2 had a DVR API of its own, its error codes are reused here):
//!
//! * `GET`: `dvrs[..]`, the recordings this process wrote, is writing or repaired at start
//!   (at most `recorder::MAX_RECORDINGS`, oldest first): `stream` (SRS's stream url, empty
//!   for a repaired file), `vhost`, `app`, `name`, `path`, `start_ms` (epoch ms),
//!   `duration` (s), `bytes`, `state` (`writing`, `closed`, `repaired`, `failed`), `error`;
//!   `recorders[..]`, each recorded stream's state (see [`DvrObject`]); and `roots[..]`,
//!   each DVR root with what its last quota pass found.
//! * `POST` with `{"action":"start"|"stop","vhost":..,"app":..,"stream":..}` (or the same as
//!   query parameters): records one stream, or stops, until the next reload. `vhost` may be
//!   left out (the default vhost). Errors, as SRS answers them (HTTP 200 with a code):
//!   2014 no such vhost, 3050 DVR is off on the vhost, 3051 no valid action or stream,
//!   3052 a body that is not a JSON object (`wire::json`: of scalars).

use serde::Serialize;

use super::objects::{round2, stream_url, DvrObject};
use super::{code, query_get, Api, Method, Reply};
use crate::live::StreamKey;
use crate::server::dvr::{self, Action, ControlError, RecorderStatus, Recording};
use crate::wire::http::percent_decode;
use crate::wire::json;

pub fn object(s: &RecorderStatus) -> DvrObject {
    DvrObject {
        stream: None,
        state: s.state,
        path: s.path.as_ref().map(|p| p.display().to_string()),
        error: s.error.clone(),
        dropped_frames: s.dropped_frames,
        queued_bytes: s.queued_bytes as u64,
        files: s.files,
    }
}

#[derive(Serialize)]
struct RecordingObject {
    stream: String,
    vhost: String,
    app: String,
    name: String,
    path: String,
    start_ms: u64,
    duration: f64,
    bytes: u64,
    state: &'static str,
    error: Option<String>,
}

fn recording(r: &Recording) -> RecordingObject {
    let (stream, vhost, app, name) = match &r.key {
        Some(k) => (
            stream_url(k),
            k.vhost.clone(),
            k.app.clone(),
            k.stream.clone(),
        ),
        None => Default::default(),
    };
    RecordingObject {
        stream,
        vhost,
        app,
        name,
        path: r.path.display().to_string(),
        start_ms: r.start_ms,
        duration: round2(r.duration_ms as f64 / 1000.0),
        bytes: r.bytes,
        state: r.state.as_str(),
        error: r.error.clone(),
    }
}

#[derive(Serialize)]
struct RootObject {
    root: String,
    /// Bytes of recordings and free bytes, as the last quota pass found them (null before
    /// one, and on roots without loop recording).
    bytes: Option<u64>,
    free_bytes: Option<u64>,
}

#[derive(Serialize)]
struct List {
    dvrs: Vec<RecordingObject>,
    recorders: Vec<DvrObject>,
    roots: Vec<RootObject>,
}

#[derive(Serialize)]
struct Controlled {
    dvr: Option<DvrObject>,
}

/// A POST's request.
#[derive(Default)]
struct Control {
    action: Option<String>,
    vhost: Option<String>,
    app: Option<String>,
    stream: Option<String>,
}

pub(super) fn handle(api: &Api<'_>, method: Method, query: &str) -> Reply {
    match method {
        Method::Get => list(api),
        Method::Post => control(api, query),
        _ => Reply::Http(405),
    }
}

fn list(api: &Api<'_>) -> Reply {
    let d = &api.ctx.dvr;
    let mut roots: Vec<RootObject> = d
        .roots()
        .into_iter()
        .map(|(root, usage)| RootObject {
            root: root.display().to_string(),
            bytes: usage.map(|u| u.bytes),
            free_bytes: usage.and_then(|u| u.free),
        })
        .collect();
    roots.sort_unstable_by(|a, b| a.root.cmp(&b.root));
    api.ok(List {
        dvrs: d.recordings().iter().map(recording).collect(),
        recorders: d
            .recorders()
            .iter()
            .map(|(k, s)| DvrObject {
                stream: Some(stream_url(k)),
                ..object(s)
            })
            .collect(),
        roots,
    })
}

fn control(api: &Api<'_>, query: &str) -> Reply {
    let body = if api.body.iter().all(u8::is_ascii_whitespace) {
        let param = |k| {
            query_get(query, k)
                .and_then(|v| percent_decode(v).ok())
                .filter(|v| !v.is_empty())
        };
        Control {
            action: param("action"),
            vhost: param("vhost"),
            app: param("app"),
            stream: param("stream"),
        }
    } else {
        let Ok(members) = json::decode_object(api.body) else {
            return Reply::Code(code::HTTP_JSON_REQUIRED);
        };
        let member = |k| json::get(&members, k).map(str::to_owned);
        Control {
            action: member("action"),
            vhost: member("vhost"),
            app: member("app"),
            stream: member("stream"),
        }
    };
    let action = match body.action.as_deref() {
        Some("start") => Action::Start,
        Some("stop") => Action::Stop,
        _ => return Reply::Code(code::HTTP_DVR_REQUEST),
    };
    let (Some(app), Some(stream)) = (body.app, body.stream) else {
        return Reply::Code(code::HTTP_DVR_REQUEST);
    };
    if app.is_empty() || stream.is_empty() {
        return Reply::Code(code::HTTP_DVR_REQUEST);
    }
    let config = api.ctx.config();
    let vhost = body
        .vhost
        .unwrap_or_else(|| crate::config::DEFAULT_VHOST.to_owned());
    let name = config.vhost(&vhost).map_or(vhost, |v| v.name.clone());
    let key = StreamKey {
        vhost: name,
        app,
        stream,
    };
    match dvr::control(api.ctx, &key, action) {
        Ok(()) => api.ok(Controlled {
            dvr: api.ctx.dvr.stream(&key).as_ref().map(object),
        }),
        Err(ControlError::NoVhost(_)) => Reply::Code(code::RTMP_VHOST_NOT_FOUND),
        Err(ControlError::NotEnabled(_)) => Reply::Code(code::HTTP_DVR_DISABLED),
    }
}
