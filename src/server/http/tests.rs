//! The HTTP layer without sockets: requests as bytes in, response plans out, the clock passed
//! in. Live-stream tests are in `flv.rs` (they need the FLV format).

use std::rc::Rc;

use super::*;
use crate::config::Config;
use crate::live::Hub;
use crate::server::stats::ClientRecord;
use crate::testutil::TempDir;
use crate::wire::http::decode_request_head;

/// A connection of client 7 from 192.0.2.1 to a server with `toml` as its config.
pub(crate) fn conn(toml: &str, max_streams: usize) -> HttpConn {
    let config = Config::from_toml_str(toml, "test").expect("test config");
    let server = ServerCtx::new(config, Hub::new(max_streams));
    let record = ClientRecord::new(7, "testcid", "192.0.2.1:40000".parse().unwrap(), 0);
    HttpConn::new(ctx(server), Rc::new(record))
}

#[cfg(feature = "api")]
fn ctx(server: ServerCtx) -> HttpCtx {
    let settings = Rc::new(crate::server::api::ApiSettings::new(0, 1));
    HttpCtx {
        server,
        site: &HTTP_SITE,
        api: ApiCtx {
            settings,
            extensions: Vec::new(),
        },
    }
}

#[cfg(not(feature = "api"))]
fn ctx(server: ServerCtx) -> HttpCtx {
    HttpCtx {
        server,
        site: &HTTP_SITE,
    }
}

pub(crate) fn head(request: &str) -> RequestHead {
    decode_request_head(request.as_bytes())
        .expect("valid head")
        .expect("complete head")
        .0
}

/// The response of an answer that must not be a live stream.
pub(crate) fn response(answer: Answer) -> Response {
    match answer {
        Answer::Response(r) => r,
        Answer::Live(_) => panic!("a live stream where a response was expected"),
        #[cfg(feature = "hooks")]
        Answer::Decide(_) => panic!("a hook decision where a response was expected"),
    }
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ask(conn: &mut HttpConn, request: &str) -> Response {
    response(conn.handle_request(&head(request), 0))
}

#[test]
fn options_is_200_on_every_path_with_cors() {
    let mut c = conn("", 8);
    for target in ["/live/a.flv", "/api/v1/versions", "/index.html", "/x/y/z"] {
        let r = ask(
            &mut c,
            &format!("OPTIONS {target} HTTP/1.1\r\nHost: h\r\n\r\n"),
        );
        let h = text(&r.head);
        assert!(h.starts_with("HTTP/1.1 200 "), "{h}");
        assert!(h.contains("Content-Length: 0\r\n"), "{h}");
        assert!(h.contains("Access-Control-Allow-Origin: *\r\n"), "{h}");
        assert!(matches!(r.body, Body::Empty));
        assert!(!r.close);
    }
}

#[test]
fn cors_headers_follow_crossdomain() {
    let mut on = conn("[http_server]\ncrossdomain = true\n", 8);
    let mut off = conn("[http_server]\ncrossdomain = false\n", 8);
    let request = "GET /nothing.html HTTP/1.1\r\nHost: h\r\n\r\n";
    let with = text(&ask(&mut on, request).head);
    let without = text(&ask(&mut off, request).head);
    for (name, _) in CORS_HEADERS {
        assert!(with.contains(&format!("\r\n{name}: ")), "{with}");
        assert!(!without.contains(name), "{without}");
    }
    for h in [&with, &without] {
        assert!(h.contains(&format!("Server: {SERVER}\r\n")), "{h}");
    }
}

#[test]
fn keep_alive_serves_two_requests_then_close_when_asked() {
    let mut c = conn("[http_server]\ndir = \"/nonexistent-tinysrs-root\"\n", 8);
    let first = ask(&mut c, "GET /a.html HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(text(&first.head).starts_with("HTTP/1.1 404 "));
    assert!(text(&first.head).contains("Connection: keep-alive\r\n"));
    assert!(!first.close);
    let second = ask(
        &mut c,
        "GET /b.html HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    assert!(text(&second.head).contains("Connection: close\r\n"));
    assert!(second.close);
    // HTTP/1.0 closes unless asked to keep alive.
    let old = ask(&mut c, "GET /c.html HTTP/1.0\r\n\r\n");
    assert!(old.close);
}

#[test]
fn static_files_are_file_plans_and_head_has_no_body() {
    let dir = TempDir::new("http-static");
    std::fs::write(dir.file("index.html"), b"0123456789").unwrap();
    let toml = format!("[http_server]\ndir = \"{}\"\n", dir.0.display());
    let mut c = conn(&toml, 8);

    let r = ask(&mut c, "GET /index.html HTTP/1.1\r\nHost: h\r\n\r\n");
    let h = text(&r.head);
    assert!(h.starts_with("HTTP/1.1 200 "), "{h}");
    assert!(h.contains("Content-Length: 10\r\n"), "{h}");
    let Body::File(f) = r.body else {
        panic!("not a file plan: {:?}", r.body)
    };
    assert_eq!((f.start, f.len), (0, 10));
    assert!(f.path.ends_with("index.html"));
    assert!(text(&f.fallback).starts_with("HTTP/1.1 404 "));

    let r = ask(
        &mut c,
        "GET /index.html HTTP/1.1\r\nHost: h\r\nRange: bytes=2-4\r\n\r\n",
    );
    assert!(text(&r.head).starts_with("HTTP/1.1 206 "));
    assert!(text(&r.head).contains("Content-Range: bytes 2-4/10\r\n"));
    let Body::File(f) = r.body else {
        panic!("not a file plan")
    };
    assert_eq!((f.start, f.len), (2, 3));

    let r = ask(&mut c, "HEAD /index.html HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(text(&r.head).contains("Content-Length: 10\r\n"));
    assert!(matches!(r.body, Body::Empty));
}

#[test]
fn live_routes_take_get_and_head_only() {
    let mut c = conn("", 8);
    for request in [
        "POST /live/a.flv HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
        "PUT /live/a.m3u8 HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
        "DELETE /live/a.ts HTTP/1.1\r\nHost: h\r\n\r\n",
    ] {
        let r = ask(&mut c, request);
        assert!(text(&r.head).starts_with("HTTP/1.1 405 "), "{request}");
        assert!(r.to_bytes().ends_with(b"method not allowed\n"));
        assert!(!r.close);
    }
}

#[test]
fn bodies_over_the_limit_and_bad_heads_are_refused() {
    let post = |len: usize| {
        head(&format!(
            "POST /api/v1/x HTTP/1.1\r\nHost: h\r\nContent-Length: {len}\r\n\r\n"
        ))
    };
    let c = conn("", 8);
    let max = Config::embedded().http.max_body_bytes;
    assert_eq!(max, 64 * 1024, "the shipped default");
    assert_eq!(c.check_body(&post(10)), Ok(10));
    assert_eq!(c.check_body(&post(max)), Ok(max as u64));
    let refusal = text(&c.check_body(&post(max + 1)).unwrap_err());
    assert!(refusal.starts_with("HTTP/1.1 413 "), "{refusal}");
    assert!(refusal.contains("Connection: close\r\n"));
    assert!(refusal.ends_with("request body too large"));
    let chunked = head("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert!(c.check_body(&chunked).is_err());
    let bad = text(&c.bad_head(400));
    assert!(bad.starts_with("HTTP/1.1 400 "), "{bad}");

    // A lowered http_server.max_body_bytes is the limit.
    let small = conn("[http_server]\nmax_body_bytes = 1000\n", 8);
    assert_eq!(small.check_body(&post(1000)), Ok(1000));
    assert!(small.check_body(&post(1001)).is_err());
}

#[test]
fn stream_paths_of_compiled_out_or_disabled_outputs_are_404() {
    let mut c = conn(
        "[vhost.__defaultVhost__.http_remux]\nenabled = false\n[vhost.__defaultVhost__.hls]\nenabled = false\n",
        8,
    );
    let r = ask(&mut c, "GET /live/a.flv HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(text(&r.head).starts_with("HTTP/1.1 404 "));
    assert!(r.to_bytes().ends_with(b"not found\n"));
}

/// Issue 17 item 5: the API's own port answers the API and 404 for every other path, whatever
/// the method; OPTIONS (CORS preflight) stays 200.
#[cfg(feature = "api")]
#[test]
fn the_api_site_serves_the_api_only() {
    let dir = TempDir::new("http-api-site");
    std::fs::write(dir.file("index.html"), b"0123456789").unwrap();
    let toml = format!("[http_server]\ndir = \"{}\"\n", dir.0.display());
    let mut c = conn(&toml, 8);
    c.ctx.site = &API_SITE;
    let r = ask(&mut c, "GET /api/v1/versions HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(
        text(&r.head).starts_with("HTTP/1.1 200 "),
        "{}",
        text(&r.head)
    );
    assert!(text(&r.to_bytes()).contains("\"major\""));
    for request in [
        "GET /live/a.flv HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET /live/a.ts HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET /live/a.m3u8 HTTP/1.1\r\nHost: h\r\n\r\n",
        "POST /live/a.flv HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
        "GET /index.html HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\n\r\n",
    ] {
        let r = ask(&mut c, request);
        assert!(text(&r.head).starts_with("HTTP/1.1 404 "), "{request}");
    }
    assert!(c.ctx.server.hub.borrow().is_empty(), "no player attached");
    let r = ask(&mut c, "OPTIONS /live/a.flv HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(text(&r.head).starts_with("HTTP/1.1 200 "));
    // The same connection on the HTTP server gets the file.
    c.ctx.site = &HTTP_SITE;
    let r = ask(&mut c, "GET /index.html HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(text(&r.head).starts_with("HTTP/1.1 200 "));
}
