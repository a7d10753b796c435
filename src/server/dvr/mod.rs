//! DVR: recording live streams to files, as SRS's `dvr` does, for monitoring boxes that record
//! to SD cards and USB sticks: loop recording into a quota, files that survive a power cut,
//! a disk that fails or falls behind without a player noticing.
//!
//! A recorded stream has a [`DvrOutput`] among its Source's outputs, feeding its [`Recorder`]
//! (`recorder`), which writes one [`format::Format`] (FLV now, fragmented MP4 later) into
//! batches that the disk thread appends to the file (`disk`). This module holds every
//! stream's recorder, decides which streams record (`dvr.enabled`, `dvr_apply`, the API's
//! start and stop), and handles what the disk thread reports: the hub events
//! ([`crate::live::HubEvent::DvrStarted`], `DvrClosed`, `DvrError`), the log, the list of
//! recordings for the API, repairs at start and loop-recording deletions.
//!
//! # What a caller must know
//! * [`on_publish`] (a publish hook), [`on_config`] (start and every reload), [`sweep`] (once a
//!   second) and [`handle_done`] (each outcome from the disk thread) are the entry points.
//! * Nothing here reads the clock: file names take their date from the [`WallClock`] the
//!   driver installs ([`Dvr::set_clock`]), retries and quota checks the sweep's time.
//! * A reload applies to the next file: path, plan, duration, jitter, sync. Turning recording
//!   on or off (`enabled`, `dvr_apply`) starts or stops streams being published at once (a
//!   start begins at the next keyframe, from the GOP cache). It also forgets the API's starts
//!   and stops, and repairs the roots it names for the first time.
//! * Recording never makes a player wait: the disk thread takes the file work, and what a
//!   recorder holds for it is capped by `dvr_queue_bytes`.
//!
//! Playback of the recordings over HTTP (`dvr.http_mount`) is planned in [`vod`], time-based
//! playback of MP4 recordings (`/api/v1/dvr/playback`) in [`playback`], both on the disk
//! thread.
//!
//! Not supported: callbacks (`on_dvr`; the hub events are there for
//! them), SRS's `dvr_plan append`, recording of a stream's non-media messages other than its
//! first `onMetaData`.

pub mod disk;
pub mod format;
pub mod mp4;
pub mod playback;
pub mod recorder;
#[cfg(feature = "http")]
pub mod vod;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;

pub use disk::{DiskOp, DiskReport, Usage};
pub use recorder::{Recorder, RecorderStatus, Recording, RecordingState};

use super::disk::{FileDone, OpReport};
use super::{RateLimit, ServerCtx};
use crate::config::{Config, Vhost, WallTime};
use crate::live::{HubEvent, Output, OutputKind, Source, StreamKey};
use crate::media::SharedFrame;
use recorder::{Journal, Outcome};

/// How often a root with a quota is checked while something records under it (and once
/// more whenever a file there closes).
pub const QUOTA_INTERVAL_MS: u64 = 10_000;

/// The wall clock and time zone, for file names (`[timestamp]`, `[2006]`...). The driver
/// installs one that reads the system's; tests use a fixed one.
pub trait WallClock: std::fmt::Debug {
    fn now(&self) -> WallTime;
}

/// Until the driver installs its clock: the epoch, UTC.
#[derive(Debug)]
struct Epoch;

impl WallClock for Epoch {
    fn now(&self) -> WallTime {
        WallTime {
            unix_ms: 0,
            utc_offset_s: 0,
        }
    }
}

/// A DVR root, its loop-recording limits and when it was last checked.
#[derive(Debug, Default)]
struct Root {
    max_bytes: u64,
    min_free_bytes: u64,
    /// Driver clock of the last quota op sent; `None`: due now.
    checked_ms: Option<u64>,
    /// A quota op is with the disk thread.
    busy: bool,
    /// What the last quota pass found.
    usage: Option<Usage>,
    /// Over its limits with nothing left to delete, and said so.
    warned: bool,
}

#[derive(Debug)]
struct Registry {
    recorders: HashMap<StreamKey, Rc<RefCell<Recorder>>>,
    journal: Rc<RefCell<Journal>>,
    /// The API's starts (true) and stops (false), until the next reload.
    overrides: HashMap<StreamKey, bool>,
    clock: Rc<dyn WallClock>,
    roots: HashMap<PathBuf, Root>,
    /// Roots repaired by this process: a root is repaired once, before its first recording.
    repaired: Vec<PathBuf>,
    drops_log: RateLimit,
    /// Time-based playbacks being planned or sent ([`Dvr::playback_slot`]).
    playbacks: Rc<Cell<usize>>,
}

/// Every stream's recorder and the recordings of this process; shared by [`ServerCtx`].
#[derive(Debug, Clone)]
pub struct Dvr(Rc<RefCell<Registry>>);

impl Default for Dvr {
    fn default() -> Self {
        Dvr(Rc::new(RefCell::new(Registry {
            recorders: HashMap::new(),
            journal: Rc::default(),
            overrides: HashMap::new(),
            clock: Rc::new(Epoch),
            roots: HashMap::new(),
            repaired: Vec::new(),
            drops_log: RateLimit::new(),
            playbacks: Rc::default(),
        })))
    }
}

/// One of the [`playback::MAX_PLAYBACKS`] places, given back when dropped.
#[derive(Debug)]
pub struct PlaybackSlot(Rc<Cell<usize>>);

impl Drop for PlaybackSlot {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

/// A stream's recording state, for `/api/v1/streams`.
#[derive(Debug, Clone)]
pub struct StreamDvr {
    pub status: RecorderStatus,
}

impl Dvr {
    /// Installs the wall clock file names are made from.
    pub fn set_clock(&self, clock: Rc<dyn WallClock>) {
        self.0.borrow_mut().clock = clock;
    }

    /// The wall clock's time and time zone (file names, time-based playback).
    pub fn wall_now(&self) -> WallTime {
        let clock = self.0.borrow().clock.clone();
        clock.now()
    }

    /// A place for one time-based playback (`/api/v1/dvr/playback`), held from its request
    /// until its connection asks for something else or closes; `None` when
    /// [`playback::MAX_PLAYBACKS`] are under way. Each holds up to
    /// [`playback::MAX_PLAN_BYTES`] of rewritten `moof`s.
    pub fn playback_slot(&self) -> Option<PlaybackSlot> {
        let count = self.0.borrow().playbacks.clone();
        if count.get() >= playback::MAX_PLAYBACKS {
            return None;
        }
        count.set(count.get() + 1);
        Some(PlaybackSlot(count))
    }

    /// The recordings this process knows, oldest first.
    pub fn recordings(&self) -> Vec<Recording> {
        let r = self.0.borrow();
        let j = r.journal.borrow();
        j.recordings.iter().cloned().collect()
    }

    /// Every recorder's state, by stream.
    pub fn recorders(&self) -> Vec<(StreamKey, RecorderStatus)> {
        let r = self.0.borrow();
        let mut all: Vec<_> = r
            .recorders
            .iter()
            .map(|(k, rec)| (k.clone(), rec.borrow().status()))
            .collect();
        all.sort_by_key(|(k, _)| k.to_string());
        all
    }

    /// The recorder state of one stream, if it has a recorder.
    pub fn stream(&self, key: &StreamKey) -> Option<RecorderStatus> {
        let r = self.0.borrow();
        r.recorders.get(key).map(|rec| rec.borrow().status())
    }

    /// The DVR roots of the config in force, with what the last quota pass found there.
    pub fn roots(&self) -> Vec<(PathBuf, Option<Usage>)> {
        let r = self.0.borrow();
        r.roots
            .iter()
            .map(|(p, root)| (p.clone(), root.usage))
            .collect()
    }

    fn recorder(&self, ctx: &ServerCtx, key: &StreamKey, vhost: &Vhost) -> Rc<RefCell<Recorder>> {
        let mut r = self.0.borrow_mut();
        let (journal, clock) = (r.journal.clone(), r.clock.clone());
        let rec = r
            .recorders
            .entry(key.clone())
            .or_insert_with(|| {
                Rc::new(RefCell::new(Recorder::new(
                    key.clone(),
                    vhost.dvr.clone(),
                    ctx.files.clone(),
                    clock,
                    journal,
                )))
            })
            .clone();
        rec.borrow_mut().set_config(vhost.dvr.clone());
        rec
    }

    fn wanted(&self, key: &StreamKey, vhost: &Vhost) -> bool {
        if !vhost.dvr.enabled {
            return false;
        }
        let r = self.0.borrow();
        r.overrides
            .get(key)
            .copied()
            .unwrap_or_else(|| vhost.dvr.apply.applies(&key.app, &key.stream))
    }
}

/// The Source output that feeds a [`Recorder`].
#[derive(Debug)]
pub struct DvrOutput(pub Rc<RefCell<Recorder>>);

impl Output for DvrOutput {
    fn kind(&self) -> OutputKind {
        OutputKind::Dvr
    }

    fn on_publish(&mut self) {
        self.0.borrow_mut().on_publish();
    }

    fn on_frame(&mut self, frame: &SharedFrame) {
        self.0.borrow_mut().on_frame(frame);
    }

    fn on_unpublish(&mut self) {
        self.0.borrow_mut().on_unpublish();
    }
}

/// Attaches or detaches the recorder of `source` as `vhost` (and the API) want it; a
/// recorder attached mid-stream starts at the next keyframe from the GOP cache.
fn apply(ctx: &ServerCtx, source: &Rc<RefCell<Source>>, vhost: &Vhost) {
    let key = source.borrow().key.clone();
    let mut s = source.borrow_mut();
    if ctx.dvr.wanted(&key, vhost) {
        let rec = ctx.dvr.recorder(ctx, &key, vhost);
        if s.output(OutputKind::Dvr).is_none() {
            s.add_output(Rc::new(RefCell::new(DvrOutput(rec))));
        }
    } else if s.output(OutputKind::Dvr).is_some() {
        if let Some(rec) = ctx.dvr.0.borrow().recorders.get(&key) {
            rec.borrow_mut().stop();
        }
        s.remove_output(OutputKind::Dvr);
    }
}

/// The publish hook: records the stream if its vhost says so.
pub fn on_publish(ctx: &ServerCtx, source: &Rc<RefCell<Source>>, vhost: &Vhost) {
    apply(ctx, source, vhost);
}

/// At start and after each reload: the roots (repairing new ones first), the API's overrides
/// forgotten, every stream being published recorded or not as the config says now.
pub fn on_config(ctx: &ServerCtx) {
    let config = ctx.config();
    let mut repairs = Vec::new();
    {
        let mut r = ctx.dvr.0.borrow_mut();
        r.overrides.clear();
        let mut roots: HashMap<PathBuf, Root> = HashMap::new();
        for v in config.vhosts().filter(|v| v.enabled && v.dvr.enabled) {
            let root = roots.entry(v.dvr.path.root.clone()).or_default();
            // Two vhosts on one root: the tighter limits.
            root.max_bytes = tighter(root.max_bytes, v.dvr.max_bytes);
            root.min_free_bytes = root.min_free_bytes.max(v.dvr.min_free_bytes);
        }
        for (path, root) in roots.iter_mut() {
            if let Some(old) = r.roots.get(path) {
                root.usage = old.usage;
                root.busy = old.busy;
                root.warned = old.warned;
            }
            if !r.repaired.contains(path) {
                r.repaired.push(path.clone());
                repairs.push(path.clone());
            }
        }
        r.roots = roots;
    }
    for root in repairs {
        log::info!("dvr: checking {} for recordings cut short", root.display());
        if !submit(ctx, DiskOp::Repair { root: root.clone() }) {
            // The next reload tries again.
            ctx.dvr.0.borrow_mut().repaired.retain(|r| *r != root);
        }
    }
    let sources: Vec<_> = ctx.hub.borrow().sources().cloned().collect();
    for source in sources {
        let (key, publishing) = {
            let s = source.borrow();
            (s.key.clone(), s.publisher().is_some())
        };
        if !publishing {
            continue;
        }
        match config.resolve_vhost(&key.vhost) {
            Some(vhost) => apply(ctx, &source, vhost),
            None => apply(ctx, &source, &disabled(&config)),
        }
    }
}

/// A vhost that records nothing.
fn disabled(config: &Config) -> Vhost {
    let mut v = config.default_vhost().clone();
    v.dvr.enabled = false;
    v
}

/// The smaller non-zero cap.
fn tighter(a: u64, b: u64) -> u64 {
    match (a, b) {
        (0, x) | (x, 0) => x,
        (a, b) => a.min(b),
    }
}

fn submit(ctx: &ServerCtx, op: DiskOp) -> bool {
    let verb = op.verb();
    let ok = ctx.files.offer(super::disk::FileOp::Dvr(op)).is_ok();
    if !ok {
        log::debug!("dvr: disk queue full, {verb} later");
    }
    ok
}

/// What the API's `POST /api/v1/dvrs` asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Start,
    Stop,
}

/// Why an API start or stop was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error("no vhost {0}")]
    NoVhost(String),
    #[error("dvr is not enabled on vhost {0} (set [vhost.\"{0}\".dvr] enabled = true)")]
    NotEnabled(String),
}

/// Starts or stops recording `key` until the next reload (SRS has no such call). A stream
/// not published now is recorded, or not, from its next publish.
pub fn control(ctx: &ServerCtx, key: &StreamKey, action: Action) -> Result<(), ControlError> {
    let config = ctx.config();
    let vhost = config
        .vhost(&key.vhost)
        .ok_or_else(|| ControlError::NoVhost(key.vhost.clone()))?;
    if !vhost.dvr.enabled {
        return Err(ControlError::NotEnabled(vhost.name.clone()));
    }
    let key = StreamKey {
        vhost: vhost.name.clone(),
        ..key.clone()
    };
    ctx.dvr
        .0
        .borrow_mut()
        .overrides
        .insert(key.clone(), action == Action::Start);
    let source = ctx.hub.borrow().source(&key);
    if let Some(source) = source {
        if source.borrow().publisher().is_some() {
            apply(ctx, &source, vhost);
        }
    }
    log::info!(
        "dvr {key}: {} through the API",
        match action {
            Action::Start => "started",
            Action::Stop => "stopped",
        }
    );
    Ok(())
}

/// The server is stopping: every recording ends (its last bytes written, the file renamed).
/// True while some still wait for the disk; the driver calls it again until false or it
/// gives up (what is left is repaired at the next start).
pub fn stop_all(ctx: &ServerCtx) -> bool {
    let recorders: Vec<_> = ctx.dvr.0.borrow().recorders.values().cloned().collect();
    let mut busy = false;
    for rec in recorders {
        let mut r = rec.borrow_mut();
        r.stop();
        r.pump();
        busy |= !r.is_idle();
    }
    busy
}

/// Once a second: recorders retry, sync and drain; skipped frames are logged (rate-limited);
/// quotas are checked; idle recorders of gone streams are forgotten.
pub fn sweep(ctx: &ServerCtx, now_ms: u64) {
    let recorders: Vec<_> = ctx.dvr.0.borrow().recorders.values().cloned().collect();
    let mut writing_roots = Vec::new();
    let mut drops = Vec::new();
    for rec in &recorders {
        let mut r = rec.borrow_mut();
        r.sweep(now_ms);
        if r.current_path().is_some() {
            writing_roots.push(r.config().path.root.clone());
        }
        if let Some((new, total)) = r.take_drops() {
            drops.push((r.key.clone(), new, total, r.config().queue_bytes));
        }
    }
    let mut quotas = Vec::new();
    {
        let mut reg = ctx.dvr.0.borrow_mut();
        if !drops.is_empty() && reg.drops_log.allow(now_ms) {
            for (key, new, total, cap) in drops {
                log::warn!(
                    "dvr {key}: disk too slow, skipped {new} frames to the next keyframe \
                     ({total} in all; dvr_queue_bytes {cap} full)"
                );
            }
        }
        for (path, root) in reg.roots.iter_mut() {
            if root.busy || (root.max_bytes == 0 && root.min_free_bytes == 0) {
                continue;
            }
            let due = match root.checked_ms {
                None => true,
                Some(t) => {
                    writing_roots.contains(path) && now_ms.saturating_sub(t) >= QUOTA_INTERVAL_MS
                }
            };
            if due {
                quotas.push((path.clone(), root.max_bytes, root.min_free_bytes));
            }
        }
        // Streams gone and nothing left to write: forgotten (the journal keeps the files).
        reg.recorders
            .retain(|_, rec| Rc::strong_count(rec) > 1 || !rec.borrow().is_idle());
        // Files that failed (they get no close op): once their recorder has no op left with
        // the disk, no answer about them can come.
        let recorders = &reg.recorders;
        reg.journal.borrow_mut().owners.retain(|id, key| {
            recorders.get(key).is_some_and(|rec| {
                let r = rec.borrow();
                r.current_id() == Some(*id) || r.ops_in_flight()
            })
        });
    }
    for (root, max_bytes, min_free_bytes) in quotas {
        let sent = submit(
            ctx,
            DiskOp::Quota {
                root: root.clone(),
                max_bytes,
                min_free_bytes,
            },
        );
        if sent {
            if let Some(r) = ctx.dvr.0.borrow_mut().roots.get_mut(&root) {
                r.busy = true;
                r.checked_ms = Some(now_ms);
            }
        }
    }
}

/// The disk thread's answer to a recording op. A recording is started (`DvrStarted`, logged)
/// once its first write reached the file; it is closed (`DvrClosed`) once renamed; a disk
/// error is `DvrError` and one warning, and while the disk keeps failing the files tried
/// every few seconds that never get a byte are forgotten quietly.
pub fn handle_done(ctx: &ServerCtx, done: &FileDone) {
    let OpReport::Dvr(report) = &done.report else {
        return;
    };
    match report.verb {
        "repair" => {
            repaired(ctx, report);
            if report.more {
                let root = done.path.clone();
                if !submit(ctx, DiskOp::Repair { root: root.clone() }) {
                    ctx.dvr.0.borrow_mut().repaired.retain(|r| *r != root);
                }
            }
            return;
        }
        "quota" => return quota_done(ctx, done, report),
        _ => {}
    }
    let id = report.id;
    let (journal, owner) = {
        let r = ctx.dvr.0.borrow();
        let owner = r.journal.borrow().owners.get(&id).cloned();
        (r.journal.clone(), owner)
    };
    let Some(key) = owner else {
        return;
    };
    let rec = ctx.dvr.0.borrow().recorders.get(&key).cloned();
    let wrote = report.verb == "write";
    let outcome = rec.as_ref().map_or(Outcome::Quiet, |rec| {
        rec.borrow_mut()
            .handle_done(id, report.bytes, wrote, &done.result)
    });
    let mut j = journal.borrow_mut();
    let Some(entry) = j.get_mut(id) else {
        return;
    };
    let path = entry.path.clone();
    let mut events = Vec::new();
    match (&done.result, report.verb) {
        (Ok(()), "write") if !entry.started => {
            entry.started = true;
            if outcome == Outcome::Resumed {
                log::info!("dvr {key}: recording again, in {}", path.display());
            } else {
                log::info!("dvr {key}: recording to {}", path.display());
            }
            events.push(HubEvent::DvrStarted {
                key: key.clone(),
                path: path.clone(),
            });
        }
        (Ok(()), "close") => {
            j.owners.remove(&id);
            let Some(entry) = j.get_mut(id) else {
                return;
            };
            match &report.closed {
                Some((_, bytes)) => entry.bytes = *bytes,
                // Nothing was written: the disk thread removed the empty file.
                None if !entry.started => return j.forget(id),
                None => {}
            }
            if entry.state == RecordingState::Writing {
                entry.state = RecordingState::Closed;
                log::info!(
                    "dvr {key}: closed {} ({}.{:03} s, {} bytes)",
                    path.display(),
                    entry.duration_ms / 1000,
                    entry.duration_ms % 1000,
                    entry.bytes
                );
                events.push(HubEvent::DvrClosed {
                    key: key.clone(),
                    path: path.clone(),
                    duration_ms: entry.duration_ms,
                    bytes: entry.bytes,
                });
                let root = rec.as_ref().map(|r| r.borrow().config().path.root.clone());
                if let Some(root) = root {
                    if let Some(r) = ctx.dvr.0.borrow_mut().roots.get_mut(&root) {
                        r.checked_ms = None;
                    }
                }
            }
        }
        (Ok(()), _) => {}
        (Err(e), verb) => {
            let error = format!("{verb} {}: {e}", path.display());
            let (started, writing) = (entry.started, entry.state == RecordingState::Writing);
            if verb == "close" {
                j.owners.remove(&id);
            }
            if outcome == Outcome::StillStopped && !started {
                // A retry on a disk still failing: nothing of it is on the disk.
                log::debug!("dvr {key}: still failing: {error}");
                j.forget(id);
                return;
            }
            let Some(entry) = j.get_mut(id).filter(|_| writing) else {
                return;
            };
            entry.state = RecordingState::Failed;
            entry.bytes = report.closed.as_ref().map_or(0, |(_, b)| *b);
            entry.error = Some(error.clone());
            if outcome == Outcome::Stopped {
                log::warn!(
                    "dvr {key}: recording stopped: {error}; live players are not affected, a \
                     new file is tried every {} s",
                    recorder::RETRY_MS / 1000
                );
            } else {
                log::debug!("dvr {key}: {error}");
            }
            events.push(HubEvent::DvrError {
                key: key.clone(),
                path,
                error,
            });
        }
    }
    drop(j);
    for event in events {
        ctx.hub.borrow_mut().emit_event(event);
    }
}

fn repaired(ctx: &ServerCtx, report: &DiskReport) {
    let journal = ctx.dvr.0.borrow().journal.clone();
    let mut j = journal.borrow_mut();
    for r in &report.repaired {
        match &r.path {
            Some(path) => {
                log::warn!(
                    "dvr: repaired {} -> {}: kept {} of {} bytes ({}.{:03} s)",
                    r.part.display(),
                    path.display(),
                    r.kept_bytes,
                    r.found_bytes,
                    r.duration_ms / 1000,
                    r.duration_ms % 1000
                );
                j.push(Recording {
                    id: 0,
                    key: None,
                    path: path.clone(),
                    start_ms: r.modified_ms.saturating_sub(u64::from(r.duration_ms)),
                    duration_ms: u64::from(r.duration_ms),
                    bytes: r.kept_bytes,
                    state: RecordingState::Repaired,
                    error: None,
                    started: true,
                });
            }
            None => log::warn!(
                "dvr: removed {}: {} bytes without a complete media tag",
                r.part.display(),
                r.found_bytes
            ),
        }
    }
}

fn quota_done(ctx: &ServerCtx, done: &FileDone, report: &DiskReport) {
    if !report.deleted.is_empty() {
        let bytes: u64 = report.deleted.iter().map(|(_, b)| b).sum();
        log::info!(
            "dvr: loop recording deleted {} recordings ({bytes} bytes) under {}, the oldest {}",
            report.deleted.len(),
            done.path.display(),
            report.deleted[0].0.display()
        );
    }
    if let Err(e) = &done.result {
        log::warn!("dvr: quota check of {} failed: {e}", done.path.display());
    }
    let mut reg = ctx.dvr.0.borrow_mut();
    let Some(root) = reg.roots.get_mut(&done.path) else {
        return;
    };
    root.busy = false;
    root.usage = report.usage;
    let Some(Usage { bytes: total, free }) = report.usage else {
        return;
    };
    let over = root.max_bytes > 0 && total > root.max_bytes;
    let short = root.min_free_bytes > 0 && free.is_some_and(|f| f < root.min_free_bytes);
    if (over || short) && !root.warned {
        log::warn!(
            "dvr: {} holds {total} bytes of recordings (dvr_max_bytes {}), {} bytes free \
             (dvr_min_free_bytes {}), and no closed recording is left to delete",
            done.path.display(),
            root.max_bytes,
            free.map_or("?".to_owned(), |f| f.to_string()),
            root.min_free_bytes,
        );
    }
    root.warned = over || short;
}
