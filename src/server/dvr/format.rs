//! Recording formats: what goes into a file, per frame, for one format. [`Format`] is the
//! interface of both, [`Flv`] here and fragmented MP4 (`super::mp4`).
//!
//! A format writes into a [`Batch`]: the bytes gathered for the next write of the file.
//! Frame payloads are the frames' own `Bytes`, referenced, not copied, unless they are small
//! (audio), which are copied beside the tag headers so that a write is a few large slices.
//! The recorder sends a batch to the disk thread once it holds [`WRITE_BYTES`].

use bytes::{Bytes, BytesMut};

use crate::config::DvrFormat;
use crate::media::{Frame, FrameKind, SharedFrame};
use crate::wire::amf0::{self, Value};
use crate::wire::flv::{self, TagType, PREV_TAG_SIZE_LEN, TAG_HEADER_LEN};

/// Bytes gathered before one write: flash wears per write, and a syscall per frame costs CPU.
/// A 2 Mbit/s stream fills it 4 times a second.
pub const WRITE_BYTES: usize = 64 * 1024;

/// Payloads shorter than this are copied into the batch with their tag headers; longer ones
/// are referenced. Keeps a write's slices few (a 64 KiB batch holds at most 64 referenced
/// payloads and as many copied runs: far under IOV_MAX) and copies only audio-sized frames.
pub const COPY_BELOW: usize = 1024;

/// Bytes a format adds to a frame's payload, at most (FLV: the tag header and
/// PreviousTagSize), for the queue's accounting.
pub const TAG_OVERHEAD: usize = TAG_HEADER_LEN + PREV_TAG_SIZE_LEN;

/// What a format needs to start a file: the stream's latest metadata and sequence headers.
#[derive(Debug, Default, Clone)]
pub struct Headers {
    pub metadata: Option<SharedFrame>,
    pub video: Option<SharedFrame>,
    pub audio: Option<SharedFrame>,
}

/// Bytes to write over what was written, when a file closes (the duration and size in the
/// FLV metadata).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patch {
    pub offset: u64,
    pub bytes: [u8; 8],
}

/// The bytes of the next write of one file, and where in the file they go.
#[derive(Debug)]
pub struct Batch {
    /// The file offset of the first byte.
    base: u64,
    chunks: Vec<Bytes>,
    /// Copied pieces not yet frozen into `chunks`.
    run: BytesMut,
    len: usize,
}

impl Batch {
    /// An empty batch at the start of a file.
    pub fn new() -> Batch {
        Batch {
            base: 0,
            chunks: Vec::new(),
            run: BytesMut::new(),
            len: 0,
        }
    }

    /// Bytes gathered.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The file offset of the next byte put.
    pub fn offset(&self) -> u64 {
        self.base + self.len as u64
    }

    /// Copies `bytes`.
    pub fn put(&mut self, bytes: &[u8]) {
        if self.run.capacity() - self.run.len() < bytes.len() {
            self.run.reserve(bytes.len().max(4096));
        }
        self.run.extend_from_slice(bytes);
        self.len += bytes.len();
    }

    /// References `bytes`, or copies them when shorter than [`COPY_BELOW`].
    pub fn put_shared(&mut self, bytes: &Bytes) {
        if bytes.len() < COPY_BELOW {
            self.put(bytes);
            return;
        }
        self.seal_run();
        self.chunks.push(bytes.clone());
        self.len += bytes.len();
    }

    fn seal_run(&mut self) {
        if !self.run.is_empty() {
            self.chunks.push(self.run.split().freeze());
        }
    }

    /// The gathered slices and their length; the batch goes on after them, empty.
    pub fn take(&mut self) -> (Vec<Bytes>, usize) {
        self.seal_run();
        let len = std::mem::take(&mut self.len);
        self.base += len as u64;
        (std::mem::take(&mut self.chunks), len)
    }
}

impl Default for Batch {
    fn default() -> Self {
        Batch::new()
    }
}

/// One file being written in some format. Timestamps are the file's (ms from its start with
/// `time_jitter` full or zero).
pub trait Format: std::fmt::Debug {
    /// Starts the file: its header, the metadata and the sequence headers, at `ts` (the
    /// time of its first frame: 0 unless `time_jitter` is off).
    fn begin(&mut self, headers: &Headers, ts: u32, out: &mut Batch);
    /// Writes one frame (metadata, sequence header or media) at `ts`.
    fn frame(&mut self, frame: &Frame, ts: u32, out: &mut Batch);
    /// Ends the file: its last bytes go into `out`; the patches are applied once they are
    /// written. `duration_ms` and `len` (after `out`) describe the whole file.
    fn finish(&mut self, duration_ms: u32, out: &mut Batch) -> Vec<Patch>;
    /// Whether a unit that should reach the disk as soon as it can (an MP4 fragment) went
    /// into the batch since the last call: the batch is written then, however short.
    fn ready(&mut self) -> bool {
        false
    }
}

/// A new file of `format`, named `name` in log lines; MP4 fragments last `fragment_ms` at
/// most.
pub fn new_file(format: DvrFormat, name: String, fragment_ms: u32) -> Box<dyn Format> {
    match format {
        DvrFormat::Flv => Box::new(Flv::default()),
        DvrFormat::Mp4 => Box::new(super::mp4::Mp4::new(name, fragment_ms)),
    }
}

/// FLV recordings, as SRS writes them (`SrsDvrFlvSegmenter`): the file header (audio and video
/// flags both set), the publisher's `onMetaData` once per file with `duration` and `filesize`
/// moved to its end and set to 0, SRS's `service` added, then every tag as received. At close
/// the two numbers are written over with the file's duration (s) and size (bytes), so players
/// and `ffprobe` see them; a file cut short keeps zeros there and `ffprobe` takes the duration
/// from its last tag.
#[derive(Debug, Default)]
pub struct Flv {
    /// Offsets of the `filesize` and `duration` numbers, once the metadata is written.
    numbers: Option<(u64, u64)>,
}

/// The value of the `service` property SRS adds.
pub const SERVICE: &str = concat!("tinysrs/", env!("CARGO_PKG_VERSION"));

impl Flv {
    fn tag(&mut self, tag_type: TagType, ts: u32, body: &Bytes, out: &mut Batch) {
        let len = body.len() as u32;
        let mut head = [0u8; TAG_HEADER_LEN];
        flv::encode_tag_header(tag_type, ts, len, &mut &mut head[..]);
        out.put(&head);
        out.put_shared(body);
        let mut prev = [0u8; PREV_TAG_SIZE_LEN];
        flv::encode_prev_tag_size(len, &mut &mut prev[..]);
        out.put(&prev);
    }

    fn metadata(&mut self, body: &Bytes, ts: u32, out: &mut Batch) {
        if self.numbers.is_some() {
            return;
        }
        match file_metadata(body) {
            Some((rewritten, filesize_at, duration_at)) => {
                let body_at = out.offset() + TAG_HEADER_LEN as u64;
                self.tag(TagType::Script, ts, &rewritten, out);
                self.numbers = Some((body_at + filesize_at as u64, body_at + duration_at as u64));
            }
            // Not `[name, {...}]`: kept as sent, without the numbers.
            None => {
                self.tag(TagType::Script, ts, body, out);
                self.numbers = Some((0, 0));
            }
        }
    }
}

impl Format for Flv {
    fn begin(&mut self, headers: &Headers, ts: u32, out: &mut Batch) {
        let mut head = [0u8; flv::FILE_HEADER_LEN + PREV_TAG_SIZE_LEN];
        flv::encode_file_header(true, true, &mut &mut head[..]);
        out.put(&head);
        if let Some(m) = &headers.metadata {
            self.metadata(&m.data, ts, out);
        }
        for h in [&headers.video, &headers.audio].into_iter().flatten() {
            self.frame(h, ts, out);
        }
    }

    fn frame(&mut self, frame: &Frame, ts: u32, out: &mut Batch) {
        let tag_type = match frame.kind {
            FrameKind::Audio => TagType::Audio,
            FrameKind::Video => TagType::Video,
            FrameKind::Metadata => return self.metadata(&frame.data, ts, out),
        };
        self.tag(tag_type, ts, &frame.data, out);
    }

    fn finish(&mut self, duration_ms: u32, out: &mut Batch) -> Vec<Patch> {
        let len = out.offset();
        match self.numbers {
            Some((filesize_at, duration_at)) if filesize_at > 0 => vec![
                Patch {
                    offset: filesize_at,
                    bytes: (len as f64).to_be_bytes(),
                },
                Patch {
                    offset: duration_at,
                    bytes: (f64::from(duration_ms) / 1000.0).to_be_bytes(),
                },
            ],
            _ => Vec::new(),
        }
    }
}

/// Bytes from the end of an AMF0 object to the value of its last property when that is a
/// number: the object end (`00 00 09`) and the 8 bytes of the number.
const LAST_NUMBER_FROM_END: usize = 3 + 8;
/// From the end back to the value of the number property before the last one, `duration`
/// (name: 2 + 8 bytes, marker 1 byte) being the last.
const SECOND_LAST_NUMBER_FROM_END: usize = LAST_NUMBER_FROM_END + 1 + 2 + 8 + 8;

/// The publisher's `["onMetaData", {...}]` as a recording carries it (SRS:
/// `SrsDvrFlvSegmenter::encode_metadata`): `duration` and `filesize` removed, `service` added,
/// then `filesize` and `duration` last, both 0; with the offsets of those two numbers in the
/// body. `None` when the body is not a name and an object or ECMA array.
pub fn file_metadata(body: &[u8]) -> Option<(Bytes, usize, usize)> {
    let values = amf0::decode_all(body).ok()?;
    let (name, props, ecma) = match values.as_slice() {
        [Value::String(name), Value::EcmaArray(p), ..] => (name, p, true),
        [Value::String(name), Value::Object(p), ..] => (name, p, false),
        _ => return None,
    };
    let mut props: Vec<(String, Value)> = props
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "duration" | "filesize" | "service"))
        .cloned()
        .collect();
    props.push(("service".into(), Value::String(SERVICE.into())));
    props.push(("filesize".into(), Value::Number(0.0)));
    props.push(("duration".into(), Value::Number(0.0)));
    let object = if ecma {
        Value::EcmaArray(props)
    } else {
        Value::Object(props)
    };
    let name = Value::String(name.clone());
    let mut out = BytesMut::with_capacity(name.encoded_len() + object.encoded_len());
    name.encode(&mut out);
    object.encode(&mut out);
    let len = out.len();
    Some((
        out.freeze(),
        len - SECOND_LAST_NUMBER_FROM_END,
        len - LAST_NUMBER_FROM_END,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::{AudioCodec, VideoCodec};
    use crate::wire::flv::FlvReader;
    use std::rc::Rc;

    fn metadata_body() -> Bytes {
        let mut out = BytesMut::new();
        amf0::encode_all(
            &[
                Value::from("onMetaData"),
                Value::ecma_array([
                    ("duration", Value::Number(20.0)),
                    ("width", Value::Number(320.0)),
                    ("filesize", Value::Number(0.0)),
                    ("encoder", Value::from("Lavf59.27.100")),
                ]),
            ],
            &mut out,
        );
        out.freeze()
    }

    #[test]
    fn metadata_gets_srs_service_and_zero_numbers_at_known_offsets() {
        let (body, filesize_at, duration_at) = file_metadata(&metadata_body()).unwrap();
        let values = amf0::decode_all(&body).unwrap();
        let props = values[1].properties().unwrap();
        let keys: Vec<&str> = props.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            ["width", "encoder", "service", "filesize", "duration"]
        );
        assert_eq!(body[filesize_at - 1], 0, "a number marker");
        assert_eq!(&body[filesize_at - 9..filesize_at - 1], b"filesize");
        assert_eq!(&body[duration_at - 9..duration_at - 1], b"duration");
        assert_eq!(body[duration_at..duration_at + 8], 0f64.to_be_bytes());
        assert!(file_metadata(b"\x02\x00\x01x").is_none(), "no object");
        assert!(file_metadata(b"garbage").is_none());
    }

    fn video(dts: i64, key: bool, len: usize) -> SharedFrame {
        let mut body = vec![if key { 0x17 } else { 0x27 }, 1, 0, 0, 0];
        body.resize(len, 0x55);
        Rc::new(Frame::video(
            VideoCodec::Avc,
            dts,
            0,
            key,
            false,
            body.into(),
            5,
        ))
    }

    /// A whole file through the format and a batch, read back by the FLV reader, with the
    /// numbers patched.
    #[test]
    fn a_file_reads_back_with_its_duration_and_size() {
        let headers = Headers {
            metadata: Some(Rc::new(Frame::metadata(0, metadata_body()))),
            video: Some(Rc::new(Frame::video(
                VideoCodec::Avc,
                0,
                0,
                true,
                true,
                Bytes::from_static(&[0x17, 0, 0, 0, 0, 1, 0x64]),
                5,
            ))),
            audio: Some(Rc::new(Frame::audio(
                AudioCodec::Aac,
                0,
                true,
                Bytes::from_static(&[0xaf, 0, 0x12, 0x10]),
                2,
            ))),
        };
        let mut f = Flv::default();
        let mut batch = Batch::new();
        let mut file = Vec::new();
        f.begin(&headers, 0, &mut batch);
        let big = video(0, true, 5000);
        f.frame(&big, 0, &mut batch);
        // A second metadata is not written.
        f.frame(&Frame::metadata(10, metadata_body()), 10, &mut batch);
        f.frame(&video(40, false, 300), 40, &mut batch);
        let (chunks, len) = batch.take();
        assert!(
            chunks.iter().any(|c| c.as_ptr() == big.data.as_ptr()),
            "a large payload is referenced"
        );
        assert_eq!(chunks.iter().map(Bytes::len).sum::<usize>(), len);
        chunks.iter().for_each(|c| file.extend_from_slice(c));
        f.frame(&video(1040, false, 300), 1040, &mut batch);
        let patches = f.finish(1040, &mut batch);
        assert_eq!(batch.offset(), file.len() as u64 + batch.len() as u64);
        let total = batch.offset();
        let (chunks, _) = batch.take();
        chunks.iter().for_each(|c| file.extend_from_slice(c));
        assert_eq!(file.len() as u64, total);
        for p in &patches {
            file[p.offset as usize..p.offset as usize + 8].copy_from_slice(&p.bytes);
        }
        let mut reader = FlvReader::new(1 << 20);
        let mut buf = BytesMut::from(&file[..]);
        let mut tags = Vec::new();
        while let Some(t) = reader.decode(&mut buf).unwrap() {
            tags.push(t);
        }
        let kinds: Vec<(TagType, u32)> = tags.iter().map(|t| (t.tag_type, t.timestamp)).collect();
        assert_eq!(
            kinds,
            [
                (TagType::Script, 0),
                (TagType::Video, 0),
                (TagType::Audio, 0),
                (TagType::Video, 0),
                (TagType::Video, 40),
                (TagType::Video, 1040)
            ]
        );
        let meta = amf0::decode_all(&tags[0].body).unwrap();
        assert_eq!(meta[1].get("duration"), Some(&Value::Number(1.04)));
        assert_eq!(meta[1].get("filesize"), Some(&Value::Number(total as f64)));
        assert_eq!(
            crate::wire::flv::scan::complete_len(&file),
            file.len() as u64
        );
    }
}
