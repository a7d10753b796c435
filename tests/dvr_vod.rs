//! Playback of recordings (VOD, issue 11) against the real binary: ffmpeg publishes 8 s of
//! H.264 + AAC (2 s GOP), the DVR records it as MP4 or FLV, and the recording is read back
//! over HTTP below `dvr.http_mount`: ffmpeg seeks in the MP4 with Range requests, ffprobe
//! reads an FLV from `?start=` (half the file) and sees it start on a keyframe with about
//! half the frames; traversal and a symlink out of the root are refused.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::recordings::files_under;
use common::{curl, ffmpeg_publish, ffprobe, require, Server, TempDir};

static SERIAL: Mutex<()> = Mutex::new(());

/// One ffmpeg-encoding test at a time: the shared cores encode in real time.
fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Seconds published.
const SECS: u32 = 8;
/// 25 fps, a keyframe every 2 s.
const GOP: u32 = 50;

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

/// Records `SECS` seconds to `rec/[app]/[stream].[timestamp].EXT`; the server and the one
/// recording, closed.
fn record(dir: &TempDir, ext: &str) -> (Server, PathBuf) {
    let root = dir.path("rec");
    let server = Server::start(&format!(
        "[vhost.__defaultVhost__.dvr]\nenabled = true\n\
         dvr_path = \"{}/[app]/[stream].[timestamp].{ext}\"\n",
        root.display()
    ));
    let mut p = ffmpeg_publish(dir, &server.url("live/cam1"), SECS, GOP, "800k");
    assert!(p.wait(Duration::from_secs(60)).success(), "{}", p.stderr());
    let closed = || {
        let f = files_under(&root);
        !f.is_empty() && f.iter().all(|f| !f.to_string_lossy().ends_with(".part"))
    };
    assert!(
        server.wait_log("closed", Duration::from_secs(5)) && wait_for(closed, 5),
        "{}",
        server.log()
    );
    let files = files_under(&root);
    assert_eq!(files.len(), 1, "{files:?}");
    (server, files[0].clone())
}

/// The URL of `file` (under `dir/rec`) below the mount.
fn vod_url(server: &Server, dir: &TempDir, file: &Path) -> String {
    let rel = file.strip_prefix(dir.path("rec")).unwrap();
    server.http_url(&format!("dvr/{}", rel.display()))
}

/// A header's value in curl's dump of the response head.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Packets of a URL: (codec_type, pts_time, keyframe).
fn packets(url: &str) -> Vec<(String, f64, bool)> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries"])
        .args(["packet=codec_type,pts_time,flags", "-of", "csv=p=0", url])
        .output()
        .expect("run ffprobe");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Some((
                f.first()?.to_string(),
                f.get(1)?.parse().ok()?,
                f.get(2)?.starts_with('K'),
            ))
        })
        .collect()
}

/// An MP4 recording over HTTP: ffprobe reads it, ffmpeg seeks 4 s in and decodes 2 s (its
/// HTTP reads are Range requests), curl's Range gets a 206 with Content-Range, HEAD the
/// length, and the containment holds (`..`, a symlink out of the root, a missing file).
#[test]
fn an_mp4_recording_plays_and_seeks_over_http() {
    let _turn = serial();
    require("ffprobe");
    require("curl");
    let dir = TempDir::new("dvr-vod-mp4");
    let (server, file) = record(&dir, "mp4");
    let url = vod_url(&server, &dir, &file);
    let size = std::fs::metadata(&file).unwrap().len();

    let probe = ffprobe(&dir, &url, Duration::from_secs(60));
    assert!(probe.success, "{probe:?}");
    assert_eq!(probe.codecs, ["aac", "h264"], "{probe:?}");

    let out = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-nostdin",
            "-v",
            "error",
            "-ss",
            "4",
            "-i",
            &url,
        ])
        .args(["-t", "2", "-f", "null", "-"])
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (status, head, body) = curl(&["-r", "100-199", &url]);
    assert_eq!(status, 206, "{head}");
    assert_eq!(
        header(&head, "Content-Range"),
        Some(format!("bytes 100-199/{size}").as_str())
    );
    assert_eq!(header(&head, "Content-Type"), Some("video/mp4"));
    assert!(header(&head, "Last-Modified").is_some(), "{head}");
    assert_eq!(body, std::fs::read(&file).unwrap()[100..200]);
    // HEAD (curl writes the head alone, to both outputs).
    let (status, head, _) = curl(&["-I", &url]);
    assert_eq!(status, 200, "{head}");
    assert_eq!(
        header(&head, "Content-Length"),
        Some(size.to_string().as_str())
    );

    // Containment: a file next to the root, reached by `..` and by a symlink.
    std::fs::write(dir.path("secret.mp4"), b"secret").unwrap();
    std::os::unix::fs::symlink(dir.path("secret.mp4"), dir.path("rec/live/out.mp4")).unwrap();
    for (path, status) in [
        ("dvr/../secret.mp4", 403),
        ("dvr/live/%2e%2e/%2e%2e/secret.mp4", 403),
        ("dvr/live/out.mp4", 403),
        ("dvr/live/missing.mp4", 404),
    ] {
        let (got, head, _) = curl(&["--path-as-is", &server.http_url(path)]);
        assert_eq!(got, status, "{path}: {head}");
    }
}

/// An FLV recording from `?start=` half its size: the metadata and sequence headers, then
/// the file from the next keyframe: ffprobe's first video packet is a keyframe and it holds
/// about half the frames; the Content-Length is what arrives; without `start` and with a
/// Range it is a static file.
#[test]
fn an_flv_recording_plays_from_a_byte_offset() {
    let _turn = serial();
    require("ffprobe");
    require("curl");
    let dir = TempDir::new("dvr-vod-flv");
    let (server, file) = record(&dir, "flv");
    let url = vod_url(&server, &dir, &file);
    let size = std::fs::metadata(&file).unwrap().len();

    let whole = packets(&url);
    let whole_video = whole.iter().filter(|p| p.0 == "video").count();
    assert!(
        whole_video >= 150,
        "{whole_video} video packets in {SECS} s"
    );

    let half = format!("{url}?start={}", size / 2);
    let (status, head, body) = curl(&[&half]);
    assert_eq!(status, 200, "{head}");
    assert_eq!(header(&head, "Content-Type"), Some("video/x-flv"));
    assert_eq!(
        header(&head, "Content-Length"),
        Some(body.len().to_string().as_str())
    );
    assert_eq!(&body[..3], b"FLV");
    assert!(
        (body.len() as u64) < size / 2 + 4096,
        "{} of {size}",
        body.len()
    );

    let from = packets(&half);
    let video: Vec<&(String, f64, bool)> = from.iter().filter(|p| p.0 == "video").collect();
    assert!(
        video.first().is_some_and(|p| p.2),
        "first video packet: {video:?}"
    );
    assert!(from.iter().any(|p| p.0 == "audio"), "no audio");
    // Half the bytes, then up to one GOP (2 s of 8) to the next keyframe.
    let share = video.len() as f64 / whole_video as f64;
    assert!(
        (0.2..0.6).contains(&share),
        "{} of {whole_video}",
        video.len()
    );
    let span = video.last().unwrap().1 - video[0].1;
    assert!((1.5..4.8).contains(&span), "{span} s");
    println!(
        "dvr_vod: flv ?start={} of {size} bytes: {} bytes sent, {} of {whole_video} video \
         packets, first at {:.2} s, {span:.2} s",
        size / 2,
        body.len(),
        video.len(),
        video[0].1
    );
    let probe = ffprobe(&dir, &half, Duration::from_secs(60));
    assert!(probe.success && probe.errors.is_empty(), "{probe:?}");
    assert_eq!(probe.first_video.as_ref().map(|v| v.0), Some(true));

    let (status, head, body) = curl(&["-r", "0-12", &url]);
    assert_eq!(status, 206, "{head}");
    assert_eq!(
        header(&head, "Content-Range"),
        Some(format!("bytes 0-12/{size}").as_str())
    );
    assert_eq!(&body[..3], b"FLV");
}
