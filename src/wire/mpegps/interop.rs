//! Checks against the real ffmpeg and ffprobe (Debian's ffmpeg 5.1 in CI). Each test returns
//! early, with a note on stderr, when the tools are not installed. Inputs are generated at
//! test time into a scratch directory; nothing big is checked in.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use super::*;
use crate::testutil::{ffmpeg, have_tools, TempDir};

/// Runs ffprobe with `args` on `path`, requiring success and an empty stderr; returns stdout.
fn ffprobe(path: &Path, args: &[&str]) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error"])
        .args(args)
        .arg(path)
        .output()
        .expect("run ffprobe");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.is_empty(),
        "ffprobe {args:?}: {stderr}"
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Start codes `00 00 01 id` in `stream` with `id` in `ids`.
fn count_start_codes(stream: &[u8], ids: std::ops::RangeInclusive<u8>) -> usize {
    stream
        .windows(4)
        .filter(|w| w[..3] == [0, 0, 1] && ids.contains(&w[3]))
        .count()
}

/// Demuxes `input` pushed in pieces of `chunk` bytes, flushing at the end.
fn demux_in_chunks(input: &[u8], chunk: usize) -> (Vec<EsFrame>, PsStats) {
    let mut d = Demuxer::new();
    for piece in input.chunks(chunk) {
        d.push(piece);
    }
    d.flush();
    (std::iter::from_fn(|| d.poll()).collect(), d.stats())
}

fn concat(frames: &[EsFrame], video: bool) -> Vec<u8> {
    frames
        .iter()
        .filter(|f| (f.stream_id >= VIDEO_STREAM_ID) == video)
        .flat_map(|f| f.data.iter().copied())
        .collect()
}

/// `pts` and `dts` of the first packet of `stream` ("v" or "a") as ffprobe reads them.
fn first_packet_times(path: &Path, stream: &str) -> (u64, u64) {
    let out = ffprobe(
        path,
        &[
            "-select_streams",
            stream,
            "-show_entries",
            "packet=pts,dts",
            "-read_intervals",
            "%+#1",
            "-of",
            "csv=p=0",
        ],
    );
    let line = out.lines().next().expect("a packet");
    let mut fields = line.split(',').map(|f| f.parse::<u64>().expect("a number"));
    (fields.next().unwrap(), fields.next().unwrap())
}

/// ffmpeg's program streams: MPEG-1 system (`-f mpeg`: MPEG-1 pack and packet headers),
/// MPEG-2 (`-f vob`) and DVD (`-f dvd`: adds private stream 2 navigation packs). None has a
/// PSM; all have padding packets. H.264 goes on stream_id 0xE2, MP2 on 0xC0.
#[test]
fn ffmpeg_program_streams_demux_cleanly() {
    if !have_tools() {
        return;
    }
    let dir = TempDir::new("ffmpeg");
    for format in ["mpeg", "vob", "dvd"] {
        ffmpeg(
            &dir,
            &[
                "-f",
                "lavfi",
                "-i",
                "testsrc=size=160x120:rate=10",
                "-f",
                "lavfi",
                "-i",
                "sine",
                "-t",
                "1",
                "-c:v",
                "libx264",
                "-c:a",
                "mp2",
                "-f",
                format,
                "x.mpg",
            ],
        );
        // ffmpeg's own elementary streams, to compare payloads with.
        ffmpeg(
            &dir,
            &[
                "-i", "x.mpg", "-map", "0:v", "-c", "copy", "-f", "h264", "v.h264",
            ],
        );
        ffmpeg(
            &dir,
            &[
                "-i", "x.mpg", "-map", "0:a", "-c", "copy", "-f", "mp2", "a.mp2",
            ],
        );
        let ps = dir.read("x.mpg");
        assert_eq!(
            ps[4] & 0xF0 == 0x20,
            format == "mpeg",
            "{format}: pack layout"
        );
        assert!(
            count_start_codes(&ps, 0xBE..=0xBE) > 0,
            "{format}: has padding"
        );
        assert_eq!(
            count_start_codes(&ps, 0xBC..=0xBC),
            0,
            "{format}: has no PSM"
        );
        // H.264 never holds 00 00 01 E0..EF (a NAL header is below 0x80), and this MP2
        // happens not to: so these are exactly the video PES.
        let video_pes = count_start_codes(&ps, 0xE0..=0xEF);
        assert!(video_pes >= 2, "{format}: {video_pes} video PES");

        for chunk in [1, 7, 188, 1400, ps.len()] {
            let (frames, stats) = demux_in_chunks(&ps, chunk);
            let what = format!("{format}, pushed in {chunk}-byte pieces");
            assert_eq!(
                (
                    stats.resyncs,
                    stats.skipped_bytes,
                    stats.oversized,
                    stats.malformed
                ),
                (0, 0, 0, 0),
                "{what}"
            );
            assert_eq!(
                stats.packs as usize,
                count_start_codes(&ps, 0xBA..=0xBA),
                "{what}"
            );
            let video: Vec<&EsFrame> = frames.iter().filter(|f| f.stream_id == 0xE2).collect();
            assert_eq!(video.len(), video_pes, "{what}");
            assert!(
                video.iter().all(|f| f.stream_type == StreamType::H264),
                "{what}"
            );
            let audio = frames.iter().filter(|f| f.stream_id == 0xC0);
            assert!(
                audio
                    .clone()
                    .all(|f| f.stream_type == StreamType::Unknown(0x03)),
                "{what}: MP2 is MPEG-1 audio"
            );
            assert!(audio.count() > 0, "{what}");
            assert_eq!(
                concat(&frames, true),
                dir.read("v.h264"),
                "{what}: video bytes"
            );
            assert_eq!(
                concat(&frames, false),
                dir.read("a.mp2"),
                "{what}: audio bytes"
            );
            // The first PES of each stream starts an access unit: its PTS/DTS are ffprobe's
            // first packet's.
            for (stream, video) in [("v", true), ("a", false)] {
                let first = frames
                    .iter()
                    .find(|f| (f.stream_id >= VIDEO_STREAM_ID) == video)
                    .unwrap();
                let pts = first.pts.expect("PTS on the first PES");
                assert_eq!(
                    (pts, first.dts.unwrap_or(pts)),
                    first_packet_times(&dir.file("x.mpg"), stream),
                    "{what}: {stream} timestamps"
                );
            }
        }
    }
}

/// Splits an Annex B stream into access units, each starting at an H.264 access unit
/// delimiter (NAL type 9).
fn access_units(stream: &[u8]) -> Vec<&[u8]> {
    let starts: Vec<usize> = stream
        .windows(5)
        .enumerate()
        .filter(|(_, w)| w[..4] == [0, 0, 0, 1] && w[4] & 0x1F == 9)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(starts.first(), Some(&0), "stream starts with an AUD");
    starts
        .iter()
        .enumerate()
        .map(|(k, &at)| &stream[at..starts.get(k + 1).copied().unwrap_or(stream.len())])
        .collect()
}

/// Splits ADTS (ISO/IEC 13818-7, 6.2: frame_length is 13 bits from bit 30).
fn adts_frames(mut stream: &[u8]) -> Vec<&[u8]> {
    let mut frames = Vec::new();
    while !stream.is_empty() {
        assert!(stream.len() >= 7 && stream[0] == 0xFF && stream[1] & 0xF6 == 0xF0);
        let len = usize::from(stream[3] & 0x03) << 11
            | usize::from(stream[4]) << 3
            | usize::from(stream[5] >> 5);
        let (frame, rest) = stream.split_at(len);
        frames.push(frame);
        stream = rest;
    }
    frames
}

/// Our muxer's output, H.264 (two GOPs, PSM on keyframes) and AAC, read by ffprobe and
/// decoded by ffmpeg without a message, and read back by our demuxer.
#[test]
fn muxed_h264_and_aac_decode_in_ffmpeg() {
    if !have_tools() {
        return;
    }
    let dir = TempDir::new("muxer");
    ffmpeg(
        &dir,
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=160x120:rate=10",
            "-t",
            "3",
            "-c:v",
            "libx264",
            "-g",
            "15",
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
            "sine=sample_rate=48000",
            "-t",
            "3",
            "-c:a",
            "aac",
            "-f",
            "adts",
            "a.aac",
        ],
    );
    let h264 = dir.read("v.h264");
    let aac = dir.read("a.aac");
    let units = access_units(&h264);
    let frames = adts_frames(&aac);
    assert_eq!(units.len(), 30);

    // Interleave by time: video at 10 fps, AAC frames of 1024 samples at 48 kHz; start at
    // 1 s so nothing is near zero.
    const START: u64 = 90_000;
    let mut timed: Vec<(u64, bool, &[u8])> = units
        .iter()
        .enumerate()
        .map(|(i, au)| (START + i as u64 * 9000, true, *au))
        .chain(
            frames
                .iter()
                .enumerate()
                .map(|(i, f)| (START + i as u64 * 1920, false, *f)),
        )
        .collect();
    timed.sort_by_key(|&(ts, video, _)| (ts, !video));
    let mut mux = Muxer::new(Some(StreamType::H264), Some(StreamType::Aac));
    let mut out = Vec::new();
    let mut keyframes = 0;
    for &(ts, video, data) in &timed {
        let keyframe = video
            && data
                .windows(4)
                .any(|w| w[..3] == [0, 0, 1] && w[3] & 0x1F == 5);
        keyframes += usize::from(keyframe);
        mux.write_frame(video, ts, None, keyframe, data, keyframe, &mut out);
    }
    assert_eq!(keyframes, 2);
    let path = dir.file("ours.mpg");
    std::fs::write(&path, &out).unwrap();

    let probed = ffprobe(
        &path,
        &[
            "-count_frames",
            "-show_entries",
            "stream=codec_name,nb_read_frames",
            "-of",
            "csv=p=0",
        ],
    );
    let counts: BTreeMap<&str, usize> = probed
        .lines()
        .filter_map(|l| l.split_once(','))
        .map(|(codec, n)| (codec, n.parse().expect("nb_read_frames")))
        .collect();
    assert_eq!(
        counts,
        BTreeMap::from([("aac", frames.len()), ("h264", units.len())]),
        "{probed}"
    );
    // A full decode reports nothing either.
    let decoded = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-i"])
        .arg(&path)
        .args(["-f", "null", "-"])
        .output()
        .expect("run ffmpeg");
    let stderr = String::from_utf8_lossy(&decoded.stderr);
    assert!(
        decoded.status.success() && stderr.is_empty(),
        "decode: {stderr}"
    );

    // And our demuxer gives the access units and ADTS frames back, with their times.
    let (demuxed, stats) = demux_in_chunks(&out, 1400);
    assert_eq!((stats.resyncs, stats.psm, stats.malformed), (0, 2, 0));
    let video: Vec<(u64, &[u8])> = demuxed
        .iter()
        .filter(|f| f.stream_type == StreamType::H264)
        .map(|f| (f.pts.unwrap(), &f.data[..]))
        .collect();
    let want: Vec<(u64, &[u8])> = units
        .iter()
        .enumerate()
        .map(|(i, au)| (START + i as u64 * 9000, *au))
        .collect();
    assert_eq!(video, want);
    let audio: Vec<&[u8]> = demuxed
        .iter()
        .filter(|f| f.stream_type == StreamType::Aac)
        .map(|f| &f.data[..])
        .collect();
    assert_eq!(audio, frames);
}
