//! Time-based playback of recordings (beyond SRS; MediaMTX has a playback server), under the
//! API's auth:
//!
//! * `GET /api/v1/dvr/spans?stream=live/cam1[&vhost=v]`: the spans of time the stream's MP4
//!   recordings cover, in the API's envelope: `{"code":0,...,"spans":[{"start":RFC 3339,
//!   "end":..., "duration": seconds}], "truncated": false}`.
//! * `GET /api/v1/dvr/playback?stream=live/cam1&start=<RFC 3339 or ms>&duration=<s>`: one
//!   fragmented MP4 stitched from the recordings of that span (`server::dvr::playback`), with
//!   `X-Playback-Start` (RFC 3339 of its first frame) and `X-Playback-Duration` (seconds).
//!   Errors are plain text: 400 (a parameter), 404 (nothing recorded there), 413 (too long a
//!   span for one request), 503 (the disk did not answer, or `MAX_PLAYBACKS` are being
//!   planned or sent).
//!
//! Only vhosts that record (`dvr.enabled`) play back. Both plan on the disk thread ([`Answer::Deferred`]); the body's `mdat`s are read from the
//! recordings as they are sent.

use std::any::Any;

use super::{Answer, Body, Deferred, HttpConn, Piece, Response};
use crate::server::api::json;
use crate::server::api::{self, ApiRequest};
use crate::server::dvr::playback::{self, Part, PlaybackError, Query, Span, Stitched};
use crate::wire::date::Rfc3339;
use crate::wire::decimal::{parse_f64, ratio_text};
use crate::wire::http::{query_param, Method, RequestHead};

/// `/api/v1/dvr/spans` joins recordings that are less than this far apart into one span
/// (the segment plan's files follow each other within a frame or two).
const JOIN_MS: u64 = 2_000;
/// The longest span one playback request may ask for (the plan's RAM bounds it more tightly
/// for streams with short fragments).
const MAX_DURATION_S: f64 = 86_400.0;

/// The paths answered here.
pub fn owns(path: &str) -> bool {
    matches!(path, "/api/v1/dvr/playback" | "/api/v1/dvr/spans")
}

/// Answers a request for one of the paths of [`owns`] that passed the API's auth.
pub fn handle(conn: &mut HttpConn, head: &RequestHead, path: &str) -> Answer {
    if !matches!(head.method, Method::Get | Method::Head) {
        return Answer::Response(conn.text(head, 405, "method not allowed"));
    }
    let query = match query_of(conn, head) {
        Ok(q) => q,
        Err(message) => return Answer::Response(conn.text(head, 400, &message)),
    };
    if path == "/api/v1/dvr/spans" {
        return Answer::Deferred(Deferred {
            work: Box::new(move || -> Box<dyn Any + Send> {
                Box::new(playback::spans(&query, JOIN_MS))
            }),
            finish: finish_spans,
        });
    }
    let q = head.query.strip_prefix('?').unwrap_or(&head.query);
    let start_ms = match query_param(q, "start").as_deref().map(parse_start) {
        Some(Some(ms)) => ms,
        Some(None) => {
            let m = "start: an RFC 3339 time (2026-12-06T08:00:00Z, or with +08:00) or ms since the epoch";
            return Answer::Response(conn.text(head, 400, m));
        }
        None => return Answer::Response(conn.text(head, 400, "start is missing")),
    };
    // wire::decimal rather than `str::parse`: std's f64 parser is 17 KB of the router binary.
    let duration_ms = match query_param(q, "duration").as_deref().map(parse_f64) {
        Some(Some(s)) if s > 0.0 && s <= MAX_DURATION_S => (s * 1000.0) as u64,
        _ => {
            let m = "duration: seconds, more than 0 and at most 86400";
            return Answer::Response(conn.text(head, 400, m));
        }
    };
    let Some(slot) = conn.ctx.server.dvr.playback_slot() else {
        let m = "too many playbacks at once; try again shortly";
        return Answer::Response(conn.text(head, 503, m));
    };
    conn.playback = Some(slot);
    Answer::Deferred(Deferred {
        work: Box::new(move || -> Box<dyn Any + Send> {
            Box::new(playback::plan(&query, start_ms, duration_ms))
        }),
        finish: finish_playback,
    })
}

/// `start`: RFC 3339, or milliseconds since the epoch.
fn parse_start(text: &str) -> Option<u64> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok();
    }
    Rfc3339::parse(text).map(|t| t.unix_ms())
}

fn query_of(conn: &HttpConn, head: &RequestHead) -> Result<Query, String> {
    let q = head.query.strip_prefix('?').unwrap_or(&head.query);
    let stream = query_param(q, "stream").ok_or("stream is missing (stream=app/stream)")?;
    let Some((app, stream)) = stream.rsplit_once('/') else {
        return Err("stream: app/stream, e.g. live/cam1".to_owned());
    };
    let config = conn.ctx.server.config();
    let name = query_param(q, "vhost").unwrap_or_default();
    let vhost = config
        .resolve_vhost(&name)
        .ok_or("vhost: no such vhost, or it is disabled")?;
    // Only a recording vhost's playbacks are in the memory budget (`tinysrs -t`).
    if !vhost.dvr.enabled {
        return Err(format!(
            "vhost {} does not record (dvr.enabled)",
            vhost.name
        ));
    }
    Ok(Query {
        templates: vec![vhost.dvr.path.clone()],
        vhost: vhost.name.clone(),
        app: app.to_owned(),
        stream: stream.to_owned(),
        utc_offset_s: conn.ctx.server.dvr.wall_now().utc_offset_s,
    })
}

fn rfc3339(ms: u64) -> String {
    Rfc3339 {
        unix_secs: ms / 1000,
        nanos: (ms % 1000) as u32 * 1_000_000,
    }
    .to_string()
}

fn status_of(e: &PlaybackError) -> u16 {
    match e {
        PlaybackError::Untimed(_) | PlaybackError::NotMp4 => 400,
        PlaybackError::NothingThere => 404,
        PlaybackError::TooLong(_) => 413,
        PlaybackError::Io(_) => 500,
    }
}

#[derive(serde::Serialize)]
struct SpansBody {
    spans: Vec<SpanJson>,
    truncated: bool,
}

#[derive(serde::Serialize)]
struct SpanJson {
    duration: f64,
    end: String,
    start: String,
}

#[derive(serde::Serialize)]
struct ErrorBody {
    error: String,
}

fn finish_spans(conn: &mut HttpConn, head: &RequestHead, planned: Box<dyn Any + Send>) -> Response {
    let result = match planned.downcast::<Result<(Vec<Span>, bool), PlaybackError>>() {
        Ok(r) => *r,
        Err(_) => return conn.text(head, 500, "internal error"),
    };
    // Structs rather than `serde_json::Value`s (no `Value` in the router binary); the keys in
    // the order the API has always written them, sorted by name.
    let (body, code) = match result {
        Ok((spans, truncated)) => {
            let body = SpansBody {
                spans: spans
                    .iter()
                    .map(|s| SpanJson {
                        duration: s.end_ms.saturating_sub(s.start_ms) as f64 / 1000.0,
                        end: rfc3339(s.end_ms),
                        start: rfc3339(s.start_ms),
                    })
                    .collect(),
                truncated,
            };
            (json::to_string(&body), 0)
        }
        Err(e) => (
            json::to_string(&ErrorBody {
                error: e.to_string(),
            }),
            i32::from(status_of(&e)),
        ),
    };
    // Our types always serialize; an empty object keeps the envelope whole if not.
    let body = body.unwrap_or_else(|_| "{}".to_owned());
    let request = ApiRequest {
        method: head.method,
        path: "/api/v1/dvr/spans",
        query: &head.query,
        authorization: head.authorization.as_deref(),
        body: &conn.body,
    };
    let server = conn.ctx.server.clone();
    let settings = conn.ctx.api.settings.clone();
    let reply = api::handle_extension(&server, &settings, 0, &request, |_| (body, code));
    super::api::respond(conn, head, reply)
}

fn finish_playback(
    conn: &mut HttpConn,
    head: &RequestHead,
    planned: Box<dyn Any + Send>,
) -> Response {
    let stitched = match planned.downcast::<Result<Stitched, PlaybackError>>() {
        Ok(r) => *r,
        Err(_) => return conn.text(head, 500, "internal error"),
    };
    let stitched = match stitched {
        Ok(s) => s,
        Err(e) => return conn.text(head, status_of(&e), &e.to_string()),
    };
    let len = stitched.len.to_string();
    let start = rfc3339(stitched.start_ms);
    let duration = ratio_text(stitched.duration_ms, 1000, 3);
    let headers = [
        ("Content-Type", "video/mp4"),
        ("Content-Length", len.as_str()),
        ("X-Playback-Start", start.as_str()),
        ("X-Playback-Duration", duration.as_str()),
    ];
    let mut response = conn.respond(head, 200, &headers, None);
    if head.method != Method::Head {
        let pieces = stitched
            .parts
            .into_iter()
            .map(|p| match p {
                Part::Bytes(b) => Piece::Bytes(b),
                Part::File { path, start, len } => Piece::File { path, start, len },
            })
            .collect();
        response.body = Body::Pieces(pieces);
    }
    response
}
