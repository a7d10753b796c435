//! When the RTMP driver reads and wakes: SRS's merged read (`publish.mr`, `mr_latency`) and
//! the one timer a connection's driver keeps. No I/O: the driver sets the socket's low-water
//! mark when [`ReadTiming::handle_mode`] says so and sleeps until [`ReadTiming::deadline`].

/// Merged-read deadlines are rounded up to a multiple of this (ms on the server's clock), so
/// that the publishers' deadlines fall on a few shared instants: a deadline moved by every
/// read still fires where it was first set (the driver's timers are extended lazily), and deadlines of
/// their own would wake the event loop once per publisher per `mr_latency`.
pub const MERGED_READ_GRID_MS: u64 = 50;

/// One connection's read timing.
///
/// ```text
/// plain --handle_mode(Some(ms))--> merged (low-water mark raised) --handle_mode(None)--> plain
/// ```
#[derive(Debug)]
pub struct ReadTiming {
    /// `mr_latency` while merged read is on: the socket reports readable only once a read
    /// buffer's worth waits, and `last_read_ms` + this is a deadline to read whatever is there.
    merged_ms: Option<u64>,
    last_read_ms: u64,
}

impl ReadTiming {
    pub fn new(now_ms: u64) -> ReadTiming {
        ReadTiming {
            merged_ms: None,
            last_read_ms: now_ms,
        }
    }

    /// Merged read as the connection wants it now (`RtmpConn::merged_read_ms`; None where the
    /// socket cannot merge, e.g. over TLS): `Some(on)` when the socket's low-water mark must be
    /// raised (`true`) or put back to one byte (`false`).
    pub fn handle_mode(&mut self, merged_ms: Option<u64>) -> Option<bool> {
        let changed = merged_ms.is_some() != self.merged_ms.is_some();
        self.merged_ms = merged_ms;
        changed.then_some(merged_ms.is_some())
    }

    /// Whether reads are merged (then a deadline also reads what waits below the mark).
    pub fn is_merged(&self) -> bool {
        self.merged_ms.is_some()
    }

    /// Bytes were read (or, merged, read up) at `now_ms`.
    pub fn handle_read(&mut self, now_ms: u64) {
        self.last_read_ms = now_ms;
    }

    /// When the driver must wake: the session's deadline, or with merged read the next read
    /// deadline (on the [`MERGED_READ_GRID_MS`] grid) if that is sooner.
    pub fn deadline(&self, session_deadline: u64) -> u64 {
        self.merged_ms.map_or(session_deadline, |ms| {
            let read = (self.last_read_ms + ms).next_multiple_of(MERGED_READ_GRID_MS);
            session_deadline.min(read)
        })
    }

    /// Whether the timer armed at `armed` moves to `next`: only to an earlier deadline, as
    /// the session's moves later with every byte (the idle timeout counts from the last one)
    /// and re-arming a timer per read cost as much as the read's own bookkeeping (when it
    /// fires early the session finds nothing due); with merged read, to the next read
    /// deadline.
    pub fn rearm(&self, armed: u64, next: u64) -> bool {
        next < armed || (self.is_merged() && next != armed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_low_water_mark_changes_only_when_merged_read_turns_on_or_off() {
        let mut timing = ReadTiming::new(0);
        assert_eq!(timing.handle_mode(None), None);
        assert_eq!(timing.handle_mode(Some(350)), Some(true));
        assert_eq!(timing.handle_mode(Some(500)), None);
        assert!(timing.is_merged());
        assert_eq!(timing.handle_mode(None), Some(false));
        assert!(!timing.is_merged());
    }

    #[test]
    fn merged_read_deadlines_fall_on_the_grid_unless_the_session_is_due_first() {
        let mut timing = ReadTiming::new(1_003);
        assert_eq!(timing.deadline(9_000), 9_000);
        timing.handle_mode(Some(350));
        // 1,003 + 350 = 1,353, up to the next multiple of 50.
        assert_eq!(timing.deadline(9_000), 1_400);
        assert_eq!(timing.deadline(1_200), 1_200);
        timing.handle_read(1_400);
        assert_eq!(timing.deadline(9_000), 1_750);
    }

    #[test]
    fn the_timer_moves_earlier_only_unless_reads_are_merged() {
        let mut timing = ReadTiming::new(0);
        assert!(timing.rearm(5_000, 4_000));
        assert!(!timing.rearm(5_000, 6_000));
        assert!(!timing.rearm(5_000, 5_000));
        timing.handle_mode(Some(100));
        assert!(timing.rearm(5_000, 6_000));
        assert!(!timing.rearm(5_000, 5_000));
    }
}
