//! WHEP on the HTTP server (`server::rtc` holds the sessions), SRS's paths:
//! - `POST /rtc/v1/whep/?app=live&stream=x` with an SDP offer (`Content-Type:
//!   application/sdp`): 201, the answer, and `Location: /rtc/v1/session/{id}`; 400 for an
//!   offer str0m cannot take or without H.264, 404 for a stream nobody publishes (or without
//!   H.264 video), 503 past `rtc_server.max_sessions`;
//! - `DELETE /rtc/v1/session/{id}` ends the session (200; 404 when there is none);
//! - `POST /rtc/v1/whip/` is 501 (WHIP publish is not done yet); other paths 404.
//!
//! CORS is the HTTP server's (`http_server.crossdomain`), which exposes `Location`.

use bytes::Bytes;

use super::{requested_vhost, Answer, HttpConn, Route};
use crate::live::{QueueLimits, StreamKey};
use crate::wire::http::{query_param, Method, RequestHead};

/// Where a session's resource lives (`DELETE` ends it).
pub const SESSION_PATH: &str = "/rtc/v1/session/";

pub fn handle(conn: &mut HttpConn, head: &RequestHead, route: &Route, now: u64) -> Option<Answer> {
    let Route::Rtc(path) = route else {
        return None;
    };
    let path = path.as_str();
    let answer = if let Some(id) = path.strip_prefix(SESSION_PATH) {
        if head.method != Method::Delete {
            conn.text(head, 405, "method not allowed")
        } else {
            let server = &conn.ctx.server;
            let found = id
                .trim_end_matches('/')
                .parse::<u64>()
                .ok()
                .is_some_and(|id| server.rtc.borrow_mut().delete(&server.hub, id, now));
            match found {
                true => conn.respond(head, 200, &[("Content-Length", "0")], None),
                false => conn.text(head, 404, "no such session"),
            }
        }
    } else if matches!(path, "/rtc/v1/whep/" | "/rtc/v1/whep") {
        if head.method != Method::Post {
            conn.text(head, 405, "method not allowed")
        } else {
            whep(conn, head, now)
        }
    } else if matches!(path, "/rtc/v1/whip/" | "/rtc/v1/whip") {
        conn.text(head, 501, "WHIP publish is not supported yet")
    } else {
        conn.text(head, 404, "not found")
    };
    Some(Answer::Response(answer))
}

fn whep(conn: &mut HttpConn, head: &RequestHead, now: u64) -> super::Response {
    let (Some(app), Some(stream)) = (
        query_param(&head.query, "app"),
        query_param(&head.query, "stream"),
    ) else {
        return conn.text(head, 400, "app and stream are needed in the query");
    };
    let config = conn.ctx.server.config();
    let Some(vhost) = config.resolve_vhost(&requested_vhost(head)) else {
        return conn.text(head, 404, "no such vhost");
    };
    let Ok(offer) = std::str::from_utf8(&conn.body) else {
        return conn.text(head, 400, "the offer is not UTF-8");
    };
    let key = StreamKey {
        vhost: vhost.name.clone(),
        app,
        stream,
    };
    let limits = QueueLimits {
        max_bytes: vhost.queue_max_bytes,
        max_duration_ms: i64::from(vhost.queue_length_ms),
    };
    let server = &conn.ctx.server;
    let result = server.rtc.borrow_mut().play(
        &config,
        &server.hub,
        &key,
        offer,
        head.host.as_deref(),
        limits,
        crate::server::source_settings(vhost),
        now,
    );
    match result {
        Ok((id, answer)) => {
            let location = format!("{SESSION_PATH}{id}");
            let len = answer.len().to_string();
            conn.respond(
                head,
                201,
                &[
                    ("Content-Type", "application/sdp"),
                    ("Location", &location),
                    ("Content-Length", &len),
                ],
                Some(Bytes::from(answer)),
            )
        }
        Err(e) => {
            log::debug!("[{}] WHEP {}: {e}", conn.record.cid, head.target);
            conn.text(head, e.status(), &e.to_string())
        }
    }
}
