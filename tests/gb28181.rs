//! GB28181 end to end against the real binary: sipp plays the camera's signalling
//! (tests/data/sipp: REGISTER with a digest challenge, Keepalive, Catalog and DeviceInfo
//! answers, our INVITE answered with SDP, BYE, unregister), our device simulator
//! (common::gbdevice) sends the camera's PS over RTP to the port of our INVITE, and ffprobe,
//! ffmpeg and our RTMP client read the stream back over HTTP-FLV, RTMP, HLS and HTTP-TS.
//!
//! How sipp and the test meet: the INVITE (with its own Call-ID) goes to sipp's out-of-call
//! scenario, which writes the offer to a file; the test sends the media, checks what came
//! out, then sends an INFO in that dialog, on which sipp hangs up and unregisters. sipp's
//! exit code says whether every step of the signalling went as the scenario expects.
#![cfg(all(
    feature = "gb28181",
    feature = "rtmp",
    feature = "http-flv",
    feature = "http-ts",
    feature = "hls"
))]

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::client::{Client, Error as ClientError, MediaKind};
use common::gbdevice::{
    free_port, Clip, Codec, Faults, SendOptions, SendStats, Sender, ACCEPT_TIMEOUT, PTS_WRAP,
};
use common::{curl, ffmpeg_read, ffprobe, require, Probe, Proc, Server, TempDir};
use tinysrs::wire::sip::{Method, SipMessage};

const SECS: Duration = Duration::from_secs(1);
/// The camera and its one channel (GB/T 28181 ids: domain, type 111 = DVR/IPC, 132 = camera).
const DEVICE: &str = "34020000001110000001";
const CHANNEL: &str = "34020000001320000001";
const SERVER_ID: &str = "34020000002000000001";
const DOMAIN: &str = "3402000000";
const PASSWORD: &str = "gb-test-secret";
/// Seconds of media per test.
const MEDIA_SECONDS: u32 = 6;
/// sipp's own bound (`-timeout`): every test ends well before it.
const SIPP_TIMEOUT: &str = "50s";

/// The media transport the server asks for (`[gb28181] transport`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Media {
    Udp,
    TcpPassive,
    TcpActive,
}

impl Media {
    fn config(self) -> &'static str {
        match self {
            Media::Udp => "udp",
            Media::TcpPassive => "tcp_passive",
            Media::TcpActive => "tcp_active",
        }
    }
}

/// The server with its GB28181 ports.
struct Gateway {
    server: Server,
    sip_port: u16,
    media: Media,
    /// The UDP media port range is this one port (udp).
    rtp_port: u16,
}

impl Gateway {
    fn start(media: Media) -> Gateway {
        let rtp_port = free_port();
        let config = format!(
            "[gb28181]\n\
             enabled = true\n\
             sip_listen = \"127.0.0.1:0\"\n\
             media_listen = \"127.0.0.1:0\"\n\
             rtp_port_min = {rtp_port}\n\
             rtp_port_max = {rtp_port}\n\
             server_id = \"{SERVER_ID}\"\n\
             domain = \"{DOMAIN}\"\n\
             password = \"{PASSWORD}\"\n\
             auto_invite = true\n\
             transport = \"{}\"\n\
             \n\
             [vhost.__defaultVhost__.hls]\n\
             hls_fragment = 1\n\
             hls_window = 60\n",
            media.config()
        );
        let server = Server::start(&config);
        assert!(
            server.wait_log("GB28181 SIP listening on", 10 * SECS),
            "no GB28181 listener:\n{}",
            server.log()
        );
        // "GB28181 SIP listening on 127.0.0.1:P (udp, tcp), media on 127.0.0.1:M"
        let log = server.log();
        let line = log
            .lines()
            .find_map(|l| l.split("GB28181 SIP listening on ").nth(1))
            .unwrap();
        let sip: SocketAddr = line
            .split_whitespace()
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("SIP address in {line:?}"));
        Gateway {
            server,
            sip_port: sip.port(),
            media,
            rtp_port,
        }
    }

    fn wait_log(&self, needle: &str, timeout: Duration) {
        assert!(
            self.server.wait_log(needle, timeout),
            "no {needle:?} in the server log:\n{}",
            self.server.log()
        );
    }
}

/// What sipp's out-of-call scenario wrote about our INVITE.
#[derive(Debug, Clone)]
struct Invite {
    call_id: String,
    /// The offer's `c=` address and `m=` port.
    media: SocketAddr,
    /// `RTP/AVP` or `TCP/RTP/AVP`.
    proto: String,
    /// `y=` as written (10 digits) and as a number.
    ssrc_text: String,
    ssrc: u32,
    /// `a=setup:passive|active`, if any.
    setup: Option<String>,
}

/// sipp as the device's signalling.
struct Device {
    sipp: Proc,
    dir: TempDir,
    port: u16,
    tcp: bool,
    invite_file: PathBuf,
    /// The connection our INFO went over (sipp over TCP), kept open until sipp is done.
    info_conn: Option<TcpStream>,
}

impl Device {
    /// Starts sipp against the gateway; `tcp` runs SIP over TCP; `answer_port` goes into the
    /// SDP answer (where the server connects in tcp_active).
    fn start(gw: &Gateway, tcp: bool, answer_port: u16) -> Device {
        require("sipp");
        let dir = TempDir::new("sipp");
        let port = free_port();
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sipp");
        let invite_file = dir.path("invite");
        let screen = std::fs::File::create(dir.path("screen.log")).unwrap();
        let mut cmd = Command::new("sipp");
        cmd.arg(format!("127.0.0.1:{}", gw.sip_port))
            .arg("-sf")
            .arg(data.join("gb28181_device.xml"))
            .arg("-oocsf")
            .arg(data.join("gb28181_device_ooc.xml"))
            .args(["-t", if tcp { "t1" } else { "u1" }])
            .args(["-i", "127.0.0.1", "-p", &port.to_string()])
            .args([
                "-m",
                "1",
                "-timeout",
                SIPP_TIMEOUT,
                "-timeout_error",
                "-nostdin",
            ])
            .arg("-trace_err")
            .arg("-error_file")
            .arg(dir.path("errors.log"))
            .arg("-trace_msg")
            .arg("-message_file")
            .arg(dir.path("messages.log"))
            .arg("-trace_logs")
            .arg("-log_file")
            .arg(dir.path("logs.log"))
            .args(["-s", DEVICE, "-au", DEVICE, "-ap", PASSWORD])
            .args(["-key", "server_id", SERVER_ID, "-key", "domain", DOMAIN])
            .args(["-key", "channel_id", CHANNEL])
            .arg("-key")
            .arg("invite_file")
            .arg(&invite_file)
            .args(["-key", "answer_port", &answer_port.to_string()])
            .current_dir(&dir.0)
            .stdout(screen);
        let sipp = Proc::spawn(&mut cmd, &dir.path("sipp.err"));
        Device {
            sipp,
            dir,
            port,
            tcp,
            invite_file,
            info_conn: None,
        }
    }

    /// Everything sipp wrote, for failure messages.
    fn report(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.dir.path(name)).unwrap_or_default();
        let tail = |s: String, n: usize| {
            let lines: Vec<&str> = s.lines().collect();
            lines[lines.len().saturating_sub(n)..].join("\n")
        };
        format!(
            "--- sipp stderr:\n{}\n--- sipp screen:\n{}\n--- sipp errors:\n{}\n--- sipp log:\n{}\n--- sipp messages (tail):\n{}",
            self.sipp.stderr(),
            tail(read("screen.log"), 40),
            tail(read("errors.log"), 60),
            read("logs.log"),
            tail(read("messages.log"), 120)
        )
    }

    /// Waits for our INVITE to reach sipp (through REGISTER, the challenge, Keepalive and the
    /// Catalog answer that triggers it).
    fn wait_invite(&mut self, gw: &Gateway, timeout: Duration) -> Invite {
        let end = Instant::now() + timeout;
        loop {
            if let Ok(text) = std::fs::read_to_string(&self.invite_file) {
                let f: Vec<&str> = text.split_whitespace().collect();
                if let [call_id, ip, port, proto, ssrc, rest @ ..] = f.as_slice() {
                    let media = format!("{ip}:{port}").parse().unwrap();
                    return Invite {
                        call_id: call_id.to_string(),
                        media,
                        proto: proto.to_string(),
                        ssrc_text: ssrc.to_string(),
                        ssrc: ssrc.parse().unwrap(),
                        setup: rest.first().map(|s| s.to_string()),
                    };
                }
            }
            if let Ok(Some(status)) = self.sipp.child.try_wait() {
                panic!(
                    "sipp ended ({status}) before our INVITE:\n{}\n--- server:\n{}",
                    self.report(),
                    gw.server.log()
                );
            }
            assert!(
                Instant::now() < end,
                "no INVITE reached sipp:\n{}\n--- server:\n{}",
                self.report(),
                gw.server.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The go-ahead: an INFO in the INVITE's dialog, after which sipp sends BYE and
    /// REGISTER with Expires: 0; then sipp must exit 0.
    fn finish(mut self, gw: &Gateway, invite: &Invite) {
        let info = format!(
            "INFO sip:{CHANNEL}@127.0.0.1:{port} SIP/2.0\r\n\
             Via: SIP/2.0/{t} 127.0.0.1:9;branch=z9hG4bK-test-go-ahead\r\n\
             From: <sip:test@127.0.0.1>;tag=test\r\n\
             To: <sip:{CHANNEL}@{DOMAIN}>\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: 1 INFO\r\n\
             Max-Forwards: 70\r\n\
             Content-Length: 0\r\n\r\n",
            port = self.port,
            t = if self.tcp { "TCP" } else { "UDP" },
            call_id = invite.call_id
        );
        let to = SocketAddr::from(([127, 0, 0, 1], self.port));
        if self.tcp {
            let mut conn = TcpStream::connect_timeout(&to, 5 * SECS).expect("connect to sipp");
            conn.write_all(info.as_bytes()).expect("INFO to sipp");
            self.info_conn = Some(conn);
        } else {
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            socket.send_to(info.as_bytes(), to).expect("INFO to sipp");
        }
        let status = match common::wait_timeout(&mut self.sipp.child, 20 * SECS) {
            Some(s) => s,
            None => panic!(
                "sipp did not finish after the go-ahead:\n{}\n--- server:\n{}",
                self.report(),
                gw.server.log()
            ),
        };
        assert!(
            status.success(),
            "sipp failed ({status}):\n{}\n--- server:\n{}",
            self.report(),
            gw.server.log()
        );
        gw.wait_log(
            &format!("GB28181 {DEVICE}/{CHANNEL}: BYE from the device"),
            5 * SECS,
        );
        gw.wait_log(&format!("GB28181 device {DEVICE} unregistered"), 5 * SECS);
        gw.wait_log(
            &format!("GB28181 unpublish __defaultVhost__/live/{CHANNEL}"),
            5 * SECS,
        );
    }
}

/// One camera call in progress: server, sipp, the INVITE, and our tcp_active listener.
struct Call {
    gw: Gateway,
    device: Device,
    invite: Invite,
    listener: Option<TcpListener>,
    dir: TempDir,
    /// Media connections kept open until the device has hung up, as a camera does (the
    /// server hangs up a call whose only media connection closes).
    senders: std::cell::RefCell<Vec<Sender>>,
}

impl Call {
    /// Server and sipp up, REGISTER (digest), Keepalive, Catalog, INVITE answered and ACKed.
    fn start(media: Media, sip_over_tcp: bool) -> Call {
        let gw = Gateway::start(media);
        let listener =
            (media == Media::TcpActive).then(|| TcpListener::bind("127.0.0.1:0").unwrap());
        let answer_port = match &listener {
            Some(l) => l.local_addr().unwrap().port(),
            None => free_port(),
        };
        let mut device = Device::start(&gw, sip_over_tcp, answer_port);
        let invite = device.wait_invite(&gw, 20 * SECS);
        gw.wait_log(&format!("GB28181 device {DEVICE} registered"), 5 * SECS);
        // Our INVITE as the server logged it, and the offer sipp saw, agree.
        let transport = match media {
            Media::Udp => format!("Udp {{ port: {} }}", gw.rtp_port),
            Media::TcpPassive => "TcpPassive".into(),
            Media::TcpActive => "TcpActive".into(),
        };
        gw.wait_log(
            &format!(
                "GB28181 INVITE {DEVICE}/{CHANNEL} ssrc {} ({transport})",
                invite.ssrc_text
            ),
            5 * SECS,
        );
        assert_eq!(invite.ssrc_text.len(), 10, "{invite:?}");
        assert_eq!(
            invite.media.ip(),
            std::net::Ipv4Addr::LOCALHOST,
            "{invite:?}"
        );
        match media {
            Media::Udp => {
                assert_eq!(invite.proto, "RTP/AVP", "{invite:?}");
                assert_eq!(invite.media.port(), gw.rtp_port, "{invite:?}");
                assert_eq!(invite.setup, None, "{invite:?}");
            }
            Media::TcpPassive => {
                assert_eq!(invite.proto, "TCP/RTP/AVP", "{invite:?}");
                assert_eq!(
                    invite.setup.as_deref(),
                    Some("a=setup:passive"),
                    "{invite:?}"
                );
            }
            Media::TcpActive => {
                assert_eq!(invite.proto, "TCP/RTP/AVP", "{invite:?}");
                assert_eq!(
                    invite.setup.as_deref(),
                    Some("a=setup:active"),
                    "{invite:?}"
                );
            }
        }
        gw.wait_log(
            &format!(
                "GB28181 {DEVICE}/{CHANNEL} answered, media ssrc {}",
                invite.ssrc
            ),
            10 * SECS,
        );
        Call {
            gw,
            device,
            invite,
            listener,
            dir: TempDir::new("gb-call"),
            senders: std::cell::RefCell::new(Vec::new()),
        }
    }

    fn server(&self) -> &Server {
        &self.gw.server
    }

    /// The media connection the INVITE asked for.
    fn sender(&self) -> Sender {
        let s = match self.gw.media {
            Media::Udp => Sender::udp(self.invite.media),
            Media::TcpPassive => Sender::tcp_connect(self.invite.media),
            Media::TcpActive => Sender::tcp_accept(self.listener.as_ref().unwrap(), ACCEPT_TIMEOUT),
        };
        s.unwrap_or_else(|e| panic!("media connection: {e}\n{}", self.server().log()))
    }

    /// Sends `clip` over the INVITE's transport (in real time with `opts.speed` 1).
    fn send(&self, clip: &Clip, opts: &SendOptions) -> SendStats {
        let mut sender = self.sender();
        let stats = sender
            .send_clip(clip, opts)
            .unwrap_or_else(|e| panic!("sending media: {e}\n{}", self.server().log()));
        // Let the server take in the tail before anything ends the call.
        std::thread::sleep(SECS / 2);
        self.senders.borrow_mut().push(sender);
        stats
    }

    /// The device hangs up, then closes its media connections.
    fn finish(self) -> (Gateway, TempDir) {
        let Call {
            gw,
            device,
            invite,
            dir,
            senders,
            ..
        } = self;
        device.finish(&gw, &invite);
        drop(senders);
        (gw, dir)
    }
}

/// ffprobe over HTTP-FLV (or HTTP-TS), started before the media: it decodes every frame until
/// the response ends when the call does.
fn live_probe(server: &Server, ext: &str) -> JoinHandle<Probe> {
    let url = server.http_url(&format!("live/{CHANNEL}.{ext}"));
    let handle = std::thread::spawn(move || {
        let dir = TempDir::new("gb-probe");
        ffprobe(&dir, &url, 50 * SECS)
    });
    let name = if ext == "flv" { "HTTP-FLV" } else { "HTTP-TS" };
    assert!(
        server.wait_log(
            &format!("{name} play __defaultVhost__/live/{CHANNEL}"),
            10 * SECS
        ),
        "{}",
        server.log()
    );
    handle
}

/// ffmpeg over RTMP, started before the media: copies `seconds` of it into a file, then
/// ffprobe decodes that.
fn rtmp_probe(server: &Server, seconds: u32) -> JoinHandle<(bool, String, Probe)> {
    let url = server.url(&format!("live/{CHANNEL}"));
    let rtmp_play = "] play __defaultVhost__/live/";
    let before = server.log().matches(rtmp_play).count();
    let handle = std::thread::spawn(move || {
        let dir = TempDir::new("gb-rtmp");
        let out = dir.path("rtmp.mkv");
        let (ok, errors) = ffmpeg_read(&dir, &url, seconds, &out, 50 * SECS);
        let probe = ffprobe(&dir, out.to_str().unwrap(), 20 * SECS);
        (ok, errors, probe)
    });
    let end = Instant::now() + 10 * SECS;
    while server.log().matches(rtmp_play).count() == before {
        assert!(Instant::now() < end, "no RTMP play:\n{}", server.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    handle
}

/// Every HLS segment of the playlist, fetched and concatenated, decoded by ffprobe.
fn hls_probe(server: &Server, dir: &TempDir) -> Probe {
    let (status, head, body) = curl(&[&server.http_url(&format!("live/{CHANNEL}.m3u8"))]);
    assert_eq!(status, 200, "{head}\n{}", server.log());
    let playlist = String::from_utf8(body).unwrap();
    let segments: Vec<&str> = playlist
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert!(segments.len() >= 3, "{playlist}");
    let mut all = Vec::new();
    for s in &segments {
        let (status, head, body) = curl(&[&server.http_url(&format!("live/{s}"))]);
        assert_eq!(status, 200, "{s}: {head}");
        assert!(
            !body.is_empty() && body.len() % 188 == 0,
            "{s}: {} bytes",
            body.len()
        );
        all.extend_from_slice(&body);
    }
    let path = dir.path("hls-all.ts");
    std::fs::write(&path, all).unwrap();
    ffprobe(dir, path.to_str().unwrap(), 30 * SECS)
}

/// What our RTMP client received: (kind, timestamp, FLV tag body).
type Received = Vec<(MediaKind, u32, Bytes)>;

/// Our RTMP client plays the channel (before the media) and keeps what arrives until the
/// stream has been quiet for `quiet`.
fn rtmp_client(server: &Server, quiet: Duration) -> JoinHandle<Result<Received, String>> {
    let addr = server.addr.to_string();
    let mut client = Client::connect(&addr, "live").expect("RTMP connect");
    client.create_stream().expect("createStream");
    assert_eq!(client.play(CHANNEL).expect("play"), "NetStream.Play.Start");
    std::thread::spawn(move || {
        let end = Instant::now() + 50 * SECS;
        let mut got = Vec::new();
        while Instant::now() < end {
            match client.recv_media(quiet) {
                Ok(m) => got.push(m),
                Err(ClientError::Timeout) if !got.is_empty() => break,
                Err(ClientError::Timeout) => {}
                Err(e) => return Err(format!("RTMP client after {} messages: {e}", got.len())),
            }
        }
        Ok(got)
    })
}

/// What [`rtmp_client`] received; fails with the server's log if the client failed.
fn rtmp_join(handle: JoinHandle<Result<Received, String>>, server: &Server) -> Received {
    handle
        .join()
        .unwrap()
        .unwrap_or_else(|e| panic!("{e}\n--- server:\n{}", server.log()))
}

/// (codec: 7 H.264 / 12 H.265, key frame, 0 sequence header / 1 frame, timestamp) of each
/// video message, read with our FLV parser. H.264 must come as legacy FLV and H.265 as
/// Enhanced RTMP (`hvc1`), as the issue asks.
fn video_tags(got: &Received) -> Vec<(u8, bool, u8, u32)> {
    got.iter()
        .filter(|(k, _, body)| *k == MediaKind::Video && body.len() > 1)
        .filter_map(|(_, ts, body)| {
            let tag = tinysrs::wire::flv::parse_video(body).ok()?;
            let codec = match tag.codec {
                tinysrs::wire::flv::VideoCodec::Avc => 7,
                tinysrs::wire::flv::VideoCodec::Hevc => 12,
                _ => 0,
            };
            assert_eq!(
                tag.enhanced,
                codec == 12,
                "H.265 as Enhanced RTMP only: {tag:?}"
            );
            Some((codec, tag.keyframe, u8::from(!tag.sequence_header), *ts))
        })
        .collect()
}

fn assert_clean(what: &str, p: &Probe) {
    assert!(p.success && p.errors.trim().is_empty(), "{what}: {p:?}");
}

fn assert_about(what: &str, got: usize, want: usize, slack: usize, p: &Probe) {
    assert!(
        got + slack >= want && got <= want,
        "{what}: {got} frames, want {want} (at most {slack} fewer): {p:?}"
    );
}

#[test]
fn h264_aac_over_tcp_passive_with_sip_over_udp() {
    let dir = TempDir::new("gb-h264-aac");
    let clip = Clip::encode(&dir, Some(Codec::H264), Some(Codec::Aac), MEDIA_SECONDS);
    let (video, audio) = (clip.count(Codec::H264), clip.count(Codec::Aac));
    assert_eq!(video, 25 * MEDIA_SECONDS as usize);

    let call = Call::start(Media::TcpPassive, false);
    let flv = live_probe(call.server(), "flv");
    let rtmp = rtmp_probe(call.server(), MEDIA_SECONDS - 2);
    let sent = call.send(&clip, &SendOptions::real_time(call.invite.ssrc));
    assert_eq!(sent.frames, clip.frames.len());
    call.gw.wait_log(
        &format!(
            "GB28181 publish __defaultVhost__/live/{CHANNEL} (ssrc {})",
            call.invite.ssrc
        ),
        SECS,
    );
    // The API lists the device and its playing channel (the call is still up).
    let (status, _, body) = common::curl(&[&call.server().http_url("api/v1/gb28181/devices")]);
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["code"], 0, "{v}");
    let device = &v["devices"][0];
    assert!(
        device["registered"] == true && device["online"] == true,
        "{v}"
    );
    assert_eq!(device["channels"][0]["id"], CHANNEL, "{v}");
    assert_eq!(device["channels"][0]["state"], "playing", "{v}");
    assert_eq!(device["channels"][0]["ssrc"], call.invite.ssrc, "{v}");
    let (gw, _) = call.finish();

    let p = flv.join().unwrap();
    assert_clean("HTTP-FLV", &p);
    assert_eq!(p.codecs, ["aac", "h264"], "{p:?}");
    assert_eq!(p.video_size, Some((320, 240)), "{p:?}");
    assert_eq!(p.first_video, Some((true, "I".to_string())), "{p:?}");
    assert_about("HTTP-FLV video", p.video_frames, video, 1, &p);
    assert_about("HTTP-FLV audio", p.audio_frames, audio, 2, &p);

    let (ok, errors, p) = rtmp.join().unwrap();
    assert!(ok && errors.trim().is_empty(), "RTMP: {errors}");
    assert_clean("RTMP", &p);
    assert_eq!(p.codecs, ["aac", "h264"], "{p:?}");
    let want = 25 * (MEDIA_SECONDS as usize - 2);
    assert!(p.video_frames.abs_diff(want) <= 2, "RTMP: {p:?}");

    // HLS: the segments the call left (the last one closed when it ended).
    let p = hls_probe(&gw.server, &dir);
    assert_clean("HLS", &p);
    assert_eq!(p.codecs, ["aac", "h264"], "{p:?}");
    assert_about("HLS video", p.video_frames, video, 1, &p);
    assert_about("HLS audio", p.audio_frames, audio, 3, &p);
}

#[test]
fn h264_g711a_over_udp() {
    let dir = TempDir::new("gb-h264-g711");
    let clip = Clip::encode(&dir, Some(Codec::H264), Some(Codec::G711A), MEDIA_SECONDS);
    let (video, audio) = (clip.count(Codec::H264), clip.count(Codec::G711A));

    let call = Call::start(Media::Udp, false);
    let flv = live_probe(call.server(), "flv");
    let rtmp = rtmp_probe(call.server(), MEDIA_SECONDS - 2);
    call.send(&clip, &SendOptions::real_time(call.invite.ssrc));
    let (gw, _) = call.finish();

    // G.711 A-law reaches FLV as sound format 7, which ffmpeg reads as pcm_alaw.
    let p = flv.join().unwrap();
    assert_clean("HTTP-FLV", &p);
    assert_eq!(p.codecs, ["h264", "pcm_alaw"], "{p:?}");
    assert_eq!(p.first_video, Some((true, "I".to_string())), "{p:?}");
    assert_about("HTTP-FLV video", p.video_frames, video, 1, &p);
    assert_about("HTTP-FLV audio", p.audio_frames, audio, 2, &p);

    let (ok, errors, p) = rtmp.join().unwrap();
    assert!(ok && errors.trim().is_empty(), "RTMP: {errors}");
    assert_clean("RTMP", &p);
    assert_eq!(p.codecs, ["h264", "pcm_alaw"], "{p:?}");
    assert!(
        p.video_frames.abs_diff(25 * (MEDIA_SECONDS as usize - 2)) <= 2,
        "RTMP: {p:?}"
    );

    // G.711 has no MPEG-TS mapping here: HLS is the video alone (documented in the README).
    let p = hls_probe(&gw.server, &dir);
    assert_clean("HLS", &p);
    assert_eq!(p.codecs, ["h264"], "{p:?}");
    assert_about("HLS video", p.video_frames, video, 1, &p);
}

#[test]
fn h265_aac_over_tcp_active_with_sip_over_tcp() {
    let dir = TempDir::new("gb-h265");
    let clip = Clip::encode(&dir, Some(Codec::H265), Some(Codec::Aac), MEDIA_SECONDS);
    let (video, audio) = (clip.count(Codec::H265), clip.count(Codec::Aac));

    let call = Call::start(Media::TcpActive, true);
    // Debian's ffmpeg 5.1 cannot read HEVC in FLV: FLV/RTMP is checked with our own client,
    // the decoding with ffprobe over HTTP-TS and HLS.
    let ts = live_probe(call.server(), "ts");
    let rtmp = rtmp_client(call.server(), 4 * SECS);
    call.send(&clip, &SendOptions::real_time(call.invite.ssrc));
    let (gw, _) = call.finish();

    let p = ts.join().unwrap();
    assert_clean("HTTP-TS", &p);
    assert_eq!(p.codecs, ["aac", "hevc"], "{p:?}");
    assert_eq!(p.video_size, Some((320, 240)), "{p:?}");
    assert_about("HTTP-TS video", p.video_frames, video, 1, &p);
    assert_about("HTTP-TS audio", p.audio_frames, audio, 3, &p);

    let p = hls_probe(&gw.server, &dir);
    assert_clean("HLS", &p);
    assert_eq!(p.codecs, ["aac", "hevc"], "{p:?}");
    assert_about("HLS video", p.video_frames, video, 1, &p);

    // RTMP: H.265 as Enhanced RTMP hvc1, sequence header first, then every frame.
    let got = rtmp_join(rtmp, &gw.server);
    let tags = video_tags(&got);
    assert!(!tags.is_empty(), "no video over RTMP");
    assert!(tags.iter().all(|t| t.0 == 12), "codec ids: {tags:?}");
    assert_eq!(
        (tags[0].1, tags[0].2),
        (true, 0),
        "sequence header first: {tags:?}"
    );
    let frames = tags.iter().filter(|t| t.2 == 1).count();
    assert!(
        frames + 1 >= video && frames <= video,
        "{frames} of {video} frames"
    );
    assert!(
        tags.iter().find(|t| t.2 == 1).unwrap().1,
        "first frame is a keyframe"
    );
}

#[test]
fn lossy_udp_drops_duplicates_and_reorders() {
    let dir = TempDir::new("gb-lossy");
    let clip = Clip::encode(&dir, Some(Codec::H264), Some(Codec::Aac), MEDIA_SECONDS);
    let (video, audio) = (clip.count(Codec::H264), clip.count(Codec::Aac));

    let call = Call::start(Media::Udp, false);
    let flv = live_probe(call.server(), "flv");
    let rtmp = rtmp_client(call.server(), 4 * SECS);
    let opts = SendOptions {
        faults: Faults {
            drop_percent: 2,
            duplicate_percent: 3,
            reorder_percent: 3,
            seed: 0x5eed_0002,
            ..Faults::default()
        },
        ..SendOptions::real_time(call.invite.ssrc)
    };
    let sent = call.send(&clip, &opts);
    assert!(
        sent.dropped > 0 && sent.duplicated > 0 && sent.reordered > 0,
        "{sent:?}"
    );
    let (gw, _) = call.finish();

    // The server: a lost packet costs exactly the frame it was part of (each frame is one
    // pack in packets of its own); duplicates and reordering cost nothing. (A packet that
    // arrives more than the reorder window past a gap still waited for continues the
    // sequence: it must not be taken for a reset candidate and then dropped as late.)
    let got = rtmp_join(rtmp, &gw.server);
    let frames = video_tags(&got).iter().filter(|t| t.2 == 1).count();
    let intact = video - sent.damaged_video_frames;
    println!("lossy UDP: {frames} video frames over RTMP, {intact} intact sent: {sent:?}");
    // Run alone this is exact (±1). With the other media tests on the same 2 cores we have
    // seen up to 6 frames fewer, not yet explained (noted in the GB28181 issue); the bound
    // below still fails on a real regression such as the reorder bug this test found.
    assert!(
        frames <= intact + 1 && frames + 10 >= intact,
        "{frames} video frames over RTMP, want {intact}: {sent:?}"
    );
    let sounds = got
        .iter()
        .filter(|m| m.0 == MediaKind::Audio && m.2.get(1) == Some(&1))
        .count();
    let want = audio - sent.damaged_audio_frames;
    println!("lossy UDP: {sounds} AAC frames over RTMP, {want} intact sent");
    // Same as for video: about 300 ms of both tracks go missing only under parallel load.
    assert!(
        sounds <= want + 1 && sounds + 20 >= want,
        "{sounds} AAC frames over RTMP, want {want}: {sent:?}"
    );

    // The player: ffmpeg decodes it (its H.264 decoder skips the frames that refer to a lost
    // one until the next keyframe).
    let p = flv.join().unwrap();
    assert!(p.success, "{p:?}");
    assert_eq!(p.codecs, ["aac", "h264"], "{p:?}");
    assert!(
        p.video_frames * 2 >= video && p.video_frames <= intact,
        "{} of {video} video frames decoded with {sent:?}: {p:?}",
        p.video_frames
    );
}

#[test]
fn camera_quirks_no_psm_wrong_ssrc_padding_and_private_streams() {
    let dir = TempDir::new("gb-quirks");
    let clip = Clip::encode(&dir, Some(Codec::H264), Some(Codec::Aac), MEDIA_SECONDS);
    let (video, audio) = (clip.count(Codec::H264), clip.count(Codec::Aac));

    let call = Call::start(Media::TcpPassive, false);
    let flv = live_probe(call.server(), "flv");
    let wrong = call.invite.ssrc.wrapping_add(777);
    let opts = SendOptions {
        faults: Faults {
            omit_psm: true,
            wrong_ssrc: Some(wrong),
            padding_and_private: true,
            ..Faults::default()
        },
        ..SendOptions::real_time(call.invite.ssrc)
    };
    call.send(&clip, &opts);
    // The server follows the SSRC the camera really uses.
    call.gw.wait_log(
        &format!("media SSRC {wrong} instead of {}", call.invite.ssrc),
        SECS,
    );
    let (_gw, _) = call.finish();

    // Without a PSM the types are guessed (H.264 from its SPS/IDR, AAC from ADTS); padding
    // and private stream 1 are skipped by their length.
    let p = flv.join().unwrap();
    assert_clean("HTTP-FLV", &p);
    assert_eq!(p.codecs, ["aac", "h264"], "{p:?}");
    assert_about("HTTP-FLV video", p.video_frames, video, 1, &p);
    assert_about("HTTP-FLV audio", p.audio_frames, audio, 2, &p);
}

#[test]
fn pts_near_the_33_bit_wrap() {
    let dir = TempDir::new("gb-wrap");
    let clip = Clip::encode(&dir, Some(Codec::H264), Some(Codec::Aac), MEDIA_SECONDS);
    let video = clip.count(Codec::H264);

    let call = Call::start(Media::TcpPassive, false);
    let flv = live_probe(call.server(), "flv");
    let rtmp = rtmp_client(call.server(), 4 * SECS);
    // The PTS wraps from 2^33 - 1 to 0 two seconds in.
    let opts = SendOptions {
        faults: Faults {
            pts_offset: PTS_WRAP - 2 * 90_000,
            ..Faults::default()
        },
        ..SendOptions::real_time(call.invite.ssrc)
    };
    call.send(&clip, &opts);
    let (gw, _) = call.finish();

    let p = flv.join().unwrap();
    assert_clean("HTTP-FLV", &p);
    assert_eq!(p.codecs, ["aac", "h264"], "{p:?}");
    assert_about("HTTP-FLV video", p.video_frames, video, 1, &p);

    // RTMP timestamps go on across the wrap: no jump back, no jump of 26.5 hours.
    let got = rtmp_join(rtmp, &gw.server);
    let frames: Vec<u32> = video_tags(&got)
        .into_iter()
        .filter(|t| t.2 == 1)
        .map(|t| t.3)
        .collect();
    assert!(
        frames.len() + 1 >= video,
        "{} of {video} frames",
        frames.len()
    );
    for w in frames.windows(2) {
        assert!(
            w[1] > w[0] && w[1] - w[0] <= 80,
            "video timestamps {w:?} in {frames:?}"
        );
    }
    let span = frames.last().unwrap() - frames.first().unwrap();
    assert!(
        span.abs_diff(40 * (video as u32 - 1)) <= 80,
        "span {span} ms"
    );
    let audio: Vec<u32> = got
        .iter()
        .filter(|m| m.0 == MediaKind::Audio)
        .map(|m| m.1)
        .collect();
    for w in audio.windows(2) {
        assert!(w[1] >= w[0] && w[1] - w[0] <= 100, "audio timestamps {w:?}");
    }
}

#[test]
fn codec_switch_mid_stream_h264_to_h265() {
    let dir = TempDir::new("gb-switch");
    let first = Clip::encode(&dir, Some(Codec::H264), Some(Codec::Aac), 4);
    let dir2 = TempDir::new("gb-switch-2");
    let second = Clip::encode(&dir2, Some(Codec::H265), Some(Codec::Aac), 4);
    let (h264, h265) = (first.count(Codec::H264), second.count(Codec::H265));
    let clip = first.then(second);

    let call = Call::start(Media::TcpPassive, true);
    let rtmp = rtmp_client(call.server(), 4 * SECS);
    call.send(&clip, &SendOptions::real_time(call.invite.ssrc));
    let (gw, _) = call.finish();

    // H.264 (legacy FLV codec 7), then a new sequence header and H.265 (Enhanced RTMP hvc1).
    let tags = video_tags(&rtmp_join(rtmp, &gw.server));
    let switch = tags
        .iter()
        .position(|t| t.0 == 12)
        .unwrap_or_else(|| panic!("no H.265 after the switch: {tags:?}"));
    let (before, after) = tags.split_at(switch);
    assert!(before.iter().all(|t| t.0 == 7), "{before:?}");
    assert!(after.iter().all(|t| t.0 == 12), "{after:?}");
    assert_eq!((before[0].1, before[0].2), (true, 0), "{before:?}");
    assert_eq!((after[0].1, after[0].2), (true, 0), "{after:?}");
    let n = |ts: &[(u8, bool, u8, u32)]| ts.iter().filter(|t| t.2 == 1).count();
    assert!(
        n(before).abs_diff(h264) <= 1,
        "{} of {h264} H.264 frames",
        n(before)
    );
    assert!(
        n(after).abs_diff(h265) <= 1,
        "{} of {h265} H.265 frames",
        n(after)
    );
    assert!(after[1].1, "the first H.265 frame is a keyframe");
    for w in tags.windows(2) {
        assert!(w[1].3 >= w[0].3, "timestamps go back at the switch: {w:?}");
    }
}

#[test]
fn ffmpeg_mpeg_file_pushed_raw_as_ps_does_not_crash_anything() {
    require("ffmpeg");
    let dir = TempDir::new("gb-mpeg");
    // MPEG-1 system stream as ffmpeg writes it: H.264 as stream id 0xE2, MP2 audio, no PSM,
    // 2048-byte packs with padding packets.
    let mpg = dir.path("ffmpeg.mpg");
    let mut ffmpeg = Proc::spawn(
        Command::new("ffmpeg")
            .args(["-hide_banner", "-nostats", "-loglevel", "error"])
            .args(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"])
            .args(["-f", "lavfi", "-i", "sine=sample_rate=44100", "-t", "3"])
            .args([
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-bf",
                "0",
                "-g",
                "25",
            ])
            .args(["-c:a", "mp2", "-f", "mpeg", "-y"])
            .arg(&mpg)
            .stdout(Stdio::null()),
        &dir.path("ffmpeg-mpeg.err"),
    );
    assert!(ffmpeg.wait(60 * SECS).success(), "{}", ffmpeg.stderr());
    let ps = std::fs::read(&mpg).unwrap();
    assert!(
        ps.windows(4).any(|w| w == [0, 0, 1, 0xE2]),
        "no stream 0xE2"
    );
    assert!(ps.windows(4).any(|w| w == [0, 0, 1, 0xBE]), "no padding");
    assert!(!ps.windows(4).any(|w| w == [0, 0, 1, 0xBC]), "a PSM");
    let clip = Clip::encode(&dir, Some(Codec::H264), Some(Codec::Aac), MEDIA_SECONDS);
    let video = clip.count(Codec::H264);

    let call = Call::start(Media::TcpPassive, false);
    let media = call.invite.media;
    // 1. The file raw on the media port, without RTP or RFC 4571 framing: the server must
    //    drop the connection.
    let mut raw = TcpStream::connect_timeout(&media, 5 * SECS).unwrap();
    let _ = raw.write_all(&ps);
    raw.set_read_timeout(Some(5 * SECS)).unwrap();
    let mut buf = [0u8; 16];
    let closed = matches!(std::io::Read::read(&mut raw, &mut buf), Ok(0) | Err(_));
    assert!(closed, "the server kept a raw PS connection open");
    // 2. The file as RTP payloads of the call, then (same connection, same sequence) a
    //    normal stream.
    let mut sender = call.sender();
    sender
        .send_ps_bytes(&ps, call.invite.ssrc, 1400, 100)
        .expect("send the mpeg file");
    let flv = live_probe(call.server(), "flv");
    sender
        .send_clip(&clip, &SendOptions::real_time(call.invite.ssrc))
        .expect("send the clip");
    std::thread::sleep(SECS / 2);
    let (mut gw, _) = call.finish();
    assert!(gw.server.is_running(), "{}", gw.server.log());

    // The normal stream plays (after whatever the file's GOP cache left in front of it).
    let p = flv.join().unwrap();
    assert!(p.success, "{p:?}");
    assert_eq!(p.codecs, ["aac", "h264"], "{p:?}");
    assert!(
        p.video_frames + 1 >= video,
        "{} of {video} frames: {p:?}",
        p.video_frames
    );
    assert!(!gw.server.log().contains("panicked"), "{}", gw.server.log());
}

/// An API invite leaves at once, not at the agent's next one-second tick (issue 17 item 13).
/// A bare UDP device registers (no password, no auto_invite), then three channels are invited
/// through the API one after another; each INVITE must reach the device well under the tick.
#[test]
fn api_invite_is_sent_at_once() {
    let config = format!(
        "[gb28181]\n\
         enabled = true\n\
         sip_listen = \"127.0.0.1:0\"\n\
         media_listen = \"127.0.0.1:0\"\n\
         server_id = \"{SERVER_ID}\"\n\
         domain = \"{DOMAIN}\"\n\
         auto_invite = false\n\
         transport = \"tcp_passive\"\n"
    );
    let server = Server::start(&config);
    assert!(server.wait_log("GB28181 SIP listening on", 10 * SECS));
    let log = server.log();
    let sip: SocketAddr = log
        .lines()
        .find_map(|l| l.split("GB28181 SIP listening on ").nth(1))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .expect("the SIP address");
    let device = UdpSocket::bind("127.0.0.1:0").unwrap();
    device.set_read_timeout(Some(SECS / 10)).unwrap();
    let me = device.local_addr().unwrap();
    let send = |method: &str, cseq: u32, extra: &str, body: &str| {
        let msg = format!(
            "{method} sip:{SERVER_ID}@{DOMAIN} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {me};rport;branch=z9hG4bK-{method}-{cseq}\r\n\
             From: <sip:{DEVICE}@{DOMAIN}>;tag=dev\r\n\
             To: <sip:{DEVICE}@{DOMAIN}>\r\n\
             Call-ID: api-invite-{cseq}\r\n\
             CSeq: {cseq} {method}\r\n\
             Contact: <sip:{DEVICE}@{me}>\r\n\
             Max-Forwards: 70\r\n{extra}\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        device.send_to(msg.as_bytes(), sip).unwrap();
    };
    let channels = [
        "34020000001320000011",
        "34020000001320000012",
        "34020000001320000013",
    ];
    let items: String = channels
        .iter()
        .map(|c| {
            format!("<Item>\r\n<DeviceID>{c}</DeviceID>\r\n<Status>ON</Status>\r\n</Item>\r\n")
        })
        .collect();
    send("REGISTER", 1, "Expires: 3600\r\n", "");
    server.wait_log(&format!("GB28181 device {DEVICE} registered"), 5 * SECS);
    let catalog = format!(
        "<?xml version=\"1.0\" encoding=\"GB2312\"?>\r\n<Response>\r\n<CmdType>Catalog</CmdType>\r\n\
         <SN>1</SN>\r\n<DeviceID>{DEVICE}</DeviceID>\r\n<SumNum>3</SumNum>\r\n\
         <DeviceList Num=\"3\">\r\n{items}</DeviceList>\r\n</Response>\r\n"
    );
    send(
        "MESSAGE",
        2,
        "Content-Type: Application/MANSCDP+xml\r\n",
        &catalog,
    );
    // Drain what the server sent so far (200s, Catalog and DeviceInfo queries).
    let mut buf = [0u8; 4096];
    let quiet = Instant::now() + SECS;
    while Instant::now() < quiet {
        let _ = device.recv_from(&mut buf);
    }
    let http = server.http_addr.expect("the HTTP API");
    for channel in channels {
        let started = Instant::now();
        let mut conn = TcpStream::connect(http).unwrap();
        write!(
            conn,
            "GET /api/v1/gb28181/devices/{DEVICE}/channels/{channel}/invite HTTP/1.1\r\n\
             Host: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let took = loop {
            assert!(
                started.elapsed() < 3 * SECS,
                "no INVITE for {channel}:\n{}",
                server.log()
            );
            if let Ok((n, _)) = device.recv_from(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]);
                if text.starts_with(&format!("INVITE sip:{channel}@")) {
                    break started.elapsed();
                }
            }
        };
        assert!(
            took < Duration::from_millis(300),
            "the INVITE for {channel} took {took:?} (the tick is 1 s)"
        );
    }
    assert!(!server.log().contains("panicked"), "{}", server.log());
}

/// Issue 17 item 6: a GB28181 stream's ingested bytes are counted as an RTMP publisher's are:
/// `/api/v1/streams` shows `recv_bytes` and, once two rate samples five seconds apart exist,
/// `kbps.recv_30s` above 0, and `/api/v1/clients` lists the camera as the publisher. Every RTP
/// packet is counted (the RFC 4571 length prefix over TCP is framing, like TCP's headers).
#[test]
fn api_counts_the_bytes_and_rate_a_camera_sends() {
    const SECONDS: u32 = 10;
    let dir = TempDir::new("gb-api-bytes");
    let clip = Clip::encode(&dir, Some(Codec::H264), Some(Codec::Aac), SECONDS);
    let call = Call::start(Media::TcpPassive, false);
    let mut sender = call.sender();
    let opts = SendOptions::real_time(call.invite.ssrc);
    // The sender comes back with the outcome: its media connection stays open until the
    // call ends (closing it would end the call at once).
    let sending = std::thread::spawn(move || {
        let sent = sender.send_clip(&clip, &opts);
        (sender, sent)
    });
    let http = call.server().http_addr.unwrap();
    let stream = || {
        let (status, v) = common::get_json(http, "/api/v1/streams");
        assert_eq!(status, 200, "{v}");
        v["streams"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == CHANNEL)
            .cloned()
    };
    // Two samples five seconds apart are needed for a rate: about 6 s into the call.
    let end = Instant::now() + Duration::from_secs(u64::from(SECONDS) - 1);
    let mut last = None;
    while Instant::now() < end {
        last = stream();
        if last
            .as_ref()
            .is_some_and(|s| s["kbps"]["recv_30s"].as_u64() > Some(0))
        {
            break;
        }
        std::thread::sleep(SECS / 2);
    }
    let s = last.unwrap_or_else(|| panic!("no stream {CHANNEL}:\n{}", call.server().log()));
    assert_eq!(s["publish"]["active"], true, "{s}");
    assert!(s["recv_bytes"].as_u64().unwrap() > 0, "{s}");
    // The clip is about 800 kbit/s of video and some audio.
    let kbps = s["kbps"]["recv_30s"].as_u64().unwrap();
    assert!((300..3000).contains(&kbps), "recv_30s {kbps}: {s}");
    let (_, v) = common::get_json(http, "/api/v1/clients");
    let camera = v["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["publish"] == true)
        .cloned()
        .unwrap_or_else(|| panic!("no publisher in {v}"));
    assert_eq!(camera["type"], "gb28181-publish", "{camera}");
    assert_eq!(camera["ip"], "127.0.0.1", "{camera}");
    assert_eq!(camera["id"], s["publish"]["cid"], "{camera} {s}");
    assert_eq!(camera["stream"], s["id"], "{camera} {s}");

    // All sent: every RTP packet is in recv_bytes.
    let (sender, sent) = sending.join().unwrap();
    let sent = sent.expect("sending media");
    std::thread::sleep(SECS / 2);
    let s = stream().expect("the stream while the call is up");
    assert_eq!(
        s["recv_bytes"].as_u64().unwrap(),
        (sent.bytes - 2 * sent.packets) as u64,
        "{sent:?} {s}"
    );
    let (gw, _) = call.finish();
    drop(sender);
    // The camera's record went with its call.
    let (_, v) = common::get_json(gw.server.http_addr.unwrap(), "/api/v1/clients");
    assert!(
        !v["clients"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["type"] == "gb28181-publish"),
        "{v}"
    );
}

/// The server with no password and `extra` keys in `[gb28181]`, and its SIP address.
fn bare_gateway(extra: &str) -> (Server, SocketAddr) {
    let config = format!(
        "[gb28181]\n\
         enabled = true\n\
         sip_listen = \"127.0.0.1:0\"\n\
         media_listen = \"127.0.0.1:0\"\n\
         server_id = \"{SERVER_ID}\"\n\
         domain = \"{DOMAIN}\"\n\
         {extra}"
    );
    let server = Server::start(&config);
    assert!(server.wait_log("GB28181 SIP listening on", 10 * SECS));
    let log = server.log();
    let sip: SocketAddr = log
        .lines()
        .find_map(|l| l.split("GB28181 SIP listening on ").nth(1))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .expect("the SIP address");
    (server, sip)
}

/// A bare GB28181 device speaking SIP over UDP, scripted step by step by the test (sipp's
/// scenarios cannot send media at a chosen moment or misbehave on cue): no password, one
/// channel ([`CHANNEL`]), every wait bounded.
struct BareDevice {
    socket: UdpSocket,
    sip: SocketAddr,
    me: SocketAddr,
    cseq: u32,
}

impl BareDevice {
    fn new(sip: SocketAddr) -> BareDevice {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_read_timeout(Some(SECS / 10)).unwrap();
        let me = socket.local_addr().unwrap();
        BareDevice {
            socket,
            sip,
            me,
            cseq: 0,
        }
    }

    /// A request out of any dialog from the device, with `extra` header lines (each ending
    /// in CRLF) before Content-Length.
    fn send(&mut self, method: &str, extra: &str, body: &str) {
        let msg = self.request(method, extra, body);
        self.send_raw(msg.as_bytes());
    }

    /// The text of the next request [`BareDevice::send`] would send (its CSeq is taken).
    fn request(&mut self, method: &str, extra: &str, body: &str) -> String {
        self.cseq += 1;
        let cseq = self.cseq;
        let me = self.me;
        format!(
            "{method} sip:{SERVER_ID}@{DOMAIN} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {me};rport;branch=z9hG4bK-{method}-{cseq}\r\n\
             From: <sip:{DEVICE}@{DOMAIN}>;tag=dev\r\n\
             To: <sip:{DEVICE}@{DOMAIN}>\r\n\
             Call-ID: bare-{method}-{cseq}\r\n\
             CSeq: {cseq} {method}\r\n\
             Contact: <sip:{DEVICE}@{me}>\r\n\
             Max-Forwards: 70\r\n{extra}\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    fn send_raw(&self, bytes: &[u8]) {
        self.socket.send_to(bytes, self.sip).unwrap();
    }

    fn send_message(&mut self, msg: &SipMessage) {
        self.send_raw(&msg.to_bytes());
    }

    /// REGISTER (Expires 3600) until the server's 200.
    fn register(&mut self, server: &Server) {
        self.send("REGISTER", "Expires: 3600\r\n", "");
        let cseq = self.cseq;
        self.wait(server, 5 * SECS, "the 200 to REGISTER", |m| {
            m.status() == Some(200) && m.cseq().map(|c| c.0) == Some(cseq)
        });
    }

    /// The catalog answer: one channel, [`CHANNEL`], ON.
    fn catalog(&mut self) {
        let catalog = format!(
            "<?xml version=\"1.0\" encoding=\"GB2312\"?>\r\n<Response>\r\n\
             <CmdType>Catalog</CmdType>\r\n<SN>1</SN>\r\n<DeviceID>{DEVICE}</DeviceID>\r\n\
             <SumNum>1</SumNum>\r\n<DeviceList Num=\"1\">\r\n<Item>\r\n\
             <DeviceID>{CHANNEL}</DeviceID>\r\n<Status>ON</Status>\r\n</Item>\r\n\
             </DeviceList>\r\n</Response>\r\n"
        );
        self.send(
            "MESSAGE",
            "Content-Type: Application/MANSCDP+xml\r\n",
            &catalog,
        );
    }

    /// The next message from the server that `want` takes, within `timeout` (others are
    /// skipped), or None.
    fn next(&self, timeout: Duration, want: impl Fn(&SipMessage) -> bool) -> Option<SipMessage> {
        let end = Instant::now() + timeout;
        let mut buf = vec![0u8; 65_536];
        while Instant::now() < end {
            if let Ok((n, _)) = self.socket.recv_from(&mut buf) {
                if let Ok(m) = tinysrs::wire::sip::decode_datagram(&buf[..n]) {
                    if want(&m) {
                        return Some(m);
                    }
                }
            }
        }
        None
    }

    /// [`BareDevice::next`], failing with the server's log when nothing comes.
    fn wait(
        &self,
        server: &Server,
        timeout: Duration,
        what: &str,
        want: impl Fn(&SipMessage) -> bool,
    ) -> SipMessage {
        self.next(timeout, want)
            .unwrap_or_else(|| panic!("no {what} from the server:\n{}", server.log()))
    }

    fn wait_request(&self, server: &Server, method: Method, timeout: Duration) -> SipMessage {
        let what = format!("{method}");
        self.wait(server, timeout, &what, |m| m.method() == Some(&method))
    }

    /// The 200 to our INVITE, with an SDP answer (same SSRC, media from 127.0.0.1).
    fn answer(&mut self, invite: &SipMessage) {
        let (port, ssrc) = offer_of(invite);
        let sdp = format!(
            "v=0\r\no={CHANNEL} 0 0 IN IP4 127.0.0.1\r\ns=Play\r\nc=IN IP4 127.0.0.1\r\n\
             t=0 0\r\nm=video {port} RTP/AVP 96\r\na=sendonly\r\na=rtpmap:96 PS/90000\r\n\
             y={ssrc:010}\r\n"
        );
        let ok = invite
            .response_to(200, "OK", Some("bare"))
            .with_body("APPLICATION/SDP", sdp.into_bytes());
        self.send_message(&ok);
    }

    /// A BYE from the device in the dialog of `invite` (answered with [`BareDevice::answer`]).
    fn bye(&mut self, invite: &SipMessage) {
        self.cseq += 1;
        let me = self.me;
        let from = invite.header("To").unwrap_or_default();
        let from = if from.contains("tag=") {
            from.to_string()
        } else {
            format!("{from};tag=bare")
        };
        let bye = SipMessage::request(Method::Bye, format!("sip:{SERVER_ID}@{}", self.sip))
            .with_header(
                "Via",
                format!("SIP/2.0/UDP {me};rport;branch=z9hG4bK-bye-{}", self.cseq),
            )
            .with_header("From", from)
            .with_header("To", invite.header("From").unwrap_or_default())
            .with_header("Call-ID", invite.call_id().unwrap_or_default())
            .with_header("CSeq", format!("{} BYE", self.cseq))
            .with_header("Max-Forwards", "70");
        self.send_message(&bye);
    }
}

fn keepalive_xml() -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"GB2312\"?>\r\n<Notify>\r\n\
         <CmdType>Keepalive</CmdType>\r\n<SN>7</SN>\r\n<DeviceID>{DEVICE}</DeviceID>\r\n\
         <Status>OK</Status>\r\n</Notify>\r\n"
    )
}

/// The media port and SSRC (`y=`) of our INVITE's offer.
fn offer_of(invite: &SipMessage) -> (u16, u32) {
    let text = std::str::from_utf8(&invite.body).expect("an SDP offer");
    let sdp = tinysrs::wire::sdp::Sdp::parse(text).expect("an SDP offer");
    (sdp.media[0].port, sdp.ssrc_value().expect("y="))
}

/// Issue 17 item 8 (srs-bench): a device that sends RTP over UDP the instant it answers our
/// INVITE, before its 200 has reached us, must find the port of our offer open: no ICMP port
/// unreachable (a device stops on `connection refused`, 2 runs in 10 saw it at seq 2) and
/// no frame lost.
#[test]
fn udp_media_sent_before_the_answer_arrives_is_all_received() {
    let dir = TempDir::new("gb-udp-early");
    let clip = Clip::encode(&dir, Some(Codec::H264), None, 2);
    let video = clip.count(Codec::H264);
    let rtp_port = free_port();
    let (server, sip) = bare_gateway(&format!(
        "transport = \"udp\"\nrtp_port_min = {rtp_port}\nrtp_port_max = {rtp_port}\n"
    ));
    let mut device = BareDevice::new(sip);
    device.register(&server);
    device.catalog();
    let invite = device.wait_request(&server, Method::Invite, 5 * SECS);
    let (port, ssrc) = offer_of(&invite);
    assert_eq!(port, rtp_port);
    let rtmp = rtmp_client(&server, 2 * SECS);
    // The first frames go out before the 200, as fast as the socket takes them; the rest in
    // real time after it.
    let mut sender = Sender::udp_connected(SocketAddr::from(([127, 0, 0, 1], port))).unwrap();
    let early = Clip {
        frames: clip.frames[..5].to_vec(),
    };
    let rest = Clip {
        frames: clip.frames[5..].to_vec(),
    };
    let fast = SendOptions {
        speed: 1000.0,
        ..SendOptions::real_time(ssrc)
    };
    let mut send = |clip: &Clip, opts: &SendOptions| {
        if let Err(e) = sender.send_clip(clip, opts) {
            panic!(
                "RTP to the offered port failed after {} packets: {e}\n{}",
                sender.stats.packets,
                server.log()
            );
        }
    };
    send(&early, &fast);
    device.answer(&invite);
    send(&rest, &SendOptions::real_time(ssrc));
    device.wait_request(&server, Method::Ack, SECS);
    std::thread::sleep(SECS / 2);
    device.bye(&invite);
    assert!(
        server.wait_log(
            &format!("GB28181 unpublish __defaultVhost__/live/{CHANNEL}"),
            5 * SECS
        ),
        "{}",
        server.log()
    );
    let tags = video_tags(&rtmp_join(rtmp, &server));
    let frames = tags.iter().filter(|t| t.2 == 1).count();
    assert!(
        frames + 1 >= video && frames <= video,
        "{frames} of {video} frames reached the stream:\n{}",
        server.log()
    );
    assert!(
        tags.iter().find(|t| t.2 == 1).is_some_and(|t| t.1),
        "the first frame is the first keyframe sent: {tags:?}"
    );
}

/// Issue 17 item 9 (srs-bench): after the device's BYE the channel is not invited again at
/// `media_timeout` (3 s here), as SRS does not; a new REGISTER from the device invites it.
#[test]
fn a_bye_from_the_device_is_not_followed_by_a_new_invite() {
    let (server, sip) = bare_gateway("transport = \"tcp_passive\"\nmedia_timeout = 3\n");
    let mut device = BareDevice::new(sip);
    device.register(&server);
    device.catalog();
    let invite = device.wait_request(&server, Method::Invite, 5 * SECS);
    device.answer(&invite);
    device.wait_request(&server, Method::Ack, SECS);
    device.bye(&invite);
    assert!(
        server.wait_log(
            &format!("GB28181 {DEVICE}/{CHANNEL}: BYE from the device"),
            2 * SECS
        ),
        "{}",
        server.log()
    );
    if let Some(again) = device.next(5 * SECS, |m| m.method() == Some(&Method::Invite)) {
        panic!(
            "invited again after the device's BYE: {again:?}\n{}",
            server.log()
        );
    }
    device.register(&server);
    let again = device.wait_request(&server, Method::Invite, 2 * SECS);
    assert_ne!(again.call_id(), invite.call_id());
}

/// Issue 17 item 10 (srs-bench): when the device closes its media TCP connection, the stream
/// is unpublished at once, not when `media_timeout` (15 s) runs out, and the call is hung up.
#[test]
fn a_closed_media_connection_unpublishes_at_once() {
    let dir = TempDir::new("gb-tcp-close");
    let clip = Clip::encode(&dir, Some(Codec::H264), None, 2);
    let (server, sip) = bare_gateway("transport = \"tcp_passive\"\n");
    let mut device = BareDevice::new(sip);
    device.register(&server);
    device.catalog();
    let invite = device.wait_request(&server, Method::Invite, 5 * SECS);
    let (port, ssrc) = offer_of(&invite);
    device.answer(&invite);
    device.wait_request(&server, Method::Ack, SECS);
    let mut sender = Sender::tcp_connect(SocketAddr::from(([127, 0, 0, 1], port))).unwrap();
    let opts = SendOptions {
        speed: 4.0,
        ..SendOptions::real_time(ssrc)
    };
    sender.send_clip(&clip, &opts).unwrap();
    assert!(
        server.wait_log(
            &format!("GB28181 publish __defaultVhost__/live/{CHANNEL}"),
            2 * SECS
        ),
        "{}",
        server.log()
    );
    drop(sender);
    assert!(
        server.wait_log(
            &format!("GB28181 unpublish __defaultVhost__/live/{CHANNEL}"),
            3 * SECS
        ),
        "still published 3 s after the media connection closed:\n{}",
        server.log()
    );
    let bye = device.wait_request(&server, Method::Bye, SECS);
    assert_eq!(bye.call_id(), invite.call_id());
}

/// Issue 17 item 11 (srs-bench): a device that stops its keepalives but goes on sending media
/// is declared offline after `keepalive_timeout` (10 s here); then its call gets a BYE and its
/// media connection is closed, instead of its media being dropped in silence.
#[test]
fn a_device_gone_silent_is_sent_bye_and_its_media_cut_off() {
    let dir = TempDir::new("gb-silent");
    let clip = Clip::encode(&dir, Some(Codec::H264), None, 16);
    let (server, sip) = bare_gateway("transport = \"tcp_passive\"\nkeepalive_timeout = 10\n");
    let mut device = BareDevice::new(sip);
    device.register(&server);
    device.catalog();
    let invite = device.wait_request(&server, Method::Invite, 5 * SECS);
    let (port, ssrc) = offer_of(&invite);
    device.answer(&invite);
    device.wait_request(&server, Method::Ack, SECS);
    let mut sender = Sender::tcp_connect(SocketAddr::from(([127, 0, 0, 1], port))).unwrap();
    // Media in real time, longer than the keepalive timeout; ends early if the server closes.
    let media = std::thread::spawn(move || {
        let sent = sender.send_clip(&clip, &SendOptions::real_time(ssrc));
        (sent.map(|_| ()), Instant::now())
    });
    let bye = device.wait_request(&server, Method::Bye, 15 * SECS);
    let bye_at = Instant::now();
    assert_eq!(bye.call_id(), invite.call_id());
    // The log comes through a pipe and a reader thread: the BYE can arrive before the line.
    assert!(
        server.wait_log(
            &format!("GB28181 device {DEVICE} offline (no keepalive)"),
            5 * SECS
        ),
        "{}",
        server.log()
    );
    let (sent, ended) = media.join().unwrap();
    assert!(
        sent.is_err(),
        "the server kept the media connection open: the whole clip went out\n{}",
        server.log()
    );
    assert!(
        ended.saturating_duration_since(bye_at) < 3 * SECS,
        "the media connection closed {:?} after the BYE",
        ended.saturating_duration_since(bye_at)
    );
    assert!(
        server.wait_log(
            &format!("GB28181 unpublish __defaultVhost__/live/{CHANNEL}"),
            5 * SECS
        ),
        "{}",
        server.log()
    );
}

/// Issue 17 item 12 (srs-bench): a device whose keepalives carry ever more `Via` headers
/// crosses the 8 KiB SIP head limit and, its keepalives dropped, goes offline. The limit
/// stays, but the reason is logged once at warn and counted per device (and in total) in the
/// API, so the operator sees why the camera went offline.
#[test]
fn refused_sip_messages_are_logged_once_and_counted_per_device() {
    let (server, sip) = bare_gateway("auto_invite = false\n");
    let mut device = BareDevice::new(sip);
    device.register(&server);
    let mut refused = 0;
    let mut answered = 0;
    // Keepalives with 5, 10, ... 80 more Via headers of about 190 bytes: a proxy loop piling
    // them up (srs-bench's device crossed 8 KiB after about 137 s).
    for n in (5..=80).step_by(5) {
        let vias: String = (0..n)
            .map(|i| {
                let branch = "x".repeat(150);
                format!("Via: SIP/2.0/UDP 10.0.0.{i}:5060;rport;branch=z9hG4bK{branch}\r\n")
            })
            .collect();
        let extra = format!("{vias}Content-Type: Application/MANSCDP+xml\r\n");
        let msg = device.request("MESSAGE", &extra, &keepalive_xml());
        let head = msg.find("\r\n\r\n").unwrap() + 4;
        device.send_raw(msg.as_bytes());
        let cseq = device.cseq;
        let ok = device.next(SECS / 2, |m| {
            m.status() == Some(200) && m.cseq().map(|c| c.0) == Some(cseq)
        });
        assert_eq!(ok.is_some(), head <= 8192, "a {head}-byte head");
        if ok.is_some() {
            answered += 1;
        } else {
            refused += 1;
        }
    }
    assert!(
        answered > 0 && refused > 2,
        "{answered} answered, {refused} refused"
    );
    let log = server.log();
    let warned: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("[WARN]") && l.contains("SIP message from"))
        .collect();
    assert_eq!(warned.len(), 1, "one warning, not one per message:\n{log}");
    assert!(
        warned[0].contains(&format!("GB28181 device {DEVICE}"))
            && warned[0].contains("message head longer than 8192 bytes"),
        "{}",
        warned[0]
    );
    let (status, _, body) = curl(&[&server.http_url("api/v1/gb28181/devices")]);
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["sip_refused"], refused, "{v}");
    let d = &v["devices"][0];
    assert_eq!(d["id"], DEVICE, "{v}");
    assert_eq!(d["sip_refused"], refused, "{v}");
    assert_eq!(
        d["sip_refused_reason"], "message head longer than 8192 bytes",
        "{v}"
    );
}

/// Issue 17 item 14: with `invite = "on_demand"` (and `on_demand_grace = 1`) a registered
/// camera gets no INVITE while nobody watches; ffprobe playing its stream over RTMP makes it
/// get one, waits for the media and decodes the video from a keyframe; a second after
/// ffprobe has gone, the camera gets a BYE and the stream is unpublished, and no INVITE
/// follows. Prints when the INVITE, the first frame and the BYE came.
#[test]
fn on_demand_invites_for_a_player_and_hangs_up_after_the_grace() {
    require("stdbuf");
    let dir = TempDir::new("gb-on-demand");
    let clip = Clip::encode(&dir, Some(Codec::H264), Some(Codec::Aac), 12);
    let (server, sip) =
        bare_gateway("transport = \"tcp_passive\"\ninvite = \"on_demand\"\non_demand_grace = 1\n");
    let mut device = BareDevice::new(sip);
    device.register(&server);
    device.catalog();
    if let Some(invite) = device.next(3 * SECS, |m| m.method() == Some(&Method::Invite)) {
        panic!("invited with nobody watching: {invite:?}\n{}", server.log());
    }
    let channel = on_demand_channel(&server);
    assert_eq!(channel["on_demand"], "unwatched", "{channel}");
    assert_eq!(channel["state"], "idle", "{channel}");

    // ffprobe plays 150 packets (about 2 s of video and audio) of the stream; stdbuf makes it
    // write each frame's line as it decodes it, so the test sees when the first one came.
    let started = Instant::now();
    let mut probe = std::process::Command::new("stdbuf");
    probe
        .args(["-oL", "ffprobe", "-v", "error", "-show_entries"])
        .args(["frame=media_type,key_frame,pict_type", "-of", "csv=p=1"])
        .args(["-read_intervals", "%+#150"])
        .arg(server.url(&format!("live/{CHANNEL}")))
        .stdout(Stdio::piped());
    let mut probe = Proc::spawn(&mut probe, &dir.path("ffprobe.err"));
    let stdout = probe.child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut first = None;
        let mut lines = Vec::new();
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if line.starts_with("frame,video") && first.is_none() {
                first = Some(Instant::now());
            }
            lines.push(line);
        }
        (first, lines)
    });

    let invite = device.wait_request(&server, Method::Invite, 5 * SECS);
    let invited_after = started.elapsed();
    // The hub's event reaches the agent at once, not at its next one-second tick. The log
    // comes through a pipe: the INVITE can reach the device before its line reaches us.
    assert!(
        server.wait_log("GB28181 INVITE", 5 * SECS),
        "{}",
        server.log()
    );
    let log = server.log();
    let played = log_time(&log, &format!("play __defaultVhost__/live/{CHANNEL}"));
    let invited = log_time(&log, "GB28181 INVITE");
    assert!(
        invited - played < 0.3,
        "the INVITE left {:.3} s after the play\n{log}",
        invited - played
    );
    let (port, ssrc) = offer_of(&invite);
    device.answer(&invite);
    device.wait_request(&server, Method::Ack, SECS);
    let mut sender = Sender::tcp_connect(SocketAddr::from(([127, 0, 0, 1], port))).unwrap();
    let media = std::thread::spawn(move || {
        // Ends early (a write error) once the server closes the media connection.
        let sent = sender.send_clip(&clip, &SendOptions::real_time(ssrc));
        (sent.is_ok(), Instant::now())
    });
    let channel = on_demand_channel(&server);
    assert_eq!(channel["on_demand"], "watched", "{channel}");

    let status = probe.wait(20 * SECS);
    let left = Instant::now();
    let (first, lines) = reader.join().unwrap();
    assert!(status.success(), "ffprobe: {}", probe.stderr());
    let video: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("frame,video"))
        .collect();
    assert!(
        video.len() >= 40,
        "{} video frames decoded:\n{lines:?}\n{}",
        video.len(),
        probe.stderr()
    );
    assert!(
        video[0].starts_with("frame,video,1,I"),
        "the first frame is a keyframe: {}",
        video[0]
    );
    assert!(
        !probe.stderr().contains("error"),
        "decode errors: {}",
        probe.stderr()
    );
    let first = first.expect("a video frame") - started;

    // The player has left: a BYE after the grace (1 s), within the agent's one-second tick.
    let bye = device.wait_request(&server, Method::Bye, 5 * SECS);
    let bye_after = left.elapsed();
    assert_eq!(bye.call_id(), invite.call_id());
    assert!(
        bye_after >= Duration::from_millis(800) && bye_after < Duration::from_millis(3_500),
        "BYE {bye_after:?} after the player left (grace 1 s)\n{}",
        server.log()
    );
    device.send_message(&bye.response_to(200, "OK", None));
    let (completed, media_ended) = media.join().unwrap();
    assert!(!completed, "the media connection stayed open after the BYE");
    assert!(media_ended.saturating_duration_since(left) < 5 * SECS);
    assert!(
        server.wait_log(
            &format!("GB28181 unpublish __defaultVhost__/live/{CHANNEL}"),
            2 * SECS
        ),
        "{}",
        server.log()
    );
    if let Some(again) = device.next(3 * SECS, |m| m.method() == Some(&Method::Invite)) {
        panic!(
            "invited again with nobody watching: {again:?}\n{}",
            server.log()
        );
    }
    let channel = on_demand_channel(&server);
    assert_eq!(channel["on_demand"], "unwatched", "{channel}");
    eprintln!(
        "on-demand: INVITE {} ms after ffprobe started, first video frame at ffprobe {} ms, \
         BYE {} ms after ffprobe left (grace 1 s)",
        invited_after.as_millis(),
        first.as_millis(),
        bye_after.as_millis()
    );
}

/// The time of day (seconds) of the first log line with `needle` (lines start with an RFC 3339
/// UTC timestamp).
fn log_time(log: &str, needle: &str) -> f64 {
    let line = log
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no {needle:?} in the log:\n{log}"));
    let time = line
        .split_whitespace()
        .next()
        .and_then(|t| t.split('T').nth(1))
        .map(|t| t.trim_end_matches('Z'))
        .unwrap_or_else(|| panic!("no timestamp in {line:?}"));
    let parts: Vec<f64> = time.split(':').filter_map(|p| p.parse().ok()).collect();
    assert_eq!(parts.len(), 3, "{line:?}");
    parts[0] * 3600.0 + parts[1] * 60.0 + parts[2]
}

/// The API's view of the test channel.
fn on_demand_channel(server: &Server) -> serde_json::Value {
    let (status, _, body) = curl(&[&server.http_url("api/v1/gb28181/devices")]);
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    v["devices"][0]["channels"][0].clone()
}

/// Issue 17 item 14: an HLS player is no session; its requests count as a viewer for three
/// target durations (3 × `hls_fragment`, 1 s here, before the first segment). A playlist
/// request of the on-demand channel invites it (the playlist is 404 until the first
/// segment); with no request after it, the BYE comes about 3 s + the grace (1 s) later.
#[test]
fn on_demand_counts_an_hls_request_as_a_viewer_for_a_while() {
    let (server, sip) = bare_gateway(
        "transport = \"tcp_passive\"\ninvite = \"on_demand\"\non_demand_grace = 1\n\
         [vhost.__defaultVhost__.hls]\nhls_fragment = 1\n",
    );
    let mut device = BareDevice::new(sip);
    device.register(&server);
    device.catalog();
    if let Some(invite) = device.next(2 * SECS, |m| m.method() == Some(&Method::Invite)) {
        panic!("invited with nobody watching: {invite:?}\n{}", server.log());
    }
    let requested = Instant::now();
    let (status, _, _) = curl(&[&server.http_url(&format!("live/{CHANNEL}.m3u8"))]);
    assert_eq!(status, 404, "no segment yet");
    let invite = device.wait_request(&server, Method::Invite, 2 * SECS);
    device.answer(&invite);
    device.wait_request(&server, Method::Ack, SECS);
    let bye = device.wait_request(&server, Method::Bye, 8 * SECS);
    let after = requested.elapsed();
    assert_eq!(bye.call_id(), invite.call_id());
    assert!(
        after >= Duration::from_millis(3_800) && after < Duration::from_millis(7_000),
        "BYE {after:?} after the only HLS request (3 s hold + 1 s grace)\n{}",
        server.log()
    );
}

/// The gateway with SIP over UDP, tcp_passive media and `on_publish`/`on_unpublish` hooks at
/// `path` of the hook server.
#[cfg(feature = "hooks")]
fn hooked_gateway(hooks: &common::hookserver::Hooks, path: &str) -> (Server, SocketAddr) {
    bare_gateway(&format!(
        "transport = \"tcp_passive\"\n\n\
         [vhost.__defaultVhost__.http_hooks]\nenabled = true\nhooks_timeout = 2\n\
         on_publish = \"{}\"\non_unpublish = \"{}\"\n",
        hooks.url(path),
        hooks.url("allow")
    ))
}

/// Issue 18: a camera call asks `on_publish` when it is answered, with SRS's fields (the
/// channel as the stream, `gb28181.app` as the app, the camera's address as `ip`); once
/// allowed, every frame sent reaches a player from the first keyframe, and `on_unpublish`
/// follows the device's BYE with the same client.
#[cfg(feature = "hooks")]
#[test]
fn on_publish_lets_an_allowed_call_through_and_on_unpublish_follows_it() {
    use common::hookserver::{assert_srs_fields, Hooks};
    let dir = TempDir::new("gb-hook-allow");
    let clip = Clip::encode(&dir, Some(Codec::H264), None, 2);
    let video = clip.count(Codec::H264);
    let hooks = Hooks::start(0, 10);
    let (server, sip) = hooked_gateway(&hooks, "allow");
    let mut device = BareDevice::new(sip);
    device.register(&server);
    device.catalog();
    let invite = device.wait_request(&server, Method::Invite, 5 * SECS);
    let (port, ssrc) = offer_of(&invite);
    device.answer(&invite);
    device.wait_request(&server, Method::Ack, SECS);
    assert!(
        server.wait_log("on_publish allowed", 3 * SECS),
        "{}",
        server.log()
    );
    let rtmp = rtmp_client(&server, 2 * SECS);
    let mut sender = Sender::tcp_connect(SocketAddr::from(([127, 0, 0, 1], port))).unwrap();
    let opts = SendOptions {
        speed: 4.0,
        ..SendOptions::real_time(ssrc)
    };
    sender.send_clip(&clip, &opts).unwrap();
    let tags = video_tags(&rtmp_join(rtmp, &server));
    let frames = tags.iter().filter(|t| t.2 == 1).count();
    assert!(
        frames + 1 >= video && frames <= video,
        "{frames} of {video} frames reached the player:\n{}",
        server.log()
    );
    device.bye(&invite);
    let unpublish = hooks.wait("on_unpublish", 1, 5 * SECS);
    assert_eq!(
        unpublish.len(),
        1,
        "{:?}\n{}",
        hooks.actions(),
        server.log()
    );
    let publish = hooks.wait("on_publish", 1, SECS);
    assert_eq!(publish.len(), 1, "{:?}", hooks.actions());
    for body in [&publish[0], &unpublish[0]] {
        assert_srs_fields(body);
        assert_eq!(body["vhost"], "__defaultVhost__", "{body}");
        assert_eq!(body["app"], "live", "{body}");
        assert_eq!(body["stream"], CHANNEL, "{body}");
        assert_eq!(body["ip"], "127.0.0.1", "{body}");
        assert_eq!(body["tcUrl"], "rtmp://127.0.0.1/live", "{body}");
        assert_eq!(body["param"], "", "{body}");
        assert_eq!(body["stream_url"], format!("/live/{CHANNEL}"), "{body}");
    }
    assert_eq!(publish[0]["client_id"], unpublish[0]["client_id"]);
    assert_eq!(publish[0]["client_id"].as_str().map(str::len), Some(8));
}

/// Issue 18: a call whose `on_publish` hook refuses gets our BYE; nothing is published
/// (its media is dropped unread meanwhile), the API's channel says why, no `on_unpublish`
/// is sent, and the channel is not invited again by itself.
#[cfg(feature = "hooks")]
#[test]
fn on_publish_refusal_hangs_up_the_call_and_the_api_says_why() {
    use common::hookserver::{assert_srs_fields, Hooks};
    let dir = TempDir::new("gb-hook-deny");
    let clip = Clip::encode(&dir, Some(Codec::H264), None, 1);
    let hooks = Hooks::start(0, 10);
    let (server, sip) = hooked_gateway(&hooks, "deny");
    let mut device = BareDevice::new(sip);
    device.register(&server);
    device.catalog();
    let invite = device.wait_request(&server, Method::Invite, 5 * SECS);
    let (port, ssrc) = offer_of(&invite);
    // Media from the moment of the answer, as a camera sends it: dropped while the hook
    // decides, then cut off with the call.
    let mut sender = Sender::tcp_connect(SocketAddr::from(([127, 0, 0, 1], port))).unwrap();
    device.answer(&invite);
    let _ = sender.send_clip(&clip, &SendOptions::real_time(ssrc));
    let bye = device.wait_request(&server, Method::Bye, 3 * SECS);
    assert_eq!(bye.call_id(), invite.call_id());
    let publish = hooks.wait("on_publish", 1, SECS);
    assert_eq!(publish.len(), 1, "{:?}", hooks.actions());
    assert_srs_fields(&publish[0]);
    assert_eq!(publish[0]["stream"], CHANNEL);
    let log = server.log();
    assert!(!log.contains("GB28181 publish "), "published:\n{log}");
    let (status, _, body) = curl(&[&server.http_url("api/v1/gb28181/devices")]);
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let channel = &v["devices"][0]["channels"][0];
    let refused = channel["refused"].as_str().unwrap_or_default();
    assert!(
        refused.starts_with("refused by the on_publish hook") && refused.ends_with("code 1"),
        "{channel}"
    );
    if let Some(again) = device.next(3 * SECS, |m| m.method() == Some(&Method::Invite)) {
        panic!("invited again after a refusal: {again:?}\n{}", server.log());
    }
    assert!(
        !hooks.actions().iter().any(|a| a == "on_unpublish"),
        "{:?}",
        hooks.actions()
    );
}
