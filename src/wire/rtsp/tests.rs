//! Golden messages (named by the vendor or program whose shape they follow), interleaved
//! framing cut at every byte, tolerance, limits, typed headers and a fuzz loop for the RTSP
//! message layer.

use super::header::{self, Challenge, Lower, Mode, Pair, RtpInfo, Session, Transport};
use super::*;
use crate::testutil::XorShift;

/// ffmpeg's first request to a camera (`ffprobe rtsp://…`).
const FFMPEG_OPTIONS: &[u8] =
    b"OPTIONS rtsp://192.168.1.64:554/Streaming/Channels/101 RTSP/1.0\r\n\
CSeq: 1\r\n\
User-Agent: Lavf60.16.100\r\n\
\r\n";

/// A Hikvision camera's answer to it.
const HIKVISION_OPTIONS_REPLY: &[u8] = b"RTSP/1.0 200 OK\r\n\
CSeq: 1\r\n\
Public: OPTIONS, DESCRIBE, PLAY, PAUSE, SETUP, TEARDOWN, SET_PARAMETER, GET_PARAMETER\r\n\
Date:  Mon, Jan 06 2025 10:15:32 GMT\r\n\
\r\n";

/// Hikvision's 401 to a DESCRIBE without credentials: a Digest and a Basic challenge.
const HIKVISION_DESCRIBE_401: &[u8] = b"RTSP/1.0 401 Unauthorized\r\n\
CSeq: 2\r\n\
WWW-Authenticate: Digest realm=\"IP Camera(C2358)\", nonce=\"d0a0b1f5a6f0b7c1b2c3d4e5f6a7b8c9\", stale=\"FALSE\"\r\n\
WWW-Authenticate: Basic realm=\"IP Camera(C2358)\"\r\n\
Date:  Mon, Jan 06 2025 10:15:32 GMT\r\n\
\r\n";

/// Hikvision's DESCRIBE reply: Content-Base with a trailing slash, SDP with absolute
/// controls, H.264 and G.711 A-law.
const HIKVISION_DESCRIBE_REPLY: &[u8] = concat!(
    "RTSP/1.0 200 OK\r\n\
CSeq: 3\r\n\
Content-Type: application/sdp\r\n\
Content-Base: rtsp://192.168.1.64:554/Streaming/Channels/101/\r\n\
Content-Length: 747\r\n\
\r\n",
    include_str!("../../../tests/data/rtsp/hikvision_describe.sdp")
)
.as_bytes();

/// Hikvision's SETUP reply over TCP: a space after `ssrc=`, quoted mode, session timeout.
const HIKVISION_SETUP_REPLY: &[u8] = b"RTSP/1.0 200 OK\r\n\
CSeq: 4\r\n\
Session: 1273222592;timeout=60\r\n\
Transport: RTP/AVP/TCP;unicast;interleaved=0-1;ssrc= 6b8b4567;mode=\"play\"\r\n\
Date:  Mon, Jan 06 2025 10:15:32 GMT\r\n\
\r\n";

/// A Dahua PLAY reply: `RTP-Info` for two tracks with a query in the URL and a trailing
/// `;`, a `Range`, LF-only line ends and whitespace before a colon.
const DAHUA_PLAY_REPLY: &[u8] = b"RTSP/1.0 200 OK\n\
CSeq: 6\n\
Session: 82349712 ;timeout = 30\n\
Range : npt=0.000000-\n\
RTP-Info: url=rtsp://10.0.0.3:554/cam/realmonitor?channel=1&subtype=0/trackID=0;seq=21453;rtptime=1854018080,url=rtsp://10.0.0.3:554/cam/realmonitor?channel=1&subtype=0/trackID=1;seq=7620;rtptime=3040184448;\n\
\n";

/// ffmpeg publishing (`ffmpeg -f rtsp rtsp://host/live/cam`): ANNOUNCE with its SDP.
const FFMPEG_ANNOUNCE: &[u8] = b"ANNOUNCE rtsp://127.0.0.1:8554/live/cam RTSP/1.0\r\n\
Content-Type: application/sdp\r\n\
CSeq: 2\r\n\
User-Agent: Lavf60.16.100\r\n\
Content-Length: 486\r\n\
\r\n\
v=0\r\n\
o=- 0 0 IN IP4 127.0.0.1\r\n\
s=No Name\r\n\
c=IN IP4 127.0.0.1\r\n\
t=0 0\r\n\
a=tool:libavformat 60.16.100\r\n\
m=video 0 RTP/AVP 96\r\n\
a=rtpmap:96 H264/90000\r\n\
a=fmtp:96 packetization-mode=1; sprop-parameter-sets=Z01AHuygUBf8uAiAAAADAIAAABkHixbL,aOvjyyA=; profile-level-id=4D401E\r\n\
a=control:streamid=0\r\n\
m=audio 0 RTP/AVP 97\r\n\
b=AS:128\r\n\
a=rtpmap:97 MPEG4-GENERIC/44100/2\r\n\
a=fmtp:97 profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3; config=121056E500\r\n\
a=control:streamid=1\r\n";

/// ffmpeg's SETUP for publishing over TCP.
const FFMPEG_SETUP_RECORD: &[u8] = b"SETUP rtsp://127.0.0.1:8554/live/cam/streamid=0 RTSP/1.0\r\n\
Transport: RTP/AVP/TCP;unicast;interleaved=0-1;mode=record\r\n\
CSeq: 3\r\n\
User-Agent: Lavf60.16.100\r\n\
\r\n";

/// VLC's SETUP over UDP, with the session of an earlier track.
const VLC_SETUP_UDP: &[u8] = b"SETUP rtsp://127.0.0.1:8554/live/cam/trackID=1 RTSP/1.0\r\n\
CSeq: 5\r\n\
User-Agent: LibVLC/3.0.18 (LIVE555 Streaming Media v2016.11.28)\r\n\
Transport: RTP/AVP;unicast;client_port=51234-51235\r\n\
Session: 5F8C1A0B\r\n\
\r\n";

/// A GET_PARAMETER keepalive with Basic credentials, and CSeq with trailing whitespace
/// (Longse).
const LONGSE_KEEPALIVE: &[u8] = b"GET_PARAMETER rtsp://10.0.0.7/ RTSP/1.0\r\n\
CSeq: 9   \r\n\
Authorization: Basic YWRtaW46MTIzNDU=\r\n\
Session: 12345678\r\n\
\r\n";

const ALL: &[&[u8]] = &[
    FFMPEG_OPTIONS,
    HIKVISION_OPTIONS_REPLY,
    HIKVISION_DESCRIBE_401,
    HIKVISION_DESCRIBE_REPLY,
    HIKVISION_SETUP_REPLY,
    DAHUA_PLAY_REPLY,
    FFMPEG_ANNOUNCE,
    FFMPEG_SETUP_RECORD,
    VLC_SETUP_UDP,
    LONGSE_KEEPALIVE,
];

fn message(bytes: &[u8]) -> Message {
    match decode(bytes) {
        Ok(Some((Item::Message(m), used))) => {
            assert_eq!(used, bytes.len());
            m
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn goldens_decode_and_reencode() {
    for &golden in ALL {
        let m = message(golden);
        let encoded = m.to_bytes();
        assert_eq!(encoded.len(), m.encoded_len());
        let again = message(&encoded);
        assert_eq!(again.start, m.start);
        assert_eq!(again.body, m.body);
        assert_eq!(again.to_bytes(), encoded, "encode is a fixpoint");
    }
}

#[test]
fn hikvision_session() {
    let options = message(HIKVISION_OPTIONS_REPLY);
    assert_eq!(options.status(), Some(200));
    assert_eq!(options.cseq(), Some(1));
    assert_eq!(
        options.public(),
        [
            Method::Options,
            Method::Describe,
            Method::Play,
            Method::Pause,
            Method::Setup,
            Method::Teardown,
            Method::SetParameter,
            Method::GetParameter
        ]
    );

    let unauthorized = message(HIKVISION_DESCRIBE_401);
    let challenges = unauthorized.challenges();
    assert_eq!(challenges.len(), 2);
    let Challenge::Digest(digest) = &challenges[0] else {
        panic!("{challenges:?}");
    };
    assert_eq!(digest.realm, "IP Camera(C2358)");
    assert_eq!(
        challenges[1],
        Challenge::Basic {
            realm: "IP Camera(C2358)".into()
        }
    );

    let describe = message(HIKVISION_DESCRIBE_REPLY);
    assert_eq!(describe.header("content-type"), Some("application/sdp"));
    assert_eq!(
        describe.content_base("rtsp://192.168.1.64:554/Streaming/Channels/101"),
        "rtsp://192.168.1.64:554/Streaming/Channels/101/"
    );
    assert!(describe.body.starts_with(b"v=0\r\n"));
    assert!(describe.body.ends_with(b"a=appversion:1.0\r\n"));

    let setup = message(HIKVISION_SETUP_REPLY);
    assert_eq!(
        setup.session(),
        Some(Session {
            id: "1273222592".into(),
            timeout: Some(60)
        })
    );
    let transports = setup.transports();
    assert_eq!(transports.len(), 1);
    let t = &transports[0];
    assert_eq!(t.lower, Lower::Tcp);
    assert_eq!(t.interleaved, Some(Pair::new(0, 1)));
    assert_eq!(t.ssrc, Some(0x6b8b_4567));
    assert_eq!(t.mode, Some(Mode::Play));
    assert_eq!(t.unicast, Some(true));
}

#[test]
fn dahua_play_reply() {
    let play = message(DAHUA_PLAY_REPLY);
    assert_eq!(play.cseq(), Some(6));
    assert_eq!(
        play.session(),
        Some(Session {
            id: "82349712".into(),
            timeout: Some(30)
        })
    );
    assert_eq!(play.header("range"), Some("npt=0.000000-"));
    assert_eq!(
        play.rtp_info(),
        [
            RtpInfo {
                url: "rtsp://10.0.0.3:554/cam/realmonitor?channel=1&subtype=0/trackID=0".into(),
                seq: Some(21453),
                rtptime: Some(1_854_018_080),
            },
            RtpInfo {
                url: "rtsp://10.0.0.3:554/cam/realmonitor?channel=1&subtype=0/trackID=1".into(),
                seq: Some(7620),
                rtptime: Some(3_040_184_448),
            }
        ]
    );
}

#[test]
fn ffmpeg_publishes() {
    let announce = message(FFMPEG_ANNOUNCE);
    assert_eq!(announce.method(), Some(&Method::Announce));
    assert_eq!(
        announce.request_uri(),
        Some("rtsp://127.0.0.1:8554/live/cam")
    );
    assert_eq!(announce.content_length(), Some(announce.body.len() as u64));
    let setup = message(FFMPEG_SETUP_RECORD);
    let t = &setup.transports()[0];
    assert_eq!(t.mode, Some(Mode::Record));
    assert_eq!(t.interleaved, Some(Pair::new(0, 1)));
    // Our reply.
    let mut reply = setup.response_to(200);
    reply.push_header(
        "Session",
        Session {
            id: "4e1c2a3b".into(),
            timeout: Some(60),
        }
        .encode(),
    );
    reply.push_header("Transport", t.encode());
    assert_eq!(
        &reply.to_bytes()[..],
        b"RTSP/1.0 200 OK\r\n\
CSeq: 3\r\n\
Session: 4e1c2a3b;timeout=60\r\n\
Transport: RTP/AVP/TCP;unicast;interleaved=0-1;mode=record\r\n\
\r\n"
    );

    let vlc = message(VLC_SETUP_UDP);
    let t = &vlc.transports()[0];
    assert_eq!(t.lower, Lower::Udp);
    assert_eq!(t.client_port, Some(Pair::new(51234, 51235)));
    assert_eq!(vlc.session().unwrap().timeout_or_default(), 60);
    // Our reply keeps the session and adds server ports.
    let reply = vlc.response_to(200).with_header(
        "Transport",
        Transport {
            server_port: Some(Pair::new(30000, 30001)),
            ssrc: Some(0x1234_abcd),
            ..t.clone()
        }
        .encode(),
    );
    assert_eq!(
        &reply.to_bytes()[..],
        b"RTSP/1.0 200 OK\r\n\
CSeq: 5\r\n\
Session: 5F8C1A0B\r\n\
Transport: RTP/AVP;unicast;client_port=51234-51235;server_port=30000-30001;ssrc=1234ABCD\r\n\
\r\n"
    );
}

#[test]
fn longse_keepalive_basic() {
    let m = message(LONGSE_KEEPALIVE);
    assert_eq!(m.method(), Some(&Method::GetParameter));
    assert_eq!(m.cseq(), Some(9));
    assert_eq!(
        header::parse_basic(m.header("Authorization").unwrap()),
        Some(("admin".into(), "12345".into()))
    );
    assert_eq!(
        header::basic_authorization("admin", "12345"),
        "Basic YWRtaW46MTIzNDU="
    );
}

#[test]
fn our_requests_golden() {
    let describe = Message::request(Method::Describe, "rtsp://10.0.0.2/live")
        .with_header("CSeq", "2")
        .with_header("Accept", "application/sdp")
        .with_header("User-Agent", "tinysrs");
    assert_eq!(
        &describe.to_bytes()[..],
        b"DESCRIBE rtsp://10.0.0.2/live RTSP/1.0\r\n\
CSeq: 2\r\n\
Accept: application/sdp\r\n\
User-Agent: tinysrs\r\n\
\r\n"
    );
    let set = Message::request(Method::SetParameter, "rtsp://10.0.0.2/live")
        .with_header("cseq", "3")
        .with_body("text/parameters", &b"barparam: barstuff\r\n"[..]);
    assert_eq!(
        &set.to_bytes()[..],
        b"SET_PARAMETER rtsp://10.0.0.2/live RTSP/1.0\r\n\
CSeq: 3\r\n\
Content-Type: text/parameters\r\n\
Content-Length: 20\r\n\
\r\n\
barparam: barstuff\r\n"
    );
}

/// A TCP connection after PLAY: a reply, interleaved RTP and RTCP, a keepalive reply between
/// frames, an empty frame, and CR/LF between items.
fn interleaved_stream() -> (Vec<u8>, Vec<Item>) {
    let rtp = b"\x80\x60\x00\x01\x00\x00\x00\x00\x6b\x8b\x45\x67\x65\x88\x84";
    let rtcp = b"\x80\xc8\x00\x06\x6b\x8b\x45\x67\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00";
    let mut stream = Vec::new();
    let mut items = Vec::new();
    stream.extend_from_slice(DAHUA_PLAY_REPLY);
    items.push(Item::Message(message(DAHUA_PLAY_REPLY)));
    for (channel, payload) in [(0u8, &rtp[..]), (1, &rtcp[..]), (0, &rtp[..])] {
        encode_interleaved(channel, payload, &mut stream).unwrap();
        items.push(Item::Interleaved {
            channel,
            payload: Bytes::copy_from_slice(payload),
        });
    }
    stream.extend_from_slice(b"\r\n");
    stream.extend_from_slice(HIKVISION_OPTIONS_REPLY);
    items.push(Item::Message(message(HIKVISION_OPTIONS_REPLY)));
    encode_interleaved(3, b"", &mut stream).unwrap();
    items.push(Item::Interleaved {
        channel: 3,
        payload: Bytes::new(),
    });
    stream.extend_from_slice(HIKVISION_DESCRIBE_REPLY);
    items.push(Item::Message(message(HIKVISION_DESCRIBE_REPLY)));
    (stream, items)
}

fn decode_all(pieces: &[&[u8]]) -> Vec<Item> {
    let mut buf = Vec::new();
    let mut items = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        while let Some((item, used)) = decode(&buf).unwrap() {
            assert!(used > 0);
            buf.drain(..used);
            items.push(item);
        }
    }
    assert!(buf.is_empty(), "{} bytes left", buf.len());
    items
}

#[test]
fn interleaved_stream_cut_at_every_byte() {
    let (stream, want) = interleaved_stream();
    for cut in 0..=stream.len() {
        assert_eq!(
            decode_all(&[&stream[..cut], &stream[cut..]]),
            want,
            "cut at {cut}"
        );
    }
    let bytewise: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(decode_all(&bytewise), want);
}

#[test]
fn decode_buf_splits_without_copying() {
    let (stream, want) = interleaved_stream();
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    for chunk in stream.chunks(7) {
        buf.extend_from_slice(chunk);
        while let Some(item) = decode_buf(&mut buf).unwrap() {
            got.push(item);
        }
    }
    assert_eq!(got, want);
    assert!(buf.is_empty());
    // Incomplete: the buffer is untouched.
    let mut buf = BytesMut::from(&stream[..10]);
    assert_eq!(decode_buf(&mut buf), Ok(None));
    assert_eq!(&buf[..], &stream[..10]);
}

#[test]
fn interleaved_header_golden() {
    assert_eq!(interleaved_header(1, 0x1234), Ok(*b"$\x01\x12\x34"));
    assert_eq!(
        interleaved_header(0, MAX_INTERLEAVED_LEN + 1),
        Err(RtspError::InterleavedTooLong {
            len: MAX_INTERLEAVED_LEN + 1
        })
    );
    let mut out = Vec::new();
    assert!(encode_interleaved(0, &vec![0; MAX_INTERLEAVED_LEN + 1], &mut out).is_err());
    assert!(out.is_empty());
    // The largest frame completes.
    encode_interleaved(2, &vec![7; MAX_INTERLEAVED_LEN], &mut out).unwrap();
    let (item, used) = decode(&out).unwrap().unwrap();
    assert_eq!(used, INTERLEAVED_HEADER_LEN + MAX_INTERLEAVED_LEN);
    assert!(
        matches!(item, Item::Interleaved { channel: 2, payload } if payload.len() == MAX_INTERLEAVED_LEN)
    );
}

#[test]
fn limits() {
    // A head that never ends.
    let mut endless = b"RTSP/1.0 200 OK\r\n".to_vec();
    while endless.len() < MAX_HEAD_LEN {
        endless.extend_from_slice(b"X-Pad: 0123456789012345678901234567890123456789\r\n");
    }
    assert_eq!(
        decode(&endless),
        Err(RtspError::HeadTooLarge {
            limit: MAX_HEAD_LEN
        })
    );
    assert_eq!(
        decode(&endless[..MAX_HEAD_LEN - 1]),
        Ok(None),
        "not yet over the limit"
    );
    // Endless CR/LF.
    assert_eq!(
        decode(&vec![b'\n'; MAX_HEAD_LEN]),
        Err(RtspError::HeadTooLarge {
            limit: MAX_HEAD_LEN
        })
    );
    assert_eq!(decode(&vec![b'\n'; MAX_HEAD_LEN - 1]), Ok(None));
    // Binary garbage without a line end is found at the line limit, long before the head
    // limit.
    let garbage = vec![0x47u8; MAX_LINE_LEN];
    assert_eq!(
        decode(&garbage),
        Err(RtspError::LineTooLong {
            offset: 0,
            limit: MAX_LINE_LEN
        })
    );
    assert_eq!(decode(&garbage[..MAX_LINE_LEN - 1]), Ok(None));
    // A long header line in a complete head.
    let long = format!(
        "RTSP/1.0 200 OK\r\nX-Long: {}\r\n\r\n",
        "a".repeat(MAX_LINE_LEN)
    );
    assert_eq!(
        decode(long.as_bytes()),
        Err(RtspError::LineTooLong {
            offset: 17,
            limit: MAX_LINE_LEN
        })
    );
    // The longest line allowed, CRLF included.
    let longest = format!(
        "RTSP/1.0 200 OK\r\nX-Long: {}\r\n\r\n",
        "a".repeat(MAX_LINE_LEN - "X-Long: \r\n".len())
    );
    assert!(matches!(decode(longest.as_bytes()), Ok(Some(_))));
    // Too many headers.
    let many = format!(
        "RTSP/1.0 200 OK\r\n{}\r\n",
        "X-A: 1\r\n".repeat(MAX_HEADERS + 1)
    );
    assert_eq!(
        decode(many.as_bytes()),
        Err(RtspError::TooManyHeaders { limit: MAX_HEADERS })
    );
    let enough = format!(
        "RTSP/1.0 200 OK\r\n{}Content-Length: 0\r\n\r\n",
        "X-A: 1\r\n".repeat(MAX_HEADERS)
    );
    assert!(matches!(decode(enough.as_bytes()), Ok(Some(_))));
    // A body over the limit is refused from the head, before it arrives.
    let big = format!(
        "ANNOUNCE rtsp://h/x RTSP/1.0\r\nCSeq: 1\r\nContent-Length: {}\r\n\r\n",
        MAX_BODY_LEN + 1
    );
    assert_eq!(
        decode(big.as_bytes()),
        Err(RtspError::BodyTooLarge {
            len: MAX_BODY_LEN as u64 + 1,
            limit: MAX_BODY_LEN
        })
    );
    let huge = "RTSP/1.0 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n";
    assert!(matches!(
        decode(huge.as_bytes()),
        Err(RtspError::Malformed {
            what: "Content-Length",
            ..
        })
    ));
}

/// Found by the `rtsp` fuzz target: a status line of 1,200 bytes, 470 of them not UTF-8, fits
/// the line limit as received but not as encoded (each such byte becomes a 3-byte U+FFFD), so
/// its encoding did not decode. Such a head is refused; so is one whose LF line ends, made
/// CRLF, would pass the head limit.
#[test]
fn heads_whose_encoding_would_break_a_limit() {
    let data = include_bytes!("../../../tests/data/fuzz/rtsp-lossy-line-too-long.bin");
    let mut rest = &data[4..];
    while let Ok(Some((item, used))) = decode(rest) {
        if let Item::Message(m) = item {
            assert!(matches!(decode(&m.to_bytes()), Ok(Some(_))));
        }
        rest = &rest[used..];
    }
    let mut lossy = b"RTSP/1.0 200 ".to_vec();
    lossy.extend(std::iter::repeat_n(0xff, 700));
    lossy.extend_from_slice(b"\r\n\r\n");
    assert_eq!(
        decode(&lossy),
        Err(RtspError::LineTooLong {
            offset: 0,
            limit: MAX_LINE_LEN
        })
    );
    lossy.truncate(13 + 600);
    lossy.extend_from_slice(b"\r\n\r\n");
    assert!(matches!(decode(&lossy), Ok(Some(_))));
    // LF-only: 8,177 bytes as received, 8,199 once each LF is CRLF.
    let mut lf = b"RTSP/1.0 200 OK\n".to_vec();
    for _ in 0..20 {
        lf.extend_from_slice(b"X-A: ");
        lf.extend_from_slice(&[b'a'; 402]);
        lf.push(b'\n');
    }
    lf.push(b'\n');
    assert!(lf.len() < MAX_HEAD_LEN);
    assert_eq!(
        decode(&lf),
        Err(RtspError::HeadTooLarge {
            limit: MAX_HEAD_LEN
        })
    );
}

#[test]
fn malformed_and_foreign() {
    let cases: &[(&[u8], RtspError)] = &[
        (
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            RtspError::UnsupportedVersion { offset: 0 },
        ),
        (
            b"RTSP/2.0 200 OK\r\nCSeq: 1\r\n\r\n",
            RtspError::UnsupportedVersion { offset: 0 },
        ),
        (
            b"\r\nRTSP/1.0 20 OK\r\n\r\n",
            RtspError::Malformed {
                what: "status line",
                offset: 2,
            },
        ),
        (
            b"RTSP/1.0 600 Odd\r\n\r\n",
            RtspError::Malformed {
                what: "status line",
                offset: 0,
            },
        ),
        (
            b"PLAY\r\n\r\n",
            RtspError::Malformed {
                what: "request line",
                offset: 0,
            },
        ),
        (
            b"PL(AY rtsp://h/ RTSP/1.0\r\n\r\n",
            RtspError::Malformed {
                what: "method",
                offset: 0,
            },
        ),
        (
            b"RTSP/1.0 200 OK\r\nCSeq 1\r\n\r\n",
            RtspError::Malformed {
                what: "header line without a colon",
                offset: 17,
            },
        ),
        (
            b"RTSP/1.0 200 OK\r\nCSeq: 1\x00\r\n\r\n",
            RtspError::Malformed {
                what: "control character",
                offset: 24,
            },
        ),
        (
            b"RTSP/1.0 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            RtspError::Malformed {
                what: "conflicting Content-Length",
                offset: 0,
            },
        ),
    ];
    for (bytes, err) in cases {
        assert_eq!(
            decode(bytes).as_ref(),
            Err(err),
            "{:?}",
            String::from_utf8_lossy(bytes)
        );
    }
    // Unknown methods and extension headers pass.
    let m = message(b"PUBLISH rtsp://h/ RTSP/1.0\r\nx-Custom: 1\r\n\r\n");
    assert_eq!(m.method(), Some(&Method::Unknown("PUBLISH".into())));
    assert_eq!(m.header("X-CUSTOM"), Some("1"));
    // Method names are case-sensitive.
    assert_eq!(
        message(b"play rtsp://h/ RTSP/1.0\r\n\r\n").method(),
        Some(&Method::Unknown("play".into()))
    );
}

#[test]
fn transport_variants() {
    let cases: &[(&str, Option<&str>)] = &[
        (
            "RTP/AVP/TCP;unicast;interleaved=0-1",
            Some("RTP/AVP/TCP;unicast;interleaved=0-1"),
        ),
        (
            "RTP/AVP;unicast;client_port=5000-5001;server_port=6970-6971;ssrc=00003E8A",
            Some("RTP/AVP;unicast;client_port=5000-5001;server_port=6970-6971;ssrc=00003E8A"),
        ),
        // Lowercase, spaces, UDP named, one port, a single channel, unknown parameters.
        (
            "rtp/avp/udp ; Unicast ; client_port = 5000 ; x-dynamic-rate=1 ; mode = PLAY",
            Some("rtp/avp;unicast;client_port=5000;mode=play"),
        ),
        (
            "RTP/AVP/TCP;interleaved=4",
            Some("RTP/AVP/TCP;interleaved=4"),
        ),
        (
            "RTP/AVP;multicast;destination=232.0.1.2;source=10.0.0.2;ttl=127",
            Some("RTP/AVP;multicast;destination=232.0.1.2;source=10.0.0.2"),
        ),
        ("RTP/AVP/SCTP;unicast", None),
        ("RTP", None),
        ("RTP/AVP/TCP/X", None),
        ("RTP/AVP/TCP;interleaved=a-b", None),
        ("RTP/AVP;client_port=70000", None),
        ("RTP/AVP;ssrc=123456789", None),
        ("RTP/AVP;ssrc=", None),
    ];
    for (text, want) in cases {
        let got = Transport::parse(text);
        assert_eq!(
            got.as_ref().map(Transport::encode).as_deref(),
            *want,
            "{text}"
        );
        if let Some(t) = got {
            assert_eq!(Transport::parse(&t.encode()), Some(t));
        }
    }
    // A client's alternatives, one of which does not parse.
    let list: Vec<_> = Transport::parse_list(
        "RTP/AVP/TCP;unicast;interleaved=0-1, RTP/AVP/XYZ, RTP/AVP;unicast;client_port=5000-5001",
    )
    .collect();
    assert_eq!(list.len(), 2);
    assert_eq!(list[1].client_port, Some(Pair::new(5000, 5001)));
    assert_eq!(
        Transport::tcp(Pair::new(2, 3)).encode(),
        "RTP/AVP/TCP;unicast;interleaved=2-3"
    );
    assert_eq!(
        Transport::udp(Pair::new(7000, 7001)).encode(),
        "RTP/AVP;unicast;client_port=7000-7001"
    );
    let many = ["RTP/AVP/TCP;interleaved=0-1"; header::MAX_TRANSPORTS + 3].join(",");
    assert_eq!(Transport::parse_list(&many).count(), header::MAX_TRANSPORTS);
}

#[test]
fn session_variants() {
    for (text, want) in [
        ("12345678", Some(("12345678", None))),
        ("12345678;timeout=65", Some(("12345678", Some(65)))),
        (" 9A;TimeOut = 30 ;x=1", Some(("9A", Some(30)))),
        ("12345678;timeout=abc", Some(("12345678", None))),
        ("1;timeout=99999999999", Some(("1", Some(u32::MAX)))),
        ("", None),
        (";timeout=60", None),
    ] {
        let got = Session::parse(text);
        assert_eq!(
            got.as_ref().map(|s| (s.id.as_str(), s.timeout)),
            want,
            "{text}"
        );
        if let Some(s) = got {
            assert_eq!(Session::parse(&s.encode()), Some(s));
        }
    }
}

#[test]
fn rtp_info_variants() {
    // A URL with a comma and a semicolon, spaces after the comma, rtptime first.
    let list = RtpInfo::parse_list(
        "url=rtsp://h/a,b;x/track1;rtptime=90000;seq=1, url=rtsp://h/track2;seq=2;ssrc=1",
    );
    assert_eq!(
        list,
        [
            RtpInfo {
                url: "rtsp://h/a,b;x/track1".into(),
                seq: Some(1),
                rtptime: Some(90000)
            },
            RtpInfo {
                url: "rtsp://h/track2".into(),
                seq: Some(2),
                rtptime: None
            },
        ]
    );
    assert_eq!(RtpInfo::parse_list("seq=1;rtptime=2"), []);
    assert_eq!(RtpInfo::parse_list(""), []);
    let entries = [
        RtpInfo {
            url: "rtsp://h/live/trackID=0".into(),
            seq: Some(1000),
            rtptime: Some(123_456),
        },
        RtpInfo {
            url: "rtsp://h/live/trackID=1".into(),
            seq: None,
            rtptime: Some(0),
        },
    ];
    let text = RtpInfo::encode_list(&entries);
    assert_eq!(
        text,
        "url=rtsp://h/live/trackID=0;seq=1000;rtptime=123456,url=rtsp://h/live/trackID=1;rtptime=0"
    );
    assert_eq!(RtpInfo::parse_list(&text), entries);
}

#[test]
fn digest_round_trip_through_a_message() {
    let unauthorized = message(HIKVISION_DESCRIBE_401);
    let Challenge::Digest(challenge) = &unauthorized.challenges()[0] else {
        panic!();
    };
    let uri = "rtsp://192.168.1.64:554/Streaming/Channels/101";
    let creds = challenge.answer("admin", "12345", "DESCRIBE", uri, "0a1b2c3d", 1);
    let request = Message::request(Method::Describe, uri)
        .with_header("CSeq", "3")
        .with_header("Authorization", creds.header_value());
    let received = message(&request.to_bytes());
    let back = crate::wire::digest::parse_authorization(received.header("Authorization").unwrap())
        .unwrap();
    assert!(crate::wire::digest::verify(&back, "DESCRIBE", "12345"));
    assert!(!crate::wire::digest::verify(&back, "DESCRIBE", "54321"));
}

/// Mutated goldens and interleaved streams: no panic, what decodes re-encodes to bytes that
/// decode the same, typed accessors never panic, and cutting the input changes nothing.
#[test]
fn fuzz_no_panic_and_stable() {
    let (stream, _) = interleaved_stream();
    let mut seeds: Vec<&[u8]> = ALL.to_vec();
    seeds.push(&stream);
    let mut rng = XorShift(0x7275_7370_5f66_757a);
    let alphabet = b"$\r\n :;=,-RTSP/1.0CSeqContent-Length0123456789";
    let mut decoded = 0;
    for round in 0..3_000 {
        let mut input = seeds[rng.below(seeds.len())].to_vec();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(input.len() + 1);
            match rng.below(3) {
                0 if at < input.len() => input[at] = alphabet[rng.below(alphabet.len())],
                1 => input.insert(at, rng.next() as u8),
                _ => input.truncate(at.max(1)),
            }
        }
        let mut whole = Vec::new();
        let mut rest = &input[..];
        let mut error = None;
        loop {
            match decode(rest) {
                Ok(Some((item, used))) => {
                    assert!(used > 0 && used <= rest.len());
                    rest = &rest[used..];
                    if let Item::Message(m) = &item {
                        let bytes = m.to_bytes();
                        assert_eq!(bytes.len(), m.encoded_len());
                        let again = message(&bytes);
                        assert_eq!(again.to_bytes(), bytes, "round {round}");
                        let _ = (m.cseq(), m.session(), m.transports(), m.rtp_info());
                        let _ = (m.public(), m.challenges(), m.content_base("rtsp://h/"));
                        decoded += 1;
                    }
                    whole.push(item);
                }
                Ok(None) => break,
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        // Fed in two pieces, the same items come out.
        let cut = rng.below(input.len() + 1);
        let mut buf = input[..cut].to_vec();
        let mut items = Vec::new();
        let mut cut_error = None;
        'feed: for piece in [&[][..], &input[cut..]] {
            buf.extend_from_slice(piece);
            loop {
                match decode(&buf) {
                    Ok(Some((item, used))) => {
                        buf.drain(..used);
                        items.push(item);
                    }
                    Ok(None) => break,
                    Err(e) => {
                        cut_error = Some(e);
                        break 'feed;
                    }
                }
            }
        }
        assert_eq!(items, whole, "round {round}");
        assert_eq!(cut_error, error, "round {round}");
    }
    assert!(decoded > 1_000, "{decoded}");
}
