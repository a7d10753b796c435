//! DVR against the real binary: ffmpeg publishes, the recordings are read by ffprobe and
//! ffmpeg; a SIGKILL mid-recording is repaired at the next start; a disk that fills up stops
//! recording (and only recording) until space comes back; loop recording keeps a root under
//! its quota.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::paced::{read_until_unpublish, Paced};
use common::recordings::{decode_errors, duration_s, files_under, is_part};
use common::{curl, ffprobe, player, publisher, require, Proc, Server, TempDir};
use serde_json::Value;

static SERIAL: Mutex<()> = Mutex::new(());

/// One ffmpeg-encoding test at a time: two shared cores encode two streams in real time at
/// most, and the timing checks need them to keep up.
fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// 25 fps with a keyframe every 100 frames (4 s), as a camera's default GOP.
const GOP: u32 = 100;

/// ffmpeg encoding H.264 (noise, so the bitrate is real: about 1.5 Mbit/s) and AAC in real
/// time for `seconds`, to `url` and, the same packets, to the local FLV `copy`: what was
/// published, to count against.
fn ffmpeg_publish_tee(dir: &TempDir, url: &str, copy: &Path, seconds: u32) -> Proc {
    require("ffmpeg");
    let name = copy.file_name().unwrap().to_string_lossy().to_string();
    Proc::spawn(
        Command::new("ffmpeg")
            .args(["-hide_banner", "-nostats", "-loglevel", "error", "-re"])
            .args(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"])
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
            .args(["-t", &seconds.to_string(), "-map", "0:v", "-map", "1:a"])
            .args(["-vf", "noise=alls=12:allf=t"])
            .args([
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-tune",
                "zerolatency",
            ])
            .args(["-g", &GOP.to_string(), "-keyint_min", &GOP.to_string()])
            .args(["-b:v", "1500k", "-maxrate", "1500k", "-bufsize", "1500k"])
            .args(["-c:a", "aac", "-b:a", "64k", "-f", "tee"])
            .arg(format!("[f=flv]{url}|[f=flv]{}", copy.display()))
            .stdout(Stdio::null()),
        &dir.path(&format!("publish-{name}.err")),
    )
}

/// The `pts_time` of each video keyframe of `file`, in seconds.
fn keyframe_times(file: &Path) -> Vec<f64> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v",
            "-skip_frame",
            "nokey",
        ])
        .args(["-show_entries", "frame=pts_time", "-of", "csv=p=0"])
        .arg(file)
        .output()
        .expect("run ffprobe");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect()
}

/// Audio packets of `file` that come before its first video keyframe: what a recording that
/// starts at a keyframe leaves out.
fn audio_before_first_keyframe(file: &Path) -> usize {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "packet=codec_type,pts_time,flags",
        ])
        .args(["-of", "csv=p=0"])
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

fn api(server: &Server, path: &str) -> Value {
    let (status, _, body) = curl(&[&server.http_url(path)]);
    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).expect("API JSON")
}

/// The local date as `date` prints it: the server names files in local time.
fn local_date() -> String {
    let out = Command::new("date").arg("+%Y-%m-%d").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The issue's first check: two streams recorded at once, one on the segment plan (default
/// vhost, 5 s target against a 4 s GOP) and one on the session plan (a named vhost), with
/// SRS's date template. Every recording is H.264 + AAC that ffmpeg decodes without a word;
/// the frames in the recordings are the frames published (ffmpeg's own copy of what it
/// sent); segments start at keyframes and are cut at the first keyframe after 5 s; the paths
/// expand as SRS expands them.
#[test]
fn segments_and_sessions_hold_every_published_frame() {
    let _turn = serial();
    require("ffprobe");
    let dir = TempDir::new("dvr-record");
    let root = dir.path("rec");
    let server = Server::start(&format!(
        "[vhost.__defaultVhost__.dvr]\nenabled = true\ndvr_plan = \"segment\"\n\
         dvr_duration = 5\n\
         dvr_path = \"{root}/[vhost]/[app]/[stream]/[2006]-[01]-[02]/[15][04][05].[999].flv\"\n\
         [vhost.\"session.example\"]\nenabled = true\n[vhost.\"session.example\".dvr]\n\
         enabled = true\ndvr_path = \"{root}/session/[app]/[stream].[timestamp].flv\"\n",
        root = root.display()
    ));
    let secs = 18;
    let (seg_copy, ses_copy) = (dir.path("segment.flv"), dir.path("session.flv"));
    let mut a = ffmpeg_publish_tee(&dir, &server.url("live/cam"), &seg_copy, secs);
    let mut b = ffmpeg_publish_tee(
        &dir,
        &server.url("live/door?vhost=session.example"),
        &ses_copy,
        secs,
    );
    assert!(a.wait(Duration::from_secs(60)).success(), "{}", a.stderr());
    assert!(b.wait(Duration::from_secs(60)).success(), "{}", b.stderr());
    // The last files close at unpublish.
    assert!(
        server.wait_log(
            &format!("closed {}/session", root.display()),
            Duration::from_secs(5)
        ) && wait_for(|| files_under(&root).iter().all(|f| !is_part(f)), 5),
        "{}",
        server.log()
    );
    let all = files_under(&root);
    let (session, segments): (Vec<PathBuf>, Vec<PathBuf>) = all
        .into_iter()
        .partition(|p| p.starts_with(root.join("session")));

    // Session plan: one file for the whole publish, named [stream].[timestamp].flv.
    assert_eq!(session.len(), 1, "{session:?}");
    let name = session[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string();
    let ms: u64 = name
        .strip_prefix("door.")
        .and_then(|n| n.strip_suffix(".flv"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{name}"));
    assert!(ms > 1_700_000_000_000, "{name}: [timestamp] is Unix ms");
    let sent = ffprobe(
        &dir,
        &ses_copy.display().to_string(),
        Duration::from_secs(60),
    );
    let got = ffprobe(
        &dir,
        &session[0].display().to_string(),
        Duration::from_secs(60),
    );
    assert_eq!(got.codecs, ["aac", "h264"], "{got:?}");
    assert_eq!(got.video_frames, sent.video_frames, "session video frames");
    assert_eq!(
        got.audio_frames,
        sent.audio_frames - audio_before_first_keyframe(&ses_copy),
        "session audio frames: all from the first keyframe on"
    );
    assert_eq!(decode_errors(&session[0]), "", "{}", session[0].display());
    let d = duration_s(&session[0]);
    assert!((d - f64::from(secs)).abs() < 0.5, "session duration {d}");

    // Segment plan: [vhost]/[app]/[stream]/[2006]-[01]-[02]/[15][04][05].[999].flv.
    assert!(segments.len() >= 3, "{segments:?}");
    let day = root.join(format!("__defaultVhost__/live/cam/{}", local_date()));
    let sent = ffprobe(
        &dir,
        &seg_copy.display().to_string(),
        Duration::from_secs(60),
    );
    let (mut video, mut audio) = (0, 0);
    for (i, seg) in segments.iter().enumerate() {
        assert_eq!(seg.parent(), Some(day.as_path()), "{seg:?}");
        let name = seg.file_name().unwrap().to_string_lossy().to_string();
        let ok = name.len() == "153045.123.flv".len()
            && name[..6].bytes().all(|b| b.is_ascii_digit())
            && name[7..10].bytes().all(|b| b.is_ascii_digit());
        assert!(ok, "{name}: [15][04][05].[999].flv");
        let p = ffprobe(&dir, &seg.display().to_string(), Duration::from_secs(60));
        assert_eq!(p.codecs, ["aac", "h264"], "{seg:?}: {p:?}");
        assert_eq!(
            p.first_video.as_ref().map(|(key, _)| *key),
            Some(true),
            "{seg:?} starts with a keyframe"
        );
        assert_eq!(decode_errors(seg), "", "{}", seg.display());
        video += p.video_frames;
        audio += p.audio_frames;
        let d = duration_s(seg);
        let keys = keyframe_times(seg);
        if i + 1 < segments.len() {
            // Cut at the first keyframe after 5 s: 8 s with a keyframe every 4 s.
            assert!(
                (5.0..5.0 + 4.0 + 0.5).contains(&d),
                "{seg:?}: {d} s, keyframes {keys:?}"
            );
        }
    }
    assert_eq!(video, sent.video_frames, "segment video frames");
    assert_eq!(
        audio,
        sent.audio_frames - audio_before_first_keyframe(&seg_copy),
        "segment audio frames: all from the first keyframe on"
    );
    assert_eq!(sent.video_frames, secs as usize * 25);

    // The API lists them, closed, with their sizes.
    let list = api(&server, "api/v1/dvrs");
    let dvrs = list["dvrs"].as_array().unwrap();
    assert_eq!(dvrs.len(), segments.len() + 1, "{list}");
    for d in dvrs {
        assert_eq!(d["state"], "closed", "{d}");
        let len = std::fs::metadata(d["path"].as_str().unwrap())
            .unwrap()
            .len();
        assert_eq!(d["bytes"].as_u64(), Some(len), "{d}");
    }
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

/// The issue's power-cut check: SIGKILL the server 8 s into a recording; at the next start
/// the leftover `.part` is cut after its last complete tag and renamed, and ffprobe reads it
/// with a duration within 2 s of what was recorded before the kill; ffmpeg decodes it
/// without an error. The API lists it as repaired.
#[test]
fn a_recording_cut_by_sigkill_is_repaired_at_the_next_start() {
    let _turn = serial();
    require("ffprobe");
    let dir = TempDir::new("dvr-kill");
    let root = dir.path("rec");
    let config = format!(
        "[vhost.__defaultVhost__.dvr]\nenabled = true\n\
         dvr_path = \"{}/[app]/[stream].[timestamp].flv\"\n",
        root.display()
    );
    let server = Server::start(&config);
    let ffmpeg = ffmpeg_publish_tee(&dir, &server.url("live/cam"), &dir.path("sent.flv"), 60);
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
    assert!(is_part(&left[0]), "{left:?}");

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
    let d = duration_s(file);
    eprintln!("dvr: repaired {d:.2} s of {recorded:.2} s recorded before SIGKILL");
    assert!(
        (d - recorded).abs() <= 2.0,
        "repaired {d} s of {recorded:.1} s recorded; log:\n{}",
        server.log()
    );
    assert_eq!(decode_errors(file), "", "{}", file.display());
    let list = api(&server, "api/v1/dvrs");
    assert_eq!(list["dvrs"][0]["state"], "repaired", "{list}");
    assert_eq!(
        list["dvrs"][0]["bytes"].as_u64(),
        Some(std::fs::metadata(file).unwrap().len())
    );
}

/// A tmpfs mounted for one test (CI runs as root), unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(at).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(Tmpfs(at.to_path_buf()))
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// The issue's disk-full check, on a 1 MiB tmpfs: the recording fills it and stops with one
/// log line and the error in the API, while a player gets every frame; space freed, it goes
/// on by itself in a new file, which is whole when the publisher leaves.
#[test]
fn a_full_disk_stops_only_the_recording_which_resumes_when_space_is_freed() {
    let dir = TempDir::new("dvr-full");
    let mnt = dir.path("mnt");
    let _fs = match Tmpfs::mount(&mnt, "1m") {
        Ok(fs) => fs,
        Err(e) => {
            eprintln!("SKIPPED: cannot mount a tmpfs to fill (needs root): {e}");
            return;
        }
    };
    let server = Server::start(&format!(
        "[vhost.__defaultVhost__.play]\ntime_jitter = \"off\"\n\
         [vhost.__defaultVhost__.dvr]\nenabled = true\ndvr_plan = \"segment\"\n\
         dvr_duration = 1\ndvr_path = \"{}/dvr/[app]/[stream].[timestamp].flv\"\n",
        mnt.display()
    ));
    let watcher = {
        let mut c = player(&server, "cam");
        std::thread::spawn(move || read_until_unpublish(&mut c, Duration::from_secs(60)))
    };
    // 8 KB frames at 25 fps, a keyframe a second: 200 KB/s fills 1 MiB in 5 s.
    let paced = Paced::start(publisher(&server, "cam"), 8_000, 25);
    assert!(
        server.wait_log("recording stopped", Duration::from_secs(20)),
        "{}",
        server.log()
    );
    let list = api(&server, "api/v1/dvrs");
    let rec = &list["recorders"][0];
    assert_eq!(rec["state"], "failed", "{list}");
    assert!(
        rec["error"]
            .as_str()
            .unwrap_or("")
            .contains("No space left"),
        "{list}"
    );
    // Still full a few retries later: no more lines.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(server.log().matches("recording stopped").count(), 1);
    for f in files_under(&mnt) {
        if !is_part(&f) {
            std::fs::remove_file(f).unwrap();
        }
    }
    assert!(
        server.wait_log("recording again", Duration::from_secs(10)),
        "{}",
        server.log()
    );
    std::thread::sleep(Duration::from_millis(1500));
    let (sent, _) = paced.finish();
    let got = watcher.join().unwrap().expect("the player read to the end");
    let frames: Vec<u32> = got.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        frames,
        (0..sent).collect::<Vec<_>>(),
        "every frame, in order"
    );
    assert!(wait_for(
        || files_under(&mnt).iter().all(|f| !is_part(f)),
        5
    ));
    let after = files_under(&mnt);
    assert!(!after.is_empty(), "recorded again");
    for f in &after {
        let bytes = std::fs::read(f).unwrap();
        assert_eq!(
            tinysrs::wire::flv::scan::complete_len(&bytes),
            bytes.len() as u64,
            "{} ends on a whole tag",
            f.display()
        );
    }
}

/// Loop recording: 2 s segments of a 1.2 Mbit/s stream under a 2 MB quota for 30 s (about
/// 4.5 MB recorded). The recordings under the root stay under the quota but for the files
/// being written and closed since the last pass (checked at each close), the oldest go, the
/// newest stay.
#[test]
fn loop_recording_keeps_the_root_under_its_quota() {
    let dir = TempDir::new("dvr-loop");
    let root = dir.path("rec");
    const QUOTA: u64 = 2_000_000;
    let server = Server::start(&format!(
        "[vhost.__defaultVhost__.dvr]\nenabled = true\ndvr_plan = \"segment\"\n\
         dvr_duration = 2\ndvr_max_bytes = {QUOTA}\n\
         dvr_path = \"{}/[app]/[stream]/[timestamp].flv\"\n",
        root.display()
    ));
    // 6 KB frames at 25 fps: 150 KB/s, 300 KB a segment.
    let paced = Paced::start(publisher(&server, "cam"), 6_000, 25);
    let end = Instant::now() + Duration::from_secs(30);
    let mut most = 0;
    let mut seen = Vec::new();
    while Instant::now() < end {
        let files = files_under(&root);
        let total: u64 = files
            .iter()
            .filter_map(|f| std::fs::metadata(f).ok())
            .map(|m| m.len())
            .sum();
        most = most.max(total);
        for f in files {
            if !is_part(&f) && !seen.contains(&f) {
                seen.push(f);
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    paced.finish();
    eprintln!("dvr: loop recording: at most {most} bytes under the root (quota {QUOTA})");
    // The quota, the file being written and one closed since the last pass.
    assert!(most <= QUOTA + 2 * 330_000, "{most} bytes at most");
    assert!(wait_for(
        || {
            let total: u64 = files_under(&root)
                .iter()
                .filter_map(|f| std::fs::metadata(f).ok())
                .map(|m| m.len())
                .sum();
            total <= QUOTA
        },
        5
    ));
    let left = files_under(&root);
    assert!(seen.len() >= 12, "{} files", seen.len());
    assert!(!left.contains(&seen[0]), "the oldest went");
    assert!(left.contains(seen.last().unwrap()), "the newest stayed");
    assert!(
        server.log().contains("loop recording deleted"),
        "{}",
        server.log()
    );
    let list = api(&server, "api/v1/dvrs");
    assert!(
        list["roots"][0]["bytes"].as_u64().unwrap() <= QUOTA,
        "{list}"
    );
}

/// Recording switched at run time: a reload that turns DVR on records a stream already
/// published (from its next keyframe, out of the GOP cache); `POST /api/v1/dvrs` stops and
/// starts it; every file is whole. The hub's DVR events are in the debug log.
#[test]
fn reload_and_the_api_start_and_stop_a_published_stream() {
    let dir = TempDir::new("dvr-reload");
    let root = dir.path("rec");
    let base = "[log]\nlevel = \"debug\"\n[vhost.__defaultVhost__.dvr]\n";
    let path = format!(
        "dvr_path = \"{}/[app]/[stream].[timestamp].flv\"\n",
        root.display()
    );
    let server = Server::start(&format!("{base}enabled = false\n{path}"));
    let paced = Paced::start(publisher(&server, "cam"), 2_000, 25);
    std::thread::sleep(Duration::from_secs(2));
    assert!(files_under(&root).is_empty());
    let text = std::fs::read_to_string(&server.config_path).unwrap();
    std::fs::write(
        &server.config_path,
        text.replace("enabled = false\ndvr_path", "enabled = true\ndvr_path"),
    )
    .unwrap();
    server.signal("HUP");
    assert!(
        server.wait_log("recording to", Duration::from_secs(5)),
        "{}",
        server.log()
    );
    let post = |body: &str| {
        let (status, _, out) = curl(&["-X", "POST", "-d", body, &server.http_url("api/v1/dvrs")]);
        assert_eq!(status, 200);
        serde_json::from_slice::<Value>(&out).unwrap()
    };
    std::thread::sleep(Duration::from_secs(2));
    let stopped = post(r#"{"action":"stop","app":"live","stream":"cam"}"#);
    assert_eq!(stopped["code"], 0, "{stopped}");
    assert_eq!(stopped["dvr"]["state"], "idle", "{stopped}");
    assert!(server.wait_log("hub: DvrClosed", Duration::from_secs(5)));
    let started = post(r#"{"action":"start","app":"live","stream":"cam"}"#);
    assert_eq!(started["dvr"]["state"], "writing", "{started}");
    std::thread::sleep(Duration::from_millis(2500));
    paced.finish();
    assert!(wait_for(
        || {
            let f = files_under(&root);
            f.len() == 2 && f.iter().all(|f| !is_part(f))
        },
        5
    ));
    for f in files_under(&root) {
        let bytes = std::fs::read(&f).unwrap();
        let scan = tinysrs::wire::flv::scan::scan(&bytes);
        assert_eq!(scan.complete_len(), bytes.len() as u64, "{}", f.display());
        // Each file starts at a keyframe and holds about 2 s: the first one also up to a GOP
        // (1 s) from the cache and the POST's own time (over 0.5 s seen on a loaded machine).
        let ms = scan.duration_ms();
        assert!((1_500..=4_500).contains(&ms), "{}: {ms} ms", f.display());
    }
    // The hub's events, as the sweep logs them (once a second).
    assert!(
        wait_for(|| server.log().matches("hub: DvrClosed").count() == 2, 3),
        "{}",
        server.log()
    );
    assert_eq!(server.log().matches("hub: DvrStarted").count(), 2);
}
