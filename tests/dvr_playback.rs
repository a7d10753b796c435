//! Time-based playback against the real binary: ffmpeg publishes H.264 + AAC with a 2 s GOP,
//! the DVR cuts MP4 segments of about 4 s, then `/api/v1/dvr/spans` lists the time they
//! cover and `/api/v1/dvr/playback` stitches a span across segment files into one
//! fragmented MP4 that ffprobe and ffmpeg read: codecs, length within a GOP of what was
//! asked, a keyframe first, no decode errors, every frame of the archive when the whole
//! span is asked for.

mod common;

use std::time::{Duration, Instant};

use common::recordings::{decode_errors, duration_s, files_under};
use common::{curl, ffmpeg_publish, ffprobe, require, Server, TempDir};

const GOP: u32 = 50;

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// RFC 3339 (as the API writes it) to ms: only the `...Z` form with optional fraction.
fn ms_of(rfc3339: &str) -> u64 {
    let out = std::process::Command::new("date")
        .args(["-u", "-d", rfc3339, "+%s%3N"])
        .output()
        .expect("run date");
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[test]
fn playback_stitches_segments_into_one_mp4() {
    require("ffprobe");
    require("curl");
    let dir = TempDir::new("dvr-playback");
    let root = dir.path("rec");
    let server = Server::start(&format!(
        "[vhost.__defaultVhost__.dvr]\nenabled = true\ndvr_plan = \"segment\"\n\
         dvr_duration = 4\ndvr_path = \"{}/[app]/[stream].[timestamp].mp4\"\n",
        root.display()
    ));
    let secs = 16;
    let mut p = ffmpeg_publish(&dir, &server.url("live/cam"), secs, GOP, "800k");
    assert!(p.wait(Duration::from_secs(60)).success(), "{}", p.stderr());
    let end = Instant::now() + Duration::from_secs(8);
    let files = loop {
        let f = files_under(&root);
        let done = !f.is_empty() && f.iter().all(|f| !f.to_string_lossy().ends_with(".part"));
        if done || Instant::now() > end {
            break f;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(files.len() >= 3, "{files:?}\n{}", server.log());
    let recorded: f64 = files.iter().map(|f| duration_s(f)).sum();

    // One span: the segments follow each other.
    let (status, v) = common::get_json(
        server.http_addr.unwrap(),
        "/api/v1/dvr/spans?stream=live/cam",
    );
    assert_eq!((status, &v["code"]), (200, &serde_json::json!(0)), "{v}");
    let spans = v["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 1, "{v}");
    let span_s = spans[0]["duration"].as_f64().unwrap();
    assert!(
        (span_s - recorded).abs() < 1.0,
        "span {span_s} s, files {recorded} s: {v}"
    );
    let span_start = ms_of(spans[0]["start"].as_str().unwrap());

    // 6 s from 3 s in: crosses at least one segment boundary (4 s segments).
    let start = span_start + 3_000;
    let url = server.http_url(&format!(
        "api/v1/dvr/playback?stream=live/cam&start={start}&duration=6"
    ));
    let (status, head, body) = curl(&[&url]);
    assert_eq!(status, 200, "{head}\n{}", String::from_utf8_lossy(&body));
    assert_eq!(header(&head, "Content-Type"), Some("video/mp4"), "{head}");
    assert_eq!(
        header(&head, "Content-Length").and_then(|l| l.parse().ok()),
        Some(body.len()),
        "{head}"
    );
    let first = ms_of(header(&head, "X-Playback-Start").unwrap());
    assert!(
        first <= start && start - first <= 2_100,
        "starts at {first} for {start}: {head}"
    );
    let out = dir.path("span.mp4");
    std::fs::write(&out, &body).unwrap();
    let probe = ffprobe(&dir, &out.display().to_string(), Duration::from_secs(60));
    assert!(probe.success, "{probe:?}");
    assert_eq!(probe.codecs, ["aac", "h264"], "{probe:?}");
    assert_eq!(probe.first_video.as_ref().map(|(k, _)| *k), Some(true));
    assert_eq!(decode_errors(&out), "");
    let d = duration_s(&out);
    assert!((5.0..=8.6).contains(&d), "duration {d}");
    // 25 fps over the stitched duration: no frame lost or doubled at the file boundary.
    let frames = probe.video_frames as f64;
    assert!((frames - d * 25.0).abs() <= 3.0, "{frames} frames in {d} s");
    eprintln!(
        "playback: {} files, span {span_s} s; asked 6 s from {start}, got {d} s from {first} \
         ({frames} frames, {} bytes)",
        files.len(),
        body.len()
    );

    // The whole span: every frame of every file.
    let whole = server.http_url(&format!(
        "api/v1/dvr/playback?stream=live/cam&start={span_start}&duration={}",
        span_s + 1.0
    ));
    let (status, head, body) = curl(&[&whole]);
    assert_eq!(status, 200, "{head}");
    let all = dir.path("all.mp4");
    std::fs::write(&all, &body).unwrap();
    let got = ffprobe(&dir, &all.display().to_string(), Duration::from_secs(60));
    let mut video = 0;
    for f in &files {
        video += ffprobe(&dir, &f.display().to_string(), Duration::from_secs(60)).video_frames;
    }
    assert_eq!(got.video_frames, video, "{head}");
    assert_eq!(decode_errors(&all), "");

    // ffmpeg reads it straight from the URL.
    let st = std::process::Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-nostdin",
            "-v",
            "error",
            "-i",
            &url,
            "-f",
            "null",
            "-",
        ])
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );

    // Errors: a parameter missing or wrong, a time with nothing recorded.
    for (query, want) in [
        ("stream=live/cam&duration=5", 400),
        ("stream=live/cam&start=yesterday&duration=5", 400),
        ("stream=live/cam&start=1000&duration=0", 400),
        ("start=1000&duration=5", 400),
        ("stream=live/cam&start=1000&duration=5", 404),
        ("stream=live/other&start=1000&duration=5", 404),
    ] {
        let (status, head, _) = curl(&[&server.http_url(&format!("api/v1/dvr/playback?{query}"))]);
        assert_eq!(status, want, "{query}: {head}");
    }
}
