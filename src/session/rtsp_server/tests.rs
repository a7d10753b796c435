//! The server session on a simulated clock: what ffmpeg's and GStreamer's requests get.

use super::*;
use crate::wire::rtsp::header::{basic_authorization, Challenge};

const URL: &str = "rtsp://127.0.0.1:8554/live/cam";

fn request(method: &str, uri: &str, cseq: u32, extra: &str) -> Vec<u8> {
    format!("{method} {uri} RTSP/1.0\r\nCSeq: {cseq}\r\n{extra}\r\n").into_bytes()
}

fn responses(s: &mut ServerSession) -> Vec<Message> {
    let mut out = Vec::new();
    while let Some(b) = s.poll_transmit() {
        let (item, used) = rtsp::decode(&b).unwrap().unwrap();
        assert_eq!(used, b.len());
        match item {
            Item::Message(m) => out.push(m),
            Item::Interleaved { .. } => panic!("media in the outbox"),
        }
    }
    out
}

/// OPTIONS, DESCRIBE (answered), SETUP of both tracks over TCP: the session is ready.
fn described_and_set_up(s: &mut ServerSession) {
    s.handle_bytes(0, &request("OPTIONS", URL, 1, "")).unwrap();
    let r = responses(s);
    assert_eq!(r[0].status(), Some(200));
    assert!(r[0].header("Public").unwrap().contains("DESCRIBE"));
    s.handle_bytes(0, &request("DESCRIBE", &format!("{URL}?token=a"), 2, ""))
        .unwrap();
    assert_eq!(
        s.poll_event(),
        Some(Event::Describe {
            url: URL.to_owned(),
            path: "/live/cam".to_owned(),
            query: "token=a".to_owned()
        })
    );
    let tracks = vec![
        TrackDesc {
            control: "trackID=0".to_owned(),
        },
        TrackDesc {
            control: "trackID=1".to_owned(),
        },
    ];
    s.describe_ok(0, URL, "v=0\r\n".to_owned(), tracks);
    let r = responses(s);
    assert_eq!(r[0].status(), Some(200));
    assert_eq!(r[0].header("Content-Base"), Some(&*format!("{URL}/")));
    assert_eq!(r[0].body, "v=0\r\n");
    for (i, ch) in [(0, "0-1"), (1, "2-3")] {
        let t = format!("Transport: RTP/AVP/TCP;unicast;interleaved={ch}\r\n");
        let session = if i == 1 {
            format!("Session: {}\r\n", s.id())
        } else {
            String::new()
        };
        s.handle_bytes(
            0,
            &request(
                "SETUP",
                &format!("{URL}/trackID={i}"),
                3 + i,
                &(t + &session),
            ),
        )
        .unwrap();
        let r = responses(s);
        assert_eq!(r[0].status(), Some(200), "{r:?}");
        assert!(r[0].header("Session").unwrap().ends_with(";timeout=60"));
        assert!(r[0]
            .header("Transport")
            .unwrap()
            .contains(&format!("interleaved={ch}")));
    }
}

#[test]
fn a_player_describes_sets_up_and_plays() {
    let mut s = ServerSession::new(0, 0xABCD, 0x1234_5678);
    described_and_set_up(&mut s);
    let session = format!("Session: {}\r\n", s.id());
    s.handle_bytes(10, &request("PLAY", &format!("{URL}/"), 5, &session))
        .unwrap();
    assert_eq!(s.poll_event(), Some(Event::Play));
    assert!(responses(&mut s).is_empty(), "PLAY waits for the glue");
    s.play_ok(10, &[9000, 4410]);
    let r = responses(&mut s);
    assert_eq!(r[0].header("Range"), Some("npt=0.000-"));
    let info = r[0].rtp_info();
    assert_eq!(info.len(), 2);
    assert_eq!(info[0].url, format!("{URL}/trackID=0"));
    assert_eq!(info[1].rtptime, Some(4410));
    assert!(s.is_playing());
    // The player's header: its channel, its sequence numbers from RTP-Info, its SSRC.
    let mut packet = vec![0x80, 0xE0, 0, 0, 0, 0, 0x23, 0x28, 0, 0, 0, 0];
    packet.extend_from_slice(&[0x65, 1, 2]);
    let (to, h) = s.packet_header(1, &packet).unwrap();
    assert_eq!(to, Destination::Interleaved);
    assert_eq!(&h[..4], &[b'$', 2, 0, 15]);
    assert_eq!(u16::from_be_bytes([h[6], h[7]]), info[1].seq.unwrap());
    assert_eq!(&h[12..16], &0x1234_5679u32.to_be_bytes());
    assert_eq!(h[5], 0xE0, "marker and payload type kept");
    let (_, h2) = s.packet_header(1, &packet).unwrap();
    assert_eq!(
        u16::from_be_bytes([h2[6], h2[7]]),
        info[1].seq.unwrap().wrapping_add(1)
    );
    assert_eq!(s.packet_header(1, &packet[..11]), None);
    // TEARDOWN ends it.
    s.handle_bytes(20, &request("TEARDOWN", URL, 6, &session))
        .unwrap();
    assert_eq!(s.poll_event(), Some(Event::Teardown));
    assert_eq!(responses(&mut s)[0].status(), Some(200));
    assert!(s.is_closed());
}

#[test]
fn errors_follow_rfc_2326() {
    let mut s = ServerSession::new(0, 1, 1);
    // PLAY and SETUP before DESCRIBE: 455.
    s.handle_bytes(0, &request("PLAY", URL, 1, "")).unwrap();
    assert_eq!(responses(&mut s)[0].status(), Some(455));
    s.handle_bytes(
        0,
        &request(
            "SETUP",
            URL,
            2,
            "Transport: RTP/AVP/TCP;interleaved=0-1\r\n",
        ),
    )
    .unwrap();
    assert_eq!(responses(&mut s)[0].status(), Some(455));
    // A refused DESCRIBE (unknown stream).
    s.handle_bytes(0, &request("DESCRIBE", URL, 3, "")).unwrap();
    assert!(matches!(s.poll_event(), Some(Event::Describe { .. })));
    s.refuse(0, 404);
    assert_eq!(responses(&mut s)[0].status(), Some(404));
    s.handle_bytes(0, &request("DESCRIBE", URL, 4, "")).unwrap();
    s.poll_event();
    let one = vec![TrackDesc {
        control: "trackID=0".to_owned(),
    }];
    s.describe_ok(0, URL, String::new(), one);
    responses(&mut s);
    // UDP only: 461 (the client retries over TCP).
    let udp = "Transport: RTP/AVP;unicast;client_port=5000-5001\r\n";
    s.handle_bytes(0, &request("SETUP", &format!("{URL}/trackID=0"), 5, udp))
        .unwrap();
    assert_eq!(responses(&mut s)[0].status(), Some(461));
    // An unknown track: 404; the wrong session: 454.
    let tcp = "Transport: RTP/AVP/TCP;interleaved=0-1\r\n";
    s.handle_bytes(0, &request("SETUP", &format!("{URL}/trackID=7"), 6, tcp))
        .unwrap();
    assert_eq!(responses(&mut s)[0].status(), Some(404));
    s.handle_bytes(
        0,
        &request(
            "SETUP",
            &format!("{URL}/trackID=0"),
            7,
            &format!("{tcp}Session: 99\r\n"),
        ),
    )
    .unwrap();
    assert_eq!(responses(&mut s)[0].status(), Some(454));
    // Publishing is not supported; unknown methods are not implemented.
    s.handle_bytes(0, &request("ANNOUNCE", URL, 8, "")).unwrap();
    assert_eq!(responses(&mut s)[0].status(), Some(405));
    s.handle_bytes(0, &request("FROB", URL, 9, "")).unwrap();
    assert_eq!(responses(&mut s)[0].status(), Some(501));
    // The single track through the aggregate URL.
    s.handle_bytes(0, &request("SETUP", URL, 10, tcp)).unwrap();
    assert_eq!(responses(&mut s)[0].status(), Some(200));
}

#[test]
fn requests_cut_at_every_byte_and_pipelined() {
    let mut all = request("OPTIONS", URL, 1, "");
    all.extend(request("GET_PARAMETER", URL, 2, ""));
    for cut in 0..all.len() {
        let mut s = ServerSession::new(0, 1, 1);
        s.handle_bytes(0, &all[..cut]).unwrap();
        s.handle_bytes(0, &all[cut..]).unwrap();
        let r = responses(&mut s);
        assert_eq!(r.len(), 2, "cut at {cut}");
        assert_eq!(r[1].cseq(), Some(2));
    }
}

#[test]
fn requests_during_a_decision_wait_for_it() {
    let mut s = ServerSession::new(0, 1, 1);
    let mut both = request("DESCRIBE", URL, 1, "");
    both.extend(request("OPTIONS", URL, 2, ""));
    s.handle_bytes(0, &both).unwrap();
    assert!(responses(&mut s).is_empty());
    s.refuse(0, 403);
    let r = responses(&mut s);
    assert_eq!(
        r.iter().map(|m| m.cseq()).collect::<Vec<_>>(),
        [Some(1), Some(2)]
    );
    assert_eq!(r[0].status(), Some(403));
}

#[test]
fn silence_times_out_and_keepalives_extend() {
    let mut s = ServerSession::new(0, 1, 1);
    let timeout = u64::from(SESSION_TIMEOUT_S) * 1000;
    assert_eq!(s.poll_timeout(), Some(timeout));
    s.handle_bytes(30_000, &request("GET_PARAMETER", URL, 1, ""))
        .unwrap();
    assert_eq!(s.poll_timeout(), Some(30_000 + timeout));
    // An RTCP receiver report on an interleaved channel counts too.
    s.handle_bytes(40_000, &[b'$', 1, 0, 2, 0x81, 0xC9])
        .unwrap();
    responses(&mut s);
    s.handle_timeout(40_000 + timeout - 1);
    assert!(!s.is_closed());
    s.handle_timeout(40_000 + timeout);
    assert!(s.is_closed());
}

#[test]
fn garbage_and_floods_end_the_session() {
    let mut s = ServerSession::new(0, 1, 1);
    assert!(s.handle_bytes(0, b"GET / HTTP/1.1\r\n\r\n").is_err());
    assert!(s.is_closed());
    let mut s = ServerSession::new(0, 1, 1);
    let mut flood = b"OPTIONS rtsp://x/ RTSP/1.0\r\nX: ".to_vec();
    flood.resize(MAX_INPUT + 1, b'a');
    assert!(s.handle_bytes(0, &flood).is_err());
}

#[test]
fn udp_setup_waits_for_the_driver_ports() {
    let mut s = ServerSession::new(0, 1, 7).with_udp(true);
    s.handle_bytes(0, &request("DESCRIBE", URL, 1, "")).unwrap();
    s.poll_event();
    let one = vec![TrackDesc {
        control: "trackID=0".to_owned(),
    }];
    s.describe_ok(0, URL, String::new(), one);
    responses(&mut s);
    let udp = "Transport: RTP/AVP;unicast;client_port=5000-5001\r\n";
    s.handle_bytes(0, &request("SETUP", &format!("{URL}/trackID=0"), 2, udp))
        .unwrap();
    assert_eq!(
        s.poll_event(),
        Some(Event::SetupUdp {
            track: 0,
            client_ports: (5000, 5001)
        })
    );
    assert!(responses(&mut s).is_empty());
    s.setup_udp_ok(0, 0, (6000, 6001));
    let r = responses(&mut s);
    let t = r[0].header("Transport").unwrap();
    assert!(
        t.contains("client_port=5000-5001") && t.contains("server_port=6000-6001"),
        "{t}"
    );
    let packet = [0x80u8, 0x60, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0x41];
    assert_eq!(s.packet_header(0, &packet).unwrap().0, Destination::Udp);
    // Multicast: 461.
    let multicast = "Transport: RTP/AVP;multicast;port=5000-5001\r\n";
    let session = format!("Session: {}\r\n", s.id());
    s.handle_bytes(
        0,
        &request(
            "SETUP",
            &format!("{URL}/trackID=0"),
            3,
            &format!("{multicast}{session}"),
        ),
    )
    .unwrap();
    assert_eq!(responses(&mut s)[0].status(), Some(461));
}

/// ffmpeg's ANNOUNCE (`-f rtsp`): H.264 and AAC with their parameters and `streamid=N`
/// controls.
const FFMPEG_SDP: &str = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=No Name\r\nc=IN IP4 127.0.0.1\r\n\
t=0 0\r\na=tool:libavformat 59.27.100\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
a=fmtp:96 packetization-mode=1; sprop-parameter-sets=Z0LAHtoCgL/lAAADAAEAAAMAMg8WLkg=,aM48gA==; \
profile-level-id=42C01E\r\na=control:streamid=0\r\nm=audio 0 RTP/AVP 97\r\nb=AS:64\r\n\
a=rtpmap:97 MPEG4-GENERIC/44100/1\r\na=fmtp:97 profile-level-id=1;mode=AAC-hbr;sizelength=13;\
indexlength=3;indexdeltalength=3; config=1208\r\na=control:streamid=1\r\n";

fn rtp(channel: u8, seq: u16, ts: u32, marker: bool, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 96 | if marker { 0x80 } else { 0 }];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 1]);
    p.extend_from_slice(payload);
    let mut frame = vec![b'$', channel];
    frame.extend_from_slice(&(p.len() as u16).to_be_bytes());
    frame.extend_from_slice(&p);
    frame
}

/// ANNOUNCE (a query before the control, as ffmpeg sends it), the glue's answer, SETUP of both
/// tracks with `mode=record`, RECORD; then interleaved RTP becomes hub frames: the AVC
/// sequence header from the in-band SPS/PPS, the keyframe, a picture 40 ms later (the RTP
/// time starts near the 32-bit wrap).
#[test]
fn a_publisher_announces_sets_up_and_records() {
    let url = format!("{URL}?token=a");
    let mut s = ServerSession::new(0, 7, 9).with_record(1 << 20);
    s.handle_bytes(0, &request("OPTIONS", &url, 1, "")).unwrap();
    assert!(responses(&mut s)[0]
        .header("Public")
        .unwrap()
        .contains("ANNOUNCE"));
    let announce = format!(
        "ANNOUNCE {url} RTSP/1.0\r\nCSeq: 2\r\nContent-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{FFMPEG_SDP}",
        FFMPEG_SDP.len()
    );
    s.handle_bytes(0, announce.as_bytes()).unwrap();
    assert_eq!(
        s.poll_event(),
        Some(Event::Announce {
            url: URL.to_owned(),
            path: "/live/cam".to_owned(),
            query: "token=a".to_owned(),
            codecs: vec!["H264", "AAC"],
        })
    );
    assert!(responses(&mut s).is_empty(), "ANNOUNCE waits for the glue");
    s.announce_ok(0);
    assert_eq!(responses(&mut s)[0].status(), Some(200));
    assert!(s.is_publisher());
    for i in 0..2u32 {
        let t = format!(
            "Transport: RTP/AVP/TCP;unicast;interleaved={}-{};mode=record\r\n",
            2 * i,
            2 * i + 1
        );
        let session = match i {
            0 => String::new(),
            _ => format!("Session: {}\r\n", s.id()),
        };
        let setup = format!("{url}/streamid={i}");
        s.handle_bytes(0, &request("SETUP", &setup, 3 + i, &(t + &session)))
            .unwrap();
        let r = responses(&mut s);
        assert_eq!(r[0].status(), Some(200), "{r:?}");
        assert!(r[0].header("Transport").unwrap().contains("mode=record"));
    }
    let session = format!("Session: {}\r\n", s.id());
    s.handle_bytes(0, &request("PLAY", &url, 5, &session))
        .unwrap();
    assert_eq!(responses(&mut s)[0].status(), Some(455), "not a player");
    s.handle_bytes(0, &request("RECORD", &url, 6, &session))
        .unwrap();
    assert_eq!(responses(&mut s)[0].status(), Some(200));
    assert!(s.is_recording());
    let ts = u32::MAX - 1000;
    let sps = [0x67, 0x42, 0xC0, 0x1E, 0xDA, 0x02, 0x80, 0xBF, 0xE5];
    let mut bytes = rtp(0, 1, ts, false, &sps);
    bytes.extend(rtp(0, 2, ts, false, &[0x68, 0xCE, 0x3C, 0x80]));
    bytes.extend(rtp(0, 3, ts, true, &[0x65, 0x88, 0x84]));
    bytes.extend(rtp(0, 4, ts.wrapping_add(3600), true, &[0x41, 0x9A, 0x02]));
    // RTCP on channel 1 and a packet on an unknown channel: signs of life only.
    bytes.extend([b'$', 1, 0, 4, 0x80, 200, 0, 0]);
    bytes.extend(rtp(9, 1, 0, true, &[1]));
    for piece in bytes.chunks(7) {
        s.handle_bytes(40, piece).unwrap();
    }
    let frames: Vec<Frame> = std::iter::from_fn(|| s.poll_frame()).collect();
    let shape: Vec<(bool, bool, i64)> = frames
        .iter()
        .map(|f| (f.sequence_header, f.keyframe, f.dts))
        .collect();
    assert_eq!(
        shape,
        [(true, false, 0), (false, true, 0), (false, false, 40)]
    );
    assert_eq!(s.dropped_frames(), 0);
}

/// Without publishing, ANNOUNCE and RECORD are 405; an SDP with nothing we carry is 415, a
/// broken one 400, and either leaves the session as it was; ANNOUNCE after DESCRIBE is 455.
#[test]
fn announces_we_cannot_take() {
    let announce = |cseq: u32, sdp: &str| {
        format!(
            "ANNOUNCE {URL} RTSP/1.0\r\nCSeq: {cseq}\r\nContent-Type: application/sdp\r\n\
             Content-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        )
        .into_bytes()
    };
    let mut s = ServerSession::new(0, 1, 1);
    s.handle_bytes(0, &announce(1, FFMPEG_SDP)).unwrap();
    assert_eq!(responses(&mut s)[0].status(), Some(405));
    let mut s = ServerSession::new(0, 1, 1).with_record(1 << 20);
    let mpeg2 = "v=0\r\ns=-\r\nm=video 0 RTP/AVP 32\r\na=rtpmap:32 MPV/90000\r\n";
    s.handle_bytes(0, &announce(1, mpeg2)).unwrap();
    assert_eq!(responses(&mut s)[0].status(), Some(415));
    s.handle_bytes(0, &announce(2, "no sdp")).unwrap();
    assert_eq!(responses(&mut s)[0].status(), Some(400));
    assert!(!s.is_publisher());
    s.handle_bytes(0, &request("RECORD", URL, 3, "")).unwrap();
    assert_eq!(responses(&mut s)[0].status(), Some(455));
    // Refused by the glue: back to the start, DESCRIBE possible.
    s.handle_bytes(0, &announce(4, FFMPEG_SDP)).unwrap();
    assert!(matches!(s.poll_event(), Some(Event::Announce { .. })));
    s.refuse(0, 403);
    assert_eq!(responses(&mut s)[0].status(), Some(403));
    assert!(!s.is_publisher());
    s.handle_bytes(0, &request("DESCRIBE", URL, 5, "")).unwrap();
    assert!(matches!(s.poll_event(), Some(Event::Describe { .. })));
    s.describe_ok(0, URL, "v=0\r\n".to_owned(), Vec::new());
    responses(&mut s);
    s.handle_bytes(0, &announce(6, FFMPEG_SDP)).unwrap();
    assert_eq!(responses(&mut s)[0].status(), Some(455));
}

/// With authentication: DESCRIBE without credentials is 401 with a Digest challenge (this
/// session's nonce) and a Basic one; the Digest answer ffmpeg computes and the Basic one of a
/// URL's `user:password` are let through; OPTIONS needs nothing; three wrong answers end the
/// session.
#[test]
fn describe_and_announce_need_the_credentials() {
    let mut s = ServerSession::new(0, 1, 1).with_record(1 << 20).with_auth(
        "cam",
        "s3cret",
        "5e0ad1c0".to_owned(),
    );
    s.handle_bytes(0, &request("OPTIONS", URL, 1, "")).unwrap();
    assert_eq!(responses(&mut s)[0].status(), Some(200));
    s.handle_bytes(0, &request("DESCRIBE", URL, 2, "")).unwrap();
    let r = responses(&mut s);
    assert_eq!(r[0].status(), Some(401));
    assert_eq!(s.poll_event(), None);
    let challenges = r[0].challenges();
    assert_eq!(challenges.len(), 2, "{r:?}");
    let Challenge::Digest(c) = &challenges[0] else {
        panic!("Digest first: {challenges:?}");
    };
    assert_eq!((c.realm.as_str(), c.nonce.as_str()), (REALM, "5e0ad1c0"));
    let answer = c.answer("cam", "s3cret", "DESCRIBE", URL, "0a4f113b", 1);
    let header = format!("Authorization: {}\r\n", answer.header_value());
    s.handle_bytes(0, &request("DESCRIBE", URL, 3, &header))
        .unwrap();
    assert!(matches!(s.poll_event(), Some(Event::Describe { .. })));
    s.refuse(0, 404);
    responses(&mut s);
    // Basic, on an ANNOUNCE (whose SDP is refused after the credentials pass).
    let basic = format!(
        "Authorization: {}\r\n",
        basic_authorization("cam", "s3cret")
    );
    s.handle_bytes(0, &request("ANNOUNCE", URL, 4, &basic))
        .unwrap();
    assert_eq!(responses(&mut s)[0].status(), Some(400), "no SDP");
    // Wrong: the user, the password, a Digest answer to another nonce.
    let wrong = [
        basic_authorization("admin", "s3cret"),
        basic_authorization("cam", "secret"),
        c.answer("cam", "s3cret", "DESCRIBE", URL, "x", 1)
            .header_value()
            .replace("5e0ad1c0", "00000000"),
    ];
    for (i, value) in wrong.iter().enumerate() {
        assert!(!s.is_closed());
        let header = format!("Authorization: {value}\r\n");
        s.handle_bytes(0, &request("DESCRIBE", URL, 5 + i as u32, &header))
            .unwrap();
        assert_eq!(responses(&mut s)[0].status(), Some(401));
    }
    assert!(s.is_closed(), "three wrong answers");
}

/// The frames a publisher's RTP datagrams make, as (sequence header, keyframe, dts).
fn udp_frames(r: &mut record::Recording, order: &[u16], now_ms: u64) -> Vec<(bool, bool, i64)> {
    let ts = u32::MAX - 1000;
    for &seq in order {
        let packet = match seq {
            1 => rtp(
                0,
                1,
                ts,
                false,
                &[0x67, 0x42, 0xC0, 0x1E, 0xDA, 0x02, 0x80, 0xBF, 0xE5],
            ),
            2 => rtp(0, 2, ts, false, &[0x68, 0xCE, 0x3C, 0x80]),
            3 => rtp(0, 3, ts, true, &[0x65, 0x88, 0x84]),
            n => {
                let picture = u32::from(n - 3).wrapping_mul(3600);
                rtp(0, n, ts.wrapping_add(picture), true, &[0x41, 0x9A, n as u8])
            }
        };
        // The datagram is the RTP packet without the interleaved header.
        r.handle_udp(now_ms, 0, Bytes::from(packet[4..].to_vec()));
    }
    std::iter::from_fn(|| r.poll_frame())
        .map(|f| (f.sequence_header, f.keyframe, f.dts))
        .collect()
}

/// A UDP publisher's datagrams shuffled within the reorder window (neighbours swapped, a run
/// of five reversed, the parameter sets after the keyframe) make the same frames as in order;
/// a gap on a quiet track is given up `REORDER_FLUSH_MS` after the last datagram, and what
/// the window held follows.
#[test]
fn a_udp_publishers_packets_are_put_back_in_order() {
    let announce = || record::Recording::announce(FFMPEG_SDP.as_bytes(), 1 << 20).unwrap();
    let in_order: Vec<u16> = (1..=40).collect();
    let mut shuffled = vec![3, 2, 1];
    shuffled.extend(
        (4..=20)
            .collect::<Vec<u16>>()
            .chunks(2)
            .flat_map(|c| c.iter().rev()),
    );
    shuffled.extend((21..=25).rev());
    shuffled.extend(26..=40);
    assert_eq!(shuffled.len(), 40);
    let mut a = announce();
    let expected = udp_frames(&mut a, &in_order, 0);
    assert_eq!(
        expected.len(),
        1 + 38,
        "sequence header, keyframe, 37 pictures"
    );
    // In order, nothing is held: the next deadline is the receiver report's.
    assert_eq!(a.poll_timeout(), Some(record::REPORT_INTERVAL_MS));
    let mut b = announce();
    assert_eq!(udp_frames(&mut b, &shuffled, 0), expected);
    assert_eq!(b.reorder_stats().reordered, 12, "{:?}", b.reorder_stats());
    assert_eq!(b.reorder_stats().lost, 0);

    // 41 lost: 42 and 43 wait in the window until the flush.
    let mut c = announce();
    udp_frames(&mut c, &in_order, 0);
    assert!(udp_frames(&mut c, &[42, 43], 1_000).is_empty());
    assert_eq!(c.poll_timeout(), Some(1_000 + record::REORDER_FLUSH_MS));
    c.handle_timeout(1_100);
    assert!(c.poll_frame().is_none(), "too early");
    c.handle_timeout(1_000 + record::REORDER_FLUSH_MS);
    let after: Vec<i64> = std::iter::from_fn(|| c.poll_frame())
        .map(|f| f.dts)
        .collect();
    assert_eq!(after, [39 * 40, 40 * 40]);
    assert_eq!(c.poll_timeout(), Some(record::REPORT_INTERVAL_MS));
    assert_eq!(c.reorder_stats().lost, 1);

    // Over TCP (interleaved) packets are taken as they come: no window.
    let mut d = announce();
    d.set_channel(0, 0);
    let late = rtp(0, 2, 0, true, &[0x41, 0x9A, 2]);
    d.handle_interleaved(0, 0, Bytes::from(late[4..].to_vec()));
    assert_eq!(d.poll_timeout(), Some(record::REPORT_INTERVAL_MS));
    assert_eq!(d.reorder_stats(), Default::default());
}

/// A publisher over TCP (ffmpeg's SDP, both tracks interleaved), recording.
fn tcp_publisher(ssrc_base: u32) -> ServerSession {
    let mut s = ServerSession::new(0, 7, ssrc_base).with_record(1 << 20);
    let announce = format!(
        "ANNOUNCE {URL} RTSP/1.0\r\nCSeq: 1\r\nContent-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{FFMPEG_SDP}",
        FFMPEG_SDP.len()
    );
    s.handle_bytes(0, announce.as_bytes()).unwrap();
    s.poll_event();
    s.announce_ok(0);
    for i in 0..2u32 {
        let mut extra = format!(
            "Transport: RTP/AVP/TCP;unicast;interleaved={}-{};mode=record\r\n",
            2 * i,
            2 * i + 1
        );
        if i > 0 {
            extra += &format!("Session: {}\r\n", s.id());
        }
        s.handle_bytes(
            0,
            &request("SETUP", &format!("{URL}/streamid={i}"), 2 + i, &extra),
        )
        .unwrap();
    }
    let session = format!("Session: {}\r\n", s.id());
    s.handle_bytes(0, &request("RECORD", URL, 4, &session))
        .unwrap();
    responses(&mut s);
    assert!(s.is_recording());
    s
}

/// Receiver reports to a publisher (RFC 3550 §6.4.2): 5 s after its first packet, an RR from
/// the track's SSRC on the track's RTCP channel, about the publisher's SSRC: 10 packets of
/// sequence 100..=111 with 102 and 107 missing are 2 lost of 12 (fraction 2/12 × 256 = 42),
/// highest 111, the LSR the middle of the publisher's SR's NTP time and the DLSR the 2 s since
/// in 1/65536 s; then the next report 5 s later with nothing new lost.
#[test]
fn a_publisher_gets_receiver_reports() {
    use crate::wire::rtcp::{self, NtpTimestamp, Packet, SenderReport};
    let mut s = tcp_publisher(0x5000);
    assert_eq!(s.poll_timeout(), Some(u64::from(SESSION_TIMEOUT_S) * 1000));
    let mut bytes = Vec::new();
    for seq in (100..=111u16).filter(|n| *n != 102 && *n != 107) {
        bytes.extend(rtp(0, seq, u32::from(seq) * 3000, true, &[0x41, 0x9A, 0]));
    }
    s.handle_bytes(1_000, &bytes).unwrap();
    assert_eq!(s.poll_timeout(), Some(6_000), "the first report");
    let ntp = NtpTimestamp(0x1122_3344_5566_7788);
    let sr = [Packet::SenderReport(SenderReport {
        ssrc: 1,
        ntp,
        rtp_timestamp: 0,
        packet_count: 10,
        octet_count: 30,
        reports: Vec::new(),
    })];
    let mut body = BytesMut::new();
    rtcp::encode_compound(&sr, &mut body).unwrap();
    let mut frame = vec![b'$', 1];
    frame.extend_from_slice(&(body.len() as u16).to_be_bytes());
    frame.extend_from_slice(&body);
    s.handle_bytes(4_000, &frame).unwrap();
    assert!(s.poll_transmit().is_none());
    s.handle_timeout(6_000);
    let out = s.poll_transmit().expect("an RR");
    assert!(
        s.poll_transmit().is_none(),
        "the audio track received nothing"
    );
    assert_eq!(&out[..2], &[b'$', 1], "on the video track's RTCP channel");
    let packets: Vec<Packet> = rtcp::packets(&out[4..]).map(Result::unwrap).collect();
    let Packet::ReceiverReport(rr) = &packets[0] else {
        panic!("{packets:?}");
    };
    assert_eq!(rr.ssrc, 0x5000, "the track's SSRC");
    let block = rr.reports[0];
    assert_eq!(block.ssrc, 1);
    assert_eq!(block.highest_sequence, 111);
    assert_eq!(block.cumulative_lost, 2);
    assert_eq!(block.fraction_lost, (2 * 256 / 12) as u8);
    assert_eq!(block.last_sr, 0x3344_5566);
    assert_eq!(block.delay_since_last_sr, 2 * 65_536);
    assert!(matches!(packets[1], Packet::SourceDescription(_)));
    assert_eq!(s.poll_timeout(), Some(11_000));
    s.handle_bytes(7_000, &rtp(0, 112, 336_000, true, &[0x41, 0x9A, 0]))
        .unwrap();
    s.handle_timeout(11_000);
    let out = s.poll_transmit().expect("the next RR");
    let Some(Ok(Packet::ReceiverReport(rr))) = rtcp::packets(&out[4..]).next() else {
        panic!("{out:?}");
    };
    assert_eq!(rr.reports[0].fraction_lost, 0);
    assert_eq!(rr.reports[0].cumulative_lost, 2);
    assert_eq!(rr.reports[0].highest_sequence, 112);
}
