//! Who is connected and how much they move: the registry the HTTP API reads (SRS's
//! `/api/v1/clients`, `/streams`, `/summaries`) and the kick switch `DELETE /clients/{id}` flips.
//!
//! Counters are plain `Cell<u64>`s (one thread; no 64-bit atomics on MIPS32). Rates over 30 s
//! come from a few samples taken by the driver's one-second sweep.
//! RAM: about 300 bytes per client plus its names.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::live::{ClientId, StreamKey};
use crate::sorted_map::SortedMap;

/// What a client does, with SRS's names for the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    /// Connected, not yet publishing or playing.
    Unknown,
    RtmpPublish,
    RtmpPlay,
    FlvPlay,
    TsPlay,
    HlsPlay,
    /// A GB28181 camera channel publishing (ours: SRS relays such a stream through RTMP to
    /// itself and lists that `fmle-publish` client).
    GbPublish,
    /// An RTSP camera pulled by an `[[ingest]]` (ours: SRS's ffmpeg ingest is an
    /// `fmle-publish` client).
    RtspIngest,
    /// A player of the RTSP server (ours: SRS has no RTSP server).
    RtspPlay,
    /// A publisher to the RTSP server (ANNOUNCE + RECORD; ours).
    RtspPublish,
    /// A WebRTC (WHEP) player, SRS's `rtc-play`.
    RtcPlay,
    /// A WebRTC (WHIP) publisher, SRS's `rtc-publish`.
    RtcPublish,
    Api,
}

impl ClientKind {
    /// SRS's `type` string.
    pub fn srs_name(self) -> &'static str {
        match self {
            ClientKind::Unknown => "unknown",
            ClientKind::RtmpPublish => "fmle-publish",
            ClientKind::RtmpPlay => "rtmp-play",
            ClientKind::FlvPlay => "flv-play",
            ClientKind::TsPlay => "ts-play",
            ClientKind::HlsPlay => "hls-play",
            ClientKind::GbPublish => "gb28181-publish",
            ClientKind::RtspIngest => "rtsp-ingest",
            ClientKind::RtspPlay => "rtsp-play",
            ClientKind::RtspPublish => "rtsp-publish",
            ClientKind::RtcPlay => "rtc-play",
            ClientKind::RtcPublish => "rtc-publish",
            ClientKind::Api => "api",
        }
    }

    pub fn is_publish(self) -> bool {
        matches!(
            self,
            ClientKind::RtmpPublish
                | ClientKind::GbPublish
                | ClientKind::RtspIngest
                | ClientKind::RtspPublish
                | ClientKind::RtcPublish
        )
    }
}

/// Samples kept for rates: one every `SAMPLE_MS`, covering `RATE_WINDOW_MS`.
pub const SAMPLE_MS: u64 = 5_000;
pub const RATE_WINDOW_MS: u64 = 30_000;
const SAMPLES: usize = (RATE_WINDOW_MS / SAMPLE_MS) as usize + 1;

/// A byte counter with its rate over the last 30 s.
#[derive(Debug, Default)]
pub struct ByteCounter {
    total: Cell<u64>,
    /// (time ms, total) samples, oldest first.
    samples: RefCell<heapless::Deque<(u64, u64), SAMPLES>>,
}

impl ByteCounter {
    pub fn add(&self, n: u64) {
        self.total.set(self.total.get().wrapping_add(n));
    }

    pub fn total(&self) -> u64 {
        self.total.get()
    }

    /// Records a sample if `SAMPLE_MS` passed since the last one.
    pub fn sample(&self, now_ms: u64) {
        let mut s = self.samples.borrow_mut();
        if let Some(&(t, _)) = s.back() {
            if now_ms.saturating_sub(t) < SAMPLE_MS {
                return;
            }
        }
        if s.is_full() {
            s.pop_front();
        }
        let _ = s.push_back((now_ms, self.total.get()));
    }

    /// Kilobits per second over the sampled window (up to 30 s), 0 before two samples.
    pub fn kbps(&self) -> u64 {
        let s = self.samples.borrow();
        match (s.front(), s.back()) {
            (Some(&(t0, b0)), Some(&(t1, b1))) if t1 > t0 => b1.saturating_sub(b0) * 8 / (t1 - t0),
            _ => 0,
        }
    }
}

/// The process's CPU share over the last sampling interval, as SRS reports `self.cpu_percent`
/// (`srs_update_proc_stat`, run once a second): the CPU time used between the last two samples
/// over the time between them. 1.0 is one CPU busy; 0 until two samples are taken.
#[derive(Debug, Default)]
pub struct CpuShare {
    /// (time ms, CPU time µs) at the last sample.
    last: Cell<Option<(u64, u64)>>,
    share: Cell<f64>,
}

impl CpuShare {
    /// Records the process's CPU time (user + system, µs) at `now_ms`; a sample at the time of
    /// the last one is ignored.
    pub fn sample(&self, now_ms: u64, cpu_us: u64) {
        if let Some((t0, c0)) = self.last.get() {
            if now_ms <= t0 {
                return;
            }
            let used_us = cpu_us.saturating_sub(c0) as f64;
            self.share.set(used_us / ((now_ms - t0) as f64 * 1000.0));
        }
        self.last.set(Some((now_ms, cpu_us)));
    }

    /// The share over the last interval.
    pub fn share(&self) -> f64 {
        self.share.get()
    }
}

/// One connection as the API sees it.
#[derive(Debug)]
pub struct ClientRecord {
    pub id: ClientId,
    pub cid: String,
    pub peer: SocketAddr,
    pub started_ms: u64,
    pub kind: Cell<ClientKind>,
    /// The stream it publishes or plays, once known.
    pub stream: RefCell<Option<StreamKey>>,
    pub tc_url: RefCell<String>,
    pub page_url: RefCell<String>,
    pub recv: ByteCounter,
    pub send: ByteCounter,
    kicked: Cell<bool>,
    /// It ended (or will end) by an error: see [`ClientRecord::fail`].
    failed: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl ClientRecord {
    pub fn new(id: ClientId, cid: &str, peer: SocketAddr, now_ms: u64) -> ClientRecord {
        ClientRecord {
            id,
            cid: cid.to_string(),
            peer,
            started_ms: now_ms,
            kind: Cell::new(ClientKind::Unknown),
            stream: RefCell::new(None),
            tc_url: RefCell::new(String::new()),
            page_url: RefCell::new(String::new()),
            recv: ByteCounter::default(),
            send: ByteCounter::default(),
            kicked: Cell::new(false),
            failed: Cell::new(false),
            waker: RefCell::new(None),
        }
    }

    /// Asks the connection to close (API `DELETE /api/v1/clients/{id}`).
    pub fn kick(&self) {
        self.kicked.set(true);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }

    pub fn is_kicked(&self) -> bool {
        self.kicked.get()
    }

    /// The client ends by an error (SRS's `srs_clients_errs_total` counts it when it leaves):
    /// its connection failed (a protocol error, an I/O error, a timeout; not the peer's
    /// orderly close) or a hook refused it. A kick counts too, without this call.
    pub fn fail(&self) {
        self.failed.set(true);
    }

    /// Ready once kicked; the connection driver selects on it.
    pub fn poll_kicked(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.kicked.get() {
            return Poll::Ready(());
        }
        let mut waker = self.waker.borrow_mut();
        match &*waker {
            // The driver polls this on every wake-up: keep the waker it already gave.
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => *waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

/// All connected clients, by id (ordered, so API pages are stable).
#[derive(Debug, Default)]
pub struct Clients {
    map: RefCell<SortedMap<ClientId, Rc<ClientRecord>>>,
    /// Clients ever registered (SRS's `srs_clients_total`).
    registered: Cell<u64>,
    /// Clients gone that ended by an error or a kick (SRS's `srs_clients_errs_total`).
    errors: Cell<u64>,
    /// Bytes moved by the clients already gone, (received, sent): with those of the clients
    /// here, the process's totals (`srs_receive_bytes_total`, `srs_send_bytes_total`).
    gone_bytes: Cell<(u64, u64)>,
}

impl Clients {
    pub fn insert(&self, record: Rc<ClientRecord>) {
        self.registered.set(self.registered.get().wrapping_add(1));
        self.map.borrow_mut().insert(record.id, record);
    }

    pub fn remove(&self, id: ClientId) {
        let gone = self.map.borrow_mut().remove(&id);
        if let Some(r) = gone {
            if r.failed.get() || r.kicked.get() {
                self.errors.set(self.errors.get().wrapping_add(1));
            }
            let (recv, send) = self.gone_bytes.get();
            self.gone_bytes.set((
                recv.wrapping_add(r.recv.total()),
                send.wrapping_add(r.send.total()),
            ));
        }
    }

    /// Clients ever registered.
    pub fn registered(&self) -> u64 {
        self.registered.get()
    }

    /// Clients gone since the start that ended by an error or a kick
    /// ([`ClientRecord::fail`]).
    pub fn errors(&self) -> u64 {
        self.errors.get()
    }

    /// Bytes (received, sent) by every client since the start, gone or here.
    pub fn total_bytes(&self) -> (u64, u64) {
        let (mut recv, mut send) = self.gone_bytes.get();
        for r in self.map.borrow().values() {
            recv = recv.wrapping_add(r.recv.total());
            send = send.wrapping_add(r.send.total());
        }
        (recv, send)
    }

    pub fn get(&self, id: ClientId) -> Option<Rc<ClientRecord>> {
        self.map.borrow().get(&id).cloned()
    }

    pub fn len(&self) -> usize {
        self.map.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.borrow().is_empty()
    }

    /// A snapshot of the records (the API works on it without holding a borrow).
    pub fn snapshot(&self) -> Vec<Rc<ClientRecord>> {
        self.map.borrow().values().cloned().collect()
    }

    /// Samples every counter (called once a second).
    pub fn sample(&self, now_ms: u64) {
        for r in self.map.borrow().values() {
            r.recv.sample(now_ms);
            r.send.sample(now_ms);
        }
    }
}

/// A count of live things (connection tasks, connections), kept by guards: each holder takes a
/// [`GaugeGuard`] when it starts and the count goes down when the guard drops, so every exit
/// path (return, error, abort of the task) is counted. Read by the API for leak checks
/// (`/api/v1/summaries` `tinysrs`) and by the accept loop for `max_connections`.
#[derive(Debug, Clone, Default)]
pub struct Gauge(Rc<Cell<usize>>);

impl Gauge {
    pub fn get(&self) -> usize {
        self.0.get()
    }

    /// Counts one more until the returned guard drops.
    pub fn enter(&self) -> GaugeGuard {
        self.0.set(self.0.get() + 1);
        GaugeGuard(self.0.clone())
    }
}

/// One unit of a [`Gauge`]; dropping it takes the unit back.
#[derive(Debug)]
pub struct GaugeGuard(Rc<Cell<usize>>);

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

/// Removes a client from the registry when its connection ends.
pub struct Registration {
    clients: Rc<Clients>,
    pub record: Rc<ClientRecord>,
}

impl Registration {
    pub fn new(clients: Rc<Clients>, record: ClientRecord) -> Registration {
        let record = Rc::new(record);
        clients.insert(record.clone());
        Registration { clients, record }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.clients.remove(self.record.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kbps_over_the_sampled_window() {
        let c = ByteCounter::default();
        c.sample(0);
        assert_eq!(c.kbps(), 0);
        for s in 1..=12 {
            c.add(125_000 * 5); // 1 Mbit/s
            c.sample(s * 5_000);
        }
        assert_eq!(c.kbps(), 1000);
        // Samples closer than SAMPLE_MS are skipped.
        c.add(1_000_000);
        c.sample(60_001);
        assert_eq!(c.kbps(), 1000);
    }

    #[test]
    fn cpu_share_is_that_of_the_last_interval() {
        let cpu = CpuShare::default();
        cpu.sample(0, 5_000_000);
        assert_eq!(cpu.share(), 0.0, "one sample is no interval");
        // 250 ms of CPU in one second, then 3.7 ms: the share follows the last second only.
        cpu.sample(1_000, 5_250_000);
        assert_eq!(cpu.share(), 0.25);
        cpu.sample(2_000, 5_253_700);
        assert!((cpu.share() - 0.0037).abs() < 1e-12, "{}", cpu.share());
        // Two CPUs busy over half a second.
        cpu.sample(2_500, 6_253_700);
        assert_eq!(cpu.share(), 2.0);
        // The same instant again, or a clock that went back: ignored.
        cpu.sample(2_500, 9_000_000);
        cpu.sample(2_400, 9_000_000);
        assert_eq!(cpu.share(), 2.0);
        // A CPU time that went back (it cannot, but no panic): 0.
        cpu.sample(3_500, 1);
        assert_eq!(cpu.share(), 0.0);
    }

    #[test]
    fn registration_removes_on_drop_and_kick_wakes() {
        let clients = Rc::new(Clients::default());
        let peer: SocketAddr = "127.0.0.1:5".parse().unwrap();
        let reg = Registration::new(clients.clone(), ClientRecord::new(7, "abc", peer, 0));
        assert_eq!(clients.len(), 1);
        let rec = clients.get(7).unwrap();
        assert!(!rec.is_kicked());
        rec.kick();
        assert!(reg.record.is_kicked());
        reg.record.recv.add(10);
        reg.record.send.add(20);
        assert_eq!(clients.total_bytes(), (10, 20));
        drop(reg);
        assert!(clients.is_empty());
        // The totals and the count keep what the gone client did.
        assert_eq!((clients.total_bytes(), clients.registered()), ((10, 20), 1));
    }

    /// `srs_clients_errs_total`: a client gone after `fail` or a kick counts, one gone in
    /// order does not; a client here does not yet.
    #[test]
    fn errors_count_failed_and_kicked_clients_once_gone() {
        let clients = Rc::new(Clients::default());
        let peer: SocketAddr = "127.0.0.1:5".parse().unwrap();
        let reg = |id| Registration::new(clients.clone(), ClientRecord::new(id, "c", peer, 0));
        let (ok, failed, kicked) = (reg(1), reg(2), reg(3));
        failed.record.fail();
        kicked.record.kick();
        assert_eq!(clients.errors(), 0);
        drop((ok, failed));
        assert_eq!(clients.errors(), 1);
        drop(kicked);
        assert_eq!(clients.errors(), 2);
    }

    #[test]
    fn gauge_counts_live_guards() {
        let g = Gauge::default();
        let a = g.enter();
        let b = g.clone().enter();
        assert_eq!(g.get(), 2);
        drop(a);
        assert_eq!(g.get(), 1);
        drop(b);
        assert_eq!(g.get(), 0);
    }
}
