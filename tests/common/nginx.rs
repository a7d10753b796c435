//! nginx with the RTMP module (Debian's nginx + libnginx-mod-rtmp) as a non-root process: its
//! config, pid and logs in a temp dir, RTMP on a free port below the kernel's ephemeral range
//! (nginx cannot say which port 0 gave it), `application live`, logging at info (each play
//! is a line). Killed by PID on drop.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, require, Proc, TempDir};

pub struct Nginx {
    proc: Proc,
    dir: TempDir,
    /// Where it listens for RTMP (on 127.0.0.1).
    pub port: u16,
}

impl Nginx {
    /// Starts nginx-rtmp and waits (bounded) until it takes connections.
    pub fn start() -> Nginx {
        let module = PathBuf::from("/usr/lib/nginx/modules/ngx_rtmp_module.so");
        assert!(
            module.exists(),
            "libnginx-mod-rtmp is not installed: run ci/install-deps"
        );
        Nginx::start_with(|port, _| {
            format!(
                "load_module {};\nrtmp {{ server {{ listen 127.0.0.1:{port}; \
                 application live {{ live on; }} }} }}\n",
                module.display()
            )
        })
    }

    /// Starts nginx as an HTTP cache in front of `upstream` (a tinysrs HTTP server), as the
    /// README's "Beyond one box" has it for HLS: playlists cached 1 s, segments 10 minutes
    /// (their names never repeat), concurrent misses of one URL collapsed into one upstream
    /// request (`proxy_cache_lock`). Its access log (`access_log`) ends each line with the
    /// cache status (HIT, MISS, EXPIRED...).
    pub fn cache_for(upstream: std::net::SocketAddr) -> Nginx {
        Nginx::start_with(|port, dir| {
            format!(
                "http {{\n\
                 log_format cached '$request_uri $status $upstream_cache_status';\n\
                 access_log {} cached;\n\
                 proxy_cache_path {} keys_zone=hls:1m max_size=64m inactive=10m;\n\
                 server {{\n\
                   listen 127.0.0.1:{port};\n\
                   location ~ \\.m3u8$ {{ proxy_pass http://{upstream}; proxy_cache hls;\n\
                     proxy_cache_valid 200 1s; proxy_cache_lock on; }}\n\
                   location ~ \\.ts$ {{ proxy_pass http://{upstream}; proxy_cache hls;\n\
                     proxy_cache_valid 200 10m; proxy_cache_lock on; }}\n\
                 }}\n}}\n",
                dir.path("access.log").display(),
                dir.path("cache").display(),
            )
        })
    }

    /// Starts nginx with the config `conf(port, dir)` before the common part (foreground, one
    /// process, pid and error log in `dir`; `load_module` must come first), and waits (bounded) until `port` takes connections.
    fn start_with(conf: impl Fn(u16, &TempDir) -> String) -> Nginx {
        require("nginx");
        // Another process may take the free port between our probe and nginx's bind: then
        // nginx exits, and the next free port is tried.
        for _ in 0..5 {
            let port = free_port();
            let dir = TempDir::new("nginx");
            let path = dir.path("nginx.conf");
            std::fs::write(
                &path,
                format!(
                    "{}daemon off;\nmaster_process off;\npid {};\nerror_log {} info;\n\
                     events {{ worker_connections 64; }}\n",
                    conf(port, &dir),
                    dir.path("nginx.pid").display(),
                    dir.path("error.log").display(),
                ),
            )
            .unwrap();
            let mut proc = Proc::spawn(
                Command::new("nginx")
                    .arg("-p")
                    .arg(&dir.0)
                    .arg("-e")
                    .arg(dir.path("error.log"))
                    .arg("-c")
                    .arg(&path)
                    .stdout(Stdio::null()),
                &dir.path("nginx.err"),
            );
            let end = Instant::now() + Duration::from_secs(10);
            loop {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Nginx { proc, dir, port };
                }
                if matches!(proc.child.try_wait(), Ok(Some(_))) {
                    break;
                }
                assert!(Instant::now() < end, "nginx did not start");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("nginx did not start on any of 5 free ports");
    }

    /// Its access log (with `cache_for`: URI, status and cache status per request).
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.path("access.log")).unwrap_or_default()
    }

    /// `http://127.0.0.1:port/path`.
    pub fn http_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    /// Its error log (info level: connects, plays, publishes).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path("error.log")).unwrap_or_default()
    }

    /// `rtmp://127.0.0.1:port/path`.
    pub fn url(&self, path: &str) -> String {
        format!("rtmp://127.0.0.1:{}/{path}", self.port)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.proc.child.kill();
        let _ = self.proc.child.wait();
    }
}
