//! The interop matrix (issue 17): publishers and players we did not write (GStreamer, VLC,
//! mpv, ffmpeg/ffprobe) against the real binary on 127.0.0.1, each protocol they speak.
//! `ci/install-deps` installs every client; a missing one fails its case with that message.
//!
//! Each case starts its own server and publisher (ffmpeg's lavfi test source, 320x240 at
//! 25 fps, 4:2:0 H.264 + AAC, a keyframe every 2 s, like a camera; or GStreamer, or an
//! OBS-like 10 s GOP), plays for a bounded time with a hard kill behind it, asserts a minimum
//! of decoded video frames and no decode errors in the client's log, and prints one matrix
//! line to the real stderr (so that it shows without `--nocapture`, and in ci/test's log):
//!
//!     interop: <client> <protocol>: <frames> frames, first frame <ms> ms
//!
//! Frames are counted from one log line per decoded (or shown) picture:
//! - GStreamer: `fakesink name=v silent=false` on the video branch and `gst-launch-1.0 -v`,
//!   one `last-message = chain ... (v:sink)` line per decoded frame reaching the sink;
//! - VLC: `--vout=stats` (the statistics display of the vdummy module) with `-vv`, one
//!   `VOUT got ... ms offset` line per picture displayed;
//! - mpv and ffmpeg: the `showinfo` filter after the decoder, one `n: N` line per frame;
//! - ffprobe: `-show_entries frame=media_type`, one `video` line per decoded frame.
//!
//! The first-frame time is measured from the spawn of the client to the arrival of its first
//! frame line on our pipe (clients run line-buffered: GStreamer's `g_print` flushes, VLC and
//! ffmpeg log to unbuffered stderr, mpv writes its log to `/dev/stdout` line by line and
//! ffprobe runs under `stdbuf -oL`). It includes the client's own start-up (loading plugins),
//! connecting, and for HLS fetching the playlist and a segment. Players join a running
//! stream: over RTMP, HTTP-FLV and HTTP-TS 3.5 s after publish (1.5 s into a 2 s GOP, held
//! by the GOP cache), over HLS once the playlist lists three segments. Readers built on
//! libavformat (mpv, VLC for FLV and RTMP, ffprobe) probe the streams first and wait for
//! live data when the GOP cache holds less than about 2 s, which shows in their figure.
//!
//! `TINYSRS_INTEROP_LOGS=DIR` keeps every client's transcript (stamped in ms) in DIR.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{curl, require, wait_timeout, Proc, Server, TempDir};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const SECS: Duration = Duration::from_secs(1);
const FPS: usize = 25;

/// What a client printed on stdout and stderr, each line stamped with the time since spawn.
type Transcript = Arc<Mutex<Vec<(Duration, String)>>>;

/// Reads `from` line by line (bytes, not UTF-8: VLC may print anything) into `into`, until
/// EOF.
fn stamp_lines(
    from: impl Read + Send + 'static,
    start: Instant,
    into: Transcript,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(from);
        let mut line = Vec::new();
        while reader.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
            let text = String::from_utf8_lossy(&line).trim_end().to_string();
            into.lock().unwrap().push((start.elapsed(), text));
            line.clear();
        }
    })
}

/// A player of the matrix: its command and how to read its log.
struct Player {
    client: &'static str,
    protocol: &'static str,
    command: Command,
    /// It plays this long: mpv, VLC, ffmpeg and ffprobe stop by themselves after it (their
    /// own time limit), gst-launch gets SIGINT; whatever is still running 10 s later is killed.
    play: Duration,
    /// Whether a line is the evidence of one decoded video frame.
    frame: fn(&str) -> bool,
    /// Whether a line reports a decode (or demux) error.
    error: fn(&str) -> bool,
    /// Fewer decoded frames than this fails the case.
    min_frames: usize,
    /// The first line of the client's own teardown, from which errors are not counted (VLC
    /// kills its decoder with frames in flight: `get_buffer() failed`).
    teardown: Option<fn(&str) -> bool>,
}

/// What one player run showed.
struct Outcome {
    frames: usize,
    first_frame: Option<Duration>,
    errors: Vec<String>,
    /// The whole transcript, for failure messages.
    log: String,
}

impl Player {
    fn until(mut self, teardown: fn(&str) -> bool) -> Player {
        self.teardown = Some(teardown);
        self
    }

    /// Runs the client, prints its matrix line and asserts on what it decoded.
    fn run(mut self, dir: &TempDir) {
        let start = Instant::now();
        let mut child = self
            .command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {:?}: {e}", self.command));
        let transcript = Transcript::default();
        let readers = [
            stamp_lines(child.stdout.take().unwrap(), start, transcript.clone()),
            stamp_lines(child.stderr.take().unwrap(), start, transcript.clone()),
        ];
        stop(&mut child, self.play);
        // The pipes reach EOF once the client is gone; bounded all the same.
        let end = Instant::now() + 5 * SECS;
        while readers.iter().any(|r| !r.is_finished()) && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(20));
        }
        let lines = transcript.lock().unwrap().clone();
        let log: String = lines
            .iter()
            .map(|(t, l)| format!("{:>6} {l}\n", t.as_millis()))
            .collect();
        let name = format!("{}-{}.log", self.client, self.protocol).replace(' ', "_");
        std::fs::write(dir.path(&name), &log).unwrap();
        // TINYSRS_INTEROP_LOGS=DIR keeps every transcript there (the scratch dir goes).
        if let Some(keep) = std::env::var_os("TINYSRS_INTEROP_LOGS") {
            let _ = std::fs::create_dir_all(&keep);
            let _ = std::fs::write(std::path::Path::new(&keep).join(&name), &log);
        }
        let frames: Vec<Duration> = lines
            .iter()
            .filter(|(_, l)| (self.frame)(l))
            .map(|(t, _)| *t)
            .collect();
        let outcome = Outcome {
            frames: frames.len(),
            first_frame: frames.first().copied(),
            errors: lines
                .iter()
                .take_while(|(_, l)| !self.teardown.is_some_and(|t| t(l)))
                .filter(|(_, l)| (self.error)(l))
                .map(|(_, l)| l.clone())
                .collect(),
            log,
        };
        outcome.check(self.client, self.protocol, self.min_frames);
    }
}

/// Waits `play` for `child` to stop by itself, then sends SIGINT (gst-launch stops its
/// pipeline), then after 10 s more kills it. Only this child, by its PID.
fn stop(child: &mut Child, play: Duration) {
    if wait_timeout(child, play).is_some() {
        return;
    }
    let pid = Pid::from_raw(child.id() as i32);
    let _ = kill(pid, Signal::SIGINT);
    if wait_timeout(child, 10 * SECS).is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Outcome {
    /// Prints the matrix line, then asserts.
    fn check(&self, client: &str, protocol: &str, min_frames: usize) {
        let first = self
            .first_frame
            .map_or("none".to_string(), |t| t.as_millis().to_string());
        let line = format!(
            "interop: {client} {protocol}: {} frames, first frame {first} ms\n",
            self.frames
        );
        // Straight to fd 2: the test harness captures print!/eprint!, not this.
        let _ = std::io::stderr().write_all(line.as_bytes());
        assert!(
            self.errors.is_empty(),
            "{client} {protocol}: decode errors:\n{}\n--- log:\n{}",
            self.errors.join("\n"),
            tail(&self.log)
        );
        assert!(
            self.frames >= min_frames,
            "{client} {protocol}: {} frames decoded, want at least {min_frames}\n--- log:\n{}",
            self.frames,
            tail(&self.log)
        );
    }
}

/// The last 150 lines of a transcript.
fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(150)..].join("\n")
}

// ---- publishers

/// ffmpeg publishing like a camera: lavfi test source 320x240 at 25 fps in 4:2:0,
/// x264 ultrafast/zerolatency (no B-frames), a keyframe every 2 s, 300 kbit/s, AAC.
fn camera(dir: &TempDir, url: &str) -> Proc {
    require("ffmpeg");
    Proc::spawn(
        Command::new("ffmpeg")
            .args(["-hide_banner", "-nostats", "-loglevel", "error", "-re"])
            .args(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"])
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
            .args(["-t", "60", "-pix_fmt", "yuv420p", "-c:v", "libx264"])
            .args(["-preset", "ultrafast", "-tune", "zerolatency"])
            .args(["-g", "50", "-keyint_min", "50"])
            .args(["-b:v", "300k", "-maxrate", "300k", "-bufsize", "300k"])
            .args(["-c:a", "aac", "-b:a", "64k", "-f", "flv", url])
            .stdout(Stdio::null()),
        &dir.path("publisher.err"),
    )
}

/// ffmpeg publishing like OBS with its defaults: x264 veryfast, High profile with B-frames,
/// keyframe interval 250 frames (10 s at 25 fps, no scene-cut keyframes in between), AAC.
fn ffmpeg_obs(dir: &TempDir, url: &str) -> Proc {
    require("ffmpeg");
    Proc::spawn(
        Command::new("ffmpeg")
            .args(["-hide_banner", "-nostats", "-loglevel", "error", "-re"])
            .args(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"])
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
            .args(["-t", "90", "-pix_fmt", "yuv420p", "-c:v", "libx264"])
            .args(["-preset", "veryfast", "-profile:v", "high", "-bf", "2"])
            .args(["-g", "250", "-sc_threshold", "0"])
            .args(["-b:v", "300k", "-maxrate", "300k", "-bufsize", "600k"])
            .args(["-c:a", "aac", "-b:a", "64k", "-f", "flv", url])
            .stdout(Stdio::null()),
        &dir.path("publisher.err"),
    )
}

/// GStreamer publishing: videotestsrc 320x240 at 25 fps in I420 (left to negotiate, Debian's
/// x264enc takes 10-bit 4:4:4), x264enc (keyframe every 2 s), AAC,
/// flvmux in streamable mode, rtmp2sink. flvmux re-sends onMetaData on its own whenever a tag
/// event comes (h264parse and aacparse post bitrate tags as they go): dozens of times in the
/// first seconds, then more and more rarely.
fn gstreamer_publisher(dir: &TempDir, url: &str) -> Proc {
    require_gst(&[
        "videotestsrc",
        "x264enc",
        "h264parse",
        "audiotestsrc",
        "avenc_aac",
        "aacparse",
        "flvmux",
        "rtmp2sink",
    ]);
    let pipeline = format!(
        "videotestsrc is-live=true \
         ! video/x-raw,format=I420,width=320,height=240,framerate=25/1 \
         ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=50 bitrate=300 \
         ! h264parse ! flvmux name=mux streamable=true ! rtmp2sink location={url} \
         audiotestsrc is-live=true ! audioconvert ! avenc_aac ! aacparse ! mux."
    );
    Proc::spawn(
        Command::new("gst-launch-1.0")
            .args(pipeline.split_whitespace())
            .stdout(Stdio::null()),
        &dir.path("publisher.err"),
    )
}

/// Starts a server with `config` and `publish(url)` on live/x; returns once it publishes.
fn serve(config: &str, dir: &TempDir, publish: fn(&TempDir, &str) -> Proc) -> (Server, Proc) {
    let server = Server::start(config);
    let mut publisher = publish(dir, &server.url("live/x"));
    if !server.wait_log("publish __defaultVhost__/live/x", 15 * SECS) {
        let _ = publisher.child.kill();
        panic!(
            "the publisher did not start: {}\n{}",
            publisher.stderr(),
            server.log()
        );
    }
    (server, publisher)
}

/// Waits until the playlist lists `segments` segments, as a player coming to a live stream
/// would find it.
fn wait_playlist(server: &Server, segments: usize, timeout: Duration) {
    let end = Instant::now() + timeout;
    let mut last = String::new();
    while Instant::now() < end {
        let (status, _, body) = curl(&[&server.http_url("live/x.m3u8")]);
        last = String::from_utf8_lossy(&body).into_owned();
        if status == 200 && last.matches("#EXTINF").count() >= segments {
            return;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("no {segments} segments in the playlist after {timeout:?}:\n{last}");
}

// ---- clients

/// Fails clearly when GStreamer or one of its elements is missing.
fn require_gst(elements: &[&str]) {
    require("gst-launch-1.0");
    require("gst-inspect-1.0");
    for element in elements {
        let ok = Command::new("gst-inspect-1.0")
            .args(["--exists", element])
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "GStreamer element {element} is missing: ci/install-deps installs \
             gstreamer1.0-plugins-{{good,bad,ugly}} and gstreamer1.0-libav"
        );
    }
}

/// Categories whose warnings are decode or demux trouble; every category's errors count.
/// (Others warn about harmless things: playbin first tries hlsdemux2, which needs playbin3.)
const GST_DEBUG: &str = "*:1,libav:2,videodecoder:2,audiodecoder:2,flvdemux:2,tsdemux:2,\
    mpegtsbase:2,mpegtspacketizer:2,h264parse:2,aacparse:2,hlsdemux:2,adaptivedemux:2,\
    rtmp2src:2,souphttpsrc:2";

/// gst-launch-1.0 -v with `args` (one pipeline; an argument may hold spaces, gst-launch
/// escapes them), whose video ends in `fakesink name=v silent=false`.
fn gst_player(protocol: &'static str, args: &[String], elements: &[&str]) -> Player {
    require_gst(elements);
    let mut command = Command::new("gst-launch-1.0");
    command
        .arg("-v")
        .args(args)
        .env("GST_DEBUG", GST_DEBUG)
        .env("GST_DEBUG_NO_COLOR", "1");
    Player {
        client: "gstreamer",
        protocol,
        command,
        play: 8 * SECS,
        frame: |l| l.contains("last-message = chain") && l.contains("(v:sink)"),
        error: |l| {
            // GST_DEBUG lines: "0:00:00.039 PID 0x... WARN category file:line:func: text".
            let level = l.split_whitespace().nth(3);
            matches!(level, Some("ERROR" | "WARN"))
                || l.starts_with("ERROR: from element")
                || l.starts_with("WARNING: from element")
        },
        min_frames: 4 * FPS,
        teardown: None,
    }
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

/// The part of a GStreamer pipeline after an FLV source: both tracks decoded, the video into
/// the counting sink.
const GST_FLV_TAIL: &str = "! flvdemux name=d d.video ! queue ! h264parse ! avdec_h264 \
    ! fakesink name=v silent=false sync=true d.audio ! queue ! aacparse ! avdec_aac \
    ! fakesink sync=true";

fn gst_rtmp(server: &Server) -> Player {
    let pipeline = format!("rtmp2src location={} {GST_FLV_TAIL}", server.url("live/x"));
    gst_player(
        "rtmp",
        &words(&pipeline),
        &[
            "rtmp2src",
            "flvdemux",
            "h264parse",
            "avdec_h264",
            "avdec_aac",
        ],
    )
}

fn gst_http_flv(server: &Server) -> Player {
    let pipeline = format!(
        "souphttpsrc is-live=true location={} {GST_FLV_TAIL}",
        server.http_url("live/x.flv")
    );
    gst_player(
        "http-flv",
        &words(&pipeline),
        &[
            "souphttpsrc",
            "flvdemux",
            "h264parse",
            "avdec_h264",
            "avdec_aac",
        ],
    )
}

/// playbin on the HLS playlist (hlsdemux, tsdemux, avdec_h264 inside), fakesinks for both.
fn gst_hls(server: &Server, protocol: &'static str, play: Duration) -> Player {
    let args = [
        "playbin".to_string(),
        format!("uri={}", server.http_url("live/x.m3u8")),
        "video-sink=fakesink name=v silent=false sync=true".to_string(),
        "audio-sink=fakesink sync=true".to_string(),
    ];
    let mut player = gst_player(
        protocol,
        &args,
        &["playbin", "hlsdemux", "tsdemux", "h264parse", "avdec_h264"],
    );
    player.play = play;
    player
}

/// VLC (`cvlc`): the statistics video output logs one line per picture shown; audio to the
/// dummy output. VLC refuses to run as root, so as root it runs as nobody:nogroup (65534, on
/// every Debian) through util-linux's `setpriv`, with a scratch HOME it owns.
fn vlc(dir: &TempDir, protocol: &'static str, url: &str, play: Duration) -> Player {
    require("cvlc");
    let mut command;
    if nix::unistd::geteuid().is_root() {
        require("setpriv");
        let home = dir.path("vlc-home");
        std::fs::create_dir_all(&home).unwrap();
        std::os::unix::fs::chown(&home, Some(65534), Some(65534)).unwrap();
        command = Command::new("setpriv");
        command
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "cvlc"])
            .env("HOME", &home);
    } else {
        command = Command::new("cvlc");
    }
    command
        .args([
            "--no-dbus",
            "--play-and-exit",
            "--vout=stats",
            "--aout=adummy",
            "-vv",
        ])
        .arg(format!("--run-time={}", play.as_secs()))
        .arg(url);
    Player {
        client: "vlc",
        protocol,
        command,
        play: play + 10 * SECS,
        frame: |l| l.contains("vout display debug: VOUT got"),
        error: |l| {
            // "[0000...] avcodec decoder error: ...", "[h264 @ 0x...] no frame!". Interface
            // modules that need a desktop (D-Bus, hotkeys) fail to load: not our business.
            let vlc_error = l.contains(" error: ") && !l.contains("interface");
            let libav = l.starts_with("[h264 @") || l.starts_with("[aac @");
            let libav_error = libav
                && [
                    "error",
                    "no frame",
                    "concealing",
                    "non-existing",
                    "missing",
                    "invalid",
                ]
                .iter()
                .any(|w| l.to_ascii_lowercase().contains(w));
            vlc_error || libav_error
        },
        min_frames: 4 * FPS,
        teardown: None,
    }
    .until(|l| l.contains("main decoder debug: killing decoder"))
}

/// mpv with null outputs; `showinfo` after the decoder logs one line per frame. Its log
/// file (every level, with module and level) goes to our pipe.
fn mpv(protocol: &'static str, url: &str, play: Duration) -> Player {
    require("mpv");
    let mut command = Command::new("mpv");
    command
        .args(["--no-config", "--really-quiet", "--vo=null", "--ao=null"])
        .args(["--vf=lavfi=[showinfo]", "--log-file=/dev/stdout"])
        .arg(format!("--length={}", play.as_secs()))
        .arg(url);
    Player {
        client: "mpv",
        protocol,
        command,
        play: play + 10 * SECS,
        frame: |l| l.contains("Parsed_showinfo_0: n:"),
        // "[   5.953][e][ffmpeg/video] h264: ...": errors and warnings of any module.
        error: |l| l.contains("][e][") || l.contains("][f][") || l.contains("][w]["),
        min_frames: 4 * FPS,
        teardown: None,
    }
}

/// ffmpeg decoding both tracks into the null muxer for `play` of stream time; `showinfo`
/// logs one line per video frame; `-loglevel level+info` marks each line's level.
/// `input_options` go before `-i`.
fn ffmpeg_player(
    protocol: &'static str,
    input_options: &[&str],
    url: &str,
    play: Duration,
) -> Player {
    require("ffmpeg");
    let mut command = Command::new("ffmpeg");
    command
        .args([
            "-hide_banner",
            "-nostats",
            "-nostdin",
            "-loglevel",
            "level+info",
        ])
        .args(input_options)
        .args(["-i", url, "-t", &play.as_secs().to_string()])
        .args(["-vf", "showinfo", "-f", "null", "-"]);
    Player {
        client: "ffmpeg",
        protocol,
        command,
        play: play + 20 * SECS,
        frame: |l| l.contains("Parsed_showinfo_0") && l.contains(" n:"),
        error: |l| l.contains("[error]") || l.contains("[warning]") || l.contains("[fatal]"),
        min_frames: 4 * FPS,
        teardown: None,
    }
}

/// ffprobe decoding `play` of stream time, one `video`/`audio` line per frame on stdout
/// (line-buffered by `stdbuf`); at `-v error` anything else it prints is an error.
fn ffprobe(protocol: &'static str, url: &str, play: Duration) -> Player {
    require("ffprobe");
    require("stdbuf");
    let mut command = Command::new("stdbuf");
    command
        .args(["-oL", "ffprobe", "-v", "error"])
        .args(["-read_intervals", &format!("%+{}", play.as_secs())])
        .args(["-show_entries", "frame=media_type", "-of", "csv=p=0", url]);
    Player {
        client: "ffprobe",
        protocol,
        command,
        play: play + 20 * SECS,
        frame: |l| l == "video",
        error: |l| !matches!(l, "video" | "audio" | ""),
        min_frames: 4 * FPS,
        teardown: None,
    }
}

// ---- the matrix: players of a camera-like ffmpeg publisher

/// Plays `player(server)` against a camera-like publisher on a fresh server; for HLS, once
/// the playlist lists two segments.
fn play_camera(tag: &str, hls: bool, player: impl FnOnce(&Server, &TempDir) -> Player) {
    let dir = TempDir::new(tag);
    let (server, _publisher) = serve("", &dir, camera);
    if hls {
        // RFC 8216 6.3.3: a client starts three target durations from the end. With fewer
        // segments listed it plays at the live edge, and VLC then re-buffers at every new
        // segment ("ES_OUT_SET_(GROUP_)PCR is called too late"), as it does with ffmpeg's
        // own HLS muxer; a player coming to a running stream finds a full window.
        wait_playlist(&server, 3, 20 * SECS);
    } else {
        // Join a running stream, 1.5 s into a GOP: the GOP cache gives the player a
        // keyframe at once (right after publish, ffmpeg-based players wait for more data
        // to probe the streams, and the first-frame time would measure the publisher).
        std::thread::sleep(Duration::from_millis(3500));
    }
    player(&server, &dir).run(&dir);
}

#[test]
fn gstreamer_plays_rtmp() {
    play_camera("gst-rtmp", false, |s, _| gst_rtmp(s));
}

#[test]
fn gstreamer_plays_http_flv() {
    play_camera("gst-flv", false, |s, _| gst_http_flv(s));
}

#[test]
fn gstreamer_plays_hls() {
    play_camera("gst-hls", true, |s, _| gst_hls(s, "hls", 10 * SECS));
}

#[test]
fn vlc_plays_rtmp() {
    play_camera("vlc-rtmp", false, |s, d| {
        vlc(d, "rtmp", &s.url("live/x"), 8 * SECS)
    });
}

#[test]
fn vlc_plays_http_flv() {
    play_camera("vlc-flv", false, |s, d| {
        vlc(d, "http-flv", &s.http_url("live/x.flv"), 8 * SECS)
    });
}

#[test]
fn vlc_plays_http_ts() {
    play_camera("vlc-ts", false, |s, d| {
        vlc(d, "http-ts", &s.http_url("live/x.ts"), 8 * SECS)
    });
}

#[test]
fn vlc_plays_hls() {
    play_camera("vlc-hls", true, |s, d| {
        vlc(d, "hls", &s.http_url("live/x.m3u8"), 10 * SECS)
    });
}

#[test]
fn mpv_plays_rtmp() {
    play_camera("mpv-rtmp", false, |s, _| {
        mpv("rtmp", &s.url("live/x"), 8 * SECS)
    });
}

#[test]
fn mpv_plays_http_flv() {
    play_camera("mpv-flv", false, |s, _| {
        mpv("http-flv", &s.http_url("live/x.flv"), 8 * SECS)
    });
}

#[test]
fn mpv_plays_http_ts() {
    play_camera("mpv-ts", false, |s, _| {
        mpv("http-ts", &s.http_url("live/x.ts"), 8 * SECS)
    });
}

#[test]
fn mpv_plays_hls() {
    play_camera("mpv-hls", true, |s, _| {
        mpv("hls", &s.http_url("live/x.m3u8"), 10 * SECS)
    });
}

// ---- GStreamer as the publisher

/// flvmux re-sends onMetaData mid-stream: a player there from the start receives it again
/// (the hub passes it on), and ffprobe, a third-party reader, decodes RTMP and HTTP-FLV
/// without an error (no phantom data stream, no "Unexpected reply").
#[test]
fn gstreamer_publishes_and_ffprobe_reads_it() {
    let dir = TempDir::new("gst-publish");
    let server = Server::start("");
    let mut watcher = common::player(&server, "x");
    let _publisher = gstreamer_publisher(&dir, &server.url("live/x"));
    let (mut metadata, mut video) = (Vec::new(), 0);
    let end = Instant::now() + 4 * SECS;
    while Instant::now() < end {
        match watcher.recv_media(end.saturating_duration_since(Instant::now())) {
            Ok((common::client::MediaKind::Metadata, ts, _)) => metadata.push(ts),
            Ok((common::client::MediaKind::Video, _, _)) => video += 1,
            Ok(_) => {}
            Err(common::client::Error::Timeout) => break,
            Err(e) => panic!("watcher: {e:?}\n{}", server.log()),
        }
    }
    drop(watcher);
    assert!(video >= 2 * FPS, "{video} video messages\n{}", server.log());
    assert!(
        metadata.len() >= 2,
        "flvmux re-sends onMetaData mid-stream; got it at {metadata:?}"
    );
    let _ = std::io::stderr().write_all(
        format!(
            "interop: gstreamer publisher: onMetaData {} times in 4 s\n",
            metadata.len()
        )
        .as_bytes(),
    );
    ffprobe(
        "rtmp (gstreamer publisher)",
        &server.url("live/x"),
        6 * SECS,
    )
    .run(&dir);
    ffprobe(
        "http-flv (gstreamer publisher)",
        &server.http_url("live/x.flv"),
        6 * SECS,
    )
    .run(&dir);
}

// ---- an OBS-like long GOP through HLS

const LONG_GOP_HLS: &str = "[vhost.__defaultVhost__.hls]\nhls_fragment = 2\nhls_window = 10\n";

/// The newest segment of the playlist and whether it starts with a keyframe (decoded alone
/// by ffprobe: its first video frame is an I frame).
fn newest_segment(server: &Server, dir: &TempDir) -> Option<(String, bool)> {
    let (_, _, body) = curl(&[&server.http_url("live/x.m3u8")]);
    let playlist = String::from_utf8_lossy(&body).into_owned();
    let name = playlist
        .lines()
        .rev()
        .find(|l| l.ends_with(".ts"))?
        .to_string();
    let (status, _, segment) = curl(&[&server.http_url(&format!("live/{name}"))]);
    if status != 200 {
        return None;
    }
    let path = dir.path(&name);
    std::fs::write(&path, segment).unwrap();
    let probe = common::ffprobe(dir, path.to_str().unwrap(), 10 * SECS);
    Some((name, probe.first_video == Some((true, "I".to_string()))))
}

/// OBS's defaults, a keyframe every 10 s (250 frames), with 2 s HLS fragments. ffmpeg joins at
/// the newest segment (`-live_start_index -1`), as a player coming at that moment does: the
/// segment must start with PAT/PMT and a keyframe (segments are cut at keyframes only), so
/// that ffmpeg decodes from its first frame without an error. Before issue 17 item 1 the
/// segment was cut inside the GOP without PAT/PMT: ffmpeg logged "non-existing PPS 0
/// referenced" / "decode_slice_header error" and decoded its first frame after 7 s.
#[test]
fn obs_long_gop_hls_plays_in_ffmpeg_joining_at_the_newest_segment() {
    let dir = TempDir::new("obs-ffmpeg");
    let (server, _publisher) = serve(LONG_GOP_HLS, &dir, ffmpeg_obs);
    wait_playlist(&server, 2, 45 * SECS);
    let (joined, keyframe) = newest_segment(&server, &dir).expect("the newest segment");
    assert!(keyframe, "{joined} does not start with a keyframe");
    let mut player = ffmpeg_player(
        "hls (10 s GOP, joined at the newest segment)",
        &["-live_start_index", "-1"],
        &server.http_url("live/x.m3u8"),
        6 * SECS,
    );
    player.min_frames = 4 * FPS;
    let note = format!("interop: ffmpeg joins HLS at {joined}, a 10 s segment\n");
    let _ = std::io::stderr().write_all(note.as_bytes());
    player.run(&dir);
}

/// The same stream in GStreamer's playbin, which joins three target durations from the end
/// (RFC 8216 6.3.3), once the playlist lists two segments.
#[test]
fn obs_long_gop_hls_plays_in_gstreamer() {
    let dir = TempDir::new("obs-gst");
    let (server, _publisher) = serve(LONG_GOP_HLS, &dir, ffmpeg_obs);
    wait_playlist(&server, 2, 45 * SECS);
    let mut player = gst_hls(&server, "hls (10 s GOP)", 12 * SECS);
    player.min_frames = 5 * FPS;
    player.run(&dir);
}
