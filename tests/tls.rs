//! TLS against real peers (Cargo feature `tls`): a test CA made by `openssl` in a temp dir;
//! `https://` hooks answered by the Python hook server over `ssl` (OpenSSL); `rtmps://`
//! forward destinations through `stunnel4` (OpenSSL) in front of a second tinysrs, read back
//! by ffprobe; the RTMPS server (`[rtmps]`) with ffmpeg publishing and playing over
//! `rtmps://` (GnuTLS). Ports: stunnel's in 22100-22199, the rest ephemeral, on 127.0.0.1.

mod common;

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use common::api::{forward_to, published, streams, wait_stream, with_api};
use common::hookserver::Hooks;
use common::tls::{pki, stunnel};
use common::{ffmpeg_publish, ffmpeg_read, ffprobe, TempDir};

static SERIAL: Mutex<()> = Mutex::new(());

/// One ffmpeg test at a time (two shared cores).
fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// ffmpeg publishes to A, which forwards over `rtmps://` to stunnel, which hands the plain RTMP
/// to B: with the test CA, B gets the stream and ffprobe decodes H.264 from it; the API shows
/// the rtmps:// URL. With another CA, A refuses stunnel's certificate and says why; with
/// `tls.verify = false`, any certificate is taken.
#[test]
fn rtmps_forward_through_stunnel_checks_the_certificate() {
    let _turn = serial();
    let dir = TempDir::new("tls-forward");
    let good = pki(&dir, "good");
    let other = pki(&dir, "other");
    let b = with_api("");
    let _tunnel = stunnel(&dir, &good, 22101, b.addr.port());
    let a = with_api(&format!(
        "[tls]\nca_file = \"{}\"\n{}",
        good.ca.display(),
        forward_to("rtmps://127.0.0.1:22101/live/secure")
    ));
    let wrong = with_api(&format!(
        "[tls]\nca_file = \"{}\"\n{}",
        other.ca.display(),
        forward_to("rtmps://127.0.0.1:22101/live/wrong")
    ));
    let unchecked = with_api(&format!(
        "[tls]\nverify = false\nca_file = \"{}\"\n{}",
        other.ca.display(),
        forward_to("rtmps://127.0.0.1:22101/live/unchecked")
    ));
    let mut publishers =
        [&a, &wrong, &unchecked].map(|s| ffmpeg_publish(&dir, &s.url("live/cam"), 25, 50, "500k"));
    assert!(
        wait_stream(&b, Duration::from_secs(15), published("secure")),
        "B never got the stream over RTMPS; A's log:\n{}",
        a.log()
    );
    let url = |s: &serde_json::Value| s["forwards"][0]["url"].clone();
    let cam = streams(&a)
        .into_iter()
        .find(|s| s["name"] == "cam")
        .unwrap();
    assert_eq!(url(&cam), "rtmps://127.0.0.1:22101/live/secure", "{cam}");
    let out = dir.path("secure.flv");
    let (ok, err) = ffmpeg_read(
        &dir,
        &b.url("live/secure"),
        5,
        &out,
        Duration::from_secs(30),
    );
    assert!(ok, "read from B: {err}");
    let probe = ffprobe(&dir, out.to_str().unwrap(), Duration::from_secs(20));
    assert!(probe.codecs.contains(&"h264".to_owned()), "{probe:?}");
    // 5 s at 25 fps; the read starts at a keyframe.
    assert!(probe.video_frames >= 75, "{probe:?}");
    assert!(
        wait_stream(&b, Duration::from_secs(10), published("unchecked")),
        "tls.verify = false: B never got the stream; its log:\n{}",
        unchecked.log()
    );
    assert!(
        wrong.wait_log("invalid peer certificate", Duration::from_secs(10)),
        "{}",
        wrong.log()
    );
    let log = wrong.log();
    assert!(log.contains("UnknownIssuer"), "{log}");
    assert!(
        !streams(&b).iter().any(published("wrong")),
        "a certificate of an unknown CA was taken"
    );
    for p in &mut publishers {
        let _ = p.child.kill();
        let _ = p.child.wait();
    }
}

/// The hook server over HTTPS with the test CA: an allowing on_publish lets ffmpeg publish
/// (and the hook got SRS's body), a denying one refuses it; a tinysrs that does not trust the
/// CA refuses every publish, saying why.
#[test]
fn https_hooks_allow_and_deny_publishes() {
    let _turn = serial();
    let dir = TempDir::new("tls-hooks");
    let good = pki(&dir, "good");
    let other = pki(&dir, "other");
    let hooks = Hooks::start_tls(10, &good.cert, &good.key);
    assert!(hooks.url("x").starts_with("https://"));
    let config = |ca: &Path| {
        format!(
            "[tls]\nca_file = \"{}\"\n[vhost.__defaultVhost__.http_hooks]\nenabled = true\n\
             hooks_timeout = 3\non_publish = \"{}\"\n",
            ca.display(),
            hooks.url("by_stream")
        )
    };
    let server = with_api(&config(&good.ca));
    let mut allowed = ffmpeg_publish(&dir, &server.url("live/fine"), 20, 25, "300k");
    assert!(
        wait_stream(&server, Duration::from_secs(15), published("fine")),
        "{}",
        server.log()
    );
    let asked = hooks.wait("on_publish", 1, Duration::from_secs(5));
    assert_eq!(asked.len(), 1, "{:?}", hooks.actions());
    assert_eq!(asked[0]["stream"], "fine", "{}", asked[0]);
    let mut denied = ffmpeg_publish(&dir, &server.url("live/deny1"), 3, 25, "300k");
    assert!(!denied.wait(Duration::from_secs(20)).success());
    assert!(
        server.wait_log("refused by the on_publish hook", Duration::from_secs(5)),
        "{}",
        server.log()
    );
    let _ = allowed.child.kill();
    let _ = allowed.child.wait();

    let distrusting = with_api(&config(&other.ca));
    let mut refused = ffmpeg_publish(&dir, &distrusting.url("live/fine2"), 3, 25, "300k");
    assert!(!refused.wait(Duration::from_secs(20)).success());
    assert!(
        distrusting.wait_log("invalid peer certificate", Duration::from_secs(5)),
        "{}",
        distrusting.log()
    );
}

/// The RTMPS server with the test CA's certificate: ffmpeg publishes over `rtmps://`, ffmpeg
/// plays it back over `rtmps://` and ffprobe decodes H.264; plain RTMP players get the same
/// stream; bytes that are not TLS on the RTMPS port close that connection only.
#[test]
fn ffmpeg_publishes_and_plays_over_rtmps() {
    let _turn = serial();
    let dir = TempDir::new("tls-rtmps");
    let good = pki(&dir, "good");
    let server = with_api(&format!(
        "[rtmps]\nenabled = true\nlisten = \"127.0.0.1:0\"\ncert = \"{}\"\nkey = \"{}\"\n",
        good.cert.display(),
        good.key.display()
    ));
    let rtmps: std::net::SocketAddr = server
        .log()
        .lines()
        .find_map(|l| l.split("RTMPS listening on ").nth(1).map(str::to_owned))
        .and_then(|a| a.trim().parse().ok())
        .expect("RTMPS listening on ... in the log");
    let url = format!("rtmps://127.0.0.1:{}/live/sec", rtmps.port());
    let mut publish = ffmpeg_publish(&dir, &url, 25, 50, "500k");
    assert!(
        wait_stream(&server, Duration::from_secs(15), published("sec")),
        "{}",
        server.log()
    );
    // Not TLS: this connection is closed, the others go on.
    {
        use std::io::{Read, Write};
        let mut junk = std::net::TcpStream::connect(rtmps).unwrap();
        junk.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        junk.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        let mut rest = Vec::new();
        let _ = junk.read_to_end(&mut rest);
    }
    for (tag, url) in [("tls", url.as_str()), ("plain", &server.url("live/sec"))] {
        let out = dir.path(&format!("{tag}.flv"));
        let (ok, err) = ffmpeg_read(&dir, url, 5, &out, Duration::from_secs(30));
        assert!(ok, "read {url}: {err}\n{}", server.log());
        let probe = ffprobe(&dir, out.to_str().unwrap(), Duration::from_secs(20));
        assert!(
            probe.codecs.contains(&"h264".to_owned()),
            "{tag}: {probe:?}"
        );
        assert!(probe.video_frames >= 75, "{tag}: {probe:?}");
    }
    assert!(server.log().contains("TLS handshake"), "{}", server.log());
    let _ = publish.child.kill();
    let _ = publish.child.wait();
}

/// The HTTPS port (`[http_server.https]`) from the server's log.
fn https_port(server: &common::Server) -> u16 {
    server
        .log()
        .lines()
        .find_map(|l| l.split("HTTPS listening on ").nth(1).map(str::to_owned))
        .and_then(|a| a.trim().parse::<std::net::SocketAddr>().ok())
        .expect("HTTPS listening on ... in the log")
        .port()
}

/// curl over HTTPS: its exit status, and what it printed (the body, or its error).
fn curl(args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .expect("run curl");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// HTTPS with no certificate configured: tinysrs makes a self-signed one for 127.0.0.1 and
/// localhost and writes it where `cert` and `key` say; curl (OpenSSL) trusts it when given it
/// as its CA, for both names, and refuses it without; the API answers, and ffmpeg (GnuTLS)
/// reads HTTP-FLV over `https://` and ffprobe decodes H.264 from it. The next start reads the
/// same pair. Then a test CA's certificate: curl checks it against that CA.
#[test]
fn https_with_a_made_certificate_and_with_a_test_ca() {
    common::require("curl");
    let _turn = serial();
    let dir = TempDir::new("tls-https");
    let cert = dir.path("made.crt");
    let key = dir.path("made.key");
    let config = |cert: &Path, key: &Path| {
        format!(
            "[http_server.https]\nenabled = true\nlisten = \"127.0.0.1:0\"\ncert = \"{}\"\n\
             key = \"{}\"\n",
            cert.display(),
            key.display()
        )
    };
    let server = with_api(&config(&cert, &key));
    let port = https_port(&server);
    assert!(
        server.log().contains("made a self-signed certificate"),
        "{}",
        server.log()
    );
    let pem = std::fs::read_to_string(&cert).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    let ca = cert.to_str().unwrap();
    for host in ["127.0.0.1", "localhost"] {
        let url = format!("https://{host}:{port}/api/v1/versions");
        let (ok, body) = curl(&["--cacert", ca, &url]);
        assert!(
            ok && body.contains("\"code\":0"),
            "{url}: {body}\n{}",
            server.log()
        );
    }
    // Without it, OpenSSL's default roots do not know it.
    let (ok, err) = curl(&[&format!("https://127.0.0.1:{port}/api/v1/versions")]);
    assert!(
        !ok,
        "an unknown self-signed certificate was accepted: {err}"
    );
    // Live HTTP-FLV over HTTPS (ffmpeg's TLS is GnuTLS here).
    let mut publish = ffmpeg_publish(&dir, &server.url("live/sec"), 25, 50, "500k");
    assert!(
        wait_stream(&server, Duration::from_secs(15), published("sec")),
        "{}",
        server.log()
    );
    let url = format!("https://127.0.0.1:{port}/live/sec.flv");
    let out = dir.path("https.flv");
    let (ok, err) = common::ffmpeg_read(&dir, &url, 4, &out, Duration::from_secs(30));
    assert!(ok, "read {url}: {err}\n{}", server.log());
    let probe = ffprobe(&dir, out.to_str().unwrap(), Duration::from_secs(20));
    assert!(probe.codecs.contains(&"h264".to_owned()), "{probe:?}");
    assert!(probe.video_frames >= 50, "{probe:?}");
    let _ = publish.child.kill();
    let _ = publish.child.wait();
    drop(server);
    // The next start takes the pair it wrote.
    let again = with_api(&config(&cert, &key));
    let port = https_port(&again);
    assert!(
        !again.log().contains("made a self-signed certificate"),
        "{}",
        again.log()
    );
    assert_eq!(std::fs::read_to_string(&cert).unwrap(), pem);
    let (ok, body) = curl(&[
        "--cacert",
        ca,
        &format!("https://127.0.0.1:{port}/api/v1/versions"),
    ]);
    assert!(ok, "{body}");
    drop(again);
    // A certificate from a test CA.
    let good = pki(&dir, "good");
    let server = with_api(&config(&good.cert, &good.key));
    let port = https_port(&server);
    let url = format!("https://localhost:{port}/api/v1/versions");
    let (ok, body) = curl(&["--cacert", good.ca.to_str().unwrap(), &url]);
    assert!(
        ok && body.contains("\"code\":0"),
        "{body}\n{}",
        server.log()
    );
    // Plain HTTP on the HTTPS port: that connection is closed, the server goes on.
    let (ok, _) = curl(&[&format!("http://127.0.0.1:{port}/api/v1/versions")]);
    assert!(!ok);
    let (ok, body) = curl(&["--cacert", good.ca.to_str().unwrap(), &url]);
    assert!(ok, "{body}");
}
