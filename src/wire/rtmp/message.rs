//! RTMP messages (Adobe RTMP specification 1.0, December 2012): the message type numbers
//! (§5.4, §7.1), the protocol control messages (§5.4.1–§5.4.5) and the user control events
//! (§7.1.7; §6.2 in the 2009 draft).
//!
//! Pure code over byte slices: no I/O, no clock. Chunking lives in [`super::chunk`]; AMF command
//! bodies live in `wire::amf0`.

use bytes::{BufMut, Bytes};

/// Protocol control messages are sent on chunk stream 2 (§5.4).
pub const CONTROL_CSID: u32 = 2;
/// ... and on message stream 0, "the control stream" (§5.4).
pub const CONTROL_STREAM_ID: u32 = 0;

/// Set Peer Bandwidth limit type "Hard" (§5.4.5): limit output to the window size.
pub const LIMIT_HARD: u8 = 0;
/// Set Peer Bandwidth limit type "Soft" (§5.4.5): limit to the window or the current limit,
/// whichever is smaller.
pub const LIMIT_SOFT: u8 = 1;
/// Set Peer Bandwidth limit type "Dynamic" (§5.4.5): hard if the previous limit was hard,
/// otherwise ignore the message.
pub const LIMIT_DYNAMIC: u8 = 2;

/// Length of the single 32-bit big-endian field of Set Chunk Size, Abort, Acknowledgement and
/// Window Acknowledgement Size (§5.4.1–§5.4.4), and of the event data of most user control
/// events (§7.1.7).
const U32_FIELD_LEN: usize = 4;
/// Set Peer Bandwidth: acknowledgement window size (4) + limit type (1) (§5.4.5).
const SET_PEER_BANDWIDTH_LEN: usize = 5;
/// User control message: 16-bit event type, then event data (§7.1.7).
const EVENT_TYPE_LEN: usize = 2;
/// Set Buffer Length event data: stream id (4) + buffer length in ms (4) (§7.1.7).
const SET_BUFFER_LENGTH_DATA_LEN: usize = 8;

/// RTMP message type id, the `type_id` byte of a chunk message header (§5.3.1.2, §5.4, §7.1).
///
/// Build from the wire with [`MessageType::from_u8`] only: `Unknown(8)` is never produced for
/// a known number and would not compare equal to `Audio`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    /// 1, §5.4.1.
    SetChunkSize,
    /// 2, §5.4.2.
    Abort,
    /// 3, §5.4.3.
    Acknowledgement,
    /// 4, §7.1.7 (§6.2 in the 2009 draft).
    UserControl,
    /// 5, §5.4.4.
    WindowAckSize,
    /// 6, §5.4.5.
    SetPeerBandwidth,
    /// 8, §7.1.5; the payload is an FLV audio tag body.
    Audio,
    /// 9, §7.1.5; the payload is an FLV video tag body.
    Video,
    /// 15, §7.1.2.
    DataAmf3,
    /// 16, §7.1.3.
    SharedObjectAmf3,
    /// 17, §7.1.1.
    CommandAmf3,
    /// 18, §7.1.2 (`@setDataFrame`, `onMetaData`).
    DataAmf0,
    /// 19, §7.1.3.
    SharedObjectAmf0,
    /// 20, §7.1.1 (`connect`, `publish`, `play`, ...).
    CommandAmf0,
    /// 22, §7.1.6.
    Aggregate,
    /// Any other number (for example 7, which nginx-rtmp uses between edges).
    Unknown(u8),
}

/// `Debug` by hand: the router builds' `-Zfmt-debug=shallow` (targets/mips*.toml) would print
/// a derived one without the number, and logs and errors show it.
impl std::fmt::Debug for MessageType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MessageType::SetChunkSize => "SetChunkSize",
            MessageType::Abort => "Abort",
            MessageType::Acknowledgement => "Acknowledgement",
            MessageType::UserControl => "UserControl",
            MessageType::WindowAckSize => "WindowAckSize",
            MessageType::SetPeerBandwidth => "SetPeerBandwidth",
            MessageType::Audio => "Audio",
            MessageType::Video => "Video",
            MessageType::DataAmf3 => "DataAmf3",
            MessageType::SharedObjectAmf3 => "SharedObjectAmf3",
            MessageType::CommandAmf3 => "CommandAmf3",
            MessageType::DataAmf0 => "DataAmf0",
            MessageType::SharedObjectAmf0 => "SharedObjectAmf0",
            MessageType::CommandAmf0 => "CommandAmf0",
            MessageType::Aggregate => "Aggregate",
            MessageType::Unknown(n) => return write!(f, "Unknown({n})"),
        })
    }
}

impl MessageType {
    /// Maps the wire byte to a type; never fails.
    pub fn from_u8(value: u8) -> Self {
        match value {
            1 => MessageType::SetChunkSize,
            2 => MessageType::Abort,
            3 => MessageType::Acknowledgement,
            4 => MessageType::UserControl,
            5 => MessageType::WindowAckSize,
            6 => MessageType::SetPeerBandwidth,
            8 => MessageType::Audio,
            9 => MessageType::Video,
            15 => MessageType::DataAmf3,
            16 => MessageType::SharedObjectAmf3,
            17 => MessageType::CommandAmf3,
            18 => MessageType::DataAmf0,
            19 => MessageType::SharedObjectAmf0,
            20 => MessageType::CommandAmf0,
            22 => MessageType::Aggregate,
            other => MessageType::Unknown(other),
        }
    }

    /// The wire byte.
    pub fn to_u8(self) -> u8 {
        match self {
            MessageType::SetChunkSize => 1,
            MessageType::Abort => 2,
            MessageType::Acknowledgement => 3,
            MessageType::UserControl => 4,
            MessageType::WindowAckSize => 5,
            MessageType::SetPeerBandwidth => 6,
            MessageType::Audio => 8,
            MessageType::Video => 9,
            MessageType::DataAmf3 => 15,
            MessageType::SharedObjectAmf3 => 16,
            MessageType::CommandAmf3 => 17,
            MessageType::DataAmf0 => 18,
            MessageType::SharedObjectAmf0 => 19,
            MessageType::CommandAmf0 => 20,
            MessageType::Aggregate => 22,
            MessageType::Unknown(other) => other,
        }
    }

    /// True for the types [`ControlMessage::decode`] understands (1–6).
    pub fn is_control(self) -> bool {
        matches!(
            self,
            MessageType::SetChunkSize
                | MessageType::Abort
                | MessageType::Acknowledgement
                | MessageType::UserControl
                | MessageType::WindowAckSize
                | MessageType::SetPeerBandwidth
        )
    }
}

/// The header of a whole (reassembled) message (§5.3.1.2, §6.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageHeader {
    /// Chunk stream the message arrived on or is to be sent on, 2..=65599 (§5.3.1.1).
    pub csid: u32,
    /// Absolute timestamp in ms, 32 bits, wrapping; the session unwraps 32-bit wraps.
    pub timestamp: u32,
    pub type_id: MessageType,
    /// Message stream id (little-endian on the wire, §5.3.1.2.1).
    pub stream_id: u32,
}

/// One whole RTMP message. The payload is shared, never copied per receiver.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub header: MessageHeader,
    pub payload: Bytes,
}

/// Errors decoding a control message. All are connection-fatal: once a control message is
/// unreadable the peer's chunk size or window is unknown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// The payload is shorter than the message's fixed fields.
    #[error("{type_id:?} payload is {len} bytes, needs {need}")]
    ShortPayload {
        type_id: MessageType,
        len: usize,
        need: usize,
    },
    /// A known user control event with less event data than it defines.
    #[error("user control event {event} payload is {len} bytes, needs {need}")]
    ShortEvent { event: u16, len: usize, need: usize },
}

/// User control events (§7.1.7), the payload of a type 4 message: a 16-bit big-endian event
/// type followed by event data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserControl {
    /// 0: the stream became functional; data: message stream id.
    StreamBegin(u32),
    /// 1: playback of the stream is over; data: message stream id.
    StreamEof(u32),
    /// 2: no more data on the stream; data: message stream id.
    StreamDry(u32),
    /// 3: client's buffer size for a stream, sent before play.
    SetBufferLength { stream_id: u32, ms: u32 },
    /// 4: the stream is a recorded stream; data: message stream id.
    StreamIsRecorded(u32),
    /// 6: server ping; data: a timestamp the peer echoes.
    PingRequest(u32),
    /// 7: reply to a ping; data: the timestamp from the request.
    PingResponse(u32),
    /// Any other event (FMS sends 31/32, buffer empty/ready). Its data is not kept; encoding
    /// writes the event type alone.
    Unknown { event: u16 },
}

impl UserControl {
    pub const STREAM_BEGIN: u16 = 0;
    pub const STREAM_EOF: u16 = 1;
    pub const STREAM_DRY: u16 = 2;
    pub const SET_BUFFER_LENGTH: u16 = 3;
    pub const STREAM_IS_RECORDED: u16 = 4;
    pub const PING_REQUEST: u16 = 6;
    pub const PING_RESPONSE: u16 = 7;

    /// Decodes a user control payload. Trailing bytes after the event data are ignored.
    pub fn decode(payload: &[u8]) -> Result<UserControl, MessageError> {
        let Some((event_bytes, data)) = payload.split_first_chunk::<EVENT_TYPE_LEN>() else {
            return Err(MessageError::ShortPayload {
                type_id: MessageType::UserControl,
                len: payload.len(),
                need: EVENT_TYPE_LEN,
            });
        };
        let event = u16::from_be_bytes(*event_bytes);
        let short = |need: usize| MessageError::ShortEvent {
            event,
            len: payload.len(),
            need: EVENT_TYPE_LEN + need,
        };
        let u32_at = |at: usize| -> Option<u32> {
            let bytes = data.get(at..at.checked_add(U32_FIELD_LEN)?)?;
            Some(u32::from_be_bytes(bytes.try_into().ok()?))
        };
        let first = || u32_at(0).ok_or_else(|| short(U32_FIELD_LEN));
        Ok(match event {
            Self::STREAM_BEGIN => UserControl::StreamBegin(first()?),
            Self::STREAM_EOF => UserControl::StreamEof(first()?),
            Self::STREAM_DRY => UserControl::StreamDry(first()?),
            Self::SET_BUFFER_LENGTH => match (u32_at(0), u32_at(U32_FIELD_LEN)) {
                (Some(stream_id), Some(ms)) => UserControl::SetBufferLength { stream_id, ms },
                _ => return Err(short(SET_BUFFER_LENGTH_DATA_LEN)),
            },
            Self::STREAM_IS_RECORDED => UserControl::StreamIsRecorded(first()?),
            Self::PING_REQUEST => UserControl::PingRequest(first()?),
            Self::PING_RESPONSE => UserControl::PingResponse(first()?),
            other => UserControl::Unknown { event: other },
        })
    }

    /// The 16-bit event type.
    pub fn event_type(&self) -> u16 {
        match self {
            UserControl::StreamBegin(_) => Self::STREAM_BEGIN,
            UserControl::StreamEof(_) => Self::STREAM_EOF,
            UserControl::StreamDry(_) => Self::STREAM_DRY,
            UserControl::SetBufferLength { .. } => Self::SET_BUFFER_LENGTH,
            UserControl::StreamIsRecorded(_) => Self::STREAM_IS_RECORDED,
            UserControl::PingRequest(_) => Self::PING_REQUEST,
            UserControl::PingResponse(_) => Self::PING_RESPONSE,
            UserControl::Unknown { event } => *event,
        }
    }

    /// Writes event type and event data.
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_u16(self.event_type());
        match *self {
            UserControl::StreamBegin(v)
            | UserControl::StreamEof(v)
            | UserControl::StreamDry(v)
            | UserControl::StreamIsRecorded(v)
            | UserControl::PingRequest(v)
            | UserControl::PingResponse(v) => out.put_u32(v),
            UserControl::SetBufferLength { stream_id, ms } => {
                out.put_u32(stream_id);
                out.put_u32(ms);
            }
            UserControl::Unknown { .. } => {}
        }
    }

    /// Bytes [`UserControl::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        EVENT_TYPE_LEN
            + match self {
                UserControl::SetBufferLength { .. } => SET_BUFFER_LENGTH_DATA_LEN,
                UserControl::Unknown { .. } => 0,
                _ => U32_FIELD_LEN,
            }
    }
}

/// A protocol control message (§5.4) or user control message (§7.1.7): message types 1–6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlMessage {
    /// §5.4.1: the sender's new maximum chunk size. The value is returned as sent; the chunk
    /// decoder decides which sizes it accepts (`ChunkDecoder::set_chunk_size`).
    SetChunkSize(u32),
    /// §5.4.2: discard the partly received message on this chunk stream.
    Abort { csid: u32 },
    /// §5.4.3: bytes received so far (wrapping at 2^32).
    Acknowledgement { sequence: u32 },
    /// §5.4.4: acknowledge after this many bytes.
    WindowAckSize(u32),
    /// §5.4.5: limit the peer's output window; `limit_type` is one of [`LIMIT_HARD`],
    /// [`LIMIT_SOFT`], [`LIMIT_DYNAMIC`] (other values are passed through).
    SetPeerBandwidth { size: u32, limit_type: u8 },
    /// §7.1.7.
    UserControl(UserControl),
}

impl ControlMessage {
    /// Decodes the payload of a message of type `type_id`. `Ok(None)` when `type_id` is not a
    /// control type (1–6). Trailing bytes are ignored.
    ///
    /// Tolerance: a Set Peer Bandwidth of 4 bytes (no limit type) is accepted as
    /// [`LIMIT_DYNAMIC`], as ffmpeg does when it reads one.
    pub fn decode(
        type_id: MessageType,
        payload: &[u8],
    ) -> Result<Option<ControlMessage>, MessageError> {
        let short = |need: usize| MessageError::ShortPayload {
            type_id,
            len: payload.len(),
            need,
        };
        let first_u32 = || -> Result<u32, MessageError> {
            payload
                .first_chunk::<U32_FIELD_LEN>()
                .map(|bytes| u32::from_be_bytes(*bytes))
                .ok_or_else(|| short(U32_FIELD_LEN))
        };
        Ok(Some(match type_id {
            MessageType::SetChunkSize => ControlMessage::SetChunkSize(first_u32()?),
            MessageType::Abort => ControlMessage::Abort { csid: first_u32()? },
            MessageType::Acknowledgement => ControlMessage::Acknowledgement {
                sequence: first_u32()?,
            },
            MessageType::WindowAckSize => ControlMessage::WindowAckSize(first_u32()?),
            MessageType::SetPeerBandwidth => ControlMessage::SetPeerBandwidth {
                size: first_u32()?,
                limit_type: payload
                    .get(SET_PEER_BANDWIDTH_LEN - 1)
                    .copied()
                    .unwrap_or(LIMIT_DYNAMIC),
            },
            MessageType::UserControl => ControlMessage::UserControl(UserControl::decode(payload)?),
            _ => return Ok(None),
        }))
    }

    /// Writes the message payload (not the chunk header).
    pub fn encode(&self, out: &mut impl BufMut) {
        match *self {
            ControlMessage::SetChunkSize(v)
            | ControlMessage::Abort { csid: v }
            | ControlMessage::Acknowledgement { sequence: v }
            | ControlMessage::WindowAckSize(v) => out.put_u32(v),
            ControlMessage::SetPeerBandwidth { size, limit_type } => {
                out.put_u32(size);
                out.put_u8(limit_type);
            }
            ControlMessage::UserControl(event) => event.encode(out),
        }
    }

    /// Bytes [`ControlMessage::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        match self {
            ControlMessage::SetPeerBandwidth { .. } => SET_PEER_BANDWIDTH_LEN,
            ControlMessage::UserControl(event) => event.encoded_len(),
            _ => U32_FIELD_LEN,
        }
    }

    /// The message type this control message is sent as.
    pub fn type_id(&self) -> MessageType {
        match self {
            ControlMessage::SetChunkSize(_) => MessageType::SetChunkSize,
            ControlMessage::Abort { .. } => MessageType::Abort,
            ControlMessage::Acknowledgement { .. } => MessageType::Acknowledgement,
            ControlMessage::WindowAckSize(_) => MessageType::WindowAckSize,
            ControlMessage::SetPeerBandwidth { .. } => MessageType::SetPeerBandwidth,
            ControlMessage::UserControl(_) => MessageType::UserControl,
        }
    }

    /// The header to send this message with: chunk stream [`CONTROL_CSID`], message stream
    /// [`CONTROL_STREAM_ID`] (§5.4).
    pub fn header(&self, timestamp: u32) -> MessageHeader {
        MessageHeader {
            csid: CONTROL_CSID,
            timestamp,
            type_id: self.type_id(),
            stream_id: CONTROL_STREAM_ID,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(msg: &ControlMessage) -> Vec<u8> {
        let mut out = Vec::new();
        msg.encode(&mut out);
        assert_eq!(out.len(), msg.encoded_len(), "{msg:?}");
        out
    }

    /// (message, payload bytes written out by hand from §5.4 / §7.1.7).
    fn golden() -> Vec<(ControlMessage, Vec<u8>)> {
        vec![
            // §5.4.1 Set Chunk Size 4096 = 0x1000.
            (
                ControlMessage::SetChunkSize(4096),
                vec![0x00, 0x00, 0x10, 0x00],
            ),
            // §5.4.1 60000 = 0xEA60, SRS's default outgoing chunk size.
            (
                ControlMessage::SetChunkSize(60000),
                vec![0x00, 0x00, 0xEA, 0x60],
            ),
            // §5.4.2 Abort chunk stream 6.
            (
                ControlMessage::Abort { csid: 6 },
                vec![0x00, 0x00, 0x00, 0x06],
            ),
            // §5.4.3 Acknowledgement, sequence 0x12345678.
            (
                ControlMessage::Acknowledgement {
                    sequence: 0x1234_5678,
                },
                vec![0x12, 0x34, 0x56, 0x78],
            ),
            // §5.4.4 Window Acknowledgement Size 2500000 = 0x2625A0.
            (
                ControlMessage::WindowAckSize(2_500_000),
                vec![0x00, 0x26, 0x25, 0xA0],
            ),
            // §5.4.5 Set Peer Bandwidth 2500000, limit type 2 (dynamic).
            (
                ControlMessage::SetPeerBandwidth {
                    size: 2_500_000,
                    limit_type: LIMIT_DYNAMIC,
                },
                vec![0x00, 0x26, 0x25, 0xA0, 0x02],
            ),
            // §5.4.5 hard limit.
            (
                ControlMessage::SetPeerBandwidth {
                    size: 5_000_000,
                    limit_type: LIMIT_HARD,
                },
                vec![0x00, 0x4C, 0x4B, 0x40, 0x00],
            ),
            // §7.1.7 Stream Begin, stream 1: event 0x0000, stream id 1.
            (
                ControlMessage::UserControl(UserControl::StreamBegin(1)),
                vec![0x00, 0x00, 0x00, 0x00, 0x00, 0x01],
            ),
            // Stream EOF (event 1), stream 1.
            (
                ControlMessage::UserControl(UserControl::StreamEof(1)),
                vec![0x00, 0x01, 0x00, 0x00, 0x00, 0x01],
            ),
            // Stream Dry (event 2), stream 1.
            (
                ControlMessage::UserControl(UserControl::StreamDry(1)),
                vec![0x00, 0x02, 0x00, 0x00, 0x00, 0x01],
            ),
            // Set Buffer Length (event 3), stream 1, 3000 ms = 0x0BB8.
            (
                ControlMessage::UserControl(UserControl::SetBufferLength {
                    stream_id: 1,
                    ms: 3000,
                }),
                vec![0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x0B, 0xB8],
            ),
            // Stream Is Recorded (event 4), stream 1.
            (
                ControlMessage::UserControl(UserControl::StreamIsRecorded(1)),
                vec![0x00, 0x04, 0x00, 0x00, 0x00, 0x01],
            ),
            // Ping Request (event 6), timestamp 0x0D0F (librtmp's ping as quoted by SRS).
            (
                ControlMessage::UserControl(UserControl::PingRequest(0x0D0F)),
                vec![0x00, 0x06, 0x00, 0x00, 0x0D, 0x0F],
            ),
            // Ping Response (event 7) echoes the timestamp.
            (
                ControlMessage::UserControl(UserControl::PingResponse(0x0D0F)),
                vec![0x00, 0x07, 0x00, 0x00, 0x0D, 0x0F],
            ),
        ]
    }

    #[test]
    fn control_messages_match_golden_bytes() {
        for (msg, bytes) in golden() {
            assert_eq!(encoded(&msg), bytes, "encode {msg:?}");
            assert_eq!(
                ControlMessage::decode(msg.type_id(), &bytes),
                Ok(Some(msg)),
                "decode {bytes:02x?}"
            );
        }
    }

    #[test]
    fn every_truncation_of_a_golden_payload_is_an_error() {
        for (msg, bytes) in golden() {
            for cut in 0..bytes.len() {
                let got = ControlMessage::decode(msg.type_id(), &bytes[..cut]);
                // The one tolerated truncation: Set Peer Bandwidth without its limit type.
                if matches!(msg, ControlMessage::SetPeerBandwidth { .. }) && cut == 4 {
                    assert!(matches!(
                        got,
                        Ok(Some(ControlMessage::SetPeerBandwidth {
                            limit_type: LIMIT_DYNAMIC,
                            ..
                        }))
                    ));
                    continue;
                }
                assert!(got.is_err(), "{msg:?} cut at {cut}: {got:?}");
            }
        }
    }

    #[test]
    fn short_payload_errors_carry_context() {
        assert_eq!(
            ControlMessage::decode(MessageType::SetChunkSize, &[0, 0, 1]),
            Err(MessageError::ShortPayload {
                type_id: MessageType::SetChunkSize,
                len: 3,
                need: 4
            })
        );
        assert_eq!(
            ControlMessage::decode(MessageType::UserControl, &[0]),
            Err(MessageError::ShortPayload {
                type_id: MessageType::UserControl,
                len: 1,
                need: 2
            })
        );
        // Set Buffer Length with only the stream id.
        assert_eq!(
            ControlMessage::decode(MessageType::UserControl, &[0, 3, 0, 0, 0, 1]),
            Err(MessageError::ShortEvent {
                event: 3,
                len: 6,
                need: 10
            })
        );
        let text = MessageError::ShortEvent {
            event: 3,
            len: 6,
            need: 10,
        }
        .to_string();
        assert!(text.contains("event 3"), "{text}");
    }

    #[test]
    fn non_control_types_are_none() {
        for t in [
            MessageType::Audio,
            MessageType::Video,
            MessageType::CommandAmf0,
            MessageType::DataAmf0,
            MessageType::Aggregate,
            MessageType::Unknown(7),
        ] {
            assert_eq!(ControlMessage::decode(t, &[0; 8]), Ok(None), "{t:?}");
            assert!(!t.is_control());
        }
    }

    #[test]
    fn unknown_user_control_event_keeps_its_number() {
        // FMS buffer empty (31 = 0x1F) with a stream id.
        let got = ControlMessage::decode(MessageType::UserControl, &[0x00, 0x1F, 0, 0, 0, 1]);
        assert_eq!(
            got,
            Ok(Some(ControlMessage::UserControl(UserControl::Unknown {
                event: 31
            })))
        );
        let msg = ControlMessage::UserControl(UserControl::Unknown { event: 31 });
        assert_eq!(encoded(&msg), vec![0x00, 0x1F]);
    }

    #[test]
    fn trailing_bytes_are_ignored() {
        assert_eq!(
            ControlMessage::decode(MessageType::WindowAckSize, &[0, 0, 0x10, 0, 0xFF]),
            Ok(Some(ControlMessage::WindowAckSize(4096)))
        );
    }

    #[test]
    fn message_type_numbers_round_trip() {
        let known = [
            (1, MessageType::SetChunkSize),
            (2, MessageType::Abort),
            (3, MessageType::Acknowledgement),
            (4, MessageType::UserControl),
            (5, MessageType::WindowAckSize),
            (6, MessageType::SetPeerBandwidth),
            (8, MessageType::Audio),
            (9, MessageType::Video),
            (15, MessageType::DataAmf3),
            (16, MessageType::SharedObjectAmf3),
            (17, MessageType::CommandAmf3),
            (18, MessageType::DataAmf0),
            (19, MessageType::SharedObjectAmf0),
            (20, MessageType::CommandAmf0),
            (22, MessageType::Aggregate),
        ];
        for (n, t) in known {
            assert_eq!(MessageType::from_u8(n), t);
            assert_eq!(t.to_u8(), n);
            assert_eq!(t.is_control(), n <= 6);
        }
        for n in 0..=u8::MAX {
            assert_eq!(MessageType::from_u8(n).to_u8(), n);
            if !known.iter().any(|(k, _)| *k == n) {
                assert_eq!(MessageType::from_u8(n), MessageType::Unknown(n));
            }
        }
    }

    #[test]
    fn control_header_is_csid_2_stream_0() {
        let h = ControlMessage::SetChunkSize(4096).header(7);
        assert_eq!(
            h,
            MessageHeader {
                csid: 2,
                timestamp: 7,
                type_id: MessageType::SetChunkSize,
                stream_id: 0
            }
        );
    }

    #[test]
    fn decode_never_panics_on_short_inputs() {
        for t in 0..=u8::MAX {
            let t = MessageType::from_u8(t);
            for len in 0..12 {
                for fill in [0x00, 0x03, 0xFF] {
                    let payload = vec![fill; len];
                    if let Ok(Some(msg)) = ControlMessage::decode(t, &payload) {
                        assert_eq!(msg.type_id(), t);
                    }
                }
            }
        }
    }
}
