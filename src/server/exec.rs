//! Child processes (SRS's `ingest`, `transcode` and `exec`, which run ffmpeg or any program):
//! what to run and when, as a pure supervisor on a clock the caller passes in. `net::exec`
//! spawns, signals and reaps; this module only decides.
//!
//! What a caller must know:
//! - The wanted set is recomputed from the config and the published streams
//!   ([`wanted`]) at start, after each reload and on each publish/unpublish, and handed to
//!   [`Supervisor::set_wanted`]. A child is identified by its `id` (`ingest[0]`,
//!   `exec:VHOST/APP/STREAM`, `transcode:ENGINE:VHOST/APP/STREAM`); a wanted child with the
//!   same id and argv as a running one is left alone, one with another argv is stopped and
//!   started again.
//! - Each child is `Running` (a pid), `Backoff` (waiting to be started again after it
//!   exited: 1 s, doubling up to 30 s, back to 1 s after it ran 30 s), or `Stopping` (SIGTERM
//!   sent; SIGKILL after [`KILL_GRACE_MS`]); a child no longer wanted is removed once its
//!   exit is reaped.
//! - At most [`MAX_CHILDREN`] at once: beyond it the rest are not started (logged each time
//!   the wanted set is computed).
//! - Actions come out of [`Supervisor::poll_action`]; the driver reports spawns, spawn
//!   failures and exits back with `handle_*`; [`Supervisor::poll_timeout`] is the next
//!   deadline.
//!
//! Not supported: SRS's `transcode` with several engines per vhost (one here), `input.type
//! = device`'s special casing, the `[param]` variable (always empty: the publish's query is
//! not kept per stream).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};

use crate::config::{Config, Transcode, Vhost};
use crate::live::StreamKey;
use crate::media::DEFAULT_VHOST;

/// Most child processes at once. Why: each is a process of its own (an ffmpeg transcoding to
/// 160x120 took 64-67 MB of RSS, copying 55 MB, each with a CPU share of its own, outside our
/// RSS); on our side each costs its entry here, its argv, its watcher task and the stderr
/// ring ([`STDERR_RING`]): 12 KiB at most (`limits::exec`).
pub const MAX_CHILDREN: usize = 32;

/// Bytes of a child's stderr kept (the last ones), shown in the API and logged at its exit.
/// Why: ffmpeg writes a progress line every half second; a pipe nobody reads would block it,
/// one read into an unbounded buffer would grow without end.
pub const STDERR_RING: usize = 4096;

/// First wait before a child that exited is started again.
pub const BACKOFF_MIN_MS: u64 = 1_000;
/// Longest wait between restarts (the wait doubles from [`BACKOFF_MIN_MS`]).
pub const BACKOFF_MAX_MS: u64 = 30_000;
/// A child that ran this long is started again after [`BACKOFF_MIN_MS`], not the doubled wait.
pub const HEALTHY_RUN_MS: u64 = 30_000;
/// Between SIGTERM and SIGKILL (ffmpeg finishes its output file within it).
pub const KILL_GRACE_MS: u64 = 3_000;

/// Which SRS feature a child belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `[[ingest]]` with `command`: runs from start to stop.
    Ingest,
    /// `vhost.transcode`: while its input stream is published.
    Transcode,
    /// `vhost.exec.publish`: while its stream is published.
    Exec,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Ingest => "ingest",
            Kind::Transcode => "transcode",
            Kind::Exec => "exec",
        }
    }
}

/// A child as it should run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub id: String,
    pub kind: Kind,
    /// The program and its arguments, variables substituted; with `shell` one `sh -c` line.
    pub argv: Vec<String>,
    pub shell: bool,
}

/// A child's state. Transitions: `Starting` → `Running` (spawned) or `Backoff` (spawn
/// failed); `Running` → `Backoff` (it exited) or `Stopping` (no longer wanted, or argv
/// changed); `Backoff` → `Starting` (wait over); `Stopping` → removed (reaped), with SIGKILL
/// sent once after the grace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// A spawn was asked for and not reported yet.
    Starting,
    Running {
        pid: u32,
        since_ms: u64,
    },
    Backoff {
        until_ms: u64,
    },
    Stopping {
        pid: u32,
        kill_at_ms: u64,
        killed: bool,
    },
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Starting => "starting",
            State::Running { .. } => "running",
            State::Backoff { .. } => "backoff",
            State::Stopping { .. } => "stopping",
        }
    }
}

/// One supervised child.
#[derive(Debug, Clone)]
pub struct Child {
    pub spec: Spec,
    pub state: State,
    /// Starts after the first.
    pub restarts: u32,
    /// How the last run ended (`exit status 1`, `signal 9`, a spawn error).
    pub last_exit: Option<String>,
    /// The next wait in backoff.
    pub backoff_ms: u64,
    /// Wanted again after it stops (argv changed while it ran).
    restart_after_stop: bool,
    /// Not wanted any more: removed once reaped.
    retired: bool,
}

/// What the driver is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Spawn(Spec),
    /// SIGTERM to the child's process group.
    Term {
        id: String,
        pid: u32,
    },
    /// SIGKILL to the child's process group.
    Kill {
        id: String,
        pid: u32,
    },
}

/// The children and what is to be done with them.
#[derive(Debug, Default)]
pub struct Supervisor {
    children: Vec<Child>,
    actions: VecDeque<Action>,
    /// Wanted children left out by [`MAX_CHILDREN`] (logged by the driver).
    pub over_limit: Vec<String>,
    stopping_all: bool,
}

impl Supervisor {
    pub fn children(&self) -> &[Child] {
        &self.children
    }

    /// The children that should run now; the others are stopped.
    pub fn set_wanted(&mut self, now_ms: u64, wanted: Vec<Spec>) {
        if self.stopping_all {
            return;
        }
        for child in &mut self.children {
            match wanted.iter().find(|s| s.id == child.spec.id) {
                Some(spec) if *spec == child.spec => {
                    // Wanted again while stopping: started again once reaped.
                    child.restart_after_stop = matches!(child.state, State::Stopping { .. });
                    child.retired = false;
                }
                Some(spec) => {
                    child.spec = spec.clone();
                    child.retired = false;
                    child.restart_after_stop = true;
                    stop(child, now_ms, &mut self.actions);
                }
                None => {
                    child.retired = true;
                    child.restart_after_stop = false;
                    stop(child, now_ms, &mut self.actions);
                }
            }
        }
        self.over_limit.clear();
        for spec in wanted {
            if self.children.iter().any(|c| c.spec.id == spec.id) {
                continue;
            }
            if self.children.len() >= MAX_CHILDREN {
                self.over_limit.push(spec.id);
                continue;
            }
            self.actions.push_back(Action::Spawn(spec.clone()));
            self.children.push(Child {
                spec,
                state: State::Starting,
                restarts: 0,
                last_exit: None,
                backoff_ms: BACKOFF_MIN_MS,
                restart_after_stop: false,
                retired: false,
            });
        }
        self.children
            .retain(|c| !(c.retired && matches!(c.state, State::Backoff { .. })));
    }

    /// Shutdown: every child is stopped and none started again.
    pub fn stop_all(&mut self, now_ms: u64) {
        self.stopping_all = true;
        for child in &mut self.children {
            child.retired = true;
            child.restart_after_stop = false;
            stop(child, now_ms, &mut self.actions);
        }
        self.children
            .retain(|c| !matches!(c.state, State::Backoff { .. }));
    }

    /// Children with a process (running or stopping), or a spawn asked for.
    pub fn live(&self) -> usize {
        self.children
            .iter()
            .filter(|c| !matches!(c.state, State::Backoff { .. }))
            .count()
    }

    /// The driver spawned `id` as `pid`.
    pub fn handle_spawned(&mut self, now_ms: u64, id: &str, pid: u32) {
        let Some(child) = self.children.iter_mut().find(|c| c.spec.id == id) else {
            return;
        };
        child.state = State::Running {
            pid,
            since_ms: now_ms,
        };
        if child.retired || child.restart_after_stop {
            stop(child, now_ms, &mut self.actions);
        }
    }

    /// The driver could not spawn `id` (no such program...): as an exit at once.
    pub fn handle_spawn_failed(&mut self, now_ms: u64, id: &str, error: String) {
        if let Some(i) = self.children.iter().position(|c| c.spec.id == id) {
            self.children[i].state = State::Running {
                pid: 0,
                since_ms: now_ms,
            };
            self.exited(i, now_ms, error);
        }
    }

    /// The driver reaped `pid`, which ended as `how`.
    pub fn handle_exit(&mut self, now_ms: u64, pid: u32, how: String) {
        let found = self.children.iter().position(|c| {
            matches!(c.state, State::Running { pid: p, .. } | State::Stopping { pid: p, .. } if p == pid)
        });
        if let Some(i) = found {
            self.exited(i, now_ms, how);
        }
    }

    fn exited(&mut self, i: usize, now_ms: u64, how: String) {
        let child = &mut self.children[i];
        let ran_ms = match child.state {
            State::Running { since_ms, .. } => now_ms.saturating_sub(since_ms),
            _ => 0,
        };
        child.last_exit = Some(how);
        if child.retired || self.stopping_all {
            self.children.remove(i);
            return;
        }
        if child.restart_after_stop {
            // Stopped to take a new argv: started again at once.
            child.restart_after_stop = false;
            child.restarts += 1;
            child.state = State::Starting;
            self.actions.push_back(Action::Spawn(child.spec.clone()));
            return;
        }
        if ran_ms >= HEALTHY_RUN_MS {
            child.backoff_ms = BACKOFF_MIN_MS;
        }
        child.state = State::Backoff {
            until_ms: now_ms + child.backoff_ms,
        };
        child.backoff_ms = (child.backoff_ms * 2).min(BACKOFF_MAX_MS);
    }

    /// Backoffs that ended start their child again; stops past their grace get SIGKILL.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        for child in &mut self.children {
            match &mut child.state {
                State::Backoff { until_ms } if *until_ms <= now_ms => {
                    child.state = State::Starting;
                    child.restarts += 1;
                    self.actions.push_back(Action::Spawn(child.spec.clone()));
                }
                State::Stopping {
                    pid,
                    kill_at_ms,
                    killed,
                } if !*killed && *kill_at_ms <= now_ms => {
                    *killed = true;
                    self.actions.push_back(Action::Kill {
                        id: child.spec.id.clone(),
                        pid: *pid,
                    });
                }
                _ => {}
            }
        }
    }

    /// The next deadline: a backoff's end or a SIGKILL.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.children
            .iter()
            .filter_map(|c| match c.state {
                State::Backoff { until_ms } => Some(until_ms),
                State::Stopping {
                    kill_at_ms,
                    killed: false,
                    ..
                } => Some(kill_at_ms),
                _ => None,
            })
            .min()
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }
}

/// SIGTERM to a running child; a child in backoff is simply not started again (a starting
/// one is stopped once its pid is known, in `handle_spawned`).
fn stop(child: &mut Child, now_ms: u64, actions: &mut VecDeque<Action>) {
    match child.state {
        State::Running { pid, .. } => {
            child.state = State::Stopping {
                pid,
                kill_at_ms: now_ms + KILL_GRACE_MS,
                killed: false,
            };
            actions.push_back(Action::Term {
                id: child.spec.id.clone(),
                pid,
            });
        }
        State::Backoff { .. } if child.restart_after_stop => {
            child.restart_after_stop = false;
            child.state = State::Starting;
            actions.push_back(Action::Spawn(child.spec.clone()));
        }
        _ => {}
    }
}

/// SRS's variables in a command: `[vhost]`, `[port]`, `[app]`, `[stream]`, `[engine]`,
/// `[param]` (empty), `[url]` (`rtmp://127.0.0.1:PORT/APP/STREAM`, with `?vhost=` for a
/// named vhost).
pub struct Vars<'a> {
    pub vhost: &'a str,
    pub port: u16,
    pub app: &'a str,
    pub stream: &'a str,
    pub engine: &'a str,
}

impl Vars<'_> {
    pub fn substitute(&self, text: &str) -> String {
        let vhost = if self.vhost == DEFAULT_VHOST {
            ""
        } else {
            self.vhost
        };
        let url = if vhost.is_empty() {
            format!(
                "rtmp://127.0.0.1:{}/{}/{}",
                self.port, self.app, self.stream
            )
        } else {
            format!(
                "rtmp://127.0.0.1:{}/{}?vhost={vhost}/{}",
                self.port, self.app, self.stream
            )
        };
        text.replace(
            "[vhost]",
            if vhost.is_empty() {
                DEFAULT_VHOST
            } else {
                vhost
            },
        )
        .replace("[port]", &self.port.to_string())
        .replace("[app]", self.app)
        .replace("[stream]", self.stream)
        .replace("[engine]", self.engine)
        .replace("[param]", "")
        .replace("[url]", &url)
    }
}

/// The children the config wants, given the published streams and our RTMP port.
pub fn wanted<'a>(
    config: &Config,
    port: u16,
    published: impl Iterator<Item = &'a StreamKey>,
) -> Vec<Spec> {
    let mut specs = Vec::new();
    for (i, ingest) in config.child_ingests.iter().enumerate() {
        let vars = Vars {
            vhost: &ingest.vhost,
            port,
            app: ingest.app(),
            stream: ingest.stream_name(),
            engine: "",
        };
        specs.push(Spec {
            id: format!("ingest[{i}]"),
            kind: Kind::Ingest,
            argv: ingest
                .command
                .0
                .iter()
                .map(|a| vars.substitute(a))
                .collect(),
            shell: ingest.shell,
        });
    }
    for key in published {
        let Some(vhost) = config.vhost(&key.vhost) else {
            continue;
        };
        if !vhost.enabled {
            continue;
        }
        specs.extend(for_stream(vhost, port, key));
    }
    specs
}

/// The exec and transcode children of one published stream.
fn for_stream(vhost: &Vhost, port: u16, key: &StreamKey) -> Vec<Spec> {
    let mut specs = Vec::new();
    let vars = |engine| Vars {
        vhost: &key.vhost,
        port,
        app: &key.app,
        stream: &key.stream,
        engine,
    };
    let exec = &vhost.exec;
    if exec.enabled && !exec.publish.0.is_empty() {
        let vars = vars("");
        specs.push(Spec {
            id: format!("exec:{key}"),
            kind: Kind::Exec,
            argv: exec.publish.0.iter().map(|a| vars.substitute(a)).collect(),
            shell: exec.shell,
        });
    }
    let t = &vhost.transcode;
    let suffix = format!("_{}", t.engine);
    // A transcode's own output (`[stream]_[engine]`) is not transcoded again.
    if t.enabled && (t.app.is_empty() || t.app == key.app) && !key.stream.ends_with(&suffix) {
        let vars = vars(&t.engine);
        specs.push(Spec {
            id: format!("transcode:{}:{key}", t.engine),
            kind: Kind::Transcode,
            argv: transcode_argv(t, &vars),
            shell: false,
        });
    }
    specs
}

/// SRS's ffmpeg command line for one engine (`srs_app_ffmpeg.cpp`'s order): input, video
/// codec and its settings, audio codec and its settings, output as FLV.
pub fn transcode_argv(t: &Transcode, vars: &Vars<'_>) -> Vec<String> {
    let mut a: Vec<String> = Vec::new();
    let mut push = |args: &[&str]| a.extend(args.iter().map(|s| (*s).to_owned()));
    push(&[&t.ffmpeg, "-nostdin", "-nostats", "-f", "flv", "-i"]);
    push(&[&vars.substitute("[url]")]);
    match t.vcodec.as_str() {
        "vn" => push(&["-vn"]),
        "copy" => push(&["-vcodec", "copy"]),
        vcodec => {
            push(&["-vcodec", vcodec]);
            if t.vbitrate_kbps > 0 {
                push(&["-b:v", &format!("{}k", t.vbitrate_kbps)]);
            }
            if t.vfps > 0 {
                push(&["-r", &t.vfps.to_string()]);
            }
            if t.vwidth > 0 && t.vheight > 0 {
                push(&["-s", &format!("{}x{}", t.vwidth, t.vheight)]);
            }
            if t.vthreads > 0 {
                push(&["-threads", &t.vthreads.to_string()]);
            }
            if !t.vprofile.is_empty() {
                push(&["-profile:v", &t.vprofile]);
            }
            if !t.vpreset.is_empty() {
                push(&["-preset", &t.vpreset]);
            }
        }
    }
    match t.acodec.as_str() {
        "an" => push(&["-an"]),
        "copy" => push(&["-acodec", "copy"]),
        acodec => {
            push(&["-acodec", acodec]);
            if t.abitrate_kbps > 0 {
                push(&["-b:a", &format!("{}k", t.abitrate_kbps)]);
            }
            if t.asample_rate > 0 {
                push(&["-ar", &t.asample_rate.to_string()]);
            }
            if t.achannels > 0 {
                push(&["-ac", &t.achannels.to_string()]);
            }
        }
    }
    push(&["-f", "flv", "-y"]);
    a.push(vars.substitute(&t.output));
    a
}

/// A command as the log and the API show it: words joined by spaces, the password of any
/// `scheme://user:password@host` URL in them replaced by `***` (an RTSP or SRT source's).
pub fn shown(argv: &[String]) -> String {
    argv.iter()
        .map(|w| mask_password(w))
        .collect::<Vec<_>>()
        .join(" ")
}

fn mask_password(word: &str) -> String {
    let Some(at) = word.find("://") else {
        return word.to_owned();
    };
    let rest = &word[at + 3..];
    let authority = &rest[..rest.find(['/', '?', ' ']).unwrap_or(rest.len())];
    match (authority.rfind('@'), authority.find(':')) {
        (Some(end), Some(colon)) if colon < end => format!(
            "{}{}:***{}",
            &word[..at + 3],
            &authority[..colon],
            &rest[end..]
        ),
        _ => word.to_owned(),
    }
}

/// The last [`STDERR_RING`] bytes a child wrote to stderr.
#[derive(Debug, Default, Clone)]
pub struct StderrRing {
    buf: VecDeque<u8>,
}

impl StderrRing {
    pub fn push(&mut self, bytes: &[u8]) {
        let bytes = &bytes[bytes.len().saturating_sub(STDERR_RING)..];
        let over = (self.buf.len() + bytes.len()).saturating_sub(STDERR_RING);
        self.buf.drain(..over);
        self.buf.extend(bytes);
    }

    /// The kept bytes as text (ffmpeg's `\r` progress lines as line ends).
    pub fn text(&self) -> String {
        let bytes: Vec<u8> = self.buf.iter().copied().collect();
        String::from_utf8_lossy(&bytes).replace('\r', "\n")
    }

    /// The last non-empty line, for the exit log line.
    pub fn last_line(&self) -> String {
        let text = self.text();
        text.lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .to_owned()
    }
}

/// The children and what they depend on, shared by the driver (`net::exec`), the hub's
/// events, the reload and the API.
#[derive(Default)]
pub struct Children {
    pub supervisor: RefCell<Supervisor>,
    /// Each child's stderr tail by id (kept across its restarts, dropped with it).
    pub stderr: RefCell<Vec<(String, StderrRing)>>,
    /// The published streams (the hub's Publish and Unpublish events).
    published: RefCell<Vec<StreamKey>>,
    /// Our RTMP port, for `[port]` and `[url]`.
    pub port: Cell<u16>,
    /// The wanted set is to be computed again.
    dirty: Cell<bool>,
    /// Woken since the driver last looked.
    woken: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Children {
    /// The wanted set changed (a publish, an unpublish, a reload): the driver recomputes it.
    pub fn touch(&self) {
        self.dirty.set(true);
        self.wake();
    }

    /// Wakes the driver (a child was reaped, or [`Children::touch`]).
    pub fn wake(&self) {
        self.woken.set(true);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }

    /// Ready once [`Children::wake`] was called since the last time it was.
    pub fn poll_wake(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.woken.replace(false) {
            return Poll::Ready(());
        }
        *self.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }

    pub fn published(&self, key: &StreamKey) {
        let mut published = self.published.borrow_mut();
        if !published.contains(key) {
            published.push(key.clone());
        }
        drop(published);
        self.touch();
    }

    pub fn unpublished(&self, key: &StreamKey) {
        self.published.borrow_mut().retain(|k| k != key);
        self.touch();
    }

    /// When dirty: the children the config now wants.
    pub fn take_wanted(&self, config: &Config) -> Option<Vec<Spec>> {
        if !self.dirty.replace(false) {
            return None;
        }
        let published = self.published.borrow();
        Some(wanted(config, self.port.get(), published.iter()))
    }

    /// Appends `bytes` to the stderr tail of `id`.
    pub fn push_stderr(&self, id: &str, bytes: &[u8]) {
        let mut rings = self.stderr.borrow_mut();
        match rings.iter_mut().find(|(i, _)| i == id) {
            Some((_, ring)) => ring.push(bytes),
            None => {
                let mut ring = StderrRing::default();
                ring.push(bytes);
                rings.push((id.to_owned(), ring));
            }
        }
    }

    /// Forgets the stderr of children that are gone.
    pub fn prune_stderr(&self) {
        let sup = self.supervisor.borrow();
        self.stderr
            .borrow_mut()
            .retain(|(id, _)| sup.children().iter().any(|c| c.spec.id == *id));
    }

    pub fn stderr_of(&self, id: &str) -> String {
        self.stderr
            .borrow()
            .iter()
            .find(|(i, _)| i == id)
            .map_or_else(String::new, |(_, r)| r.text())
    }
}

/// After a reload: the wanted set follows the new config.
pub fn on_config(ctx: &super::ServerCtx) {
    ctx.children.touch();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(id: &str, argv: &[&str]) -> Spec {
        Spec {
            id: id.to_owned(),
            kind: Kind::Exec,
            argv: argv.iter().map(|s| (*s).to_owned()).collect(),
            shell: false,
        }
    }

    fn drain(s: &mut Supervisor) -> Vec<Action> {
        std::iter::from_fn(|| s.poll_action()).collect()
    }

    #[test]
    fn restarts_with_doubling_backoff_reset_after_a_healthy_run() {
        let mut s = Supervisor::default();
        s.set_wanted(0, vec![spec("a", &["x"])]);
        assert_eq!(drain(&mut s), vec![Action::Spawn(spec("a", &["x"]))]);
        s.handle_spawned(0, "a", 10);
        let mut now = 100;
        let mut waits = Vec::new();
        for pid in 11..17 {
            s.handle_exit(now, pid - 1, "exit status 1".into());
            let until = s.poll_timeout().unwrap();
            waits.push(until - now);
            // Nothing starts before the deadline.
            s.handle_timeout(until - 1);
            assert!(drain(&mut s).is_empty());
            now = until;
            s.handle_timeout(now);
            assert!(matches!(drain(&mut s)[..], [Action::Spawn(_)]));
            s.handle_spawned(now, "a", pid);
        }
        assert_eq!(waits, [1_000, 2_000, 4_000, 8_000, 16_000, 30_000]);
        assert_eq!(s.children()[0].restarts, 6);
        // A run of 30 s counts as healthy: back to 1 s.
        now += HEALTHY_RUN_MS;
        s.handle_exit(now, 16, "signal 9".into());
        assert_eq!(s.poll_timeout(), Some(now + 1_000));
        assert_eq!(s.children()[0].last_exit.as_deref(), Some("signal 9"));
    }

    #[test]
    fn unwanted_child_gets_term_then_kill_and_is_removed_when_reaped() {
        let mut s = Supervisor::default();
        s.set_wanted(0, vec![spec("a", &["x"])]);
        drain(&mut s);
        s.handle_spawned(0, "a", 42);
        s.set_wanted(1_000, vec![]);
        assert_eq!(
            drain(&mut s),
            vec![Action::Term {
                id: "a".into(),
                pid: 42
            }]
        );
        assert_eq!(s.poll_timeout(), Some(1_000 + KILL_GRACE_MS));
        s.handle_timeout(1_000 + KILL_GRACE_MS);
        assert_eq!(
            drain(&mut s),
            vec![Action::Kill {
                id: "a".into(),
                pid: 42
            }]
        );
        assert_eq!(s.poll_timeout(), None);
        s.handle_exit(4_100, 42, "signal 9".into());
        assert!(s.children().is_empty());
        assert!(drain(&mut s).is_empty());
    }

    #[test]
    fn changed_argv_restarts_at_once_and_backoff_is_dropped_when_unwanted() {
        let mut s = Supervisor::default();
        s.set_wanted(0, vec![spec("a", &["x"]), spec("b", &["y"])]);
        drain(&mut s);
        s.handle_spawned(0, "a", 1);
        s.handle_spawn_failed(0, "b", "No such file".into());
        assert_eq!(s.children()[1].state.as_str(), "backoff");
        s.set_wanted(10, vec![spec("a", &["x2"])]);
        assert_eq!(
            drain(&mut s),
            vec![Action::Term {
                id: "a".into(),
                pid: 1
            }]
        );
        assert_eq!(s.children().len(), 1);
        s.handle_exit(20, 1, "exit status 255".into());
        assert_eq!(drain(&mut s), vec![Action::Spawn(spec("a", &["x2"]))]);
    }

    #[test]
    fn stop_all_stops_everything_and_starts_nothing() {
        let mut s = Supervisor::default();
        s.set_wanted(0, vec![spec("a", &["x"]), spec("b", &["y"])]);
        drain(&mut s);
        s.handle_spawned(0, "a", 1);
        s.stop_all(5);
        assert_eq!(
            drain(&mut s),
            vec![Action::Term {
                id: "a".into(),
                pid: 1
            }]
        );
        // "b" was starting: its pid, once known, is stopped at once.
        s.handle_spawned(6, "b", 2);
        assert_eq!(
            drain(&mut s),
            vec![Action::Term {
                id: "b".into(),
                pid: 2
            }]
        );
        s.set_wanted(7, vec![spec("c", &["z"])]);
        assert!(drain(&mut s).is_empty());
        s.handle_exit(8, 1, "signal 15".into());
        s.handle_exit(9, 2, "signal 15".into());
        assert_eq!(s.live(), 0);
    }

    #[test]
    fn at_most_max_children() {
        let mut s = Supervisor::default();
        let specs = (0..MAX_CHILDREN + 2)
            .map(|i| spec(&format!("c{i}"), &["x"]))
            .collect();
        s.set_wanted(0, specs);
        assert_eq!(drain(&mut s).len(), MAX_CHILDREN);
        assert_eq!(s.over_limit, ["c32", "c33"]);
    }

    #[test]
    fn srs_variables() {
        let v = Vars {
            vhost: DEFAULT_VHOST,
            port: 1935,
            app: "live",
            stream: "cam",
            engine: "sd",
        };
        assert_eq!(
            v.substitute("[url] -> rtmp://127.0.0.1:[port]/[app]/[stream]_[engine][param]"),
            "rtmp://127.0.0.1:1935/live/cam -> rtmp://127.0.0.1:1935/live/cam_sd"
        );
        let v = Vars {
            vhost: "a.com",
            ..v
        };
        assert_eq!(
            v.substitute("[vhost] [url]"),
            "a.com rtmp://127.0.0.1:1935/live?vhost=a.com/cam"
        );
    }

    #[test]
    fn passwords_stay_out_of_the_log_and_api() {
        let argv: Vec<String> = [
            "ffmpeg",
            "-i",
            "rtsp://admin:p@ss@10.0.0.2/s?a=b",
            "srt://h:1",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        assert_eq!(
            shown(&argv),
            "ffmpeg -i rtsp://admin:***@10.0.0.2/s?a=b srt://h:1"
        );
    }

    #[test]
    fn stderr_ring_keeps_the_last_bytes() {
        let mut r = StderrRing::default();
        r.push(&vec![b'a'; STDERR_RING + 10]);
        r.push(b"\nframe=1\rlast\n");
        let text = r.text();
        assert_eq!(text.len(), STDERR_RING);
        assert!(text.ends_with("frame=1\nlast\n"));
        assert_eq!(r.last_line(), "last");
    }
}
