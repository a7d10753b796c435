//! An H.265 stream passes through to a player byte-for-byte in the frame payloads, both as
//! legacy FLV codec id 12 (the Chinese-CDN extension) and as Enhanced RTMP `hvc1`.
//!
//! Debian's ffmpeg 5.1 cannot put HEVC into FLV, so ffmpeg (libx265) only makes an elementary
//! stream; our client publishes it (decoder configuration record + length-prefixed access
//! units), our client plays it, and ffprobe decodes what the player received, written back as
//! Annex B.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::client::{Client, MediaKind};
use common::{ffprobe, require, Proc, Server, TempDir};
use tinysrs::wire::codec::annexb;
use tinysrs::wire::flv;

/// Frames of the test clip: 2 s at 25 fps.
const FRAMES: usize = 50;
/// Keyframe interval of the clip: five GOPs, so a late joiner has something to skip.
const KEYINT: usize = 10;
/// Frames sent before the late player joins (three GOPs and a bit).
const LATE_JOIN_AFTER: usize = 33;
const FRAME_MS: u32 = 40;

/// HEVC NAL unit types (ITU-T H.265 Table 7-1).
const NAL_BLA_W_LP: u8 = 16;
const NAL_RSV_IRAP_23: u8 = 23;
const NAL_VPS: u8 = 32;
const NAL_SPS: u8 = 33;
const NAL_PPS: u8 = 34;
const NAL_AUD: u8 = 35;
const NAL_PREFIX_SEI: u8 = 39;
const NAL_VCL_MAX: u8 = 31;

/// Legacy FLV VideoTagHeader: CodecID 12 (HEVC), AVCPacketType 0 (sequence header) / 1 (NALUs).
const LEGACY_HEVC: u8 = 12;
/// Enhanced RTMP: IsExHeader bit, VideoPacketType SequenceStart / CodedFrames / CodedFramesX.
const EX_HEADER: u8 = 0x80;
const SEQUENCE_START: u8 = 0;
const CODED_FRAMES: u8 = 1;
const CODED_FRAMES_X: u8 = 3;
const FRAME_KEY: u8 = 1;
const FRAME_INTER: u8 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Packaging {
    /// FrameType|CodecID 12, AVCPacketType, SI24 CompositionTime.
    Legacy,
    /// ExHeader|FrameType|PacketType, FourCC "hvc1" (CodedFrames with CTS for keyframes,
    /// CodedFramesX for the others, so both packet types are covered).
    Enhanced,
}

#[test]
fn hevc_legacy_codec_id_12_passes_through_byte_for_byte() {
    pass_through(Packaging::Legacy);
}

#[test]
fn hevc_enhanced_rtmp_hvc1_passes_through_byte_for_byte() {
    pass_through(Packaging::Enhanced);
}

fn pass_through(packaging: Packaging) {
    let dir = TempDir::new("h265");
    let clip = Clip::encode(&dir);
    assert_eq!(
        clip.access_units.len(),
        FRAMES,
        "x265 made {FRAMES} pictures"
    );
    let header = sequence_header(packaging, &clip.config_record);
    let frames: Vec<Vec<u8>> = clip
        .access_units
        .iter()
        .map(|au| frame_body(packaging, au))
        .collect();

    let server = Server::start("");
    let addr = server.addr.to_string();
    let stream = format!("hevc-{packaging:?}");

    // The first player is attached before anything is published.
    let mut player = Client::connect(&addr, "live").unwrap();
    player.create_stream().unwrap();
    assert_eq!(player.play(&stream).unwrap(), "NetStream.Play.Start");

    let mut publisher = Client::connect(&addr, "live").unwrap();
    publisher.create_stream().unwrap();
    assert_eq!(
        publisher.publish(&stream).unwrap(),
        "NetStream.Publish.Start"
    );
    publisher
        .send_metadata(vec![
            ("width", 160.0.into()),
            ("height", 120.0.into()),
            ("framerate", 25.0.into()),
            ("videocodecid", 12.0.into()),
        ])
        .unwrap();
    publisher.send_video(0, &header).unwrap();
    // About four times real time: the server does not pace, the player keeps up.
    for (i, body) in frames.iter().enumerate().take(LATE_JOIN_AFTER) {
        publisher.send_video(i as u32 * FRAME_MS, body).unwrap();
        std::thread::sleep(Duration::from_millis(10));
    }

    // Wait until the server has fanned out those frames, so the late joiner's start is known.
    let mut received = recv_video(&mut player, 1 + LATE_JOIN_AFTER);

    let mut late = Client::connect(&addr, "live").unwrap();
    late.create_stream().unwrap();
    assert_eq!(late.play(&stream).unwrap(), "NetStream.Play.Start");

    for (i, body) in frames.iter().enumerate().skip(LATE_JOIN_AFTER) {
        publisher.send_video(i as u32 * FRAME_MS, body).unwrap();
        std::thread::sleep(Duration::from_millis(10));
    }
    received.extend(recv_video(&mut player, FRAMES - LATE_JOIN_AFTER));

    // Sequence header first, then every access unit in order, byte for byte.
    assert_eq!(received[0].1, header, "the sequence header arrives first");
    assert_eq!(received.len(), 1 + FRAMES);
    for (i, ((_, got), sent)) in received[1..].iter().zip(&frames).enumerate() {
        assert!(
            got[..] == sent[..],
            "frame {i} differs: sent {} bytes, got {}",
            sent.len(),
            got.len()
        );
    }
    let timestamps: Vec<u32> = received[1..].iter().map(|(ts, _)| *ts).collect();
    assert!(
        timestamps.windows(2).all(|w| w[0] < w[1]),
        "timestamps increase: {timestamps:?}"
    );

    // The late joiner: sequence header, then the cached GOP from its keyframe, then live.
    let gop_start = (0..LATE_JOIN_AFTER)
        .rev()
        .find(|&i| clip.access_units[i].keyframe)
        .unwrap();
    assert!(gop_start > 0, "the late joiner must skip at least one GOP");
    println!(
        "{packaging:?}: {} access units ({} keyframes), {} bytes sent; late joiner starts at {gop_start}",
        frames.len(),
        clip.access_units.iter().filter(|au| au.keyframe).count(),
        frames.iter().map(Vec::len).sum::<usize>(),
    );
    let late_received = recv_video(&mut late, 1 + FRAMES - gop_start);
    assert_eq!(
        late_received[0].1, header,
        "late joiner: sequence header first"
    );
    let first = flv::parse_video(&late_received[1].1).unwrap();
    assert!(
        first.keyframe && !first.sequence_header,
        "late joiner: then a keyframe"
    );
    for (i, (_, got)) in late_received[1..].iter().enumerate() {
        assert!(
            got[..] == frames[gop_start + i][..],
            "late joiner frame {} differs",
            gop_start + i
        );
    }

    // What the players received decodes as HEVC, every picture, without errors.
    for (name, got, pictures) in [
        ("player", &received, FRAMES),
        ("late", &late_received, FRAMES - gop_start),
    ] {
        let path = dir.path(&format!("{name}.hevc"));
        std::fs::write(&path, to_annexb(got)).unwrap();
        let probe = ffprobe(&dir, path.to_str().unwrap(), Duration::from_secs(30));
        println!("{packaging:?} {name}: ffprobe {probe:?}");
        assert!(probe.success, "{name}: ffprobe failed: {}", probe.errors);
        assert_eq!(probe.codecs, vec!["hevc"], "{name}");
        assert_eq!(probe.video_frames, pictures, "{name}: decoded pictures");
        assert!(
            probe.errors.trim().is_empty(),
            "{name}: decode errors:\n{}",
            probe.errors
        );
        assert_eq!(
            probe.first_video.as_ref().map(|f| f.0),
            Some(true),
            "{name}"
        );
    }
}

/// Receives `n` video messages (timestamp, FLV tag body), skipping everything else.
fn recv_video(client: &mut Client, n: usize) -> Vec<(u32, Bytes)> {
    let end = Instant::now() + Duration::from_secs(15);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let left = end.saturating_duration_since(Instant::now());
        match client.recv_media(left) {
            Ok((MediaKind::Video, ts, body)) => out.push((ts, body)),
            Ok(_) => {}
            Err(e) => panic!("got {} of {n} video messages: {e}", out.len()),
        }
    }
    out
}

/// The HEVC test clip as ffmpeg/x265 made it, cut into access units.
struct Clip {
    config_record: Vec<u8>,
    access_units: Vec<AccessUnit>,
}

struct AccessUnit {
    /// NAL units without start codes; parameter sets and AUDs left out (they live in the
    /// configuration record, as `hvc1` requires).
    nals: Vec<Vec<u8>>,
    /// Holds an IRAP picture (NAL types 16..=23).
    keyframe: bool,
}

impl Clip {
    fn encode(dir: &TempDir) -> Clip {
        require("ffmpeg");
        let path: PathBuf = dir.path("clip.hevc");
        let mut ffmpeg = Proc::spawn(
            Command::new("ffmpeg")
                .args(["-hide_banner", "-nostats", "-loglevel", "error"])
                .args([
                    "-f",
                    "lavfi",
                    "-i",
                    "testsrc=size=160x120:rate=25",
                    "-t",
                    "2",
                ])
                .args(["-pix_fmt", "yuv420p", "-c:v", "libx265"])
                // No B-frames: decode order is display order, so CompositionTime 0 is exact.
                .args(["-x265-params"])
                .arg(format!("keyint={KEYINT}:bframes=0:log-level=error"))
                .args(["-f", "hevc", "-y"])
                .arg(&path)
                .stdout(Stdio::null()),
            &dir.path("ffmpeg-x265.err"),
        );
        let status = ffmpeg.wait(Duration::from_secs(60));
        assert!(status.success(), "ffmpeg x265: {}", ffmpeg.stderr());
        let data = std::fs::read(&path).unwrap();
        let nals: Vec<&[u8]> = annexb::split(&data).collect();
        let find = |t: u8| {
            nals.iter()
                .find(|n| nal_type(n) == t)
                .unwrap_or_else(|| panic!("no NAL of type {t} in the clip"))
                .to_vec()
        };
        let config_record = hvcc(&find(NAL_VPS), &find(NAL_SPS), &find(NAL_PPS));
        let access_units = access_units(&nals)
            .into_iter()
            .map(|au| AccessUnit {
                keyframe: au
                    .iter()
                    .any(|n| (NAL_BLA_W_LP..=NAL_RSV_IRAP_23).contains(&nal_type(n))),
                nals: au
                    .into_iter()
                    .filter(|n| !(NAL_VPS..=NAL_AUD).contains(&nal_type(n)))
                    .map(<[u8]>::to_vec)
                    .collect(),
            })
            .collect();
        Clip {
            config_record,
            access_units,
        }
    }
}

fn nal_type(nal: &[u8]) -> u8 {
    (nal[0] >> 1) & 0x3f
}

/// Groups NAL units into access units (H.265 §7.4.2.4.4): a new one starts at a VCL NAL with
/// first_slice_segment_in_pic_flag set, or at an AUD, VPS, SPS, PPS or prefix SEI that
/// precedes such a NAL, once the current unit holds a picture.
fn access_units<'a>(nals: &[&'a [u8]]) -> Vec<Vec<&'a [u8]>> {
    let mut units: Vec<Vec<&[u8]>> = Vec::new();
    let mut current: Vec<&[u8]> = Vec::new();
    let mut has_picture = false;
    for &nal in nals {
        let t = nal_type(nal);
        let starts_unit = if t <= NAL_VCL_MAX {
            nal.len() > 2 && nal[2] & 0x80 != 0
        } else {
            matches!(t, NAL_VPS..=NAL_AUD | NAL_PREFIX_SEI | 41..=44 | 48..=55)
        };
        if starts_unit && has_picture {
            units.push(std::mem::take(&mut current));
            has_picture = false;
        }
        has_picture |= t <= NAL_VCL_MAX;
        current.push(nal);
    }
    if has_picture {
        units.push(current);
    }
    units
}

/// The RBSP of a NAL unit payload: emulation prevention bytes (00 00 03) removed (§7.4.2).
fn unescape(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len());
    let mut zeros = 0;
    for &b in payload {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// Reads the bits of an RBSP, MSB first.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn bit(&mut self) -> u32 {
        let byte = self.data[self.pos / 8];
        self.pos += 1;
        u32::from(byte >> (7 - (self.pos - 1) % 8) & 1)
    }

    fn bits(&mut self, n: usize) -> u32 {
        (0..n).fold(0, |v, _| v << 1 | self.bit())
    }

    /// ue(v), §9.2.
    fn ue(&mut self) -> u32 {
        let mut zeros = 0;
        while self.bit() == 0 {
            zeros += 1;
        }
        (1 << zeros) - 1 + self.bits(zeros)
    }
}

/// HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 §8.3.3.1) with one VPS, SPS and PPS.
/// Profile, tier, level and constraint flags are copied from the SPS's profile_tier_level;
/// chroma format and bit depths are read from the SPS (§7.3.2.2).
fn hvcc(vps: &[u8], sps: &[u8], pps: &[u8]) -> Vec<u8> {
    let rbsp = unescape(&sps[2..]);
    // sps_video_parameter_set_id u(4), sps_max_sub_layers_minus1 u(3), temporal_id_nesting u(1)
    let max_sub_layers_minus1 = (rbsp[0] >> 1) & 0x07;
    let temporal_id_nested = rbsp[0] & 1;
    assert_eq!(
        max_sub_layers_minus1, 0,
        "one temporal layer (x265's default)"
    );
    // profile_tier_level(1, 0) (§7.3.3) is then 12 bytes: profile space/tier/idc, 32
    // compatibility flags, 48 constraint flags, general_level_idc.
    let profile_tier_level = &rbsp[1..13];
    let mut bits = Bits {
        data: &rbsp,
        pos: 13 * 8,
    };
    let _sps_id = bits.ue();
    let chroma_format_idc = bits.ue();
    if chroma_format_idc == 3 {
        let _separate_colour_plane = bits.bit();
    }
    let _width = bits.ue();
    let _height = bits.ue();
    if bits.bit() == 1 {
        // conformance window offsets
        for _ in 0..4 {
            bits.ue();
        }
    }
    let bit_depth_luma_minus8 = bits.ue();
    let bit_depth_chroma_minus8 = bits.ue();

    let mut out = vec![1]; // configurationVersion
    out.extend_from_slice(profile_tier_level);
    out.extend_from_slice(&[0xF0, 0x00]); // reserved 1111, min_spatial_segmentation_idc 0
    out.push(0xFC); // reserved 111111, parallelismType 0 (unknown)
    out.push(0xFC | chroma_format_idc as u8);
    out.push(0xF8 | bit_depth_luma_minus8 as u8);
    out.push(0xF8 | bit_depth_chroma_minus8 as u8);
    out.extend_from_slice(&[0, 0]); // avgFrameRate unspecified
                                    // constantFrameRate 0, numTemporalLayers, temporalIdNested, lengthSizeMinusOne 3
    out.push(((max_sub_layers_minus1 + 1) << 3) | (temporal_id_nested << 2) | 3);
    out.push(3); // numOfArrays
    for (t, nal) in [(NAL_VPS, vps), (NAL_SPS, sps), (NAL_PPS, pps)] {
        out.push(0x80 | t); // array_completeness 1, NAL_unit_type
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&(nal.len() as u16).to_be_bytes());
        out.extend_from_slice(nal);
    }
    out
}

/// The NAL units of a configuration record, in array order.
fn hvcc_nals(record: &[u8]) -> Vec<&[u8]> {
    let mut nals = Vec::new();
    let arrays = record[22];
    let mut pos = 23;
    for _ in 0..arrays {
        let count = u16::from_be_bytes([record[pos + 1], record[pos + 2]]);
        pos += 3;
        for _ in 0..count {
            let len = usize::from(u16::from_be_bytes([record[pos], record[pos + 1]]));
            nals.push(&record[pos + 2..pos + 2 + len]);
            pos += 2 + len;
        }
    }
    nals
}

fn sequence_header(packaging: Packaging, record: &[u8]) -> Vec<u8> {
    let mut body = match packaging {
        Packaging::Legacy => vec![FRAME_KEY << 4 | LEGACY_HEVC, 0, 0, 0, 0],
        Packaging::Enhanced => {
            let mut b = vec![EX_HEADER | FRAME_KEY << 4 | SEQUENCE_START];
            b.extend_from_slice(b"hvc1");
            b
        }
    };
    body.extend_from_slice(record);
    body
}

fn frame_body(packaging: Packaging, au: &AccessUnit) -> Vec<u8> {
    let frame_type = if au.keyframe { FRAME_KEY } else { FRAME_INTER };
    let mut body = match packaging {
        // AVCPacketType 1 (NALUs), CompositionTime 0.
        Packaging::Legacy => vec![frame_type << 4 | LEGACY_HEVC, 1, 0, 0, 0],
        Packaging::Enhanced => {
            let packet_type = if au.keyframe {
                CODED_FRAMES
            } else {
                CODED_FRAMES_X
            };
            let mut b = vec![EX_HEADER | frame_type << 4 | packet_type];
            b.extend_from_slice(b"hvc1");
            if packet_type == CODED_FRAMES {
                b.extend_from_slice(&[0, 0, 0]); // SI24 CompositionTime
            }
            b
        }
    };
    for nal in &au.nals {
        body.extend_from_slice(&(nal.len() as u32).to_be_bytes());
        body.extend_from_slice(nal);
    }
    body
}

/// What a player received, as an Annex B stream: the configuration record's parameter sets,
/// then each frame's length-prefixed NAL units behind start codes.
fn to_annexb(received: &[(u32, Bytes)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (_, body) in received {
        let tag = flv::parse_video(body).unwrap();
        assert_eq!(tag.codec, flv::VideoCodec::Hevc);
        let payload = &body[tag.payload_offset..];
        let nals = if tag.sequence_header {
            hvcc_nals(payload)
        } else {
            let mut nals = Vec::new();
            let mut rest = payload;
            while let Some((len, tail)) = rest.split_first_chunk::<4>() {
                let len = u32::from_be_bytes(*len) as usize;
                nals.push(&tail[..len]);
                rest = &tail[len..];
            }
            nals
        };
        for nal in nals {
            out.extend_from_slice(&[0, 0, 0, 1]);
            out.extend_from_slice(nal);
        }
    }
    out
}
