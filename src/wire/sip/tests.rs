//! Golden messages (named by the vendor whose shape they follow), framing, tolerance, limits
//! and fuzz loops for the SIP message layer.

use super::digest::{self, Challenge};
use super::header::{self, format_date};
use super::*;
use crate::testutil::XorShift;

/// A Hikvision camera's first REGISTER (UDP, no credentials yet).
const HIK_REGISTER: &[u8] = b"REGISTER sip:34020000002000000001@3402000000 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.168.1.64:5060;rport;branch=z9hG4bK1371463273\r\n\
From: <sip:34020000001320000001@3402000000>;tag=2043466181\r\n\
To: <sip:34020000001320000001@3402000000>\r\n\
Call-ID: 1011047669\r\n\
CSeq: 1 REGISTER\r\n\
Contact: <sip:34020000001320000001@192.168.1.64:5060>\r\n\
Max-Forwards: 70\r\n\
User-Agent: IP Camera\r\n\
Expires: 3600\r\n\
Content-Length: 0\r\n\
\r\n";

/// Our challenge to [`HIK_REGISTER`].
const OUR_401: &[u8] = b"SIP/2.0 401 Unauthorized\r\n\
Via: SIP/2.0/UDP 192.168.1.64:5060;rport=5060;branch=z9hG4bK1371463273;received=192.168.1.64\r\n\
From: <sip:34020000001320000001@3402000000>;tag=2043466181\r\n\
To: <sip:34020000001320000001@3402000000>;tag=8d4f2c1a\r\n\
Call-ID: 1011047669\r\n\
CSeq: 1 REGISTER\r\n\
WWW-Authenticate: Digest realm=\"3402000000\", nonce=\"6fe9ba44a76be22a\", algorithm=MD5\r\n\
Server: tinysrs\r\n\
Content-Length: 0\r\n\
\r\n";

/// The camera's second REGISTER, answering [`OUR_401`] with password `12345678` (the
/// response is checked against `md5sum` in `digest.rs`).
const HIK_REGISTER_AUTH: &[u8] = b"REGISTER sip:34020000002000000001@3402000000 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.168.1.64:5060;rport;branch=z9hG4bK858406394\r\n\
From: <sip:34020000001320000001@3402000000>;tag=2043466181\r\n\
To: <sip:34020000001320000001@3402000000>\r\n\
Call-ID: 1011047669\r\n\
CSeq: 2 REGISTER\r\n\
Contact: <sip:34020000001320000001@192.168.1.64:5060>\r\n\
Authorization: Digest username=\"34020000001320000001\", realm=\"3402000000\", \
nonce=\"6fe9ba44a76be22a\", uri=\"sip:34020000002000000001@3402000000\", \
response=\"6a2143ae65b119e276a75f0a4a8992b7\", algorithm=MD5\r\n\
Max-Forwards: 70\r\n\
User-Agent: IP Camera\r\n\
Expires: 3600\r\n\
Content-Length: 0\r\n\
\r\n";

/// Our 200 OK to [`HIK_REGISTER_AUTH`], with the GB/T 28181 time-sync `Date`.
const OUR_200_REGISTER: &[u8] = b"SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 192.168.1.64:5060;rport=5060;branch=z9hG4bK858406394;received=192.168.1.64\r\n\
From: <sip:34020000001320000001@3402000000>;tag=2043466181\r\n\
To: <sip:34020000001320000001@3402000000>;tag=8d4f2c1a\r\n\
Call-ID: 1011047669\r\n\
CSeq: 2 REGISTER\r\n\
Contact: <sip:34020000001320000001@192.168.1.64:5060>\r\n\
Expires: 3600\r\n\
Date: 2024-05-01T12:00:00.000\r\n\
Server: tinysrs\r\n\
Content-Length: 0\r\n\
\r\n";

/// A Dahua keepalive: LF-only line ends, trailing whitespace, a padded Content-Length.
const DAHUA_KEEPALIVE: &[u8] = b"MESSAGE sip:34020000002000000001@3402000000 SIP/2.0\n\
Via: SIP/2.0/UDP 192.168.1.108:5060;rport;branch=z9hG4bK315475123\n\
From: <sip:34020000001320000002@3402000000>;tag=1827392849\n\
To: <sip:34020000002000000001@3402000000>\n\
Call-ID: 1683746512\n\
CSeq: 20 MESSAGE\n\
Content-Type: Application/MANSCDP+xml \t\n\
Max-Forwards: 70\n\
User-Agent: Dahua \n\
Content-Length:   162\n\
\n\
<?xml version=\"1.0\" encoding=\"GB2312\"?>\n\
<Notify>\n\
<CmdType>Keepalive</CmdType>\n\
<SN>43</SN>\n\
<DeviceID>34020000001320000002</DeviceID>\n\
<Status>OK</Status>\n\
</Notify>\n";

/// A Uniview NVR's Catalog response; the channel name is GB2312 ("摄像机": C9E3 CFF1 BBFA).
const UNIVIEW_CATALOG: &[u8] = b"MESSAGE sip:34020000002000000001@3402000000 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.168.1.30:5060;rport;branch=z9hG4bK-524287-1---e8a1\r\n\
From: <sip:34020000001320000003@3402000000>;tag=uv1928\r\n\
To: <sip:34020000002000000001@3402000000>\r\n\
Call-ID: 5c1f0a2e7d3b\r\n\
CSeq: 3 MESSAGE\r\n\
Max-Forwards: 70\r\n\
Content-Type: Application/MANSCDP+xml\r\n\
Content-Length: 309\r\n\
\r\n\
<?xml version=\"1.0\" encoding=\"GB2312\"?>\r\n\
<Response>\r\n\
<CmdType>Catalog</CmdType>\r\n\
<SN>17</SN>\r\n\
<DeviceID>34020000001320000003</DeviceID>\r\n\
<SumNum>1</SumNum>\r\n\
<DeviceList Num=\"1\">\r\n\
<Item>\r\n\
<DeviceID>34020000001310000001</DeviceID>\r\n\
<Name>\xc9\xe3\xcf\xf1\xbb\xfa</Name>\r\n\
<Status>ON</Status>\r\n\
</Item>\r\n\
</DeviceList>\r\n\
</Response>\r\n";

const INVITE_SDP: &[u8] = b"v=0\r\n\
o=34020000002000000001 0 0 IN IP4 192.168.1.10\r\n\
s=Play\r\n\
c=IN IP4 192.168.1.10\r\n\
t=0 0\r\n\
m=video 9000 RTP/AVP 96 98 97\r\n\
a=recvonly\r\n\
a=rtpmap:96 PS/90000\r\n\
a=rtpmap:98 H264/90000\r\n\
a=rtpmap:97 MPEG4/90000\r\n\
y=0200000001\r\n";

/// Our INVITE for live video of channel 34020000001320000001 (GB/T 28181-2016 §9.2).
const OUR_INVITE: &[u8] = b"INVITE sip:34020000001320000001@3402000000 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.168.1.10:5060;rport;branch=z9hG4bK3925485627\r\n\
From: <sip:34020000002000000001@3402000000>;tag=tsrs5a1b\r\n\
To: <sip:34020000001320000001@3402000000>\r\n\
Call-ID: 7f3a9c21@192.168.1.10\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:34020000002000000001@192.168.1.10:5060>\r\n\
Max-Forwards: 70\r\n\
Subject: 34020000001320000001:0200000001,34020000002000000001:0\r\n\
Content-Type: APPLICATION/SDP\r\n\
Content-Length: 219\r\n\
\r\n\
v=0\r\n\
o=34020000002000000001 0 0 IN IP4 192.168.1.10\r\n\
s=Play\r\n\
c=IN IP4 192.168.1.10\r\n\
t=0 0\r\n\
m=video 9000 RTP/AVP 96 98 97\r\n\
a=recvonly\r\n\
a=rtpmap:96 PS/90000\r\n\
a=rtpmap:98 H264/90000\r\n\
a=rtpmap:97 MPEG4/90000\r\n\
y=0200000001\r\n";

/// The Hikvision camera's 200 OK to [`OUR_INVITE`], with its SDP answer.
const HIK_INVITE_OK: &[u8] = b"SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 192.168.1.10:5060;rport=5060;branch=z9hG4bK3925485627\r\n\
From: <sip:34020000002000000001@3402000000>;tag=tsrs5a1b\r\n\
To: <sip:34020000001320000001@3402000000>;tag=1293049588\r\n\
Call-ID: 7f3a9c21@192.168.1.10\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:34020000001320000001@192.168.1.64:5060>\r\n\
Content-Type: application/sdp\r\n\
User-Agent: IP Camera\r\n\
Content-Length: 189\r\n\
\r\n\
v=0\r\n\
o=34020000001320000001 2134 2134 IN IP4 192.168.1.64\r\n\
s=Play\r\n\
c=IN IP4 192.168.1.64\r\n\
t=0 0\r\n\
m=video 15060 RTP/AVP 96\r\n\
a=sendonly\r\n\
a=rtpmap:96 PS/90000\r\n\
a=filesize:0\r\n\
y=0200000001\r\n\
f=\r\n";

/// Our ACK to [`HIK_INVITE_OK`] (sent to its Contact, RFC 3261 §13.2.2.4).
const OUR_ACK: &[u8] = b"ACK sip:34020000001320000001@192.168.1.64:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.168.1.10:5060;rport;branch=z9hG4bK3925485628\r\n\
From: <sip:34020000002000000001@3402000000>;tag=tsrs5a1b\r\n\
To: <sip:34020000001320000001@3402000000>;tag=1293049588\r\n\
Call-ID: 7f3a9c21@192.168.1.10\r\n\
CSeq: 1 ACK\r\n\
Max-Forwards: 70\r\n\
Content-Length: 0\r\n\
\r\n";

/// Our BYE ending that dialog.
const OUR_BYE: &[u8] = b"BYE sip:34020000001320000001@192.168.1.64:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.168.1.10:5060;rport;branch=z9hG4bK3925485629\r\n\
From: <sip:34020000002000000001@3402000000>;tag=tsrs5a1b\r\n\
To: <sip:34020000001320000001@3402000000>;tag=1293049588\r\n\
Call-ID: 7f3a9c21@192.168.1.10\r\n\
CSeq: 2 BYE\r\n\
Max-Forwards: 70\r\n\
Content-Length: 0\r\n\
\r\n";

/// A TP-Link camera's 200 OK to [`OUR_BYE`]: compact names, folded lines, names in odd case,
/// whitespace before a colon, mixed line ends.
const TPLINK_BYE_OK: &[u8] = b"SIP/2.0 200 OK\r\n\
v: SIP/2.0/UDP 192.168.1.10:5060;rport=5060;\r\n\
\x20branch=z9hG4bK3925485629\r\n\
f: <sip:34020000002000000001@3402000000>;tag=tsrs5a1b\n\
t: <sip:34020000001320000001@3402000000>\r\n\
\t;tag=1293049588\r\n\
i: 7f3a9c21@192.168.1.10\r\n\
CSEQ: 2 BYE\r\n\
user-agent: TP-LINK  \r\n\
Subject :\r\n\
\x20 folded only \r\n\
l: 0\r\n\
\r\n";

const GOLDENS: [(&str, &[u8]); 11] = [
    ("HIK_REGISTER", HIK_REGISTER),
    ("OUR_401", OUR_401),
    ("HIK_REGISTER_AUTH", HIK_REGISTER_AUTH),
    ("OUR_200_REGISTER", OUR_200_REGISTER),
    ("DAHUA_KEEPALIVE", DAHUA_KEEPALIVE),
    ("UNIVIEW_CATALOG", UNIVIEW_CATALOG),
    ("OUR_INVITE", OUR_INVITE),
    ("HIK_INVITE_OK", HIK_INVITE_OK),
    ("OUR_ACK", OUR_ACK),
    ("OUR_BYE", OUR_BYE),
    ("TPLINK_BYE_OK", TPLINK_BYE_OK),
];

fn dgram(buf: &[u8]) -> SipMessage {
    decode_datagram(buf).unwrap_or_else(|e| panic!("{e}: {}", buf.escape_ascii()))
}

fn stream(buf: &[u8]) -> (SipMessage, usize) {
    decode(buf)
        .unwrap_or_else(|e| panic!("{e}: {}", buf.escape_ascii()))
        .expect("complete")
}

fn encoded(m: &SipMessage) -> Vec<u8> {
    let mut out = Vec::new();
    m.encode(&mut out);
    assert_eq!(out.len(), m.encoded_len(), "encoded_len");
    assert_eq!(m.to_bytes(), out);
    out
}

/// The message as we would build it: without the Content-Length header that encode writes.
fn without_content_length(mut m: SipMessage) -> SipMessage {
    m.remove_header("Content-Length");
    m
}

fn assert_bytes_eq(got: &[u8], want: &[u8]) {
    assert!(
        got == want,
        "\n got: {}\nwant: {}",
        got.escape_ascii(),
        want.escape_ascii()
    );
}

#[test]
fn hikvision_register() {
    let m = dgram(HIK_REGISTER);
    assert_eq!(m.method(), Some(&Method::Register));
    assert_eq!(m.request_uri(), Some("sip:34020000002000000001@3402000000"));
    assert_eq!(m.from_user(), Some("34020000001320000001"));
    assert_eq!(m.to_user(), Some("34020000001320000001"));
    assert_eq!(m.from_tag(), Some("2043466181"));
    assert_eq!(m.to_tag(), None);
    assert_eq!(m.call_id(), Some("1011047669"));
    assert_eq!(m.cseq(), Some((1, Method::Register)));
    assert_eq!(m.expires(), Some(3600));
    assert_eq!(m.via_branch(), Some("z9hG4bK1371463273"));
    assert_eq!(m.content_length(), Some(0));
    assert_eq!(m.header("user-agent"), Some("IP Camera"));
    assert_eq!(m.header("Authorization"), None);
    assert_eq!(m.headers.len(), 10);
    assert!(m.body.is_empty());
    assert_eq!(stream(HIK_REGISTER), (m, HIK_REGISTER.len()));
}

#[test]
fn our_401_challenge() {
    let mut register = dgram(HIK_REGISTER);
    register.stamp_received("192.168.1.64", 5060);
    let challenge = Challenge::md5("3402000000", "6fe9ba44a76be22a");
    let response = register
        .response_to(401, reason_phrase(401), Some("8d4f2c1a"))
        .with_header("WWW-Authenticate", challenge.header_value())
        .with_header("Server", "tinysrs");
    assert_bytes_eq(&encoded(&response), OUR_401);
    assert_eq!(without_content_length(dgram(OUR_401)), response);
    // What a client reads back from it.
    let back = dgram(OUR_401);
    assert_eq!(back.status(), Some(401));
    assert_eq!(
        Challenge::parse(back.header("www-authenticate").unwrap()),
        Ok(challenge)
    );
    assert_eq!(back.to_tag(), Some("8d4f2c1a"));
}

#[test]
fn hikvision_register_with_authorization() {
    let m = dgram(HIK_REGISTER_AUTH);
    assert_eq!(m.cseq(), Some((2, Method::Register)));
    let creds = digest::parse_authorization(m.header("Authorization").unwrap()).unwrap();
    assert_eq!(creds.username, m.from_user().unwrap());
    assert_eq!(creds.nonce, "6fe9ba44a76be22a");
    assert!(digest::verify(
        &creds,
        m.method().unwrap().as_str(),
        "12345678"
    ));
    assert!(!digest::verify(&creds, "REGISTER", "123456"));
}

#[test]
fn our_200_to_register_with_date() {
    let mut register = dgram(HIK_REGISTER_AUTH);
    register.stamp_received("192.168.1.64", 5060);
    let ok = register
        .response_to(200, reason_phrase(200), Some("8d4f2c1a"))
        .with_header("Contact", register.header("Contact").unwrap())
        .with_header("Expires", register.expires().unwrap().to_string())
        .with_header("Date", format_date(1_714_564_800_000))
        .with_header("Server", "tinysrs");
    assert_bytes_eq(&encoded(&ok), OUR_200_REGISTER);
    assert_eq!(without_content_length(dgram(OUR_200_REGISTER)), ok);
}

#[test]
fn dahua_keepalive_lf_only() {
    let m = dgram(DAHUA_KEEPALIVE);
    assert_eq!(m.method(), Some(&Method::Message));
    assert_eq!(m.header("Content-Type"), Some("Application/MANSCDP+xml"));
    assert_eq!(
        m.header("User-Agent"),
        Some("Dahua"),
        "trailing space trimmed"
    );
    assert_eq!(m.content_length(), Some(162));
    assert_eq!(m.body.len(), 162);
    assert!(m
        .body
        .starts_with(b"<?xml version=\"1.0\" encoding=\"GB2312\"?>\n<Notify>"));
    assert!(m.body.ends_with(b"</Notify>\n"));
    assert_eq!(m.from_user(), Some("34020000001320000002"));
    assert_eq!(m.cseq(), Some((20, Method::Message)));
    assert_eq!(stream(DAHUA_KEEPALIVE), (m, DAHUA_KEEPALIVE.len()));
}

#[test]
fn uniview_catalog_gb2312_body_stays_bytes() {
    let m = dgram(UNIVIEW_CATALOG);
    assert_eq!(m.body.len(), 309);
    assert!(std::str::from_utf8(&m.body).is_err(), "GB2312, not UTF-8");
    let name = b"<Name>\xc9\xe3\xcf\xf1\xbb\xfa</Name>";
    assert!(m.body.windows(name.len()).any(|w| w == name));
    assert_eq!(m.via_branch(), Some("z9hG4bK-524287-1---e8a1"));
    // Encoding writes the body back byte for byte.
    assert_bytes_eq(&encoded(&m), UNIVIEW_CATALOG);
}

fn our_invite() -> SipMessage {
    SipMessage::request(Method::Invite, "sip:34020000001320000001@3402000000")
        .with_header(
            "Via",
            "SIP/2.0/UDP 192.168.1.10:5060;rport;branch=z9hG4bK3925485627",
        )
        .with_header("From", "<sip:34020000002000000001@3402000000>;tag=tsrs5a1b")
        .with_header("To", "<sip:34020000001320000001@3402000000>")
        .with_header("Call-ID", "7f3a9c21@192.168.1.10")
        .with_header("CSeq", "1 INVITE")
        .with_header("Contact", "<sip:34020000002000000001@192.168.1.10:5060>")
        .with_header("Max-Forwards", "70")
        .with_header(
            "Subject",
            "34020000001320000001:0200000001,34020000002000000001:0",
        )
        .with_body("APPLICATION/SDP", INVITE_SDP)
}

#[test]
fn our_invite_with_sdp() {
    let invite = our_invite();
    assert_bytes_eq(&encoded(&invite), OUR_INVITE);
    let back = dgram(OUR_INVITE);
    assert_eq!(back.body, INVITE_SDP);
    assert_eq!(back.content_length(), Some(INVITE_SDP.len() as u64));
    assert_eq!(without_content_length(back), invite);
}

#[test]
fn hikvision_200_ok_to_invite() {
    let ok = dgram(HIK_INVITE_OK);
    assert_eq!(ok.status(), Some(200));
    assert_eq!(ok.cseq(), Some((1, Method::Invite)));
    assert_eq!(ok.from_tag(), Some("tsrs5a1b"));
    assert_eq!(ok.to_tag(), Some("1293049588"));
    assert_eq!(ok.header("c"), Some("application/sdp"));
    assert_eq!(ok.body.len(), 189);
    assert!(ok.body.starts_with(b"v=0\r\no=34020000001320000001 2134"));
    assert!(ok.body.ends_with(b"y=0200000001\r\nf=\r\n"));
    // It answers our INVITE: same transaction and dialog ids.
    let invite = our_invite();
    assert_eq!(ok.via_branch(), invite.via_branch());
    assert_eq!(ok.call_id(), invite.call_id());
    assert_eq!(stream(HIK_INVITE_OK), (ok, HIK_INVITE_OK.len()));
}

/// An in-dialog request (RFC 3261 §12.2.1.1) built from our INVITE and the 200 OK.
fn in_dialog(method: Method, cseq: u32, branch: &str) -> SipMessage {
    let invite = our_invite();
    let ok = dgram(HIK_INVITE_OK);
    let target = header::uri(ok.header("Contact").unwrap()).to_owned();
    let cseq = format!("{cseq} {method}");
    SipMessage::request(method, target)
        .with_header(
            "Via",
            format!("SIP/2.0/UDP 192.168.1.10:5060;rport;branch={branch}"),
        )
        .with_header("From", invite.header("From").unwrap())
        .with_header("To", ok.header("To").unwrap())
        .with_header("Call-ID", ok.call_id().unwrap())
        .with_header("CSeq", cseq)
        .with_header("Max-Forwards", "70")
}

#[test]
fn our_ack_and_bye() {
    let ack = in_dialog(Method::Ack, 1, "z9hG4bK3925485628");
    assert_bytes_eq(&encoded(&ack), OUR_ACK);
    assert_eq!(without_content_length(dgram(OUR_ACK)), ack);
    let bye = in_dialog(Method::Bye, 2, "z9hG4bK3925485629");
    assert_bytes_eq(&encoded(&bye), OUR_BYE);
    assert_eq!(without_content_length(dgram(OUR_BYE)), bye);
    assert_eq!(bye.cseq(), Some((2, Method::Bye)));
}

#[test]
fn tplink_folded_and_compact_headers() {
    let m = dgram(TPLINK_BYE_OK);
    let names: Vec<&str> = m.headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "Via",
            "From",
            "To",
            "Call-ID",
            "CSeq",
            "User-Agent",
            "Subject",
            "Content-Length"
        ]
    );
    assert_eq!(
        m.header("Via"),
        Some("SIP/2.0/UDP 192.168.1.10:5060;rport=5060; branch=z9hG4bK3925485629")
    );
    assert_eq!(m.via_branch(), Some("z9hG4bK3925485629"));
    assert_eq!(
        m.header("t"),
        Some("<sip:34020000001320000001@3402000000> ;tag=1293049588")
    );
    assert_eq!(m.to_tag(), Some("1293049588"));
    assert_eq!(m.from_tag(), Some("tsrs5a1b"));
    assert_eq!(m.call_id(), Some("7f3a9c21@192.168.1.10"));
    assert_eq!(m.cseq(), Some((2, Method::Bye)));
    assert_eq!(m.header("USER-AGENT"), Some("TP-LINK"));
    assert_eq!(m.header("s"), Some("folded only"));
    assert_eq!(m.content_length(), Some(0));
    assert_eq!(stream(TPLINK_BYE_OK), (m, TPLINK_BYE_OK.len()));
}

#[test]
fn every_split_is_need_more_then_same_result() {
    for (name, golden) in GOLDENS {
        let whole = stream(golden);
        assert_eq!(whole.1, golden.len(), "{name}");
        for cut in 0..golden.len() {
            assert_eq!(decode(&golden[..cut]), Ok(None), "{name} cut at {cut}");
        }
        // Bytes after the message are left for the next one.
        let mut more = golden.to_vec();
        more.extend_from_slice(b"REGISTER sip:x SIP/2.0\r\n");
        assert_eq!(decode(&more), Ok(Some(whole)), "{name}");
    }
}

#[test]
fn stream_of_messages_with_keepalives() {
    let mut wire = Vec::new();
    for (_, golden) in GOLDENS {
        wire.extend_from_slice(b"\r\n\r\n");
        wire.extend_from_slice(golden);
    }
    let mut rng = XorShift(7);
    // Feed it in random-sized pieces, as a TCP reader would.
    let mut buf = Vec::new();
    let mut fed = 0;
    let mut got = Vec::new();
    while got.len() < GOLDENS.len() {
        let n = (1 + rng.below(200)).min(wire.len() - fed);
        buf.extend_from_slice(&wire[fed..fed + n]);
        fed += n;
        while let Some((m, used)) = decode(&buf).unwrap() {
            got.push(m);
            buf.drain(..used);
        }
        assert!(fed < wire.len() || got.len() == GOLDENS.len());
    }
    assert!(buf.is_empty());
    for ((name, golden), m) in GOLDENS.iter().zip(&got) {
        assert_eq!(m, &dgram(golden), "{name}");
    }
    assert_eq!(leading_crlf_len(b"\r\n\r\nREGISTER"), 4);
    assert_eq!(leading_crlf_len(b"\n\r"), 2);
    assert_eq!(leading_crlf_len(b""), 0);
    assert_eq!(
        decode(b"\r\n\r\n"),
        Ok(None),
        "a ping alone is not a message"
    );
}

#[test]
fn datagram_content_length_tolerance() {
    let head = b"MESSAGE sip:a@b SIP/2.0\r\nCall-ID: x\r\n";
    let with = |cl: &str, body: &[u8]| {
        let mut d = head.to_vec();
        d.extend_from_slice(cl.as_bytes());
        d.extend_from_slice(b"\r\n");
        d.extend_from_slice(body);
        decode_datagram_checked(&d).unwrap()
    };
    // Declared larger than what arrived: keep what is there, flag it.
    let (m, len) = with("Content-Length: 100\r\n", b"<Notify/>");
    assert_eq!(m.body, &b"<Notify/>"[..]);
    assert!(len.is_short());
    assert_eq!(len.excess(), 0);
    assert_eq!(m.content_length(), Some(100), "the declared value is kept");
    // Declared smaller: cut the body to it.
    let (m, len) = with("Content-Length: 3\r\n", b"<Notify/>\r\n");
    assert_eq!(m.body, &b"<No"[..]);
    assert_eq!(
        len,
        BodyLength {
            declared: Some(3),
            received: 11
        }
    );
    assert!(!len.is_short());
    assert_eq!(len.excess(), 8);
    // Missing: the rest of the datagram (RFC 3261 §18.3).
    let (m, len) = with("", b"<Notify/>");
    assert_eq!(m.body, &b"<Notify/>"[..]);
    assert_eq!(len.declared, None);
    assert!(!len.is_short());
    // Huge declared values are only "short", never an allocation.
    let (m, len) = with("l: 18446744073709551615\r\n", b"x");
    assert_eq!(m.body, &b"x"[..]);
    assert!(len.is_short());
    // No empty line after the head at all (the last line may even lack its LF).
    let m = dgram(b"BYE sip:a@b SIP/2.0\r\nCall-ID: y\r\nContent-Length: 0\r\n");
    assert_eq!(m.call_id(), Some("y"));
    let m = dgram(b"BYE sip:a@b SIP/2.0\r\nCall-ID: y");
    assert_eq!(m.call_id(), Some("y"));
    assert!(m.body.is_empty());
    // Leading CR/LF is skipped; a datagram of nothing else is a keepalive.
    assert_eq!(
        dgram(&[b"\r\n\r\n", HIK_REGISTER].concat()),
        dgram(HIK_REGISTER)
    );
    assert_eq!(decode_datagram(b"\r\n\r\n"), Err(SipError::Empty));
    assert_eq!(decode_datagram(b""), Err(SipError::Empty));
    // Whole goldens: declared equals received.
    for (name, golden) in GOLDENS {
        let (_, len) = decode_datagram_checked(golden).unwrap();
        assert!(!len.is_short() && len.excess() == 0, "{name}");
    }
}

#[test]
fn stream_framing() {
    // Missing Content-Length on a stream: empty body, the next message follows the head.
    let two = b"ACK sip:a@b SIP/2.0\r\nCall-ID: 1\r\n\r\nBYE sip:a@b SIP/2.0\r\nCall-ID: 2\r\n\r\n";
    let (m, used) = stream(two);
    assert_eq!((m.call_id(), m.body.len()), (Some("1"), 0));
    assert_eq!(stream(&two[used..]).0.call_id(), Some("2"));
    // Identical duplicates are fine.
    let (m, _) = stream(b"MESSAGE sip:a@b SIP/2.0\r\nl: 2\r\nContent-Length: 2\r\n\r\nab");
    assert_eq!(m.body, &b"ab"[..]);
    // A declared body over the limit is refused from the head alone.
    let big = format!("MESSAGE sip:a@b SIP/2.0\r\nContent-Length: {MAX_MESSAGE_LEN}\r\n\r\n");
    assert!(matches!(
        decode(big.as_bytes()),
        Err(SipError::MessageTooLarge {
            limit: MAX_MESSAGE_LEN,
            ..
        })
    ));
    let huge = b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 18446744073709551615\r\n\r\n";
    assert_eq!(
        decode(huge),
        Err(SipError::MessageTooLarge {
            len: u64::MAX,
            limit: MAX_MESSAGE_LEN
        })
    );
    // Exactly the limit is accepted.
    let head = "MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 65000\r\n\r\n";
    let body_len = MAX_MESSAGE_LEN - head.len();
    let mut exact = head.replace("65000", &body_len.to_string()).into_bytes();
    let head_len = exact.len();
    exact.resize(head_len + body_len - 1, b'x');
    assert_eq!(exact.len(), MAX_MESSAGE_LEN - 1);
    assert_eq!(decode(&exact), Ok(None));
    exact.push(b'x');
    assert_eq!(stream(&exact).1, MAX_MESSAGE_LEN);
    assert_eq!(dgram(&exact).body.len(), body_len);
    exact.push(b'x');
    assert_eq!(
        decode_datagram(&exact),
        Err(SipError::MessageTooLarge {
            len: MAX_MESSAGE_LEN as u64 + 1,
            limit: MAX_MESSAGE_LEN
        })
    );
    for bad in [
        &b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 2\r\nl: 3\r\n\r\nabc"[..],
        b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: -1\r\n\r\n",
        b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: +1\r\n\r\n",
        b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 1 1\r\n\r\n",
        b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 0x10\r\n\r\n",
        b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length:\r\n\r\n",
        b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 18446744073709551616\r\n\r\n",
    ] {
        for result in [decode(bad).map(|_| ()), decode_datagram(bad).map(|_| ())] {
            assert!(
                matches!(result, Err(SipError::Malformed { .. })),
                "{}: {result:?}",
                bad.escape_ascii()
            );
        }
    }
}

#[test]
fn head_limit() {
    let mut head = b"MESSAGE sip:a@b SIP/2.0\r\nX-Pad: ".to_vec();
    head.resize(MAX_HEAD_LEN - 1, b'a');
    assert_eq!(decode(&head), Ok(None));
    head.push(b'a');
    let too_large = Err(SipError::HeadTooLarge {
        limit: MAX_HEAD_LEN,
    });
    assert_eq!(decode(&head).map(|_| ()), too_large);
    head.extend_from_slice(b"\r\n\r\n");
    assert_eq!(decode(&head).map(|_| ()), too_large);
    assert_eq!(decode_datagram(&head).map(|_| ()), too_large);
    // Endless CR/LF counts too (a driver drains pings with leading_crlf_len).
    assert_eq!(
        decode(&b"\r\n".repeat(MAX_HEAD_LEN / 2)).map(|_| ()),
        too_large
    );
    // A head of exactly the limit is accepted, with or without bytes behind it.
    let mut exact = b"MESSAGE sip:a@b SIP/2.0\r\nX-Pad: ".to_vec();
    exact.resize(MAX_HEAD_LEN - 4, b'a');
    exact.extend_from_slice(b"\r\n\r\n");
    assert_eq!(stream(&exact).1, MAX_HEAD_LEN);
    assert_eq!(
        dgram(&exact).header("x-pad").unwrap().len(),
        MAX_HEAD_LEN - 36
    );
    exact.extend_from_slice(b"REGISTER");
    assert_eq!(stream(&exact).1, MAX_HEAD_LEN);
    // A datagram without an empty line may be the whole limit, not more.
    let mut no_blank = b"MESSAGE sip:a@b SIP/2.0\r\nX-Pad: ".to_vec();
    no_blank.resize(MAX_HEAD_LEN, b'a');
    assert!(decode_datagram(&no_blank).is_ok());
    no_blank.push(b'a');
    assert_eq!(decode_datagram(&no_blank).map(|_| ()), too_large);
}

#[test]
fn header_count_limit() {
    let mut m = b"OPTIONS sip:a@b SIP/2.0\r\n".to_vec();
    for i in 0..MAX_HEADERS {
        m.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    let mut ok = m.clone();
    ok.extend_from_slice(b"\r\n");
    assert_eq!(stream(&ok).0.headers.len(), MAX_HEADERS);
    // Folded lines do not count as headers.
    let mut folded = m.clone();
    folded.extend_from_slice(b" more\r\n\tmore\r\n\r\n");
    assert_eq!(stream(&folded).0.header("X-63"), Some("v more more"));
    // A Content-Length line is allowed beyond the limit: encoding adds one.
    let mut with_length = m.clone();
    with_length.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    assert_eq!(stream(&with_length).0.headers.len(), MAX_HEADERS + 1);
    let mut two_lengths = m.clone();
    two_lengths.extend_from_slice(b"Content-Length: 0\r\nContent-Length: 0\r\n\r\n");
    let want = Err(SipError::TooManyHeaders { limit: MAX_HEADERS });
    assert_eq!(decode(&two_lengths).map(|_| ()), want);
    m.extend_from_slice(b"X-64: v\r\n\r\n");
    assert_eq!(decode(&m).map(|_| ()), want);
    assert_eq!(decode_datagram(&m).map(|_| ()), want);
}

/// Found by `ci/fuzz/run 600 sip`: a datagram with 64 headers and no Content-Length decoded,
/// and its encoding (the 64 headers plus our Content-Length) did not.
#[test]
fn a_decoded_message_with_the_most_headers_re_encodes_and_decodes() {
    let mut m = b"SIP/2.0 200 OK\r\n".to_vec();
    for _ in 0..MAX_HEADERS {
        m.extend_from_slice(b"Via:\n");
    }
    let message = decode_datagram(&m).unwrap();
    assert_eq!(message.headers.len(), MAX_HEADERS);
    let again = decode(&message.to_bytes()).unwrap().unwrap().0;
    assert_eq!(again.headers.len(), MAX_HEADERS + 1);
    assert_eq!(again.to_bytes(), message.to_bytes());
}

#[test]
fn start_lines() {
    for (line, want) in [
        (
            "REGISTER sip:a@b SIP/2.0",
            StartLine::Request {
                method: Method::Register,
                uri: "sip:a@b".into(),
            },
        ),
        (
            "INVITE  sip:a@b \t sip/2.0 ",
            StartLine::Request {
                method: Method::Invite,
                uri: "sip:a@b".into(),
            },
        ),
        (
            "register sip:a@b SIP/2.0",
            StartLine::Request {
                method: Method::Other("register".into()),
                uri: "sip:a@b".into(),
            },
        ),
        (
            "PUBLISH sip:a@b SIP/2.0",
            StartLine::Request {
                method: Method::Other("PUBLISH".into()),
                uri: "sip:a@b".into(),
            },
        ),
        (
            "SIP/2.0 200 OK",
            StartLine::Response {
                status: 200,
                reason: "OK".into(),
            },
        ),
        (
            "SIP/2.0 481 Call/Transaction  Does Not Exist ",
            StartLine::Response {
                status: 481,
                reason: "Call/Transaction  Does Not Exist".into(),
            },
        ),
        (
            "SIP/2.0 100",
            StartLine::Response {
                status: 100,
                reason: String::new(),
            },
        ),
        (
            "SIP/2.0 699 中",
            StartLine::Response {
                status: 699,
                reason: "中".into(),
            },
        ),
    ] {
        let m = dgram(format!("{line}\r\n\r\n").as_bytes());
        assert_eq!(m.start, want, "{line}");
    }
    let m = dgram(b"SIP/2.0 200 \xb3\xc9\xb9\xa6\r\n\r\n");
    assert_eq!(
        m.start,
        StartLine::Response {
            status: 200,
            reason: String::from_utf8_lossy(b"\xb3\xc9\xb9\xa6").into()
        }
    );
    for (bad, want) in [
        (
            &b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"[..],
            SipError::UnsupportedVersion { offset: 0 },
        ),
        (
            b"SIP/3.0 200 OK\r\n\r\n",
            SipError::UnsupportedVersion { offset: 0 },
        ),
        (
            b"\r\nREGISTER sip:a SIP/1.0\r\n\r\n",
            SipError::UnsupportedVersion { offset: 2 },
        ),
        (
            b"SIP/2.0 99 Low\r\n\r\n",
            SipError::Malformed {
                what: "status line",
                offset: 0,
            },
        ),
        (
            b"SIP/2.0 700 High\r\n\r\n",
            SipError::Malformed {
                what: "status line",
                offset: 0,
            },
        ),
        (
            b"SIP/2.0 2000 OK\r\n\r\n",
            SipError::Malformed {
                what: "status line",
                offset: 0,
            },
        ),
        (
            b"SIP/2.0 OK\r\n\r\n",
            SipError::Malformed {
                what: "status line",
                offset: 0,
            },
        ),
        (
            b"REGISTER sip:a\r\n\r\n",
            SipError::Malformed {
                what: "request line",
                offset: 0,
            },
        ),
        (
            b"REGISTER sip:a SIP/2.0 x\r\n\r\n",
            SipError::Malformed {
                what: "request line",
                offset: 0,
            },
        ),
        (
            b"REGISTER\r\n\r\n",
            SipError::Malformed {
                what: "request line",
                offset: 0,
            },
        ),
        (
            b" \r\n\r\n",
            SipError::Malformed {
                what: "request line",
                offset: 0,
            },
        ),
        (
            b"REG(ISTER sip:a SIP/2.0\r\n\r\n",
            SipError::Malformed {
                what: "method",
                offset: 0,
            },
        ),
        (
            b"REG\xffISTER sip:a SIP/2.0\r\n\r\n",
            SipError::Malformed {
                what: "method",
                offset: 0,
            },
        ),
    ] {
        assert_eq!(
            decode_datagram(bad).map(|_| ()),
            Err(want.clone()),
            "{}",
            bad.escape_ascii()
        );
        assert_eq!(decode(bad).map(|_| ()), Err(want), "{}", bad.escape_ascii());
    }
}

#[test]
fn header_line_errors() {
    for (bad, what, offset) in [
        (
            &b"ACK sip:a SIP/2.0\r\n folded: first\r\n\r\n"[..],
            "folded line before any header",
            19,
        ),
        (
            b"ACK sip:a SIP/2.0\r\nCall-ID 1\r\n\r\n",
            "header line without a colon",
            19,
        ),
        (
            b"ACK sip:a SIP/2.0\r\nCall ID: 1\r\n\r\n",
            "header name",
            19,
        ),
        (b"ACK sip:a SIP/2.0\r\n: 1\r\n\r\n", "header name", 19),
        (b"ACK sip:a SIP/2.0\r\nX\xff: 1\r\n\r\n", "header name", 19),
        (
            b"ACK sip:a SIP/2.0\r\nCall-ID: 1\x002\r\n\r\n",
            "control character",
            29,
        ),
        (
            b"ACK sip:a SIP/2.0\r\nCall-ID: 1\r2\r\n\r\n",
            "control character",
            29,
        ),
        (b"ACK sip:a\x7f SIP/2.0\r\n\r\n", "control character", 9),
        (b"ACK sip:a SIP/2.0\r\r\n\r\n", "control character", 17),
    ] {
        let want = Err(SipError::Malformed { what, offset });
        assert_eq!(
            decode_datagram(bad).map(|_| ()),
            want,
            "{}",
            bad.escape_ascii()
        );
        assert_eq!(decode(bad).map(|_| ()), want, "{}", bad.escape_ascii());
    }
    // Values are kept lossily; HT inside a value is fine; an empty value is a value.
    let m = dgram(b"ACK sip:a SIP/2.0\r\nSubject: caf\xc3\xa9 \xff\r\nX-T: a\tb\r\nX-E:\r\n\r\n");
    assert_eq!(m.header("s"), Some("café \u{fffd}"));
    assert_eq!(m.header("x-t"), Some("a\tb"));
    assert_eq!(m.header("X-E"), Some(""));
}

#[test]
fn accessors() {
    let m = dgram(
        b"REGISTER sip:3402000000 SIP/2.0\r\n\
Via: SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2\r\n\
v: SIP/2.0/TCP c;branch=z9hG4bK3\r\n\
From: \"Cam, 1\" <sip:34020000001320000009@3402000000;transport=udp>;tag=\r\n\
To: sip:34020000001320000009@3402000000\r\n\
Contact: <sip:34020000001320000009@10.0.0.9:5060>;expires=60\r\n\
Expires: 3600\r\n\
CSeq: 4294967295 REGISTER\r\n\r\n",
    );
    let vias: Vec<_> = m.headers_all("VIA").collect();
    assert_eq!(vias.len(), 2);
    assert_eq!(header::split_list(vias[0]).count(), 2);
    assert_eq!(m.via_branch(), Some("z9hG4bK1"));
    assert_eq!(m.from_user(), Some("34020000001320000009"));
    assert_eq!(m.from_tag(), None, "an empty tag is no tag");
    assert_eq!(m.to_user(), Some("34020000001320000009"));
    assert_eq!(
        m.expires(),
        Some(60),
        "Contact ;expires= wins (RFC 3261 §10.3)"
    );
    assert_eq!(m.cseq(), Some((u32::MAX, Method::Register)));
    assert_eq!(m.call_id(), None);
    assert_eq!(m.content_length(), None);

    for (headers, want) in [
        ("Expires: 0\r\n", Some(0)),
        ("Contact: *\r\nExpires: 0\r\n", Some(0)),
        (
            "Contact: <sip:a@b>\r\nExpires: 99999999999\r\n",
            Some(u32::MAX),
        ),
        ("Contact: <sip:a@b>;expires=x\r\nExpires: 7\r\n", Some(7)),
        ("Expires: -1\r\n", None),
        ("", None),
    ] {
        let m = dgram(format!("REGISTER sip:a SIP/2.0\r\n{headers}\r\n").as_bytes());
        assert_eq!(m.expires(), want, "{headers}");
    }
    for (cseq, want) in [
        ("CSeq: 7   ACK", Some((7, Method::Ack))),
        ("CSeq: 4294967296 ACK", None),
        ("CSeq: x ACK", None),
        ("CSeq: 1", None),
        ("CSeq: 1 A(K", None),
        ("CSeq: -1 ACK", None),
    ] {
        let m = dgram(format!("ACK sip:a SIP/2.0\r\n{cseq}\r\n\r\n").as_bytes());
        assert_eq!(m.cseq(), want, "{cseq}");
    }
}

#[test]
fn response_to_copies_rfc3261_headers() {
    let m = dgram(
        b"MESSAGE sip:a@b SIP/2.0\r\n\
Via: SIP/2.0/UDP p1;branch=z9hG4bKp1\r\n\
Via: SIP/2.0/UDP cam;branch=z9hG4bKc\r\n\
Record-Route: <sip:p1;lr>\r\n\
f: <sip:c@d>;tag=1\r\n\
t: <sip:a@b>;tag=already\r\n\
i: cid\r\n\
CSeq: 9 MESSAGE\r\n\
Content-Length: 0\r\n\r\n",
    );
    let r = m.response_to(200, "OK", Some("new"));
    assert_eq!(
        r.headers,
        [
            ("Via", "SIP/2.0/UDP p1;branch=z9hG4bKp1"),
            ("Via", "SIP/2.0/UDP cam;branch=z9hG4bKc"),
            ("From", "<sip:c@d>;tag=1"),
            ("To", "<sip:a@b>;tag=already"),
            ("Call-ID", "cid"),
            ("CSeq", "9 MESSAGE"),
        ]
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
    );
    assert_eq!(r.status(), Some(200));
    assert!(r.body.is_empty());
    // 100 Trying: no tag.
    let trying = dgram(HIK_REGISTER).response_to(100, "Trying", None);
    assert_eq!(trying.to_tag(), None);
    // A request missing headers gives a response missing them.
    let bare = dgram(b"OPTIONS sip:a SIP/2.0\r\n\r\n").response_to(200, "OK", Some("t"));
    assert!(bare.headers.is_empty());
}

#[test]
fn header_editing_and_safe_encoding() {
    let mut m = SipMessage::request(Method::Options, "sip:a@b")
        .with_header("v", "one")
        .with_header("X-A", "1")
        .with_header("Via", "two")
        .with_header("content-length", "999");
    assert_eq!(m.headers[0].0, "Via", "pushed names are canonical");
    m.set_header("VIA", "three");
    assert_eq!(m.headers_all("via").collect::<Vec<_>>(), ["three"]);
    assert_eq!(m.headers[0], ("Via".into(), "three".into()));
    m.set_header("X-B", "2");
    m.remove_header("x-a");
    // The stale Content-Length is not written; the real one is.
    assert_bytes_eq(
        &encoded(&m),
        b"OPTIONS sip:a@b SIP/2.0\r\nVia: three\r\nX-B: 2\r\nContent-Length: 0\r\n\r\n",
    );
    // No string can start a header line of its own.
    let evil = SipMessage::response(200, "OK\r\nX-Evil: 1")
        .with_header("Subject", "a\r\nX-Evil: 2\n")
        .with_body("text/plain", &b"hi"[..]);
    let out = encoded(&evil);
    assert_bytes_eq(
        &out,
        b"SIP/2.0 200 OK  X-Evil: 1\r\nSubject: a  X-Evil: 2 \r\nContent-Type: text/plain\r\n\
Content-Length: 2\r\n\r\nhi",
    );
    assert_eq!(dgram(&out).headers.len(), 3);
    assert_eq!(Method::Other("PUBLISH".into()).to_string(), "PUBLISH");
    assert_eq!(reason_phrase(481), "Call/Transaction Does Not Exist");
    assert_eq!(reason_phrase(299), "");
}

/// Decoding arbitrary bytes never panics; whatever decodes re-encodes to something that
/// decodes to the same message (less its Content-Length); stream and datagram agree.
#[test]
fn fuzz_decode_does_not_panic() {
    let mut rng = XorShift(0x0051_b000_2818);
    let alphabet = b"\r\n\t :;,<>\"=@0123456789lvVfti";
    for iteration in 0..20_000 {
        let (name, golden) = GOLDENS[rng.below(GOLDENS.len())];
        let mut buf = golden.to_vec();
        for _ in 0..1 + rng.below(6) {
            let at = rng.below(buf.len() + 1);
            match rng.below(5) {
                0 if at < buf.len() => buf[at] = rng.next() as u8,
                1 if at < buf.len() => buf[at] = alphabet[rng.below(alphabet.len())],
                2 => buf.insert(at, alphabet[rng.below(alphabet.len())]),
                3 if at < buf.len() => {
                    buf.remove(at);
                }
                _ => buf.truncate(at.max(buf.len() / 2)),
            }
        }
        let context = || format!("iteration {iteration} from {name}: {}", buf.escape_ascii());
        if let Ok(Some((m, used))) = decode(&buf) {
            assert!(used <= buf.len(), "{}", context());
            check_message(&m, &context);
        }
        if let Ok((m, _)) = decode_datagram_checked(&buf) {
            check_message(&m, &context);
        }
    }
    for iteration in 0..5_000 {
        let len = rng.below(300);
        let buf: Vec<u8> = (0..len)
            .map(|_| alphabet[rng.below(alphabet.len())])
            .collect();
        let _ = decode(&buf);
        if let Ok(m) = decode_datagram(&buf) {
            check_message(&m, &|| {
                format!("random {iteration}: {}", buf.escape_ascii())
            });
        }
    }
}

fn check_message(m: &SipMessage, context: &dyn Fn() -> String) {
    let _ = (
        m.cseq(),
        m.expires(),
        m.from_user(),
        m.to_tag(),
        m.via_branch(),
    );
    let _ = m.header("Authorization").map(digest::parse_authorization);
    let out = encoded(m);
    let back = decode_datagram(&out).unwrap_or_else(|e| panic!("{e}: {}", context()));
    assert_eq!(
        without_content_length(back.clone()),
        without_content_length(m.clone()),
        "{}",
        context()
    );
    assert_eq!(stream(&out), (back, out.len()), "{}", context());
}
