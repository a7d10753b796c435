//! Golden bytes, mux → demux round trips, and a fuzz loop on the demuxer.

use super::*;
use crate::testutil::XorShift;

// ---------------------------------------------------------------------------------------
// Helpers

/// Everything a test needs from one transport packet, read independently of the demuxer.
#[derive(Debug)]
struct PacketView {
    pid: u16,
    start: bool,
    cc: u8,
    has_payload: bool,
    /// The adaptation field after its length byte (empty slice if length 0).
    af: Option<Vec<u8>>,
    payload: Vec<u8>,
}

/// Splits `ts` into packets and checks the invariants every packet we write must have.
fn packets(ts: &[u8]) -> Vec<PacketView> {
    assert_eq!(
        ts.len() % PACKET_LEN,
        0,
        "length {} not a multiple of 188",
        ts.len()
    );
    ts.chunks_exact(PACKET_LEN)
        .map(|p| {
            assert_eq!(p[0], 0x47);
            assert_eq!(p[1] & 0x80, 0, "transport_error_indicator");
            assert_eq!(p[3] & 0xC0, 0, "scrambling");
            let afc = (p[3] >> 4) & 3;
            assert!(afc == 1 || afc == 3, "we always carry payload, afc {afc}");
            let (af, payload_at) = if afc == 3 {
                let len = usize::from(p[4]);
                assert!(len <= 182);
                (Some(p[5..5 + len].to_vec()), 5 + len)
            } else {
                (None, 4)
            };
            PacketView {
                pid: u16::from_be_bytes([p[1] & 0x1F, p[2]]),
                start: p[1] & 0x40 != 0,
                cc: p[3] & 0x0F,
                has_payload: afc & 1 != 0,
                af,
                payload: p[payload_at..].to_vec(),
            }
        })
        .collect()
}

/// PCR base (90 kHz) of a packet's adaptation field, if it has one.
fn pcr_base(p: &PacketView) -> Option<u64> {
    let af = p.af.as_ref()?;
    if af.first()? & 0x10 == 0 {
        return None;
    }
    let b = &af[1..7];
    assert_eq!(b[5], 0, "PCR extension");
    assert_eq!(b[4] & 0x7E, 0x7E, "PCR reserved bits");
    Some(
        u64::from(b[0]) << 25
            | u64::from(b[1]) << 17
            | u64::from(b[2]) << 9
            | u64::from(b[3]) << 1
            | u64::from(b[4] >> 7),
    )
}

/// Checks the stuffing rule: every adaptation-field byte after the flags and PCR is 0xFF.
fn assert_stuffing(p: &PacketView) {
    if let Some(af) = &p.af {
        if let Some(&flags) = af.first() {
            assert_eq!(flags & !0x50, 0, "only RAI and PCR flags are written");
            let used = 1 + if flags & 0x10 != 0 { 6 } else { 0 };
            assert!(af[used..].iter().all(|&b| b == 0xFF), "stuffing is 0xFF");
        }
    }
}

/// Checks that each PID's continuity counter steps by one on every packet.
fn assert_continuity(ts: &[u8], last: &mut [Option<u8>; 0x2000]) {
    for p in packets(ts) {
        assert!(p.has_payload);
        let slot = &mut last[usize::from(p.pid)];
        if let Some(prev) = *slot {
            assert_eq!(p.cc, (prev + 1) % 16, "PID {:#x}", p.pid);
        }
        *slot = Some(p.cc);
    }
}

/// Demuxes `ts` completely, requiring it to be clean.
fn demux(ts: &[u8]) -> Vec<Pes> {
    let mut d = Demuxer::new();
    d.push(ts).expect("clean stream");
    d.flush().expect("clean flush");
    assert_eq!(d.stats().cc_errors, 0);
    assert_eq!(d.stats().other_errors, 0);
    std::iter::from_fn(|| d.poll()).collect()
}

fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = XorShift(seed | 1);
    (0..len)
        .map(|i| match i % 97 {
            // Sprinkle sync bytes and start codes through the payload.
            0 => 0x47,
            1 | 2 => 0,
            3 => 1,
            _ => rng.next() as u8,
        })
        .collect()
}

fn av_muxer() -> Muxer {
    Muxer::new(Some(StreamType::H264), Some(StreamType::Aac))
}

// ---------------------------------------------------------------------------------------
// CRC

#[test]
fn crc_vectors() {
    // The CRC-32/MPEG-2 check value from the CRC catalogue.
    assert_eq!(crc32_mpeg2(b"123456789"), 0x0376_E6E7);
    assert_eq!(crc32_mpeg2(b""), 0xFFFF_FFFF);
    // ffmpeg's PAT section (tsid 1, program 1 → PID 0x1000) ends in 2A B1 04 B2.
    let pat = [
        0x00, 0xB0, 0x0D, 0x00, 0x01, 0xC1, 0x00, 0x00, 0x00, 0x01, 0xF0, 0x00,
    ];
    assert_eq!(crc32_mpeg2(&pat), 0x2AB1_04B2);
    // Over a whole section, CRC included, the result is 0 (Annex A).
    let mut whole = pat.to_vec();
    whole.extend_from_slice(&0x2AB1_04B2u32.to_be_bytes());
    assert_eq!(crc32_mpeg2(&whole), 0);
}

// ---------------------------------------------------------------------------------------
// Golden packets

/// Packet header, then section after pointer_field 0, then 0xFF to 188 bytes.
fn psi_packet(header: [u8; 4], section: &[u8]) -> Vec<u8> {
    let mut p = header.to_vec();
    p.push(0x00); // pointer_field
    p.extend_from_slice(section);
    p.resize(PACKET_LEN, 0xFF);
    p
}

const GOLDEN_PAT: [u8; 16] = [
    0x00, // table_id: program_association_section
    0xB0, 0x0D, // section_syntax_indicator 1, '0', '11', section_length 13
    0x00, 0x01, // transport_stream_id 1
    0xC1, // '11', version_number 0, current_next_indicator 1
    0x00, 0x00, // section_number 0, last_section_number 0
    0x00, 0x01, // program_number 1
    0xF0, 0x00, // '111', program_map_PID 0x1000
    0x2A, 0xB1, 0x04, 0xB2, // CRC_32
];

#[test]
fn golden_pat_and_av_pmt() {
    let pmt: [u8; 26] = [
        0x02, // table_id: TS_program_map_section
        0xB0, 0x17, // section_syntax_indicator 1, '0', '11', section_length 23
        0x00, 0x01, // program_number 1
        0xC1, // '11', version 0, current_next 1
        0x00, 0x00, // section_number, last_section_number
        0xE1, 0x00, // '111', PCR_PID 0x100 (video)
        0xF0, 0x00, // '1111', program_info_length 0
        0x1B, 0xE1, 0x00, 0xF0, 0x00, // H.264 on 0x100, ES_info_length 0
        0x0F, 0xE1, 0x01, 0xF0, 0x00, // AAC (ADTS) on 0x101, ES_info_length 0
        0x2F, 0x44, 0xB9, 0x9B, // CRC_32 (the same bytes ffmpeg writes)
    ];
    let mut out = Vec::new();
    let mut mux = av_muxer();
    mux.write_tables(&mut out);
    assert_eq!(out.len(), TABLES_LEN);
    // sync, PUSI + PID 0, payload only + CC 0.
    assert_eq!(
        out[..188],
        psi_packet([0x47, 0x40, 0x00, 0x10], &GOLDEN_PAT)[..]
    );
    // sync, PUSI + PID 0x1000, payload only + CC 0.
    assert_eq!(out[188..], psi_packet([0x47, 0x50, 0x00, 0x10], &pmt)[..]);

    // The second time, only the continuity counters change.
    out.clear();
    mux.write_tables(&mut out);
    assert_eq!(out[3], 0x11);
    assert_eq!(out[188 + 3], 0x11);
    assert_eq!(out[4..188], psi_packet([0; 4], &GOLDEN_PAT)[4..]);
}

#[test]
fn golden_pmt_audio_only_mp3() {
    let pmt: [u8; 21] = [
        0x02, 0xB0, 0x12, // PMT, section_length 18
        0x00, 0x01, 0xC1, 0x00, 0x00, // program 1, version 0 current, section 0/0
        0xE1, 0x01, // PCR_PID 0x101: no video, so the audio PID
        0xF0, 0x00, // program_info_length 0
        0x03, 0xE1, 0x01, 0xF0, 0x00, // MPEG-1 audio on 0x101
        0x8D, 0xFF, 0x34, 0x11, // CRC_32 (computed with a bitwise reference)
    ];
    let mut out = Vec::new();
    let mut mux = Muxer::new(None, Some(StreamType::Mp3));
    mux.write_tables(&mut out);
    assert_eq!(out[188..], psi_packet([0x47, 0x50, 0x00, 0x10], &pmt)[..]);
    assert_eq!(mux.pcr_pid(), AUDIO_PID);
}

#[test]
fn golden_pmt_without_streams_has_no_pcr() {
    let mut out = Vec::new();
    Muxer::new(None, None).write_tables(&mut out);
    // PCR_PID 0x1FFF, section_length 13, no ES loop.
    assert_eq!(
        out[188 + 5..188 + 5 + 12],
        [0x02, 0xB0, 0x0D, 0x00, 0x01, 0xC1, 0x00, 0x00, 0xFF, 0xFF, 0xF0, 0x00]
    );
    let pes = demux(&out);
    assert!(pes.is_empty());
}

#[test]
fn golden_video_pes_with_pts_dts_pcr() {
    // pts 1.48 s, dts 1.40 s (a B-frame reorder of 0.08 s), an AUD as the whole AU.
    let mut out = Vec::new();
    av_muxer().write_video(133_200, 126_000, true, &[0, 0, 0, 1, 0x09, 0xF0], &mut out);
    let mut expected = vec![
        0x47, 0x41, 0x00, // sync, PUSI, PID 0x100
        0x30, // adaptation field + payload, CC 0
        0x9E, // adaptation_field_length 158: 184 - 25 bytes of PES - 1
        0x50, // random_access_indicator, PCR_flag
        0x00, 0x00, 0xF6, 0x18, 0x7E, 0x00, // PCR base 126000 (= dts), reserved, ext 0
    ];
    expected.extend([0xFF; 151]); // stuffing
    expected.extend([
        0x00, 0x00, 0x01, 0xE0, // start code, stream_id video 0
        0x00, 0x00, // PES_packet_length 0: unbounded
        0x84, // '10', data_alignment_indicator
        0xC0, // PTS_DTS_flags '11'
        0x0A, // PES_header_data_length 10
        0x31, 0x00, 0x09, 0x10, 0xA1, // '0011' PTS 133200 with markers
        0x11, 0x00, 0x07, 0xD8, 0x61, // '0001' DTS 126000 with markers
        0x00, 0x00, 0x00, 0x01, 0x09, 0xF0, // the AU
    ]);
    assert_eq!(out, expected);
}

#[test]
fn golden_audio_pes_bounded_no_pcr() {
    let mut out = Vec::new();
    let frame = [0xFF, 0xF1, 0x50, 0x80, 0x01, 0x1F, 0xFC];
    av_muxer().write_audio(126_000, &frame, &mut out);
    let mut expected = vec![
        0x47, 0x41, 0x01, // sync, PUSI, PID 0x101
        0x30, // adaptation field (stuffing only) + payload, CC 0
        0xA2, // adaptation_field_length 162: 184 - 21 - 1
        0x00, // no flags: PCR is on the video PID
    ];
    expected.extend([0xFF; 161]);
    expected.extend([
        0x00, 0x00, 0x01, 0xC0, // start code, stream_id audio 0
        0x00, 0x0F, // PES_packet_length 15 = 3 + 5 + 7
        0x84, 0x80, 0x05, // PTS only, header data 5
        0x21, 0x00, 0x07, 0xD8, 0x61, // '0010' PTS 126000
    ]);
    expected.extend(frame);
    assert_eq!(out, expected);
}

#[test]
fn golden_pts_all_ones_and_wrap() {
    let mut out = Vec::new();
    let mut mux = Muxer::new(Some(StreamType::H265), None);
    // 2^33 - 1: every timestamp bit set; pts == dts so no DTS field.
    mux.write_video(TIMESTAMP_MASK, TIMESTAMP_MASK, false, &[], &mut out);
    let p = &packets(&out)[0];
    assert_eq!(p.payload[7..14], [0x80, 0x05, 0x2F, 0xFF, 0xFF, 0xFF, 0xFF]);
    assert_eq!(pcr_base(p), Some(TIMESTAMP_MASK));
    // pts and dts equal mod 2^33 but not as u64: still no DTS.
    out.clear();
    mux.write_video(5 + (1 << 33), 5, false, &[], &mut out);
    assert_eq!(packets(&out)[0].payload[7], 0x80);
}

// ---------------------------------------------------------------------------------------
// Adaptation field lengths 0 and 1

#[test]
fn adaptation_field_of_one_and_two_bytes() {
    // Audio in an A/V mux has a 14-byte header and no first-packet fields.
    let cases = [
        (183 - 14, Some(vec![])),           // 183 bytes: AF length 0, a single byte
        (182 - 14, Some(vec![0x00])),       // 182 bytes: AF length 1, flags only
        (181 - 14, Some(vec![0x00, 0xFF])), // 181 bytes: flags and one stuffing byte
        (184 - 14, None),                   // exactly one full payload
    ];
    for (len, af) in cases {
        let mut out = Vec::new();
        av_muxer().write_audio(0, &pattern(len, 7), &mut out);
        let ps = packets(&out);
        assert_eq!(ps.len(), 1, "len {len}");
        assert_eq!(ps[0].af, af, "len {len}");
    }
    // The same at the end of a second packet: 184 + 183.
    let mut out = Vec::new();
    av_muxer().write_audio(0, &pattern(184 + 183 - 14, 7), &mut out);
    let ps = packets(&out);
    assert_eq!((ps.len(), ps[0].af.is_none()), (2, true));
    assert_eq!(ps[1].af, Some(vec![]));
    assert_eq!(out[188 + 4], 0x00);
}

// ---------------------------------------------------------------------------------------
// Round trips

#[derive(Debug, Clone, Copy)]
enum Case {
    Video { keyframe: bool, reorder: u64 },
    AvAudio,
    AudioOnly,
}

fn write_case(case: Case, mux: &mut Muxer, pts: u64, data: &[u8], out: &mut Vec<u8>) -> usize {
    match case {
        Case::Video { keyframe, reorder } => {
            let n = mux.video_encoded_len(pts + reorder, pts, keyframe, data.len());
            mux.write_video(pts + reorder, pts, keyframe, data, out);
            n
        }
        Case::AvAudio | Case::AudioOnly => {
            let n = mux.audio_encoded_len(data.len());
            mux.write_audio(pts, data, out);
            n
        }
    }
}

fn round_trip(case: Case, len: usize) {
    let mut mux = match case {
        Case::AudioOnly => Muxer::new(None, Some(StreamType::Aac)),
        _ => av_muxer(),
    };
    let data = pattern(len, len as u64);
    let pts = 90_000 + len as u64;
    let mut out = Vec::new();
    mux.write_tables(&mut out);
    let expected_len = write_case(case, &mut mux, pts, &data, &mut out);
    assert_eq!(out.len() - TABLES_LEN, expected_len, "{case:?} len {len}");
    let views = packets(&out);
    let media = &views[2..];
    assert!(media[0].start && media[1..].iter().all(|p| !p.start));
    for (i, p) in media.iter().enumerate() {
        assert_stuffing(p);
        // An adaptation field only for the first packet's fields or the last one's stuffing.
        assert!(p.af.is_none() || i == 0 || i == media.len() - 1);
    }
    let pes = demux(&out);
    assert_eq!(pes.len(), 1, "{case:?} len {len}");
    let got = &pes[0];
    assert_eq!(got.data, data, "{case:?} len {len}");
    assert_eq!(
        got.pts,
        Some(
            pts + if let Case::Video { reorder, .. } = case {
                reorder
            } else {
                0
            }
        )
    );
    match case {
        Case::Video { keyframe, reorder } => {
            assert_eq!(got.pid, VIDEO_PID);
            assert_eq!(got.stream_type, 0x1B);
            assert_eq!(got.dts, (reorder != 0).then_some(pts));
            assert_eq!(got.random_access, keyframe);
            assert_eq!(got.pcr, Some(pts * 300));
        }
        Case::AvAudio => {
            assert_eq!((got.pid, got.stream_type, got.dts), (AUDIO_PID, 0x0F, None));
            assert_eq!((got.random_access, got.pcr), (false, None));
        }
        Case::AudioOnly => {
            assert_eq!((got.pid, got.dts), (AUDIO_PID, None));
            assert_eq!((got.random_access, got.pcr), (true, Some(pts * 300)));
        }
    }
}

fn boundary_sizes() -> Vec<usize> {
    let mut sizes: Vec<usize> = (0..=800).collect();
    for k in 4..=40 {
        for d in 0..=24 {
            sizes.push(184 * k + d - 12);
        }
    }
    sizes
}

#[test]
fn round_trip_every_size_near_packet_boundaries() {
    let cases = [
        Case::Video {
            keyframe: true,
            reorder: 0,
        },
        Case::Video {
            keyframe: false,
            reorder: 3003,
        },
        Case::Video {
            keyframe: true,
            reorder: 6006,
        },
        Case::AvAudio,
        Case::AudioOnly,
    ];
    for case in cases {
        for &len in &boundary_sizes() {
            round_trip(case, len);
        }
    }
}

#[test]
fn named_sizes_from_the_brief() {
    for len in [0, 1, 183, 184, 365, 366, 367, 368, 551, 552] {
        for case in [Case::AvAudio, Case::AudioOnly] {
            round_trip(case, len);
        }
    }
}

#[test]
fn audio_length_field_limit() {
    // PES_packet_length = 8 + len: 65535 is the largest, then 0 (unbounded).
    for len in [65_526, 65_527, 65_528, 70_000] {
        let mut out = Vec::new();
        av_muxer().write_audio(0, &pattern(len, 3), &mut out);
        let declared = u16::from_be_bytes([out[4 + 4], out[4 + 5]]);
        let has_af = out[3] & 0x20 != 0;
        assert!(!has_af);
        let want = if len + 8 <= 0xFFFF { len as u16 + 8 } else { 0 };
        assert_eq!(declared, want, "len {len}");
        let mut tables = Vec::new();
        av_muxer().write_tables(&mut tables);
        tables.extend_from_slice(&out);
        assert_eq!(demux(&tables)[0].data.len(), len);
    }
}

#[test]
fn no_track_writes_nothing() {
    let mut out = Vec::new();
    let mut mux = Muxer::new(None, Some(StreamType::Aac));
    mux.write_video(0, 0, true, b"abc", &mut out);
    assert!(out.is_empty());
    assert_eq!(mux.video_encoded_len(0, 0, true, 3), 0);
    let mut mux = Muxer::new(Some(StreamType::H264), None);
    mux.write_audio(0, b"abc", &mut out);
    assert!(out.is_empty());
    assert_eq!(mux.audio_encoded_len(3), 0);
    assert_eq!((mux.video(), mux.audio()), (Some(StreamType::H264), None));
}

#[test]
fn writes_into_a_fixed_buffer_of_the_encoded_length() {
    let mux_len = av_muxer().video_encoded_len(1, 0, true, 1000);
    let mut buf = vec![0u8; mux_len];
    let mut slice = &mut buf[..];
    av_muxer().write_video(1, 0, true, &pattern(1000, 1), &mut slice);
    assert!(slice.is_empty());
}

#[test]
fn continuity_across_1000_pes_and_tables() {
    let mut rng = XorShift(0x5EED);
    let mut mux = av_muxer();
    let mut last = [None; 0x2000];
    let mut all = Vec::new();
    let mut expected = Vec::new();
    for i in 0..1000u64 {
        let mut out = Vec::new();
        if i % 25 == 0 {
            mux.write_tables(&mut out);
        }
        let len = rng.below(3000);
        let data = pattern(len, i);
        if i % 3 == 0 {
            mux.write_audio(i * 1920, &data, &mut out);
        } else {
            mux.write_video(i * 3000 + 3000, i * 3000, i % 25 == 0, &data, &mut out);
        }
        assert_continuity(&out, &mut last);
        all.extend_from_slice(&out);
        expected.push(data);
    }
    let pes = demux(&all);
    // Audio PES end at their length, video PES at the next video start (or flush).
    let got_video: Vec<_> = pes.iter().filter(|p| p.pid == VIDEO_PID).collect();
    let got_audio: Vec<_> = pes.iter().filter(|p| p.pid == AUDIO_PID).collect();
    assert_eq!(got_video.len() + got_audio.len(), 1000);
    let (mut v, mut a) = (0, 0);
    for (i, data) in expected.iter().enumerate() {
        if i % 3 == 0 {
            assert_eq!(got_audio[a].data, data[..]);
            a += 1;
        } else {
            assert_eq!(got_video[v].data, data[..]);
            v += 1;
        }
    }
}

#[test]
fn pcr_follows_dts_and_is_monotonic() {
    let mut mux = av_muxer();
    let mut out = Vec::new();
    mux.write_tables(&mut out);
    // B-frame order: dts rises by 3000 while pts jumps around.
    for i in 0..200u64 {
        let dts = (1 << 33) - 100 * 3000 + i * 3000;
        let pts = dts + [6000, 0, 3000][(i % 3) as usize];
        mux.write_video(pts, dts, i % 50 == 0, &pattern(500, i), &mut out);
        mux.write_audio(dts, &pattern(300, i), &mut out);
    }
    let pcrs: Vec<u64> = packets(&out)
        .iter()
        .filter(|p| p.pid == VIDEO_PID && p.start)
        .map(|p| pcr_base(p).expect("PCR on every video PES start"))
        .collect();
    assert_eq!(pcrs.len(), 200);
    // Monotonic up to the 33-bit wrap in the middle, which is exact.
    for w in pcrs.windows(2) {
        assert_eq!((w[0] + 3000) & TIMESTAMP_MASK, w[1]);
    }
    assert_eq!(pcrs[99], TIMESTAMP_MASK - 2999);
    assert_eq!(pcrs[100], 0);
    assert!(packets(&out)
        .iter()
        .filter(|p| p.pid != VIDEO_PID)
        .all(|p| pcr_base(p).is_none()));
    let pes = demux(&out);
    let video: Vec<_> = pes.iter().filter(|p| p.pid == VIDEO_PID).collect();
    // i = 100: dts 0 after the wrap, and pts == dts, so no DTS field.
    assert_eq!(
        (video[100].pts, video[100].dts, video[100].pcr),
        (Some(0), None, Some(0))
    );
}

#[test]
fn pts_wraps_mod_2_pow_33() {
    let mut mux = av_muxer();
    let mut out = Vec::new();
    mux.write_tables(&mut out);
    mux.write_video((1 << 33) + 100, (1 << 33) + 10, true, b"x", &mut out);
    mux.write_audio((3 << 33) + 7, b"y", &mut out);
    let pes = demux(&out);
    assert_eq!((pes[0].pts, pes[0].dts), (Some(7), None));
    assert_eq!(
        (pes[1].pts, pes[1].dts, pes[1].pcr),
        (Some(100), Some(10), Some(3000))
    );
}

// ---------------------------------------------------------------------------------------
// Demuxer

/// A small clean stream: tables, a keyframe, audio, two more frames, tables again.
fn sample_stream() -> Vec<u8> {
    let mut mux = av_muxer();
    let mut out = Vec::new();
    mux.write_tables(&mut out);
    mux.write_video(3000, 0, true, &pattern(400, 1), &mut out);
    mux.write_audio(0, &pattern(170, 2), &mut out);
    mux.write_video(9000, 3000, false, &pattern(20, 3), &mut out);
    mux.write_tables(&mut out);
    mux.write_video(6000, 6000, false, &pattern(185, 4), &mut out);
    mux.write_audio(1920, &pattern(600, 5), &mut out);
    out
}

fn drain(d: &mut Demuxer) -> Vec<Pes> {
    std::iter::from_fn(|| d.poll()).collect()
}

#[test]
fn demuxer_reads_the_program() {
    let ts = sample_stream();
    let mut d = Demuxer::new();
    d.push(&ts).unwrap();
    assert_eq!(d.pmt_pid(), Some(PMT_PID));
    assert_eq!(d.pcr_pid(), Some(VIDEO_PID));
    assert_eq!(
        d.streams().collect::<Vec<_>>(),
        [(VIDEO_PID, 0x1B), (AUDIO_PID, 0x0F)]
    );
    // The last video PES waits for flush.
    assert_eq!(drain(&mut d).len(), 4);
    d.flush().unwrap();
    let last = drain(&mut d);
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].data, pattern(185, 4));
    assert_eq!(d.stats().pes, 5);
    assert_eq!(d.stats().packets, ts.len() as u64 / 188);
}

#[test]
fn demuxer_input_cut_at_every_byte() {
    let ts = sample_stream();
    let whole = demux(&ts);
    for cut in 0..=ts.len() {
        let mut d = Demuxer::new();
        d.push(&ts[..cut]).unwrap();
        d.push(&ts[cut..]).unwrap();
        d.flush().unwrap();
        assert_eq!(drain(&mut d), whole, "cut at {cut}");
    }
    let mut d = Demuxer::new();
    for b in &ts {
        d.push(std::slice::from_ref(b)).unwrap();
    }
    d.flush().unwrap();
    assert_eq!(drain(&mut d), whole);
}

#[test]
fn demuxer_resyncs_after_garbage() {
    let ts = sample_stream();
    let mut input = vec![0x00, 0x47, 0x12, 0x47, 0x99];
    input.extend_from_slice(&ts[..188 * 3]);
    input.extend_from_slice(&[0x47; 7]); // a torn packet of sync bytes
    input.extend_from_slice(&ts[188 * 3..]);
    let mut d = Demuxer::new();
    let err = d.push(&input).unwrap_err();
    assert_eq!(err.offset, 0);
    assert!(matches!(err.kind, TsErrorKind::SyncLost { .. }));
    d.flush().unwrap();
    assert_eq!(d.stats().sync_losses, 2);
    assert_eq!(d.stats().skipped_bytes, 5 + 7);
    assert_eq!(drain(&mut d), demux(&ts));
    assert_eq!(d.cc_errors(), 0);
}

#[test]
fn demuxer_counts_a_lost_packet_and_drops_that_pes() {
    let ts = sample_stream();
    // Packets: PAT, PMT, video (3), audio (1), video (1), ... drop the second video packet.
    let mut lossy = ts[..188 * 3].to_vec();
    lossy.extend_from_slice(&ts[188 * 4..]);
    let mut d = Demuxer::new();
    let err = d.push(&lossy).unwrap_err();
    assert_eq!(err.offset, 188 * 3);
    assert_eq!(
        err.kind,
        TsErrorKind::Continuity {
            pid: VIDEO_PID,
            expected: 1,
            got: 2
        }
    );
    d.flush().unwrap();
    assert_eq!(d.cc_errors(), 1);
    let mut expected = demux(&ts);
    // In completion order: A1, V1, V2, A2, V3. V1 is the one lost.
    assert_eq!(expected.remove(1).data, pattern(400, 1));
    assert_eq!(drain(&mut d), expected);
}

#[test]
fn demuxer_ignores_a_duplicate_packet() {
    let ts = sample_stream();
    let mut dup = ts[..188 * 4].to_vec();
    dup.extend_from_slice(&ts[188 * 3..]);
    let mut d = Demuxer::new();
    d.push(&dup).unwrap();
    d.flush().unwrap();
    assert_eq!(drain(&mut d), demux(&ts));
}

#[test]
fn demuxer_rejects_a_bad_crc_and_learns_nothing() {
    let mut ts = sample_stream();
    ts[188 + 5 + 25] ^= 0x01; // last CRC byte of the first PMT
    let mut d = Demuxer::new();
    let err = d.push(&ts[..188 * 4]).unwrap_err();
    assert_eq!(err.kind, TsErrorKind::Crc { pid: PMT_PID });
    assert_eq!(d.stats().crc_errors, 1);
    assert_eq!(d.streams().count(), 0);
    // The second PMT is good: from there on, PES come out (the first whole one is the
    // video PES that starts after it).
    d.push(&ts[188 * 4..]).unwrap();
    d.flush().unwrap();
    let got = drain(&mut d);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].data, pattern(600, 5));
    assert_eq!(got[1].data, pattern(185, 4));
}

#[test]
fn demuxer_flags_transport_errors_and_scrambling() {
    let ts = sample_stream();
    let mut bad = ts.clone();
    bad[188 * 2 + 1] |= 0x80; // TEI on the first video packet
    let mut d = Demuxer::new();
    let err = d.push(&bad).unwrap_err();
    assert_eq!(err.kind, TsErrorKind::TransportError { pid: VIDEO_PID });
    let mut bad = ts.clone();
    bad[188 * 5 + 3] |= 0x80; // scrambled audio packet
    let mut d = Demuxer::new();
    let err = d.push(&bad).unwrap_err();
    assert_eq!(
        err.kind,
        TsErrorKind::Packet {
            pid: AUDIO_PID,
            reason: "scrambled"
        }
    );
    assert_eq!(
        err.to_string(),
        "MPEG-TS at byte 940: PID 0x0101: scrambled"
    );
}

/// A long-form section with a correct CRC.
fn section(table_id: u8, extension: u16, body: &[u8]) -> Vec<u8> {
    let len = 5 + body.len() + 4;
    let mut s = vec![table_id, 0xB0 | (len >> 8) as u8, len as u8];
    s.extend_from_slice(&extension.to_be_bytes());
    s.extend_from_slice(&[0xC1, 0, 0]);
    s.extend_from_slice(body);
    let crc = crc32_mpeg2(&s);
    s.extend_from_slice(&crc.to_be_bytes());
    s
}

/// Packets carrying `section` on `pid` from CC `cc`, the first with pointer_field 0.
fn section_packets(pid: u16, mut cc: u8, section: &[u8]) -> Vec<u8> {
    let mut payload = vec![0];
    payload.extend_from_slice(section);
    let mut out = Vec::new();
    for (i, chunk) in payload.chunks(184).enumerate() {
        let pusi = if i == 0 { 0x40 } else { 0 };
        out.extend_from_slice(&[0x47, pusi | (pid >> 8) as u8, pid as u8, 0x10 | cc]);
        out.extend_from_slice(chunk);
        out.resize(out.len() + 184 - chunk.len(), 0xFF);
        cc = (cc + 1) % 16;
    }
    out
}

#[test]
fn demuxer_reads_a_pmt_across_packets_with_descriptors() {
    let mut body = vec![0xE1, 0x00, 0xF0, 0x06, 0x0E, 0x04, 1, 2, 3, 4]; // program descriptor
    for i in 0..3u16 {
        // Each stream with a 60-byte descriptor loop.
        body.extend_from_slice(&[0x1B, 0xE1, i as u8, 0xF0, 60]);
        body.extend([0x05; 60]);
    }
    let pmt = section(0x02, 1, &body);
    assert!(pmt.len() > 184);
    let mut ts = section_packets(0, 0, &section(0x00, 1, &[0, 1, 0xF0, 0x00]));
    ts.extend(section_packets(PMT_PID, 0, &pmt));
    let mut d = Demuxer::new();
    d.push(&ts).unwrap();
    assert_eq!(
        d.streams().collect::<Vec<_>>(),
        [(0x100, 0x1B), (0x101, 0x1B), (0x102, 0x1B)]
    );
}

#[test]
fn demuxer_caps_streams_per_pmt() {
    let mut body = vec![0xE1, 0x00, 0xF0, 0x00];
    for i in 0..12u16 {
        body.extend_from_slice(&[0x0F, 0xE2, i as u8, 0xF0, 0x00]);
    }
    let mut ts = section_packets(0, 0, &section(0x00, 1, &[0, 1, 0xF0, 0x00]));
    ts.extend(section_packets(PMT_PID, 0, &section(0x02, 1, &body)));
    let mut d = Demuxer::new();
    let err = d.push(&ts).unwrap_err();
    assert_eq!(err.kind, TsErrorKind::TooManyStreams { dropped: 4 });
    assert_eq!(d.streams().count(), MAX_STREAMS);
}

#[test]
fn demuxer_drops_an_oversized_pes() {
    let mut mux = av_muxer();
    let mut ts = Vec::new();
    mux.write_tables(&mut ts);
    mux.write_video(0, 0, true, &vec![7; MAX_PES_SIZE], &mut ts);
    mux.write_video(3000, 3000, false, b"next", &mut ts);
    let mut d = Demuxer::new();
    let err = d.push(&ts).unwrap_err();
    assert_eq!(err.kind, TsErrorKind::PesTooLarge { pid: VIDEO_PID });
    d.flush().unwrap();
    let got = drain(&mut d);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].data, b"next"[..]);
}

// ---------------------------------------------------------------------------------------
// Fuzz

#[test]
fn demuxer_fuzz_does_not_panic() {
    let mut rng = XorShift(0xF00D_CAFE);
    let clean = sample_stream();
    for iteration in 0..3000 {
        let mut input = if iteration % 4 == 0 {
            // Random bytes with sync bytes where packets would start.
            let len = rng.below(188 * 12);
            let mut v: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            for i in (0..len).step_by(188) {
                v[i] = 0x47;
            }
            v
        } else {
            clean.clone()
        };
        // Mutations: flipped bits, overwritten bytes, deletions, insertions.
        for _ in 0..rng.below(12) {
            if input.is_empty() {
                break;
            }
            let at = rng.below(input.len());
            match rng.below(4) {
                0 => input[at] ^= 1 << rng.below(8),
                1 => input[at] = rng.next() as u8,
                2 => {
                    input.remove(at);
                }
                _ => input.insert(at, rng.next() as u8),
            }
        }
        let mut d = Demuxer::new();
        let mut rest = &input[..];
        while !rest.is_empty() {
            let n = 1 + rng.below(400).min(rest.len() - 1);
            let (now, later) = rest.split_at(n);
            let _ = d.push(now);
            rest = later;
            while let Some(p) = d.poll() {
                assert!(p.data.len() <= MAX_PES_SIZE);
            }
        }
        let _ = d.flush();
        assert!(d.streams().count() <= MAX_STREAMS);
        assert!(d.stats().packets <= input.len() as u64 / 188 + 1);
    }
}

/// The header helpers read and rewrite PID and continuity_counter of our own PAT, and leave
/// everything else (flags, the section and its CRC) as the muxer wrote it.
#[test]
fn packet_header_helpers_restamp_the_continuity_counter_only() {
    let mut m = av_muxer();
    let mut ts = Vec::new();
    for _ in 0..3 {
        ts.clear();
        m.write_tables(&mut ts);
    }
    let (pat, pmt) = ts.split_at_mut(PACKET_LEN);
    assert_eq!(packet_pid(pat), Some(PAT_PID));
    assert_eq!(packet_pid(pmt), Some(PMT_PID));
    assert_eq!(continuity_counter(pat), Some(2));
    let before = pat.to_vec();
    set_continuity_counter(pat, 0x1F);
    assert_eq!(continuity_counter(pat), Some(0x0F));
    assert_eq!(pat[3], before[3] | 0x0F);
    assert_eq!((&pat[..3], &pat[4..]), (&before[..3], &before[4..]));
    let mut d = Demuxer::new();
    d.push(pat).unwrap();
    assert_eq!(
        d.pmt_pid(),
        Some(PMT_PID),
        "the section still reads, CRC and all"
    );
    // Not a packet: nothing read, nothing written.
    for bad in [&[0x47, 0x40][..], &[0x46, 0x40, 0, 0x10][..], &[][..]] {
        assert_eq!((packet_pid(bad), continuity_counter(bad)), (None, None));
        let mut copy = bad.to_vec();
        set_continuity_counter(&mut copy, 5);
        assert_eq!(copy, bad);
    }
}
