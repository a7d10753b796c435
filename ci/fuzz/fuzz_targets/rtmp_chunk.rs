//! RTMP chunk stream decoder, stateful: the input is fed in random pieces and must give the
//! same messages, and the same error, as when fed at once. Set Chunk Size and Abort are
//! applied as a session does. Control messages that decode re-encode to the same payload.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tinysrs::wire::rtmp::chunk::{ChunkDecoder, ChunkError, ChunkLimits};
use tinysrs::wire::rtmp::message::{ControlMessage, Message};

const LIMITS: ChunkLimits = ChunkLimits {
    max_message_len: 1 << 20,
    max_chunk_streams: 16,
    max_pending_bytes: 1 << 21,
};

/// Decodes everything `input` holds, applying control messages; `Err` ends the stream.
fn drain(
    decoder: &mut ChunkDecoder,
    input: &mut BytesMut,
    out: &mut Vec<Message>,
) -> Result<(), ChunkError> {
    while let Some(message) = decoder.decode(input)? {
        match ControlMessage::decode(message.header.type_id, &message.payload) {
            Ok(Some(control)) => {
                let mut again = BytesMut::new();
                control.encode(&mut again);
                assert_eq!(again.len(), control.encoded_len());
                let back = ControlMessage::decode(control.type_id(), &again)
                    .expect("re-encoded control message decodes");
                assert_eq!(back, Some(control));
                match control {
                    ControlMessage::SetChunkSize(size) => decoder.set_chunk_size(size)?,
                    ControlMessage::Abort { csid } => decoder.abort(csid),
                    _ => {}
                }
            }
            Ok(None) | Err(_) => {}
        }
        out.push(message);
    }
    assert!(decoder.pending_bytes() <= LIMITS.max_pending_bytes);
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let (payload, pieces) = tinysrs_fuzz::split(data);

    let mut whole = ChunkDecoder::new(LIMITS);
    let mut whole_messages = Vec::new();
    let mut input = BytesMut::from(payload);
    let whole_result = drain(&mut whole, &mut input, &mut whole_messages);

    let mut cut = ChunkDecoder::new(LIMITS);
    let mut cut_messages = Vec::new();
    let mut input = BytesMut::new();
    let mut cut_result = Ok(());
    for piece in pieces {
        input.extend_from_slice(piece);
        cut_result = drain(&mut cut, &mut input, &mut cut_messages);
        if cut_result.is_err() {
            break;
        }
    }

    assert_eq!(whole_messages, cut_messages);
    assert_eq!(whole_result, cut_result);
    if whole_result.is_ok() {
        assert_eq!(whole.bytes_received(), cut.bytes_received());
        assert_eq!(whole.pending_bytes(), cut.pending_bytes());
    }
});
