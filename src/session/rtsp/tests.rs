//! Tests of the camera client session: camera replies (captured from real servers, named by
//! vendor, or written after what cameras are known to send) on a simulated clock.

use bytes::{BufMut, BytesMut};

use super::*;
use crate::media::FrameKind;
use crate::wire::rtsp::{decode, Item};

/// GStreamer 1.22's RTSP server (gst-rtsp-server, tests/data/rtsp_camera.py): its DESCRIBE
/// reply, H.264 with sprop-parameter-sets and AAC-hbr, `Content-Base` with a trailing `/`,
/// relative `a=control`.
const GSTREAMER_SDP: &str = "v=0\r\no=- 5295516112794015830 1 IN IP4 127.0.0.1\r\n\
s=Session streamed with GStreamer\r\ni=rtsp-server\r\nt=0 0\r\na=tool:GStreamer\r\n\
a=type:broadcast\r\na=control:*\r\na=range:npt=now-\r\nm=video 0 RTP/AVP 96\r\n\
c=IN IP4 0.0.0.0\r\nb=AS:2097\r\na=rtpmap:96 H264/90000\r\na=framerate:25\r\n\
a=fmtp:96 packetization-mode=1;sprop-parameter-sets=Z0LAFdoFB+wFqDAwNSgAAAMACAAAAwGUeLF1,aM48gA==;profile-level-id=42c015;level-asymmetry-allowed=1\r\n\
a=control:stream=0\r\na=ts-refclk:local\r\na=mediaclk:sender\r\n\
a=ssrc:3130390465 cname:user2540444810@host-ef3ff421\r\nm=audio 0 RTP/AVP 97\r\n\
c=IN IP4 0.0.0.0\r\na=rtpmap:97 MPEG4-GENERIC/44100/1\r\n\
a=fmtp:97 streamtype=5;profile-level-id=2;mode=AAC-hbr;config=120856e500;sizelength=13;indexlength=3;indexdeltalength=3\r\n\
a=control:stream=1\r\na=ts-refclk:local\r\na=mediaclk:sender\r\n\
a=ssrc:1033712965 cname:user2540444810@host-ef3ff421\r\n";

/// GStreamer 1.22's OPTIONS reply headers.
const GSTREAMER_PUBLIC: &str = "Public: OPTIONS, DESCRIBE, ANNOUNCE, GET_PARAMETER, PAUSE, \
PLAY, RECORD, SETUP, SET_PARAMETER, TEARDOWN\r\nServer: GStreamer RTSP server\r\n";

const SPS: &[u8] = &[
    0x67, 0x42, 0xc0, 0x15, 0xda, 0x05, 0x07, 0xec, 0x05, 0xa8, 0x30, 0x30, 0x35, 0x28, 0, 0, 3, 0,
    8, 0, 0, 3, 1, 0x94, 0x78, 0xb1, 0x75,
];
const PPS: &[u8] = &[0x68, 0xce, 0x3c, 0x80];

fn config(url: &str) -> ClientConfig {
    ClientConfig {
        url: Url::parse(url).unwrap(),
        cnonce: "0a4f113b".to_owned(),
        max_access_unit: 1 << 20,
        request_timeout_ms: 10_000,
        media_timeout_ms: 20_000,
    }
}

/// A session and what it sent.
struct Cam {
    s: ClientSession,
    now: u64,
}

impl Cam {
    fn new(url: &str) -> Cam {
        let mut s = ClientSession::new(config(url), 0);
        s.handle_connected(0);
        Cam { s, now: 0 }
    }

    /// Every request sent since the last call.
    fn sent(&mut self) -> Vec<Message> {
        let mut bytes = BytesMut::new();
        while let Some(b) = self.s.poll_transmit() {
            bytes.put_slice(&b);
        }
        let mut out = Vec::new();
        let mut at = 0;
        while let Some((item, used)) = decode(&bytes[at..]).unwrap() {
            at += used;
            match item {
                Item::Message(m) => out.push(m),
                // Receiver reports go on a track's RTCP channel (odd); nothing else does.
                Item::Interleaved { channel, .. } if channel % 2 == 1 => {}
                Item::Interleaved { .. } => panic!("the client sent media"),
            }
        }
        assert_eq!(at, bytes.len());
        out
    }

    /// The one request sent since the last call.
    fn request(&mut self) -> Message {
        let mut sent = self.sent();
        assert_eq!(sent.len(), 1, "{sent:?}");
        sent.pop().unwrap()
    }

    fn reply(&mut self, text: &str) -> Result<(), Error> {
        self.s.handle_bytes(self.now, text.as_bytes())
    }

    /// Answers the pending request with `status`, its CSeq, `headers` and `body`.
    fn answer(&mut self, status: &str, headers: &str, body: &str) -> Result<(), Error> {
        let req = self.request();
        let cseq = req.cseq().unwrap();
        let length = if body.is_empty() {
            String::new()
        } else {
            format!("Content-Length: {}\r\n", body.len())
        };
        self.reply(&format!(
            "RTSP/1.0 {status}\r\nCSeq: {cseq}\r\n{headers}{length}\r\n{body}"
        ))
    }

    fn frames(&mut self) -> Vec<Frame> {
        std::iter::from_fn(|| self.s.poll_frame()).collect()
    }
}

fn uri(m: &Message) -> &str {
    m.request_uri().unwrap()
}

/// Through PLAY with the GStreamer replies: (session, the SETUP requests).
fn play_gstreamer() -> (Cam, Vec<Message>) {
    let mut c = Cam::new("rtsp://127.0.0.1:23230/cam");
    assert_eq!(c.s.state(), State::Options);
    c.answer("200 OK", GSTREAMER_PUBLIC, "").unwrap();
    c.answer(
        "200 OK",
        "Content-Type: application/sdp\r\nContent-Base: rtsp://127.0.0.1:23230/cam/\r\n",
        GSTREAMER_SDP,
    )
    .unwrap();
    let mut setups = Vec::new();
    for (i, session) in ["", "Session: NNiPTE2aB3aS8P_V\r\n"].iter().enumerate() {
        let req = c.request();
        let transport = format!(
            "Transport: RTP/AVP/TCP;unicast;interleaved={}-{};mode=\"PLAY\"\r\n\
             Session: NNiPTE2aB3aS8P_V\r\n",
            2 * i,
            2 * i + 1
        );
        assert_eq!(req.header("Session").is_some(), !session.is_empty());
        let cseq = req.cseq().unwrap();
        setups.push(req);
        c.reply(&format!(
            "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\n{transport}\r\n"
        ))
        .unwrap();
    }
    assert_eq!(c.s.state(), State::Play);
    c.answer(
        "200 OK",
        "RTP-Info: url=rtsp://127.0.0.1:23230/cam/stream=0;seq=2132;rtptime=4294960000,\
         url=rtsp://127.0.0.1:23230/cam/stream=1;seq=10;rtptime=1000\r\n\
         Session: NNiPTE2aB3aS8P_V\r\n",
        "",
    )
    .unwrap();
    assert_eq!(c.s.state(), State::Playing);
    match c.s.poll_event() {
        Some(Event::Playing { tracks }) => assert_eq!(tracks, "H264, AAC"),
        other => panic!("{other:?}"),
    }
    (c, setups)
}

/// An RTP packet in an interleaved frame.
fn rtp(channel: u8, pt: u8, seq: u16, ts: u32, marker: bool, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, pt | if marker { 0x80 } else { 0 }];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    p.extend_from_slice(payload);
    let mut out = vec![b'$', channel];
    out.extend_from_slice(&(p.len() as u16).to_be_bytes());
    out.extend_from_slice(&p);
    out
}

/// An AAC-hbr payload with one access unit (RFC 3640: 16-bit AU-headers-length, then the
/// 13-bit size and 3-bit index).
fn aac_payload(au: &[u8]) -> Vec<u8> {
    let mut p = vec![0x00, 0x10];
    p.extend_from_slice(&((au.len() as u16) << 3).to_be_bytes());
    p.extend_from_slice(au);
    p
}

#[test]
fn gstreamer_camera_is_set_up_track_by_track_and_played() {
    let (mut c, setups) = play_gstreamer();
    // Relative controls appended to the Content-Base; channels 0-1 and 2-3.
    assert_eq!(uri(&setups[0]), "rtsp://127.0.0.1:23230/cam/stream=0");
    assert_eq!(uri(&setups[1]), "rtsp://127.0.0.1:23230/cam/stream=1");
    assert_eq!(
        setups[0].header("Transport"),
        Some("RTP/AVP/TCP;unicast;interleaved=0-1")
    );
    assert_eq!(
        setups[1].header("Transport"),
        Some("RTP/AVP/TCP;unicast;interleaved=2-3")
    );
    // The aggregate control `*` is the Content-Base.
    assert_eq!(c.s.aggregate, "rtsp://127.0.0.1:23230/cam/");
    assert!(c.sent().is_empty());

    // Video: SPS, PPS, an IDR slice at the RTP-Info rtptime; then a P slice 40 ms later,
    // across the 32-bit wrap. Audio: one AAC frame at its rtptime, one 1024 samples later.
    let mut bytes = Vec::new();
    let t0 = 4_294_960_000u32;
    bytes.extend(rtp(0, 96, 2132, t0, false, SPS));
    bytes.extend(rtp(0, 96, 2133, t0, false, PPS));
    bytes.extend(rtp(0, 96, 2134, t0, true, &[0x65, 0x88, 0x84, 0x00]));
    bytes.extend(rtp(
        2,
        97,
        10,
        1000,
        true,
        &aac_payload(&[0x21, 0x10, 0x04]),
    ));
    bytes.extend(rtp(
        0,
        96,
        2135,
        t0.wrapping_add(3600),
        true,
        &[0x41, 0x9a, 0x02],
    ));
    bytes.extend(rtp(
        2,
        97,
        11,
        2024,
        true,
        &aac_payload(&[0x21, 0x10, 0x05]),
    ));
    // RTCP on channel 1 is dropped.
    bytes.extend([b'$', 1, 0, 4, 0x80, 200, 0, 0]);
    c.now = 100;
    c.s.handle_bytes(100, &bytes).unwrap();
    let frames = c.frames();
    let summary: Vec<(FrameKind, bool, bool, i64)> = frames
        .iter()
        .map(|f| (f.kind, f.sequence_header, f.keyframe, f.dts))
        .collect();
    assert_eq!(
        summary,
        [
            (FrameKind::Video, true, false, 0),
            (FrameKind::Video, false, true, 0),
            (FrameKind::Audio, true, false, 0),
            (FrameKind::Audio, false, false, 0),
            (FrameKind::Video, false, false, 40),
            (FrameKind::Audio, false, false, 23),
        ]
    );
    // The sequence header is the AVCDecoderConfigurationRecord of the SDP's sets; frames
    // carry the picture's NAL units only (SPS/PPS out of band).
    let record = crate::wire::codec::h264::AvcConfig::parse(&frames[0].data[5..]).expect("record");
    assert_eq!((&record.sps[0][..], &record.pps[0][..]), (SPS, PPS));
    assert_eq!(
        &frames[1].data[..],
        &[0x17, 1, 0, 0, 0, 0, 0, 0, 4, 0x65, 0x88, 0x84, 0x00]
    );
    assert_eq!(
        &frames[2].data[..],
        &[0xAF, 0x00, 0x12, 0x08, 0x56, 0xe5, 0x00]
    );
    assert_eq!(&frames[3].data[..], &[0xAF, 0x01, 0x21, 0x10, 0x04]);
    assert_eq!(&frames[4].data[..2], &[0x27, 1]);
    assert_eq!(c.s.other_frames, 1);

    // Keepalive: GET_PARAMETER (listed in Public) with the session, every 30 s (timeout 60);
    // a receiver report every 5 s (on the RTCP channels, which `sent` skips); no media for
    // 20 s is an error.
    assert_eq!(c.s.poll_timeout(), Some(5_000));
    c.s.handle_timeout(5_000).unwrap();
    c.s.handle_timeout(10_000).unwrap();
    assert_eq!(c.s.poll_timeout(), Some(15_000));
    c.now = 15_000;
    c.s.handle_bytes(15_000, &rtp(2, 97, 12, 3048, true, &aac_payload(&[1])))
        .unwrap();
    for t in [15_000, 20_000, 25_000] {
        c.s.handle_timeout(t).unwrap();
    }
    assert_eq!(c.s.poll_timeout(), Some(30_000));
    c.s.handle_timeout(30_000 - 1).unwrap();
    assert!(c.sent().is_empty());
    c.s.handle_timeout(30_000).unwrap();
    let keepalive = c.request();
    assert_eq!(keepalive.method(), Some(&Method::GetParameter));
    assert_eq!(uri(&keepalive), "rtsp://127.0.0.1:23230/cam/");
    assert_eq!(keepalive.header("Session"), Some("NNiPTE2aB3aS8P_V"));
    // Its reply, whatever it says, changes nothing.
    c.reply(&format!(
        "RTSP/1.0 200 OK\r\nCSeq: {}\r\n\r\n",
        keepalive.cseq().unwrap()
    ))
    .unwrap();
    assert_eq!(c.s.state(), State::Playing);

    // Stop: TEARDOWN of the aggregate with the session.
    c.s.teardown(31_000);
    let teardown = c.request();
    assert_eq!(teardown.method(), Some(&Method::Teardown));
    assert_eq!(teardown.header("Session"), Some("NNiPTE2aB3aS8P_V"));
    assert_eq!(c.s.state(), State::Closed);
}

#[test]
fn a_camera_that_sends_no_media_times_out() {
    let (mut c, _) = play_gstreamer();
    assert_eq!(
        c.s.handle_timeout(20_000),
        Err(Error::Timeout("no media from the camera"))
    );
}

#[test]
fn a_camera_that_does_not_answer_times_out() {
    let mut c = Cam::new("rtsp://10.0.0.2/s");
    c.s.handle_timeout(9_999).unwrap();
    assert_eq!(
        c.s.handle_timeout(10_000),
        Err(Error::Timeout("no reply to OPTIONS"))
    );
}

#[test]
fn keepalive_is_options_without_get_parameter_in_public() {
    let mut c = Cam::new("rtsp://10.0.0.2/s");
    c.answer(
        "200 OK",
        "Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\n",
        "",
    )
    .unwrap();
    let sdp = "v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:track1\r\n";
    c.answer("200 OK", "", sdp).unwrap();
    c.answer("200 OK", "Session: 1234;timeout=10\r\n", "")
        .unwrap();
    c.answer("200 OK", "Session: 1234;timeout=10\r\n", "")
        .unwrap();
    assert_eq!(c.s.state(), State::Playing);
    // Half of the 10 s session timeout.
    c.s.handle_timeout(5_000).unwrap();
    let keepalive = c.request();
    assert_eq!(keepalive.method(), Some(&Method::Options));
    assert_eq!(keepalive.header("Session"), Some("1234"));
}

#[test]
fn digest_challenge_is_answered_once() {
    let mut c = Cam::new("rtsp://admin:12345@192.168.1.64/Streaming/Channels/101");
    let options = c.request();
    assert_eq!(uri(&options), "rtsp://192.168.1.64/Streaming/Channels/101");
    assert_eq!(options.header("Authorization"), None);
    // Hikvision answers OPTIONS without a challenge and DESCRIBE with two.
    c.reply(
        "RTSP/1.0 200 OK\r\nCSeq: 1\r\nPublic: OPTIONS, DESCRIBE, PLAY, PAUSE, SETUP, \
         TEARDOWN, SET_PARAMETER, GET_PARAMETER\r\n\r\n",
    )
    .unwrap();
    c.answer(
        "401 Unauthorized",
        "WWW-Authenticate: Digest realm=\"IP Camera(C6253)\", nonce=\"5e0ad1c0b3a9f1d8\", \
         stale=\"FALSE\"\r\nWWW-Authenticate: Basic realm=\"IP Camera(C6253)\"\r\n",
        "",
    )
    .unwrap();
    let describe = c.request();
    assert_eq!(describe.method(), Some(&Method::Describe));
    let auth = describe.header("Authorization").unwrap();
    let creds = digest::parse_authorization(auth).unwrap();
    assert_eq!(creds.username, "admin");
    assert_eq!(creds.uri, "rtsp://192.168.1.64/Streaming/Channels/101");
    assert!(digest::verify(&creds, "DESCRIBE", "12345"));
    // A second 401 for the same request: the password is wrong.
    let cseq = describe.cseq().unwrap();
    let err = c
        .reply(&format!(
            "RTSP/1.0 401 Unauthorized\r\nCSeq: {cseq}\r\nWWW-Authenticate: Digest \
             realm=\"IP Camera(C6253)\", nonce=\"77\"\r\n\r\n"
        ))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "DESCRIBE: 401 Unauthorized (wrong user or password)"
    );
}

#[test]
fn basic_challenge_and_credentials_on_every_later_request() {
    let mut c = Cam::new("rtsp://user:pa%20ss@10.0.0.2:8554/live");
    c.answer("200 OK", "", "").unwrap();
    c.answer(
        "401 Unauthorized",
        "WWW-Authenticate: Basic realm=\"cam\"\r\n",
        "",
    )
    .unwrap();
    let describe = c.request();
    let auth = describe.header("Authorization").unwrap();
    assert_eq!(
        header::parse_basic(auth),
        Some(("user".to_owned(), "pa ss".to_owned()))
    );
    let cseq = describe.cseq().unwrap();
    let sdp = "v=0\r\nm=audio 0 RTP/AVP 8\r\na=control:trackID=2\r\n";
    c.reply(&format!(
        "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    ))
    .unwrap();
    let setup = c.request();
    assert!(setup.header("Authorization").is_some());
    assert_eq!(uri(&setup), "rtsp://10.0.0.2:8554/live/trackID=2");
}

#[test]
fn a_401_without_credentials_in_the_url_is_an_error() {
    let mut c = Cam::new("rtsp://10.0.0.2/live");
    let err = c
        .answer(
            "401 Unauthorized",
            "WWW-Authenticate: Basic realm=\"x\"\r\n",
            "",
        )
        .unwrap_err();
    assert!(matches!(err, Error::Unauthorized { what, .. } if what.contains("no user")));
}

#[test]
fn redirects_are_followed_three_times() {
    let mut c = Cam::new("rtsp://10.0.0.2/live");
    c.answer("200 OK", "", "").unwrap();
    for hop in 1..=3u16 {
        c.answer(
            "302 Moved Temporarily",
            &format!("Location: rtsp://10.0.0.{hop}:{}/moved\r\n", 600 + hop),
            "",
        )
        .unwrap();
        match c.s.poll_event() {
            Some(Event::Redirect { host, port }) => {
                assert_eq!((host, port), (format!("10.0.0.{hop}"), 600 + hop))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(c.s.target(), (format!("10.0.0.{hop}").as_str(), 600 + hop));
        assert_eq!(c.s.state(), State::Redirected);
        c.s.handle_connected(0);
        let options = c.request();
        assert_eq!(
            uri(&options),
            format!("rtsp://10.0.0.{hop}:{}/moved", 600 + hop)
        );
        let cseq = options.cseq().unwrap();
        c.reply(&format!("RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\n\r\n"))
            .unwrap();
    }
    let err = c
        .answer(
            "301 Moved Permanently",
            "Location: rtsp://10.0.0.9/x\r\n",
            "",
        )
        .unwrap_err();
    assert_eq!(err, Error::TooManyRedirects);
}

/// UniFi Protect's `rtsps://host:7441/...`: the requests, the Digest `uri` and the controls
/// resolved against `Content-Base` all say rtsps://; a redirect to rtsp:// (no TLS) is refused.
#[test]
fn rtsps_urls_are_sent_as_given_and_redirects_keep_the_scheme() {
    let mut c = Cam::new("rtsps://admin:pw@10.0.0.2:7441/aBcD");
    assert!(c.s.tls());
    assert_eq!(c.s.target(), ("10.0.0.2", 7441));
    let options = c.request();
    assert_eq!(uri(&options), "rtsps://10.0.0.2:7441/aBcD");
    let cseq = options.cseq().unwrap();
    c.reply(&format!("RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\n\r\n"))
        .unwrap();
    c.answer(
        "401 Unauthorized",
        "WWW-Authenticate: Digest realm=\"unifi\", nonce=\"n1\"\r\n",
        "",
    )
    .unwrap();
    let describe = c.request();
    let creds = digest::parse_authorization(describe.header("Authorization").unwrap()).unwrap();
    assert_eq!(creds.uri, "rtsps://10.0.0.2:7441/aBcD");
    assert!(digest::verify(&creds, "DESCRIBE", "pw"));
    let cseq = describe.cseq().unwrap();
    let sdp = "v=0\r\nm=audio 0 RTP/AVP 8\r\na=control:trackID=2\r\n";
    c.reply(&format!(
        "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nContent-Base: rtsps://10.0.0.2:7441/aBcD/\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    ))
    .unwrap();
    assert_eq!(uri(&c.request()), "rtsps://10.0.0.2:7441/aBcD/trackID=2");

    let mut c = Cam::new("rtsps://10.0.0.2/live");
    assert_eq!(c.s.target(), ("10.0.0.2", 322));
    c.answer("200 OK", "", "").unwrap();
    let err = c
        .answer("302 Found", "Location: rtsp://10.0.0.3/live\r\n", "")
        .unwrap_err();
    assert!(err.to_string().contains("changes the scheme"), "{err}");
    assert!(!Cam::new("rtsp://10.0.0.2/live").s.tls());
}

#[test]
fn error_status_names_the_cameras_reply() {
    let mut c = Cam::new("rtsp://10.0.0.2/nothing");
    c.answer("200 OK", "", "").unwrap();
    let err = c.answer("404 Stream Not Found", "", "").unwrap_err();
    assert_eq!(
        err.to_string(),
        "DESCRIBE refused: RTSP/1.0 404 Stream Not Found"
    );
}

#[test]
fn absolute_controls_and_a_content_base_elsewhere() {
    // Dahua-like: Content-Base names another path than the request; one control is absolute,
    // the other relative; an ONVIF metadata track and a second video track are skipped.
    let mut c = Cam::new("rtsp://10.0.0.2:554/cam/realmonitor?channel=1&subtype=0");
    c.answer("200 OK", "", "").unwrap();
    let sdp = "v=0\r\na=control:rtsp://10.0.0.2:554/base/\r\n\
               m=video 0 RTP/AVP 96\r\na=rtpmap:96 H265/90000\r\n\
               a=control:rtsp://10.0.0.2:554/base/trackID=0\r\n\
               m=video 0 RTP/AVP 98\r\na=rtpmap:98 H264/90000\r\na=control:trackID=3\r\n\
               m=audio 0 RTP/AVP 0\r\na=control:trackID=1\r\n\
               m=application 0 RTP/AVP 107\r\na=rtpmap:107 vnd.onvif.metadata/90000\r\n\
               a=control:trackID=4\r\n";
    c.answer("200 OK", "Content-Base: rtsp://10.0.0.2:554/base/\r\n", sdp)
        .unwrap();
    let first = c.request();
    assert_eq!(uri(&first), "rtsp://10.0.0.2:554/base/trackID=0");
    c.reply(&format!(
        "RTSP/1.0 200 OK\r\nCSeq: {}\r\nSession: 99;timeout=60\r\n\
         Transport: RTP/AVP/TCP;unicast;interleaved=6-7\r\n\r\n",
        first.cseq().unwrap()
    ))
    .unwrap();
    let second = c.request();
    assert_eq!(uri(&second), "rtsp://10.0.0.2:554/base/trackID=1");
    c.reply(&format!(
        "RTSP/1.0 200 OK\r\nCSeq: {}\r\nSession: 99\r\n\r\n",
        second.cseq().unwrap()
    ))
    .unwrap();
    let play = c.request();
    assert_eq!(uri(&play), "rtsp://10.0.0.2:554/base/");
    assert_eq!(play.header("Range"), Some("npt=0.000-"));
    // The channels the camera chose are used.
    assert_eq!(c.s.tracks[0].channel, 6);
    assert_eq!(c.s.tracks[1].channel, 2);
}

#[test]
fn an_sdp_without_a_track_we_carry_is_an_error() {
    let mut c = Cam::new("rtsp://10.0.0.2/x");
    c.answer("200 OK", "", "").unwrap();
    let sdp = "v=0\r\nm=video 0 RTP/AVP 26\r\na=rtpmap:26 JPEG/90000\r\n";
    let err = c.answer("200 OK", "", sdp).unwrap_err();
    assert!(
        matches!(err, Error::NoTracks(ref why) if why.contains("JPEG")),
        "{err}"
    );
}

/// Through PLAY of one H.264 track without parameter sets in the SDP, RTP-Info absent.
fn play_h264_without_sprop() -> Cam {
    let mut c = Cam::new("rtsp://10.0.0.2/x");
    c.answer("200 OK", "", "").unwrap();
    let sdp = "v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
               a=fmtp:96 packetization-mode=1\r\n";
    c.answer("200 OK", "", sdp).unwrap();
    c.answer("200 OK", "Session: 1\r\n", "").unwrap();
    c.answer("200 OK", "", "").unwrap();
    assert_eq!(c.s.state(), State::Playing);
    c
}

#[test]
fn parameter_sets_from_the_stream_when_the_sdp_has_none() {
    let mut c = play_h264_without_sprop();
    // A P slice first (dropped: no parameter sets, no keyframe yet), then a STAP-A with SPS
    // and PPS, and an IDR in two FU-A fragments; the timestamps start near the wrap.
    let t = 0xFFFF_FF00u32;
    let mut stap = vec![24];
    for nal in [SPS, PPS] {
        stap.extend_from_slice(&(nal.len() as u16).to_be_bytes());
        stap.extend_from_slice(nal);
    }
    let mut bytes = rtp(0, 96, 1, t.wrapping_sub(3600), true, &[0x41, 1, 2]);
    bytes.extend(rtp(0, 96, 2, t, false, &stap));
    bytes.extend(rtp(0, 96, 3, t, false, &[0x7c, 0x85, 0xAA, 0xBB]));
    bytes.extend(rtp(0, 96, 4, t, true, &[0x7c, 0x45, 0xCC]));
    bytes.extend(rtp(0, 96, 5, t.wrapping_add(3600), true, &[0x41, 3]));
    // Cut at every byte: the same frames.
    let mut whole = play_h264_without_sprop();
    whole.s.handle_bytes(0, &bytes).unwrap();
    let expected = whole.frames();
    for b in &bytes {
        c.s.handle_bytes(0, std::slice::from_ref(b)).unwrap();
    }
    let frames = c.frames();
    assert_eq!(frames.len(), expected.len());
    for (a, b) in frames.iter().zip(&expected) {
        assert_eq!((a.dts, &a.data), (b.dts, &b.data));
    }
    let summary: Vec<(bool, bool, i64)> = frames
        .iter()
        .map(|f| (f.sequence_header, f.keyframe, f.dts))
        .collect();
    // Without RTP-Info the first packet is dts 0: the IDR is 40 ms after it, across the wrap
    // the next picture 40 ms later.
    assert_eq!(
        summary,
        [(true, false, 40), (false, true, 40), (false, false, 80)]
    );
    assert_eq!(&frames[1].data[5..], &[0, 0, 0, 4, 0x65, 0xAA, 0xBB, 0xCC]);
    let stats: Vec<_> = c.s.track_stats().collect();
    assert_eq!(stats[0].1.before_keyframe, 1);
}

#[test]
fn requests_from_the_camera_are_answered() {
    let (mut c, _) = play_gstreamer();
    c.reply("GET_PARAMETER rtsp://127.0.0.1:23230/cam/ RTSP/1.0\r\nCSeq: 7\r\n\r\n")
        .unwrap();
    c.reply("ANNOUNCE rtsp://127.0.0.1:23230/cam/ RTSP/1.0\r\nCSeq: 8\r\n\r\n")
        .unwrap();
    let mut bytes = BytesMut::new();
    while let Some(b) = c.s.poll_transmit() {
        bytes.put_slice(&b);
    }
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.starts_with("RTSP/1.0 200 OK\r\nCSeq: 7\r\n"), "{text}");
    assert!(
        text.contains("RTSP/1.0 501 Not Implemented\r\nCSeq: 8\r\n"),
        "{text}"
    );
}

#[test]
fn garbage_from_the_camera_is_an_error_not_a_panic() {
    let mut c = Cam::new("rtsp://10.0.0.2/x");
    let err = c.reply("HTTP/1.1 200 OK\r\n\r\n").unwrap_err();
    assert!(matches!(err, Error::Framing(_)), "{err}");
    // Interleaved frames before anything was set up are counted and dropped.
    let mut c = Cam::new("rtsp://10.0.0.2/x");
    c.s.handle_bytes(0, &rtp(0, 96, 1, 0, true, &[1])).unwrap();
    assert_eq!(c.s.other_frames, 1);
    assert!(c.s.poll_frame().is_none());
}

#[test]
fn controls_with_spaces_are_percent_encoded() {
    // Found by the rtsp_session fuzz target: a control with spaces broke our request line.
    let mut c = Cam::new("rtsp://10.0.0.2/x");
    c.answer("200 OK", "", "").unwrap();
    let sdp = "v=0\r\nm=audio 0 RTP/AVP 0\r\na=control:stream=N IP4 0.0.0.0\r\n";
    c.answer("200 OK", "Content-Base: rtsp://10.0.0.2/x/\r\n", sdp)
        .unwrap();
    assert_eq!(
        uri(&c.request()),
        "rtsp://10.0.0.2/x/stream=N%20IP4%200.0.0.0"
    );
}

#[test]
fn fuzz_regressions_send_only_well_formed_requests() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/ci/fuzz/seeds/rtsp_session");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if !path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("regression-")
        {
            continue;
        }
        let data = std::fs::read(&path).unwrap();
        // Policy byte, 4 split-control bytes, then the camera's bytes after our DESCRIBE.
        let Some(payload) = data.get(5..) else {
            continue;
        };
        let mut c = Cam::new("rtsp://192.168.1.64/live");
        c.reply(
            "RTSP/1.0 200 OK\r\nCSeq: 1\r\nPublic: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, \
             GET_PARAMETER\r\n\r\n",
        )
        .unwrap();
        let _ = c.s.handle_bytes(0, payload);
        // `sent` decodes every request whole.
        let _ = c.sent();
        checked += 1;
    }
    assert!(checked >= 1);
}

#[test]
fn media_before_the_play_reply_is_not_lost() {
    // Some cameras start sending right after SETUP, before their PLAY reply.
    let mut c = Cam::new("rtsp://10.0.0.2/x");
    c.answer("200 OK", "", "").unwrap();
    let sdp = "v=0\r\nm=audio 0 RTP/AVP 8\r\na=control:a\r\n";
    c.answer("200 OK", "", sdp).unwrap();
    c.answer("200 OK", "Session: 7\r\n", "").unwrap();
    let play = c.request();
    let mut bytes = rtp(0, 8, 1, 0, true, &[0xD5; 160]);
    bytes.extend(format!("RTSP/1.0 200 OK\r\nCSeq: {}\r\n\r\n", play.cseq().unwrap()).bytes());
    bytes.extend(rtp(0, 8, 2, 160, true, &[0xD5; 160]));
    c.s.handle_bytes(0, &bytes).unwrap();
    assert_eq!(c.s.state(), State::Playing);
    let dts: Vec<i64> = c.frames().iter().map(|f| f.dts).collect();
    assert_eq!(dts, [0, 20]);
}

#[test]
fn urls_and_challenges_too_long_to_send_back_are_refused() {
    // Found by the rtsp_session fuzz target: a long Content-Base made a request line our own
    // parser (and cameras') refuses.
    let long = "a".repeat(MAX_URL_LEN);
    let mut c = Cam::new("rtsp://10.0.0.2/x");
    c.answer("200 OK", "", "").unwrap();
    let sdp = "v=0\r\nm=audio 0 RTP/AVP 0\r\n";
    let err = c
        .answer(
            "200 OK",
            &format!("Content-Base: rtsp://10.0.0.2/{long}/\r\n"),
            sdp,
        )
        .unwrap_err();
    assert!(matches!(err, Error::BadReply { .. }), "{err}");
    // A track whose control makes it too long is skipped.
    let mut c = Cam::new("rtsp://10.0.0.2/x");
    c.answer("200 OK", "", "").unwrap();
    let sdp = format!("v=0\r\nm=audio 0 RTP/AVP 0\r\na=control:{long}\r\n");
    let err = c.answer("200 OK", "", &sdp).unwrap_err();
    assert!(
        matches!(err, Error::NoTracks(ref why) if why.contains("too long")),
        "{err}"
    );
    // A redirect too long.
    let mut c = Cam::new("rtsp://10.0.0.2/x");
    c.answer("200 OK", "", "").unwrap();
    let err = c
        .answer(
            "302 Found",
            &format!("Location: rtsp://10.0.0.3/{long}\r\n"),
            "",
        )
        .unwrap_err();
    assert!(matches!(err, Error::BadReply { .. }), "{err}");
    // A Digest challenge too long to answer.
    let mut c = Cam::new("rtsp://u:p@10.0.0.2/x");
    c.answer("200 OK", "", "").unwrap();
    let nonce = "n".repeat(MAX_CHALLENGE_LEN);
    let err = c
        .answer(
            "401 Unauthorized",
            &format!("WWW-Authenticate: Digest realm=\"r\", nonce=\"{nonce}\"\r\n"),
            "",
        )
        .unwrap_err();
    assert!(err.to_string().contains("too long"), "{err}");
}

/// Through PLAY over UDP with GStreamer's replies (client ports 5000-5003, server ports
/// 6000-6003).
fn play_gstreamer_udp() -> Cam {
    let mut s = ClientSession::new(config("rtsp://127.0.0.1:23230/cam"), 0);
    s.set_udp([Pair::new(5000, 5001), Pair::new(5002, 5003)]);
    s.set_ssrc(0xabcd);
    s.handle_connected(0);
    let mut c = Cam { s, now: 0 };
    c.answer("200 OK", GSTREAMER_PUBLIC, "").unwrap();
    c.answer(
        "200 OK",
        "Content-Type: application/sdp\r\nContent-Base: rtsp://127.0.0.1:23230/cam/\r\n",
        GSTREAMER_SDP,
    )
    .unwrap();
    for i in 0..2u16 {
        let req = c.request();
        let asked = req.header("Transport").unwrap().to_owned();
        assert_eq!(
            asked,
            format!(
                "RTP/AVP;unicast;client_port={}-{}",
                5000 + 2 * i,
                5001 + 2 * i
            )
        );
        let cseq = req.cseq().unwrap();
        // GStreamer 1.22's reply.
        c.reply(&format!(
            "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nTransport: RTP/AVP;unicast;client_port={}-{};\
             server_port={}-{};ssrc=BA95DEC1;mode=\"PLAY\"\r\nSession: NNiPTE2aB3aS8P_V;timeout=60\r\n\r\n",
            5000 + 2 * i,
            5001 + 2 * i,
            6000 + 2 * i,
            6001 + 2 * i
        ))
        .unwrap();
    }
    c.answer("200 OK", "Session: NNiPTE2aB3aS8P_V\r\n", "")
        .unwrap();
    assert_eq!(c.s.state(), State::Playing);
    assert!(c.s.over_udp());
    c
}

/// An RTP datagram (the interleaved frame without its 4-byte header).
fn datagram(pt: u8, seq: u16, ts: u32, payload: &[u8]) -> Bytes {
    Bytes::from(rtp(0, pt, seq, ts, true, payload)[4..].to_vec())
}

#[test]
fn udp_packets_are_put_in_order_and_reported_to_the_cameras_rtcp_port() {
    let mut c = play_gstreamer_udp();
    // AAC on track 1, the second and third swapped on the way.
    for seq in [10u16, 12, 11] {
        let au = [0x21, seq as u8];
        c.s.handle_datagram(
            100,
            1,
            false,
            datagram(97, seq, u32::from(seq) * 1024, &aac_payload(&au)),
        );
    }
    let frames = c.frames();
    let raw: Vec<u8> = frames
        .iter()
        .filter(|f| f.data.len() == 4 && f.data[1] == 0x01)
        .map(|f| f.data[3])
        .collect();
    assert_eq!(raw, [10, 11, 12], "{frames:?}");
    // A datagram for a track that does not exist, or garbage: dropped.
    c.s.handle_datagram(100, 5, false, datagram(97, 13, 0, &[1]));
    c.s.handle_datagram(100, 1, false, Bytes::from_static(&[1, 2]));
    // The camera's sender report, then our receiver report 5 s after PLAY, about the track
    // that received (the video track got nothing: no block, no report).
    let sr = rtcp::Packet::SenderReport(rtcp::SenderReport {
        ssrc: 0x1234_5678,
        ntp: rtcp::NtpTimestamp(0x0000_1111_2222_0000),
        rtp_timestamp: 0,
        packet_count: 3,
        octet_count: 30,
        reports: Vec::new(),
    });
    let mut b = BytesMut::new();
    rtcp::encode_compound(&[sr], &mut b).unwrap();
    c.s.handle_datagram(1_000, 1, true, b.freeze());
    assert_eq!(c.s.poll_timeout(), Some(5_000));
    c.s.handle_timeout(5_000).unwrap();
    let (track, port, bytes) = c.s.poll_datagram().expect("a report");
    assert_eq!((track, port), (1, 6003));
    assert!(c.s.poll_datagram().is_none());
    let Some(Ok(rtcp::Packet::ReceiverReport(rr))) = rtcp::packets(&bytes).next() else {
        panic!("not an RR: {bytes:?}");
    };
    assert_eq!(rr.ssrc, 0xabcd);
    let block = rr.reports[0];
    assert_eq!(
        (block.ssrc, block.highest_sequence, block.cumulative_lost),
        (0x1234_5678, 12, 0)
    );
    assert_eq!(
        (block.last_sr, block.delay_since_last_sr),
        (0x1111_2222, 4 * 65_536)
    );
    assert!(c.sent().is_empty(), "nothing on the RTSP connection");
    assert_eq!(c.s.poll_timeout(), Some(10_000));
}

#[test]
fn no_rtp_over_udp_within_3_s_is_an_error_that_asks_for_tcp() {
    let mut c = play_gstreamer_udp();
    assert_eq!(c.s.poll_timeout(), Some(UDP_FIRST_PACKET_MS));
    c.s.handle_timeout(UDP_FIRST_PACKET_MS - 1).unwrap();
    let err = c.s.handle_timeout(UDP_FIRST_PACKET_MS).unwrap_err();
    assert_eq!(err, Error::NoUdp);
    assert!(err.udp_blocked());
    // A packet in time: no such deadline.
    let mut c = play_gstreamer_udp();
    c.s.handle_datagram(10, 0, false, datagram(96, 1, 0, PPS));
    c.s.handle_timeout(UDP_FIRST_PACKET_MS).unwrap();
    assert!(c.s.poll_timeout().unwrap() > UDP_FIRST_PACKET_MS);
}

#[test]
fn a_camera_that_refuses_udp_says_461_which_asks_for_tcp() {
    let mut s = ClientSession::new(config("rtsp://127.0.0.1:23230/cam"), 0);
    s.set_udp([Pair::new(5000, 5001), Pair::new(5002, 5003)]);
    s.handle_connected(0);
    let mut c = Cam { s, now: 0 };
    c.answer("200 OK", GSTREAMER_PUBLIC, "").unwrap();
    c.answer(
        "200 OK",
        "Content-Type: application/sdp\r\nContent-Base: rtsp://127.0.0.1:23230/cam/\r\n",
        GSTREAMER_SDP,
    )
    .unwrap();
    let err = c.answer("461 Unsupported transport", "", "").unwrap_err();
    assert!(err.udp_blocked(), "{err}");
    // Other failures do not.
    assert!(!Error::Timeout("no reply to SETUP").udp_blocked());
}

#[test]
fn tcp_tracks_get_receiver_reports_on_their_rtcp_channel() {
    let (mut c, _) = play_gstreamer();
    c.s.handle_bytes(50, &rtp(2, 97, 10, 0, true, &aac_payload(&[0x21, 0])))
        .unwrap();
    let _ = c.frames();
    let _ = c.sent();
    assert_eq!(c.s.poll_timeout(), Some(5_000));
    c.s.handle_timeout(5_000).unwrap();
    let mut bytes = BytesMut::new();
    while let Some(b) = c.s.poll_transmit() {
        bytes.put_slice(&b);
    }
    let Some((Item::Interleaved { channel, payload }, _)) = decode(&bytes).unwrap() else {
        panic!("no report: {bytes:?}");
    };
    assert_eq!(channel, 3);
    assert!(matches!(
        rtcp::packets(&payload).next(),
        Some(Ok(rtcp::Packet::ReceiverReport(rr))) if rr.reports[0].highest_sequence == 10
    ));
}
