//! RTSP camera pull (`[[ingest]]`) against a real RTSP server: GStreamer's (gst-rtsp-server,
//! through tests/data/rtsp_camera.py) serving H.264 (x264enc, rtph264pay) and AAC
//! (avenc_aac, rtpmp4gpay), with and without Digest authentication. What the hub gets is read
//! back over HTTP-FLV and RTMP by ffmpeg and ffprobe.
//!
//! `rtsps://` (Cargo feature `tls`): the same camera behind `stunnel4` (OpenSSL), with a test
//! CA made by `openssl`.
//!
//! Cameras listen on 127.0.0.1:23220..=23229, 23240..=23249 and 31300..=31399, one port per
//! test (stunnel beside its camera); every process a test starts is killed by its PID when its
//! guard drops; every wait is bounded.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{curl, ffmpeg_read, ffprobe, require, Server, TempDir};

const CAMERA_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/rtsp_camera.py");

/// The GStreamer test camera on `port`, killed (by PID) when dropped.
struct Camera {
    child: Child,
    port: u16,
    out: Arc<Mutex<String>>,
}

impl Camera {
    /// Starts the camera and waits until it listens; `digest`: `user:password` it requires.
    fn start(port: u16, digest: Option<&str>) -> Camera {
        Camera::start_with(port, digest, &[])
    }

    /// [`Camera::start`] with more arguments for the script (`--h265`).
    fn start_with(port: u16, digest: Option<&str>, args: &[&str]) -> Camera {
        require("/usr/bin/python3");
        let mut cmd = Command::new("/usr/bin/python3");
        cmd.arg(CAMERA_SCRIPT).arg(port.to_string()).args(args);
        if let Some(d) = digest {
            cmd.args(["--digest", d]);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tests/data/rtsp_camera.py (python3-gi, gir1.2-gst-rtsp-server-1.0)");
        let stdout = child.stdout.take().unwrap();
        let out = Arc::new(Mutex::new(String::new()));
        let sink = out.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let mut o = sink.lock().unwrap();
                o.push_str(&line);
                o.push('\n');
            }
        });
        let camera = Camera { child, port, out };
        assert!(
            camera.wait_for("listening", 1, Duration::from_secs(15)),
            "the camera did not start (ci/install-deps installs python3-gi and \
             gir1.2-gst-rtsp-server-1.0): {}",
            camera.output()
        );
        camera
    }

    fn url(&self, userinfo: &str) -> String {
        format!("rtsp://{userinfo}127.0.0.1:{}/cam", self.port)
    }

    fn output(&self) -> String {
        self.out.lock().unwrap().clone()
    }

    /// RTSP connections the camera accepted so far.
    fn connections(&self) -> usize {
        self.output().matches("client connected").count()
    }

    /// RTSP connections that closed so far.
    fn closed(&self) -> usize {
        self.output().matches("client closed").count()
    }

    /// Waits until `line` was printed `count` times.
    fn wait_for(&self, line: &str, count: usize, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if self.output().matches(line).count() >= count {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Camera {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ingest(url: &str, stream: &str, extra: &str) -> String {
    format!("[[ingest]]\nurl = \"{url}\"\nstream = \"{stream}\"\n{extra}")
}

/// Records `seconds` of `input` into a file and probes it: codecs, frame counts and every
/// error ffmpeg or ffprobe printed.
fn receive(dir: &TempDir, input: &str, seconds: u32, name: &str) -> common::Probe {
    let file = dir.path(name);
    let (ok, err) = ffmpeg_read(dir, input, seconds, &file, Duration::from_secs(40));
    assert!(ok, "ffmpeg could not read {input}: {err}");
    assert!(
        err.trim().is_empty(),
        "ffmpeg errors reading {input}: {err}"
    );
    let probe = ffprobe(dir, file.to_str().unwrap(), Duration::from_secs(30));
    assert!(probe.success, "ffprobe {name}: {}", probe.errors);
    probe
}

/// H.264 + AAC from the camera, frames enough for `seconds`, starting on a keyframe, no
/// decode error.
fn check_camera_stream(probe: &common::Probe, seconds: usize, what: &str) {
    check_stream(probe, "h264", seconds, what);
}

/// `video` + AAC from the camera (see [`check_camera_stream`]).
fn check_stream(probe: &common::Probe, video: &str, seconds: usize, what: &str) {
    assert_eq!(probe.codecs, ["aac", video], "{what}: {probe:?}");
    // 25 fps video and 44100/1024 = 43 AAC frames a second; half of that at least (the
    // recording starts at the first keyframe, within 2 s).
    assert!(
        probe.video_frames >= seconds * 25 / 2,
        "{what}: {} video frames",
        probe.video_frames
    );
    assert!(
        probe.audio_frames >= seconds * 43 / 2,
        "{what}: {} audio frames",
        probe.audio_frames
    );
    assert_eq!(
        probe.first_video.as_ref().map(|v| v.0),
        Some(true),
        "{what}"
    );
    assert!(probe.errors.trim().is_empty(), "{what}: {}", probe.errors);
    assert_eq!(probe.video_size, Some((320, 240)), "{what}");
}

#[test]
fn an_always_ingest_is_played_over_http_flv_and_rtmp() {
    let camera = Camera::start(23220, None);
    let server = Server::start(&ingest(&camera.url(""), "live/cam", ""));
    assert!(
        server.wait_log("ingest live/cam: playing from", Duration::from_secs(15)),
        "{}",
        server.log()
    );
    let dir = TempDir::new("rtsp-always");
    let flv = receive(&dir, &server.http_url("live/cam.flv"), 5, "flv.flv");
    check_camera_stream(&flv, 5, "HTTP-FLV");
    let rtmp = receive(&dir, &server.url("live/cam"), 3, "rtmp.flv");
    check_camera_stream(&rtmp, 3, "RTMP");
    // One connection to the camera the whole time.
    assert_eq!(camera.connections(), 1, "{}", camera.output());
    let log = server.log();
    assert!(
        log.contains("playing from 127.0.0.1:23220: H264, AAC"),
        "{log}"
    );
    // The server stops: the camera gets its TEARDOWN first.
    let mut server = server;
    assert!(server.stop(Duration::from_secs(10)).is_some());
    assert!(
        camera.wait_for("teardown", 1, Duration::from_secs(5)),
        "{}",
        camera.output()
    );
    assert!(
        server.log().contains("ingest live/cam: stopped"),
        "{}",
        server.log()
    );
}

#[test]
fn digest_authentication_with_the_urls_credentials() {
    let camera = Camera::start(23221, Some("admin:s3cret"));
    let config = ingest(&camera.url("admin:s3cret@"), "live/good", "")
        + &ingest(&camera.url("admin:wrong@"), "live/bad", "");
    let server = Server::start(&config);
    assert!(
        server.wait_log("ingest live/good: playing from", Duration::from_secs(15)),
        "{}",
        server.log()
    );
    assert!(
        server.wait_log("ingest live/bad: ", Duration::from_secs(15))
            && server.wait_log("wrong user or password", Duration::from_secs(15)),
        "{}",
        server.log()
    );
    let log = server.log();
    // Passwords never reach the log.
    assert!(!log.contains("s3cret") && !log.contains("wrong@"), "{log}");
    assert!(log.contains("DESCRIBE: 401 Unauthorized"), "{log}");
    let dir = TempDir::new("rtsp-digest");
    let flv = receive(&dir, &server.http_url("live/good.flv"), 3, "good.flv");
    check_camera_stream(&flv, 3, "HTTP-FLV with Digest");
}

#[test]
fn an_on_demand_ingest_pulls_only_while_watched() {
    let camera = Camera::start(23222, None);
    let server = Server::start(&ingest(
        &camera.url(""),
        "live/door",
        "mode = \"on_demand\"\non_demand_close_after = 2\n",
    ));
    // Nobody watches: the camera is left alone.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(camera.connections(), 0, "{}", server.log());
    // A player comes: the camera is pulled and the player gets the stream from a keyframe.
    let dir = TempDir::new("rtsp-on-demand");
    let flv = receive(&dir, &server.http_url("live/door.flv"), 4, "door.flv");
    check_camera_stream(&flv, 4, "on-demand HTTP-FLV");
    assert_eq!(camera.connections(), 1, "{}", camera.output());
    let left = Instant::now();
    // The player left: after the grace (2 s) the camera's session is torn down.
    assert!(
        camera.wait_for("teardown", 1, Duration::from_secs(15))
            && camera.wait_for("client closed", 1, Duration::from_secs(5)),
        "camera: {}\nserver: {}",
        camera.output(),
        server.log()
    );
    let after = left.elapsed();
    assert!(
        after >= Duration::from_millis(1500),
        "closed after {after:?}"
    );
    assert!(
        server.wait_log(
            "ingest live/door: stopped, no players for 2 s",
            Duration::from_secs(5)
        ),
        "{}",
        server.log()
    );
    // And an RTMP player brings it back.
    let rtmp = receive(&dir, &server.url("live/door"), 2, "door-rtmp.flv");
    check_camera_stream(&rtmp, 2, "on-demand RTMP");
    assert_eq!(camera.connections(), 2, "{}", camera.output());
    assert_eq!(camera.closed(), 1, "{}", camera.output());
}

#[test]
fn a_lost_camera_is_retried_with_backoff_until_it_returns() {
    let camera = Camera::start(23223, None);
    let url = camera.url("");
    let server = Server::start(&ingest(&url, "live/yard", ""));
    assert!(
        server.wait_log("ingest live/yard: playing from", Duration::from_secs(15)),
        "{}",
        server.log()
    );
    drop(camera);
    // The failure and each refused reconnect are logged once, waiting longer each time.
    for wait in ["retrying in 1 s", "retrying in 2 s", "retrying in 4 s"] {
        assert!(
            server.wait_log(wait, Duration::from_secs(15)),
            "{wait}: {}",
            server.log()
        );
    }
    let log = server.log();
    assert!(log.contains("the camera closed the connection"), "{log}");
    assert!(log.contains("Connection refused"), "{log}");
    // The camera returns: the ingest plays again at its next attempt.
    let camera = Camera::start(23223, None);
    let end = Instant::now() + Duration::from_secs(20);
    while server
        .log()
        .matches("ingest live/yard: playing from")
        .count()
        < 2
    {
        assert!(Instant::now() < end, "not back: {}", server.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    let dir = TempDir::new("rtsp-backoff");
    let flv = receive(&dir, &server.http_url("live/yard.flv"), 3, "yard.flv");
    check_camera_stream(&flv, 3, "after the camera returned");
    assert_eq!(camera.connections(), 1, "{}", camera.output());
}

#[test]
fn an_h265_camera_is_played_over_http_ts() {
    // Debian's ffmpeg 5.1 reads no H.265 in FLV (Enhanced RTMP came with 6.1): HTTP-TS.
    let camera = Camera::start_with(23224, None, &["--h265"]);
    let server = Server::start(&ingest(&camera.url(""), "live/hevc", ""));
    assert!(
        server.wait_log("ingest live/hevc: playing from", Duration::from_secs(15)),
        "{}",
        server.log()
    );
    assert!(server.log().contains("H265, AAC"), "{}", server.log());
    let dir = TempDir::new("rtsp-h265");
    let ts = receive(&dir, &server.http_url("live/hevc.ts"), 4, "hevc.ts");
    check_stream(&ts, "hevc", 4, "H.265 over HTTP-TS");
}

/// GStreamer's rtpmp4apay as a camera's audio: `MP4A-LATM` with its StreamMuxConfig in the
/// SDP, pulled and played as AAC over HTTP-FLV.
#[test]
fn a_camera_sending_mp4a_latm_is_played_as_aac() {
    let camera = Camera::start_with(23225, None, &["--latm"]);
    let server = Server::start(&ingest(&camera.url(""), "live/latm", ""));
    assert!(
        server.wait_log("ingest live/latm: playing from", Duration::from_secs(15)),
        "{}",
        server.log()
    );
    assert!(server.log().contains("H264, AAC-LATM"), "{}", server.log());
    let dir = TempDir::new("rtsp-latm");
    let flv = receive(&dir, &server.http_url("live/latm.flv"), 4, "latm.flv");
    check_camera_stream(&flv, 4, "MP4A-LATM over HTTP-FLV");
}

/// The API with credentials for changes and GETs open, as a board configures it.
const API_AUTH: &str = "[http_api]\nenabled = true\n[http_api.auth]\nusername = \"u\"\n\
                        password = \"p\"\nread_only_open = true\n";

/// `GET /api/v1/ingests` (no credentials: GETs are open).
fn ingests(server: &Server) -> Vec<serde_json::Value> {
    let (status, json) = common::get_json(server.http_addr.unwrap(), "/api/v1/ingests");
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["code"], 0, "{json}");
    assert!(json["server"].is_string() && json["service"].is_string() && json["pid"].is_string());
    json["ingests"].as_array().expect("ingests[]").clone()
}

/// The ingest of `stream` in `GET /api/v1/ingests`.
fn ingest_of(server: &Server, stream: &str) -> serde_json::Value {
    ingests(server)
        .into_iter()
        .find(|i| i["stream"] == stream)
        .unwrap_or_else(|| panic!("no ingest {stream}"))
}

/// Waits until `ok` holds for the ingest of `stream`; returns it.
fn wait_ingest(
    server: &Server,
    stream: &str,
    timeout: Duration,
    ok: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let end = Instant::now() + timeout;
    loop {
        let i = ingest_of(server, stream);
        if ok(&i) {
            return i;
        }
        assert!(Instant::now() < end, "{stream}: {i}\n{}", server.log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `POST /api/v1/ingests/{id}/restart` with curl, `-u user:password` when given.
fn restart(server: &Server, id: &str, credentials: Option<&str>) -> (u16, serde_json::Value) {
    let url = server.http_url(&format!("api/v1/ingests/{id}/restart"));
    let mut args = vec!["-X", "POST"];
    if let Some(c) = credentials {
        args.extend(["-u", c]);
    }
    args.push(&url);
    let (status, _, body) = curl(&args);
    (
        status,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    )
}

#[test]
fn the_api_shows_each_ingests_state_and_restarts_it() {
    // A "camera" that accepts connections and never answers: the kernel completes the
    // handshakes of the listen backlog, nobody reads.
    let silent = std::net::TcpListener::bind("127.0.0.1:31301").unwrap();
    let config = ingest("rtsp://admin:s3cret@127.0.0.1:31300/cam", "live/cam", "")
        + &ingest("rtsp://127.0.0.1:31301/cam", "live/silent", "")
        + &ingest(
            "rtsp://127.0.0.1:31300/cam",
            "live/door",
            "mode = \"on_demand\"\n",
        )
        + API_AUTH;
    let server = Server::start(&config);

    // The camera is down: backoff with the error; the silent one is still connecting; the
    // on-demand one, unwatched, is idle.
    let cam = wait_ingest(&server, "live/cam", Duration::from_secs(10), |i| {
        i["state"] == "backoff"
    });
    assert_eq!(cam["url"], "rtsp://admin:***@127.0.0.1:31300/cam", "{cam}");
    assert_eq!(cam["mode"], "always", "{cam}");
    assert!(
        cam["error"]
            .as_str()
            .unwrap()
            .contains("Connection refused"),
        "{cam}"
    );
    assert!(cam["retry_in_ms"].as_u64().unwrap() <= 30_000, "{cam}");
    assert_eq!(
        (&cam["video"], &cam["audio"]),
        (&serde_json::Value::Null, &serde_json::Value::Null)
    );
    let silent_ingest = ingest_of(&server, "live/silent");
    assert_eq!(silent_ingest["state"], "connecting", "{silent_ingest}");
    assert!(silent_ingest["error"].is_null(), "{silent_ingest}");
    let door = ingest_of(&server, "live/door");
    assert_eq!(
        (&door["state"], &door["mode"]),
        (&"idle".into(), &"on_demand".into()),
        "{door}"
    );
    let body = serde_json::to_string(&ingests(&server)).unwrap();
    assert!(!body.contains("s3cret"), "{body}");

    // One ingest by its id; an unknown id is SRS's stream-not-found; restart is POST only.
    let id = cam["id"].as_str().unwrap().to_owned();
    let (status, one) =
        common::get_json(server.http_addr.unwrap(), &format!("/api/v1/ingests/{id}"));
    assert_eq!(
        (status, &one["ingest"]["stream"]),
        (200, &"live/cam".into()),
        "{one}"
    );
    let (_, none) = common::get_json(server.http_addr.unwrap(), "/api/v1/ingests/vid-nope");
    assert_eq!(none["code"], 2048, "{none}");
    let (status, _, _) = curl(&[&server.http_url(&format!("api/v1/ingests/{id}/restart"))]);
    assert_eq!(status, 405);

    // Let the backoff grow (1, 2, 4 s: the fourth failure waits 8 s), then bring the camera.
    let cam = wait_ingest(&server, "live/cam", Duration::from_secs(20), |i| {
        i["state"] == "backoff" && i["reconnects"].as_u64().unwrap() >= 3
    });
    let camera = Camera::start(31300, None);
    // A restart is a change: refused without the password, though GETs are open.
    let (status, _) = restart(&server, &id, None);
    assert_eq!(status, 401);
    let (status, _) = restart(&server, &id, Some("u:wrong"));
    assert_eq!(status, 401);
    let left = ingest_of(&server, "live/cam");
    assert_eq!(left["state"], "backoff", "{left}");
    let retry_in = Duration::from_millis(left["retry_in_ms"].as_u64().unwrap());
    assert!(retry_in >= Duration::from_secs(2), "{cam}\n{left}");
    let asked = Instant::now();
    let (status, json) = restart(&server, &id, Some("u:p"));
    assert_eq!((status, &json["code"]), (200, &0.into()), "{json}");
    assert_eq!(json["ingest"]["id"], id.as_str(), "{json}");
    // It connects now, not when its wait was over.
    let playing = wait_ingest(&server, "live/cam", Duration::from_secs(10), |i| {
        i["state"] == "playing"
    });
    assert!(
        asked.elapsed() < retry_in,
        "{:?} >= {retry_in:?}",
        asked.elapsed()
    );
    assert_eq!(playing["video"]["codec"], "H264", "{playing}");
    assert_eq!(playing["audio"]["codec"], "AAC", "{playing}");
    assert!(playing["error"]
        .as_str()
        .unwrap()
        .contains("Connection refused"));
    assert!(server
        .log()
        .contains("ingest live/cam: restarted by the API"));
    let reconnects = playing["reconnects"].as_u64().unwrap();
    let since = playing["since"].as_u64().unwrap();
    let bytes = wait_ingest(&server, "live/cam", Duration::from_secs(5), |i| {
        i["recv_bytes"].as_u64().unwrap() > 10_000
    });
    assert_eq!(bytes["since"].as_u64().unwrap(), since, "{bytes}");

    // A restart of a playing ingest: TEARDOWN, a new connection, playing again.
    let (status, _) = restart(&server, &id, Some("u:p"));
    assert_eq!(status, 200);
    assert!(
        camera.wait_for("teardown", 1, Duration::from_secs(10))
            && camera.wait_for("client connected", 2, Duration::from_secs(10)),
        "{}",
        camera.output()
    );
    let again = wait_ingest(&server, "live/cam", Duration::from_secs(10), |i| {
        i["state"] == "playing" && i["reconnects"].as_u64().unwrap() == reconnects + 1
    });
    assert!(again["since"].as_u64().unwrap() > since, "{again}");
    assert!(again["recv_bytes"].as_u64().unwrap() >= bytes["recv_bytes"].as_u64().unwrap());
    drop(silent);
}

#[test]
fn tcp_udp_and_auto_transports_each_play() {
    let camera = Camera::start(31310, None);
    let url = camera.url("");
    let config = ingest(&url, "live/t", "transport = \"tcp\"\n")
        + &ingest(&url, "live/u", "transport = \"udp\"\n")
        + &ingest(&url, "live/a", "transport = \"auto\"\n")
        + "[http_api]\nenabled = true\n";
    let server = Server::start(&config);
    for (stream, transport) in [("live/t", "tcp"), ("live/u", "udp"), ("live/a", "udp")] {
        let line =
            format!("ingest {stream}: playing from 127.0.0.1:31310: H264, AAC over {transport}");
        assert!(
            server.wait_log(&line, Duration::from_secs(15)),
            "{line}: {}",
            server.log()
        );
        let i = ingest_of(&server, stream);
        assert_eq!(
            (&i["state"], &i["transport"]),
            (&"playing".into(), &transport.into()),
            "{i}"
        );
    }
    let dir = TempDir::new("rtsp-transports");
    let udp = receive(&dir, &server.http_url("live/u.flv"), 4, "u.flv");
    check_camera_stream(&udp, 4, "UDP over HTTP-FLV");
    let auto = receive(&dir, &server.http_url("live/a.ts"), 3, "a.ts");
    check_camera_stream(&auto, 3, "auto (UDP) over HTTP-TS");
    let tcp = receive(&dir, &server.http_url("live/t.flv"), 3, "t.flv");
    check_camera_stream(&tcp, 3, "TCP over HTTP-FLV");
    // Still on UDP after more than 3 s, and the bytes counted.
    for stream in ["live/u", "live/a"] {
        let i = ingest_of(&server, stream);
        assert_eq!(i["transport"], "udp", "{i}");
        assert_eq!(i["reconnects"], 0, "{i}");
        assert!(i["recv_bytes"].as_u64().unwrap() > 100_000, "{i}");
    }
    assert!(!server.log().contains("falling back"), "{}", server.log());
}

#[test]
fn auto_falls_back_to_tcp_when_the_camera_refuses_udp() {
    let camera = Camera::start_with(31311, None, &["--tcp-only"]);
    let url = camera.url("");
    let config = ingest(&url, "live/a", "transport = \"auto\"\n")
        + &ingest(&url, "live/u", "transport = \"udp\"\n")
        + "[http_api]\nenabled = true\n";
    let server = Server::start(&config);
    assert!(
        server.wait_log(
            "ingest live/a: playing from 127.0.0.1:31311: H264, AAC over tcp",
            Duration::from_secs(15)
        ),
        "{}",
        server.log()
    );
    let log = server.log();
    assert!(
        log.contains("ingest live/a: SETUP refused: RTSP/1.0 461")
            && log.contains("falling back to TCP interleaved"),
        "{log}"
    );
    let a = ingest_of(&server, "live/a");
    assert_eq!(
        (&a["state"], &a["transport"]),
        (&"playing".into(), &"tcp".into()),
        "{a}"
    );
    // Without the fallback, "udp" fails and backs off with the camera's answer.
    let u = wait_ingest(&server, "live/u", Duration::from_secs(10), |i| {
        i["state"] == "backoff"
    });
    assert!(u["error"].as_str().unwrap().contains("461"), "{u}");
    let dir = TempDir::new("rtsp-fallback");
    let flv = receive(&dir, &server.http_url("live/a.flv"), 4, "a.flv");
    check_camera_stream(&flv, 4, "auto after falling back to TCP");
    // TCP from then on: one fallback only.
    assert_eq!(
        server.log().matches("ingest live/a: playing from").count(),
        1
    );
}

/// The vhost's hooks hear an ingest as they hear SRS's (an ffmpeg publishing from the box):
/// `on_publish` before it publishes, with SRS's fields, the API's client id, ip 127.0.0.1;
/// one the hook refuses does not publish and retries with backoff; `on_unpublish` when the
/// camera goes away. Camera on 31150, hook server on 31151.
#[cfg(feature = "hooks")]
#[test]
fn ingests_ask_on_publish_and_tell_on_unpublish() {
    use common::hookserver::{assert_srs_fields, Hooks};
    let camera = Camera::start(31150, None);
    let hooks = Hooks::start(31151, 10);
    let config = format!(
        "{}{}[vhost.__defaultVhost__.http_hooks]\nenabled = true\nhooks_timeout = 2\n\
         on_publish = \"{}\"\non_unpublish = \"{}\"\n",
        ingest(&camera.url(""), "live/yard", ""),
        ingest(&camera.url(""), "live/denycam", ""),
        hooks.url("by_stream"),
        hooks.url("allow"),
    );
    let server = Server::start(&config);
    // The refused one is asked again after its backoff (1 s, then 2 s).
    let asked = hooks.wait("on_publish", 3, Duration::from_secs(20));
    assert!(asked.len() >= 3, "{:?}\n{}", hooks.actions(), server.log());
    let refused: Vec<_> = asked.iter().filter(|b| b["stream"] == "denycam").collect();
    assert!(refused.len() >= 2, "{asked:?}");
    assert!(
        server.wait_log(
            "ingest live/denycam: rtsp://127.0.0.1:31150/cam: refused by the on_publish hook",
            Duration::from_secs(5)
        ),
        "{}",
        server.log()
    );
    let (_, clients) = common::get_json(server.http_addr.unwrap(), "/api/v1/clients");
    let ingest_client = clients["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "rtsp-ingest")
        .cloned()
        .unwrap_or_else(|| panic!("{clients}"));
    assert_eq!(
        ingest_client["name"], "yard",
        "only the allowed one publishes"
    );
    let (_, streams) = common::get_json(server.http_addr.unwrap(), "/api/v1/streams");
    let active: Vec<_> = streams["streams"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["publish"]["active"] == true)
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(active, ["yard"], "{streams}");

    // The camera goes away: on_unpublish, with the same fields.
    drop(camera);
    let unpublished = hooks.wait("on_unpublish", 1, Duration::from_secs(15));
    assert_eq!(
        unpublished.len(),
        1,
        "{:?}\n{}",
        hooks.actions(),
        server.log()
    );
    let allowed = asked
        .iter()
        .find(|b| b["stream"] == "yard")
        .expect("yard asked");
    for body in [allowed, &unpublished[0]] {
        assert_srs_fields(body);
        assert_eq!(body["client_id"], ingest_client["id"], "{body}");
        assert_eq!(body["ip"], "127.0.0.1");
        assert_eq!(body["vhost"], "__defaultVhost__");
        assert_eq!(
            (&body["app"], &body["stream"]),
            (&"live".into(), &"yard".into())
        );
        assert_eq!(body["tcUrl"], "rtmp://127.0.0.1/live");
        assert_eq!(body["param"], "");
        assert_eq!(body["stream_url"], "/live/yard");
    }
}

/// An `rtsps://` camera: GStreamer's camera (Digest) behind stunnel4 with a certificate of the
/// test CA. The server that trusts the CA (`[tls] ca_file`, `verify = true`) pulls it over TLS
/// (TCP interleaved, `transport = "auto"` means TCP) and the stream plays over HTTP-FLV; one
/// that trusts another CA refuses the certificate, says why in its log and shows the ingest
/// in `backoff` with the TLS error in the API.
#[cfg(feature = "tls")]
#[test]
fn an_rtsps_camera_is_pulled_over_tls_with_its_certificate_checked() {
    use common::tls::{pki, stunnel};
    let camera = Camera::start(23240, Some("admin:s3cret"));
    let dir = TempDir::new("rtsps");
    let good = pki(&dir, "good");
    let other = pki(&dir, "other");
    let _tunnel = stunnel(&dir, &good, 23241, camera.port);
    let url = "rtsps://admin:s3cret@127.0.0.1:23241/cam";
    let config = |ca: &std::path::Path, stream: &str| {
        ingest(url, stream, "transport = \"auto\"\n")
            + &format!(
                "[tls]\nverify = true\nca_file = \"{}\"\n[http_api]\nenabled = true\n",
                ca.display()
            )
    };
    let server = Server::start(&config(&good.ca, "live/secure"));
    let wrong = Server::start(&config(&other.ca, "live/wrong"));
    assert!(
        server.wait_log("ingest live/secure: playing from", Duration::from_secs(20)),
        "{}",
        server.log()
    );
    let log = server.log();
    assert!(
        log.contains("playing from 127.0.0.1:23241: H264, AAC"),
        "{log}"
    );
    assert!(!log.contains("s3cret"), "{log}");
    // Digest over TLS: the camera asked, the URL's credentials answered.
    assert!(
        camera.output().contains("client connected"),
        "{}",
        camera.output()
    );
    let flv = receive(&dir, &server.http_url("live/secure.flv"), 5, "secure.flv");
    check_camera_stream(&flv, 5, "HTTP-FLV over rtsps://");
    let secure = ingest_of(&server, "live/secure");
    assert_eq!(secure["state"], "playing", "{secure}");
    assert_eq!(
        secure["url"], "rtsps://admin:***@127.0.0.1:23241/cam",
        "{secure}"
    );

    let refused = wait_ingest(&wrong, "live/wrong", Duration::from_secs(15), |i| {
        i["state"] == "backoff"
    });
    let error = refused["error"].as_str().unwrap_or("");
    assert!(
        error.contains("invalid peer certificate") && error.contains("UnknownIssuer"),
        "{refused}"
    );
    let log = wrong.log();
    assert!(
        log.contains("ingest live/wrong: ") && log.contains("UnknownIssuer"),
        "{log}"
    );
    assert!(!log.contains("playing from"), "{log}");
}
