//! SIP messages (GB28181 signalling), over TCP (stream decoding) and UDP (datagrams).
//! A decoded message encodes to exactly `encoded_len` bytes, which decode to a message that
//! encodes to the same bytes (encode ∘ decode is a fixpoint on our own output) and which a
//! stream decoder reads back as one whole message even when another follows. Digest
//! headers that parse re-serialize to values that parse to the same credentials/challenge;
//! header accessors never panic.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tinysrs::wire::sip::{self, digest, header, SipMessage};

fn check(message: &mut SipMessage) {
    let first = message.to_bytes();
    assert_eq!(first.len(), message.encoded_len());
    let (again, used) = sip::decode(&first)
        .expect("our encoding decodes")
        .expect("our encoding is complete");
    assert_eq!(used, first.len());
    assert_eq!(again.start, message.start);
    assert_eq!(again.body, message.body);
    assert_eq!(
        again.to_bytes(),
        first,
        "encode(decode(x)) is not a fixpoint"
    );
    let datagram = sip::decode_datagram(&first).expect("our encoding is a datagram");
    assert_eq!(datagram, again);
    // Followed by another message on a stream, it still ends where it ends.
    let mut two = BytesMut::from(&first[..]);
    two.extend_from_slice(&first);
    let (_, used) = sip::decode(&two).expect("decodes").expect("complete");
    assert_eq!(used, first.len());

    for name in ["Authorization", "Proxy-Authorization"] {
        if let Some(value) = message.header(name) {
            if let Ok(creds) = digest::parse_authorization(value) {
                let back = digest::parse_authorization(&creds.header_value())
                    .expect("our Authorization parses");
                assert_eq!(back, creds);
                let _ = digest::verify(&creds, "REGISTER", "12345678");
            }
        }
    }
    for name in ["WWW-Authenticate", "Proxy-Authenticate"] {
        if let Some(value) = message.header(name) {
            if let Ok(challenge) = digest::Challenge::parse(value) {
                let back = digest::Challenge::parse(&challenge.header_value())
                    .expect("our challenge parses");
                assert_eq!(back, challenge);
            }
        }
    }
    let _ = (message.cseq(), message.call_id(), message.expires());
    let _ = (message.from_tag(), message.to_tag(), message.from_user());
    let _ = (
        message.to_user(),
        message.via_branch(),
        message.content_length(),
    );
    for (_, value) in &message.headers {
        let _ = header::params(value).count();
        let _ = header::split_list(value).count();
        let _ = header::uri_user(header::uri(value));
    }
    if message.method().is_some() {
        let _ = message.response_to(200, "OK", Some("tag"));
    }
    message.stamp_received("192.0.2.1", 5060);
}

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((mut message, used))) = sip::decode(data) {
        assert!(used <= data.len());
        check(&mut message);
    }
    if let Ok((mut message, _)) = sip::decode_datagram_checked(data) {
        check(&mut message);
    }
});
