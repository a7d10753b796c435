//! Golden bytes first, then the demuxer's behaviour on muxed, damaged and odd streams.

use bytes::{BufMut, Bytes};

use super::demux::MAX_PENDING;
use super::pack::{encode_system_header, PackHeader};
use super::*;
use crate::testutil::XorShift;

/// MPEG-2 pack header, SCR base 0x1_2345_6789, extension 171, program_mux_rate 20000, no
/// stuffing (bits laid out by hand after 2.5.3.3).
const GOLDEN_PACK: [u8; 14] = [
    0x00, 0x00, 0x01, 0xBA, 0x66, 0x34, 0x57, 0x3C, 0x4D, 0x57, 0x01, 0x38, 0x83, 0xF8,
];
/// MPEG-1 pack header (ISO/IEC 11172-1 2.4.3.2): '0010', same SCR, mux_rate 20000.
const GOLDEN_PACK_MPEG1: [u8; 12] = [
    0x00, 0x00, 0x01, 0xBA, 0x29, 0x8D, 0x15, 0xCF, 0x13, 0x80, 0x9C, 0x41,
];
/// System header: rate_bound 20000, one audio and one video stream, locked clocks; video
/// 0xE0 with a 1024 KiB buffer bound, audio 0xC0 with 32 × 128 bytes.
const GOLDEN_SYSTEM_HEADER: [u8; 18] = [
    0x00, 0x00, 0x01, 0xBB, 0x00, 0x0C, 0x80, 0x9C, 0x41, 0x04, 0xE1, 0x7F, 0xE0, 0xE4, 0x00, 0xC0,
    0xC0, 0x20,
];
/// PSM, version 0, current: H.264 on 0xE0, G.711 A-law on 0xC0, CRC_32 0x4BFCC750.
const GOLDEN_PSM: [u8; 24] = [
    0x00, 0x00, 0x01, 0xBC, 0x00, 0x12, 0xA0, 0xFF, 0x00, 0x00, 0x00, 0x08, 0x1B, 0xE0, 0x00, 0x00,
    0x90, 0xC0, 0x00, 0x00, 0x4B, 0xFC, 0xC7, 0x50,
];
/// Audio PES, data-aligned, PTS 0x1_2345_6789 only, two G.711 bytes.
const GOLDEN_PES_PTS: [u8; 16] = [
    0x00, 0x00, 0x01, 0xC0, 0x00, 0x0A, 0x84, 0x80, 0x05, 0x29, 0x8D, 0x15, 0xCF, 0x13, 0xD5, 0xD5,
];
/// Video PES, data-aligned, PTS 2^33 - 1 and DTS 1, an H.264 access unit delimiter.
const GOLDEN_PES_PTS_DTS: [u8; 25] = [
    0x00, 0x00, 0x01, 0xE0, 0x00, 0x13, 0x84, 0xC0, 0x0A, 0x3F, 0xFF, 0xFF, 0xFF, 0xFF, 0x11, 0x00,
    0x01, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x09, 0xF0,
];

const SCR: u64 = 0x1_2345_6789;

fn demux_all(d: &mut Demuxer) -> Vec<EsFrame> {
    std::iter::from_fn(|| d.poll()).collect()
}

fn demux(input: &[u8]) -> (Vec<EsFrame>, PsStats) {
    let mut d = Demuxer::new();
    d.push(input);
    let frames = demux_all(&mut d);
    (frames, d.stats())
}

fn frame(stream_id: u8, stream_type: StreamType, pts: Option<u64>, data: &[u8]) -> EsFrame {
    EsFrame {
        stream_id,
        stream_type,
        pts,
        dts: None,
        data: Bytes::copy_from_slice(data),
    }
}

/// A length-prefixed packet of `stream_id` with `body` after the length.
fn packet(stream_id: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 1, stream_id];
    out.extend_from_slice(&(body.len() as u16).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// An MPEG-2 PES with a PTS-only header.
fn pes_with_pts(stream_id: u8, pts: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    pes::encode(stream_id, Some(pts), None, true, payload.len(), &mut out);
    out.extend_from_slice(payload);
    out
}

fn pack(scr: u64) -> Vec<u8> {
    let mut out = Vec::new();
    PackHeader {
        scr,
        scr_ext: 0,
        mux_rate: MUX_RATE,
    }
    .encode(&mut out);
    out
}

fn psm(entries: &[(StreamType, u8)]) -> Vec<u8> {
    let mut out = Vec::new();
    psm::encode(entries, 0, &mut out);
    out
}

/// Bytes 1..=255 (never 0, so never a start code): filler for payloads.
fn filler(rng: &mut XorShift, len: usize) -> Vec<u8> {
    (0..len).map(|_| 1 + rng.below(255) as u8).collect()
}

const H264_KEY_HEAD: [u8; 20] = [
    0, 0, 0, 1, 0x09, 0x10, 0, 0, 0, 1, 0x67, 0x42, 0xC0, 0x1E, 0, 0, 0, 1, 0x68, 0xCE,
];
const H265_KEY_HEAD: [u8; 14] = [0, 0, 0, 1, 0x40, 0x01, 0x0C, 0, 0, 0, 1, 0x42, 0x01, 0x01];

/// One frame given to the muxer.
struct Unit {
    video: bool,
    pts: u64,
    dts: Option<u64>,
    keyframe: bool,
    data: Vec<u8>,
}

/// A GOP of H.264 video (keyframe, then P frames with DTS) and G.711 A-law audio, with
/// video frames of `video_len` bytes.
fn sample_units(rng: &mut XorShift, frames: usize, video_len: usize) -> Vec<Unit> {
    let mut units = Vec::new();
    for i in 0..frames as u64 {
        let keyframe = i == 0;
        let mut data = if keyframe {
            H264_KEY_HEAD.to_vec()
        } else {
            vec![0, 0, 0, 1, 0x41]
        };
        data.extend(filler(rng, video_len));
        let dts = 90_000 + i * 3600;
        units.push(Unit {
            video: true,
            pts: dts + 7200,
            dts: Some(dts),
            keyframe,
            data,
        });
        units.push(Unit {
            video: false,
            pts: dts,
            dts: None,
            keyframe: true,
            data: filler(rng, 320),
        });
    }
    units
}

fn mux_units(mux: &mut Muxer, units: &[Unit]) -> Vec<u8> {
    let mut out = Vec::new();
    for u in units {
        let before = out.len();
        mux.write_frame(u.video, u.pts, u.dts, u.keyframe, &u.data, true, &mut out);
        let len = mux.encoded_len(u.video, u.pts, u.dts, u.keyframe, u.data.len(), true);
        assert_eq!(out.len() - before, len, "encoded_len");
    }
    out
}

/// The frames the demuxer must give back for `units` muxed with a PSM of these types.
fn expected_frames(units: &[Unit], video: StreamType, audio: StreamType) -> Vec<EsFrame> {
    let mut frames = Vec::new();
    for u in units {
        for (i, chunk) in u.data.chunks(MAX_PES_PAYLOAD).enumerate() {
            let first = i == 0;
            frames.push(EsFrame {
                stream_id: if u.video { 0xE0 } else { 0xC0 },
                stream_type: if u.video { video } else { audio },
                pts: first.then_some(u.pts),
                dts: u.dts.filter(|&d| first && d != u.pts),
                data: Bytes::copy_from_slice(chunk),
            });
        }
    }
    frames
}

fn sample_stream(rng: &mut XorShift, frames: usize, video_len: usize) -> (Vec<u8>, Vec<EsFrame>) {
    let units = sample_units(rng, frames, video_len);
    let mut mux = Muxer::new(Some(StreamType::H264), Some(StreamType::G711A));
    let stream = mux_units(&mut mux, &units);
    (
        stream,
        expected_frames(&units, StreamType::H264, StreamType::G711A),
    )
}

// ---- golden bytes ----

#[test]
fn golden_pack_header() {
    let header = PackHeader {
        scr: SCR,
        scr_ext: 171,
        mux_rate: 20_000,
    };
    let mut out = Vec::new();
    header.encode(&mut out);
    assert_eq!(out, GOLDEN_PACK);
    assert_eq!(PackHeader::decode(&GOLDEN_PACK), Ok(Some((header, 14))));
    for cut in 4..GOLDEN_PACK.len() {
        assert_eq!(
            PackHeader::decode(&GOLDEN_PACK[..cut]),
            Ok(None),
            "cut {cut}"
        );
    }
    // pack_stuffing_length 2: two 0xFF bytes belong to the header.
    let mut stuffed = GOLDEN_PACK.to_vec();
    stuffed[13] |= 2;
    assert_eq!(PackHeader::decode(&stuffed), Ok(None));
    stuffed.extend_from_slice(&[0xFF, 0xFF]);
    assert_eq!(PackHeader::decode(&stuffed), Ok(Some((header, 16))));
    // Neither '01' nor '0010'.
    let mut bad = GOLDEN_PACK;
    bad[4] = 0x80;
    assert!(PackHeader::decode(&bad).is_err());
}

#[test]
fn golden_mpeg1_pack_header() {
    assert_eq!(
        PackHeader::decode(&GOLDEN_PACK_MPEG1),
        Ok(Some((
            PackHeader {
                scr: SCR,
                scr_ext: 0,
                mux_rate: 20_000
            },
            12
        )))
    );
    assert_eq!(PackHeader::decode(&GOLDEN_PACK_MPEG1[..11]), Ok(None));
}

#[test]
fn golden_system_header() {
    let mut out = Vec::new();
    encode_system_header(20_000, Some(0xE0), Some(0xC0), &mut out);
    assert_eq!(out, GOLDEN_SYSTEM_HEADER);
}

#[test]
fn golden_psm() {
    assert_eq!(
        psm(&[(StreamType::H264, 0xE0), (StreamType::G711A, 0xC0)]),
        GOLDEN_PSM
    );
    let mut entries = Vec::new();
    psm::decode(&GOLDEN_PSM, |t, id| entries.push((t, id))).unwrap();
    assert_eq!(entries, [(0x1B, 0xE0), (0x90, 0xC0)]);
    // Fed to the demuxer after a pack header, it names the streams.
    let mut d = Demuxer::new();
    d.push(&GOLDEN_PACK);
    d.push(&GOLDEN_PSM);
    assert_eq!(
        d.stream_types(),
        (Some(StreamType::H264), Some(StreamType::G711A))
    );
    assert_eq!(d.stats().psm, 1);
}

#[test]
fn golden_pes_headers() {
    assert_eq!(pes_with_pts(0xC0, SCR, &[0xD5, 0xD5]), GOLDEN_PES_PTS);
    let mut out = Vec::new();
    let aud = [0, 0, 0, 1, 0x09, 0xF0];
    pes::encode(
        0xE0,
        Some((1 << 33) - 1),
        Some(1),
        true,
        aud.len(),
        &mut out,
    );
    out.extend_from_slice(&aud);
    assert_eq!(out, GOLDEN_PES_PTS_DTS);

    let header = pes::decode(&GOLDEN_PES_PTS).unwrap().unwrap();
    assert_eq!(
        (header.stream_id, header.pts, header.dts, header.header_len),
        (0xC0, Some(SCR), None, 14)
    );
    assert_eq!(header.payload_len(), Some(2));
    let header = pes::decode(&GOLDEN_PES_PTS_DTS).unwrap().unwrap();
    assert_eq!(
        (header.pts, header.dts, header.header_len),
        (Some((1 << 33) - 1), Some(1), 19)
    );
    for cut in 0..19 {
        assert_eq!(
            pes::decode(&GOLDEN_PES_PTS_DTS[..cut]),
            Ok(None),
            "cut {cut}"
        );
    }
}

#[test]
fn golden_stream_demuxes() {
    let input = [
        &GOLDEN_PACK[..],
        &GOLDEN_SYSTEM_HEADER,
        &GOLDEN_PSM,
        &GOLDEN_PES_PTS,
        &GOLDEN_PES_PTS_DTS,
    ]
    .concat();
    let (frames, stats) = demux(&input);
    assert_eq!(
        frames,
        [
            frame(0xC0, StreamType::G711A, Some(SCR), &[0xD5, 0xD5]),
            EsFrame {
                dts: Some(1),
                ..frame(
                    0xE0,
                    StreamType::H264,
                    Some((1 << 33) - 1),
                    &[0, 0, 0, 1, 0x09, 0xF0]
                )
            },
        ]
    );
    assert_eq!(
        stats,
        PsStats {
            packs: 1,
            pes: 2,
            psm: 1,
            ..PsStats::default()
        }
    );
}

#[test]
fn mpeg1_pack_and_packet_headers() {
    // ISO/IEC 11172-1 packets: stuffing, STD_buffer, PTS+DTS; PTS only; no timestamps.
    let mut body = vec![0xFF, 0xFF, 0x60, 0x2E];
    body.extend_from_slice(&[0x31, 0x00, 0x01, 0x00, 0x03, 0x11, 0x00, 0x01, 0x00, 0x01]);
    body.extend_from_slice(&[0, 0, 1, 0x09, 0x10]);
    let input = [
        &GOLDEN_PACK_MPEG1[..],
        &packet(0xE0, &body),
        &packet(0xC0, &[0x21, 0x00, 0x01, 0x00, 0x05, 0xFF, 0xFD, 0x44]),
        &GOLDEN_PACK_MPEG1,
        &packet(0xC0, &[0x0F, 0xFF, 0xFD, 0x44]),
    ]
    .concat();
    let (frames, stats) = demux(&input);
    let mpeg_audio = StreamType::Unknown(0x03);
    assert_eq!(
        frames,
        [
            EsFrame {
                dts: Some(0),
                ..frame(0xE0, StreamType::H264, Some(1), &[0, 0, 1, 0x09, 0x10])
            },
            frame(0xC0, mpeg_audio, Some(2), &[0xFF, 0xFD, 0x44]),
            frame(0xC0, mpeg_audio, None, &[0xFF, 0xFD, 0x44]),
        ]
    );
    assert_eq!((stats.packs, stats.resyncs, stats.malformed), (2, 0, 0));
    // Over 16 stuffing bytes is not a header.
    assert!(pes::decode(&packet(0xC0, &[0xFF; 20])).is_err());
}

// ---- cut anywhere ----

#[test]
fn every_split_gives_the_same_frames() {
    let mut rng = XorShift(0x5EED_0001);
    let (stream, expected) = sample_stream(&mut rng, 3, 200);
    let (frames, stats) = demux(&stream);
    assert_eq!(frames, expected);
    assert_eq!(
        (stats.resyncs, stats.skipped_bytes, stats.malformed),
        (0, 0, 0)
    );
    assert_eq!(stats.packs, 6);
    for cut in 0..=stream.len() {
        let mut d = Demuxer::new();
        d.push(&stream[..cut]);
        d.push(&stream[cut..]);
        assert_eq!(demux_all(&mut d), expected, "cut at {cut}");
        assert_eq!(d.stats(), stats, "cut at {cut}");
    }
    let mut d = Demuxer::new();
    for byte in stream.chunks(1) {
        d.push(byte);
        assert!(d.buffered() < MAX_PENDING + MAX_PES_PAYLOAD);
    }
    assert_eq!(demux_all(&mut d), expected);
    assert_eq!(d.stats(), stats);
}

#[test]
fn large_frames_split_into_pes_and_back() {
    let mut rng = XorShift(0x5EED_0002);
    let (stream, expected) = sample_stream(&mut rng, 4, 150_000);
    assert_eq!(
        expected.iter().filter(|f| f.stream_id == 0xE0).count(),
        4 * 3
    );
    for _ in 0..20 {
        let mut d = Demuxer::new();
        let mut rest = &stream[..];
        while !rest.is_empty() {
            let n = (1 + rng.below(3000)).min(rest.len());
            d.push(&rest[..n]);
            rest = &rest[n..];
        }
        assert_eq!(demux_all(&mut d), expected);
        assert_eq!(d.stats().resyncs, 0);
    }
}

// ---- recovery ----

#[test]
fn garbage_before_and_inside_resyncs() {
    let mut rng = XorShift(0x5EED_0003);
    let (stream, expected) = sample_stream(&mut rng, 6, 300);
    let packs: Vec<usize> = stream
        .windows(4)
        .enumerate()
        .filter(|(_, w)| *w == [0, 0, 1, 0xBA])
        .map(|(i, _)| i)
        .collect();
    // Packs are video, audio, video, audio...: frame k is in pack k.
    assert_eq!(packs.len(), expected.len());

    // Garbage before the first pack: skipped, one resync.
    let garbage = filler(&mut rng, 777);
    let (frames, stats) = demux(&[&garbage[..], &stream].concat());
    assert_eq!(frames, expected);
    assert_eq!((stats.resyncs, stats.skipped_bytes), (1, 777));

    // Garbage over the end of pack 4's header and its PES header (the third video frame):
    // that frame is lost, the rest comes through.
    let mut damaged = stream.clone();
    let at = packs[4] + 10;
    damaged[at..at + 100].copy_from_slice(&filler(&mut rng, 100));
    let mut d = Demuxer::new();
    d.push(&damaged);
    let frames = demux_all(&mut d);
    let mut want = expected.clone();
    want.remove(4);
    assert_eq!(frames, want);
    let stats = d.stats();
    assert_eq!(stats.resyncs, 1);
    assert!(stats.skipped_bytes > 0);
    let fault = d.take_fault().unwrap();
    assert!(fault.offset > packs[4] as u64 && fault.offset < packs[5] as u64);
    assert_eq!(fault.kind, PsErrorKind::NoStartCode);
    assert_eq!(d.take_fault(), None);

    // Garbage inserted between two packs: nothing lost.
    let inserted = [&stream[..packs[3]], &garbage[..50], &stream[packs[3]..]].concat();
    let (frames, stats) = demux(&inserted);
    assert_eq!(frames, expected);
    assert_eq!((stats.resyncs, stats.skipped_bytes), (1, 50));
}

#[test]
fn zero_stuffing_between_packets_is_tolerated() {
    let input = [
        &GOLDEN_PACK[..],
        &[0, 0, 0, 0],
        &GOLDEN_PES_PTS,
        &[0],
        &GOLDEN_PACK,
        &GOLDEN_PES_PTS,
    ]
    .concat();
    let (frames, stats) = demux(&input);
    assert_eq!(frames.len(), 2);
    assert_eq!((stats.resyncs, stats.skipped_bytes), (0, 5));
}

#[test]
fn reset_drops_the_partial_pes() {
    let mut rng = XorShift(0x5EED_0004);
    let (stream, expected) = sample_stream(&mut rng, 2, 500);
    let mut d = Demuxer::new();
    // Push the first pack up to the middle of its PES, "lose" the rest of it.
    d.push(&stream[..300]);
    d.reset();
    assert_eq!(d.buffered(), 0);
    let second_pack = stream[1..]
        .windows(4)
        .position(|w| w == [0, 0, 1, 0xBA])
        .unwrap()
        + 1;
    d.push(&stream[second_pack..]);
    assert_eq!(demux_all(&mut d), expected[1..]);
    assert_eq!(d.stats().resyncs, 0);
    assert_eq!(d.take_fault().map(|f| f.kind), Some(PsErrorKind::Reset));
    // After loss the next RTP payload starts in the middle of a PES: skipped.
    d.reset();
    d.push(&stream[10..]);
    assert_eq!(demux_all(&mut d), expected[1..]);
    assert_eq!(d.stats().resyncs, 1);
}

#[test]
fn malformed_pes_header_is_skipped_by_length() {
    // PES_header_data_length 200 in a 20-byte packet, then a good one.
    let mut bad = pes_with_pts(0xE0, 1, &[0, 0, 1, 0x41, 1, 2, 3]);
    bad[8] = 200;
    let input = [&GOLDEN_PACK[..], &bad, &GOLDEN_PES_PTS].concat();
    let mut d = Demuxer::new();
    d.push(&input);
    assert_eq!(demux_all(&mut d).len(), 1);
    let stats = d.stats();
    assert_eq!((stats.malformed, stats.resyncs, stats.pes), (1, 0, 1));
    assert!(matches!(
        d.take_fault().map(|f| f.kind),
        Some(PsErrorKind::BadPes {
            stream_id: 0xE0,
            ..
        })
    ));
}

// ---- stream types ----

#[test]
fn missing_psm_guesses_types() {
    let adts = [0xFF, 0xF1, 0x50, 0x80, 0x02, 0x1F, 0xFC, 0x21];
    let cases: [(&[u8], &[u8], StreamType, StreamType); 3] = [
        (&H264_KEY_HEAD, &adts, StreamType::H264, StreamType::Aac),
        (
            &H265_KEY_HEAD,
            &[0xD5; 160],
            StreamType::H265,
            StreamType::G711A,
        ),
        // A PES opening with an HEVC AUD (0x46 0x01).
        (
            &[0, 0, 0, 1, 0x46, 0x01, 0x50, 0, 0, 1, 0x02, 0x01],
            &[0x55; 80],
            StreamType::H265,
            StreamType::G711A,
        ),
    ];
    for (video, audio, video_type, audio_type) in cases {
        let input = [
            &GOLDEN_PACK[..],
            &pes_with_pts(0xE0, 10, video),
            &pes_with_pts(0xC0, 20, audio),
        ]
        .concat();
        let mut d = Demuxer::new();
        assert_eq!(d.stream_types(), (None, None));
        d.push(&input);
        let frames = demux_all(&mut d);
        assert_eq!(
            frames.iter().map(|f| f.stream_type).collect::<Vec<_>>(),
            [video_type, audio_type]
        );
        assert_eq!(d.stream_types(), (Some(video_type), Some(audio_type)));
        assert_eq!(d.stats().psm, 0);
    }
}

#[test]
fn video_guess_waits_for_a_telling_nal() {
    // Joined mid-GOP of an HEVC stream: a TRAIL_R slice (0x02 0x01) tells nothing, and the
    // H.264 look-alike 0x41 byte must not decide either.
    let input = [
        &GOLDEN_PACK[..],
        &pes_with_pts(
            0xE0,
            10,
            &[0, 0, 0, 1, 0x02, 0x01, 0xD0, 0, 0, 1, 0x41, 0x9A],
        ),
        &GOLDEN_PACK,
        &pes_with_pts(0xE0, 20, &H265_KEY_HEAD),
        &GOLDEN_PACK,
        &pes_with_pts(0xE0, 30, &[0, 0, 0, 1, 0x02, 0x01, 0xD0]),
    ]
    .concat();
    let (frames, _) = demux(&input);
    assert_eq!(
        frames.iter().map(|f| f.stream_type).collect::<Vec<_>>(),
        [StreamType::H264, StreamType::H265, StreamType::H265]
    );
}

#[test]
fn codec_change_with_a_second_psm() {
    let avc = [(StreamType::H264, 0xE0), (StreamType::G711A, 0xC0)];
    let hevc = [(StreamType::H265, 0xE0), (StreamType::G711U, 0xC0)];
    let input = [
        &GOLDEN_PACK[..],
        &psm(&avc),
        &pes_with_pts(0xE0, 10, &H264_KEY_HEAD),
        &pes_with_pts(0xC0, 10, &[0xD5; 8]),
        &GOLDEN_PACK,
        &psm(&hevc),
        &pes_with_pts(0xE0, 20, &H265_KEY_HEAD),
        &pes_with_pts(0xC0, 20, &[0xFF; 8]),
    ]
    .concat();
    let mut d = Demuxer::new();
    d.push(&input);
    let types: Vec<_> = demux_all(&mut d).iter().map(|f| f.stream_type).collect();
    assert_eq!(
        types,
        [
            StreamType::H264,
            StreamType::G711A,
            StreamType::H265,
            StreamType::G711U
        ]
    );
    assert_eq!(
        d.stream_types(),
        (Some(StreamType::H265), Some(StreamType::G711U))
    );
    assert_eq!(d.stats().psm, 2);
}

#[test]
fn unknown_stream_types_come_out_counted() {
    let input = [
        &GOLDEN_PACK[..],
        &psm(&[(StreamType::Unknown(0x80), 0xE0)]),
        &pes_with_pts(0xE0, 10, &[1, 2, 3]),
    ]
    .concat();
    let (frames, stats) = demux(&input);
    assert_eq!(frames[0].stream_type, StreamType::Unknown(0x80));
    assert_eq!(stats.unknown_streams, 1);
}

// ---- packets that are skipped ----

#[test]
fn padding_private_and_system_packets_are_skipped() {
    let input = [
        &GOLDEN_PACK[..],
        &GOLDEN_SYSTEM_HEADER,
        &packet(0xBD, &[0x80, 0x01, 0x00, 0x01, 0, 0, 1, 0xBA]),
        &GOLDEN_PES_PTS,
        &packet(0xBE, &[0xFF; 300]),
        &packet(0xBF, &[0, 0, 1, 0xE0, 0xFF, 0xFF]),
        &packet(0xF0, &[]),
        &packet(0xFF, &[0x42; 10]),
        &GOLDEN_PES_PTS_DTS,
        &[0, 0, 1, 0xB9],
        &GOLDEN_PACK,
        &GOLDEN_PES_PTS,
    ]
    .concat();
    let mut d = Demuxer::new();
    for chunk in input.chunks(7) {
        d.push(chunk);
    }
    let frames = demux_all(&mut d);
    assert_eq!(
        frames.iter().map(|f| f.stream_id).collect::<Vec<_>>(),
        [0xC0, 0xE0, 0xC0]
    );
    let stats = d.stats();
    assert_eq!(
        (stats.packs, stats.pes, stats.resyncs, stats.skipped_bytes),
        (2, 3, 0, 0)
    );
    assert_eq!(d.take_fault(), None);
}

// ---- limits ----

#[test]
fn oversized_psm_length_resyncs() {
    // program_stream_map_length 0xFFFF: not buffered, counted, resync on the next pack.
    let input = [
        &GOLDEN_PACK[..],
        &[0, 0, 1, 0xBC, 0xFF, 0xFF, 0xA0, 0xFF],
        &[0x11; 100],
        &GOLDEN_PACK,
        &GOLDEN_PES_PTS,
    ]
    .concat();
    let mut d = Demuxer::new();
    d.push(&input);
    assert_eq!(demux_all(&mut d).len(), 1);
    let stats = d.stats();
    assert_eq!((stats.oversized, stats.resyncs, stats.psm), (1, 1, 0));
    assert_eq!(
        d.take_fault().map(|f| f.kind),
        Some(PsErrorKind::PsmTooLong { len: 0xFFFF })
    );
}

#[test]
fn unbounded_video_pes_ends_at_the_next_start_code() {
    let mut rng = XorShift(0x5EED_0005);
    let au = [&H264_KEY_HEAD[..], &filler(&mut rng, 70_000)].concat();
    let mut unbounded = Vec::new();
    pes::encode(0xE0, Some(3600), None, true, 0, &mut unbounded);
    unbounded[4..6].copy_from_slice(&[0, 0]);
    unbounded.extend_from_slice(&au);
    let input = [
        &GOLDEN_PACK[..],
        &unbounded,
        &GOLDEN_PACK,
        &GOLDEN_PES_PTS,
        &GOLDEN_PACK,
        &unbounded,
    ]
    .concat();
    let mut d = Demuxer::new();
    for chunk in input.chunks(1000) {
        d.push(chunk);
    }
    let frames = demux_all(&mut d);
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0].data, au);
    assert_eq!(frames[0].pts, Some(3600));
    // The last one has no start code after it until flush (RTP marker, end of input).
    assert_eq!(d.buffered(), au.len());
    d.flush();
    assert_eq!(d.poll().unwrap().data, au);
    assert_eq!(d.buffered(), 0);
    assert_eq!(d.stats().resyncs, 0);
}

#[test]
fn unbounded_video_pes_over_the_limit_is_dropped() {
    let mut rng = XorShift(0x5EED_0006);
    let mut unbounded = Vec::new();
    pes::encode(0xE0, Some(3600), None, true, 0, &mut unbounded);
    unbounded[4..6].copy_from_slice(&[0, 0]);
    let mut d = Demuxer::new();
    d.push(&GOLDEN_PACK);
    d.push(&unbounded);
    let chunk = filler(&mut rng, 64 * 1024);
    let mut pushed = 0;
    while pushed <= MAX_PES_LEN + chunk.len() {
        d.push(&chunk);
        pushed += chunk.len();
        assert!(d.buffered() <= MAX_PES_LEN, "{}", d.buffered());
    }
    assert_eq!(d.poll(), None);
    d.push(&GOLDEN_PACK);
    d.push(&GOLDEN_PES_PTS);
    assert_eq!(demux_all(&mut d).len(), 1);
    let stats = d.stats();
    assert_eq!((stats.oversized, stats.resyncs), (1, 1));
    assert_eq!(
        d.take_fault().map(|f| f.kind),
        Some(PsErrorKind::PesTooLarge {
            stream_id: 0xE0,
            max: MAX_PES_LEN
        })
    );
}

/// `gb28181.max_pes_bytes` lowered to 256 KiB: an unbounded PES of 200 KB (a 1080p keyframe
/// sent whole) still comes out; one of 300 KB is dropped and counted, and the demuxer takes
/// the next frame.
#[test]
fn a_lowered_pes_cap_is_enforced() {
    const CAP: usize = 256 * 1024;
    let mut rng = XorShift(0x5EED_0016);
    let mut header = Vec::new();
    pes::encode(0xE0, Some(3600), None, true, 0, &mut header);
    header[4..6].copy_from_slice(&[0, 0]);
    let mut d = Demuxer::with_max_pes_len(CAP);
    for (len, comes_out) in [(200_000, true), (300_000, false), (200_000, true)] {
        d.push(&GOLDEN_PACK);
        d.push(&header);
        let mut pushed = 0;
        while pushed < len {
            let chunk = filler(&mut rng, (len - pushed).min(10_000));
            d.push(&chunk);
            pushed += chunk.len();
            assert!(d.buffered() <= CAP, "{}", d.buffered());
        }
        // The next pack header ends the unbounded PES.
        d.push(&GOLDEN_PACK);
        let frames = demux_all(&mut d);
        assert_eq!(frames.len(), usize::from(comes_out), "{len} bytes");
        if comes_out {
            assert_eq!(frames[0].data.len(), len);
        }
    }
    assert_eq!(d.stats().oversized, 1);
    assert_eq!(
        d.take_fault().map(|f| f.kind),
        Some(PsErrorKind::PesTooLarge {
            stream_id: 0xE0,
            max: CAP
        })
    );
    // Below the smallest cap, a PES with a length field (up to 64 KiB) must still fit.
    assert_eq!(
        Demuxer::with_max_pes_len(1000).max_pes_len(),
        crate::wire::mpegps::MIN_PES_CAP
    );
}

// ---- muxer ----

#[test]
fn muxer_layout() {
    let mut mux = Muxer::new(Some(StreamType::H264), Some(StreamType::G711A));
    let data = vec![0x11; MAX_PES_PAYLOAD + 10];
    let mut out = Vec::new();
    mux.write_frame(true, SCR, Some(SCR - 3600), true, &data, true, &mut out);
    let mut want = Vec::new();
    PackHeader {
        scr: SCR - 3600,
        scr_ext: 0,
        mux_rate: MUX_RATE,
    }
    .encode(&mut want);
    encode_system_header(MUX_RATE, Some(0xE0), Some(0xC0), &mut want);
    want.extend_from_slice(&GOLDEN_PSM);
    pes::encode(
        0xE0,
        Some(SCR),
        Some(SCR - 3600),
        true,
        MAX_PES_PAYLOAD,
        &mut want,
    );
    want.extend_from_slice(&data[..MAX_PES_PAYLOAD]);
    // The continuation: no timestamps, not data-aligned.
    want.extend_from_slice(&[0, 0, 1, 0xE0, 0, 13, 0x80, 0, 0]);
    want.extend_from_slice(&data[MAX_PES_PAYLOAD..]);
    assert_eq!(out, want);

    // No PSM on a non-keyframe; nothing for an empty frame or a missing track.
    let mut out = Vec::new();
    mux.write_frame(false, SCR, None, false, &[0xD5, 0xD5], true, &mut out);
    assert_eq!(out, [&pack(SCR)[..], &GOLDEN_PES_PTS].concat());
    let mut out = Vec::new();
    mux.write_frame(true, SCR, None, true, &[], true, &mut out);
    Muxer::new(None, Some(StreamType::Aac)).write_frame(true, 0, None, true, &[1], true, &mut out);
    assert!(out.is_empty());
    assert_eq!(mux.encoded_len(true, 0, None, true, 0, true), 0);
}

// ---- fuzz ----

#[test]
fn fuzz_never_panics_and_stays_bounded() {
    let mut rng = XorShift(0x5EED_F022);
    let (stream, _) = sample_stream(&mut rng, 8, 3000);
    let seeds: [&[u8]; 4] = [
        &stream,
        &[
            &GOLDEN_PACK_MPEG1[..],
            &GOLDEN_PACK,
            &GOLDEN_SYSTEM_HEADER,
            &GOLDEN_PSM,
            &GOLDEN_PES_PTS,
            &GOLDEN_PES_PTS_DTS,
        ]
        .concat(),
        &[
            0, 0, 1, 0xBA, 0x44, 0, 4, 0, 4, 1, 0, 0, 7, 0xF8, 0, 0, 1, 0xE0, 0, 0, 0x80, 0, 0,
        ],
        &[
            0, 0, 1, 0xBC, 0, 10, 0xA0, 0xFF, 0xFF, 0xFF, 0, 4, 0x1B, 0xE0, 0xFF, 0xFF,
        ],
    ];
    for iteration in 0..3000 {
        let seed = seeds[rng.below(seeds.len())];
        let mut input = seed.to_vec();
        for _ in 0..rng.below(12) {
            let at = rng.below(input.len());
            match rng.below(6) {
                0 => input[at] = rng.next() as u8,
                1 => input[at] ^= 1 << rng.below(8),
                2 => {
                    let end = (at + rng.below(200)).min(input.len());
                    input.drain(at..end);
                }
                3 => {
                    let len = rng.below(64);
                    let garbage = filler(&mut rng, len);
                    input.splice(at..at, garbage);
                }
                4 => {
                    let id = [0xBA, 0xBC, 0xE0, 0xC0, 0xBE][rng.below(5)];
                    input.splice(at..at, [0, 0, 1, id]);
                }
                _ => {
                    let end = (at + 2).min(input.len());
                    input[at..end].fill(0xFF);
                }
            }
            if input.is_empty() {
                input.push(0);
            }
        }
        let mut d = Demuxer::new();
        let mut rest = &input[..];
        while !rest.is_empty() {
            let n = (1 + rng.below(1500)).min(rest.len());
            d.push(&rest[..n]);
            rest = &rest[n..];
            assert!(
                d.buffered() <= MAX_PENDING + MAX_PES_LEN,
                "iteration {iteration}"
            );
            match rng.below(50) {
                0 => d.reset(),
                1 => d.flush(),
                _ => {}
            }
            while let Some(frame) = d.poll() {
                assert!(frame.data.len() <= MAX_PES_LEN);
                assert!(frame.pts.is_none_or(|p| p <= TIMESTAMP_MASK));
            }
        }
        let _ = d.take_fault();
        let stats = d.stats();
        assert!(
            stats.skipped_bytes <= input.len() as u64,
            "iteration {iteration}"
        );
    }
    // Pure noise, including long zero runs.
    for _ in 0..200 {
        let mut d = Demuxer::new();
        for _ in 0..20 {
            let len = rng.below(5000);
            let chunk: Vec<u8> = if rng.below(4) == 0 {
                vec![0; len]
            } else {
                (0..len).map(|_| rng.next() as u8).collect()
            };
            d.push(&chunk);
            assert!(d.buffered() <= MAX_PENDING + MAX_PES_LEN);
            while d.poll().is_some() {}
        }
    }
}

#[test]
fn bufmut_output_is_accepted() {
    // Any BufMut works; BytesMut with the exact capacity allocates once.
    let mux = Muxer::new(Some(StreamType::H265), None);
    let len = mux.encoded_len(true, 0, None, true, H265_KEY_HEAD.len(), true);
    let mut out = bytes::BytesMut::with_capacity(len);
    mux.clone()
        .write_frame(true, 0, None, true, &H265_KEY_HEAD, true, &mut out);
    assert_eq!(out.len(), len);
    out.put_u8(0);
    let (frames, _) = demux(&out);
    assert_eq!(frames[0].stream_type, StreamType::H265);
}
