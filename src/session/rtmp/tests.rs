//! Session tests on a simulated clock: a scripted client speaks bytes to the session, no
//! sockets involved.

use bytes::{Bytes, BytesMut};

use super::*;
use crate::wire::rtmp::chunk::DEFAULT_CHUNK_SIZE;

const CONFIG: SessionConfig = SessionConfig {
    chunk_size: 4096,
    chunk_limits: ChunkLimits {
        max_message_len: 1 << 20,
        max_chunk_streams: 16,
        max_pending_bytes: 1 << 21,
    },
    command_chunk_limits: ChunkLimits {
        max_message_len: 8 * 1024,
        max_chunk_streams: 16,
        max_pending_bytes: 16 * 1024,
    },
    handshake_timeout_ms: 10_000,
    idle_timeout_ms: 30_000,
};

/// The client side of the conversation.
struct Client {
    out_chunk_size: u32,
    decoder: ChunkDecoder,
    c0c1: Vec<u8>,
}

impl Client {
    fn new() -> Client {
        Client {
            out_chunk_size: DEFAULT_CHUNK_SIZE,
            decoder: ChunkDecoder::new(ChunkLimits::default()),
            c0c1: handshake::client_c0c1(&[7u8; handshake::PACKET_LEN], 0, true),
        }
    }

    fn message(&self, csid: u32, ts: u32, type_id: MessageType, sid: u32, body: &[u8]) -> Vec<u8> {
        let header = MessageHeader {
            csid,
            timestamp: ts,
            type_id,
            stream_id: sid,
        };
        let mut out = BytesMut::new();
        chunk::encode_message(self.out_chunk_size, &header, body, &mut out);
        out.to_vec()
    }

    fn command(&self, sid: u32, values: &[Value]) -> Vec<u8> {
        let mut body = BytesMut::new();
        amf0::encode_all(values, &mut body);
        self.message(3, 0, MessageType::CommandAmf0, sid, &body)
    }

    /// Everything the session sent since the last call, as messages.
    fn receive(&mut self, s: &mut ServerSession) -> Vec<Message> {
        let mut input = BytesMut::new();
        while let Some(b) = s.poll_transmit() {
            input.extend_from_slice(&b);
        }
        let mut out = Vec::new();
        while let Some(m) = self
            .decoder
            .decode(&mut input)
            .expect("server bytes decode")
        {
            if let Ok(Some(ControlMessage::SetChunkSize(n))) =
                ControlMessage::decode(m.header.type_id, &m.payload)
            {
                self.decoder.set_chunk_size(n).unwrap();
            }
            out.push(m);
        }
        assert!(input.is_empty(), "partial message left over");
        out
    }
}

fn s(v: &str) -> Value {
    Value::String(v.into())
}

fn n(v: f64) -> Value {
    Value::Number(v)
}

fn events(s: &mut ServerSession) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

/// (command name, info.code) of each command message.
fn commands(msgs: &[Message]) -> Vec<(String, String)> {
    msgs.iter()
        .filter(|m| m.header.type_id == MessageType::CommandAmf0)
        .map(|m| {
            let v = amf0::decode_all(&m.payload).unwrap();
            let name = v[0].as_str().unwrap().to_string();
            let code = v
                .iter()
                .skip(2)
                .find_map(|x| x.get("code").and_then(Value::as_str))
                .unwrap_or("")
                .to_string();
            (name, code)
        })
        .collect()
}

fn connect_values(app: &str) -> Vec<Value> {
    vec![
        s("connect"),
        n(1.0),
        Value::object([
            ("app", s(app)),
            ("type", s("nonprivate")),
            ("flashVer", s("FMLE/3.0 (compatible; FMSc/1.0)")),
            (
                "tcUrl",
                Value::String(format!("rtmp://127.0.0.1:1935/{app}")),
            ),
        ]),
    ]
}

/// Handshake + connect, accepted; returns the client's view.
fn connected() -> (ServerSession, Client) {
    let mut session = ServerSession::new(CONFIG, 0, [1u8; handshake::PACKET_LEN], 0);
    let mut client = Client::new();
    session.handle_bytes(1, &client.c0c1.clone()).unwrap();
    let s0s1s2 = session.poll_transmit().unwrap();
    assert_eq!(s0s1s2.len(), handshake::S0S1S2_LEN);
    let c2 = handshake::client_c2(&client.c0c1, &s0s1s2).expect("server digest validates");
    assert_eq!(session.scheme(), Some(Scheme::Digest1));
    session.handle_bytes(2, &c2).unwrap();
    session
        .handle_bytes(3, &client.command(0, &connect_values("live")))
        .unwrap();
    match &events(&mut session)[..] {
        [Event::Connect { request, .. }] => {
            assert_eq!(request.app, "live");
            assert_eq!(request.vhost, crate::media::DEFAULT_VHOST);
        }
        other => panic!("{other:?}"),
    }
    session.accept_connect();
    let msgs = client.receive(&mut session);
    let types: Vec<_> = msgs.iter().map(|m| m.header.type_id).collect();
    assert_eq!(
        types,
        vec![
            MessageType::WindowAckSize,
            MessageType::SetPeerBandwidth,
            MessageType::SetChunkSize,
            MessageType::CommandAmf0,
            MessageType::CommandAmf0
        ]
    );
    assert_eq!(
        commands(&msgs),
        vec![
            ("_result".into(), "NetConnection.Connect.Success".into()),
            ("onBWDone".into(), "".into())
        ]
    );
    (session, client)
}

fn create_stream(session: &mut ServerSession, client: &mut Client) -> u32 {
    session
        .handle_bytes(
            4,
            &client.command(0, &[s("createStream"), n(2.0), Value::Null]),
        )
        .unwrap();
    let msgs = client.receive(session);
    let v = amf0::decode_all(&msgs[0].payload).unwrap();
    assert_eq!(v[0].as_str(), Some("_result"));
    assert_eq!(v[1].as_f64(), Some(2.0));
    v[3].as_f64().unwrap() as u32
}

#[test]
fn connect_then_publish() {
    let (mut session, mut client) = connected();
    for cmd in ["releaseStream", "FCPublish"] {
        session
            .handle_bytes(
                5,
                &client.command(0, &[s(cmd), n(3.0), Value::Null, s("cam")]),
            )
            .unwrap();
    }
    assert_eq!(commands(&client.receive(&mut session)).len(), 2);
    let sid = create_stream(&mut session, &mut client);
    assert_eq!(sid, 1);
    session
        .handle_bytes(
            6,
            &client.command(
                sid,
                &[
                    s("publish"),
                    n(5.0),
                    Value::Null,
                    s("cam?token=abc"),
                    s("live"),
                ],
            ),
        )
        .unwrap();
    let request = match &events(&mut session)[..] {
        [Event::Publish {
            stream_id: 1,
            request,
        }] => request.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(request.stream, "cam");
    assert_eq!(request.params, "token=abc");
    session.accept_publish(sid, 6, 20_000, 5_000);
    assert_eq!(
        commands(&client.receive(&mut session)),
        vec![
            ("onFCPublish".into(), "NetStream.Publish.Start".into()),
            ("onStatus".into(), "NetStream.Publish.Start".into())
        ]
    );
    // First-packet deadline (the keepalive ping at 15 s comes first).
    assert_eq!(session.poll_timeout(), 6 + 15_000);
    assert!(session.handle_timeout(6 + 15_000).is_ok());
    client.receive(&mut session);
    assert_eq!(session.poll_timeout(), 6 + 20_000);

    // Metadata through @setDataFrame, then a video frame larger than one chunk.
    let mut body = BytesMut::new();
    amf0::encode_all(
        &[
            s("@setDataFrame"),
            s("onMetaData"),
            Value::EcmaArray(vec![("width".into(), n(640.0))]),
        ],
        &mut body,
    );
    let mut bytes = client.message(4, 0, MessageType::DataAmf0, sid, &body);
    let video: Vec<u8> = [0x17, 1, 0, 0, 0].iter().copied().chain(0..=255).collect();
    bytes.extend(client.message(6, 40, MessageType::Video, sid, &video));
    session.handle_bytes(100, &bytes).unwrap();
    let evs = events(&mut session);
    assert_eq!(evs.len(), 2);
    match &evs[0] {
        Event::Media {
            kind: MediaKind::Metadata,
            payload,
            ..
        } => {
            let v = amf0::decode_all(payload).unwrap();
            assert_eq!(v[0].as_str(), Some("onMetaData"));
            assert_eq!(v[1].get("width").and_then(Value::as_f64), Some(640.0));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        evs[1],
        Event::Media {
            stream_id: 1,
            kind: MediaKind::Video,
            timestamp: 40,
            payload: Bytes::from(video)
        }
    );
    // After the first packet the normal timeout applies.
    assert_eq!(session.poll_timeout(), 100 + 5_000);
    assert!(session.handle_timeout(5_099).is_ok());
    assert!(matches!(
        session.handle_timeout(5_100),
        Err(SessionError::Timeout(_))
    ));

    session
        .handle_bytes(
            200,
            &client.command(0, &[s("FCUnpublish"), n(6.0), Value::Null, s("cam")]),
        )
        .unwrap();
    assert_eq!(
        events(&mut session),
        vec![Event::Unpublish { stream_id: 1 }]
    );
    let codes = commands(&client.receive(&mut session));
    assert!(codes.contains(&("onStatus".into(), "NetStream.Unpublish.Success".into())));
}

#[test]
fn second_publisher_gets_bad_name_and_session_closes() {
    let (mut session, mut client) = connected();
    let sid = create_stream(&mut session, &mut client);
    session
        .handle_bytes(
            6,
            &client.command(sid, &[s("publish"), n(5.0), Value::Null, s("cam")]),
        )
        .unwrap();
    assert_eq!(events(&mut session).len(), 1);
    session.reject_publish(sid, "NetStream.Publish.BadName", "already publishing");
    assert_eq!(
        commands(&client.receive(&mut session)),
        vec![("onStatus".into(), "NetStream.Publish.BadName".into())]
    );
    assert!(session.is_closing());
}

#[test]
fn connect_then_play_and_republish_notifications() {
    let (mut session, mut client) = connected();
    let sid = create_stream(&mut session, &mut client);
    session
        .handle_bytes(
            6,
            &client.command(sid, &[s("play"), n(0.0), Value::Null, s("cam"), n(-2.0)]),
        )
        .unwrap();
    match &events(&mut session)[..] {
        [Event::Play { stream_id, request }] => {
            assert_eq!((*stream_id, request.stream.as_str()), (sid, "cam"))
        }
        other => panic!("{other:?}"),
    }
    session.accept_play(sid);
    let msgs = client.receive(&mut session);
    let begin = ControlMessage::decode(msgs[0].header.type_id, &msgs[0].payload).unwrap();
    assert_eq!(
        begin,
        Some(ControlMessage::UserControl(UserControl::StreamBegin(sid)))
    );
    assert_eq!(
        commands(&msgs),
        vec![
            ("onStatus".into(), "NetStream.Play.Reset".into()),
            ("onStatus".into(), "NetStream.Play.Start".into())
        ]
    );
    assert_eq!(
        msgs.iter()
            .filter(|m| m.header.type_id == MessageType::DataAmf0)
            .count(),
        1,
        "|RtmpSampleAccess"
    );
    // Published without a prior unpublish: nothing to say.
    session.notify_published(sid);
    assert!(client.receive(&mut session).is_empty());
    session.notify_unpublished(sid);
    session.notify_unpublished(sid);
    assert_eq!(
        commands(&client.receive(&mut session)),
        vec![("onStatus".into(), "NetStream.Play.UnpublishNotify".into())]
    );
    session.notify_published(sid);
    assert_eq!(
        commands(&client.receive(&mut session)),
        vec![
            ("onStatus".into(), "NetStream.Play.Reset".into()),
            ("onStatus".into(), "NetStream.Play.Start".into())
        ]
    );
    // deleteStream stops the player.
    session
        .handle_bytes(
            7,
            &client.command(
                0,
                &[s("deleteStream"), n(0.0), Value::Null, n(f64::from(sid))],
            ),
        )
        .unwrap();
    assert_eq!(
        events(&mut session),
        vec![Event::StopPlay { stream_id: sid }]
    );
}

/// Bytes of buffers the session holds between calls (capacity, not length).
fn held(s: &ServerSession) -> usize {
    s.input.capacity() + s.outbox.capacity() + s.events.capacity() * std::mem::size_of::<Event>()
}

/// Issue 16: a playing session keeps no buffer from its handshake, its connect or its replies
/// once they are taken; a partial message is kept (by the decoder) until it completes.
#[test]
fn a_playing_session_holds_no_buffers_between_calls() {
    let mut session = ServerSession::new(CONFIG, 0, [1u8; handshake::PACKET_LEN], 0);
    let client = Client::new();
    // C0C1 in two reads: the first half is held, as it must be.
    session.handle_bytes(1, &client.c0c1[..700]).unwrap();
    assert!(session.input.capacity() >= 700);
    session.handle_bytes(1, &client.c0c1[700..]).unwrap();
    assert_eq!(session.input.capacity(), 0, "C0C1 decoded: input freed");
    let s0s1s2 = session.poll_transmit().unwrap();
    assert_eq!(held(&session), 0, "S0S1S2 taken with its buffer");
    drop(s0s1s2);
    let (mut session, mut client) = connected();
    assert_eq!(held(&session), 0, "after connect");
    let sid = create_stream(&mut session, &mut client);
    let play = client.command(sid, &[s("play"), n(0.0), Value::Null, s("cam")]);
    session.handle_bytes(6, &play[..play.len() - 3]).unwrap();
    assert_eq!(
        session.input.capacity(),
        0,
        "the partial chunk went into its message's buffer, in the decoder"
    );
    assert!(session.decoder.pending_bytes() > 0);
    session.handle_bytes(6, &play[play.len() - 3..]).unwrap();
    assert_eq!(events(&mut session).len(), 1);
    session.accept_play(sid);
    assert!(!client.receive(&mut session).is_empty());
    assert_eq!(held(&session), 0, "playing");
    // A ping answered: its reply is taken, nothing stays.
    let ping = ControlMessage::UserControl(UserControl::PingRequest(7));
    let mut body = BytesMut::new();
    ping.encode(&mut body);
    let msg = client.message(CONTROL_CSID, 0, ping.type_id(), 0, &body);
    session.handle_bytes(7, &msg).unwrap();
    assert_eq!(client.receive(&mut session).len(), 1);
    assert_eq!(held(&session), 0, "after a ping");
}

#[test]
fn whole_conversation_split_at_every_byte_gives_the_same_events() {
    let client = Client::new();
    let mut script = client.c0c1.clone();
    // C2 content is not checked by the server.
    script.extend(std::iter::repeat_n(0u8, handshake::PACKET_LEN));
    script.extend(client.command(0, &connect_values("live")));
    let expect = {
        let mut session = ServerSession::new(CONFIG, 0, [1u8; handshake::PACKET_LEN], 0);
        session.handle_bytes(0, &script).unwrap();
        events(&mut session)
    };
    assert_eq!(expect.len(), 1);
    for split in 0..script.len() {
        let mut session = ServerSession::new(CONFIG, 0, [1u8; handshake::PACKET_LEN], 0);
        session.handle_bytes(0, &script[..split]).unwrap();
        session.handle_bytes(0, &script[split..]).unwrap();
        assert_eq!(events(&mut session), expect, "split at {split}");
    }
}

#[test]
fn ping_gets_pong_and_acknowledgements_follow_the_peer_window() {
    let (mut session, mut client) = connected();
    let mut body = BytesMut::new();
    ControlMessage::WindowAckSize(1000).encode(&mut body);
    let mut bytes = client.message(2, 0, MessageType::WindowAckSize, 0, &body);
    body.clear();
    ControlMessage::UserControl(UserControl::PingRequest(77)).encode(&mut body);
    bytes.extend(client.message(2, 0, MessageType::UserControl, 0, &body));
    session.handle_bytes(10, &bytes).unwrap();
    let msgs = client.receive(&mut session);
    assert_eq!(
        ControlMessage::decode(msgs[0].header.type_id, &msgs[0].payload).unwrap(),
        Some(ControlMessage::UserControl(UserControl::PingResponse(77)))
    );
    // Send > 1000 bytes of ignored commands: an Acknowledgement comes back.
    let filler = client.command(0, &[s("noSuchCommand"), n(0.0), s(&"x".repeat(1200))]);
    session.handle_bytes(11, &filler).unwrap();
    let msgs = client.receive(&mut session);
    assert!(msgs.iter().any(|m| matches!(
        ControlMessage::decode(m.header.type_id, &m.payload),
        Ok(Some(ControlMessage::Acknowledgement { .. }))
    )));
}

#[test]
fn commands_before_connect_and_bad_amf_close_the_session() {
    let mut session = ServerSession::new(CONFIG, 0, [1u8; handshake::PACKET_LEN], 0);
    let client = Client::new();
    let mut script = client.c0c1.clone();
    script.extend(std::iter::repeat_n(0u8, handshake::PACKET_LEN));
    session.handle_bytes(0, &script).unwrap();
    let err = session
        .handle_bytes(
            1,
            &client.command(0, &[s("createStream"), n(2.0), Value::Null]),
        )
        .unwrap_err();
    assert!(matches!(err, SessionError::Protocol(_)), "{err}");

    let (mut session, client) = connected();
    let bomb = client.message(3, 0, MessageType::CommandAmf0, 0, &[0x03; 200]);
    let err = session.handle_bytes(9, &bomb).unwrap_err();
    assert!(matches!(err, SessionError::Amf0 { .. }), "{err}");
}

/// Before `publish` the command limits apply (8 KiB here); from the publish command on, the
/// publisher's (1 MiB here), even before the server accepts the publish.
#[test]
fn messages_are_limited_to_command_size_until_publish() {
    let (mut session, client) = connected();
    let big = vec![0x17; 20 * 1024];
    let err = session
        .handle_bytes(5, &client.message(6, 0, MessageType::Video, 1, &big))
        .unwrap_err();
    assert!(matches!(err, SessionError::Chunk(_)), "{err}");

    let (mut session, mut client) = connected();
    let sid = create_stream(&mut session, &mut client);
    let publish = client.command(sid, &[s("publish"), n(5.0), Value::Null, s("cam")]);
    let mut script = publish;
    script.extend(client.message(6, 0, MessageType::Video, sid, &big));
    session.handle_bytes(6, &script).unwrap();
    assert!(matches!(&events(&mut session)[..], [Event::Publish { .. }]));
    session.accept_publish(sid, 6, 20_000, 5_000);
    let huge = client.message(6, 0, MessageType::Video, sid, &vec![0x17; (1 << 20) + 1]);
    // Fed as a socket would, 16 KiB at a time: the declared length is refused at once.
    let err = huge
        .chunks(16 * 1024)
        .find_map(|piece| session.handle_bytes(7, piece).err())
        .expect("a message over the publisher's limit is refused");
    assert!(matches!(err, SessionError::Chunk(_)), "{err}");
}

#[test]
fn handshake_timeout_and_idle_keepalive() {
    let mut session = ServerSession::new(CONFIG, 0, [1u8; handshake::PACKET_LEN], 0);
    assert_eq!(session.poll_timeout(), 10_000);
    assert!(session.handle_timeout(9_999).is_ok());
    assert!(session.handle_timeout(10_000).is_err());

    // Connected at t=3: idle for half of idle_timeout (15 s) sends a ping.
    let (mut session, mut client) = connected();
    assert_eq!(session.poll_timeout(), 3 + 15_000);
    session.handle_sent(20_000);
    assert_eq!(session.poll_timeout(), 35_000);
    session.handle_timeout(35_000).unwrap();
    let msgs = client.receive(&mut session);
    assert_eq!(
        ControlMessage::decode(msgs[0].header.type_id, &msgs[0].payload).unwrap(),
        Some(ControlMessage::UserControl(UserControl::PingRequest(
            35_000
        )))
    );
    // Writing the ping does not count as an answer.
    session.handle_sent(35_001);
    assert_eq!(session.poll_timeout(), 50_000);
    // The peer answers: alive, the next ping is due 15 s later.
    let mut pong = BytesMut::new();
    ControlMessage::UserControl(UserControl::PingResponse(35_000)).encode(&mut pong);
    session
        .handle_bytes(
            40_000,
            &client.message(2, 0, MessageType::UserControl, 0, &pong),
        )
        .unwrap();
    assert_eq!(session.poll_timeout(), 55_000);
    session.handle_timeout(55_000).unwrap();
    client.receive(&mut session);
    // No answer this time: closed half an idle_timeout later.
    assert!(session.handle_timeout(69_999).is_ok());
    assert!(matches!(
        session.handle_timeout(70_000),
        Err(SessionError::Timeout(_))
    ));
}

#[test]
fn media_on_a_stream_that_is_not_publishing_is_ignored() {
    let (mut session, client) = connected();
    session
        .handle_bytes(
            5,
            &client.message(6, 0, MessageType::Video, 1, &[0x17, 1, 0, 0, 0]),
        )
        .unwrap();
    assert!(events(&mut session).is_empty());
}

#[test]
fn aggregate_messages_are_split_into_frames() {
    let (mut session, mut client) = connected();
    let sid = create_stream(&mut session, &mut client);
    session
        .handle_bytes(
            6,
            &client.command(sid, &[s("publish"), n(5.0), Value::Null, s("a")]),
        )
        .unwrap();
    events(&mut session);
    session.accept_publish(sid, 6, 1000, 1000);
    // Two FLV tags: audio at 1000, video at 1040 (relative to the first), with back pointers.
    let mut agg = Vec::new();
    for (t, ts, body) in [
        (8u8, 1000u32, &[0xAFu8, 1, 9][..]),
        (9, 1040, &[0x27, 1, 0, 0, 0, 5][..]),
    ] {
        agg.push(t);
        agg.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        agg.extend_from_slice(&ts.to_be_bytes()[1..]);
        agg.push((ts >> 24) as u8);
        agg.extend_from_slice(&[0, 0, 0]);
        agg.extend_from_slice(body);
        agg.extend_from_slice(&(11 + body.len() as u32).to_be_bytes());
    }
    session
        .handle_bytes(
            7,
            &client.message(4, 500, MessageType::Aggregate, sid, &agg),
        )
        .unwrap();
    let evs = events(&mut session);
    let got: Vec<_> = evs
        .iter()
        .map(|e| match e {
            Event::Media {
                kind, timestamp, ..
            } => (*kind, *timestamp),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(got, vec![(MediaKind::Audio, 500), (MediaKind::Video, 540)]);
    // Truncated aggregate: connection error, no panic.
    let err = session
        .handle_bytes(
            8,
            &client.message(4, 0, MessageType::Aggregate, sid, &agg[..20]),
        )
        .unwrap_err();
    assert!(matches!(err, SessionError::Protocol(_)));
}

/// ffmpeg and VLC read the reply to `getStreamLength` as a number (ffmpeg's
/// `read_number_result`); `undefined` there makes them log "Unexpected reply on
/// getStreamLength()". A live stream has no length: answer 0.
#[test]
fn get_stream_length_is_answered_with_zero() {
    let (mut session, mut client) = connected();
    let _ = client.receive(&mut session);
    let bytes = client.command(0, &[s("getStreamLength"), n(4.0), Value::Null, s("x")]);
    session.handle_bytes(5, &bytes).unwrap();
    let msgs = client.receive(&mut session);
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].header.type_id, MessageType::CommandAmf0);
    #[rustfmt::skip]
    let expected: &[u8] = &[
        0x02, 0x00, 0x07, b'_', b'r', b'e', b's', b'u', b'l', b't',
        0x00, 0x40, 0x10, 0, 0, 0, 0, 0, 0, // 4.0
        0x05, // null
        0x00, 0, 0, 0, 0, 0, 0, 0, 0, // 0.0
    ];
    assert_eq!(&msgs[0].payload[..], expected);
}

/// Handshake, connect, createStream and publish `cam`, accepted; returns the stream id.
fn publishing() -> (ServerSession, Client, u32) {
    let (mut session, mut client) = connected();
    let sid = create_stream(&mut session, &mut client);
    let publish = client.command(sid, &[s("publish"), n(5.0), Value::Null, s("cam")]);
    session.handle_bytes(6, &publish).unwrap();
    assert_eq!(events(&mut session).len(), 1);
    session.accept_publish(sid, 6, 20_000, 5_000);
    client.receive(&mut session);
    (session, client, sid)
}

/// What the server's glue does after each read: take the events, resume decoding.
fn drain(session: &mut ServerSession) -> Vec<Event> {
    let mut out = Vec::new();
    loop {
        out.extend(events(session));
        session.process(9).unwrap();
        if !session.has_events() {
            return out;
        }
    }
}

#[test]
fn a_full_event_queue_pauses_decoding_until_the_events_are_taken() {
    let (mut session, client, sid) = publishing();
    let count = MAX_PENDING_EVENTS + 36;
    let script: Vec<u8> = (0..count)
        .flat_map(|i| {
            let body = [0xAF, 1, i as u8, 0x21];
            client.message(4, i as u32 * 23, MessageType::Audio, sid, &body)
        })
        .collect();
    session.handle_bytes(8, &script).unwrap();
    assert_eq!(events(&mut session).len(), MAX_PENDING_EVENTS, "paused");
    assert!(!session.input.is_empty(), "the rest of the read waits");
    session.process(9).unwrap();
    assert_eq!(events(&mut session).len(), 36);
    assert!(session.input.is_empty());

    // Cut anywhere, with the events taken after each read: the same frames in order.
    let timestamps = |events: &[Event]| -> Vec<u32> {
        events
            .iter()
            .map(|e| match e {
                Event::Media { timestamp, .. } => *timestamp,
                other => panic!("{other:?}"),
            })
            .collect()
    };
    let expect: Vec<u32> = (0..count as u32).map(|i| i * 23).collect();
    for split in (0..script.len()).step_by(7) {
        let (mut session, _, _) = publishing();
        session.handle_bytes(8, &script[..split]).unwrap();
        let mut got = drain(&mut session);
        session.handle_bytes(8, &script[split..]).unwrap();
        got.extend(drain(&mut session));
        assert_eq!(timestamps(&got), expect, "split at {split}");
    }
}

#[test]
fn event_slots_are_kept_by_a_publisher_only() {
    println!("Event: {} bytes", std::mem::size_of::<Event>());
    assert!(std::mem::size_of::<Event>() <= 160);
    let (mut session, client, sid) = publishing();
    let frame = |ts| client.message(4, ts, MessageType::Audio, sid, &[0xAF, 1, 0x21]);
    session.handle_bytes(8, &frame(0)).unwrap();
    assert_eq!(events(&mut session).len(), 1);
    let slots = session.events.capacity();
    assert!((1..=PUBLISHER_EVENT_SLOTS).contains(&slots), "{slots} kept");
    // A burst grows them; once drained they are given back.
    let burst: Vec<u8> = (0..40).flat_map(|i| frame(i * 23)).collect();
    session.handle_bytes(9, &burst).unwrap();
    assert_eq!(events(&mut session).len(), 40);
    assert_eq!(session.events.capacity(), 0);
    // A player keeps none (a_playing_session_holds_no_buffers_between_calls).
}

/// A decision the server takes its time over (an HTTP hook): a publish with the first media
/// right behind it in the same read waits, media included, until the answer; then the media
/// goes on as the publisher's, nothing lost.
#[test]
fn pending_publish_holds_what_follows_until_decided() {
    let (mut session, mut client) = connected();
    let sid = create_stream(&mut session, &mut client);
    let mut bytes = client.command(
        sid,
        &[s("publish"), n(5.0), Value::Null, s("cam"), s("live")],
    );
    bytes.extend(client.message(6, 0, MessageType::Video, sid, &[0x17, 0, 0, 0, 0, 1]));
    session.handle_bytes(7, &bytes).unwrap();
    assert!(session.awaits_decision());
    assert!(matches!(&events(&mut session)[..], [Event::Publish { .. }]));
    // Waiting: nothing more is decoded, however often the server asks.
    session.process(8).unwrap();
    assert!(events(&mut session).is_empty());
    session.accept_publish(sid, 9, 10_000, 10_000);
    assert!(!session.awaits_decision());
    session.process(9).unwrap();
    match &events(&mut session)[..] {
        [Event::Media {
            kind: MediaKind::Video,
            ..
        }] => {}
        other => panic!("{other:?}"),
    }
}

/// A pipelined createStream behind connect is answered once connect is accepted.
#[test]
fn pending_connect_holds_a_pipelined_create_stream() {
    let mut session = ServerSession::new(CONFIG, 0, [1u8; handshake::PACKET_LEN], 0);
    let mut client = Client::new();
    session.handle_bytes(1, &client.c0c1.clone()).unwrap();
    let s0s1s2 = session.poll_transmit().unwrap();
    let c2 = handshake::client_c2(&client.c0c1, &s0s1s2).unwrap();
    session.handle_bytes(2, &c2).unwrap();
    let mut bytes = client.command(0, &connect_values("live"));
    bytes.extend(client.command(0, &[s("createStream"), n(2.0), Value::Null]));
    session.handle_bytes(3, &bytes).unwrap();
    assert!(matches!(&events(&mut session)[..], [Event::Connect { .. }]));
    assert!(session.awaits_decision());
    session.accept_connect();
    session.process(4).unwrap();
    let names: Vec<String> = commands(&client.receive(&mut session))
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(names, ["_result", "onBWDone", "_result"]);
}
