//! A WHIP publisher that is not ours: the `str0m` crate in its *sample* mode (str0m packetizes,
//! with its own H.265 packetizer, not the server's depacketizer's counterpart), over a UDP
//! socket of 127.0.0.1, the offer posted with curl. It runs in the test's thread until its
//! frames are sent or its deadline passes: every wait is bounded.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use str0m::change::SdpAnswer;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};

use super::{curl, Server};

/// How long the session goes on after the last frame (its packets, NACKed retransmissions).
const LINGER: Duration = Duration::from_millis(300);

/// What the publisher did.
#[derive(Debug, Default)]
pub struct Sent {
    /// Frames handed to str0m after the connection came up.
    pub frames: usize,
    /// Keyframe requests (PLI, FIR) the server sent.
    pub keyframe_requests: usize,
}

/// A WHIP session publishing `app/stream` of `server`: one sendonly video m-line offering H.265
/// alone.
pub struct Publisher {
    rtc: Rtc,
    sock: UdpSocket,
    mid: Mid,
    connected: bool,
    /// Frames written so far (their 90 kHz times follow on across calls of `publish`).
    written: u64,
    /// The session's resource (`Location`).
    pub location: String,
}

impl Publisher {
    /// Offers, and takes the answer; the HTTP status and body if the server does not answer
    /// 201.
    pub fn offer(server: &Server, app: &str, stream: &str) -> Result<Publisher, (u16, String)> {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let local = sock.local_addr().unwrap();
        let cert = tinysrs::server::rtc::dtls_cert(&[0x24; 32], &[0x12; 16]).unwrap();
        let mut rtc = Rtc::builder()
            .clear_codecs()
            .enable_h265(true)
            .set_dtls_cert(cert)
            .set_crypto_provider(tinysrs::server::rtc::crypto::provider())
            .build(Instant::now());
        rtc.add_local_candidate(Candidate::host(local, "udp").unwrap());
        let mut api = rtc.sdp_api();
        let mid = api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
        let (offer, pending) = api.apply().expect("an offer");
        let path = server.dir.path(&format!("whip-offer-{}.sdp", local.port()));
        std::fs::write(&path, offer.to_sdp_string()).unwrap();
        let url = server.http_url(&format!("rtc/v1/whip/?app={app}&stream={stream}"));
        let data = format!("@{}", path.display());
        let (status, head, body) = curl(&[
            "-X",
            "POST",
            "-H",
            "Content-Type: application/sdp",
            "--data-binary",
            &data,
            &url,
        ]);
        let body = String::from_utf8_lossy(&body).to_string();
        if status != 201 {
            return Err((status, body));
        }
        let answer =
            SdpAnswer::from_sdp_string(&body).map_err(|e| (status, format!("{e}: {body}")))?;
        rtc.sdp_api()
            .accept_answer(pending, answer)
            .map_err(|e| (status, format!("{e}: {body}")))?;
        let location = head
            .lines()
            .find_map(|l| l.strip_prefix("Location: "))
            .unwrap_or_default()
            .trim()
            .to_string();
        Ok(Publisher {
            rtc,
            sock,
            mid,
            connected: false,
            written: 0,
            location,
        })
    }

    /// Runs the session: once connected, `frames` (Annex B access units) one every
    /// `interval`, at 90 kHz times `interval` apart (following on from the last call's), then
    /// [`LINGER`] more for the last packets; gives up after `within`.
    pub fn publish(&mut self, frames: &[Vec<u8>], interval: Duration, within: Duration) -> Sent {
        let end = Instant::now() + within;
        let local = self.sock.local_addr().unwrap();
        let mut sent = Sent::default();
        let mut buf = vec![0; 2048];
        let mut next_frame = Instant::now();
        let ticks = interval.as_micros() as u64 * 90 / 1000;
        let mut linger_until = None;
        while Instant::now() < end && self.rtc.is_alive() {
            if sent.frames == frames.len() {
                let until = *linger_until.get_or_insert(Instant::now() + LINGER);
                if Instant::now() >= until {
                    break;
                }
            }
            let deadline = loop {
                match self.rtc.poll_output() {
                    Ok(Output::Timeout(t)) => break t,
                    Ok(Output::Transmit(t)) => {
                        let _ = self.sock.send_to(&t.contents, t.destination);
                    }
                    Ok(Output::Event(Event::Connected)) => {
                        self.connected = true;
                        next_frame = Instant::now();
                    }
                    Ok(Output::Event(Event::KeyframeRequest(_))) => sent.keyframe_requests += 1,
                    Ok(Output::Event(Event::IceConnectionStateChange(
                        IceConnectionState::Disconnected,
                    ))) => return sent,
                    Ok(Output::Event(_)) => {}
                    Err(e) => panic!("str0m: {e}"),
                }
            };
            let now = Instant::now();
            if self.connected && now >= next_frame && sent.frames < frames.len() {
                let writer = self
                    .rtc
                    .writer(self.mid)
                    .expect("the video m-line's writer");
                let pt = writer.payload_params().next().expect("a payload type").pt();
                let time = MediaTime::new(self.written * ticks, Frequency::NINETY_KHZ);
                writer
                    .write(pt, now, time, frames[sent.frames].clone())
                    .expect("str0m takes the frame");
                sent.frames += 1;
                self.written += 1;
                next_frame += interval;
                continue;
            }
            let wake = if self.connected {
                deadline.min(next_frame)
            } else {
                deadline
            };
            if wake > now {
                self.sock
                    .set_read_timeout(Some((wake - now).min(Duration::from_millis(20))))
                    .unwrap();
                if let Ok((n, from)) = self.sock.recv_from(&mut buf) {
                    if let Ok(contents) = buf[..n].try_into() {
                        let input = Input::Receive(
                            Instant::now(),
                            Receive {
                                proto: Protocol::Udp,
                                source: from,
                                destination: local,
                                contents,
                            },
                        );
                        self.rtc
                            .handle_input(input)
                            .expect("str0m takes the datagram");
                        continue;
                    }
                }
            }
            self.rtc
                .handle_input(Input::Timeout(Instant::now()))
                .expect("str0m's timeout");
        }
        sent
    }
}

/// HEVC NAL unit types (ITU-T H.265 Table 7-1): the last VCL type, VPS..AUD, prefix SEI.
const NAL_VCL_MAX: u8 = 31;
const NAL_VPS: u8 = 32;
const NAL_AUD: u8 = 35;
const NAL_PREFIX_SEI: u8 = 39;

/// An HEVC clip as ffmpeg/x265 makes it (160x120 test pattern at 25 fps, `keyint`, no
/// B-frames, VPS/SPS/PPS before every keyframe as a WebRTC encoder sends them), cut into
/// access units in Annex B (4-byte start codes).
pub fn hevc_clip(dir: &super::TempDir, frames: usize, keyint: usize) -> Vec<Vec<u8>> {
    super::require("ffmpeg");
    let path = dir.path("whip-clip.hevc");
    let mut ffmpeg = super::Proc::spawn(
        std::process::Command::new("ffmpeg")
            .args(["-hide_banner", "-nostats", "-loglevel", "error"])
            .args(["-f", "lavfi", "-i", "testsrc=size=160x120:rate=25"])
            .arg("-frames:v")
            .arg(frames.to_string())
            .args(["-pix_fmt", "yuv420p", "-c:v", "libx265", "-x265-params"])
            .arg(format!(
                "keyint={keyint}:bframes=0:repeat-headers=1:log-level=error"
            ))
            .args(["-f", "hevc", "-y"])
            .arg(&path)
            .stdout(std::process::Stdio::null()),
        &dir.path("whip-x265.err"),
    );
    let status = ffmpeg.wait(Duration::from_secs(60));
    assert!(status.success(), "ffmpeg x265: {}", ffmpeg.stderr());
    let data = std::fs::read(&path).unwrap();
    let nal_type = |nal: &[u8]| (nal[0] >> 1) & 0x3f;
    // H.265 §7.4.2.4.4: a unit starts at a VCL NAL with first_slice_segment_in_pic_flag, or
    // at an AUD, parameter set or prefix SEI before one, once the current unit has a picture.
    let mut units = Vec::new();
    let mut current = Vec::new();
    let mut has_picture = false;
    for nal in tinysrs::wire::codec::annexb::split(&data).filter(|n| n.len() > 2) {
        let t = nal_type(nal);
        let starts_unit = if t <= NAL_VCL_MAX {
            nal[2] & 0x80 != 0
        } else {
            matches!(t, NAL_VPS..=NAL_AUD | NAL_PREFIX_SEI)
        };
        if starts_unit && has_picture {
            units.push(std::mem::take(&mut current));
            has_picture = false;
        }
        has_picture |= t <= NAL_VCL_MAX;
        current.extend_from_slice(&[0, 0, 0, 1]);
        current.extend_from_slice(nal);
    }
    if has_picture {
        units.push(current);
    }
    units
}
