//! The hook server for the callback tests (tests/data/hook_server.py, a Python `http.server`
//! that records every request and answers by path), and SRS's fields per event.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{require, TempDir};

/// The hook server, stopped when dropped.
pub struct Hooks {
    child: Child,
    log: PathBuf,
    pub port: u16,
    /// HTTPS (with `start_tls`).
    tls: bool,
    _dir: TempDir,
}

impl Hooks {
    /// Starts tests/data/hook_server.py on `port` (0: any free port; `self.port` says which);
    /// its `/slow` answers after `slow_s`.
    pub fn start(port: u16, slow_s: u32) -> Hooks {
        Hooks::spawn(port, slow_s, None)
    }

    /// The same over HTTPS, with the certificate and key (PEM files) given; `url` says
    /// `https://`.
    #[allow(dead_code)]
    pub fn start_tls(slow_s: u32, cert: &std::path::Path, key: &std::path::Path) -> Hooks {
        Hooks::spawn(0, slow_s, Some((cert, key)))
    }

    fn spawn(port: u16, slow_s: u32, tls: Option<(&std::path::Path, &std::path::Path)>) -> Hooks {
        require("python3");
        let dir = TempDir::new("hooks");
        let log = dir.path("requests.jsonl");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/hook_server.py");
        let mut command = Command::new("python3");
        if let Some((cert, key)) = tls {
            command.env("HOOK_TLS_CERT", cert).env("HOOK_TLS_KEY", key);
        }
        let mut child = command
            .arg(script)
            .arg(port.to_string())
            .arg(&log)
            .arg(slow_s.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the hook server");
        use std::io::BufRead;
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        // "ready PORT": the port it listens on (the kernel's choice when `port` is 0, which
        // tests should pass: a fixed port in the ephemeral range can be taken by a client
        // socket of a test running beside).
        let mut words = line.split_whitespace();
        assert_eq!(
            words.next(),
            Some("ready"),
            "hook server on port {port} did not start"
        );
        let port = words
            .next()
            .and_then(|p| p.parse().ok())
            .expect("the hook server says its port");
        Hooks {
            child,
            log,
            port,
            tls: tls.is_some(),
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}/{path}", self.port)
    }

    /// Every request so far: (path, body).
    pub fn requests(&self) -> Vec<(String, Value)> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|v| {
                (
                    v["path"].as_str().unwrap_or("").to_owned(),
                    v["body"].clone(),
                )
            })
            .collect()
    }

    /// The bodies of `action`, waiting up to `timeout` for at least `n` of them.
    pub fn wait(&self, action: &str, n: usize, timeout: Duration) -> Vec<Value> {
        let end = Instant::now() + timeout;
        loop {
            let found: Vec<Value> = self
                .requests()
                .into_iter()
                .filter(|(_, b)| b["action"] == action)
                .map(|(_, b)| b)
                .collect();
            if found.len() >= n || Instant::now() >= end {
                return found;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn actions(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .map(|(_, b)| b["action"].as_str().unwrap_or("").to_owned())
            .collect()
    }
}

impl Drop for Hooks {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The fields SRS 5 gives each event (trunk/src/app/srs_app_http_hooks.cpp).
pub fn srs_keys(action: &str) -> Vec<&'static str> {
    let base = [
        "server_id",
        "service_id",
        "action",
        "client_id",
        "ip",
        "vhost",
        "app",
    ];
    let stream = ["tcUrl", "stream", "param", "stream_url", "stream_id"];
    let mut keys: Vec<&str> = base.to_vec();
    match action {
        "on_connect" => keys.extend(["tcUrl", "stream", "param", "pageUrl"]),
        "on_close" => keys.extend(["send_bytes", "recv_bytes"]),
        "on_play" => {
            keys.extend(stream);
            keys.push("pageUrl");
        }
        "on_dvr" => {
            keys.extend(stream);
            keys.extend(["cwd", "file"]);
        }
        _ => keys.extend(stream),
    }
    keys.sort();
    keys
}

pub fn assert_srs_fields(body: &Value) {
    let action = body["action"].as_str().unwrap();
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(keys, srs_keys(action), "{action}: {body}");
}
