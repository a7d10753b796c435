//! WHEP on the HTTP server (`server::rtc` holds the sessions), SRS's paths:
//! - `POST /rtc/v1/whep/?app=live&stream=x` with an SDP offer (`Content-Type:
//!   application/sdp`): 201, the answer, and `Location: /rtc/v1/session/{id}`; 400 for an
//!   offer str0m cannot take or without H.264, 404 for a stream nobody publishes (or without
//!   H.264 video), 503 past `rtc_server.max_sessions`;
//! - `DELETE /rtc/v1/session/{id}` ends the session (200; 404 when there is none);
//! - `PATCH /rtc/v1/session/{id}` with an `application/trickle-ice-sdpfrag` body (RFC 9725
//!   §4.3.1) gives a WHEP or WHIP session the client's trickled candidates: 204; 415 for
//!   another body type, 412 for an `If-Match` other than `*`, 400 for a bad fragment, 404
//!   for no such session, 422 for an ICE restart (new credentials), which is not supported;
//! - `POST /rtc/v1/whip/?app=live&stream=x` (RFC 9725 WHIP) with a sendonly offer: the
//!   vhost's `publish` security rules (403), then the `on_publish` hooks (403 when they
//!   refuse) with the query as `param` and, as SRS, the `Authorization: Bearer` token added to
//!   it as `token=...` when the query has none; then the offer (400 as for WHEP), then the
//!   hub's publish: 409 for a stream someone publishes already, 503 past `max_streams`. 201
//!   with the answer and `Location: /rtc/v1/session/{id}`, whose `DELETE` unpublishes.
//!   The session's end tells `on_unpublish`.
//! - Other paths 404.
//!
//! CORS is the HTTP server's (`http_server.crossdomain`), which exposes `Location`.

use bytes::Bytes;

use super::{requested_vhost, Answer, HttpConn, Route};
use crate::config::Vhost;
use crate::live::{HubError, QueueLimits, StreamKey};
#[cfg(feature = "hooks")]
use crate::server::hooks::{self, Action};
use crate::server::stats::{ClientKind, ClientRecord, Registration};
use crate::wire::http::{query_param, Method, RequestHead};

/// Where a session's resource lives (`DELETE` ends it).
pub const SESSION_PATH: &str = "/rtc/v1/session/";

pub fn handle(conn: &mut HttpConn, head: &RequestHead, route: &Route, now: u64) -> Option<Answer> {
    let Route::Rtc(path) = route else {
        return None;
    };
    let path = path.as_str();
    let answer = if let Some(id) = path.strip_prefix(SESSION_PATH) {
        if head.method == Method::Patch {
            patch(conn, head, id, now)
        } else if head.method != Method::Delete {
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
        if head.method != Method::Post {
            conn.text(head, 405, "method not allowed")
        } else {
            return Some(whip(conn, head, now));
        }
    } else {
        conn.text(head, 404, "not found")
    };
    Some(Answer::Response(answer))
}

/// The media type of a trickle ICE `PATCH` body (RFC 8840 §9.2).
pub const TRICKLE_TYPE: &str = "application/trickle-ice-sdpfrag";

/// `PATCH /rtc/v1/session/{id}` (RFC 9725 §4.3.1): trickle ICE candidates for the session.
/// 204 when taken; 415 for another media type; 412 for an `If-Match` other than `*` (we
/// give no entity-tags); 400/404/422 from [`crate::server::rtc::trickle`].
fn patch(conn: &mut HttpConn, head: &RequestHead, id: &str, now: u64) -> super::Response {
    let media_type = head.content_type.as_deref().unwrap_or("");
    let media_type = media_type.split(';').next().unwrap_or("").trim();
    if !media_type.eq_ignore_ascii_case(TRICKLE_TYPE) {
        return conn.text(
            head,
            415,
            "the body must be application/trickle-ice-sdpfrag",
        );
    }
    if head.if_match.as_deref().is_some_and(|m| m.trim() != "*") {
        return conn.text(head, 412, "no such entity-tag");
    }
    let Ok(id) = id.trim_end_matches('/').parse::<u64>() else {
        return conn.text(head, 404, "no such session");
    };
    let Ok(fragment) = std::str::from_utf8(&conn.body) else {
        return conn.text(head, 400, "the fragment is not UTF-8");
    };
    let result = conn.ctx.server.rtc.borrow_mut().trickle(id, fragment, now);
    match result {
        Ok(_) => conn.respond(head, 204, &[], None),
        Err(e) => {
            log::debug!("[{}] PATCH {}: {e}", conn.record.cid, head.target);
            conn.text(head, e.status(), &e.to_string())
        }
    }
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
            let registration = client_record(conn, head, &key, id, ClientKind::RtcPlay, now);
            server.rtc.borrow_mut().register(id, registration);
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

/// Session `id`'s entry in `/api/v1/clients` (SRS's `rtc-play`/`rtc-publish`), with the
/// requester's address and a `webrtc://` tcUrl; the session keeps it until it ends.
fn client_record(
    conn: &HttpConn,
    head: &RequestHead,
    key: &StreamKey,
    id: u64,
    kind: ClientKind,
    now: u64,
) -> Registration {
    let client = crate::server::rtc::client_id(id);
    let record = ClientRecord::new(client, &conn.record.cid, conn.record.peer, now);
    record.kind.set(kind);
    *record.stream.borrow_mut() = Some(key.clone());
    *record.tc_url.borrow_mut() = tc_url(head, key);
    Registration::new(conn.ctx.server.clients.clone(), record)
}

/// SRS's tcUrl of a WebRTC client: `webrtc://HOST/APP` (the request's `Host`, bounded).
fn tc_url(head: &RequestHead, key: &StreamKey) -> String {
    let host = head.host.as_deref().unwrap_or("localhost");
    format!(
        "webrtc://{}/{}",
        host.chars().take(256).collect::<String>(),
        key.app
    )
}

/// The query the publish's hooks see as `param`: the request's, with the bearer token
/// (`Authorization: Bearer x`, RFC 9725 §4.5) as `token=x` when the query has no `token`.
#[cfg(feature = "hooks")]
fn publish_query(head: &RequestHead) -> String {
    let bearer = head
        .authorization
        .as_deref()
        .and_then(|a| {
            a.strip_prefix("Bearer ")
                .or_else(|| a.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let mut query: String = head.query.chars().take(512).collect();
    if let Some(token) = bearer {
        if query_param(&head.query, "token").is_none() {
            if !query.is_empty() {
                query.push('&');
            }
            query.push_str("token=");
            query.extend(token.chars().take(256));
        }
    }
    query
}

/// A WHIP offer: the rules, the hooks (a decision to wait for), then [`publish`].
fn whip(conn: &mut HttpConn, head: &RequestHead, now: u64) -> Answer {
    let (Some(app), Some(stream)) = (
        query_param(&head.query, "app"),
        query_param(&head.query, "stream"),
    ) else {
        return Answer::Response(conn.text(head, 400, "app and stream are needed in the query"));
    };
    let config = conn.ctx.server.config();
    let Some(vhost) = config.resolve_vhost(&requested_vhost(head)).cloned() else {
        return Answer::Response(conn.text(head, 404, "no such vhost"));
    };
    let key = StreamKey {
        vhost: vhost.name.clone(),
        app,
        stream,
    };
    let record = conn.record.clone();
    if !vhost
        .security
        .allows(crate::config::Method::Publish, record.peer.ip())
    {
        log::warn!(
            "[{}] WHIP publish {key} denied by security rules",
            record.cid
        );
        return Answer::Response(conn.text(head, 403, "denied by security rules"));
    }
    #[cfg(feature = "hooks")]
    {
        let client = hook_client(conn, head, &key);
        if let Some(call) =
            conn.ctx
                .server
                .hooks
                .call(&vhost, Action::Publish, &client, &hooks::Extra::default())
        {
            return Answer::Decide(Box::new(PendingPublish {
                head: head.clone(),
                key,
                call: Some(call),
            }));
        }
    }
    Answer::Response(publish(conn, head, &key, &vhost, now))
}

/// Who a WHIP publisher is for the hooks: an `rtc://` tcUrl as SRS's, the query (and bearer
/// token) as `param`.
#[cfg(feature = "hooks")]
fn hook_client(conn: &HttpConn, head: &RequestHead, key: &StreamKey) -> hooks::Client {
    hooks::Client {
        vhost: key.vhost.clone(),
        app: key.app.clone(),
        stream: key.stream.clone(),
        tc_url: tc_url(head, key),
        query: publish_query(head),
        ..hooks::Client::new(&conn.record.cid, conn.record.peer.ip())
    }
}

/// A WHIP publish waiting for the on_publish hooks.
#[cfg(feature = "hooks")]
struct PendingPublish {
    head: RequestHead,
    key: StreamKey,
    call: Option<hooks::HookCall>,
}

#[cfg(feature = "hooks")]
impl super::Pending for PendingPublish {
    fn take_call(&mut self) -> Option<super::Call> {
        self.call.take().map(super::Call::Hook)
    }

    fn decided(
        self: Box<Self>,
        conn: &mut HttpConn,
        answer: Result<(), String>,
        now_ms: u64,
    ) -> Answer {
        let (head, key) = (&self.head, &self.key);
        if let Err(why) = answer {
            log::warn!(
                "[{}] WHIP publish {key} refused by the on_publish hook: {why}",
                conn.record.cid
            );
            return Answer::Response(conn.text(head, 403, "refused by the on_publish hook"));
        }
        let config = conn.ctx.server.config();
        let Some(vhost) = config.vhost(&key.vhost).cloned() else {
            return Answer::Response(conn.text(head, 404, "not found"));
        };
        Answer::Response(publish(conn, head, key, &vhost, now_ms))
    }
}

/// After the checks: the offer, the hub's publish, the session.
fn publish(
    conn: &mut HttpConn,
    head: &RequestHead,
    key: &StreamKey,
    vhost: &Vhost,
    now: u64,
) -> super::Response {
    let Ok(offer) = std::str::from_utf8(&conn.body) else {
        return conn.text(head, 400, "the offer is not UTF-8");
    };
    let config = conn.ctx.server.config();
    let server = conn.ctx.server.clone();
    let accepted =
        server
            .rtc
            .borrow_mut()
            .accept_publish(&config, offer, head.host.as_deref(), now);
    let accepted = match accepted {
        Ok(a) => a,
        Err(e) => {
            log::debug!("[{}] WHIP {}: {e}", conn.record.cid, head.target);
            return conn.text(head, e.status(), &e.to_string());
        }
    };
    let (id, client) = server.rtc.borrow_mut().next_session();
    let settings = crate::server::source_settings(vhost);
    let result = server.hub.borrow_mut().publish(key, client, settings, now);
    let source = match result {
        Ok(source) => source,
        Err(e) => {
            log::warn!("[{}] WHIP publish {key} refused: {e}", conn.record.cid);
            let status = match e {
                HubError::AlreadyPublishing { .. } => 409,
                HubError::TooManyStreams { .. } => 503,
            };
            return conn.text(head, status, &e.to_string());
        }
    };
    crate::server::on_publish(&server, &source, vhost);
    #[cfg(feature = "hooks")]
    let on_end: Option<Box<dyn FnOnce()>> = {
        let client = hook_client(conn, head, key);
        server.hooks.published(&client);
        let hooks = server.hooks.clone();
        let vhost = vhost.clone();
        Some(Box::new(move || {
            hooks.notify(&vhost, Action::Unpublish, &client, &hooks::Extra::default());
        }))
    };
    #[cfg(not(feature = "hooks"))]
    let on_end: Option<Box<dyn FnOnce()>> = None;
    let answer = accepted.answer.clone();
    server.rtc.borrow_mut().add_publisher(
        id,
        client,
        accepted,
        key,
        source,
        config.rtmp_max_message_bytes,
        on_end,
        now,
    );
    let registration = client_record(conn, head, key, id, ClientKind::RtcPublish, now);
    server.rtc.borrow_mut().register(id, registration);
    log::info!(
        "[{}] WHIP publish {key} as session {id} from {}",
        conn.record.cid,
        conn.record.peer
    );
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::http::decode_request_head;

    #[cfg_attr(not(feature = "hooks"), allow(dead_code))]
    fn head(request: &str) -> RequestHead {
        decode_request_head(request.as_bytes()).unwrap().unwrap().0
    }

    #[test]
    #[cfg(feature = "hooks")]
    fn the_bearer_token_joins_the_query_as_token() {
        let q = |auth: &str| {
            let h = head(&format!(
                "POST /rtc/v1/whip/?app=live&stream=x HTTP/1.1\r\nHost: h\r\n{auth}\r\n"
            ));
            publish_query(&h)
        };
        assert_eq!(
            q("Authorization: Bearer abc123\r\n"),
            "app=live&stream=x&token=abc123"
        );
        assert_eq!(q(""), "app=live&stream=x");
        assert_eq!(q("Authorization: Basic YTpi\r\n"), "app=live&stream=x");
        assert_eq!(q("Authorization: Bearer \r\n"), "app=live&stream=x");
        // A token in the query wins.
        let h = head(
            "POST /rtc/v1/whip/?app=live&stream=x&token=q HTTP/1.1\r\nHost: h\r\n\
             Authorization: Bearer b\r\n\r\n",
        );
        assert_eq!(publish_query(&h), "app=live&stream=x&token=q");
    }
}
