//! RTMP client session (sans-IO, forward and edge), after a valid S0+S1+S2 from our own
//! server handshake: the input, fed in random pieces, is the server's chunk stream. The first
//! byte chooses the role (publish or play) and whether media is sent once started. Nothing
//! may panic; errors end the session.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinysrs::session::rtmp::client::{ClientConfig, ClientRole, ClientSession};
use tinysrs::session::rtmp::MediaKind;
use tinysrs::wire::rtmp::chunk::ChunkLimits;
use tinysrs::wire::rtmp::handshake::{self, PACKET_LEN};

fuzz_target!(|data: &[u8]| {
    let Some((&policy, data)) = data.split_first() else {
        return;
    };
    let (_, pieces) = tinysrs_fuzz::split(data);
    let role = if policy & 1 == 0 {
        ClientRole::Publish
    } else {
        ClientRole::Play
    };
    let config = ClientConfig {
        app: "live".into(),
        tc_url: "rtmp://127.0.0.1/live".into(),
        stream: "cam?key=k".into(),
        role,
        chunk_size: 4096,
        limits: ChunkLimits {
            max_message_len: 64 * 1024,
            max_chunk_streams: 8,
            max_pending_bytes: 64 * 1024,
        },
        setup_timeout_ms: 10_000,
    };
    let mut now = 1_000u64;
    let mut client = ClientSession::new(config, now, &[7; PACKET_LEN]);
    let c0c1 = client.poll_transmit().expect("C0+C1 first");
    let (_, s0s1s2) = handshake::server_response(&c0c1, &[0x33; PACKET_LEN], 0)
        .expect("our C0+C1 is valid");
    client
        .handle_bytes(now, &s0s1s2)
        .expect("our S0+S1+S2 is accepted");
    for piece in pieces {
        now += u64::from(piece[0] & 0x0f) * 100;
        if client.handle_bytes(now, piece).is_err() {
            return;
        }
        while client.poll_event().is_some() {}
        while client.poll_transmit().is_some() {}
        if policy & 2 != 0 && client.is_started() {
            let _ = client.send_media(MediaKind::Video, now as u32, &piece[..]);
            let _ = client.send_media(MediaKind::Metadata, 0, &piece[..]);
        }
        if policy & 4 != 0 && client.handle_timeout(now.max(client.poll_timeout())).is_err() {
            return;
        }
    }
});
