use super::*;

/// Python 3.11 `http.server` (`BaseHTTPRequestHandler`, HTTP/1.0) answering SRS's allow body.
const PYTHON_ALLOW: &[u8] = b"HTTP/1.0 200 OK\r\n\
Server: BaseHTTP/0.6 Python/3.11.2\r\n\
Date: Sun, 06 Dec 2026 02:40:00 GMT\r\n\
Content-Type: text/plain\r\n\
Content-Length: 1\r\n\r\n0";

/// Go 1.21 `net/http` (SRS's `research/api-server`) answering `{"code":0}` chunked, as a
/// handler that writes without a length does past its buffer.
const GO_CHUNKED: &[u8] = b"HTTP/1.1 200 OK\r\n\
Content-Type: application/json\r\n\
Date: Sun, 06 Dec 2026 02:40:00 GMT\r\n\
Transfer-Encoding: chunked\r\n\r\n\
5\r\n{\"cod\r\n\
6;ext=1\r\ne\":0}\n\r\n\
0\r\n\
X-Trailer: a\r\n\r\n";

/// nginx 1.22 refusing with 403 and an HTML body.
const NGINX_403: &[u8] = b"HTTP/1.1 403 Forbidden\r\n\
Server: nginx/1.22.1\r\n\
Content-Type: text/html\r\n\
Content-Length: 9\r\n\
Connection: close\r\n\r\nforbidden";

/// A server that answers 100 Continue unasked, then a close-delimited body.
const CONTINUE_THEN_CLOSE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n\
HTTP/1.1 201 Created\r\nConnection: close\r\n\r\n{\"code\": 0}";

fn read_all(input: &[u8], max_body: usize) -> Result<(u16, Vec<u8>), HttpError> {
    let mut r = ResponseReader::new(max_body);
    if !r.handle_bytes(input)? {
        r.handle_eof()?;
    }
    Ok((r.status(), r.body().to_vec()))
}

#[test]
fn golden_responses() {
    assert_eq!(read_all(PYTHON_ALLOW, 64).unwrap(), (200, b"0".to_vec()));
    assert_eq!(
        read_all(GO_CHUNKED, 64).unwrap(),
        (200, b"{\"code\":0}\n".to_vec())
    );
    assert_eq!(
        read_all(NGINX_403, 64).unwrap(),
        (403, b"forbidden".to_vec())
    );
    assert_eq!(
        read_all(CONTINUE_THEN_CLOSE, 64).unwrap(),
        (201, b"{\"code\": 0}".to_vec())
    );
}

/// Fed in two pieces cut at every byte, and byte by byte: the same response.
#[test]
fn every_cut_gives_the_same_response() {
    for input in [PYTHON_ALLOW, GO_CHUNKED, NGINX_403, CONTINUE_THEN_CLOSE] {
        let whole = read_all(input, 64).unwrap();
        for cut in 0..=input.len() {
            let mut r = ResponseReader::new(64);
            let mut done = r.handle_bytes(&input[..cut]).unwrap();
            if !done {
                done = r.handle_bytes(&input[cut..]).unwrap();
            }
            if !done {
                r.handle_eof().unwrap();
            }
            assert_eq!((r.status(), r.body().to_vec()), whole, "cut at {cut}");
        }
        let mut r = ResponseReader::new(64);
        let mut done = false;
        for b in input {
            done = r.handle_bytes(std::slice::from_ref(b)).unwrap();
        }
        if !done {
            r.handle_eof().unwrap();
        }
        assert_eq!((r.status(), r.body().to_vec()), whole, "byte by byte");
    }
}

#[test]
fn bodies_over_the_limit_are_refused_not_buffered() {
    let too_long = b"HTTP/1.1 200 OK\r\nContent-Length: 65\r\n\r\n";
    assert_eq!(
        read_all(too_long, 64).unwrap_err(),
        HttpError::BodyTooLarge { limit: 64 }
    );
    let chunk = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n41\r\n";
    assert_eq!(
        read_all(chunk, 64).unwrap_err(),
        HttpError::BodyTooLarge { limit: 64 }
    );
    let mut close = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
    close.extend_from_slice(&[b'x'; 65]);
    assert_eq!(
        read_all(&close, 64).unwrap_err(),
        HttpError::BodyTooLarge { limit: 64 }
    );
    // A head that never ends stops at MAX_HEAD_LEN.
    let mut endless = b"HTTP/1.1 200 OK\r\n".to_vec();
    while endless.len() < 2 * crate::wire::http::MAX_HEAD_LEN {
        endless.extend_from_slice(b"X-Pad: aaaaaaaaaaaaaaaa\r\n");
    }
    let mut r = ResponseReader::new(64);
    assert!(matches!(
        r.handle_bytes(&endless),
        Err(HttpError::HeadTooLarge { .. }) | Err(HttpError::TooManyHeaders { .. })
    ));
}

#[test]
fn malformed_framing_is_refused() {
    for bad in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n",
        b"HTTP/2 200\r\n\r\n",
        // Found by the fuzzer: httparse takes any three digits.
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 099 Created\r\nConnection: close\r\n\r\n0",
        b"HTTP/1.1 600 Nope\r\nContent-Length: 1\r\n\r\n0",
        b"ICY 200 OK\r\n\r\n",
    ] {
        assert!(read_all(bad, 64).is_err(), "{}", bad.escape_ascii());
    }
    // Cut short.
    let mut r = ResponseReader::new(64);
    r.handle_bytes(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n01")
        .unwrap();
    assert!(r.handle_eof().is_err());
    let mut r = ResponseReader::new(64);
    r.handle_bytes(b"HTTP/1.1 200 OK\r\n").unwrap();
    assert!(r.handle_eof().is_err());
}

#[test]
fn no_body_statuses_and_trailing_bytes() {
    let (status, body) = read_all(
        b"HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\nabc",
        64,
    )
    .unwrap();
    assert_eq!((status, body.as_slice()), (204, &b""[..]));
    let (status, body) =
        read_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n0junk", 64).unwrap();
    assert_eq!((status, body.as_slice()), (200, &b"0"[..]));
}

#[test]
fn chunked_decoder_golden() {
    let mut d = ChunkedDecoder::new();
    let mut out = Vec::new();
    let input = b"4\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\nafter";
    let used = d.decode(input, &mut out, 1024).unwrap();
    assert!(d.is_done());
    assert_eq!(&input[used..], b"after");
    assert_eq!(out, b"Wikipedia in\r\n\r\nchunks.");
}

#[test]
fn request_head_golden_and_injection_refused() {
    let mut out = Vec::new();
    assert!(encode_request_head(
        "POST",
        "/api/v1/streams?x=1",
        &[
            ("Host", "127.0.0.1:8085"),
            ("Content-Type", "application/json"),
            ("Content-Length", "2"),
            ("Connection", "close"),
        ],
        &mut out,
    ));
    assert_eq!(
        out,
        b"POST /api/v1/streams?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8085\r\n\
Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n"
    );
    let mut out = Vec::new();
    assert!(!encode_request_head("POST", "/a b", &[], &mut out));
    assert!(!encode_request_head("POST", "/a\r\nX: y", &[], &mut out));
    assert!(!encode_request_head(
        "POST",
        "/",
        &[("Host", "a\r\nX: y")],
        &mut out
    ));
    assert!(out.is_empty());
}
