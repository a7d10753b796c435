//! Box layouts (sizes, offsets, trun flags) against hand-computed goldens, the muxer's
//! errors, and the repair scanner on a case table and on a real file cut at every byte.

use bytes::{Bytes, BytesMut};

use super::*;
use crate::testutil::XorShift;
use crate::wire::codec::CodecError;
use crate::wire::flv::{self, FlvReader, TagType};

/// Debian ffmpeg 5.1: `-f lavfi -i testsrc=size=64x48:rate=10 -f lavfi -i sine -t 1
/// -c:v libx264 -c:a aac -f flv`: H.264 High with B-frames (negative-free CTS up to 400 ms),
/// AAC-LC 44.1 kHz mono.
const CAPTURE: &[u8] = include_bytes!("../../../tests/data/ffmpeg-5.1-h264-aac-1s.flv");

/// `ffmpeg -f lavfi -i testsrc=size=320x240:rate=25 -c:v libx265 -x265-params info=0
/// -tag:v hvc1 x.mp4`: the hvcC body (x265 3.5, Rext 4:4:4, the testsrc's pixel format).
const HVCC_X265_444_320X240: &[u8] = &[
    0x01, 0x04, 0x08, 0x00, 0x00, 0x00, 0x9e, 0x08, 0x00, 0x00, 0x00, 0x00, 0x3c, 0xf0, 0x00, 0xfc,
    0xff, 0xf8, 0xf8, 0x00, 0x00, 0x0f, 0x03, 0xa0, 0x00, 0x01, 0x00, 0x17, 0x40, 0x01, 0x0c, 0x01,
    0xff, 0xff, 0x04, 0x08, 0x00, 0x00, 0x03, 0x00, 0x9e, 0x08, 0x00, 0x00, 0x03, 0x00, 0x00, 0x3c,
    0x95, 0x98, 0x09, 0xa1, 0x00, 0x01, 0x00, 0x2b, 0x42, 0x01, 0x01, 0x04, 0x08, 0x00, 0x00, 0x03,
    0x00, 0x9e, 0x08, 0x00, 0x00, 0x03, 0x00, 0x00, 0x3c, 0x90, 0x01, 0x41, 0x01, 0xe2, 0xcb, 0x2b,
    0x34, 0x92, 0x65, 0x78, 0x0b, 0x70, 0x20, 0x20, 0x00, 0x40, 0x00, 0x00, 0x03, 0x00, 0x40, 0x00,
    0x00, 0x06, 0x42, 0xa2, 0x00, 0x01, 0x00, 0x08, 0x44, 0x01, 0xc1, 0x72, 0x86, 0x0c, 0x46, 0x24,
];
/// libsvtav1 at 320x240: the av1C body (Matroska CodecPrivate).
const AV1C_SVT_320X240: &[u8] = &[
    0x81, 0x00, 0x0c, 0x00, 0x0a, 0x0b, 0x00, 0x00, 0x00, 0x04, 0x3c, 0xff, 0xbc, 0x02, 0xf8, 0x00,
    0x40,
];
/// libopus, 48 kHz stereo: OpusHead, pre-skip 312.
const OPUS_HEAD_STEREO: &[u8] = &[
    0x4f, 0x70, 0x75, 0x73, 0x48, 0x65, 0x61, 0x64, 0x01, 0x02, 0x38, 0x01, 0x80, 0xbb, 0x00, 0x00,
    0x00, 0x00, 0x00,
];
/// libmp3lame, 44.1 kHz mono: the first frame's header.
const MP3_FRAME_44100: &[u8] = &[0xff, 0xfb, 0x50, 0xc4, 0x00, 0x00];
const MP3_FRAME_22050: &[u8] = &[0xff, 0xf3, 0x40, 0xc4, 0x00, 0x00];
/// AAC-LC 44.1 kHz stereo AudioSpecificConfig.
const ASC_LC_44100_STEREO: &[u8] = &[0x12, 0x10];

/// The capture's configurations and frames: video samples with times in ms (= ticks), audio
/// samples in 44.1 kHz ticks.
struct Capture {
    avc: Bytes,
    asc: Bytes,
    video: Vec<Sample>,
    audio: Vec<Sample>,
}

fn capture() -> Capture {
    let mut reader = FlvReader::new(1 << 20);
    let mut input = BytesMut::from(CAPTURE);
    let (mut avc, mut asc) = (Bytes::new(), Bytes::new());
    let (mut video, mut audio) = (Vec::new(), Vec::new());
    while let Some(tag) = reader.decode(&mut input).unwrap() {
        match tag.tag_type {
            TagType::Video => {
                let v = flv::parse_video(&tag.body).unwrap();
                let payload = tag.body.slice(v.payload_offset..);
                if v.sequence_header {
                    avc = payload;
                } else if !v.end_of_sequence {
                    video.push(Sample {
                        dts: u64::from(tag.timestamp),
                        cts: v.composition_time,
                        keyframe: v.keyframe,
                        data: payload,
                    });
                }
            }
            TagType::Audio => {
                let a = flv::parse_audio(&tag.body).unwrap();
                let payload = tag.body.slice(a.payload_offset..);
                if a.sequence_header {
                    asc = payload;
                } else {
                    audio.push(Sample {
                        dts: u64::from(tag.timestamp) * 44_100 / 1000,
                        cts: 0,
                        keyframe: true,
                        data: payload,
                    });
                }
            }
            _ => {}
        }
    }
    Capture {
        avc,
        asc,
        video,
        audio,
    }
}

fn capture_init(c: &Capture) -> InitSegment {
    let video = Track::video(VideoCodec::Avc, c.avc.clone()).unwrap();
    let audio = Track::audio(AudioCodec::Aac, c.asc.clone()).unwrap();
    InitSegment::new([video, audio]).unwrap()
}

fn encode_init(init: &InitSegment) -> Vec<u8> {
    let mut out = Vec::new();
    init.encode(&mut out);
    assert_eq!(out.len(), init.encoded_len());
    out
}

fn encode_fragment(fragment: &Fragment<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    fragment.encode(&mut out);
    assert_eq!(out.len(), fragment.encoded_len());
    let mut all = Vec::new();
    fragment.encode_with_data(&mut all);
    assert_eq!(all.len() as u64, fragment.len());
    all
}

/// Bytes before the children of a container box: the header, plus the FullBox fields and
/// entry count of `stsd`/`dref`, or the fields of a sample entry.
fn children_at(kind: &[u8; 4]) -> Option<usize> {
    match kind {
        b"moov" | b"trak" | b"mdia" | b"minf" | b"dinf" | b"stbl" | b"mvex" | b"moof" | b"traf" => {
            Some(8)
        }
        b"stsd" | b"dref" => Some(16),
        b"avc1" | b"hvc1" | b"av01" => Some(86),
        b"mp4a" | b"Opus" => Some(36),
        _ => None,
    }
}

/// Every box as ("moov/trak/tkhd", size), walking containers and requiring each one's
/// children to fill it exactly.
fn walk(buf: &[u8], prefix: &str, out: &mut Vec<(String, usize)>) {
    let mut at = 0;
    while at < buf.len() {
        let size = u32::from_be_bytes(buf[at..at + 4].try_into().unwrap()) as usize;
        let kind: [u8; 4] = buf[at + 4..at + 8].try_into().unwrap();
        assert!(size >= 8 && at + size <= buf.len(), "box {kind:?} at {at}");
        let path = format!("{prefix}{}", String::from_utf8_lossy(&kind));
        out.push((path.clone(), size));
        if let Some(skip) = children_at(&kind) {
            walk(&buf[at + skip..at + size], &format!("{path}/"), out);
        }
        at += size;
    }
}

fn boxes(buf: &[u8]) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    walk(buf, "", &mut out);
    out
}

#[test]
fn init_segment_layout_h264_aac() {
    let c = capture();
    let init = capture_init(&c);
    let bytes = encode_init(&init);
    let r = c.avc.len();
    // The ES_Descriptor of a 5-byte ASC: DecoderSpecificInfo 7, DecoderConfigDescriptor
    // 2 + 13 + 7, ES_Descriptor 2 + 3 + 22 + 3 (SLConfig), esds 12 + 30.
    assert_eq!(c.asc.len(), 5);
    let esds = 42;
    let stbl_tables = 16 + 16 + 20 + 16;
    let avc1 = 86 + 8 + r;
    let mp4a = 36 + esds;
    let vstbl = 8 + 16 + avc1 + stbl_tables;
    let astbl = 8 + 16 + mp4a + stbl_tables;
    let vminf = 8 + 20 + 36 + vstbl;
    let aminf = 8 + 16 + 36 + astbl;
    let vmdia = 8 + 32 + 46 + vminf;
    let amdia = 8 + 32 + 46 + aminf;
    let vtrak = 8 + 92 + vmdia;
    let atrak = 8 + 92 + amdia;
    let mvex = 8 + 2 * 32;
    let want: Vec<(String, usize)> = [
        ("ftyp", 32),
        ("moov", 8 + 108 + vtrak + atrak + mvex),
        ("moov/mvhd", 108),
        ("moov/trak", vtrak),
        ("moov/trak/tkhd", 92),
        ("moov/trak/mdia", vmdia),
        ("moov/trak/mdia/mdhd", 32),
        ("moov/trak/mdia/hdlr", 46),
        ("moov/trak/mdia/minf", vminf),
        ("moov/trak/mdia/minf/vmhd", 20),
        ("moov/trak/mdia/minf/dinf", 36),
        ("moov/trak/mdia/minf/dinf/dref", 28),
        ("moov/trak/mdia/minf/dinf/dref/url ", 12),
        ("moov/trak/mdia/minf/stbl", vstbl),
        ("moov/trak/mdia/minf/stbl/stsd", 16 + avc1),
        ("moov/trak/mdia/minf/stbl/stsd/avc1", avc1),
        ("moov/trak/mdia/minf/stbl/stsd/avc1/avcC", 8 + r),
        ("moov/trak/mdia/minf/stbl/stts", 16),
        ("moov/trak/mdia/minf/stbl/stsc", 16),
        ("moov/trak/mdia/minf/stbl/stsz", 20),
        ("moov/trak/mdia/minf/stbl/stco", 16),
        ("moov/trak", atrak),
        ("moov/trak/tkhd", 92),
        ("moov/trak/mdia", amdia),
        ("moov/trak/mdia/mdhd", 32),
        ("moov/trak/mdia/hdlr", 46),
        ("moov/trak/mdia/minf", aminf),
        ("moov/trak/mdia/minf/smhd", 16),
        ("moov/trak/mdia/minf/dinf", 36),
        ("moov/trak/mdia/minf/dinf/dref", 28),
        ("moov/trak/mdia/minf/dinf/dref/url ", 12),
        ("moov/trak/mdia/minf/stbl", astbl),
        ("moov/trak/mdia/minf/stbl/stsd", 16 + mp4a),
        ("moov/trak/mdia/minf/stbl/stsd/mp4a", mp4a),
        ("moov/trak/mdia/minf/stbl/stsd/mp4a/esds", esds),
        ("moov/trak/mdia/minf/stbl/stts", 16),
        ("moov/trak/mdia/minf/stbl/stsc", 16),
        ("moov/trak/mdia/minf/stbl/stsz", 20),
        ("moov/trak/mdia/minf/stbl/stco", 16),
        ("moov/mvex", mvex),
        ("moov/mvex/trex", 32),
        ("moov/mvex/trex", 32),
    ]
    .iter()
    .map(|(p, s)| (p.to_string(), *s))
    .collect();
    assert_eq!(boxes(&bytes), want);
    assert_eq!(bytes.len(), 32 + want[1].1);

    // ftyp: iso5, 0, isom iso5 iso6 mp41.
    assert_eq!(&bytes[..32], b"\0\0\0\x20ftypiso5\0\0\0\0isomiso5iso6mp41");
    let find = |kind: &[u8]| bytes.windows(4).position(|w| w == kind).unwrap() - 4;
    // tkhd of track 1: version 0, flags 3, track_ID 1, ..., width 64 and height 48 in 16.16.
    let tkhd = find(b"tkhd");
    assert_eq!(
        &bytes[tkhd + 8..tkhd + 20],
        [0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0]
    );
    assert_eq!(&bytes[tkhd + 20..tkhd + 24], [0, 0, 0, 1]);
    assert_eq!(&bytes[tkhd + 84..tkhd + 92], [0, 64, 0, 0, 0, 48, 0, 0]);
    // mdhd: timescale 1000 for video.
    let mdhd = find(b"mdhd");
    assert_eq!(&bytes[mdhd + 20..mdhd + 24], 1000u32.to_be_bytes());
    // avc1: width and height at 32 and 34 after the box start, then avcC with the record.
    let avc1 = find(b"avc1");
    assert_eq!(&bytes[avc1 + 32..avc1 + 36], [0, 64, 0, 48]);
    assert_eq!(&bytes[avc1 + 94..avc1 + 94 + r], &c.avc[..]);
    // trex: track 2 defaults to sync samples, track 1 to non-sync.
    let mvex_at = bytes.len() - mvex;
    assert_eq!(
        &bytes[mvex_at + 8 + 12..mvex_at + 8 + 32],
        [0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0]
    );
    assert_eq!(&bytes[mvex_at + 40 + 28..mvex_at + 40 + 32], [2, 0, 0, 0]);
}

#[test]
fn audio_sample_entries_golden() {
    let entry = |track: Track| {
        let init = InitSegment::new([track]).unwrap();
        let bytes = encode_init(&init);
        let at = bytes
            .windows(4)
            .position(|w| w == b"mp4a" || w == b"Opus")
            .unwrap()
            - 4;
        let size = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        bytes[at..at + size].to_vec()
    };
    let aac =
        entry(Track::audio(AudioCodec::Aac, Bytes::from_static(ASC_LC_44100_STEREO)).unwrap());
    let mut want = vec![0, 0, 0, 75, b'm', b'p', b'4', b'a', 0, 0, 0, 0, 0, 0, 0, 1];
    want.extend_from_slice(&[
        0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 16, 0, 0, 0, 0, 0xac, 0x44, 0, 0,
    ]);
    want.extend_from_slice(&[0, 0, 0, 39, b'e', b's', b'd', b's', 0, 0, 0, 0]);
    want.extend_from_slice(&[0x03, 25, 0, 0, 0]); // ES_Descriptor, ES_ID 0, flags 0
    want.extend_from_slice(&[0x04, 17, 0x40, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    want.extend_from_slice(&[0x05, 2, 0x12, 0x10]); // DecoderSpecificInfo: the ASC
    want.extend_from_slice(&[0x06, 1, 2]); // SLConfigDescriptor predefined 2
    assert_eq!(aac, want);

    let mp3 = entry(Track::audio(AudioCodec::Mp3, Bytes::from_static(MP3_FRAME_44100)).unwrap());
    let mut want = vec![0, 0, 0, 71, b'm', b'p', b'4', b'a', 0, 0, 0, 0, 0, 0, 0, 1];
    want.extend_from_slice(&[
        0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 16, 0, 0, 0, 0, 0xac, 0x44, 0, 0,
    ]);
    want.extend_from_slice(&[0, 0, 0, 35, b'e', b's', b'd', b's', 0, 0, 0, 0]);
    want.extend_from_slice(&[0x03, 21, 0, 0, 0]);
    want.extend_from_slice(&[0x04, 13, 0x6b, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    want.extend_from_slice(&[0x06, 1, 2]);
    assert_eq!(mp3, want);
    let mp3_lsf =
        entry(Track::audio(AudioCodec::Mp3, Bytes::from_static(MP3_FRAME_22050)).unwrap());
    assert_eq!(mp3_lsf[36 + 12 + 5 + 2], 0x69, "MPEG-2 audio object type");
    assert_eq!(mp3_lsf[32..34], [0x56, 0x22], "22050 Hz");

    let opus = entry(Track::audio(AudioCodec::Opus, Bytes::from_static(OPUS_HEAD_STEREO)).unwrap());
    let mut want = vec![0, 0, 0, 55, b'O', b'p', b'u', b's', 0, 0, 0, 0, 0, 0, 0, 1];
    want.extend_from_slice(&[
        0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 16, 0, 0, 0, 0, 0xbb, 0x80, 0, 0,
    ]);
    // dOps: version 0, 2 channels, pre-skip 312, 48000 Hz, gain 0, family 0.
    want.extend_from_slice(&[0, 0, 0, 19, b'd', b'O', b'p', b's', 0, 2, 0x01, 0x38]);
    want.extend_from_slice(&[0, 0, 0xbb, 0x80, 0, 0, 0]);
    assert_eq!(opus, want);
}

#[test]
fn video_tracks_from_records() {
    let hevc = Track::video(VideoCodec::Hevc, Bytes::from_static(HVCC_X265_444_320X240)).unwrap();
    assert_eq!(hevc.picture_size(), Some((320, 240)));
    assert_eq!(hevc.sample_entry(), *b"hvc1");
    assert_eq!(hevc.timescale(), VIDEO_TIMESCALE);
    let av1 = Track::video(VideoCodec::Av1, Bytes::from_static(AV1C_SVT_320X240)).unwrap();
    assert_eq!(av1.picture_size(), Some((320, 240)));
    let init = InitSegment::new([av1, hevc]).unwrap();
    let bytes = encode_init(&init);
    let paths: Vec<String> = boxes(&bytes).into_iter().map(|(p, _)| p).collect();
    assert!(paths.contains(&"moov/trak/mdia/minf/stbl/stsd/av01/av1C".to_string()));
    assert!(paths.contains(&"moov/trak/mdia/minf/stbl/stsd/hvc1/hvcC".to_string()));
    // AV1-ISOBMFF §2.1: av01 among the compatible brands; §2.2.3: the compressorname.
    assert_eq!(
        &bytes[..36],
        b"\0\0\0\x24ftypiso5\0\0\0\0isomiso5iso6mp41av01"
    );
    // The sample entry's type (after the brand's), then 8 + 42 bytes to compressorname.
    let brand = bytes.windows(4).position(|w| w == b"av01").unwrap();
    let entry = bytes[brand + 4..]
        .windows(4)
        .position(|w| w == b"av01")
        .unwrap()
        + brand;
    assert_eq!(&bytes[entry + 50..entry + 61], b"\x0aAOM Coding");
}

#[test]
fn tracks_report_timescales_and_ticks() {
    let aac = Track::audio(AudioCodec::Aac, Bytes::from_static(ASC_LC_44100_STEREO)).unwrap();
    assert_eq!(aac.timescale(), 44_100);
    assert_eq!(aac.ticks(1000), 44_100);
    assert_eq!(aac.ticks(23), 1014);
    assert!(!aac.is_video());
    let opus = Track::audio(AudioCodec::Opus, Bytes::from_static(OPUS_HEAD_STEREO)).unwrap();
    assert_eq!(opus.timescale(), 48_000);
    assert_eq!(opus.ticks(20), 960);
    let he_aac = Track::audio(
        AudioCodec::Aac,
        Bytes::from_static(&[0x2b, 0x11, 0x88, 0x00]),
    );
    assert_eq!(he_aac.unwrap().timescale(), 48_000, "the rate after SBR");
    let c = capture();
    let video = Track::video(VideoCodec::Avc, c.avc).unwrap();
    assert_eq!(video.ticks(u64::MAX), u64::MAX);
    assert_eq!(video.ticks(40), 40);
}

#[test]
fn unsupported_and_bad_tracks() {
    let cfg = Bytes::from_static(&[0xd5; 8]);
    for codec in [AudioCodec::G711A, AudioCodec::G711U, AudioCodec::Other(11)] {
        assert_eq!(
            Track::audio(codec, cfg.clone()),
            Err(Mp4Error::UnsupportedAudio(codec))
        );
    }
    for codec in [VideoCodec::Vp9, VideoCodec::Other(2)] {
        assert_eq!(
            Track::video(codec, cfg.clone()),
            Err(Mp4Error::UnsupportedVideo(codec))
        );
    }
    assert!(matches!(
        Track::video(VideoCodec::Avc, cfg.clone()),
        Err(Mp4Error::Config { codec: "H.264", .. })
    ));
    assert!(matches!(
        Track::audio(AudioCodec::Opus, cfg.clone()),
        Err(Mp4Error::Config {
            codec: "Opus",
            error: CodecError::Truncated { .. }
        })
    ));
    let huge = Bytes::from(vec![0u8; MAX_CONFIG_LEN + 1]);
    assert_eq!(
        Track::video(VideoCodec::Hevc, huge),
        Err(Mp4Error::ConfigTooLong {
            codec: "H.265",
            len: MAX_CONFIG_LEN + 1,
            max: MAX_CONFIG_LEN
        })
    );
    let aac = Track::audio(AudioCodec::Aac, Bytes::from_static(ASC_LC_44100_STEREO)).unwrap();
    assert_eq!(
        InitSegment::new([]),
        Err(Mp4Error::TrackCount { count: 0, max: 2 })
    );
    assert_eq!(
        InitSegment::new([aac.clone(), aac.clone(), aac.clone()]),
        Err(Mp4Error::TrackCount { count: 3, max: 2 })
    );
    let init = InitSegment::new([aac.clone(), aac]).unwrap();
    let ids: Vec<u32> = init.tracks().iter().map(Track::id).collect();
    assert_eq!(ids, [1, 2]);
}

fn sample(dts: u64, cts: i32, keyframe: bool, data: &'static [u8]) -> Sample {
    Sample {
        dts,
        cts,
        keyframe,
        data: Bytes::from_static(data),
    }
}

/// Every byte of a two-track fragment, by hand from §8.8: the video trun has version 1
/// (one offset is negative) and flags 0xF01 (data offset, duration, size, flags, offset);
/// the audio trun version 0, flags 0x301; data offsets from the moof's first byte.
#[test]
fn fragment_golden_bytes() {
    let c = capture();
    let init = capture_init(&c);
    let video = [
        sample(0, 80, true, &[1, 2, 3]),
        sample(40, -40, false, &[4, 5]),
    ];
    let audio = [sample(0, 0, true, &[9])];
    let runs = [
        Run {
            track_id: 1,
            samples: &video,
            end_dts: Some(80),
        },
        Run {
            track_id: 2,
            samples: &audio,
            end_dts: None,
        },
    ];
    let fragment = Fragment::new(&init, 7, &runs).unwrap();
    let mut want: Vec<u8> = Vec::new();
    let mut put = |bytes: &[u8]| want.extend_from_slice(bytes);
    put(b"\0\0\0\xc0moof");
    put(b"\0\0\0\x10mfhd\0\0\0\0\0\0\0\x07");
    put(b"\0\0\0\x60traf");
    put(b"\0\0\0\x10tfhd\0\x02\0\0\0\0\0\x01");
    put(b"\0\0\0\x14tfdt\x01\0\0\0\0\0\0\0\0\0\0\0");
    put(b"\0\0\0\x34trun\x01\0\x0f\x01\0\0\0\x02\0\0\0\xc8");
    put(b"\0\0\0\x28\0\0\0\x03\x02\0\0\0\0\0\0\x50");
    put(b"\0\0\0\x28\0\0\0\x02\x01\x01\0\0\xff\xff\xff\xd8");
    put(b"\0\0\0\x48traf");
    put(b"\0\0\0\x10tfhd\0\x02\0\0\0\0\0\x02");
    put(b"\0\0\0\x14tfdt\x01\0\0\0\0\0\0\0\0\0\0\0");
    put(b"\0\0\0\x1ctrun\0\0\x03\x01\0\0\0\x01\0\0\0\xcd");
    put(b"\0\0\0\0\0\0\0\x01");
    put(b"\0\0\0\x0emdat");
    let mut header = Vec::new();
    fragment.encode(&mut header);
    assert_eq!(header, want);
    assert_eq!(fragment.encoded_len(), 200);
    assert_eq!(fragment.data_len(), 6);
    let chunks: Vec<&[u8]> = fragment.chunks().map(|b| &b[..]).collect();
    assert_eq!(chunks, [&[1, 2, 3][..], &[4, 5], &[9]]);
    // The chunks are the samples' own buffers, not copies.
    assert_eq!(
        fragment.chunks().next().unwrap().as_ptr(),
        video[0].data.as_ptr()
    );
}

#[test]
fn trun_version_0_without_negative_offsets_and_durations_repeat() {
    let c = capture();
    let init = capture_init(&c);
    let video = [
        sample(100, 80, true, &[1]),
        sample(140, 0, false, &[2]),
        sample(190, 40, false, &[3]),
    ];
    let runs = [Run {
        track_id: 1,
        samples: &video,
        end_dts: None,
    }];
    let bytes = encode_fragment(&Fragment::new(&init, 1, &runs).unwrap());
    let trun = bytes.windows(4).position(|w| w == b"trun").unwrap() - 4;
    assert_eq!(&bytes[trun + 8..trun + 12], [0, 0, 0x0f, 0x01], "version 0");
    let tfdt = bytes.windows(4).position(|w| w == b"tfdt").unwrap() - 4;
    assert_eq!(&bytes[tfdt + 12..tfdt + 20], 100u64.to_be_bytes());
    let duration = |i: usize| {
        let at = trun + 20 + 16 * i;
        u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap())
    };
    // 40, 50, and the last repeats the one before.
    assert_eq!((duration(0), duration(1), duration(2)), (40, 50, 50));
}

#[test]
fn fragment_errors() {
    let c = capture();
    let init = capture_init(&c);
    let av1 = Track::video(VideoCodec::Av1, Bytes::from_static(AV1C_SVT_320X240)).unwrap();
    let av1_init = InitSegment::new([av1]).unwrap();
    let one = [sample(10, 0, true, &[1])];
    let run = |track_id, samples: &'static [Sample], end_dts| Run {
        track_id,
        samples,
        end_dts,
    };
    let check = |init: &InitSegment, runs: &[Run<'_>]| Fragment::new(init, 1, runs).err();
    let empty: &'static [Sample] = &[];
    assert_eq!(check(&init, &[]), Some(Mp4Error::EmptyFragment));
    assert_eq!(
        check(&init, &[run(1, empty, None)]),
        Some(Mp4Error::EmptyFragment)
    );
    let one: &'static [Sample] = Box::leak(Box::new(one));
    assert_eq!(
        check(&init, &[run(3, one, None)]),
        Some(Mp4Error::UnknownTrack { track_id: 3 })
    );
    assert_eq!(
        check(&init, &[run(1, one, None), run(1, one, None)]),
        Some(Mp4Error::UnknownTrack { track_id: 1 })
    );
    // An empty run of a track does not count as naming it.
    assert_eq!(
        check(&init, &[run(1, empty, None), run(1, one, None)]),
        None
    );
    assert_eq!(
        check(&init, &[run(1, one, Some(9))]),
        Some(Mp4Error::DtsBackwards {
            track_id: 1,
            index: 1,
            dts: 9,
            previous: 10
        })
    );
    let back: &'static [Sample] = Box::leak(Box::new([
        sample(10, 0, true, &[1]),
        sample(20, 0, false, &[1]),
        sample(15, 0, false, &[1]),
    ]));
    assert_eq!(
        check(&init, &[run(1, back, None)]),
        Some(Mp4Error::DtsBackwards {
            track_id: 1,
            index: 2,
            dts: 15,
            previous: 20
        })
    );
    let gap: &'static [Sample] = Box::leak(Box::new([
        sample(0, 0, true, &[1]),
        sample(1 << 32, 0, false, &[1]),
    ]));
    assert_eq!(
        check(&init, &[run(1, gap, None)]),
        Some(Mp4Error::DurationTooLong {
            track_id: 1,
            index: 0,
            duration: 1 << 32
        })
    );
    let offset: &'static [Sample] = Box::leak(Box::new([sample(0, 40, true, &[1])]));
    assert_eq!(
        check(&init, &[run(2, offset, None)]),
        Some(Mp4Error::CompositionOffset {
            track_id: 2,
            index: 0
        })
    );
    assert_eq!(
        check(&av1_init, &[run(1, offset, None)]),
        Some(Mp4Error::CompositionOffset {
            track_id: 1,
            index: 0
        })
    );
    let hollow: &'static [Sample] = Box::leak(Box::new([
        sample(0, 0, true, &[1]),
        sample(40, 0, false, &[]),
    ]));
    assert_eq!(
        check(&init, &[run(1, hollow, None)]),
        Some(Mp4Error::EmptySample {
            track_id: 1,
            index: 1
        })
    );
    let many: Vec<Sample> = (0..=MAX_FRAGMENT_SAMPLES as u64)
        .map(|i| sample(i, 0, false, &[0]))
        .collect();
    assert_eq!(
        Fragment::new(
            &init,
            1,
            &[run(2, Box::leak(many.into_boxed_slice()), None)]
        )
        .err(),
        Some(Mp4Error::TooManySamples {
            count: MAX_FRAGMENT_SAMPLES + 1,
            max: MAX_FRAGMENT_SAMPLES
        })
    );
    // Over 2 GiB of data: one shared 1 MiB buffer, counted 2048 times, never copied.
    let mib = Bytes::from(vec![0u8; 1 << 20]);
    let big: Vec<Sample> = (0..2048u64)
        .map(|i| Sample {
            dts: i,
            cts: 0,
            keyframe: false,
            data: mib.clone(),
        })
        .collect();
    let runs = [Run {
        track_id: 2,
        samples: &big,
        end_dts: None,
    }];
    assert!(matches!(
        Fragment::new(&init, 1, &runs).err(),
        Some(Mp4Error::FragmentTooLarge { .. })
    ));
}

/// The capture as a file: init segment, then fragments of `per_fragment` video frames with
/// the audio of the same span. Returns the file and the end offset of the init segment and
/// of every fragment.
fn capture_file(per_fragment: usize) -> (Vec<u8>, Vec<u64>) {
    let c = capture();
    let init = capture_init(&c);
    let mut file = encode_init(&init);
    let mut ends = vec![file.len() as u64];
    let groups: Vec<&[Sample]> = c.video.chunks(per_fragment).collect();
    let mut audio_from = 0;
    for (i, group) in groups.iter().enumerate() {
        let next = groups.get(i + 1).map(|g| g[0].dts);
        // Audio up to the next group's first decode time (ms → 44.1 kHz ticks).
        let audio_to = match next {
            Some(ms) => c.audio.partition_point(|s| s.dts < ms * 44_100 / 1000),
            None => c.audio.len(),
        };
        let audio = &c.audio[audio_from..audio_to];
        let runs = [
            Run {
                track_id: 1,
                samples: group,
                end_dts: next,
            },
            Run {
                track_id: 2,
                samples: audio,
                end_dts: c.audio.get(audio_to).map(|s| s.dts),
            },
        ];
        audio_from = audio_to;
        let fragment = Fragment::new(&init, i as u32 + 1, &runs).unwrap();
        let bytes = encode_fragment(&fragment);
        for (path, size) in boxes(&bytes) {
            if path == "moof" {
                assert_eq!(size, fragment.encoded_len() - 8);
            }
        }
        file.extend_from_slice(&bytes);
        ends.push(file.len() as u64);
    }
    (file, ends)
}

#[test]
fn scan_a_clean_file() {
    let (file, ends) = capture_file(3);
    assert!(ends.len() > 3);
    let scan = scan(&file).unwrap();
    assert_eq!(
        scan,
        Scan {
            end: file.len() as u64,
            fragments: ends.len() as u64 - 1,
            last_sequence_number: Some(ends.len() as u32 - 1),
            stop: Stop::EndOfFile,
        }
    );
}

/// Feeds the scanner the way a recorder reads a file: `read_len` bytes at its position.
fn scan_in_reads(file: &[u8], read_len: usize) -> Result<Scan, ScanError> {
    let mut scanner = Scanner::new(file.len() as u64);
    for _ in 0..10_000 {
        let at = scanner.position() as usize;
        let end = (at + read_len).min(file.len());
        if let Some(scan) = scanner.feed(file.get(at..end).unwrap_or_default())? {
            // Final: asking again gives the same answer.
            assert_eq!(scanner.feed(&[]), Ok(Some(scan)));
            return Ok(scan);
        }
    }
    panic!("scanner made no progress with reads of {read_len}");
}

#[test]
fn scan_every_cut_of_a_real_file() {
    let (file, ends) = capture_file(2);
    let moov_end = ends[0];
    for cut in 0..=file.len() {
        let part = &file[..cut];
        let got = scan(part);
        assert_eq!(scan_in_reads(part, SCAN_READ_LEN), got, "cut {cut}");
        assert_eq!(scan_in_reads(part, 7 * SCAN_READ_LEN), got, "cut {cut}");
        if (cut as u64) < moov_end {
            assert!(
                matches!(got, Err(ScanError::NotFragmented { .. })),
                "cut {cut}: {got:?}"
            );
            continue;
        }
        let got = got.unwrap();
        let complete = ends.iter().filter(|&&e| e <= cut as u64).count() - 1;
        let end = ends[complete];
        let stop = if end == cut as u64 {
            Stop::EndOfFile
        } else {
            Stop::Truncated { offset: end }
        };
        let last_sequence_number = (complete > 0).then_some(complete as u32);
        assert_eq!(
            got,
            Scan {
                end,
                fragments: complete as u64,
                last_sequence_number,
                stop
            },
            "cut {cut}"
        );
    }
}

/// Builds a box from its type and body.
fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut b = ((body.len() + 8) as u32).to_be_bytes().to_vec();
    b.extend_from_slice(kind);
    b.extend_from_slice(body);
    b
}

fn moof(sequence: u32) -> Vec<u8> {
    let mut mfhd = vec![0, 0, 0, 0];
    mfhd.extend_from_slice(&sequence.to_be_bytes());
    let mut body = bx(b"mfhd", &mfhd);
    body.extend_from_slice(&bx(b"traf", &[]));
    bx(b"moof", &body)
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// A scanner case: its name (the fuzz seeds in ci/fuzz/make-seeds are built the same way),
/// the file, and the result.
struct ScanCase {
    name: &'static str,
    file: Vec<u8>,
    want: Result<Scan, ScanError>,
}

fn scan_cases() -> Vec<ScanCase> {
    let ftyp = bx(b"ftyp", b"iso5\0\0\0\0isomiso5");
    let moov = bx(b"moov", &bx(b"mvhd", &[0; 100]));
    let init = cat(&[&ftyp, &moov]);
    let i = init.len() as u64;
    let mdat = bx(b"mdat", &[0xab; 20]);
    let pair1 = cat(&[&moof(1), &mdat]);
    let p = pair1.len() as u64;
    let pair2 = cat(&[&moof(2), &mdat]);
    let ok = |end, fragments, last: Option<u32>, stop| {
        Ok(Scan {
            end,
            fragments,
            last_sequence_number: last,
            stop,
        })
    };
    let not = |offset, what| Err(ScanError::NotFragmented { offset, what });
    let garbage = |offset, what| Stop::Garbage { offset, what };
    let mut large_mdat = 1u32.to_be_bytes().to_vec();
    large_mdat.extend_from_slice(b"mdat");
    large_mdat.extend_from_slice(&(16u64 + 5).to_be_bytes());
    large_mdat.extend_from_slice(&[7; 5]);
    let mut to_end_mdat = 0u32.to_be_bytes().to_vec();
    to_end_mdat.extend_from_slice(b"mdat");
    to_end_mdat.extend_from_slice(&[7; 33]);
    let free = bx(b"free", &[0; 3]);
    vec![
        ScanCase {
            name: "init only",
            file: init.clone(),
            want: ok(i, 0, None, Stop::EndOfFile),
        },
        ScanCase {
            name: "two fragments",
            file: cat(&[&init, &pair1, &pair2]),
            want: ok(i + 2 * p, 2, Some(2), Stop::EndOfFile),
        },
        ScanCase {
            name: "free boxes between units",
            file: cat(&[&ftyp, &free, &moov, &free, &pair1, &free, &pair2, &free]),
            want: ok(3 * 11 + i + 2 * p, 2, Some(2), Stop::EndOfFile),
        },
        ScanCase {
            name: "largesize mdat",
            file: cat(&[&init, &moof(1), &large_mdat]),
            want: ok(i + 24 + 8 + 21, 1, Some(1), Stop::EndOfFile),
        },
        ScanCase {
            name: "size 0 mdat to the end",
            file: cat(&[&init, &pair1, &moof(5), &to_end_mdat]),
            want: ok(i + p + 32 + 41, 2, Some(5), Stop::EndOfFile),
        },
        ScanCase {
            name: "zeros after the last fragment",
            file: cat(&[&init, &pair1, &[0; 4096]]),
            want: ok(
                i + p,
                1,
                Some(1),
                garbage(i + p, "box type is not printable"),
            ),
        },
        ScanCase {
            name: "mdat cut short",
            file: cat(&[&init, &pair1, &pair2[..pair2.len() - 1]]),
            want: ok(i + p, 1, Some(1), Stop::Truncated { offset: i + p }),
        },
        ScanCase {
            name: "moof header cut short",
            file: cat(&[&init, &pair1, &pair2[..5]]),
            want: ok(i + p, 1, Some(1), Stop::Truncated { offset: i + p }),
        },
        ScanCase {
            name: "moof without its mdat at the end",
            file: cat(&[&init, &pair1, &moof(2)]),
            want: ok(i + p, 1, Some(1), Stop::Truncated { offset: i + p }),
        },
        ScanCase {
            name: "moof followed by moof",
            file: cat(&[&init, &moof(1), &pair2]),
            want: ok(i, 0, None, garbage(i + 32, "moof not followed by mdat")),
        },
        ScanCase {
            name: "mdat without moof",
            file: cat(&[&init, &mdat, &pair1]),
            want: ok(i, 0, None, garbage(i, "mdat without a moof")),
        },
        ScanCase {
            name: "sequence number repeats",
            file: cat(&[&init, &pair1, &pair1]),
            want: ok(
                i + p,
                1,
                Some(1),
                garbage(i + p, "mfhd sequence_number does not grow"),
            ),
        },
        ScanCase {
            name: "moof without mfhd",
            file: cat(&[&init, &bx(b"moof", &bx(b"traf", &[0; 16])), &mdat]),
            want: ok(i, 0, None, garbage(i, "moof does not start with an mfhd")),
        },
        ScanCase {
            name: "moof too small for mfhd",
            file: cat(&[&init, &bx(b"moof", &[0; 4]), &mdat]),
            want: ok(i, 0, None, garbage(i, "moof too small for its mfhd")),
        },
        ScanCase {
            name: "box smaller than its header",
            file: cat(&[&init, &pair1, &[0, 0, 0, 4], b"free", &pair2]),
            want: ok(
                i + p,
                1,
                Some(1),
                garbage(i + p, "box size smaller than its header"),
            ),
        },
        ScanCase {
            name: "second init segment",
            file: cat(&[&init, &pair1, &init]),
            want: ok(
                i + p,
                1,
                Some(1),
                garbage(i + p, "a second init segment box"),
            ),
        },
        ScanCase {
            name: "empty file",
            file: Vec::new(),
            want: not(0, "file ends before its moov"),
        },
        ScanCase {
            name: "no ftyp",
            file: cat(&[&moov, &pair1]),
            want: not(0, "file does not start with ftyp"),
        },
        ScanCase {
            name: "moof before moov",
            file: cat(&[&ftyp, &pair1, &moov]),
            want: not(ftyp.len() as u64, "media or a second ftyp before moov"),
        },
        ScanCase {
            name: "cut inside moov",
            file: init[..init.len() - 1].to_vec(),
            want: not(ftyp.len() as u64, "file ends inside its init segment"),
        },
        ScanCase {
            name: "garbage before moov",
            file: cat(&[&ftyp, &[0xff; 40]]),
            want: not(ftyp.len() as u64, "box type is not printable"),
        },
    ]
}

#[test]
fn scan_case_table() {
    for case in scan_cases() {
        assert_eq!(scan(&case.file), case.want, "{}", case.name);
        for read_len in [SCAN_READ_LEN, SCAN_READ_LEN + 3, 1000] {
            assert_eq!(
                scan_in_reads(&case.file, read_len),
                case.want,
                "{} in reads of {read_len}",
                case.name
            );
        }
    }
}

/// Short reads make no progress but do no harm: the scanner asks again at the same place.
#[test]
fn scan_short_reads_need_more() {
    let (file, _) = capture_file(4);
    let mut scanner = Scanner::new(file.len() as u64);
    assert_eq!(scanner.feed(&file[..7]), Ok(None));
    assert_eq!(scanner.position(), 0);
    // The ftyp header is in: the scanner moves to the moov.
    assert_eq!(scanner.feed(&file[..8]), Ok(None));
    assert_eq!(scanner.position(), 32);
}

#[test]
fn scan_fuzz_never_panics_and_its_end_rescans_clean() {
    let (file, _) = capture_file(3);
    let cases = scan_cases();
    let mut rng = XorShift(0x5ca4);
    for round in 0..3000 {
        let mut input = if round % 2 == 0 {
            file.clone()
        } else {
            cases[rng.below(cases.len())].file.clone()
        };
        for _ in 0..=rng.below(4) {
            if !input.is_empty() {
                let at = rng.below(input.len());
                input[at] = match rng.below(3) {
                    0 => 0,
                    1 => 1,
                    _ => rng.next() as u8,
                };
            }
        }
        let got = scan(&input);
        assert_eq!(scan_in_reads(&input, SCAN_READ_LEN), got);
        if let Ok(s) = got {
            assert!(s.end <= input.len() as u64);
            let again = scan(&input[..s.end as usize]).unwrap();
            assert_eq!(
                (again.end, again.fragments, again.last_sequence_number),
                (s.end, s.fragments, s.last_sequence_number)
            );
            assert_eq!(again.stop, Stop::EndOfFile);
        }
    }
}

/// The reader gives back what the muxer wrote: tracks, and per fragment the decode times,
/// durations and first sync samples; a rewrite moves a fragment and keeps its size.
#[test]
fn read_back_what_the_muxer_wrote() {
    let c = capture();
    let (file, ends) = capture_file(30);
    let moov_at = boxes(&file).iter().position(|(p, _)| p == "ftyp").unwrap();
    assert_eq!(moov_at, 0);
    // ftyp, then moov: find the moov's body.
    let ftyp_len = u32::from_be_bytes(file[0..4].try_into().unwrap()) as usize;
    let moov_len = u32::from_be_bytes(file[ftyp_len..ftyp_len + 4].try_into().unwrap()) as usize;
    let tracks = read_moov(&file[ftyp_len + 8..ftyp_len + moov_len]).unwrap();
    assert_eq!(tracks.len(), 2);
    assert_eq!(
        (tracks[0].track_id, tracks[0].timescale, tracks[0].video),
        (1, 1000, true)
    );
    assert_eq!(
        (tracks[1].track_id, tracks[1].timescale, tracks[1].video),
        (2, 44_100, false)
    );
    let mut video_at = 0;
    let mut audio_total = 0u64;
    for (i, w) in ends.windows(2).enumerate() {
        let at = w[0] as usize;
        let moof_len = u32::from_be_bytes(file[at..at + 4].try_into().unwrap()) as usize;
        let moof = &file[at..at + moof_len];
        let info = read_moof(moof, &tracks).unwrap();
        assert_eq!(info.sequence_number, i as u32 + 1);
        let v = info.trafs.iter().find(|t| t.track_id == 1).unwrap();
        assert_eq!(v.decode_time, c.video[video_at].dts);
        assert_eq!(v.first_sync, Some(c.video[video_at].keyframe));
        video_at += v.samples as usize;
        if let Some(next) = c.video.get(video_at) {
            assert_eq!(v.decode_time + v.duration, next.dts, "fragment {i}");
        }
        let a = info.trafs.iter().find(|t| t.track_id == 2).unwrap();
        audio_total += u64::from(a.samples);
        assert_eq!(a.first_sync, Some(true));
        let mut copy = moof.to_vec();
        rewrite_moof(&mut copy, &info, 77, |id| if id == 1 { 5 } else { 6 });
        assert_eq!(copy.len(), moof.len());
        let again = read_moof(&copy, &tracks).unwrap();
        assert_eq!(again.sequence_number, 77);
        assert_eq!(again.trafs[0].decode_time, 5);
        assert_eq!(again.trafs[1].decode_time, 6);
        assert_eq!(again.trafs[0].duration, info.trafs[0].duration);
    }
    assert_eq!(video_at, c.video.len());
    assert_eq!(audio_total as usize, c.audio.len());
    // Every cut of a moof is refused, never a panic.
    let at = ends[0] as usize;
    let moof_len = u32::from_be_bytes(file[at..at + 4].try_into().unwrap()) as usize;
    for cut in 0..moof_len {
        let _ = read_moof(&file[at..at + cut], &tracks);
    }
    assert!(
        read_moof(&file[at..at + moof_len], &tracks[..1]).is_err(),
        "unknown track 2"
    );
}

/// A `trun` with no per-sample fields and a sample count of 4 billion is summed at once (a
/// fuzz input of 1.7 KB walked such runs for 10 s).
#[test]
fn a_trun_of_four_billion_default_samples_reads_at_once() {
    fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut b = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.extend_from_slice(body);
        b
    }
    let tracks = [TrackInfo {
        track_id: 1,
        timescale: 1000,
        video: true,
        default_duration: 40,
        default_flags: 0,
    }];
    let mfhd = bx(b"mfhd", &[0, 0, 0, 0, 0, 0, 0, 9]);
    // tfhd: version 0, flags default-base-is-moof, track 1.
    let tfhd = bx(b"tfhd", &[0, 0x02, 0, 0, 0, 0, 0, 1]);
    let tfdt = bx(b"tfdt", &[0, 0, 0, 0, 0, 0, 0x10, 0]);
    // trun: no data offset, no per-sample fields, count 0xFFFFFFFF.
    let trun = bx(b"trun", &[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
    let traf = bx(b"traf", &[tfhd, tfdt, trun.clone(), trun].concat());
    let moof = bx(b"moof", &[mfhd, traf].concat());
    let info = read_moof(&moof, &tracks).unwrap();
    assert_eq!(info.sequence_number, 9);
    let t = &info.trafs[0];
    assert_eq!(t.decode_time, 0x1000);
    assert_eq!(t.samples, u32::MAX, "saturated over the two runs");
    assert_eq!(t.duration, 2 * 40 * u64::from(u32::MAX));
    assert_eq!(t.first_sync, Some(true));
}
