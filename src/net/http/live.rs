//! The HTTP driver's live players (HTTP-FLV, HTTP-TS): the player's output written as it
//! comes (merged per `mw_latency`), until it is done, the player leaves (EOF) or is kicked.
//! What to send and when is `server::http::LivePlayer`'s.

use std::future::poll_fn;
use std::io;

use super::{Driver, Error};
use crate::server::http::LivePlayer;

/// Bytes read at once from a live player, which sends nothing we need (on the stack, not in
/// the connection's task).
const LIVE_READ: usize = 512;

/// How long a live player sleeps when its layer has no deadline (a spare wake-up is harmless).
const NO_DEADLINE_MS: u64 = 3_600_000;

impl Driver {
    /// Runs a live player until it is done, the player leaves (EOF) or is kicked.
    pub(super) async fn stream_live(&mut self, player: &mut LivePlayer) -> Result<(), Error> {
        let queue = player.queue().clone();
        let record = self.conn.record.clone();
        let mut out = Vec::new();
        loop {
            player.poll_transmit(self.clock.now_ms(), &mut out);
            if !out.is_empty() {
                self.write(&mut out).await?;
            }
            // A batch's slots live as long as its write: an idle player holds none.
            out = Vec::new();
            if player.is_done() {
                return Ok(());
            }
            let idle = self.clock.now_ms() + NO_DEADLINE_MS;
            let deadline = player.poll_timeout().unwrap_or(idle);
            tokio::select! {
                _ = poll_fn(|cx| queue.borrow_mut().poll_ready(cx)) => {
                    if let Some(mw) = player.merge_latency_ms() {
                        crate::net::merge_wait(&queue, mw).await;
                    }
                }
                ready = self.stream.readable() => {
                    // A player sends nothing more; EOF or an error means it left.
                    if ready.is_err() {
                        return Ok(());
                    }
                    let mut scratch = [0u8; LIVE_READ];
                    match self.stream.try_read(&mut scratch) {
                        Ok(0) => return Ok(()),
                        Ok(n) => record.recv.add(n as u64),
                        // Readiness can be spurious: wait again.
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(_) => return Ok(()),
                    }
                }
                _ = poll_fn(|cx| record.poll_kicked(cx)) => return Err("kicked through the API".into()),
                _ = tokio::time::sleep_until(self.clock.instant(deadline)) => {
                    player.handle_timeout(self.clock.now_ms(), &mut out);
                }
            }
        }
    }
}
