//! The SRS-compatible API (`/api/...`) over HTTP: `server::api` answers, and endpoints kept
//! elsewhere (GB28181) plug in as [`ApiExtension`]s under the same auth and envelope.

use std::rc::Rc;

use bytes::Bytes;

use super::{Answer, HttpConn, Route};
use crate::server::api::{self, ApiRequest, ApiResponse, ApiSettings};
use crate::server::stats::ClientKind;
use crate::server::ServerCtx;
use crate::wire::http::RequestHead;

/// An extension's answer: `(now_ms, path)` → (the endpoint's own JSON keys, SRS code).
pub type ApiAnswer = dyn Fn(u64, &str) -> (String, i32);

/// An endpoint answered outside `server::api`, for every path under `prefix`.
#[derive(Clone)]
pub struct ApiExtension {
    pub prefix: &'static str,
    pub answer: Rc<ApiAnswer>,
}

/// What the API needs besides the server.
#[derive(Clone)]
pub struct ApiCtx {
    pub settings: Rc<ApiSettings>,
    pub extensions: Vec<ApiExtension>,
}

pub fn handle(conn: &mut HttpConn, head: &RequestHead, route: &Route, now: u64) -> Option<Answer> {
    let Route::Api(path) = route else {
        return None;
    };
    let server = &conn.ctx.server;
    if !server.config().api.enabled {
        return Some(Answer::Response(conn.text(head, 404, "not found")));
    }
    conn.record.kind.set(ClientKind::Api);
    let ip = conn.record.peer.ip();
    if server.logins.borrow().blocked(ip, now) {
        let m = "too many failed logins from this address; try again in a minute";
        return Some(Answer::Response(conn.text(head, 429, m)));
    }
    #[cfg(feature = "dvr")]
    if super::playback::owns(path)
        && head.method != crate::wire::http::Method::Options
        && api::authorized(
            server.config().api.auth.as_ref(),
            head.method,
            head.authorization.as_deref(),
        )
    {
        // Unauthorized requests go on to the API, which answers 401.
        return Some(super::playback::handle(conn, head, path));
    }
    let request = ApiRequest {
        method: head.method,
        path,
        query: &head.query,
        authorization: head.authorization.as_deref(),
        body: &conn.body,
    };
    let settings = &conn.ctx.api.settings;
    let extension = conn
        .ctx
        .api
        .extensions
        .iter()
        .find(|e| path.starts_with(e.prefix));
    let response = match extension {
        Some(e) => api::handle_extension(server, settings, now, &request, |p| (e.answer)(now, p)),
        None => api::handle(server, settings, now, &request),
    };
    if head.authorization.is_some() {
        count_login(server, conn.record.peer, response.status == 401, now);
    }
    Some(Answer::Response(respond(conn, head, response)))
}

/// Counts a request that came with credentials: a wrong one towards a block of its address,
/// logged (every failure at info, a block as a warning), a right one clears the address.
fn count_login(server: &ServerCtx, peer: std::net::SocketAddr, failed: bool, now: u64) {
    use api::logins::{Failure, BLOCK_MS, MAX_FAILURES};
    let mut logins = server.logins.borrow_mut();
    if !failed {
        logins.succeeded(peer.ip());
        return;
    }
    match logins.failed(peer.ip(), now) {
        Failure::Counted(n) => {
            log::info!("API: wrong credentials from {peer} ({n} of {MAX_FAILURES} in a minute)")
        }
        Failure::Blocked => log::warn!(
            "API: {MAX_FAILURES} wrong credentials from {} within a minute: refusing it for {} s",
            peer.ip(),
            BLOCK_MS / 1000
        ),
    }
}

pub(super) fn respond(
    conn: &HttpConn,
    head: &RequestHead,
    response: ApiResponse,
) -> super::Response {
    let len = response.body.len().to_string();
    let mut headers: Vec<(&str, &str)> = vec![
        ("Content-Type", response.content_type),
        ("Content-Length", &len),
    ];
    for (k, v) in &response.extra_headers {
        headers.push((k, v));
    }
    conn.respond(
        head,
        response.status,
        &headers,
        Some(Bytes::from(response.body)),
    )
}

#[cfg(test)]
mod tests {
    use super::super::tests::{conn, head, response, text};
    use super::*;

    #[test]
    fn wrong_credentials_block_the_address_for_a_minute() {
        use crate::server::api::logins::{BLOCK_MS, MAX_FAILURES};
        let mut c = conn(
            "[http_api]\nenabled = true\n[http_api.auth]\nusername = \"u\"\npassword = \"p\"\n",
            4,
        );
        let ask = |c: &mut HttpConn, auth: &str, now: u64| {
            let h = head(&format!(
                "GET /api/v1/versions HTTP/1.1\r\nHost: x\r\n{auth}\r\n"
            ));
            response(handle(c, &h, &Route::Api("/api/v1/versions".into()), now).unwrap()).status
        };
        let wrong = "Authorization: Basic dTp4\r\n"; // u:x
        let right = "Authorization: Basic dTpw\r\n"; // u:p
                                                     // Asking without credentials (as browsers do first) is no failure.
        for _ in 0..10 {
            assert_eq!(ask(&mut c, "", 0), 401);
        }
        for _ in 0..MAX_FAILURES {
            assert_eq!(ask(&mut c, wrong, 1), 401);
        }
        assert_eq!(
            ask(&mut c, right, 2),
            429,
            "blocked, even with the right password"
        );
        assert_eq!(ask(&mut c, right, 1 + BLOCK_MS), 200);
        // A right one forgets the earlier wrong ones.
        for _ in 0..MAX_FAILURES - 1 {
            assert_eq!(ask(&mut c, wrong, 2 + BLOCK_MS), 401);
        }
        assert_eq!(ask(&mut c, right, 2 + BLOCK_MS), 200);
        assert_eq!(ask(&mut c, wrong, 2 + BLOCK_MS), 401);
        assert_eq!(ask(&mut c, right, 2 + BLOCK_MS), 200);
    }

    #[test]
    fn extensions_answer_in_the_api_envelope_behind_its_auth() {
        let mut c = conn(
            "[http_api]\nenabled = true\n[http_api.auth]\nusername = \"u\"\npassword = \"p\"\n",
            8,
        );
        let answer = |now: u64, path: &str| {
            (
                serde_json::json!({ "path": path, "now": now }).to_string(),
                6000,
            )
        };
        c.ctx.api.extensions.push(ApiExtension {
            prefix: "/api/v1/gb28181",
            answer: Rc::new(answer),
        });
        let get =
            |auth: &str| format!("GET /api/v1/gb28181/devices HTTP/1.1\r\nHost: h\r\n{auth}\r\n");
        let refused = response(c.handle_request(&head(&get("")), 5));
        assert!(text(&refused.head).starts_with("HTTP/1.1 401 "));
        assert!(text(&refused.head).contains("WWW-Authenticate: Basic"));
        // "u:p" in base64.
        let r = response(c.handle_request(&head(&get("Authorization: Basic dTpw\r\n")), 5));
        assert!(text(&r.head).starts_with("HTTP/1.1 200 "));
        let body = r.to_bytes();
        let end = body.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let json: serde_json::Value = serde_json::from_slice(&body[end..]).unwrap();
        assert_eq!(json["code"], 6000);
        assert_eq!(json["path"], "/api/v1/gb28181/devices");
        assert_eq!(json["now"], 5);
        assert_eq!(json["server"], c.ctx.api.settings.server_id.as_str());
        assert_eq!(json["service"], c.ctx.api.settings.service_id.as_str());
        assert_eq!(json["pid"], std::process::id().to_string());
        assert_eq!(c.record.kind.get(), ClientKind::Api);
    }
}
