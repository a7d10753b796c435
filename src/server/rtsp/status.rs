//! What `/api/v1/ingests` shows of each `[[ingest]]`, and the restart it asks for. The driver
//! (`net::rtsp`) writes each ingest's state here as it goes; the API reads it. No I/O and no
//! clock: times are the server clock's, passed in.
//!
//! States and transitions (one [`IngestStatus`] per `[[ingest]]`, for the life of the process):
//! `Idle` (on demand, nobody watches) --a viewer--> `Connecting` --PLAY accepted--> `Playing`;
//! `Connecting` or `Playing` --an error--> `Backoff` --its wait, or a restart--> `Connecting`;
//! `Playing` --the last viewer left, plus the grace--> `Idle`. A restart asked by the API
//! drops the connection or the wait and goes to `Connecting` at once (an idle ingest stays
//! idle: there is nothing to restart).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use crate::config::{Config, Ingest, IngestMode};
use crate::live::StreamKey;

/// Longest error text kept for the API (the camera's status line, an OS error). Why: a
/// camera's reason phrase can be up to a request line long (2 KiB); 256 bytes say what failed.
pub const MAX_ERROR_LEN: usize = 256;

/// Where an ingest is; see the module documentation for the transitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestState {
    /// Connecting, or asking for the stream (OPTIONS .. PLAY).
    Connecting,
    /// The camera plays into the hub.
    Playing,
    /// The last attempt failed; the next one is due at `retry_at_ms`.
    Backoff,
    /// On demand and nobody watches: no connection.
    Idle,
}

impl IngestState {
    pub fn as_str(self) -> &'static str {
        match self {
            IngestState::Connecting => "connecting",
            IngestState::Playing => "playing",
            IngestState::Backoff => "backoff",
            IngestState::Idle => "idle",
        }
    }
}

/// One ingest's status. RAM: about 200 bytes plus its URL and names, and
/// [`MAX_ERROR_LEN`] for the last error.
#[derive(Debug)]
pub struct IngestStatus {
    /// Its place among the `[[ingest]]` entries.
    pub index: usize,
    /// `vid-` and 7 base-36 digits of a hash of its vhost and stream: stable across restarts.
    pub id: String,
    /// The URL with its password masked.
    pub url: String,
    pub key: StreamKey,
    pub mode: IngestMode,
    state: Cell<IngestState>,
    since_ms: Cell<u64>,
    last_error: RefCell<Option<String>>,
    retry_at_ms: Cell<u64>,
    recv_bytes: Cell<u64>,
    attempts: Cell<u64>,
    video: Cell<Option<&'static str>>,
    audio: Cell<Option<&'static str>>,
    transport: Cell<Option<&'static str>>,
    restart: Cell<bool>,
}

/// A snapshot of an [`IngestStatus`] for the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestView {
    pub state: IngestState,
    pub since_ms: u64,
    pub last_error: Option<String>,
    /// In backoff: ms until the next attempt.
    pub retry_in_ms: Option<u64>,
    pub recv_bytes: u64,
    /// Connection attempts after the first.
    pub reconnects: u64,
    pub video: Option<&'static str>,
    pub audio: Option<&'static str>,
    /// How the media comes while playing: `tcp` or `udp`.
    pub transport: Option<&'static str>,
}

impl IngestStatus {
    pub fn new(index: usize, config: &Config, ingest: &Ingest, now_ms: u64) -> IngestStatus {
        let key = super::stream_key(config, ingest);
        let mut text = Vec::with_capacity(key.vhost.len() + ingest.stream.len() + 2);
        // A leading byte keeps ingest ids apart from stream and vhost ids of the same text.
        text.push(b'I');
        text.extend_from_slice(key.vhost.as_bytes());
        text.push(b'/');
        text.extend_from_slice(ingest.stream.as_bytes());
        IngestStatus {
            index,
            id: format!("vid-{}", base36(fnv1a(&text), 7)),
            url: ingest.url_for_log(),
            key,
            mode: ingest.mode,
            state: Cell::new(match ingest.mode {
                IngestMode::Always => IngestState::Connecting,
                IngestMode::OnDemand => IngestState::Idle,
            }),
            since_ms: Cell::new(now_ms),
            last_error: RefCell::new(None),
            retry_at_ms: Cell::new(0),
            recv_bytes: Cell::new(0),
            attempts: Cell::new(0),
            video: Cell::new(None),
            audio: Cell::new(None),
            transport: Cell::new(None),
            restart: Cell::new(false),
        }
    }

    fn enter(&self, state: IngestState, now_ms: u64) {
        if self.state.get() != state {
            self.state.set(state);
            self.since_ms.set(now_ms);
        }
    }

    /// A connection attempt starts.
    pub fn connecting(&self, now_ms: u64) {
        self.attempts.set(self.attempts.get() + 1);
        self.video.set(None);
        self.audio.set(None);
        self.transport.set(None);
        self.enter(IngestState::Connecting, now_ms);
    }

    /// The camera plays `codecs` (the session's track names: H264, H265, AAC, PCMA, PCMU,
    /// Opus).
    pub fn playing(&self, now_ms: u64, codecs: impl IntoIterator<Item = &'static str>) {
        for codec in codecs {
            if matches!(codec, "H264" | "H265") {
                self.video.set(Some(codec));
            } else {
                self.audio.set(Some(codec));
            }
        }
        self.enter(IngestState::Playing, now_ms);
    }

    /// How the media comes: `tcp` (interleaved) or `udp`.
    /// Where the ingest is now.
    pub fn state(&self) -> IngestState {
        self.state.get()
    }

    pub fn set_transport(&self, transport: &'static str) {
        self.transport.set(Some(transport));
    }

    /// The attempt failed with `error`; the next is due at `retry_at_ms`.
    pub fn backoff(&self, now_ms: u64, error: &str, retry_at_ms: u64) {
        let mut end = error.len().min(MAX_ERROR_LEN);
        while !error.is_char_boundary(end) {
            end -= 1;
        }
        *self.last_error.borrow_mut() = Some(error[..end].to_owned());
        self.retry_at_ms.set(retry_at_ms);
        self.enter(IngestState::Backoff, now_ms);
    }

    /// On demand, nobody watches: no connection.
    pub fn idle(&self, now_ms: u64) {
        self.enter(IngestState::Idle, now_ms);
    }

    /// Bytes from the camera.
    pub fn received(&self, bytes: usize) {
        self.recv_bytes
            .set(self.recv_bytes.get().saturating_add(bytes as u64));
    }

    /// The API asked for a restart; the driver takes it with [`IngestStatus::take_restart`].
    pub fn request_restart(&self) {
        self.restart.set(true);
    }

    /// Whether a restart was asked for since the last call.
    pub fn take_restart(&self) -> bool {
        self.restart.replace(false)
    }

    pub fn view(&self, now_ms: u64) -> IngestView {
        let state = self.state.get();
        IngestView {
            state,
            since_ms: self.since_ms.get(),
            last_error: self.last_error.borrow().clone(),
            retry_in_ms: (state == IngestState::Backoff)
                .then(|| self.retry_at_ms.get().saturating_sub(now_ms)),
            recv_bytes: self.recv_bytes.get(),
            reconnects: self.attempts.get().saturating_sub(1),
            video: self.video.get(),
            audio: self.audio.get(),
            transport: self.transport.get(),
        }
    }
}

/// Wakes the driver of the ingest at an index (set by `net::rtsp` at start).
pub type Waker = Rc<dyn Fn(usize)>;

/// Every ingest's status, in `[[ingest]]` order; shared by the drivers and the API.
#[derive(Default)]
pub struct IngestTable {
    entries: RefCell<Vec<Rc<IngestStatus>>>,
    waker: RefCell<Option<Waker>>,
}

impl IngestTable {
    /// Adds the status of the next ingest.
    pub fn push(&self, status: Rc<IngestStatus>) {
        self.entries.borrow_mut().push(status);
    }

    /// How to wake an ingest's driver when the API restarts it.
    pub fn set_waker(&self, waker: Waker) {
        *self.waker.borrow_mut() = Some(waker);
    }

    pub fn all(&self) -> Vec<Rc<IngestStatus>> {
        self.entries.borrow().clone()
    }

    pub fn find(&self, id: &str) -> Option<Rc<IngestStatus>> {
        self.entries.borrow().iter().find(|s| s.id == id).cloned()
    }

    /// Asks the ingest `status` to drop its connection or its wait and connect now.
    pub fn restart(&self, status: &IngestStatus) {
        status.request_restart();
        let waker = self.waker.borrow().clone();
        if let Some(wake) = waker {
            wake(status.index);
        }
    }
}

/// FNV-1a, 64 bits (as the API's other ids).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// `digits` base-36 digits of `v`, least significant first (as the API's other ids).
fn base36(mut v: u64, digits: usize) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    (0..digits)
        .map(|_| {
            let d = DIGITS[(v % 36) as usize];
            v /= 36;
            char::from(d)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(mode: &str) -> IngestStatus {
        let text = format!(
            "[[ingest]]\nurl = \"rtsp://admin:pw@10.0.0.2/s\"\nstream = \"live/cam\"\n\
             mode = \"{mode}\"\n"
        );
        let config = Config::from_toml_str(&text, "t").unwrap();
        IngestStatus::new(0, &config, &config.ingests[0], 5)
    }

    #[test]
    fn states_follow_the_driver_and_count_reconnects() {
        let s = status("always");
        assert_eq!(s.url, "rtsp://admin:***@10.0.0.2/s");
        assert!(s.id.starts_with("vid-") && s.id.len() == 11, "{}", s.id);
        assert_eq!(s.view(5).state, IngestState::Connecting);
        s.connecting(10);
        s.playing(20, ["H264", "AAC"]);
        s.received(1000);
        let v = s.view(30);
        assert_eq!(
            (
                v.state,
                v.since_ms,
                v.video,
                v.audio,
                v.recv_bytes,
                v.reconnects
            ),
            (IngestState::Playing, 20, Some("H264"), Some("AAC"), 1000, 0)
        );
        s.backoff(40, &"x".repeat(1000), 1040);
        let v = s.view(540);
        assert_eq!((v.state, v.retry_in_ms), (IngestState::Backoff, Some(500)));
        assert_eq!(v.last_error.unwrap().len(), MAX_ERROR_LEN);
        s.connecting(1040);
        let v = s.view(1040);
        assert_eq!(
            (v.state, v.reconnects, v.retry_in_ms),
            (IngestState::Connecting, 1, None)
        );
        assert_eq!((v.video, v.audio), (None, None));
        assert_eq!(v.recv_bytes, 1000, "bytes count over connections");
    }

    #[test]
    fn an_on_demand_ingest_starts_idle() {
        let s = status("on_demand");
        assert_eq!(s.view(0).state, IngestState::Idle);
    }

    #[test]
    fn a_restart_wakes_the_driver_once() {
        let table = IngestTable::default();
        let s = Rc::new(status("always"));
        table.push(s.clone());
        let woken = Rc::new(Cell::new(None));
        let w = woken.clone();
        table.set_waker(Rc::new(move |i| w.set(Some(i))));
        let found = table.find(&s.id).unwrap();
        assert!(table.find("vid-nope").is_none());
        table.restart(&found);
        assert_eq!(woken.get(), Some(0));
        assert!(s.take_restart());
        assert!(!s.take_restart());
    }
}
