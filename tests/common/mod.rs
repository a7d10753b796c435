//! Test harness: starts the real `tinysrs` binary on 127.0.0.1 with an ephemeral port, and
//! drives real clients (ffmpeg, ffprobe, rtmpdump). Every wait is bounded; every process we
//! start is stopped by its PID when its guard drops.
#![allow(dead_code)]

pub mod api;
pub mod client;
pub mod frames;
#[cfg(feature = "gb28181")]
pub mod gbdevice;
#[cfg(feature = "codec")]
pub mod hevc;
pub mod hookserver;
pub mod nginx;
pub mod paced;
#[cfg(feature = "rtc")]
pub mod peer;
pub mod recordings;
pub mod tls;
#[cfg(feature = "rtc")]
pub mod whep;
#[cfg(feature = "rtc")]
pub mod whip;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

static NEXT_DIR: AtomicUsize = AtomicUsize::new(0);

/// Ports [`free_port`] hands out: below the kernel's ephemeral range (32768-60999 on Linux),
/// where no client socket of another test takes them.
const FREE_PORTS: std::ops::Range<u16> = 20000..32000;

static NEXT_PORT: AtomicUsize = AtomicUsize::new(0);

/// A TCP port of 127.0.0.1 where nothing listens now, below the ephemeral range, for peers that
/// cannot listen on port 0 and say which port they got (nginx), and for destinations that must
/// stay dead. Each call in a process gives another one (from a start that depends on the
/// process id, so test binaries running at once start apart).
pub fn free_port() -> u16 {
    let span = usize::from(FREE_PORTS.end - FREE_PORTS.start);
    let start = (std::process::id() as usize).wrapping_mul(7919) % span;
    for _ in 0..span {
        let n = NEXT_PORT.fetch_add(1, Ordering::Relaxed);
        let port = FREE_PORTS.start + ((start + n * 17) % span) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {FREE_PORTS:?}");
}

/// A scratch directory for one test, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let n = NEXT_DIR.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("tinysrs-test-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Fails the test clearly when a real client is missing (ci/install-deps installs them).
pub fn require(tool: &str) {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "{tool} is not installed: run ci/install-deps (or ci/test)"
    );
}

/// The running server. Stopped with SIGTERM (then SIGKILL) when dropped.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    /// The HTTP server's address, when it is enabled.
    pub http_addr: Option<SocketAddr>,
    /// The API's own port (`http_api.listen`), when it is set.
    pub api_addr: Option<SocketAddr>,
    log: Arc<Mutex<String>>,
    pub dir: TempDir,
    pub config_path: PathBuf,
}

impl Server {
    /// Starts the binary with `listen = "127.0.0.1:0"` followed by `config` (TOML).
    /// Starts the binary with RTMP and HTTP on 127.0.0.1, ephemeral ports, followed by
    /// `config` (TOML). A config with its own `[http_server]` table sets the HTTP side itself.
    pub fn start(config: &str) -> Server {
        let dir = TempDir::new("server");
        let config_path = dir.path("tinysrs.toml");
        let http = if config.contains("[http_server]") {
            ""
        } else {
            "http_server.listen = \"127.0.0.1:0\"\n"
        };
        let gb = if config.contains("[gb28181]") {
            ""
        } else {
            "gb28181.sip_listen = \"127.0.0.1:0\"\ngb28181.media_listen = \"127.0.0.1:0\"\n"
        };
        std::fs::write(
            &config_path,
            format!("listen = \"127.0.0.1:0\"\n{http}{gb}{config}"),
        )
        .unwrap();
        Self::start_with_file(dir, config_path)
    }

    pub fn start_with_file(dir: TempDir, config_path: PathBuf) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tinysrs"))
            .arg("-c")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tinysrs");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("RTMP listening on ").nth(1) {
                    let _ = tx.send(addr.trim().to_string());
                }
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let addr: SocketAddr = match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(a) => a.parse().expect("listen address"),
            Err(_) => {
                let _ = child.kill();
                panic!("server did not start:\n{}", log.lock().unwrap());
            }
        };
        // "HTTP listening on" and "HTTP API listening on" are logged before the RTMP line,
        // when enabled.
        let listening = |what: &str| {
            log.lock()
                .unwrap()
                .lines()
                .find_map(|l| l.split(what).nth(1).map(str::to_owned))
                .and_then(|a| a.trim().parse().ok())
        };
        let http_addr = listening("HTTP listening on ");
        let api_addr = listening("HTTP API listening on ");
        Server {
            child,
            addr,
            http_addr,
            api_addr,
            log,
            dir,
            config_path,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("rtmp://127.0.0.1:{}/{path}", self.addr.port())
    }

    /// `http://127.0.0.1:PORT/path` on the HTTP server.
    pub fn http_url(&self, path: &str) -> String {
        let addr = self.http_addr.expect("the HTTP server is enabled");
        format!("http://127.0.0.1:{}/{path}", addr.port())
    }

    /// `http://127.0.0.1:PORT/path` on the API's own port.
    pub fn api_url(&self, path: &str) -> String {
        let addr = self.api_addr.expect("http_api.listen is set");
        format!("http://127.0.0.1:{}/{path}", addr.port())
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits up to `timeout` for `needle` in the log.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if self.log().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Resident set size of the server process, in KiB.
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.pid())
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "kill -{sig} failed");
    }

    /// Sends SIGTERM and waits up to `timeout` for the exit.
    pub fn stop(&mut self, timeout: Duration) -> Option<ExitStatus> {
        self.signal("TERM");
        wait_timeout(&mut self.child, timeout)
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.is_running() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(self.pid().to_string())
                .status();
            if wait_timeout(&mut self.child, Duration::from_secs(3)).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }
}

pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// CPU seconds (user + system) a process has used, from /proc/PID/stat (in USER_HZ ticks,
/// 100 a second on every Linux ABI).
pub fn cpu_s(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command (field 2) may hold spaces: count the fields after its ')'; utime and stime
    // are fields 14 and 15, the 12th and 13th after it.
    let rest = stat.rfind(')').map_or("", |at| &stat[at + 1..]);
    let ticks: u64 = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    ticks as f64 / 100.0
}

/// GET `path` on `addr` over a fresh connection (`Connection: close`): status and JSON body.
pub fn get_json(addr: SocketAddr, path: &str) -> (u16, serde_json::Value) {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(addr).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // A connection refused at accept (max_connections) is closed unanswered: status 0.
    let _ = write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    );
    let mut bytes = Vec::new();
    let _ = c.read_to_end(&mut bytes);
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(bytes.len(), |at| at + 4);
    let head = String::from_utf8_lossy(&bytes[..end]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let json = serde_json::from_slice(&bytes[end..]).unwrap_or(serde_json::Value::Null);
    (status, json)
}

/// Waits for `child` up to `timeout`; None if it is still running.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let end = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A child process killed (by PID) when dropped.
pub struct Proc {
    pub child: Child,
    pub stderr_path: PathBuf,
}

impl Proc {
    pub fn spawn(cmd: &mut Command, stderr_path: &Path) -> Proc {
        let err = std::fs::File::create(stderr_path).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        Proc {
            child,
            stderr_path: stderr_path.to_path_buf(),
        }
    }

    /// Waits up to `timeout`; kills it and fails the test if it does not exit.
    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        match wait_timeout(&mut self.child, timeout) {
            Some(s) => s,
            None => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "process did not exit within {timeout:?}; stderr:\n{}",
                    self.stderr()
                );
            }
        }
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// ffmpeg publishing a lavfi test source (H.264 + AAC, 25 fps, keyframe every `gop` frames)
/// in real time for `seconds`.
pub fn ffmpeg_publish(dir: &TempDir, url: &str, seconds: u32, gop: u32, bitrate: &str) -> Proc {
    require("ffmpeg");
    let n = NEXT_DIR.fetch_add(1, Ordering::Relaxed);
    Proc::spawn(
        Command::new("ffmpeg")
            .args(["-hide_banner", "-nostats", "-loglevel", "error", "-re"])
            .args(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"])
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
            .args(["-t", &seconds.to_string()])
            .args([
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-tune",
                "zerolatency",
            ])
            .args(["-g", &gop.to_string(), "-keyint_min", &gop.to_string()])
            .args(["-b:v", bitrate, "-maxrate", bitrate, "-bufsize", bitrate])
            .args(["-c:a", "aac", "-b:a", "64k", "-f", "flv", url])
            .stdout(Stdio::null()),
        &dir.path(&format!("ffmpeg-publish-{n}.err")),
    )
}

/// What ffprobe decoded from a URL or file.
#[derive(Debug, Default)]
pub struct Probe {
    pub codecs: Vec<String>,
    pub video_frames: usize,
    pub audio_frames: usize,
    /// (key_frame, pict_type) of the first decoded video frame.
    pub first_video: Option<(bool, String)>,
    /// Width and height of the video stream.
    pub video_size: Option<(u32, u32)>,
    /// Errors ffprobe printed at `-v error` (decode errors included).
    pub errors: String,
    pub success: bool,
}

/// Decodes every frame of `input` with ffprobe (bounded by `timeout`).
pub fn ffprobe(dir: &TempDir, input: &str, timeout: Duration) -> Probe {
    require("ffprobe");
    let n = NEXT_DIR.fetch_add(1, Ordering::Relaxed);
    let out_path = dir.path(&format!("ffprobe-{n}.csv"));
    let out = std::fs::File::create(&out_path).unwrap();
    let mut p = Proc::spawn(
        Command::new("ffprobe")
            .args(["-v", "error", "-show_entries"])
            .arg("stream=codec_name,width,height:frame=media_type,key_frame,pict_type")
            .args(["-of", "csv=p=1", input])
            .stdout(out),
        &dir.path(&format!("ffprobe-{n}.err")),
    );
    let status = p.wait(timeout);
    let text = std::fs::read_to_string(&out_path).unwrap_or_default();
    let mut probe = Probe {
        errors: p.stderr(),
        success: status.success(),
        ..Probe::default()
    };
    for line in text.lines() {
        let f: Vec<&str> = line.split(',').collect();
        match f.as_slice() {
            ["frame", "video", key, pict, ..] => {
                probe.video_frames += 1;
                if probe.first_video.is_none() {
                    probe.first_video = Some((*key == "1", pict.to_string()));
                }
            }
            ["frame", "audio", ..] => probe.audio_frames += 1,
            ["stream", codec, rest @ ..] => {
                probe.codecs.push(codec.to_string());
                if let [w, h, ..] = rest {
                    if let (Ok(w), Ok(h)) = (w.parse(), h.parse()) {
                        probe.video_size = Some((w, h));
                    }
                }
            }
            _ => {}
        }
    }
    // MPEG-TS inputs list each stream twice (again inside their program).
    probe.codecs.sort();
    probe.codecs.dedup();
    probe
}

/// ffmpeg reads `input` for `seconds` at `-v error` and copies it into `out` (any format
/// ffmpeg can write), so that what was received can be probed; returns ffmpeg's stderr.
/// Decode, demux and continuity errors show up in that stderr.
pub fn ffmpeg_read(
    dir: &TempDir,
    input: &str,
    seconds: u32,
    out: &Path,
    timeout: Duration,
) -> (bool, String) {
    require("ffmpeg");
    let n = NEXT_DIR.fetch_add(1, Ordering::Relaxed);
    let mut p = Proc::spawn(
        Command::new("ffmpeg")
            .args(["-hide_banner", "-nostats", "-v", "error", "-i", input])
            .args(["-t", &seconds.to_string(), "-c", "copy", "-y"])
            .arg(out)
            .stdout(Stdio::null()),
        &dir.path(&format!("ffmpeg-read-{n}.err")),
    );
    let status = p.wait(timeout);
    (status.success(), p.stderr())
}

/// curl with `args`; returns (HTTP status of the last response, its headers, body).
/// Bounded by `--max-time`.
pub fn curl(args: &[&str]) -> (u16, String, Vec<u8>) {
    require("curl");
    let dir = TempDir::new("curl");
    let (head_path, body_path) = (dir.path("head"), dir.path("body"));
    Command::new("curl")
        .args(["-s", "--max-time", "10", "-D"])
        .arg(&head_path)
        .arg("-o")
        .arg(&body_path)
        .args(args)
        .status()
        .expect("run curl");
    let head = std::fs::read_to_string(&head_path).unwrap_or_default();
    let body = std::fs::read(&body_path).unwrap_or_default();
    let status = head
        .lines()
        .rev()
        .find(|l| l.starts_with("HTTP/"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head, body)
}

/// `POST` of the SDP in `body_file` to `url` as `application/sdp` (a WHEP or WHIP offer),
/// with `headers` more: curl's status, head and body.
pub fn post_sdp(url: &str, body_file: &str, headers: &[&str]) -> (u16, String, Vec<u8>) {
    let data = format!("@{body_file}");
    let mut args = vec!["-X", "POST", "-H", "Content-Type: application/sdp"];
    for h in headers {
        args.extend(["-H", h]);
    }
    args.extend(["--data-binary", &data, url]);
    curl(&args)
}

/// Our client on `server`, app `live`, publishing `stream` (asserts Publish.Start).
pub fn publisher(server: &Server, stream: &str) -> client::Client {
    let mut c = client::Client::connect(&server.addr.to_string(), "live").unwrap();
    c.create_stream().unwrap();
    assert_eq!(c.publish(stream).unwrap(), "NetStream.Publish.Start");
    c
}

/// Our client on `server`, app `live`, playing `stream` (asserts Play.Start).
pub fn player(server: &Server, stream: &str) -> client::Client {
    let mut c = client::Client::connect(&server.addr.to_string(), "live").unwrap();
    c.create_stream().unwrap();
    assert_eq!(c.play(stream).unwrap(), "NetStream.Play.Start");
    c
}
