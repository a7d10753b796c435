//! FLV: the stream reader, fed in random pieces, gives the same tags and error as when fed
//! at once; every tag re-encodes to bytes that read back as the same tag; audio and video
//! bodies are classified without panicking, with payload offsets inside the body; script
//! bodies go through AMF0.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tinysrs::wire::amf0;
use tinysrs::wire::flv::{self, FlvReader, Tag, TagType};

const MAX_TAG_LEN: u32 = 1 << 20;

fn read_all(pieces: &[&[u8]]) -> (Vec<Tag>, Option<flv::FlvError>, u64) {
    let mut reader = FlvReader::new(MAX_TAG_LEN);
    let mut input = BytesMut::new();
    let mut tags = Vec::new();
    for piece in pieces {
        input.extend_from_slice(piece);
        loop {
            match reader.decode(&mut input) {
                Ok(Some(tag)) => tags.push(tag),
                Ok(None) => break,
                Err(e) => return (tags, Some(e), reader.offset()),
            }
        }
    }
    (tags, None, reader.offset())
}

fuzz_target!(|data: &[u8]| {
    let (payload, pieces) = tinysrs_fuzz::split(data);
    let whole = read_all(&[payload]);
    let cut = read_all(&pieces);
    assert_eq!(whole, cut, "cut input reads differently");

    // A file header (any, from the real reader) followed by the re-encoded tags.
    let (tags, _, _) = whole;
    let mut file = BytesMut::new();
    flv::encode_file_header(true, true, &mut file);
    for tag in &tags {
        let before = file.len();
        tag.encode(&mut file);
        assert_eq!(file.len() - before, tag.encoded_len());
    }
    let (again, err, _) = read_all(&[&file]);
    assert_eq!(err, None);
    assert_eq!(again, tags, "re-encoded tags read back differently");

    for tag in &tags {
        match tag.tag_type {
            TagType::Video => {
                if let Ok(v) = flv::parse_video(&tag.body) {
                    assert!(v.payload_offset <= tag.body.len());
                }
            }
            TagType::Audio => {
                if let Ok(a) = flv::parse_audio(&tag.body) {
                    assert!(a.payload_offset <= tag.body.len());
                }
            }
            _ => {
                let _ = amf0::decode_all(&tag.body);
            }
        }
    }
    // Tag bodies also arrive alone, as RTMP message payloads.
    let _ = flv::parse_video(payload);
    let _ = flv::parse_audio(payload);
});
