//! The child processes' driver: one task that hands the supervisor (`server::exec`) the
//! wanted set and the clock, and does its actions: spawn (no shell unless asked; stdin and
//! stdout to /dev/null, stderr into a bounded ring; a process group of its own and, on Linux,
//! SIGKILL when we die), SIGTERM/SIGKILL to the group, and one watcher task per child that
//! reads its stderr and reaps it, so no zombie is left.

use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::rc::Rc;
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::AsyncReadExt;

use super::Shared;
use crate::live::HubEvent;
use crate::server::exec::{Action, Children, Spec, KILL_GRACE_MS};

/// Bytes read from a child's stderr at once (on the watcher's stack).
const READ_CHUNK: usize = 1024;

/// Starts the driver; `port` is our RTMP port (`[port]`).
pub fn start(shared: &Shared, port: u16) {
    let children = shared.ctx.children.clone();
    children.port.set(port);
    children.touch();
    super::spawn(run(shared.clone()));
}

/// The hub's publish and unpublish events start and stop the exec and transcode children.
pub fn handle_hub_event(shared: &Shared, event: &HubEvent) {
    match event {
        HubEvent::Publish { key, .. } => shared.ctx.children.published(key),
        HubEvent::Unpublish { key, .. } => shared.ctx.children.unpublished(key),
        _ => {}
    }
}

/// Shutdown: every child gets SIGTERM, SIGKILL after the grace; waits until all are reaped
/// (or the grace and a second more have passed).
pub async fn stop(shared: &Shared) {
    let children = &shared.ctx.children;
    let clock = shared.clock;
    children.supervisor.borrow_mut().stop_all(clock.now_ms());
    children.wake();
    let give_up = clock.now_ms() + KILL_GRACE_MS + 1_000;
    while children.supervisor.borrow().live() > 0 && clock.now_ms() < give_up {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn run(shared: Shared) {
    let children = shared.ctx.children.clone();
    let clock = shared.clock;
    loop {
        let now = clock.now_ms();
        if let Some(wanted) = children.take_wanted(&shared.ctx.config()) {
            let mut sup = children.supervisor.borrow_mut();
            sup.set_wanted(now, wanted);
            for id in &sup.over_limit {
                log::warn!(
                    "exec: {id} not started: {} children already (MAX_CHILDREN)",
                    crate::server::exec::MAX_CHILDREN
                );
            }
        }
        children.supervisor.borrow_mut().handle_timeout(now);
        loop {
            let action = children.supervisor.borrow_mut().poll_action();
            let Some(action) = action else { break };
            act(&shared, &children, action);
        }
        children.prune_stderr();
        let deadline = children.supervisor.borrow().poll_timeout();
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(clock.instant(at)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = sleep => {}
            _ = std::future::poll_fn(|cx| children.poll_wake(cx)) => {}
        }
    }
}

fn act(shared: &Shared, children: &Rc<Children>, action: Action) {
    let now = shared.clock.now_ms();
    match action {
        Action::Spawn(spec) => match spawn(&spec) {
            Ok(child) => {
                let pid = child.id().unwrap_or(0);
                log::info!(
                    "exec: started {} (pid {pid}): {}",
                    spec.id,
                    spec.argv.join(" ")
                );
                children
                    .supervisor
                    .borrow_mut()
                    .handle_spawned(now, &spec.id, pid);
                super::spawn(watch(shared.clone(), spec.id, pid, child));
            }
            Err(e) => {
                let how = format!(
                    "cannot start {:?}: {e}",
                    spec.argv.first().map_or("", |a| a)
                );
                log::warn!("exec: {}: {how}", spec.id);
                children
                    .supervisor
                    .borrow_mut()
                    .handle_spawn_failed(now, &spec.id, how);
            }
        },
        Action::Term { id, pid } => {
            log::info!("exec: stopping {id} (pid {pid}): SIGTERM");
            signal(pid, Signal::SIGTERM);
        }
        Action::Kill { id, pid } => {
            log::warn!(
                "exec: {id} (pid {pid}) still running {KILL_GRACE_MS} ms after SIGTERM: SIGKILL"
            );
            signal(pid, Signal::SIGKILL);
        }
    }
}

/// To the child's process group (a shell's children too). The pid is not reaped yet (the
/// supervisor forgets it only when its watcher reaped it), so it cannot be another process.
fn signal(pid: u32, sig: Signal) {
    if let Ok(pid) = i32::try_from(pid) {
        if pid > 0 {
            let _ = killpg(Pid::from_raw(pid), sig);
        }
    }
}

fn spawn(spec: &Spec) -> std::io::Result<tokio::process::Child> {
    let mut command = if spec.shell {
        let mut c = tokio::process::Command::new("/bin/sh");
        c.arg("-c").arg(spec.argv.join(" "));
        c
    } else {
        let (program, args) = spec
            .argv
            .split_first()
            .ok_or_else(|| std::io::Error::other("empty command"))?;
        let mut c = tokio::process::Command::new(program);
        c.args(args);
        c
    };
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(false);
    // SAFETY: the closure runs in the forked child before exec and calls only prctl, which
    // is async-signal-safe.
    #[cfg(target_os = "linux")]
    unsafe {
        command.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)
        });
    }
    command.spawn()
}

/// Reads the child's stderr into its ring and reaps it; reports the exit.
async fn watch(shared: Shared, id: String, pid: u32, mut child: tokio::process::Child) {
    let _task = shared.ctx.tasks.enter();
    let children = shared.ctx.children.clone();
    let mut stderr = child.stderr.take();
    let mut buf = [0u8; READ_CHUNK];
    let status = loop {
        tokio::select! {
            read = async {
                match stderr.as_mut() {
                    Some(s) => s.read(&mut buf).await,
                    None => std::future::pending().await,
                }
            } => match read {
                Ok(n) if n > 0 => children.push_stderr(&id, &buf[..n]),
                _ => stderr = None,
            },
            status = child.wait() => break status,
        }
    };
    // What it wrote just before it exited.
    if let Some(mut s) = stderr {
        while let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(50), s.read(&mut buf)).await
        {
            if n == 0 {
                break;
            }
            children.push_stderr(&id, &buf[..n]);
        }
    }
    let how = match status {
        Ok(status) => describe(status),
        Err(e) => format!("wait failed: {e}"),
    };
    let last = children
        .stderr
        .borrow()
        .iter()
        .find(|(i, _)| *i == id)
        .map(|(_, r)| r.last_line())
        .unwrap_or_default();
    log::info!("exec: {id} (pid {pid}) exited: {how}; stderr: {last}");
    children
        .supervisor
        .borrow_mut()
        .handle_exit(shared.clock.now_ms(), pid, how);
    children.wake();
}

fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(sig)) => format!("signal {sig}"),
        _ => "ended".to_owned(),
    }
}
