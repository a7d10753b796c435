//! RTSP on a connection: messages mixed with interleaved `$` frames. Fed in random pieces,
//! the decoder yields the same items and error as fed at once (and `decode_buf` the same as
//! `decode`); a decoded message re-encodes to exactly `encoded_len` bytes that decode to a
//! message encoding to the same bytes; typed headers that parse re-encode to values that
//! parse to the same; URL parsing and control resolution never panic.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tinysrs::wire::rtsp::header::{RtpInfo, Session, Transport};
use tinysrs::wire::rtsp::{self, url, Item, Message, RtspError};

fn items(pieces: &[&[u8]]) -> (Vec<Item>, Option<RtspError>) {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            match rtsp::decode(&buf) {
                Ok(Some((item, used))) => {
                    assert!(used > 0 && used <= buf.len());
                    buf.drain(..used);
                    out.push(item);
                }
                Ok(None) => break,
                Err(e) => return (out, Some(e)),
            }
        }
    }
    (out, None)
}

fn items_buf(pieces: &[&[u8]]) -> (Vec<Item>, Option<RtspError>) {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            match rtsp::decode_buf(&mut buf) {
                Ok(Some(item)) => out.push(item),
                Ok(None) => break,
                Err(e) => return (out, Some(e)),
            }
        }
    }
    (out, None)
}

fn check(m: &Message) {
    let bytes = m.to_bytes();
    assert_eq!(bytes.len(), m.encoded_len());
    let (again, used) = match rtsp::decode(&bytes) {
        Ok(Some((Item::Message(again), used))) => (again, used),
        other => panic!("our encoding does not decode: {other:?}"),
    };
    assert_eq!(used, bytes.len());
    assert_eq!(again.start, m.start);
    assert_eq!(again.body, m.body);
    assert_eq!(
        again.to_bytes(),
        bytes,
        "encode(decode(x)) is not a fixpoint"
    );

    if let Some(session) = m.session() {
        assert_eq!(Session::parse(&session.encode()), Some(session));
    }
    for t in m.transports() {
        assert_eq!(Transport::parse(&t.encode()), Some(t));
    }
    let info = m.rtp_info();
    assert_eq!(RtpInfo::parse_list(&RtpInfo::encode_list(&info)), info);
    for c in m.challenges() {
        let _ = c.encode();
    }
    let _ = (m.cseq(), m.public(), m.content_length());
    let base = m.content_base("rtsp://127.0.0.1/live");
    if let Some(uri) = m.request_uri() {
        let _ = url::Url::parse(uri).map(|u| u.request_uri());
        let _ = url::resolve(&base, Some(uri));
    }
    for (_, value) in &m.headers {
        let _ = rtsp::header::parse_basic(value);
        let _ = url::resolve(&base, Some(value));
    }
    if m.method().is_some() {
        let _ = m.response_to(200);
    }
}

fuzz_target!(|data: &[u8]| {
    let (payload, pieces) = tinysrs_fuzz::split(data);
    let whole = items(&[payload]);
    assert_eq!(items(&pieces), whole, "cut input decoded differently");
    assert_eq!(items_buf(&pieces), whole, "decode_buf differs from decode");
    for item in &whole.0 {
        match item {
            Item::Message(m) => check(m),
            Item::Interleaved { channel, payload } => {
                let mut out = Vec::new();
                rtsp::encode_interleaved(*channel, payload, &mut out).expect("fits");
                assert_eq!(out.len(), rtsp::INTERLEAVED_HEADER_LEN + payload.len());
            }
        }
    }
});
