//! TLS peers for the tests: a test CA and a server certificate made by `openssl` in a temp
//! dir, and `stunnel4` (OpenSSL) terminating TLS in front of a plain TCP port.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{require, Proc, TempDir};

/// A CA and a server certificate it signed for 127.0.0.1 and localhost (P-256 keys).
pub struct Pki {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes `NAME-ca.pem` (a CA) and, when `server`, `NAME.pem`/`NAME.key` signed by it.
pub fn pki(dir: &TempDir, name: &str) -> Pki {
    require("openssl");
    let d = &dir.0;
    let ca = format!("{name}-ca.pem");
    let ca_key = format!("{name}-ca.key");
    let (cert, key, csr) = (
        format!("{name}.pem"),
        format!("{name}.key"),
        format!("{name}.csr"),
    );
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let subject = format!("/CN=tinysrs test CA {name}");
    let mut args = vec!["req", "-x509"];
    args.extend(ec);
    args.extend([
        "-keyout", &ca_key, "-out", &ca, "-days", "2", "-subj", &subject,
    ]);
    openssl(d, &args);
    let mut args = vec!["req"];
    args.extend(ec);
    args.extend(["-keyout", &key, "-out", &csr, "-subj", "/CN=127.0.0.1"]);
    openssl(d, &args);
    let ext = dir.path(&format!("{name}.ext"));
    std::fs::write(
        &ext,
        "subjectAltName = IP:127.0.0.1, DNS:localhost\nbasicConstraints = CA:FALSE\n\
         extendedKeyUsage = serverAuth\n",
    )
    .unwrap();
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-out",
            &cert,
            "-days",
            "2",
            "-extfile",
            ext.to_str().unwrap(),
        ],
    );
    Pki {
        ca: dir.path(&ca),
        cert: dir.path(&cert),
        key: dir.path(&key),
    }
}

/// stunnel4 in the foreground: TLS on `port` with `pki`'s certificate, plain TCP to `to`.
/// Killed by PID on drop.
pub struct Stunnel {
    proc: Proc,
}

pub fn stunnel(dir: &TempDir, pki: &Pki, port: u16, to: u16) -> Stunnel {
    require("stunnel4");
    let conf = dir.path("stunnel.conf");
    std::fs::write(
        &conf,
        format!(
            "foreground = yes\npid =\ndebug = 4\n[tunnel]\naccept = 127.0.0.1:{port}\n\
             connect = 127.0.0.1:{to}\ncert = {}\nkey = {}\n",
            pki.cert.display(),
            pki.key.display()
        ),
    )
    .unwrap();
    let proc = Proc::spawn(
        Command::new("stunnel4").arg(&conf).stdout(Stdio::null()),
        &dir.path("stunnel.err"),
    );
    let end = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < end, "stunnel did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Stunnel { proc }
}

impl Drop for Stunnel {
    fn drop(&mut self) {
        let _ = self.proc.child.kill();
        let _ = self.proc.child.wait();
    }
}
