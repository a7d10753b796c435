//! RTMP server session (sans-IO), after a valid complex handshake: the input, fed in random
//! pieces, is the client's chunk stream. The server answers events (accepting or refusing
//! per a policy byte) and timeouts; everything it sends after S0+S1+S2 must be a chunk
//! stream our own decoder reads without error.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tinysrs::session::rtmp::{Event, ServerSession, SessionConfig, COMMAND_CHUNK_LIMITS};
use tinysrs::wire::rtmp::chunk::{ChunkDecoder, ChunkLimits};
use tinysrs::wire::rtmp::handshake::{self, PACKET_LEN, S0S1S2_LEN};
use tinysrs::wire::rtmp::message::ControlMessage;

const CONFIG: SessionConfig = SessionConfig {
    chunk_size: 4096,
    chunk_limits: ChunkLimits {
        max_message_len: 1 << 20,
        max_chunk_streams: 16,
        max_pending_bytes: 1 << 21,
    },
    command_chunk_limits: COMMAND_CHUNK_LIMITS,
    handshake_timeout_ms: 10_000,
    idle_timeout_ms: 30_000,
};

/// What the session sent, read back as a client would.
struct Peer {
    skip: usize,
    input: BytesMut,
    decoder: ChunkDecoder,
}

impl Peer {
    fn receive(&mut self, session: &mut ServerSession) {
        while let Some(bytes) = session.poll_transmit() {
            let skip = self.skip.min(bytes.len());
            self.skip -= skip;
            self.input.extend_from_slice(&bytes[skip..]);
        }
        while let Some(m) = self
            .decoder
            .decode(&mut self.input)
            .expect("the server's chunk stream decodes")
        {
            if let Ok(Some(ControlMessage::SetChunkSize(n))) =
                ControlMessage::decode(m.header.type_id, &m.payload)
            {
                self.decoder
                    .set_chunk_size(n)
                    .expect("the server announces a valid chunk size");
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&policy, data)) = data.split_first() else {
        return;
    };
    let (_, pieces) = tinysrs_fuzz::split(data);
    let mut now = 1_000u64;
    let mut session = ServerSession::new(CONFIG, now, [0x33; PACKET_LEN], 0);
    let mut peer = Peer {
        skip: S0S1S2_LEN,
        input: BytesMut::new(),
        decoder: ChunkDecoder::new(ChunkLimits::default()),
    };
    let c0c1 = handshake::client_c0c1(&[7; PACKET_LEN], 0, true);
    session
        .handle_bytes(now, &c0c1)
        .expect("a valid C0+C1 is accepted");
    session
        .handle_bytes(now, &[0; PACKET_LEN])
        .expect("any C2 is accepted");
    peer.receive(&mut session);

    for (i, piece) in pieces.into_iter().enumerate() {
        now += u64::from(piece[0] & 0x0f) * 100;
        if session.handle_bytes(now, piece).is_err() {
            peer.receive(&mut session);
            return;
        }
        while let Some(event) = session.poll_event() {
            match event {
                Event::Connect { .. } if policy & 1 != 0 => session.reject_connect("fuzz"),
                Event::Connect { .. } => session.accept_connect(),
                Event::Publish { stream_id, .. } if policy & 2 != 0 => {
                    session.reject_publish(stream_id, "NetStream.Publish.BadName", "fuzz")
                }
                Event::Publish { stream_id, .. } => {
                    session.accept_publish(stream_id, now, 20_000, 5_000)
                }
                Event::Play { stream_id, .. } if policy & 4 != 0 => {
                    session.reject_play(stream_id, "NetStream.Play.StreamNotFound", "fuzz")
                }
                Event::Play { stream_id, .. } => {
                    session.accept_play(stream_id);
                    if policy & 8 != 0 {
                        session.notify_unpublished(stream_id);
                        session.notify_published(stream_id);
                    }
                }
                Event::Media { .. } | Event::Unpublish { .. } | Event::StopPlay { .. } => {}
            }
        }
        if session.process(now).is_err() {
            peer.receive(&mut session);
            return;
        }
        if policy & 16 != 0 && i % 4 == 3 {
            now = now.max(session.poll_timeout());
            if session.handle_timeout(now).is_err() {
                peer.receive(&mut session);
                return;
            }
        }
        peer.receive(&mut session);
        if session.is_closing() {
            return;
        }
    }
});
