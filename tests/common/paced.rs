//! A synthetic publisher paced in real time and a player that keeps arrival times: the two ends
//! of the tests that measure frame gaps and losses (tests/fault.rs, tests/slow_disk.rs).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tinysrs::wire::flv;

use super::client::{Client, MediaKind, Received};
use super::frames::{avc_frame, avc_header};

/// 25 frames a second.
pub const FRAME_MS: u32 = 40;

/// A synthetic publisher in its own thread: the sequence header, then frame `n` (a keyframe
/// every `gop_frames`) at timestamp `n * FRAME_MS`, paced in real time, until `finish`; the
/// instant each frame left is recorded.
pub struct Paced {
    stop: Arc<AtomicBool>,
    sent: Arc<Mutex<Vec<Instant>>>,
    thread: JoinHandle<u32>,
}

impl Paced {
    pub fn start(mut client: Client, frame_len: usize, gop_frames: u32) -> Paced {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(Mutex::new(Vec::new()));
        let (flag, times) = (stop.clone(), sent.clone());
        let thread = std::thread::spawn(move || {
            client.send_video(0, &avc_header(1)).unwrap();
            let start = Instant::now();
            let mut n = 0u32;
            while !flag.load(Ordering::Relaxed) {
                let body = avc_frame(n % gop_frames == 0, 1, n, frame_len);
                client.send_video(n * FRAME_MS, &body).unwrap();
                times.lock().unwrap().push(Instant::now());
                n += 1;
                let due = start + Duration::from_millis(u64::from(n * FRAME_MS));
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
            }
            n
            // The client drops here: the server unpublishes.
        });
        Paced { stop, sent, thread }
    }

    /// Stops, returns the frames sent and their send instants.
    pub fn finish(self) -> (u32, Vec<Instant>) {
        self.stop.store(true, Ordering::Relaxed);
        let n = self.thread.join().unwrap();
        let sent = self.sent.lock().unwrap().clone();
        (n, sent)
    }
}

/// What a synthetic player received until the publisher left, once it had come: (frame
/// number, arrival) of every video frame but the sequence header (timestamps are kept:
/// `time_jitter = "off"`).
pub fn read_until_unpublish(
    client: &mut Client,
    timeout: Duration,
) -> Result<Vec<(u32, Instant)>, String> {
    let end = Instant::now() + timeout;
    let mut got = Vec::new();
    loop {
        match client.recv_timeout(end.saturating_duration_since(Instant::now())) {
            Ok(Received::Media {
                kind: MediaKind::Video,
                timestamp,
                payload,
            }) => {
                let at = Instant::now();
                let tag = flv::parse_video(&payload).map_err(|e| format!("{e:?}"))?;
                if !tag.sequence_header {
                    got.push((timestamp / FRAME_MS, at));
                }
            }
            // A player that joins before the publisher is told it is unpublished at once.
            Ok(Received::Status { code })
                if code == "NetStream.Play.UnpublishNotify" && !got.is_empty() =>
            {
                return Ok(got)
            }
            Ok(_) => {}
            Err(e) => return Err(format!("after {} frames: {e}", got.len())),
        }
    }
}
