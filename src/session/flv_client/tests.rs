//! The HTTP-FLV client against golden responses, each cut at every byte.

use super::*;
use crate::wire::flv::{encode_file_header, Tag};

fn config() -> FlvClientConfig {
    FlvClientConfig {
        host: "127.0.0.1:8080".into(),
        path: "/live/cam.flv".into(),
        max_tag_len: 1000,
        setup_timeout_ms: 5_000,
    }
}

/// An FLV stream: the file header, `onMetaData`, `|RtmpSampleAccess` (skipped), a video and
/// an audio tag.
fn flv() -> Vec<u8> {
    let mut out = BytesMut::new();
    encode_file_header(true, true, &mut out);
    let tags = [
        (
            TagType::Script,
            0,
            &b"\x02\x00\x0aonMetaData\x08\x00\x00\x00\x00\x00\x00\x09"[..],
        ),
        (
            TagType::Script,
            0,
            &b"\x02\x00\x11|RtmpSampleAccess\x01\x01\x01\x01"[..],
        ),
        (
            TagType::Video,
            40,
            &[0x17, 1, 0, 0, 0, 0, 0, 0, 5, 0x65, 1, 2, 3, 4][..],
        ),
        (TagType::Audio, 0x0100_0023, &[0xaf, 1, 0x21, 0x10][..]),
    ];
    for (tag_type, timestamp, body) in tags {
        Tag {
            tag_type,
            timestamp,
            body: Bytes::copy_from_slice(body),
        }
        .encode(&mut out);
    }
    out.to_vec()
}

fn chunked(body: &[u8]) -> Vec<u8> {
    let mut out =
        b"HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    for piece in body.chunks(100) {
        out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Feeds `response` in pieces of `step` bytes, polling after each; the events, or the error.
fn play(response: &[u8], step: usize) -> (Vec<ClientEvent>, Option<FlvClientError>) {
    let mut c = FlvClient::new(config(), 0).unwrap();
    let request = c.poll_transmit().unwrap();
    assert!(request.starts_with(b"GET /live/cam.flv HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"));
    let mut events = Vec::new();
    for piece in response.chunks(step) {
        if let Err(e) = c.handle_bytes(0, piece) {
            return (events, Some(e));
        }
        loop {
            match c.poll_event() {
                Ok(Some(e)) => events.push(e),
                Ok(None) => break,
                Err(e) => return (events, Some(e)),
            }
        }
    }
    (events, None)
}

fn kinds(events: &[ClientEvent]) -> Vec<(Option<MediaKind>, u32, usize)> {
    events
        .iter()
        .map(|e| match e {
            ClientEvent::Media {
                kind,
                timestamp,
                payload,
            } => (Some(*kind), *timestamp, payload.len()),
            _ => (None, 0, 0),
        })
        .collect()
}

const EXPECTED: [(Option<MediaKind>, u32, usize); 4] = [
    (None, 0, 0),
    (Some(MediaKind::Metadata), 0, 21),
    (Some(MediaKind::Video), 40, 14),
    (Some(MediaKind::Audio), 0x0100_0023, 4),
];

#[test]
fn a_chunked_live_flv_gives_the_same_events_at_every_cut() {
    let response = chunked(&flv());
    for step in 1..=response.len() {
        let (events, error) = play(&response, step);
        assert!(error.is_none(), "step {step}: {error:?}");
        assert_eq!(kinds(&events), EXPECTED, "step {step}");
    }
}

#[test]
fn a_content_length_body_ends_the_session() {
    let body = flv();
    let mut response =
        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    response.extend_from_slice(&body);
    let (events, error) = play(&response, 7);
    assert!(error.is_none(), "{error:?}");
    assert_eq!(kinds(&events), EXPECTED);
    let mut c = FlvClient::new(config(), 0).unwrap();
    c.handle_bytes(0, &response).unwrap();
    assert!(matches!(
        c.handle_bytes(0, b"more"),
        Err(FlvClientError::Ended)
    ));
}

#[test]
fn a_close_delimited_body_plays() {
    let mut response = b"HTTP/1.0 200 OK\r\nContent-Type: video/x-flv\r\n\r\n".to_vec();
    response.extend_from_slice(&flv());
    let (events, error) = play(&response, 13);
    assert!(error.is_none(), "{error:?}");
    assert_eq!(kinds(&events), EXPECTED);
}

#[test]
fn a_status_other_than_200_is_an_error() {
    for (response, status) in [
        (
            &b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"[..],
            404,
        ),
        (
            b"HTTP/1.1 302 Found\r\nLocation: http://x/live/cam.flv\r\n\r\n",
            302,
        ),
        (b"HTTP/1.1 204 No Content\r\n\r\n", 204),
    ] {
        let (events, error) = play(response, usize::MAX);
        assert!(events.is_empty());
        assert!(
            matches!(error, Some(FlvClientError::Status(s)) if s == status),
            "{error:?}"
        );
    }
}

#[test]
fn not_flv_and_oversized_tags_are_errors() {
    let mut html = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec();
    html.extend_from_slice(b"<html>not found</html>");
    let (_, error) = play(&html, usize::MAX);
    assert!(matches!(error, Some(FlvClientError::Flv(_))), "{error:?}");

    let mut big = BytesMut::new();
    encode_file_header(false, true, &mut big);
    Tag {
        tag_type: TagType::Video,
        timestamp: 0,
        body: Bytes::from(vec![0x17; 1001]),
    }
    .encode(&mut big);
    let (_, error) = play(&chunked(&big[..40]), usize::MAX);
    assert!(
        matches!(
            error,
            Some(FlvClientError::Flv(FlvError::TagTooLong { .. }))
        ),
        "{error:?}"
    );
}

#[test]
fn a_driver_that_does_not_poll_is_refused_past_the_bound() {
    let mut c = FlvClient::new(config(), 0).unwrap();
    c.handle_bytes(0, b"HTTP/1.1 200 OK\r\n\r\n").unwrap();
    let piece = vec![0u8; MAX_READ];
    c.handle_bytes(0, &piece).unwrap();
    let err = c.handle_bytes(0, &piece).unwrap_err();
    assert!(matches!(err, FlvClientError::PendingTooLarge(_)), "{err}");
}

#[test]
fn no_tag_within_the_setup_timeout_is_an_error() {
    let mut c = FlvClient::new(config(), 1_000).unwrap();
    assert_eq!(c.poll_timeout(), 6_000);
    c.handle_timeout(5_999).unwrap();
    assert!(matches!(
        c.handle_timeout(6_000),
        Err(FlvClientError::Timeout("response head"))
    ));
    let (_, error) = play(&chunked(&flv()), usize::MAX);
    assert!(error.is_none());
}

#[test]
fn a_target_that_could_split_the_request_is_refused() {
    let mut bad = config();
    bad.path = "/live/cam.flv HTTP/1.1\r\nX: y".into();
    assert!(matches!(
        FlvClient::new(bad, 0),
        Err(FlvClientError::BadRequest)
    ));
}

/// Every byte of a good response flipped in turn, fed in 3 pieces: errors, never a panic
/// (the fuzz target `flv_client` goes further).
#[test]
fn a_flipped_byte_anywhere_is_an_error_or_ignored_not_a_panic() {
    let good = chunked(&flv());
    for at in 0..good.len() {
        for flip in [0x01, 0x80, 0xff] {
            let mut bad = good.clone();
            bad[at] ^= flip;
            let _ = play(&bad, good.len() / 3 + 1);
        }
    }
}
