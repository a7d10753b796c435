//! Failed API logins, per client address (beyond SRS, which lets a client guess for ever):
//! after [`MAX_FAILURES`] wrong credentials within [`WINDOW_MS`] an address is refused (HTTP
//! 429, its credentials not even checked) for [`BLOCK_MS`]. A request without credentials is
//! not a failure (a browser asks without them first); a right one clears the address.
//!
//! Bounded: [`MAX_ADDRESSES`] addresses are remembered; a new one takes the place of the one
//! whose record ends first (an unblocked one before a blocked one).

use std::net::IpAddr;

/// Wrong credentials from one address that start a block.
pub const MAX_FAILURES: u32 = 5;
/// The time in which they count.
pub const WINDOW_MS: u64 = 60_000;
/// How long a blocked address is refused.
pub const BLOCK_MS: u64 = 60_000;
/// Addresses remembered at once (RAM: `MAX_ADDRESSES x 40 B`).
pub const MAX_ADDRESSES: usize = 64;

#[derive(Debug, Clone, Copy)]
struct Entry {
    ip: IpAddr,
    failures: u32,
    first_ms: u64,
    blocked_until_ms: u64,
}

impl Entry {
    /// When this record no longer matters.
    fn ends_ms(&self) -> u64 {
        self.blocked_until_ms.max(self.first_ms + WINDOW_MS)
    }
}

/// What a failure did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Counted: `n` of [`MAX_FAILURES`].
    Counted(u32),
    /// This one started a block of [`BLOCK_MS`].
    Blocked,
}

/// The failed logins of recent addresses.
#[derive(Debug, Default)]
pub struct Logins {
    entries: Vec<Entry>,
}

impl Logins {
    /// Whether `ip` is refused now.
    pub fn blocked(&self, ip: IpAddr, now_ms: u64) -> bool {
        self.entries
            .iter()
            .any(|e| e.ip == ip && e.blocked_until_ms > now_ms)
    }

    /// Wrong credentials from `ip`.
    pub fn failed(&mut self, ip: IpAddr, now_ms: u64) -> Failure {
        self.entries.retain(|e| e.ends_ms() > now_ms);
        let entry = match self.entries.iter_mut().position(|e| e.ip == ip) {
            Some(i) => &mut self.entries[i],
            None => {
                if self.entries.len() >= MAX_ADDRESSES {
                    let oldest = (0..self.entries.len())
                        .min_by_key(|&i| {
                            let e = &self.entries[i];
                            (e.blocked_until_ms > now_ms, e.ends_ms())
                        })
                        .unwrap_or(0);
                    self.entries.swap_remove(oldest);
                }
                self.entries.push(Entry {
                    ip,
                    failures: 0,
                    first_ms: now_ms,
                    blocked_until_ms: 0,
                });
                let last = self.entries.len() - 1;
                &mut self.entries[last]
            }
        };
        if now_ms.saturating_sub(entry.first_ms) >= WINDOW_MS {
            entry.failures = 0;
            entry.first_ms = now_ms;
        }
        entry.failures += 1;
        if entry.failures >= MAX_FAILURES {
            entry.failures = 0;
            entry.first_ms = now_ms;
            entry.blocked_until_ms = now_ms + BLOCK_MS;
            return Failure::Blocked;
        }
        Failure::Counted(entry.failures)
    }

    /// Right credentials from `ip`: its failures are forgotten.
    pub fn succeeded(&mut self, ip: IpAddr) {
        self.entries.retain(|e| e.ip != ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, n])
    }

    #[test]
    fn five_failures_in_a_minute_block_for_a_minute() {
        let mut l = Logins::default();
        for n in 1..MAX_FAILURES {
            assert_eq!(l.failed(ip(1), u64::from(n) * 1000), Failure::Counted(n));
            assert!(!l.blocked(ip(1), u64::from(n) * 1000));
        }
        assert_eq!(l.failed(ip(1), 10_000), Failure::Blocked);
        assert!(l.blocked(ip(1), 10_000));
        assert!(!l.blocked(ip(2), 10_000), "only that address");
        assert!(l.blocked(ip(1), 10_000 + BLOCK_MS - 1));
        assert!(!l.blocked(ip(1), 10_000 + BLOCK_MS));
    }

    #[test]
    fn failures_spread_over_more_than_the_window_do_not_block() {
        let mut l = Logins::default();
        for n in 0..20u64 {
            assert_ne!(l.failed(ip(1), n * (WINDOW_MS / 3)), Failure::Blocked);
        }
    }

    #[test]
    fn success_forgets_and_the_table_is_bounded() {
        let mut l = Logins::default();
        for _ in 0..MAX_FAILURES - 1 {
            l.failed(ip(1), 0);
        }
        l.succeeded(ip(1));
        assert_eq!(l.failed(ip(1), 0), Failure::Counted(1));
        // Many addresses: the table stays bounded, and a blocked one outlives unblocked ones.
        for _ in 0..MAX_FAILURES - 1 {
            l.failed(ip(1), 0);
        }
        assert!(l.blocked(ip(1), 1));
        for n in 0..=255u8 {
            l.failed(IpAddr::from([198, 51, 100, n]), 2);
            assert!(l.entries.len() <= MAX_ADDRESSES);
        }
        assert!(l.blocked(ip(1), 3));
    }
}
