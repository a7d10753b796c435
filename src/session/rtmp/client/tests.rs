//! The client session against our own server session, on a simulated clock: bytes go from one
//! to the other with no socket.

use super::*;
use crate::session::rtmp::{Event, ServerSession, SessionConfig};

const SERVER: SessionConfig = SessionConfig {
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

fn client(role: ClientRole, stream: &str) -> ClientSession {
    ClientSession::new(
        ClientConfig {
            app: "live".into(),
            tc_url: "rtmp://127.0.0.1:1935/live".into(),
            stream: stream.into(),
            role,
            chunk_size: 60_000,
            limits: ChunkLimits {
                max_message_len: 1 << 20,
                max_chunk_streams: 16,
                max_pending_bytes: 1 << 21,
            },
            setup_timeout_ms: 5_000,
        },
        0,
        &[9u8; PACKET_LEN],
    )
}

/// Moves bytes both ways until neither side has any, `step` bytes at a time into the client
/// (to cut the server's bytes everywhere), and answers the server's events as `decide` says.
/// Returns the server's events.
fn pump(
    c: &mut ClientSession,
    s: &mut ServerSession,
    step: usize,
    decide: &mut dyn FnMut(&mut ServerSession, &Event),
) -> Result<Vec<Event>, ClientError> {
    let mut events = Vec::new();
    loop {
        let mut moved = false;
        while let Some(b) = c.poll_transmit() {
            moved = true;
            s.handle_bytes(0, &b)
                .expect("server takes the client's bytes");
        }
        while let Some(e) = s.poll_event() {
            decide(s, &e);
            events.push(e);
            s.process(0).expect("server goes on");
        }
        while let Some(b) = s.poll_transmit() {
            moved = true;
            for piece in b.chunks(step) {
                c.handle_bytes(0, piece)?;
            }
        }
        if !moved {
            return Ok(events);
        }
    }
}

fn accept_all(s: &mut ServerSession, e: &Event) {
    match e {
        Event::Connect { .. } => s.accept_connect(),
        Event::Publish { stream_id, .. } => s.accept_publish(*stream_id, 0, 20_000, 5_000),
        Event::Play { stream_id, .. } => s.accept_play(*stream_id),
        _ => {}
    }
}

#[test]
fn publishes_to_our_server_with_metadata_and_frames() {
    for step in [1, 7, 1000, usize::MAX] {
        let mut c = client(ClientRole::Publish, "cam1?key=secret");
        let mut s = ServerSession::new(SERVER, 0, [3u8; PACKET_LEN], 0);
        let events = pump(&mut c, &mut s, step, &mut accept_all).unwrap();
        assert!(c.is_started(), "step {step}");
        assert_eq!(c.poll_event(), Some(ClientEvent::Started));
        let publish = events.iter().find_map(|e| match e {
            Event::Publish { request, .. } => Some(request.clone()),
            _ => None,
        });
        let request = publish.expect("the server saw a publish");
        assert_eq!(
            (request.app.as_str(), request.stream.as_str()),
            ("live", "cam1")
        );
        assert!(request.params.contains("key=secret"), "{}", request.params);

        // Metadata (stored without @setDataFrame), then a frame larger than several chunks.
        let mut meta = BytesMut::new();
        amf0::encode_all(
            &[
                Value::String("onMetaData".into()),
                Value::ecma_array([("width", Value::Number(640.0))]),
            ],
            &mut meta,
        );
        c.send_media(MediaKind::Metadata, 0, &meta).unwrap();
        let frame: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        c.send_media(MediaKind::Video, 40, &frame).unwrap();
        let events = pump(&mut c, &mut s, step, &mut accept_all).unwrap();
        let media: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                Event::Media {
                    kind,
                    timestamp,
                    payload,
                    ..
                } => Some((*kind, *timestamp, payload.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(media.len(), 2, "{events:?}");
        assert_eq!(media[0].0, MediaKind::Metadata);
        let values = amf0::decode_all(&media[0].2).unwrap();
        assert_eq!(values[0].as_str(), Some("onMetaData"));
        assert_eq!(media[1].0, MediaKind::Video);
        assert_eq!(media[1].1, 40);
        assert_eq!(&media[1].2[..], &frame[..]);
    }
}

#[test]
fn a_refused_publish_is_an_error_with_the_code() {
    let mut c = client(ClientRole::Publish, "cam1");
    let mut s = ServerSession::new(SERVER, 0, [3u8; PACKET_LEN], 0);
    let mut refuse = |s: &mut ServerSession, e: &Event| match e {
        Event::Connect { .. } => s.accept_connect(),
        Event::Publish { stream_id, .. } => {
            s.reject_publish(*stream_id, "NetStream.Publish.BadName", "busy")
        }
        _ => {}
    };
    let err = pump(&mut c, &mut s, usize::MAX, &mut refuse).unwrap_err();
    match err {
        ClientError::Refused(why) => assert!(why.contains("BadName"), "{why}"),
        other => panic!("{other}"),
    }
}

#[test]
fn a_refused_connect_is_an_error() {
    let mut c = client(ClientRole::Publish, "cam1");
    let mut s = ServerSession::new(SERVER, 0, [3u8; PACKET_LEN], 0);
    let mut refuse = |s: &mut ServerSession, e: &Event| {
        if let Event::Connect { .. } = e {
            s.reject_connect("no");
        }
    };
    let err = pump(&mut c, &mut s, usize::MAX, &mut refuse).unwrap_err();
    assert!(matches!(err, ClientError::Refused(_)), "{err}");
}

/// SRS's RTMP 302 from our server session (origin cluster) is a redirect to the full URL.
#[test]
fn a_redirected_play_is_a_redirect_with_the_url() {
    for step in [1, 9, usize::MAX] {
        let mut c = client(ClientRole::Play, "cam1");
        let mut s = ServerSession::new(SERVER, 0, [3u8; PACKET_LEN], 0);
        let mut redirect = |s: &mut ServerSession, e: &Event| match e {
            Event::Connect { .. } => s.accept_connect(),
            Event::Play { stream_id, .. } => {
                s.redirect_play(*stream_id, "rtmp://10.0.0.2:19350/live/cam1?k=1")
            }
            _ => {}
        };
        let err = pump(&mut c, &mut s, step, &mut redirect).unwrap_err();
        match err {
            ClientError::Redirect(url) => assert_eq!(url, "rtmp://10.0.0.2:19350/live/cam1?k=1"),
            other => panic!("step {step}: {other}"),
        }
        assert!(s.is_closing());
    }
}

/// A token traverse: `connect` with the client's tcUrl and app (its query too), `Started` at
/// the `_result`, and nothing more is sent (no `createStream`).
#[test]
fn a_connect_only_client_stops_at_the_connect_result() {
    for step in [1, 5, usize::MAX] {
        let mut c = client(ClientRole::Connect, "");
        c.config.app = "live?token=abc".into();
        c.config.tc_url = "rtmp://edge.example:1935/live?token=abc".into();
        let mut s = ServerSession::new(SERVER, 0, [3u8; PACKET_LEN], 0);
        let events = pump(&mut c, &mut s, step, &mut accept_all).unwrap();
        assert!(c.is_started(), "step {step}");
        assert_eq!(c.poll_event(), Some(ClientEvent::Started));
        assert_eq!(events.len(), 1, "only the connect: {events:?}");
        let Event::Connect { request, .. } = &events[0] else {
            panic!("{events:?}");
        };
        assert_eq!(request.app, "live");
        assert_eq!(request.tc_url, "rtmp://edge.example:1935/live?token=abc");
        assert!(request.params.contains("token=abc"), "{}", request.params);
        assert_eq!(c.poll_timeout(), u64::MAX, "no deadline once answered");
    }
    let mut c = client(ClientRole::Connect, "");
    let mut s = ServerSession::new(SERVER, 0, [3u8; PACKET_LEN], 0);
    let mut refuse = |s: &mut ServerSession, e: &Event| {
        if let Event::Connect { .. } = e {
            s.reject_connect("refused by the on_connect hook: code 1");
        }
    };
    let err = pump(&mut c, &mut s, usize::MAX, &mut refuse).unwrap_err();
    assert!(matches!(err, ClientError::Refused(_)), "{err}");
}

#[test]
fn plays_from_our_server() {
    let mut c = client(ClientRole::Play, "cam1");
    let mut s = ServerSession::new(SERVER, 0, [3u8; PACKET_LEN], 0);
    pump(&mut c, &mut s, 5, &mut accept_all).unwrap();
    assert!(c.is_started());
    assert_eq!(c.poll_event(), Some(ClientEvent::Started));
    // The server's media, chunked at its chunk size, as its player output sends it.
    let header = MessageHeader {
        csid: 6,
        timestamp: 1234,
        type_id: MessageType::Video,
        stream_id: c.stream_id(),
    };
    let mut bytes = BytesMut::new();
    chunk::encode_message(s.out_chunk_size(), &header, &[0x17; 9000], &mut bytes);
    for piece in bytes.chunks(3) {
        c.handle_bytes(0, piece).unwrap();
    }
    match c.poll_event() {
        Some(ClientEvent::Media {
            kind: MediaKind::Video,
            timestamp: 1234,
            payload,
        }) => assert_eq!(payload.len(), 9000),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_silent_server_times_out_at_the_setup_deadline() {
    let mut c = client(ClientRole::Publish, "cam1");
    assert!(c.poll_transmit().is_some(), "C0C1 first");
    assert_eq!(c.poll_timeout(), 5_000);
    c.handle_timeout(4_999).unwrap();
    let err = c.handle_timeout(5_000).unwrap_err();
    assert!(matches!(err, ClientError::Timeout("handshake")), "{err}");
}

#[test]
fn garbage_from_the_server_is_an_error_not_a_panic() {
    let mut c = client(ClientRole::Publish, "cam1");
    let mut s = ServerSession::new(SERVER, 0, [3u8; PACKET_LEN], 0);
    let mut connect_only = |s: &mut ServerSession, e: &Event| {
        if let Event::Connect { .. } = e {
            s.accept_connect()
        }
    };
    pump(&mut c, &mut s, usize::MAX, &mut connect_only).unwrap();
    // A chunk claiming a message longer than the client's limit.
    let mut bad = vec![0x03, 0, 0, 0, 0xff, 0xff, 0xff, 0x09, 0, 0, 0, 0];
    bad.extend_from_slice(&[0u8; 64]);
    assert!(c.handle_bytes(0, &bad).is_err());
}

#[test]
fn a_publisher_says_fcunpublish_and_deletestream_before_it_closes() {
    for step in [1, 1000] {
        let mut c = client(ClientRole::Publish, "cam1?key=secret");
        let mut s = ServerSession::new(SERVER, 0, [3u8; PACKET_LEN], 0);
        pump(&mut c, &mut s, step, &mut accept_all).unwrap();
        assert!(c.is_started());
        let id = c.stream_id();
        c.close();
        c.close();
        c.send_media(MediaKind::Video, 80, &[0x17; 10]).unwrap();
        assert_eq!(c.poll_timeout(), u64::MAX);
        let events = pump(&mut c, &mut s, step, &mut accept_all).unwrap();
        let ends: Vec<_> = events
            .iter()
            .filter(|e| !matches!(e, Event::Media { .. }))
            .collect();
        // FCUnpublish ends the publish; deleteStream then finds nothing left to end.
        assert_eq!(ends, [&Event::Unpublish { stream_id: id }], "step {step}");
        assert!(!events.iter().any(|e| matches!(e, Event::Media { .. })));
    }
}

#[test]
fn a_player_says_deletestream_before_it_closes() {
    let mut c = client(ClientRole::Play, "cam1");
    let mut s = ServerSession::new(SERVER, 0, [3u8; PACKET_LEN], 0);
    pump(&mut c, &mut s, 5, &mut accept_all).unwrap();
    let id = c.stream_id();
    c.close();
    let events = pump(&mut c, &mut s, 5, &mut accept_all).unwrap();
    assert_eq!(events, [Event::StopPlay { stream_id: id }]);
}

#[test]
fn closing_before_createstream_sends_nothing() {
    let mut c = client(ClientRole::Publish, "cam1");
    let _ = c.poll_transmit();
    c.close();
    assert!(c.poll_transmit().is_none());
}
