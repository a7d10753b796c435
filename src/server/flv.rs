//! HTTP-FLV output: the FLV file header for a new player and, per frame, the FLV framing
//! around the frame's payload (tag header before, PreviousTagSize after), itself framed as one
//! HTTP/1.1 chunk (its size line before, CRLF after). The framing is built once per frame and
//! shared by every FLV player, chunked or not (HTTP/1.0); the payload is the frame's own
//! `Bytes`, never copied. A player's batch is then three shared `Bytes` per frame and nothing
//! of its own.

use bytes::{Buf, Bytes, BytesMut};

use crate::live::Source;
use crate::media::{Encoding, Frame, FrameKind};
use crate::wire::flv::{self, TagType, FILE_HEADER_LEN, PREV_TAG_SIZE_LEN, TAG_HEADER_LEN};
use crate::wire::http::{chunk_size_line, CRLF};

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

/// The bytes around one frame's payload, for a player with or without chunked transfer
/// coding. Layout of the shared buffer: chunk size line, tag header, PreviousTagSize, CRLF.
pub struct Framing {
    bytes: Bytes,
    /// Length of the chunk size line at the front.
    line: usize,
}

impl Framing {
    /// What goes before the payload: the tag header, after the chunk's size line if `chunked`.
    pub fn head(&self, chunked: bool) -> Bytes {
        let start = if chunked { 0 } else { self.line };
        self.bytes.slice(start..self.line + TAG_HEADER_LEN)
    }

    /// What goes after the payload: PreviousTagSize, then the chunk's CRLF if `chunked`.
    pub fn tail(&self, chunked: bool) -> Bytes {
        let end = self.bytes.len() - if chunked { 0 } else { CRLF.len() };
        self.bytes.slice(self.line + TAG_HEADER_LEN..end)
    }

    /// [`Framing::head`] and [`Framing::tail`], the tail being the shared buffer itself cut
    /// down: one reference to it fewer per player and frame.
    pub fn into_parts(self, chunked: bool) -> (Bytes, Bytes) {
        let head = self.head(chunked);
        let end = self.bytes.len() - if chunked { 0 } else { CRLF.len() };
        let mut tail = self.bytes;
        tail.truncate(end);
        tail.advance(self.line + TAG_HEADER_LEN);
        (head, tail)
    }
}

/// The framing of `frame`, built on first use and shared by all FLV players. FLV bodies are
/// limited to 24 bits; frames are far below that (the RTMP message cap is 4 MiB).
pub fn framing(frame: &Frame) -> Framing {
    let tag_len = TAG_HEADER_LEN + frame.data.len() + PREV_TAG_SIZE_LEN;
    let line = chunk_size_line(tag_len);
    let bytes = frame.encoded(Encoding::FlvFraming, |f| {
        let tag_type = match f.kind {
            FrameKind::Audio => TagType::Audio,
            FrameKind::Video => TagType::Video,
            FrameKind::Metadata => TagType::Script,
        };
        let len = f.data.len() as u32;
        let line = line.as_ref();
        let mut out =
            BytesMut::with_capacity(line.len() + TAG_HEADER_LEN + PREV_TAG_SIZE_LEN + CRLF.len());
        out.extend_from_slice(line);
        flv::encode_tag_header(tag_type, f.timestamp32(), len, &mut out);
        flv::encode_prev_tag_size(len, &mut out);
        out.extend_from_slice(CRLF);
        out.freeze()
    });
    Framing {
        bytes,
        line: line.as_ref().len(),
    }
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
        let (h1, t1) = (framing(&frame).head(false), framing(&frame).tail(false));
        let h2 = framing(&frame).head(true);
        assert_eq!(
            h1.as_ptr(),
            h2[h2.len() - TAG_HEADER_LEN..].as_ptr(),
            "built once"
        );
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

    /// Golden bytes: one AAC frame of 4 bytes as an HTTP/1.1 chunk (tag of 11 + 4 + 4 = 19 =
    /// 0x13 bytes) and, without chunking, the plain FLV tag.
    #[test]
    fn framing_golden_bytes_chunked_and_not() {
        use crate::media::AudioCodec;
        let frame = Frame::audio(
            AudioCodec::Aac,
            0x0102_0304,
            false,
            Bytes::from_static(&[0xAF, 1, 0x21, 0x10]),
            2,
        );
        let f = framing(&frame);
        let tag_header = [8, 0, 0, 4, 0x02, 0x03, 0x04, 0x01, 0, 0, 0];
        let prev_tag_size = [0, 0, 0, 15];
        assert_eq!(f.head(false)[..], tag_header);
        assert_eq!(f.tail(false)[..], prev_tag_size);
        assert_eq!(
            f.head(true)[..],
            [b"13\r\n".as_slice(), &tag_header].concat()[..]
        );
        assert_eq!(f.tail(true)[..], [0, 0, 0, 15, b'\r', b'\n']);
        for chunked in [false, true] {
            let (head, tail) = framing(&frame).into_parts(chunked);
            assert_eq!((head, tail), (f.head(chunked), f.tail(chunked)));
        }
    }
}
