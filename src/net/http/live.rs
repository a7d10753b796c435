//! The HTTP driver's live players (HTTP-FLV, HTTP-TS): the player's output written as it
//! comes (merged per `mw_latency`), until it is done, the player leaves (EOF) or is kicked.
//! What to send and when is `server::http::LivePlayer`'s.

use std::future::poll_fn;

use super::{Driver, Error, Stream};
use crate::server::http::LivePlayer;

/// How long a live player sleeps when its layer has no deadline (a spare wake-up is harmless).
const NO_DEADLINE_MS: u64 = 3_600_000;

impl<S: Stream> Driver<S> {
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
                read = self.stream.discard() => match read {
                    // A player sends nothing more; EOF or an error means it left.
                    Ok(0) | Err(_) => return Ok(()),
                    Ok(n) => record.recv.add(n as u64),
                },
                _ = poll_fn(|cx| record.poll_kicked(cx)) => return Err("kicked through the API".into()),
                _ = tokio::time::sleep_until(self.clock.instant(deadline)) => {
                    player.handle_timeout(self.clock.now_ms(), &mut out);
                }
            }
        }
    }
}
