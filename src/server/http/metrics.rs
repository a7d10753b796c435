//! `GET /metrics` (`server::metrics` makes the text): the API's credentials when
//! `http_api.auth` is on (Prometheus sends them with `basic_auth`; `read_only_open` opens it
//! like any GET), at most `MAX_SCRAPES` at once (503 past that).

use bytes::Bytes;

use super::{Answer, HttpConn, Route};
use crate::server::api;
use crate::server::metrics::{render, MAX_SCRAPES};
use crate::wire::http::{Method, RequestHead};
use crate::wire::prometheus::CONTENT_TYPE;

pub fn handle(conn: &mut HttpConn, head: &RequestHead, route: &Route, _now: u64) -> Option<Answer> {
    let Route::Metrics = route else {
        return None;
    };
    if !matches!(head.method, Method::Get | Method::Head) {
        return Some(Answer::Response(conn.text(head, 405, "method not allowed")));
    }
    let server = &conn.ctx.server;
    let config = server.config();
    if !api::authorized(
        config.api.auth.as_ref(),
        head.method,
        head.authorization.as_deref(),
    ) {
        let headers = [
            ("WWW-Authenticate", "Basic realm=\"tinysrs\""),
            ("Content-Length", "0"),
        ];
        return Some(Answer::Response(conn.respond(head, 401, &headers, None)));
    }
    if server.scrapes.get() >= MAX_SCRAPES {
        let m = "too many scrapes at once; try again shortly";
        return Some(Answer::Response(conn.text(head, 503, m)));
    }
    conn.scrape = Some(server.scrapes.enter());
    let body = render(server, &conn.ctx.api.settings);
    let len = body.len().to_string();
    let headers = [("Content-Type", CONTENT_TYPE), ("Content-Length", &len)];
    Some(Answer::Response(conn.respond(
        head,
        200,
        &headers,
        Some(Bytes::from(body)),
    )))
}
