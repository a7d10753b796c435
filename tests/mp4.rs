//! The fragmented MP4 muxer and repair scanner (`wire::mp4`) against the real ffmpeg and
//! ffprobe (Debian's ffmpeg 5.1).
//!
//! Each test has ffmpeg encode a few seconds of its test pattern and tone, reads the frames
//! back the way the hub holds them (codec configuration record + length-prefixed NAL units,
//! raw audio frames), writes a fragmented MP4 with one fragment per GOP (per second for
//! audio alone), and asks ffprobe for every packet: the counts, decode and presentation
//! times must be exactly the input's, and `ffmpeg -v error -i out.mp4 -f null -` must print
//! nothing.
//!
//! * H.264 + AAC with B-frames: ffmpeg writes FLV, read with the crate's own `wire::flv`.
//! * H.265 + AAC with B-frames: Debian's ffmpeg 5.1 cannot put HEVC into FLV, so it writes
//!   MP4 and `ffprobe -show_data` hands over the hvcC record and the samples.
//! * AV1 + Opus (Matroska) and MP3 (an .mp3 file): likewise through `ffprobe -show_data`.
//! * Repair: an H.264 recording cut at several offsets, walked by the scanner from disk in
//!   small reads, truncated where it says; ffprobe then reads exactly the frames of the
//!   complete fragments. ffmpeg's own fragmented output passes the scanner whole.
//!
//! ffprobe output relied on: `-show_streams -show_packets [-show_data] -of json` fields
//! `codec_name`, `codec_type`, `time_base`, `width`, `height`, `sample_rate`, `channels`,
//! `extradata` and per packet `stream_index`, `pts`, `dts`, `flags` (`K` first for a
//! keyframe) and `data` (a hex dump).

mod common;

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use common::{require, Proc, TempDir};
use tinysrs::wire::flv::{self, AudioCodec, FlvReader, TagType, VideoCodec};
use tinysrs::wire::mp4::{
    Fragment, InitSegment, Run, Sample, Scan, Scanner, Stop, Track, SCAN_READ_LEN,
};

/// How long ffmpeg or ffprobe may take for one step.
const TOOL_TIMEOUT: Duration = Duration::from_secs(120);
/// Seconds of test pattern per clip.
const SECONDS: &str = "4";
/// Fragments of an audio-only recording: one a second (MP3 at 44.1 kHz: 38 frames).
const AUDIO_ONLY_FRAGMENT_SAMPLES: usize = 38;

/// Runs `tool args` in `dir`, bounded by [`TOOL_TIMEOUT`]: (stdout, stderr, success).
fn run(dir: &TempDir, tool: &str, args: &[&str]) -> (String, String, bool) {
    require(tool);
    let out_path = dir.path(&format!("{tool}.out"));
    let out = File::create(&out_path).unwrap();
    let mut p = Proc::spawn(
        Command::new(tool)
            .current_dir(&dir.0)
            .args(["-v", "error"])
            .args(args)
            .stdout(out),
        &dir.path(&format!("{tool}.err")),
    );
    let status = p.wait(TOOL_TIMEOUT);
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    (stdout, p.stderr(), status.success())
}

/// ffmpeg with `args` (split at whitespace) in `dir`, which must succeed silently.
fn ffmpeg(dir: &TempDir, args: &str) {
    let mut all = vec!["-nostdin", "-y"];
    all.extend(args.split_whitespace());
    let (_, stderr, ok) = run(dir, "ffmpeg", &all);
    assert!(ok && stderr.is_empty(), "ffmpeg {args:?}: {stderr}");
}

/// Decodes every stream of `file` and requires that ffmpeg has nothing to say.
fn assert_decodes_silently(dir: &TempDir, file: &str) {
    let (_, stderr, ok) = run(dir, "ffmpeg", &["-nostdin", "-i", file, "-f", "null", "-"]);
    assert!(ok && stderr.is_empty(), "decoding {file}: {stderr}");
}

/// `ffprobe -of json` of `file` with `args`, which must succeed silently.
fn probe_json(dir: &TempDir, file: &str, args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.extend_from_slice(&["-of", "json", file]);
    let (stdout, stderr, ok) = run(dir, "ffprobe", &all);
    assert!(ok && stderr.is_empty(), "ffprobe {file}: {stderr}");
    serde_json::from_str(&stdout).unwrap()
}

/// An integer field that ffprobe writes as a number or a string.
fn int(v: &serde_json::Value, key: &str) -> Option<i64> {
    match &v[key] {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn text<'a>(v: &'a serde_json::Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_default()
}

/// The bytes of ffprobe's `-show_data` hex dump: lines of `OFFSET: ` + 39 columns of hex in
/// groups of four digits, then the ASCII column.
fn hexdump_bytes(dump: &str) -> Bytes {
    let mut out = Vec::new();
    for line in dump.lines().filter(|l| l.len() > 10) {
        let hex: String = line[10..line.len().min(49)]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        for pair in hex.as_bytes().chunks(2) {
            out.push(u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap());
        }
    }
    Bytes::from(out)
}

/// One packet as ffprobe reports it: times in the stream's time base.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Probed {
    dts: i64,
    pts: i64,
    keyframe: bool,
}

/// A probed stream: codec facts and its packets in file order.
#[derive(Debug)]
struct ProbedStream {
    codec_name: String,
    codec_type: String,
    time_base: (i64, i64),
    width: Option<i64>,
    height: Option<i64>,
    sample_rate: Option<i64>,
    channels: Option<i64>,
    extradata: Bytes,
    packets: Vec<(Probed, Bytes)>,
}

/// Every stream and packet of `file`, with the packet bytes when `data` is set.
fn probe(dir: &TempDir, file: &str, data: bool) -> Vec<ProbedStream> {
    let mut args = vec!["-show_streams", "-show_packets"];
    if data {
        args.push("-show_data");
    }
    let json = probe_json(dir, file, &args);
    let mut streams: Vec<ProbedStream> = json["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let (num, den) = text(s, "time_base").split_once('/').unwrap();
            ProbedStream {
                codec_name: text(s, "codec_name").to_string(),
                codec_type: text(s, "codec_type").to_string(),
                time_base: (num.parse().unwrap(), den.parse().unwrap()),
                width: int(s, "width"),
                height: int(s, "height"),
                sample_rate: int(s, "sample_rate"),
                channels: int(s, "channels"),
                extradata: hexdump_bytes(text(s, "extradata")),
                packets: Vec::new(),
            }
        })
        .collect();
    for p in json["packets"].as_array().unwrap() {
        let index = int(p, "stream_index").unwrap() as usize;
        let pts = int(p, "pts").unwrap();
        let probed = Probed {
            pts,
            dts: int(p, "dts").unwrap_or(pts),
            keyframe: text(p, "flags").starts_with('K'),
        };
        streams[index]
            .packets
            .push((probed, hexdump_bytes(text(p, "data"))));
    }
    streams
}

/// A track to record: its MP4 track and samples in its timescale, in decode order.
struct Recorded {
    track: Track,
    samples: Vec<Sample>,
}

/// `ts` in a time base of `num/den` seconds, as ticks of `timescale` (exact for the clips
/// here), shifted by `shift_ms`.
fn ticks(ts: i64, (num, den): (i64, i64), timescale: u32, shift_ms: i64) -> u64 {
    let t = i128::from(ts) * i128::from(num) * i128::from(timescale) / i128::from(den)
        + i128::from(shift_ms) * i128::from(timescale) / 1000;
    u64::try_from(t).expect("times start at 0 after the shift")
}

/// The tracks of an ffmpeg-made file read through `ffprobe -show_data`, as the hub would
/// hold them, times shifted so that the earliest decode time is 0 or more.
fn recorded_from_probe(streams: &[ProbedStream]) -> Vec<Recorded> {
    let earliest_ms = streams
        .iter()
        .filter_map(|s| {
            let first = s.packets.first()?.0.dts;
            Some(first * 1000 * s.time_base.0 / s.time_base.1)
        })
        .min()
        .unwrap();
    let shift_ms = (-earliest_ms).max(0) + 1;
    streams
        .iter()
        .map(|s| {
            let track = match s.codec_name.as_str() {
                "h264" => Track::video(VideoCodec::Avc, s.extradata.clone()),
                "hevc" => Track::video(VideoCodec::Hevc, s.extradata.clone()),
                "av1" => Track::video(VideoCodec::Av1, s.extradata.clone()),
                "aac" => Track::audio(AudioCodec::Aac, s.extradata.clone()),
                "opus" => Track::audio(AudioCodec::Opus, s.extradata.clone()),
                // RTMP's MP3 has no sequence header: the first frame says it all.
                "mp3" => Track::audio(AudioCodec::Mp3, s.packets[0].1.clone()),
                other => panic!("no track for {other}"),
            }
            .unwrap();
            let timescale = track.timescale();
            let samples = s
                .packets
                .iter()
                .map(|(p, data)| Sample {
                    dts: ticks(p.dts, s.time_base, timescale, shift_ms),
                    cts: i32::try_from(
                        ticks(p.pts, s.time_base, timescale, shift_ms) as i64
                            - ticks(p.dts, s.time_base, timescale, shift_ms) as i64,
                    )
                    .unwrap(),
                    keyframe: p.keyframe,
                    data: data.clone(),
                })
                .collect();
            Recorded { track, samples }
        })
        .collect()
}

/// The video and audio tracks of an FLV file (those it has, video first), read with the
/// crate's FLV reader: the sequence headers become the tracks, the other tags the samples
/// (video times are the tags' milliseconds, audio times those converted to the sampling
/// rate).
fn recorded_from_flv(flv_bytes: &[u8]) -> Vec<Recorded> {
    let mut reader = FlvReader::new(1 << 22);
    let mut input = BytesMut::from(flv_bytes);
    let (mut video, mut audio) = (None, None);
    let (mut video_samples, mut audio_samples) = (Vec::new(), Vec::new());
    while let Some(tag) = reader.decode(&mut input).unwrap() {
        match tag.tag_type {
            TagType::Video => {
                let v = flv::parse_video(&tag.body).unwrap();
                let payload = tag.body.slice(v.payload_offset..);
                if v.sequence_header {
                    video = Some(Track::video(v.codec, payload).unwrap());
                } else if !v.end_of_sequence {
                    video_samples.push(Sample {
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
                    audio = Some(Track::audio(a.codec, payload).unwrap());
                } else {
                    let track: &Track = audio.as_ref().unwrap();
                    audio_samples.push(Sample {
                        dts: track.ticks(u64::from(tag.timestamp)),
                        cts: 0,
                        keyframe: true,
                        data: payload,
                    });
                }
            }
            _ => {}
        }
    }
    let video = video.map(|track| Recorded {
        track,
        samples: video_samples,
    });
    let audio = audio.map(|track| Recorded {
        track,
        samples: audio_samples,
    });
    video.into_iter().chain(audio).collect()
}

/// A fragment's samples: a range of each track's samples.
type FragmentPlan = Vec<std::ops::Range<usize>>;

/// One fragment per video GOP with the audio decoded before the next GOP starts; audio
/// alone: fragments of [`AUDIO_ONLY_FRAGMENT_SAMPLES`].
fn plan(tracks: &[Recorded]) -> Vec<FragmentPlan> {
    let Some(v) = tracks.iter().position(|t| t.track.is_video()) else {
        let n = tracks[0].samples.len();
        return (0..n)
            .step_by(AUDIO_ONLY_FRAGMENT_SAMPLES)
            .map(|start| {
                let range = start..(start + AUDIO_ONLY_FRAGMENT_SAMPLES).min(n);
                Vec::from([range])
            })
            .collect();
    };
    let video = &tracks[v].samples;
    let mut starts: Vec<usize> = (0..video.len()).filter(|&i| video[i].keyframe).collect();
    assert_eq!(starts.first(), Some(&0), "video starts with a keyframe");
    starts.push(video.len());
    let mut from = vec![0; tracks.len()];
    let mut plans = Vec::new();
    for pair in starts.windows(2) {
        let next_ms = video.get(pair[1]).map(|s| s.dts);
        let plan: FragmentPlan = tracks
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let to = if i == v {
                    pair[1]
                } else {
                    match next_ms {
                        Some(ms) => {
                            let limit = t.track.ticks(ms);
                            t.samples.partition_point(|s| s.dts < limit)
                        }
                        None => t.samples.len(),
                    }
                };
                let range = from[i]..to.max(from[i]);
                from[i] = range.end;
                range
            })
            .collect();
        plans.push(plan);
    }
    plans
}

/// Writes the recording as a recorder does: the init segment, then per fragment its
/// header and the samples' own buffers. Returns the file's bytes and each fragment's end
/// offset with its sample counts per track.
fn write_recording(path: &Path, tracks: Vec<Recorded>) -> (Vec<u64>, Vec<Vec<usize>>) {
    let plans = plan(&tracks);
    let (mp4_tracks, samples): (Vec<Track>, Vec<Vec<Sample>>) =
        tracks.into_iter().map(|r| (r.track, r.samples)).unzip();
    let init = InitSegment::new(mp4_tracks).unwrap();
    let mut file = File::create(path).unwrap();
    let mut header = Vec::with_capacity(init.encoded_len());
    init.encode(&mut header);
    file.write_all(&header).unwrap();
    let mut offset = header.len() as u64;
    let mut ends = vec![offset];
    let mut counts = Vec::new();
    for (n, plan) in plans.iter().enumerate() {
        let runs: Vec<Run<'_>> = init
            .tracks()
            .iter()
            .zip(plan)
            .enumerate()
            .map(|(i, (track, range))| Run {
                track_id: track.id(),
                samples: &samples[i][range.clone()],
                end_dts: samples[i].get(range.end).map(|s| s.dts),
            })
            .collect();
        let fragment = Fragment::new(&init, n as u32 + 1, &runs).unwrap();
        let mut header = Vec::with_capacity(fragment.encoded_len());
        fragment.encode(&mut header);
        assert_eq!(header.len(), fragment.encoded_len());
        file.write_all(&header).unwrap();
        for chunk in fragment.chunks() {
            file.write_all(chunk).unwrap();
        }
        offset += fragment.len();
        ends.push(offset);
        counts.push(plan.iter().map(|r| r.len()).collect());
    }
    (ends, counts)
}

/// What the recording's packets must be: per track, (dts, pts, keyframe) in its timescale.
/// ffmpeg 5.1 keeps every presentation time at or after its decode time: with negative
/// composition offsets (trun version 1) it adds the largest negative one to every
/// presentation time of the track, which keeps their order and spacing.
fn expected_packets(tracks: &[Recorded]) -> Vec<Vec<Probed>> {
    tracks
        .iter()
        .map(|t| {
            let shift = t
                .samples
                .iter()
                .map(|s| -i64::from(s.cts))
                .max()
                .unwrap_or(0);
            let shift = shift.max(0);
            t.samples
                .iter()
                .map(|s| Probed {
                    dts: s.dts as i64,
                    pts: s.dts as i64 + i64::from(s.cts) + shift,
                    keyframe: s.keyframe || !t.track.is_video(),
                })
                .collect()
        })
        .collect()
}

/// Records `tracks` to `name` and checks it with ffprobe and ffmpeg: the same packets with
/// the same times, decoded without a word. Returns ffprobe's streams for codec checks.
fn record_and_check(dir: &TempDir, name: &str, tracks: Vec<Recorded>) -> Vec<ProbedStream> {
    let want = expected_packets(&tracks);
    let timescales: Vec<u32> = tracks.iter().map(|t| t.track.timescale()).collect();
    let (_, counts) = write_recording(&dir.path(name), tracks);
    assert!(counts.len() > 1, "more than one fragment");
    let streams = probe(dir, name, false);
    assert_eq!(streams.len(), want.len());
    for (i, stream) in streams.iter().enumerate() {
        assert_eq!(stream.time_base, (1, i64::from(timescales[i])), "track {i}");
        let got: Vec<Probed> = stream.packets.iter().map(|(p, _)| p.clone()).collect();
        assert_eq!(got.len(), want[i].len(), "{} packets", stream.codec_name);
        assert_eq!(got, want[i], "{} packet times", stream.codec_name);
    }
    assert_decodes_silently(dir, name);
    streams
}

#[test]
fn h264_aac_with_b_frames_from_flv() {
    let dir = TempDir::new("mp4-h264");
    ffmpeg(
        &dir,
        &format!(
            "-f lavfi -i testsrc=size=320x240:rate=25 -f lavfi -i \
             sine=frequency=440:sample_rate=44100 -t {SECONDS} -c:v libx264 -g 50 -bf 2 \
             -c:a aac -ac 2 -f flv in.flv"
        ),
    );
    let tracks = recorded_from_flv(&std::fs::read(dir.path("in.flv")).unwrap());
    assert_eq!(tracks[0].samples.len(), 100, "25 fps for 4 s");
    assert!(
        tracks[0].samples.iter().any(|s| s.cts > 0),
        "B-frames give composition offsets"
    );
    let streams = record_and_check(&dir, "out.mp4", tracks);
    let (v, a) = (&streams[0], &streams[1]);
    assert_eq!(
        (v.codec_name.as_str(), v.width, v.height),
        ("h264", Some(320), Some(240))
    );
    assert_eq!(
        (a.codec_name.as_str(), a.sample_rate, a.channels),
        ("aac", Some(44_100), Some(2))
    );
}

/// The same H.264 frames with every decode time moved later by the largest composition
/// offset, so the offsets that were largest become 0 and the others negative: the video
/// `trun`s are then version 1 (signed offsets) and ffmpeg must read the same presentation
/// order and spacing (see [`expected_packets`] for the shift it adds).
#[test]
fn h264_negative_composition_offsets() {
    let dir = TempDir::new("mp4-h264-neg");
    ffmpeg(
        &dir,
        &format!(
            "-f lavfi -i testsrc=size=320x240:rate=25 -t {SECONDS} -c:v libx264 -g 50 -bf 2 \
             -f flv in.flv"
        ),
    );
    let mut tracks = recorded_from_flv(&std::fs::read(dir.path("in.flv")).unwrap());
    assert_eq!(tracks.len(), 1, "video only");
    let delay = tracks[0].samples.iter().map(|s| s.cts).max().unwrap();
    assert!(delay > 0);
    for s in &mut tracks[0].samples {
        s.dts += delay as u64;
        s.cts -= delay;
    }
    assert!(tracks[0].samples.iter().any(|s| s.cts < 0));
    record_and_check(&dir, "out.mp4", tracks);
    let bytes = std::fs::read(dir.path("out.mp4")).unwrap();
    let trun = bytes.windows(4).position(|w| w == b"trun").unwrap();
    assert_eq!(
        &bytes[trun + 4..trun + 8],
        [1, 0, 0x0f, 0x01],
        "trun version 1"
    );
}

#[test]
fn h265_aac_with_b_frames() {
    let dir = TempDir::new("mp4-h265");
    ffmpeg(
        &dir,
        &format!(
            "-f lavfi -i testsrc=size=320x240:rate=25 -f lavfi -i \
             sine=frequency=440:sample_rate=48000 -t {SECONDS} -c:v libx265 -pix_fmt \
             yuv420p -x265-params log-level=error:keyint=50:bframes=2 -tag:v hvc1 -c:a aac \
             -video_track_timescale 1000 in.mp4"
        ),
    );
    let source = probe(&dir, "in.mp4", true);
    let tracks = recorded_from_probe(&source);
    assert_eq!(tracks[0].samples.len(), 100, "25 fps for 4 s");
    assert!(tracks[0].samples.iter().any(|s| s.cts > 0));
    let streams = record_and_check(&dir, "out.mp4", tracks);
    let (v, a) = (&streams[0], &streams[1]);
    assert_eq!(
        (v.codec_name.as_str(), v.width, v.height),
        ("hevc", Some(320), Some(240))
    );
    assert_eq!(
        (a.codec_name.as_str(), a.sample_rate, a.channels),
        ("aac", Some(48_000), Some(1))
    );
}

#[test]
fn av1_opus() {
    let dir = TempDir::new("mp4-av1");
    ffmpeg(
        &dir,
        &format!(
            "-f lavfi -i testsrc=size=320x240:rate=25 -f lavfi -i \
             sine=frequency=440:sample_rate=48000 -t {SECONDS} -c:v libaom-av1 -cpu-used 8 -g 50 -c:a \
             libopus -ac 2 in.mkv"
        ),
    );
    let source = probe(&dir, "in.mkv", true);
    let tracks = recorded_from_probe(&source);
    assert_eq!(tracks[0].samples.len(), 100);
    let streams = record_and_check(&dir, "out.mp4", tracks);
    let (v, a) = (&streams[0], &streams[1]);
    assert_eq!(
        (v.codec_name.as_str(), v.width, v.height),
        ("av1", Some(320), Some(240))
    );
    assert_eq!(
        (a.codec_name.as_str(), a.sample_rate, a.channels),
        ("opus", Some(48_000), Some(2))
    );
}

#[test]
fn mp3_audio_only() {
    let dir = TempDir::new("mp4-mp3");
    ffmpeg(
        &dir,
        &format!(
            "-f lavfi -i sine=frequency=440:sample_rate=44100 -t {SECONDS} -c:a libmp3lame \
             -b:a 64k in.mp3"
        ),
    );
    let source = probe(&dir, "in.mp3", true);
    let tracks = recorded_from_probe(&source);
    let streams = record_and_check(&dir, "out.mp4", tracks);
    assert_eq!(
        (
            streams[0].codec_name.as_str(),
            streams[0].codec_type.as_str(),
            streams[0].sample_rate,
            streams[0].channels
        ),
        ("mp3", "audio", Some(44_100), Some(1))
    );
}

/// Walks `path` as a recorder does at start-up: [`SCAN_READ_LEN`]-byte reads at the
/// scanner's position, so only box headers are read however large the file.
fn scan_file(path: &Path) -> (Scan, usize) {
    let mut file = File::open(path).unwrap();
    let len = file.metadata().unwrap().len();
    let mut scanner = Scanner::new(len);
    let mut reads = 0;
    loop {
        let mut buf = [0u8; SCAN_READ_LEN];
        file.seek(SeekFrom::Start(scanner.position())).unwrap();
        let n = file.read(&mut buf).unwrap();
        reads += 1;
        if let Some(scan) = scanner.feed(&buf[..n]).unwrap() {
            return (scan, reads);
        }
        assert!(reads < 10_000, "scanner makes no progress");
    }
}

#[test]
fn cut_recording_is_repaired_to_its_complete_fragments() {
    let dir = TempDir::new("mp4-cut");
    ffmpeg(
        &dir,
        &format!(
            "-f lavfi -i testsrc=size=320x240:rate=25 -f lavfi -i \
             sine=frequency=440:sample_rate=44100 -t {SECONDS} -c:v libx264 -g 25 -bf 2 \
             -c:a aac -f flv in.flv"
        ),
    );
    let tracks = recorded_from_flv(&std::fs::read(dir.path("in.flv")).unwrap());
    let (ends, counts) = write_recording(&dir.path("whole.mp4"), tracks);
    let whole = std::fs::read(dir.path("whole.mp4")).unwrap();
    assert_eq!(*ends.last().unwrap(), whole.len() as u64);
    let (scan, reads) = scan_file(&dir.path("whole.mp4"));
    assert_eq!(scan.end, whole.len() as u64);
    assert_eq!(scan.fragments, counts.len() as u64);
    assert_eq!(scan.stop, Stop::EndOfFile);
    // Two reads per box at most (moof, mdat, ftyp, moov).
    assert!(reads <= 2 * (2 * counts.len() + 2), "{reads} reads");

    // Cuts inside the second fragment's moof, inside an mdat, a byte short of a fragment's
    // end, and at a few pseudo-random places.
    let mut cuts = vec![ends[1] + 10, ends[2] + 700, ends[3] - 1];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..4 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        cuts.push(ends[1] + x % (whole.len() as u64 - ends[1]));
    }
    for cut in cuts {
        let name = format!("cut-{cut}.mp4");
        let path = dir.path(&name);
        std::fs::write(&path, &whole[..cut as usize]).unwrap();
        let (scan, _) = scan_file(&path);
        let complete = ends.iter().filter(|&&e| e <= cut).count() - 1;
        assert_eq!(scan.end, ends[complete], "cut at {cut}");
        assert_eq!(scan.fragments, complete as u64);
        assert!(
            matches!(scan.stop, Stop::Truncated { .. }),
            "{:?}",
            scan.stop
        );
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(scan.end)
            .unwrap();
        let streams = probe(&dir, &name, false);
        for (track, stream) in streams.iter().enumerate() {
            let want: usize = counts[..complete].iter().map(|c| c[track]).sum();
            assert_eq!(stream.packets.len(), want, "cut at {cut}, track {track}");
        }
        assert_decodes_silently(&dir, &name);
    }
}

#[test]
fn scanner_reads_ffmpeg_fragmented_mp4() {
    let dir = TempDir::new("mp4-ffmpeg-frag");
    ffmpeg(
        &dir,
        "-f lavfi -i testsrc=size=160x120:rate=25 -f lavfi -i sine -t 3 -c:v libx264 -g \
             25 -c:a aac -movflags frag_keyframe+empty_moov+default_base_moof frag.mp4",
    );
    let (scan, _) = scan_file(&dir.path("frag.mp4"));
    let file = std::fs::read(dir.path("frag.mp4")).unwrap();
    assert_eq!(scan.stop, Stop::EndOfFile);
    assert!(scan.fragments >= 3, "{scan:?}");
    // After the last fragment ffmpeg writes its random access index, `mfra`, which the
    // walk skips; the fragments end where it starts.
    let tail = &file[scan.end as usize..];
    assert_eq!(&tail[4..8], b"mfra");
    assert_eq!(
        u32::from_be_bytes(tail[..4].try_into().unwrap()) as usize,
        tail.len()
    );
}
