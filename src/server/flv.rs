//! HTTP-FLV output: the FLV file header for a new player and, per frame, the 15 bytes of FLV
//! framing around the frame's payload (tag header before, PreviousTagSize after). The framing
//! is built once per frame and shared by every FLV player; the payload is the frame's own
//! `Bytes`, never copied.

use bytes::{Bytes, BytesMut};

use crate::live::Source;
use crate::media::{Encoding, Frame, FrameKind};
use crate::wire::flv::{self, TagType, FILE_HEADER_LEN, PREV_TAG_SIZE_LEN, TAG_HEADER_LEN};

/// The FLV file header (and PreviousTagSize0) for a player of `source`. The audio/video flags
/// are guessed like SRS does: from what the stream carries when the player arrives (sequence
/// headers or metadata); a stream not publishing yet is announced with both.
pub fn file_header(source: Option<&Source>) -> Bytes {
    let (audio, video) = match source {
        Some(s) if s.publisher().is_some() => {
            let audio = s.audio_header().is_some() || s.audio_codec().is_some();
            let video = s.video_header().is_some() || s.video_codec().is_some();
            if audio || video {
                (audio, video)
            } else {
                (true, true)
            }
        }
        _ => (true, true),
    };
    let mut out = BytesMut::with_capacity(FILE_HEADER_LEN + PREV_TAG_SIZE_LEN);
    flv::encode_file_header(audio, video, &mut out);
    out.freeze()
}

/// The tag header and trailer of `frame`, shared by all FLV players. FLV bodies are limited to
/// 24 bits; frames are far below that (the RTMP message cap is 4 MiB).
pub fn framing(frame: &Frame) -> (Bytes, Bytes) {
    let bytes = frame.encoded(Encoding::FlvFraming, |f| {
        let tag_type = match f.kind {
            FrameKind::Audio => TagType::Audio,
            FrameKind::Video => TagType::Video,
            FrameKind::Metadata => TagType::Script,
        };
        let len = f.data.len() as u32;
        let mut out = BytesMut::with_capacity(TAG_HEADER_LEN + PREV_TAG_SIZE_LEN);
        flv::encode_tag_header(tag_type, f.timestamp32(), len, &mut out);
        flv::encode_prev_tag_size(len, &mut out);
        out.freeze()
    });
    (bytes.slice(..TAG_HEADER_LEN), bytes.slice(TAG_HEADER_LEN..))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::VideoCodec;

    #[test]
    fn framing_round_trips_through_the_flv_reader_and_is_shared() {
        let frame = Frame::video(
            VideoCodec::Avc,
            0x0123_4567,
            0,
            true,
            false,
            Bytes::from_static(&[0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65]),
            5,
        );
        let (h1, t1) = framing(&frame);
        let (h2, _) = framing(&frame);
        assert_eq!(h1.as_ptr(), h2.as_ptr(), "built once");
        let mut file = BytesMut::new();
        file.extend_from_slice(&file_header(None));
        file.extend_from_slice(&h1);
        file.extend_from_slice(&frame.data);
        file.extend_from_slice(&t1);
        let mut reader = flv::FlvReader::new(1 << 20);
        let tag = reader.decode(&mut file).unwrap().unwrap();
        assert_eq!(tag.tag_type, TagType::Video);
        assert_eq!(tag.timestamp, 0x0123_4567);
        assert_eq!(tag.body, frame.data);
        assert!(file.is_empty());
    }
}
