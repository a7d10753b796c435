//! The only layer that touches tokio, sockets and the clock: listeners, connection drivers,
//! signals and shutdown. Everything runs on one thread (current-thread runtime + LocalSet).

pub mod rtmp;

use std::cell::Cell;
use std::io;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};

use crate::config::Config;
use crate::server::ServerCtx;

/// Milliseconds since the server started: the one clock every session and the hub see.
#[derive(Clone, Copy)]
pub struct Clock {
    start: Instant,
}

impl Clock {
    pub fn new() -> Clock {
        Clock {
            start: Instant::now(),
        }
    }

    pub fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// The instant of a time on this clock, for timers.
    pub fn instant(&self, ms: u64) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.start + Duration::from_millis(ms))
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

/// A small non-cryptographic generator (xorshift64*) for handshake random bytes and context
/// ids; neither needs to be secret.
pub struct Rng(Cell<u64>);

impl Rng {
    pub fn from_time() -> Rng {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Rng(Cell::new(t ^ (u64::from(std::process::id()) << 32) | 1))
    }

    pub fn next_u64(&self) -> u64 {
        let mut x = self.0.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn fill(&self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// How often idle Sources are swept and hub events logged.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// Runs the server until SIGTERM or SIGINT. Must be called inside a `LocalSet`.
pub async fn serve(config: Config, config_path: Option<PathBuf>) -> io::Result<()> {
    let listener = TcpListener::bind(config.listen).await.map_err(|e| {
        io::Error::new(e.kind(), format!("cannot listen on {}: {e}", config.listen))
    })?;
    log::info!("RTMP listening on {}", listener.local_addr()?);
    let ctx = ServerCtx::new(config, crate::live::Hub::default());
    let clock = Clock::new();
    let rng = Rc::new(Rng::from_time());
    let active = Rc::new(Cell::new(0usize));
    let mut hangup = signal(SignalKind::hangup())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    tokio::task::spawn_local(sweep(ctx.clone(), clock));
    let mut refused = crate::server::RateLimit::new();
    let mut next_id: u32 = 0;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        log::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let max = ctx.config().max_connections;
                if active.get() >= max {
                    if refused.allow(clock.now_ms()) {
                        log::warn!("refused {peer}: max_connections {max} reached");
                    }
                    drop(stream);
                    continue;
                }
                next_id = next_id.wrapping_add(1);
                active.set(active.get() + 1);
                let guard = ActiveGuard(active.clone());
                let (ctx, rng) = (ctx.clone(), rng.clone());
                tokio::task::spawn_local(async move {
                    rtmp::run(stream, peer, next_id, ctx, clock, rng).await;
                    drop(guard);
                });
            }
            _ = hangup.recv() => reload(&ctx, config_path.as_deref()),
            _ = terminate.recv() => { log::info!("SIGTERM: shutting down"); break; }
            _ = interrupt.recv() => { log::info!("SIGINT: shutting down"); break; }
        }
    }
    Ok(())
}

/// Decrements the active connection count when a connection task ends.
struct ActiveGuard(Rc<Cell<usize>>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

fn reload(ctx: &ServerCtx, path: Option<&std::path::Path>) {
    let Some(path) = path else {
        log::info!("SIGHUP: no config file (embedded defaults), nothing to reload");
        return;
    };
    match Config::load(path) {
        Ok(new) => {
            let old = ctx.config();
            let changes = old.diff(&new);
            log::set_max_level(new.log_level);
            ctx.set_config(new);
            if changes.is_empty() {
                log::info!("SIGHUP: reloaded {}, nothing changed", path.display());
            } else {
                log::info!(
                    "SIGHUP: reloaded {}: {}",
                    path.display(),
                    changes.join("; ")
                );
            }
        }
        Err(e) => log::error!("SIGHUP: {e}; keeping the current config"),
    }
}

async fn sweep(ctx: ServerCtx, clock: Clock) {
    let mut tick = tokio::time::interval(SWEEP_INTERVAL);
    loop {
        tick.tick().await;
        ctx.clients.sample(clock.now_ms());
        let grace = u64::from(ctx.config().grace_period_ms);
        let mut hub = ctx.hub.borrow_mut();
        hub.sweep(clock.now_ms(), grace);
        while let Some(event) = hub.poll_event() {
            log::debug!("hub: {event:?}");
        }
        for (key, client, new, total) in hub.take_drop_reports() {
            log::warn!(
                "slow player: client {client} on {key} dropped {new} frames in the last \
                 second ({total} in all; queue limits)"
            );
        }
    }
}
