//! Checks against the real ffmpeg and ffprobe (Debian's ffmpeg 5.1 in CI). Each test returns
//! early, with a note on stderr, when the tools are not installed.

use std::path::Path;
use std::process::Command;

use super::*;
use crate::testutil::{ffmpeg, have_tools, TempDir};

/// Decodes every stream of `path` and requires no message at all (continuity, timestamps,
/// decoding).
fn assert_decodes_cleanly(path: &Path) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .expect("run ffmpeg");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.is_empty(),
        "decode: {stderr}"
    );
}

/// One line of `ffprobe -show_packets`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ProbedPacket {
    codec_type: String,
    pts: String,
    dts: String,
    keyframe: bool,
}

/// `ffprobe -v error -show_packets`, requiring empty stderr.
fn probe_packets(path: &Path) -> Vec<ProbedPacket> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_packets", "-of", "compact=p=0"])
        .arg(path)
        .output()
        .expect("run ffprobe");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.is_empty(),
        "ffprobe: {stderr}"
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        // Side data ends a packet's line with an empty one.
        .filter(|line| !line.is_empty())
        .map(|line| {
            let field = |key: &str| {
                line.split('|')
                    .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
                    .unwrap_or_default()
                    .to_string()
            };
            ProbedPacket {
                codec_type: field("codec_type"),
                pts: field("pts"),
                dts: field("dts"),
                keyframe: field("flags").starts_with('K'),
            }
        })
        .collect()
}

fn count(packets: &[ProbedPacket], codec_type: &str) -> usize {
    packets
        .iter()
        .filter(|p| p.codec_type == codec_type)
        .count()
}

/// Splits an Annex B stream into access units, each starting at an access unit delimiter.
fn access_units(stream: &[u8], is_aud: impl Fn(u8) -> bool) -> Vec<&[u8]> {
    // Start of every NAL unit's start code (3- or 4-byte form) and its first header byte.
    let mut nals = Vec::new();
    let mut i = 0;
    while i + 3 < stream.len() {
        if stream[i..i + 3] == [0, 0, 1] {
            let code_at = if i > 0 && stream[i - 1] == 0 {
                i - 1
            } else {
                i
            };
            nals.push((code_at, stream[i + 3]));
            i += 3;
        } else {
            i += 1;
        }
    }
    let starts: Vec<usize> = nals
        .iter()
        .filter(|&&(_, header)| is_aud(header))
        .map(|&(at, _)| at)
        .collect();
    assert_eq!(starts.first(), Some(&0), "stream starts with an AUD");
    starts
        .iter()
        .enumerate()
        .map(|(k, &at)| &stream[at..starts.get(k + 1).copied().unwrap_or(stream.len())])
        .collect()
}

/// NAL header bytes of an access unit.
fn nal_headers(au: &[u8]) -> impl Iterator<Item = u8> + '_ {
    au.windows(4).filter(|w| w[..3] == [0, 0, 1]).map(|w| w[3])
}

/// Splits ADTS (ISO/IEC 13818-7, 6.2: frame_length is 13 bits from bit 30).
fn adts_frames(mut stream: &[u8]) -> Vec<&[u8]> {
    let mut frames = Vec::new();
    while !stream.is_empty() {
        assert!(stream.len() >= 7 && stream[0] == 0xFF && stream[1] & 0xF0 == 0xF0);
        let len = usize::from(stream[3] & 0x03) << 11
            | usize::from(stream[4]) << 3
            | usize::from(stream[5] >> 5);
        let (frame, rest) = stream.split_at(len);
        frames.push(frame);
        stream = rest;
    }
    frames
}

/// Splits MPEG-1 Layer III frames at 44.1 kHz (ISO/IEC 11172-3, 2.4.2.3 and 2.4.3.1).
fn mp3_frames(mut stream: &[u8]) -> Vec<&[u8]> {
    const KBPS: [usize; 15] = [
        0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
    ];
    let mut frames = Vec::new();
    while !stream.is_empty() {
        // sync, MPEG-1, Layer III; 44.1 kHz.
        assert!(
            stream[0] == 0xFF && stream[1] & 0xFE == 0xFA,
            "{:02x?}",
            &stream[..4]
        );
        assert_eq!(stream[2] & 0x0C, 0);
        let bitrate = KBPS[usize::from(stream[2] >> 4)] * 1000;
        let padding = usize::from(stream[2] >> 1 & 1);
        let len = 144 * bitrate / 44_100 + padding;
        let (frame, rest) = stream.split_at(len.min(stream.len()));
        frames.push(frame);
        stream = rest;
    }
    frames
}

/// A timed frame to mux.
enum Unit<'a> {
    Video {
        ts: u64,
        keyframe: bool,
        data: &'a [u8],
    },
    Audio {
        ts: u64,
        data: Vec<u8>,
    },
}

impl Unit<'_> {
    fn ts(&self) -> u64 {
        match self {
            Unit::Video { ts, .. } | Unit::Audio { ts, .. } => *ts,
        }
    }
}

/// Muxes units in time order, tables first and before every keyframe.
fn mux_units(mux: &mut Muxer, mut units: Vec<Unit>) -> Vec<u8> {
    units.sort_by_key(Unit::ts);
    let mut out = Vec::new();
    mux.write_tables(&mut out);
    for unit in &units {
        let before = out.len();
        match unit {
            Unit::Video { ts, keyframe, data } => {
                if *keyframe {
                    mux.write_tables(&mut out);
                }
                mux.write_video(*ts, *ts, *keyframe, data, &mut out);
            }
            Unit::Audio { ts, data } => mux.write_audio(*ts, data, &mut out),
        }
        assert_eq!((out.len() - before) % PACKET_LEN, 0);
    }
    out
}

/// Start time of ffmpeg's own TS output (1.4 s), kept so no timestamp goes negative.
const START: u64 = 126_000;

#[test]
fn ffmpeg_ts_demuxes_and_remuxes_identically() {
    if !have_tools() {
        return;
    }
    let dir = TempDir::new("remux");
    ffmpeg(
        &dir,
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=64x48:rate=10",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=44100",
            "-t",
            "1",
            "-c:v",
            "libx264",
            "-bf",
            "2",
            "-c:a",
            "aac",
            "-f",
            "mpegts",
            "ref.ts",
        ],
    );
    let reference = std::fs::read(dir.file("ref.ts")).unwrap();

    // ffmpeg writes SDT, PAT, PMT; with its default PIDs the PAT and PMT are ours byte for
    // byte.
    let mut mux = Muxer::new(Some(StreamType::H264), Some(StreamType::Aac));
    let mut tables = Vec::new();
    mux.write_tables(&mut tables);
    assert_eq!(reference[188..188 * 3], tables[..]);

    // Our demuxer reads ffmpeg's stream without a fault.
    let mut d = Demuxer::new();
    d.push(&reference).unwrap();
    d.flush().unwrap();
    assert_eq!(d.cc_errors(), 0);
    let pes: Vec<Pes> = std::iter::from_fn(|| d.poll()).collect();
    assert!(
        pes.iter().any(|p| p.dts.is_some()),
        "B-frames give DTS != PTS"
    );

    // Remux what it read; ffprobe must see the same packets.
    let mut mux = Muxer::new(Some(StreamType::H264), Some(StreamType::Aac));
    let mut out = Vec::new();
    mux.write_tables(&mut out);
    for p in &pes {
        let pts = p.pts.expect("PTS on every PES");
        if p.pid == VIDEO_PID {
            if p.random_access {
                mux.write_tables(&mut out);
            }
            mux.write_video(
                pts,
                p.dts.unwrap_or(pts),
                p.random_access,
                &p.data,
                &mut out,
            );
        } else {
            mux.write_audio(pts, &p.data, &mut out);
        }
    }
    let mine = dir.file("mine.ts");
    std::fs::write(&mine, &out).unwrap();
    let mut theirs = probe_packets(&dir.file("ref.ts"));
    let mut ours = probe_packets(&mine);
    assert_eq!(count(&ours, "video"), 10);
    assert!(count(&ours, "audio") >= 40);
    theirs.sort();
    ours.sort();
    assert_eq!(ours, theirs);
    assert_decodes_cleanly(&mine);
}

#[test]
fn raw_h264_and_adts_aac() {
    if !have_tools() {
        return;
    }
    let dir = TempDir::new("h264-aac");
    ffmpeg(
        &dir,
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=64x48:rate=10",
            "-t",
            "1",
            "-c:v",
            "libx264",
            "-bf",
            "0",
            "-x264-params",
            "aud=1",
            "-bsf:v",
            "h264_mp4toannexb",
            "-f",
            "h264",
            "v.h264",
        ],
    );
    ffmpeg(
        &dir,
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=44100",
            "-t",
            "1",
            "-c:a",
            "aac",
            "-f",
            "adts",
            "a.aac",
        ],
    );
    let video = std::fs::read(dir.file("v.h264")).unwrap();
    let audio = std::fs::read(dir.file("a.aac")).unwrap();
    let aus = access_units(&video, |h| h & 0x1F == 9);
    let frames = adts_frames(&audio);
    assert_eq!(aus.len(), 10);
    let mut units = Vec::new();
    for (i, au) in aus.iter().enumerate() {
        let keyframe = nal_headers(au).any(|h| h & 0x1F == 5);
        assert_eq!(keyframe, i == 0);
        units.push(Unit::Video {
            ts: START + i as u64 * 9000,
            keyframe,
            data: au,
        });
    }
    for (j, frame) in frames.iter().enumerate() {
        let ts = START + j as u64 * 1024 * 90_000 / 44_100;
        units.push(Unit::Audio {
            ts,
            data: frame.to_vec(),
        });
    }
    let ts = mux_units(
        &mut Muxer::new(Some(StreamType::H264), Some(StreamType::Aac)),
        units,
    );
    let path = dir.file("mux.ts");
    std::fs::write(&path, &ts).unwrap();
    let probed = probe_packets(&path);
    assert_eq!(count(&probed, "video"), aus.len());
    assert_eq!(count(&probed, "audio"), frames.len());
    assert_eq!(
        probed
            .iter()
            .filter(|p| p.keyframe && p.codec_type == "video")
            .count(),
        1
    );
    assert_decodes_cleanly(&path);
}

#[test]
fn raw_h265_with_mp3_and_mp3_alone() {
    if !have_tools() {
        return;
    }
    let dir = TempDir::new("h265-mp3");
    ffmpeg(
        &dir,
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=64x48:rate=10",
            "-t",
            "1",
            "-c:v",
            "libx265",
            "-x265-params",
            "aud=1:bframes=0:keyint=5:log-level=error",
            "-f",
            "hevc",
            "v.h265",
        ],
    );
    ffmpeg(
        &dir,
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=44100",
            "-t",
            "1",
            "-c:a",
            "libmp3lame",
            "-b:a",
            "64k",
            "-write_xing",
            "0",
            "-id3v2_version",
            "0",
            "-f",
            "mp3",
            "a.mp3",
        ],
    );
    let video = std::fs::read(dir.file("v.h265")).unwrap();
    let audio = std::fs::read(dir.file("a.mp3")).unwrap();
    // HEVC nal_unit_type is bits 1..6 of the first header byte; 35 is AUD, 16..=21 IRAP.
    let aus = access_units(&video, |h| (h >> 1) & 0x3F == 35);
    let frames = mp3_frames(&audio);
    assert_eq!(aus.len(), 10);
    // Two MP3 frames per PES, as a server batching audio would.
    let audio_units = |units: &mut Vec<Unit>| {
        for (j, pair) in frames.chunks(2).enumerate() {
            let ts = START + j as u64 * 2 * 1152 * 90_000 / 44_100;
            units.push(Unit::Audio {
                ts,
                data: pair.concat(),
            });
        }
    };
    let mut units = Vec::new();
    let mut keyframes = 0;
    for (i, au) in aus.iter().enumerate() {
        let keyframe = nal_headers(au).any(|h| (16..=21).contains(&((h >> 1) & 0x3F)));
        keyframes += usize::from(keyframe);
        units.push(Unit::Video {
            ts: START + i as u64 * 9000,
            keyframe,
            data: au,
        });
    }
    assert!(keyframes >= 2);
    audio_units(&mut units);
    let ts = mux_units(
        &mut Muxer::new(Some(StreamType::H265), Some(StreamType::Mp3)),
        units,
    );
    let path = dir.file("av.ts");
    std::fs::write(&path, &ts).unwrap();
    let probed = probe_packets(&path);
    assert_eq!(count(&probed, "video"), aus.len());
    assert_eq!(count(&probed, "audio"), frames.len());
    let probed_keyframes = probed
        .iter()
        .filter(|p| p.keyframe && p.codec_type == "video");
    assert_eq!(probed_keyframes.count(), keyframes);
    assert_decodes_cleanly(&path);

    // Audio only: PCR on the audio PID.
    let mut units = Vec::new();
    audio_units(&mut units);
    let ts = mux_units(&mut Muxer::new(None, Some(StreamType::Mp3)), units);
    let path = dir.file("audio.ts");
    std::fs::write(&path, &ts).unwrap();
    let probed = probe_packets(&path);
    assert_eq!(
        (count(&probed, "audio"), probed.len()),
        (frames.len(), frames.len())
    );
    assert_decodes_cleanly(&path);
}
