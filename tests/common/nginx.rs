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
        require("nginx");
        let module = PathBuf::from("/usr/lib/nginx/modules/ngx_rtmp_module.so");
        assert!(
            module.exists(),
            "libnginx-mod-rtmp is not installed: run ci/install-deps"
        );
        // Another process may take the free port between our probe and nginx's bind: then
        // nginx exits, and the next free port is tried.
        for _ in 0..5 {
            let port = free_port();
            let dir = TempDir::new("nginx");
            let conf = dir.path("nginx.conf");
            std::fs::write(
                &conf,
                format!(
                    "load_module {};\ndaemon off;\nmaster_process off;\npid {};\n\
                     error_log {} info;\nevents {{ worker_connections 64; }}\n\
                     rtmp {{ server {{ listen 127.0.0.1:{port}; \
                     application live {{ live on; }} }} }}\n",
                    module.display(),
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
                    .arg(&conf)
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
