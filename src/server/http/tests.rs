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
        Answer::Deferred(_) => panic!("disk work where a response was expected"),
        #[cfg(any(feature = "hooks", feature = "edge"))]
        Answer::Decide(_) => panic!("a hook decision where a response was expected"),
    }
}

/// The response to `request`, with any disk work run here (as the disk thread would).
pub(crate) fn ask_head(conn: &mut HttpConn, request: &RequestHead) -> Response {
    match conn.handle_request(request, 0) {
        Answer::Deferred(d) => (d.finish)(conn, request, (d.work)()),
        other => response(other),
    }
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ask(conn: &mut HttpConn, request: &str) -> Response {
    ask_head(conn, &head(request))
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

/// Issue 11: recordings below `dvr.http_mount`, planned as disk work; `.part` files, other
/// extensions, traversal and symlinks out of the root are refused; an FLV with `?start=` is
/// its head then the file from a keyframe.
#[cfg(feature = "dvr")]
#[test]
fn recordings_below_the_mount() {
    use crate::wire::flv::{encode_file_header, Tag, TagType};
    let dir = TempDir::new("http-dvr");
    let root = dir.file("rec");
    std::fs::create_dir_all(root.join("live")).unwrap();
    std::fs::write(root.join("live/cam.1.mp4"), b"0123456789").unwrap();
    std::fs::write(root.join("live/cam.2.mp4.part"), b"01").unwrap();
    std::fs::write(root.join("live/notes.txt"), b"x").unwrap();
    std::fs::write(dir.file("secret.mp4"), b"secret").unwrap();
    std::os::unix::fs::symlink(dir.file("secret.mp4"), root.join("live/out.mp4")).unwrap();
    // An FLV: header, metadata, sequence header (the head), then two GOPs.
    let mut flv = Vec::new();
    encode_file_header(false, true, &mut flv);
    let mut tag = |t, ts, body: Vec<u8>| {
        let at = flv.len() as u64;
        Tag {
            tag_type: t,
            timestamp: ts,
            body: body.into(),
        }
        .encode(&mut flv);
        at
    };
    tag(TagType::Script, 0, b"\x02\x00\x0aonMetaData".to_vec());
    tag(TagType::Video, 0, vec![0x17, 0, 0, 0, 0, 1]);
    let first = tag(TagType::Video, 0, vec![0x17, 1, 0, 0, 0, 5]);
    tag(TagType::Video, 40, vec![0x27, 1, 0, 0, 0, 6]);
    let second = tag(TagType::Video, 80, vec![0x17, 1, 0, 0, 0, 7]);
    tag(TagType::Video, 120, vec![0x27, 1, 0, 0, 0, 8]);
    std::fs::write(root.join("live/cam.3.flv"), &flv).unwrap();
    let toml = format!(
        "[vhost.__defaultVhost__.dvr]\ndvr_path = \"{}/[app]/[stream].[timestamp].flv\"\n",
        root.display()
    );
    let mut c = conn(&toml, 8);
    let get = |c: &mut HttpConn, target: &str, extra: &str| {
        ask(
            c,
            &format!("GET {target} HTTP/1.1\r\nHost: h\r\n{extra}\r\n"),
        )
    };

    let r = get(&mut c, "/dvr/live/cam.1.mp4", "Range: bytes=2-4\r\n");
    let h = text(&r.head);
    assert!(h.starts_with("HTTP/1.1 206 "), "{h}");
    assert!(h.contains("Content-Type: video/mp4\r\n"), "{h}");
    assert!(h.contains("Content-Range: bytes 2-4/10\r\n"), "{h}");
    assert!(matches!(r.body, Body::File(ref f) if (f.start, f.len) == (2, 3)));
    for (target, status) in [
        ("/dvr/live/cam.2.mp4.part", 404),
        ("/dvr/live/notes.txt", 404),
        ("/dvr/live/", 404),
        ("/dvr/live/out.mp4", 403),
        ("/dvr/../secret.mp4", 403),
        ("/dvr/live/%2e%2e/%2e%2e/secret.mp4", 403),
        ("/dvr/live/missing.mp4", 404),
    ] {
        let h = text(&get(&mut c, target, "").head);
        assert!(
            h.starts_with(&format!("HTTP/1.1 {status} ")),
            "{target}: {h}"
        );
    }
    let r = ask(
        &mut c,
        "POST /dvr/live/cam.1.mp4 HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
    );
    assert!(text(&r.head).starts_with("HTTP/1.1 405 "));

    let path = std::fs::canonicalize(root.join("live/cam.3.flv")).unwrap();
    let total = flv.len() as u64;
    for (start, from) in [(0, first), (first + 1, second), (second, second)] {
        let r = get(&mut c, &format!("/dvr/live/cam.3.flv?start={start}"), "");
        let h = text(&r.head);
        let len = first + total - from;
        assert!(h.starts_with("HTTP/1.1 200 "), "{h}");
        assert!(h.contains("Content-Type: video/x-flv\r\n"), "{h}");
        assert!(h.contains(&format!("Content-Length: {len}\r\n")), "{h}");
        let Body::Pieces(pieces) = r.body else {
            panic!("not pieces: {:?}", r.body)
        };
        assert_eq!(
            pieces,
            vec![
                Piece::File {
                    path: path.clone(),
                    start: 0,
                    len: first
                },
                Piece::File {
                    path: path.clone(),
                    start: from,
                    len: total - from
                }
            ],
            "start={start}"
        );
    }
    // Past the last keyframe: the head alone. Without start: the whole file.
    let r = get(
        &mut c,
        &format!("/dvr/live/cam.3.flv?start={}", second + 1),
        "",
    );
    assert!(text(&r.head).contains(&format!("Content-Length: {first}\r\n")));
    let r = get(&mut c, "/dvr/live/cam.3.flv", "");
    assert!(matches!(r.body, Body::File(ref f) if f.len == total));
}

#[cfg(all(feature = "api", feature = "dvr"))]
#[test]
fn playbacks_at_once_are_bounded_and_given_back() {
    use crate::server::dvr::playback::MAX_PLAYBACKS;
    let toml = "[vhost.__defaultVhost__.dvr]\nenabled = true\n";
    let config = Config::from_toml_str(toml, "test").expect("test config");
    let server = ServerCtx::new(config, Hub::new(8));
    let new_conn = |id: u32| {
        let record = ClientRecord::new(id, "testcid", "192.0.2.1:40000".parse().unwrap(), 0);
        HttpConn::new(ctx(server.clone()), Rc::new(record))
    };
    let playback = head(
        "GET /api/v1/dvr/playback?stream=live/a&start=0&duration=10 HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    let mut playing: Vec<HttpConn> = (0..MAX_PLAYBACKS as u32).map(new_conn).collect();
    for c in &mut playing {
        assert!(matches!(
            c.handle_request(&playback, 0),
            Answer::Deferred(_)
        ));
    }
    let mut late = new_conn(99);
    let r = response(late.handle_request(&playback, 0));
    assert_eq!(r.status, 503, "{}", text(&r.head));
    // The next request on a connection gives its place back, and so does closing one.
    let versions = head("GET /api/v1/versions HTTP/1.1\r\nHost: x\r\n\r\n");
    let _ = playing[0].handle_request(&versions, 0);
    assert!(matches!(
        late.handle_request(&playback, 0),
        Answer::Deferred(_)
    ));
    assert_eq!(
        response(new_conn(100).handle_request(&playback, 0)).status,
        503
    );
    drop(playing.pop());
    assert!(matches!(
        new_conn(101).handle_request(&playback, 0),
        Answer::Deferred(_)
    ));
}

#[test]
fn file_reads_go_in_chunks_and_a_short_file_is_an_error() {
    let mut reads = FileReads::new(10, 150);
    assert_eq!(reads.next_read(64), Some((10, 64)));
    reads.handle_read(64).unwrap();
    assert_eq!(reads.next_read(64), Some((74, 64)));
    reads.handle_read(64).unwrap();
    assert_eq!(reads.next_read(64), Some((138, 22)));
    reads.handle_read(22).unwrap();
    assert_eq!(reads.next_read(64), None);
    let mut shrunk = FileReads::new(0, 10);
    assert!(shrunk.handle_read(0).is_err());
    assert_eq!(FileReads::new(0, 0).next_read(64), None);
}

#[test]
fn responses_come_apart_into_parts_pieces_and_a_fallback() {
    let head = Bytes::from_static(b"HTTP/1.1 200 OK\r\n\r\n");
    let response = |body| Response {
        status: 200,
        head: head.clone(),
        body,
        close: false,
    };
    let (parts, pieces, fallback) = response(Body::Bytes(Bytes::from_static(b"x"))).into_parts();
    assert_eq!((parts.len(), pieces.len(), fallback), (2, 0, None));
    let shared = Body::Shared(vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")]);
    let (parts, pieces, _) = response(shared).into_parts();
    assert_eq!((parts.len(), pieces.len()), (3, 0));
    let file = Body::File(FileBody {
        path: "/f".into(),
        start: 1,
        len: 2,
        fallback: Bytes::from_static(b"404"),
    });
    let (parts, pieces, fallback) = response(file).into_parts();
    assert_eq!(parts, vec![head.clone()]);
    let expected = Piece::File {
        path: "/f".into(),
        start: 1,
        len: 2,
    };
    assert_eq!(
        (pieces, fallback),
        (vec![expected], Some(Bytes::from_static(b"404")))
    );
    let (parts, pieces, fallback) =
        response(Body::Pieces(vec![Piece::Bytes(head.clone())])).into_parts();
    assert_eq!((parts.len(), pieces.len(), fallback), (1, 1, None));
}
