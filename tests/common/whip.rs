//! A WHIP publisher that is not ours: the `str0m` crate in its *sample* mode (str0m packetizes,
//! with its own H.265 packetizer, not the server's depacketizer's counterpart), over a UDP
//! socket of 127.0.0.1 ([`super::peer`]), the offer posted with curl. It runs in the test's
//! thread until its frames are sent or its deadline passes: every wait is bounded.

use std::time::{Duration, Instant};

use str0m::media::{Direction, Frequency, MediaTime};
use str0m::{Event, IceConnectionState, Rtc};

use super::peer::Peer;
use super::Server;

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
    peer: Peer,
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
        let config = Rtc::builder().clear_codecs().enable_h265(true);
        let path = format!("rtc/v1/whip/?app={app}&stream={stream}");
        let peer = Peer::offer(server, &path, config, Direction::SendOnly)?;
        Ok(Publisher {
            location: peer.location.clone(),
            peer,
            connected: false,
            written: 0,
        })
    }

    /// Runs the session: once connected, `frames` (Annex B access units) one every
    /// `interval`, at 90 kHz times `interval` apart (following on from the last call's), then
    /// [`LINGER`] more for the last packets; gives up after `within`.
    pub fn publish(&mut self, frames: &[Vec<u8>], interval: Duration, within: Duration) -> Sent {
        let end = Instant::now() + within;
        let mut sent = Sent::default();
        let mut next_frame = Instant::now();
        let ticks = interval.as_micros() as u64 * 90 / 1000;
        let mut linger_until = None;
        let mut gone = false;
        while !gone && Instant::now() < end && self.peer.rtc.is_alive() {
            if sent.frames == frames.len() {
                let until = *linger_until.get_or_insert(Instant::now() + LINGER);
                if Instant::now() >= until {
                    break;
                }
            }
            let now = Instant::now();
            if self.connected && now >= next_frame && sent.frames < frames.len() {
                let writer = self
                    .peer
                    .rtc
                    .writer(self.peer.mid)
                    .expect("the video m-line's writer");
                let pt = writer.payload_params().next().expect("a payload type").pt();
                let time = MediaTime::new(self.written * ticks, Frequency::NINETY_KHZ);
                writer
                    .write(pt, now, time, frames[sent.frames].clone())
                    .expect("str0m takes the frame");
                sent.frames += 1;
                self.written += 1;
                next_frame += interval;
            }
            let wake = self.connected.then_some(next_frame);
            let mut connected = false;
            self.peer.step(wake, |e| match e {
                Event::Connected => connected = true,
                Event::KeyframeRequest(_) => sent.keyframe_requests += 1,
                Event::IceConnectionStateChange(IceConnectionState::Disconnected) => gone = true,
                _ => {}
            });
            if connected {
                self.connected = true;
                next_frame = Instant::now();
            }
        }
        sent
    }
}

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
    let nals: Vec<&[u8]> = tinysrs::wire::codec::annexb::split(&data).collect();
    super::hevc::access_units(&nals)
        .into_iter()
        .map(|au| {
            au.iter()
                .flat_map(|nal| [&[0, 0, 0, 1][..], nal].concat())
                .collect()
        })
        .collect()
}
