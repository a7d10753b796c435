//! The SIP agent on a simulated clock: a scripted camera talks to it, no sockets.

use bytes::Bytes;

use super::*;
use crate::wire::sdp::Sdp;
use crate::wire::sip::digest::{compute_response, Challenge};

pub(super) const DEVICE: &str = "34020000001320000001";
pub(super) const CHANNEL: &str = "34020000001310000001";

pub(super) fn config(password: &str) -> AgentConfig {
    AgentConfig {
        server_id: "34020000002000000001".into(),
        domain: "3402000000".into(),
        credentials: Credentials {
            password: password.into(),
            passwords: crate::sorted_map::SortedMap::new(),
        },
        invite: InvitePolicy::Always,
        naming: StreamNaming::Channel,
        transport: sdp::Transport::TcpPassive,
        keepalive_timeout_ms: 60_000,
        media_timeout_ms: 10_000,
        host: None,
        media_tcp_port: 9000,
        rtp_ports: (30000, 30001),
    }
}

pub(super) fn peer() -> Peer {
    Peer {
        transport: SipTransport::Udp,
        addr: "127.0.0.1:5061".parse().unwrap(),
        local: "127.0.0.1:5060".parse().unwrap(),
    }
}

pub(super) fn request(
    method: Method,
    call_id: &str,
    cseq: u32,
    extra: &[(&str, &str)],
    body: &str,
) -> SipMessage {
    let name = method.as_str().to_owned();
    let mut m = SipMessage {
        start: StartLine::Request {
            method,
            uri: "sip:34020000002000000001@3402000000".into(),
        },
        headers: vec![
            (
                "Via".into(),
                "SIP/2.0/UDP 127.0.0.1:5061;rport;branch=z9hG4bK1".into(),
            ),
            ("From".into(), format!("<sip:{DEVICE}@3402000000>;tag=dev1")),
            ("To".into(), format!("<sip:{DEVICE}@3402000000>")),
            ("Call-ID".into(), call_id.into()),
            ("CSeq".into(), format!("{cseq} {name}")),
        ],
        body: Bytes::from(body.to_owned()),
    };
    for (k, v) in extra {
        m.headers.push(((*k).into(), (*v).into()));
    }
    m
}

pub(super) fn sent(agent: &mut Agent) -> Vec<SipMessage> {
    std::iter::from_fn(|| agent.poll_transmit())
        .map(|(_, b)| crate::wire::sip::decode_datagram(&b).expect("our messages decode"))
        .collect()
}

pub(super) fn status(m: &SipMessage) -> Option<u16> {
    match m.start {
        StartLine::Response { status, .. } => Some(status),
        _ => None,
    }
}

pub(super) fn method_of(m: &SipMessage) -> Option<Method> {
    match &m.start {
        StartLine::Request { method, .. } => Some(method.clone()),
        _ => None,
    }
}

pub(super) fn events(agent: &mut Agent) -> Vec<AgentEvent> {
    std::iter::from_fn(|| agent.poll_event()).collect()
}

/// [`events`], done as the driver does them: a stopped UDP port is closed and given back.
fn driver_events(agent: &mut Agent) -> Vec<AgentEvent> {
    let events = events(agent);
    for e in &events {
        if let AgentEvent::MediaStop {
            transport: MediaTransport::Udp { port },
            ..
        } = e
        {
            agent.release_udp_port(*port);
        }
    }
    events
}

pub(super) fn keepalive() -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"GB2312\"?>\r\n<Notify>\r\n<CmdType>Keepalive</CmdType>\r\n<SN>7</SN>\r\n<DeviceID>{DEVICE}</DeviceID>\r\n<Status>OK</Status>\r\n</Notify>\r\n"
    )
}

fn catalog() -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"GB2312\"?>\r\n<Response>\r\n<CmdType>Catalog</CmdType>\r\n<SN>1</SN>\r\n<DeviceID>{DEVICE}</DeviceID>\r\n<SumNum>1</SumNum>\r\n<DeviceList Num=\"1\">\r\n<Item>\r\n<DeviceID>{CHANNEL}</DeviceID>\r\n<Name>Cam</Name>\r\n<Status>ON</Status>\r\n</Item>\r\n</DeviceList>\r\n</Response>\r\n"
    )
}

/// The device answers our Catalog query (one channel, ON); what the agent sent then.
pub(super) fn send_catalog(agent: &mut Agent, now: u64) -> Vec<SipMessage> {
    agent.handle_message(
        now,
        "d",
        peer(),
        request(Method::Message, "m1", 3, &[], &catalog()),
    );
    sent(agent)
}

pub(super) fn invite_in(out: &[SipMessage]) -> SipMessage {
    out.iter()
        .find(|m| method_of(m) == Some(Method::Invite))
        .expect("an INVITE")
        .clone()
}

/// Registers (with digest when a password is set) and returns the agent.
fn registered(password: &str) -> Agent {
    registered_with(config(password))
}

/// [`registered`] with any configuration.
pub(super) fn registered_with(config: AgentConfig) -> Agent {
    let password = config.credentials.password.clone();
    let password = password.as_str();
    let mut a = Agent::new(config, 42);
    a.handle_message(
        0,
        "2026-11-21T00:00:00.000",
        peer(),
        request(Method::Register, "r1", 1, &[("Expires", "3600")], ""),
    );
    let out = sent(&mut a);
    if password.is_empty() {
        assert_eq!(status(&out[0]), Some(200));
    } else {
        assert_eq!(status(&out[0]), Some(401));
        let challenge = Challenge::parse(out[0].header("WWW-Authenticate").unwrap()).unwrap();
        assert_eq!(challenge.realm, "3402000000");
        let uri = "sip:34020000002000000001@3402000000";
        let response = compute_response(
            DEVICE,
            &challenge.realm,
            password,
            "REGISTER",
            uri,
            &challenge.nonce,
            None,
        );
        let auth = format!(
            "Digest username=\"{DEVICE}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", response=\"{response}\", algorithm=MD5",
            challenge.realm, challenge.nonce
        );
        a.handle_message(
            10,
            "2026-11-21T00:00:00.000",
            peer(),
            request(
                Method::Register,
                "r1",
                2,
                &[("Expires", "3600"), ("Authorization", &auth)],
                "",
            ),
        );
    }
    let out = if password.is_empty() {
        out
    } else {
        sent(&mut a)
    };
    let ok = &out[0];
    assert_eq!(status(ok), Some(200));
    assert_eq!(ok.header("Date"), Some("2026-11-21T00:00:00.000"));
    // Then the Catalog and DeviceInfo queries.
    let queries: Vec<String> = out[1..]
        .iter()
        .map(|m| String::from_utf8_lossy(&m.body).to_string())
        .collect();
    assert!(
        queries
            .iter()
            .any(|q| q.contains("<CmdType>Catalog</CmdType>")),
        "{queries:?}"
    );
    assert!(
        queries
            .iter()
            .any(|q| q.contains("<CmdType>DeviceInfo</CmdType>")),
        "{queries:?}"
    );
    assert_eq!(
        events(&mut a),
        vec![AgentEvent::DeviceOnline {
            device: DEVICE.into()
        }]
    );
    a
}

#[test]
fn register_with_digest_then_a_wrong_password_is_refused() {
    registered("s3cret");
    let mut a = Agent::new(config("s3cret"), 1);
    a.handle_message(0, "d", peer(), request(Method::Register, "r", 1, &[], ""));
    let c = Challenge::parse(sent(&mut a)[0].header("WWW-Authenticate").unwrap()).unwrap();
    let bad = compute_response(
        DEVICE, &c.realm, "wrong", "REGISTER", "sip:x", &c.nonce, None,
    );
    let auth = format!("Digest username=\"{DEVICE}\", realm=\"{}\", nonce=\"{}\", uri=\"sip:x\", response=\"{bad}\"", c.realm, c.nonce);
    a.handle_message(
        1,
        "d",
        peer(),
        request(Method::Register, "r", 2, &[("Authorization", &auth)], ""),
    );
    assert_eq!(status(&sent(&mut a)[0]), Some(401));
    assert!(events(&mut a).is_empty());
}

#[test]
fn catalog_leads_to_invite_answer_ack_and_media_start_then_bye_stops_it() {
    let mut a = registered("");
    let out = send_catalog(&mut a, 100);
    assert_eq!(status(&out[0]), Some(200));
    let invite = invite_in(&out);
    let sdp = String::from_utf8_lossy(&invite.body).to_string();
    assert!(
        sdp.contains("s=Play") && sdp.contains("a=recvonly") && sdp.contains("PS/90000"),
        "{sdp}"
    );
    assert!(
        sdp.contains("m=video 9000 TCP/RTP/AVP") && sdp.contains("a=setup:passive"),
        "{sdp}"
    );
    let y = sdp
        .lines()
        .find_map(|l| l.strip_prefix("y="))
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(y.len(), 10);
    assert!(invite
        .header("Subject")
        .unwrap()
        .starts_with(&format!("{CHANNEL}:{y}")));
    assert_eq!(a.devices()[0].channels[0].state, "inviting");
    assert_eq!(
        events(&mut a),
        vec![AgentEvent::MediaOffer {
            device: DEVICE.into(),
            channel: CHANNEL.into(),
            ssrc: y.parse().unwrap(),
            transport: MediaTransport::TcpPassive,
        }]
    );

    // The camera answers with another SSRC in its y=: that is the one its media will carry.
    let mut ok = invite.response_to(200, "OK", Some("cam7"));
    ok.body = Bytes::from("v=0\r\no=x 0 0 IN IP4 127.0.0.1\r\ns=Play\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video 15060 TCP/RTP/AVP 96\r\na=sendonly\r\na=rtpmap:96 PS/90000\r\na=setup:active\r\ny=0200000099\r\n");
    a.handle_message(200, "d", peer(), ok);
    let out = sent(&mut a);
    let ack = out
        .iter()
        .find(|m| method_of(m) == Some(Method::Ack))
        .expect("ACK");
    assert!(ack.header("To").unwrap().contains("tag=cam7"));
    assert_eq!(ack.call_id(), invite.call_id());
    assert_eq!(
        events(&mut a),
        vec![AgentEvent::MediaStart {
            device: DEVICE.into(),
            channel: CHANNEL.into(),
            ssrc: 200000099,
            transport: MediaTransport::TcpPassive,
            remote: Some("127.0.0.1:15060".parse().unwrap()),
        }]
    );
    assert_eq!(
        a.only_call_from("127.0.0.1".parse().unwrap()),
        Some(200000099)
    );

    // BYE from the camera: 200 OK and the media stops.
    let bye = request(Method::Bye, invite.call_id().unwrap(), 9, &[], "");
    a.handle_message(300, "d", peer(), bye);
    assert_eq!(status(&sent(&mut a)[0]), Some(200));
    assert_eq!(
        events(&mut a),
        vec![AgentEvent::MediaStop {
            ssrc: 200000099,
            transport: MediaTransport::TcpPassive
        }]
    );
}

#[test]
fn keepalive_from_an_unknown_device_brings_it_online() {
    let mut a = Agent::new(config("pw"), 3);
    a.handle_message(
        0,
        "d",
        peer(),
        request(Method::Message, "k1", 1, &[], &keepalive()),
    );
    let out = sent(&mut a);
    assert_eq!(status(&out[0]), Some(200));
    assert!(out
        .iter()
        .any(|m| String::from_utf8_lossy(&m.body).contains("<CmdType>Catalog</CmdType>")));
    assert_eq!(
        events(&mut a),
        vec![AgentEvent::DeviceOnline {
            device: DEVICE.into()
        }]
    );
}

#[test]
fn no_keepalive_takes_the_device_offline_and_stalled_media_is_invited_again() {
    let mut a = registered("");
    let invite = invite_in(&send_catalog(&mut a, 100));
    let mut ok = invite.response_to(200, "OK", Some("t"));
    ok.body = Bytes::from("v=0\r\ns=Play\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video 1 TCP/RTP/AVP 96\r\ny=0200000001\r\n");
    a.handle_message(200, "d", peer(), ok);
    sent(&mut a);
    events(&mut a);
    // Media flows, then stops: after media_timeout a BYE and a new INVITE.
    a.media_activity(5_000, 200000001);
    a.handle_message(
        14_000,
        "d",
        peer(),
        request(Method::Message, "k", 4, &[], &keepalive()),
    );
    sent(&mut a);
    a.handle_timeout(14_000);
    assert!(sent(&mut a).is_empty());
    a.handle_timeout(15_001);
    let out = sent(&mut a);
    assert!(
        out.iter().any(|m| method_of(m) == Some(Method::Bye)),
        "{out:?}"
    );
    assert!(
        out.iter().any(|m| method_of(m) == Some(Method::Invite)),
        "{out:?}"
    );
    assert_eq!(
        events(&mut a),
        vec![
            AgentEvent::MediaStop {
                ssrc: 200000001,
                transport: MediaTransport::TcpPassive
            },
            AgentEvent::MediaOffer {
                device: DEVICE.into(),
                channel: CHANNEL.into(),
                ssrc: 200000002,
                transport: MediaTransport::TcpPassive
            }
        ]
    );
    // No keepalive for keepalive_timeout: offline.
    a.handle_timeout(14_000 + 60_001);
    assert!(events(&mut a).contains(&AgentEvent::DeviceOffline {
        device: DEVICE.into()
    }));
    assert!(a.devices().is_empty());
}

#[test]
fn unregister_and_api_commands() {
    let mut a = registered("");
    assert!(!a.invite(0, "nope", "x"));
    send_catalog(&mut a, 100);
    assert!(!a.invite(100, DEVICE, CHANNEL), "already inviting");
    assert!(!a.bye(100, DEVICE, "unknown"));
    a.handle_message(
        200,
        "d",
        peer(),
        request(Method::Register, "r9", 5, &[("Expires", "0")], ""),
    );
    assert_eq!(status(&sent(&mut a)[0]), Some(200));
    assert!(events(&mut a).contains(&AgentEvent::DeviceOffline {
        device: DEVICE.into()
    }));
    assert!(a.devices().is_empty());
}

#[test]
fn garbage_messages_never_panic() {
    let mut rng = crate::testutil::XorShift(77);
    let mut a = registered("");
    for i in 0..2000 {
        let len = rng.below(300);
        const ALPHABET: &[u8] = b"<>/CmdTypeKeepaliveCatalogSNItem 0123\r\n";
        let body: String = (0..len)
            .map(|_| char::from(ALPHABET[rng.below(ALPHABET.len())]))
            .collect();
        let method = [
            Method::Message,
            Method::Register,
            Method::Bye,
            Method::Invite,
        ][rng.below(4)]
        .clone();
        a.handle_message(
            i,
            "d",
            peer(),
            request(method, &format!("c{}", rng.below(5)), 1, &[], &body),
        );
        a.handle_timeout(i * 50);
        sent(&mut a);
        events(&mut a);
    }
}

/// `config("")` with UDP media on one port only.
fn udp_config() -> AgentConfig {
    AgentConfig {
        transport: sdp::Transport::Udp,
        rtp_ports: (30000, 30000),
        ..config("")
    }
}

pub(super) fn state(a: &Agent) -> &'static str {
    a.devices()[0].channels[0].state
}

fn ok_to(invite: &SipMessage) -> SipMessage {
    let mut ok = invite.response_to(200, "OK", Some("cam7"));
    ok.body = Bytes::from("v=0\r\ns=Play\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video 30000 RTP/AVP 96\r\ny=0200000077\r\n");
    ok
}

#[test]
fn an_unanswered_invite_is_sent_again_then_given_up_and_its_port_freed() {
    let mut a = registered_with(udp_config());
    let first = invite_in(&send_catalog(&mut a, 100));
    assert!(String::from_utf8_lossy(&first.body).contains("m=video 30000 RTP/AVP"));
    assert_eq!(a.poll_timeout(), Some(100 + INVITE_RETRY_MS));
    // The driver ticks once a second.
    let mut sends = vec![100];
    let mut now = 100;
    while state(&a) == "inviting" {
        now += 1_000;
        a.handle_timeout(now);
        for m in sent(&mut a) {
            assert_eq!(m, first, "the same INVITE, byte for byte");
            sends.push(now);
        }
    }
    assert_eq!(sends.len(), INVITE_TRIES as usize, "{sends:?}");
    assert!(
        sends.windows(2).all(|w| w[1] - w[0] == INVITE_RETRY_MS),
        "{sends:?}"
    );
    assert_eq!(now, 100 + u64::from(INVITE_TRIES) * INVITE_RETRY_MS);
    assert_eq!(a.devices()[0].channels[0].ssrc, None);
    let port = MediaTransport::Udp { port: 30000 };
    assert!(
        matches!(
            &driver_events(&mut a)[..],
            [AgentEvent::MediaOffer { transport: t, ssrc: offered, .. },
             AgentEvent::MediaStop { transport: s, ssrc: stopped }]
                if *t == port && *s == port && offered == stopped
        ),
        "the port is opened for the offer and closed when it fails"
    );
    // Invited again after media_timeout, on the same port (the driver gave it back).
    let retry = now + 10_000;
    assert_eq!(a.poll_timeout(), Some(retry));
    a.handle_timeout(retry - 1);
    assert!(sent(&mut a).is_empty());
    a.handle_timeout(retry);
    let again = invite_in(&sent(&mut a));
    assert_ne!(again.call_id(), first.call_id());
    assert!(String::from_utf8_lossy(&again.body).contains("m=video 30000 RTP/AVP"));
}

#[test]
fn ringing_stops_retransmission_then_the_answer_brings_media() {
    let mut a = registered("");
    let invite = invite_in(&send_catalog(&mut a, 100));
    events(&mut a);
    for status in [100, 180] {
        let reason = if status == 100 { "Trying" } else { "Ringing" };
        a.handle_message(
            200,
            "d",
            peer(),
            invite.response_to(status, reason, Some("cam7")),
        );
        assert!(sent(&mut a).is_empty(), "no answer to a response");
        assert_eq!(state(&a), "inviting");
    }
    a.handle_timeout(100 + INVITE_RETRY_MS);
    a.handle_timeout(100 + 2 * INVITE_RETRY_MS);
    assert!(sent(&mut a).is_empty(), "no retransmission after 1xx");
    a.handle_message(5_000, "d", peer(), ok_to(&invite));
    let out = sent(&mut a);
    assert_eq!(out.len(), 1);
    assert_eq!(method_of(&out[0]), Some(Method::Ack));
    assert!(out[0].header("To").unwrap().contains("tag=cam7"));
    assert!(matches!(
        events(&mut a)[..],
        [AgentEvent::MediaStart {
            ssrc: 200000077,
            ..
        }]
    ));
    assert_eq!(state(&a), "playing");
    // The 200 again (our ACK lost): not a second call.
    a.handle_message(5_100, "d", peer(), ok_to(&invite));
    assert!(sent(&mut a).is_empty());
    assert!(events(&mut a).is_empty());
}

#[test]
fn bye_while_inviting_forgets_the_offer_without_a_message() {
    let mut a = registered_with(udp_config());
    let invite = invite_in(&send_catalog(&mut a, 100));
    assert!(matches!(
        events(&mut a)[..],
        [AgentEvent::MediaOffer { .. }]
    ));
    assert!(a.bye(200, DEVICE, CHANNEL));
    assert!(
        sent(&mut a).is_empty(),
        "no BYE before an answer (no CANCEL either)"
    );
    assert!(
        matches!(
            driver_events(&mut a)[..],
            [AgentEvent::MediaStop {
                transport: MediaTransport::Udp { port: 30000 },
                ..
            }]
        ),
        "only the offer's port closes"
    );
    assert_eq!(state(&a), "idle");
    assert!(!a.bye(200, DEVICE, CHANNEL), "already stopped");
    // A late answer to it starts nothing.
    a.handle_message(300, "d", peer(), ok_to(&invite));
    assert!(sent(&mut a).is_empty());
    assert!(events(&mut a).is_empty());
    // An API stop is not retried automatically, but the port is free for a request.
    a.handle_timeout(40_000);
    assert!(sent(&mut a).is_empty());
    assert!(a.invite(40_000, DEVICE, CHANNEL));
    let again = invite_in(&sent(&mut a));
    assert!(String::from_utf8_lossy(&again.body).contains("m=video 30000 RTP/AVP"));
}

#[test]
fn api_bye_of_a_playing_channel_stops_until_the_device_answers() {
    let mut a = registered("");
    let invite = invite_in(&send_catalog(&mut a, 100));
    a.handle_message(200, "d", peer(), ok_to(&invite));
    sent(&mut a);
    events(&mut a);
    assert!(a.bye(300, DEVICE, CHANNEL));
    let out = sent(&mut a);
    assert_eq!(method_of(&out[0]), Some(Method::Bye));
    assert_eq!(out[0].call_id(), invite.call_id());
    assert_eq!(out[0].header("CSeq"), Some("2 BYE"));
    assert!(out[0].header("To").unwrap().contains("tag=cam7"));
    assert_eq!(
        events(&mut a),
        vec![AgentEvent::MediaStop {
            ssrc: 200000077,
            transport: MediaTransport::TcpPassive
        }]
    );
    assert_eq!(state(&a), "stopping");
    assert_eq!(a.devices()[0].channels[0].ssrc, None);
    assert!(!a.bye(300, DEVICE, CHANNEL), "already stopping");
    let bye_timeout = u64::from(INVITE_TRIES) * INVITE_RETRY_MS;
    assert_eq!(a.poll_timeout(), Some(300 + bye_timeout));
    a.handle_message(400, "d", peer(), out[0].response_to(200, "OK", None));
    assert_eq!(state(&a), "idle");
    assert_eq!(
        a.poll_timeout(),
        Some(100 + 60_001),
        "only the keepalive deadline"
    );
    a.handle_timeout(30_000);
    assert!(sent(&mut a).is_empty(), "not invited again automatically");
}

#[test]
fn an_unanswered_bye_is_given_up() {
    let mut a = registered("");
    let invite = invite_in(&send_catalog(&mut a, 100));
    a.handle_message(200, "d", peer(), ok_to(&invite));
    assert!(a.bye(300, DEVICE, CHANNEL));
    sent(&mut a);
    let bye_timeout = u64::from(INVITE_TRIES) * INVITE_RETRY_MS;
    a.handle_timeout(300 + bye_timeout - 1);
    assert_eq!(state(&a), "stopping");
    a.handle_timeout(300 + bye_timeout);
    assert_eq!(state(&a), "idle");
    assert!(sent(&mut a).is_empty(), "BYE is not sent again");
}

/// SIP over TCP: the INVITE is sent once and never again; the call gives up
/// INVITE_TRIES x INVITE_RETRY_MS (8 s) after it. A device that then registers again (a
/// refresh, or a reboot within its registration) is invited again at once, not only after
/// media_timeout.
#[test]
fn an_unanswered_invite_over_tcp_gives_up_and_a_re_register_invites_again() {
    let tcp = Peer {
        transport: SipTransport::Tcp(7),
        ..peer()
    };
    let mut a = Agent::new(config(""), 42);
    let register = request(Method::Register, "r1", 1, &[("Expires", "3600")], "");
    a.handle_message(0, "d", tcp, register.clone());
    sent(&mut a);
    events(&mut a);
    a.handle_message(
        100,
        "d",
        tcp,
        request(Method::Message, "m1", 3, &[], &catalog()),
    );
    let first = invite_in(&sent(&mut a));
    assert_eq!(state(&a), "inviting");
    let mut now = 100;
    while state(&a) == "inviting" {
        assert!(now < 100 + 60_000, "the INVITE over TCP never gives up");
        now += 1_000;
        a.handle_timeout(now);
        assert!(sent(&mut a).is_empty(), "nothing is sent again over TCP");
    }
    assert_eq!(now, 100 + u64::from(INVITE_TRIES) * INVITE_RETRY_MS);
    assert_eq!(state(&a), "idle");
    // The device registers again before media_timeout (10 s) is over.
    now += 1_000;
    let mut again = register;
    again.headers.retain(|(k, _)| k != "CSeq");
    again.headers.push(("CSeq".into(), "2 REGISTER".into()));
    a.handle_message(now, "d", tcp, again);
    let out = sent(&mut a);
    assert_eq!(status(&out[0]), Some(200));
    let invite = invite_in(&out);
    assert_ne!(invite.call_id(), first.call_id());
    assert_eq!(state(&a), "inviting");
}

/// Issue 17 item 8: a device may send RTP the moment it answers, before its 200 reaches us.
/// The UDP port of the offer is asked for with the INVITE (the driver opens it before the
/// INVITE leaves), not after the answer and our ACK; the answer then reuses it.
#[test]
fn a_udp_offer_asks_for_its_port_with_the_invite() {
    let mut a = registered_with(udp_config());
    let invite = invite_in(&send_catalog(&mut a, 100));
    let offer = Sdp::parse(std::str::from_utf8(&invite.body).unwrap()).unwrap();
    let port = offer.media[0].port;
    let ssrc = offer.ssrc_value().unwrap();
    assert_eq!(
        events(&mut a),
        vec![AgentEvent::MediaOffer {
            device: DEVICE.into(),
            channel: CHANNEL.into(),
            ssrc,
            transport: MediaTransport::Udp { port },
        }],
        "the port our INVITE names is opened before the answer"
    );
    a.handle_message(200, "d", peer(), ok_to(&invite));
    assert_eq!(
        events(&mut a),
        vec![AgentEvent::MediaStart {
            device: DEVICE.into(),
            channel: CHANNEL.into(),
            ssrc: 200000077,
            transport: MediaTransport::Udp { port },
            remote: Some(SocketAddr::from(([127, 0, 0, 1], 30000))),
        }]
    );
}

/// Issue 17 item 9: a BYE from the device ends the call until the device registers again (as
/// SRS does); we used to invite the channel again after media_timeout. The API may invite it
/// meanwhile.
#[test]
fn a_bye_from_the_device_is_honoured_until_it_registers_again() {
    let mut a = registered("");
    let bye_after_answer = |a: &mut Agent, invite: SipMessage, at: u64| {
        a.handle_message(at, "d", peer(), ok_to(&invite));
        sent(a);
        events(a);
        let bye = request(Method::Bye, invite.call_id().unwrap(), 9, &[], "");
        a.handle_message(at + 100, "d", peer(), bye);
        assert_eq!(status(&sent(a)[0]), Some(200));
        assert!(matches!(
            events(a)[..],
            [AgentEvent::MediaStop {
                ssrc: 200000077,
                ..
            }]
        ));
        assert_eq!(state(a), "idle");
    };
    let invite = invite_in(&send_catalog(&mut a, 100));
    events(&mut a);
    bye_after_answer(&mut a, invite, 200);
    // Keepalives go on; however long we wait, no INVITE.
    let mut now = 1_000;
    while now < 120_000 {
        now += 1_000;
        if now % 20_000 == 0 {
            let keepalive = request(Method::Message, "k", 5, &[], &keepalive());
            a.handle_message(now, "d", peer(), keepalive);
        }
        a.handle_timeout(now);
        let out = sent(&mut a);
        assert!(
            out.iter().all(|m| method_of(m) != Some(Method::Invite)),
            "invited again at {now} after the device's BYE: {out:?}"
        );
    }
    assert_eq!(
        a.poll_timeout(),
        Some(120_000 + 60_001),
        "only the keepalive deadline"
    );
    // The API may ask.
    assert!(a.invite(now, DEVICE, CHANNEL));
    let invite = invite_in(&sent(&mut a));
    events(&mut a);
    bye_after_answer(&mut a, invite, now + 100);
    a.handle_timeout(now + 30_000);
    assert!(sent(&mut a).is_empty(), "nor after an API invite");
    // The device registers again: invited at once.
    let register = request(Method::Register, "r1", 7, &[("Expires", "3600")], "");
    a.handle_message(now + 30_000, "d", peer(), register);
    let out = sent(&mut a);
    assert_eq!(status(&out[0]), Some(200));
    invite_in(&out);
    assert_eq!(state(&a), "inviting");
}

/// Issue 17 item 10: when the only media TCP connection of a call closes, the call is hung
/// up at once (BYE, media stopped: the stream unpublishes) instead of at the media timeout;
/// it is invited again after media_timeout, as after a failure.
#[test]
fn a_closed_media_connection_hangs_up_at_once() {
    let mut a = registered("");
    let invite = invite_in(&send_catalog(&mut a, 100));
    a.handle_message(200, "d", peer(), ok_to(&invite));
    sent(&mut a);
    events(&mut a);
    a.media_activity(1_000, 200000077);
    assert!(!a.media_closed(1_500, 12345), "no call with that SSRC");
    assert!(a.media_closed(1_500, 200000077));
    let out = sent(&mut a);
    assert_eq!(method_of(&out[0]), Some(Method::Bye));
    assert_eq!(out[0].call_id(), invite.call_id());
    assert_eq!(
        events(&mut a),
        vec![AgentEvent::MediaStop {
            ssrc: 200000077,
            transport: MediaTransport::TcpPassive
        }]
    );
    assert_eq!(state(&a), "stopping");
    a.handle_message(1_600, "d", peer(), out[0].response_to(200, "OK", None));
    assert_eq!(state(&a), "idle");
    assert!(!a.media_closed(1_700, 200000077), "already over");
    a.handle_timeout(1_500 + 10_000 - 1);
    assert!(sent(&mut a).is_empty());
    a.handle_timeout(1_500 + 10_000);
    invite_in(&sent(&mut a));
}

/// Issue 18: the server refuses a call's media (its on_publish hook said no): BYE, the media
/// stops, the reason is on the channel for the API until the next invite, and the channel is
/// not invited again by itself (a refusal loop); the API's invite asks again.
#[test]
fn a_refused_call_is_hung_up_and_says_why_until_invited_again() {
    let mut a = registered("");
    let invite = invite_in(&send_catalog(&mut a, 100));
    a.handle_message(200, "d", peer(), ok_to(&invite));
    sent(&mut a);
    events(&mut a);
    assert_eq!(a.device_addr(200000077), Some(peer().addr));
    assert!(!a.refuse(300, 12345, "no"), "no call with that SSRC");
    let why = "refused by the on_publish hook: ".to_owned() + &"é".repeat(100);
    assert!(a.refuse(300, 200000077, &why));
    let out = sent(&mut a);
    assert_eq!(method_of(&out[0]), Some(Method::Bye));
    assert_eq!(out[0].call_id(), invite.call_id());
    assert_eq!(
        events(&mut a),
        vec![AgentEvent::MediaStop {
            ssrc: 200000077,
            transport: MediaTransport::TcpPassive
        }]
    );
    let refused = &a.devices()[0].channels[0].refused;
    assert!(refused.len() <= super::device::MAX_REFUSED_LEN && why.starts_with(refused.as_str()));
    a.handle_message(400, "d", peer(), out[0].response_to(200, "OK", None));
    a.handle_timeout(30_000); // past media_timeout (10 s), before the keepalive expiry
    assert!(sent(&mut a).is_empty(), "not invited again by itself");
    assert!(a.invite(30_000, DEVICE, CHANNEL));
    assert_eq!(a.devices()[0].channels[0].refused, "");
}

/// Issue 17 item 11: a device declared offline (no keepalive) may still be sending media: its
/// calls are hung up with a BYE and their media stopped, not just forgotten.
#[test]
fn a_device_gone_silent_is_sent_bye_and_its_media_stopped() {
    let mut a = registered("");
    let invite = invite_in(&send_catalog(&mut a, 100));
    a.handle_message(200, "d", peer(), ok_to(&invite));
    sent(&mut a);
    events(&mut a);
    // Media goes on; keepalives do not.
    for now in (1_000..=60_000).step_by(1_000) {
        a.media_activity(now, 200000077);
        a.handle_timeout(now);
    }
    assert!(sent(&mut a).is_empty());
    a.handle_timeout(100 + 60_001);
    let out = sent(&mut a);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(method_of(&out[0]), Some(Method::Bye));
    assert_eq!(out[0].call_id(), invite.call_id());
    assert!(out[0].header("To").unwrap().contains("tag=cam7"));
    assert_eq!(
        events(&mut a),
        vec![
            AgentEvent::MediaStop {
                ssrc: 200000077,
                transport: MediaTransport::TcpPassive
            },
            AgentEvent::DeviceOffline {
                device: DEVICE.into()
            }
        ]
    );
    assert!(a.devices().is_empty());
    // Its answer to the BYE, or more media, changes nothing.
    a.handle_message(160_200, "d", peer(), out[0].response_to(200, "OK", None));
    a.media_activity(160_300, 200000077);
    assert!(sent(&mut a).is_empty() && events(&mut a).is_empty());
}

/// Issue 17 item 11: a keepalive after the device unregistered (REGISTER Expires 0) does not
/// bring it back (a keepalive from a device we never heard of still does: we restarted). It
/// must REGISTER again.
#[test]
fn a_keepalive_after_unregister_does_not_bring_the_device_back() {
    let mut a = registered("");
    send_catalog(&mut a, 100);
    events(&mut a);
    a.handle_message(
        200,
        "d",
        peer(),
        request(Method::Register, "r9", 5, &[("Expires", "0")], ""),
    );
    assert_eq!(status(&sent(&mut a)[0]), Some(200));
    assert!(events(&mut a).contains(&AgentEvent::DeviceOffline {
        device: DEVICE.into()
    }));
    let keepalive = || request(Method::Message, "k", 6, &[], &keepalive());
    a.handle_message(300, "d", peer(), keepalive());
    let out = sent(&mut a);
    assert_eq!(out.len(), 1, "only the 200 to the MESSAGE: {out:?}");
    assert_eq!(status(&out[0]), Some(200));
    assert!(events(&mut a).is_empty(), "not online");
    assert!(a.devices().is_empty());
    // A REGISTER brings it back, and then keepalives count again.
    a.handle_message(
        400,
        "d",
        peer(),
        request(Method::Register, "r10", 7, &[("Expires", "3600")], ""),
    );
    assert_eq!(status(&sent(&mut a)[0]), Some(200));
    assert_eq!(
        events(&mut a),
        vec![AgentEvent::DeviceOnline {
            device: DEVICE.into()
        }]
    );
    a.handle_message(50_000, "d", peer(), keepalive());
    a.handle_timeout(400 + 60_001);
    assert_eq!(a.devices().len(), 1, "kept online by its keepalive");
}

/// Issue 17 item 12: a device whose messages the SIP decoder refuses (here its keepalives
/// crossed the 8 KiB head limit, their Via list growing) is still dropped, but the refusals
/// are counted on it and in total, with the reason, for the API.
#[test]
fn refused_messages_are_counted_on_the_device_at_their_address() {
    use crate::wire::sip::{SipError, MAX_HEAD_LEN};
    let mut a = registered("");
    let too_long = SipError::HeadTooLarge {
        limit: MAX_HEAD_LEN,
    };
    for _ in 0..3 {
        a.handle_refused(peer().addr, &too_long);
    }
    a.handle_refused(
        "10.9.9.9:5060".parse().unwrap(),
        &SipError::TooManyHeaders { limit: 64 },
    );
    let d = &a.devices()[0];
    assert_eq!(d.sip_refused, 3);
    assert_eq!(d.sip_refused_reason, "message head longer than 8192 bytes");
    assert_eq!(
        a.refused_messages(),
        4,
        "the unknown address counts in total"
    );
    assert!(sent(&mut a).is_empty() && events(&mut a).is_empty());
}
