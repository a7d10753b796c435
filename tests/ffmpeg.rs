//! Integration tests with real clients we did not write: ffmpeg publishes, ffprobe/ffmpeg and
//! rtmpdump (librtmp) play, against the real binary on 127.0.0.1.

mod common;

use std::io::Read;
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{ffmpeg_publish, ffprobe, require, Proc, Server, TempDir};

const SECS: Duration = Duration::from_secs(1);

fn assert_h264_aac(p: &common::Probe, min_video: usize, min_audio: usize) {
    assert!(p.success, "ffprobe failed: {}", p.errors);
    assert!(p.errors.trim().is_empty(), "decode errors: {}", p.errors);
    assert_eq!(p.codecs, vec!["aac", "h264"], "{p:?}");
    assert!(p.video_frames >= min_video, "video frames {p:?}");
    assert!(p.audio_frames >= min_audio, "audio frames {p:?}");
    assert_eq!(
        p.first_video,
        Some((true, "I".to_string())),
        "starts on a keyframe"
    );
}

#[test]
fn ffmpeg_publishes_and_a_late_ffprobe_decodes_from_a_keyframe() {
    let server = Server::start("");
    let dir = TempDir::new("late");
    let url = server.url("live/late");
    // Keyframes every 2 s: joining at ~2.7 s lands mid-GOP; the GOP cache must give the
    // player the keyframe at 2 s first.
    let mut publisher = ffmpeg_publish(&dir, &url, 7, 50, "500k");
    std::thread::sleep(Duration::from_millis(2700));
    let probe = ffprobe(&dir, &url, 20 * SECS);
    assert!(
        publisher.wait(15 * SECS).success(),
        "{}",
        publisher.stderr()
    );
    // ~4.3 s live after joining + the cached part of the GOP (25 fps, 43 AAC frames/s).
    assert_h264_aac(&probe, 100, 150);
    assert!(probe.video_frames <= 7 * 25, "{probe:?}");
    // The publisher leaving ended the player's stream cleanly (NetStream.Play.UnpublishNotify).
    assert!(server
        .log()
        .contains("unpublish __defaultVhost__/live/late"));
}

#[test]
fn player_waiting_before_the_publisher_starts_with_it() {
    // idle_timeout 2 s: the waiting player is kept alive by keepalive pings (ffprobe answers
    // them) through 3 s of silence before the publisher comes.
    let server = Server::start("idle_timeout = 2000\n");
    let dir = TempDir::new("early");
    let url = server.url("live/early");
    require("ffprobe");
    let out = std::fs::File::create(dir.path("probe.csv")).unwrap();
    let mut probe = Proc::spawn(
        Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "stream=codec_name,nb_read_frames",
                "-count_frames",
            ])
            .args(["-of", "csv=p=0", &url])
            .stdout(out),
        &dir.path("probe.err"),
    );
    assert!(server.wait_log("play __defaultVhost__/live/early", 10 * SECS));
    std::thread::sleep(3 * SECS);
    assert!(!server.log().contains("closed"), "{}", server.log());
    let mut publisher = ffmpeg_publish(&dir, &url, 3, 25, "300k");
    assert!(
        publisher.wait(15 * SECS).success(),
        "{}",
        publisher.stderr()
    );
    assert!(probe.wait(15 * SECS).success(), "{}", probe.stderr());
    let text = std::fs::read_to_string(dir.path("probe.csv")).unwrap();
    // csv lines: codec_name,nb_read_frames
    let mut frames: Vec<(String, usize)> = text
        .lines()
        .filter_map(|l| l.split_once(','))
        .map(|(c, n)| (c.to_string(), n.trim().parse().unwrap_or(0)))
        .collect();
    frames.sort();
    assert_eq!(frames.len(), 2, "{text}");
    assert_eq!(frames[0].0, "aac");
    assert_eq!(frames[1].0, "h264");
    // It was there from the first frame: it gets (nearly) all 75 pictures.
    assert!(frames[1].1 >= 70, "{text}");
    assert!(probe.stderr().trim().is_empty(), "{}", probe.stderr());
}

#[test]
fn second_ffmpeg_publisher_is_refused_and_the_first_goes_on() {
    let server = Server::start("");
    let dir = TempDir::new("badname");
    let url = server.url("live/dup");
    let mut first = ffmpeg_publish(&dir, &url, 6, 25, "300k");
    assert!(server.wait_log("publish __defaultVhost__/live/dup", 10 * SECS));
    let mut second = ffmpeg_publish(&dir, &url, 3, 25, "300k");
    let status = second.wait(15 * SECS);
    assert!(!status.success(), "the second publisher must be refused");
    assert!(
        second.stderr().contains("already has a publisher"),
        "ffmpeg shows the server's reason: {}",
        second.stderr()
    );
    assert!(
        server.wait_log("publish refused", 5 * SECS),
        "{}",
        server.log()
    );
    // The first publisher still feeds players.
    let probe = ffprobe(&dir, &url, 20 * SECS);
    assert!(first.wait(15 * SECS).success(), "{}", first.stderr());
    assert_h264_aac(&probe, 25, 40);
}

#[test]
fn rtmpdump_plays_with_librtmp() {
    require("rtmpdump");
    let server = Server::start("");
    let dir = TempDir::new("rtmpdump");
    let url = server.url("live/dump");
    let mut publisher = ffmpeg_publish(&dir, &url, 6, 25, "300k");
    assert!(server.wait_log("publish __defaultVhost__/live/dump", 10 * SECS));
    let flv = dir.path("dump.flv");
    let mut dump = Proc::spawn(
        Command::new("rtmpdump")
            .args(["-q", "-v", "-r", &url, "-o"])
            .arg(&flv)
            .stdout(Stdio::null()),
        &dir.path("rtmpdump.err"),
    );
    // rtmpdump exits when the publisher's UnpublishNotify arrives.
    dump.wait(20 * SECS);
    assert!(
        publisher.wait(15 * SECS).success(),
        "{}",
        publisher.stderr()
    );
    let probe = ffprobe(&dir, flv.to_str().unwrap(), 20 * SECS);
    assert_h264_aac(&probe, 80, 100);
}

#[test]
fn ffmpeg_remuxes_what_it_plays_without_errors() {
    // A second real player path: ffmpeg reads the stream and copies it into an FLV file.
    require("ffmpeg");
    let server = Server::start("");
    let dir = TempDir::new("remux");
    let url = server.url("live/remux");
    let mut publisher = ffmpeg_publish(&dir, &url, 5, 25, "300k");
    assert!(server.wait_log("publish __defaultVhost__/live/remux", 10 * SECS));
    let out = dir.path("copy.flv");
    let mut player = Proc::spawn(
        Command::new("ffmpeg")
            .args(["-hide_banner", "-nostats", "-loglevel", "error", "-i", &url])
            .args(["-c", "copy", "-f", "flv", "-y"])
            .arg(&out)
            .stdout(Stdio::null()),
        &dir.path("player.err"),
    );
    assert!(
        publisher.wait(15 * SECS).success(),
        "{}",
        publisher.stderr()
    );
    assert!(player.wait(15 * SECS).success(), "{}", player.stderr());
    let probe = ffprobe(&dir, out.to_str().unwrap(), 20 * SECS);
    assert_h264_aac(&probe, 70, 100);
}

#[test]
fn config_test_flag_checks_and_names_the_bad_key_and_line() {
    let dir = TempDir::new("cfg");
    let bin = env!("CARGO_BIN_EXE_tinysrs");
    let good = dir.path("good.toml");
    std::fs::write(&good, "max_connections = 10\n").unwrap();
    let out = Command::new(bin)
        .args(["-t", "-c"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = Command::new(bin).arg("-t").output().unwrap();
    assert!(out.status.success(), "embedded defaults are valid");

    let bad = dir.path("bad.toml");
    std::fs::write(
        &bad,
        "max_connections = 10\n\n[vhost.__defaultVhost__.play]\ntime_jitter = \"fast\"\n",
    )
    .unwrap();
    let out = Command::new(bin)
        .args(["-t", "-c"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:4:"), "names the line: {err}");
    assert!(err.contains("time_jitter"), "names the key: {err}");

    std::fs::write(&bad, "listen = \"127.0.0.1:1935\"\nmax_conections = 3\n").unwrap();
    let out = Command::new(bin)
        .args(["-t", "-c"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(":2:") && err.contains("max_conections"),
        "{err}"
    );

    let out = Command::new(bin).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("tinysrs "));
    let out = Command::new(bin).arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("-t, --test"));
    let out = Command::new(bin).arg("--bogus").output().unwrap();
    assert!(!out.status.success());
}

#[test]
fn sighup_reload_keeps_sessions_and_survives_a_bad_file() {
    let server = Server::start("[vhost.__defaultVhost__.play]\nmw_latency = 350\n");
    let dir = TempDir::new("hup");
    let url = server.url("live/hup");
    let mut publisher = ffmpeg_publish(&dir, &url, 6, 25, "300k");
    assert!(server.wait_log("publish __defaultVhost__/live/hup", 10 * SECS));
    let probe_dir = TempDir::new("hup-probe");
    let url2 = url.clone();
    let probe = std::thread::spawn(move || ffprobe(&probe_dir, &url2, 20 * SECS));
    assert!(server.wait_log("play __defaultVhost__/live/hup", 10 * SECS));

    std::fs::write(
        &server.config_path,
        "listen = \"127.0.0.1:0\"\n[vhost.__defaultVhost__.play]\nmw_latency = 100\n",
    )
    .unwrap();
    server.signal("HUP");
    assert!(
        server.wait_log("SIGHUP: reloaded", 5 * SECS),
        "{}",
        server.log()
    );
    assert!(server.log().contains("mw_latency"), "the change is logged");

    std::fs::write(&server.config_path, "listen = [nonsense\n").unwrap();
    server.signal("HUP");
    assert!(
        server.wait_log("keeping the current config", 5 * SECS),
        "{}",
        server.log()
    );

    assert!(
        publisher.wait(15 * SECS).success(),
        "{}",
        publisher.stderr()
    );
    let probe = probe.join().unwrap();
    // The player lived through both reloads.
    assert_h264_aac(&probe, 90, 150);
}

#[test]
fn sigterm_stops_within_two_seconds_with_clients_attached() {
    let mut server = Server::start("");
    let dir = TempDir::new("term");
    let url = server.url("live/term");
    let _publisher = ffmpeg_publish(&dir, &url, 30, 25, "300k");
    assert!(server.wait_log("publish __defaultVhost__/live/term", 10 * SECS));
    let _idle = TcpStream::connect(server.addr).unwrap();
    let start = std::time::Instant::now();
    let status = server.stop(3 * SECS).expect("exited");
    assert!(status.success(), "{status:?}");
    assert!(start.elapsed() < 2 * SECS, "took {:?}", start.elapsed());
}

#[test]
fn security_rules_deny_publish_and_allow_play() {
    let server = Server::start(
        "[vhost.__defaultVhost__.security]\nenabled = true\n\
         rules = [\"deny publish 127.0.0.0/8\", \"allow publish all\", \"allow play all\"]\n",
    );
    let dir = TempDir::new("sec");
    let mut publisher = ffmpeg_publish(&dir, &server.url("live/sec"), 3, 25, "300k");
    assert!(
        !publisher.wait(15 * SECS).success(),
        "publish from 127.0.0.1 is denied"
    );
    assert!(server.wait_log("denied by security rules", 5 * SECS));
}

#[test]
fn vhost_from_parameter_and_host_separates_streams() {
    let server = Server::start("[vhost.\"cam.local\"]\n");
    let dir = TempDir::new("vhost");
    let port = server.addr.port();
    let mut publisher = ffmpeg_publish(
        &dir,
        &format!("rtmp://127.0.0.1:{port}/live?vhost=cam.local/v"),
        6,
        25,
        "300k",
    );
    assert!(
        server.wait_log("publish cam.local/live/v", 10 * SECS),
        "{}",
        server.log()
    );
    // SRS's legacy form names the same vhost.
    let probe = ffprobe(
        &dir,
        &format!("rtmp://127.0.0.1:{port}/live...vhost...cam.local/v"),
        20 * SECS,
    );
    assert!(
        publisher.wait(15 * SECS).success(),
        "{}",
        publisher.stderr()
    );
    assert_h264_aac(&probe, 50, 50);
    assert!(server.log().contains("play cam.local/live/v"));
}

#[test]
fn max_connections_refuses_the_excess_at_accept() {
    let server = Server::start("max_connections = 2\n");
    let a = TcpStream::connect(server.addr).unwrap();
    let b = TcpStream::connect(server.addr).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let mut c = TcpStream::connect(server.addr).unwrap();
    c.set_read_timeout(Some(5 * SECS)).unwrap();
    let mut buf = [0u8; 1];
    // Closed by the server: read returns 0 (or a reset), never times out.
    match c.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("the third connection was not refused: {other:?}"),
    }
    assert!(server.wait_log("max_connections 2 reached", 5 * SECS));
    drop((a, b));
}

#[test]
fn handshake_timeout_closes_a_silent_connection() {
    let server = Server::start("handshake_timeout = 500\n");
    let mut c = TcpStream::connect(server.addr).unwrap();
    c.set_read_timeout(Some(5 * SECS)).unwrap();
    let mut buf = [0u8; 16];
    let start = std::time::Instant::now();
    match c.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("not closed: {other:?}"),
    }
    assert!(start.elapsed() < 3 * SECS);
    assert!(
        server.wait_log("timeout: handshake", 5 * SECS),
        "{}",
        server.log()
    );
}

#[test]
fn started_as_root_it_drops_to_the_configured_user_after_binding() {
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"));
    let server = Server::start("user = \"nobody\"\n");
    // The switch follows the "RTMP listening" line the harness waits for: wait for it too.
    let dropped = server.wait_log("dropped privileges to nobody", 5 * SECS);
    let uid = std::fs::read_to_string(format!("/proc/{}/status", server.pid()))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .map(|l| l.split_whitespace().nth(2).unwrap_or("").to_string())
        .unwrap();
    if root {
        assert!(dropped, "{}", server.log());
        assert_ne!(uid, "0", "the server runs as nobody");
    } else {
        assert!(!dropped);
    }
    // It still serves (the ports were bound before the switch).
    let dir = TempDir::new("nobody");
    let url = server.url("live/nobody");
    let mut publisher = ffmpeg_publish(&dir, &url, 3, 25, "300k");
    let probe = ffprobe(&dir, &url, 20 * SECS);
    assert!(
        publisher.wait(15 * SECS).success(),
        "{}",
        publisher.stderr()
    );
    assert_h264_aac(&probe, 20, 20);
}
