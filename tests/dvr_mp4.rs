//! MP4 recording against the real binary: ffmpeg publishes H.264 + AAC over RTMP, the
//! fragmented-MP4 recordings are read by ffprobe and decoded by ffmpeg; a SIGKILL
//! mid-recording leaves a `.mp4.part` that the next start cuts after its last complete
//! fragment; G.711 audio, which MP4 cannot carry, is left out with one log line.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::recordings::{decode_errors, duration_s, files_under, is_part};
use common::{ffprobe, require, Proc, Server, TempDir};

static SERIAL: Mutex<()> = Mutex::new(());

/// One ffmpeg-encoding test at a time: the shared cores encode in real time.
fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// 25 fps with a keyframe every 100 frames (4 s), as a camera's default GOP.
const GOP: u32 = 100;

/// ffmpeg encoding H.264 (noise: a real bitrate, about 1.5 Mbit/s) and `audio` (an ffmpeg
/// encoder and its options) in real time for `seconds`, to `url` and, the same packets, to
/// the local FLV `copy`: what was published, to count against.
fn ffmpeg_publish_tee(dir: &TempDir, url: &str, copy: &Path, seconds: u32, audio: &[&str]) -> Proc {
    require("ffmpeg");
    let name = copy.file_name().unwrap().to_string_lossy().to_string();
    Proc::spawn(
        Command::new("ffmpeg")
            .args(["-hide_banner", "-nostats", "-loglevel", "error", "-re"])
            .args(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"])
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
            .args(["-t", &seconds.to_string(), "-map", "0:v", "-map", "1:a"])
            .args(["-vf", "noise=alls=12:allf=t"])
            .args(["-c:v", "libx264", "-preset", "ultrafast"])
            .args(["-tune", "zerolatency"])
            .args(["-g", &GOP.to_string(), "-keyint_min", &GOP.to_string()])
            .args(["-b:v", "1500k", "-maxrate", "1500k", "-bufsize", "1500k"])
            // The tee muxer asks for no global header: without it x264 keeps SPS and PPS in
            // band and the FLV gets an empty sequence header, which an MP4 cannot start
            // from (a publisher writing FLV itself, OBS or a camera sends the record).
            .args(["-flags:v", "+global_header"])
            .args(audio)
            .args(["-f", "tee"])
            .arg(format!("[f=flv]{url}|[f=flv]{}", copy.display()))
            .stdout(Stdio::null()),
        &dir.path(&format!("publish-{name}.err")),
    )
}

const AAC: &[&str] = &["-c:a", "aac", "-b:a", "64k"];

/// Audio packets of `file` before its first video keyframe: what a recording that starts at
/// a keyframe leaves out.
fn audio_before_first_keyframe(file: &Path) -> usize {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries"])
        .args(["packet=codec_type,pts_time,flags", "-of", "csv=p=0"])
        .arg(file)
        .output()
        .expect("run ffprobe");
    let text = String::from_utf8_lossy(&out.stdout);
    let packets: Vec<Vec<&str>> = text.lines().map(|l| l.split(',').collect()).collect();
    let first_key = packets
        .iter()
        .find(|p| p[0] == "video" && p.get(2).is_some_and(|f| f.starts_with('K')))
        .and_then(|p| p[1].parse::<f64>().ok())
        .unwrap_or(0.0);
    packets
        .iter()
        .filter(|p| p[0] == "audio" && p[1].parse::<f64>().is_ok_and(|t| t < first_key))
        .count()
}

/// Top-level box types of an MP4 file, in order.
fn top_boxes(file: &Path) -> Vec<String> {
    let bytes = std::fs::read(file).unwrap();
    let mut at = 0;
    let mut out = Vec::new();
    while at + 8 <= bytes.len() {
        let size = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        out.push(String::from_utf8_lossy(&bytes[at + 4..at + 8]).into_owned());
        if size < 8 {
            break;
        }
        at += size;
    }
    out
}

fn wait_for(mut done: impl FnMut() -> bool, secs: u64) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    done()
}

/// Publishes `secs` seconds with `audio` to a server recording `[app]/[stream].mp4` with
/// `plan`, waits for the files to close; the server, the published copy and the recordings.
fn record(dir: &TempDir, plan: &str, secs: u32, audio: &[&str]) -> (Server, PathBuf, Vec<PathBuf>) {
    let root = dir.path("rec");
    let server = Server::start(&format!(
        "[vhost.__defaultVhost__.dvr]\nenabled = true\ndvr_plan = \"{plan}\"\n\
         dvr_duration = 5\ndvr_path = \"{}/[app]/[stream].[timestamp].mp4\"\n",
        root.display()
    ));
    let copy = dir.path("sent.flv");
    let mut p = ffmpeg_publish_tee(dir, &server.url("live/cam"), &copy, secs, audio);
    assert!(p.wait(Duration::from_secs(60)).success(), "{}", p.stderr());
    assert!(
        server.wait_log("closed", Duration::from_secs(5))
            && wait_for(
                || {
                    let f = files_under(&root);
                    !f.is_empty() && f.iter().all(|f| !is_part(f))
                },
                5
            ),
        "{}",
        server.log()
    );
    let files = files_under(&root);
    (server, copy, files)
}

/// The session plan: one `.mp4` of `ftyp`, `moov`, then `moof` + `mdat` pairs (one per GOP
/// or second); H.264 + AAC with every frame published from the first keyframe on, decoded
/// without a word, lasting as long as the publish.
#[test]
fn a_session_records_every_frame_to_fragmented_mp4() {
    let _turn = serial();
    require("ffprobe");
    let dir = TempDir::new("dvr-mp4-session");
    let secs = 10;
    let (_server, copy, files) = record(&dir, "session", secs, AAC);
    assert_eq!(files.len(), 1, "{files:?}");
    let file = &files[0];
    assert!(file.to_string_lossy().ends_with(".mp4"), "{file:?}");
    let boxes = top_boxes(file);
    assert_eq!(boxes[..2], ["ftyp", "moov"], "{boxes:?}");
    let fragments = boxes.iter().filter(|b| *b == "moof").count();
    assert_eq!(
        boxes[2..]
            .chunks(2)
            .filter(|p| p == &["moof", "mdat"])
            .count(),
        fragments,
        "{boxes:?}"
    );
    // 1 s fragments (dvr_fragment's default) over 10 s, a 4 s GOP cutting some short.
    assert!((9..=16).contains(&fragments), "{fragments} fragments");

    let sent = ffprobe(&dir, &copy.display().to_string(), Duration::from_secs(60));
    let got = ffprobe(&dir, &file.display().to_string(), Duration::from_secs(60));
    assert!(got.success, "{got:?}");
    assert_eq!(got.codecs, ["aac", "h264"], "{got:?}");
    assert_eq!(got.video_size, Some((320, 240)));
    assert_eq!(got.first_video.as_ref().map(|(k, _)| *k), Some(true));
    assert_eq!(got.video_frames, sent.video_frames, "video frames");
    let before = audio_before_first_keyframe(&copy);
    assert!(
        got.audio_frames + before == sent.audio_frames,
        "audio frames: {} recorded, {} sent, {before} before the first keyframe",
        got.audio_frames,
        sent.audio_frames
    );
    assert_eq!(decode_errors(file), "", "{}", file.display());
    let d = duration_s(file);
    assert!((d - f64::from(secs)).abs() < 0.5, "duration {d}");
}

/// The segment plan in MP4: each file is a whole fragmented MP4 starting at a keyframe, cut
/// at the first keyframe after 5 s (8 s with a 4 s GOP); together they hold every frame.
#[test]
fn segments_are_whole_mp4_files_cut_at_keyframes() {
    let _turn = serial();
    require("ffprobe");
    let dir = TempDir::new("dvr-mp4-segment");
    let secs = 18;
    let (_server, copy, files) = record(&dir, "segment", secs, AAC);
    assert!(files.len() >= 2, "{files:?}");
    let sent = ffprobe(&dir, &copy.display().to_string(), Duration::from_secs(60));
    let (mut video, mut audio) = (0, 0);
    for (i, f) in files.iter().enumerate() {
        assert_eq!(top_boxes(f)[..2], ["ftyp", "moov"], "{f:?}");
        let p = ffprobe(&dir, &f.display().to_string(), Duration::from_secs(60));
        assert_eq!(p.codecs, ["aac", "h264"], "{f:?}: {p:?}");
        assert_eq!(p.first_video.as_ref().map(|(k, _)| *k), Some(true), "{f:?}");
        assert_eq!(decode_errors(f), "", "{}", f.display());
        video += p.video_frames;
        audio += p.audio_frames;
        let d = duration_s(f);
        if i + 1 < files.len() {
            assert!((5.0..9.5).contains(&d), "{f:?}: {d} s");
        }
    }
    assert_eq!(video, sent.video_frames, "segment video frames");
    assert_eq!(
        audio + audio_before_first_keyframe(&copy),
        sent.audio_frames,
        "segment audio frames"
    );
}

/// The power cut: SIGKILL the server 8 s into an MP4 recording; the next start cuts the
/// `.mp4.part` after its last complete fragment and renames it; ffprobe reads it with a
/// duration within 2 s of what was recorded before the kill, and ffmpeg decodes it cleanly.
#[test]
fn an_mp4_cut_by_sigkill_is_repaired_at_the_next_start() {
    let _turn = serial();
    require("ffprobe");
    let dir = TempDir::new("dvr-mp4-kill");
    let root = dir.path("rec");
    let config = format!(
        "[vhost.__defaultVhost__.dvr]\nenabled = true\n\
         dvr_path = \"{}/[app]/[stream].[timestamp].mp4\"\n",
        root.display()
    );
    let server = Server::start(&config);
    let ffmpeg = ffmpeg_publish_tee(
        &dir,
        &server.url("live/cam"),
        &dir.path("sent.flv"),
        60,
        AAC,
    );
    assert!(
        server.wait_log("recording to", Duration::from_secs(15)),
        "{}",
        server.log()
    );
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(8));
    server.signal("KILL");
    let recorded = started.elapsed().as_secs_f64();
    drop(ffmpeg);
    drop(server);
    let left = files_under(&root);
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].to_string_lossy().ends_with(".mp4.part"), "{left:?}");

    let server = Server::start(&config);
    assert!(
        server.wait_log("dvr: repaired", Duration::from_secs(10)),
        "{}",
        server.log()
    );
    let files = files_under(&root);
    assert_eq!(files.len(), 1, "{files:?}");
    let file = &files[0];
    assert_eq!(
        file.to_string_lossy(),
        left[0].to_string_lossy().trim_end_matches(".part")
    );
    let boxes = top_boxes(file);
    assert_eq!(boxes.last().map(String::as_str), Some("mdat"), "{boxes:?}");
    let d = duration_s(file);
    eprintln!("dvr: repaired {d:.2} s of {recorded:.2} s recorded before SIGKILL");
    assert!(
        (d - recorded).abs() <= 2.0,
        "repaired {d} s of {recorded:.1} s recorded; log:\n{}",
        server.log()
    );
    let p = ffprobe(&dir, &file.display().to_string(), Duration::from_secs(60));
    assert_eq!(p.codecs, ["aac", "h264"], "{p:?}");
    assert_eq!(decode_errors(file), "", "{}", file.display());
}

/// G.711 (A-law) audio, which MP4 cannot carry: the recording holds the video alone, and the
/// log says so once for the file.
#[test]
fn g711_audio_is_left_out_of_an_mp4_with_one_log_line() {
    let _turn = serial();
    require("ffprobe");
    let dir = TempDir::new("dvr-mp4-g711");
    let alaw = &["-c:a", "pcm_alaw", "-ar", "8000", "-ac", "1"];
    let (server, copy, files) = record(&dir, "session", 6, alaw);
    assert_eq!(files.len(), 1, "{files:?}");
    let sent = ffprobe(&dir, &copy.display().to_string(), Duration::from_secs(60));
    assert_eq!(sent.codecs, ["h264", "pcm_alaw"], "{sent:?}");
    let got = ffprobe(
        &dir,
        &files[0].display().to_string(),
        Duration::from_secs(60),
    );
    assert_eq!(got.codecs, ["h264"], "{got:?}");
    assert_eq!(got.video_frames, sent.video_frames);
    assert_eq!(decode_errors(&files[0]), "", "{}", files[0].display());
    let log = server.log();
    assert_eq!(
        log.matches("left out of the MP4").count(),
        1,
        "one line per recording:\n{log}"
    );
}
