//! Figures: the latency histogram, percentiles across players, the monotonic clock the stamps
//! use, and CPU/RSS of a process read from /proc.

use nix::time::{clock_gettime, ClockId};

/// Microseconds of CLOCK_MONOTONIC: the same clock in every process on the host, so a stamp
/// written by one process can be compared in another.
pub fn mono_us() -> u64 {
    clock_gettime(ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as u64 * 1_000_000 + t.tv_nsec() as u64 / 1000)
        .unwrap_or(0)
}

/// 10 µs buckets up to 100 ms, then 1 ms buckets up to 10 s; later values go in the last.
const FINE_BUCKETS: usize = 10_000;
const FINE_US: u64 = 10;
const COARSE_BUCKETS: usize = 9_900;
const COARSE_US: u64 = 1000;

/// Latency histogram (about 80 KiB; the bench keeps two).
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u32>,
    total: u64,
    max_us: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; FINE_BUCKETS + COARSE_BUCKETS],
            total: 0,
            max_us: 0,
        }
    }
}

impl Histogram {
    pub fn record(&mut self, us: u64) {
        let fine_end = FINE_BUCKETS as u64 * FINE_US;
        let i = if us < fine_end {
            (us / FINE_US) as usize
        } else {
            (FINE_BUCKETS + ((us - fine_end) / COARSE_US) as usize)
                .min(FINE_BUCKETS + COARSE_BUCKETS - 1)
        };
        self.counts[i] = self.counts[i].saturating_add(1);
        self.total += 1;
        self.max_us = self.max_us.max(us);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn max_ms(&self) -> f64 {
        self.max_us as f64 / 1000.0
    }

    /// The upper edge of the bucket holding the `p`-th percentile, in ms (0 when empty).
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        let rank = ((p / 100.0) * self.total as f64).ceil().max(1.0) as u64;
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += u64::from(c);
            if seen >= rank {
                let upper_us = if i < FINE_BUCKETS {
                    (i as u64 + 1) * FINE_US
                } else {
                    FINE_BUCKETS as u64 * FINE_US + (i - FINE_BUCKETS + 1) as u64 * COARSE_US
                };
                return upper_us.min(self.max_us) as f64 / 1000.0;
            }
        }
        self.max_ms()
    }

    pub fn clear(&mut self) {
        self.counts.iter_mut().for_each(|c| *c = 0);
        self.total = 0;
        self.max_us = 0;
    }
}

/// Min, median and max of `values` (sorted in place); zeros when empty.
pub fn min_median_max(values: &mut [f64]) -> (f64, f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    values.sort_by(f64::total_cmp);
    (
        values[0],
        values[values.len() / 2],
        values[values.len() - 1],
    )
}

/// CPU seconds (utime + stime) of a process from /proc/PID/stat. Linux reports them in clock
/// ticks of USER_HZ, which is 100 on every architecture the kernel's ABI defines.
pub fn proc_cpu_s(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after its ')' are plain.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // After ')': state is field 3, so utime (14) and stime (15) are the 12th and 13th here.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// A `Vm*` line of /proc/PID/status, in KiB.
pub fn proc_status_kb(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// CPU seconds of this thread (user + system), from getrusage(RUSAGE_THREAD).
#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd"))]
pub fn thread_cpu_s() -> f64 {
    rusage_s(nix::sys::resource::UsageWho::RUSAGE_THREAD)
}

/// Where there is no RUSAGE_THREAD (macOS, for developers' builds): the whole process, so a
/// blast's CPU figure there also counts the other threads.
#[cfg(not(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd")))]
pub fn thread_cpu_s() -> f64 {
    self_cpu_s()
}

/// CPU seconds of this process (user + system).
pub fn self_cpu_s() -> f64 {
    rusage_s(nix::sys::resource::UsageWho::RUSAGE_SELF)
}

fn rusage_s(who: nix::sys::resource::UsageWho) -> f64 {
    match nix::sys::resource::getrusage(who) {
        Ok(u) => {
            let t = |tv: nix::sys::time::TimeVal| tv.tv_sec() as f64 + tv.tv_usec() as f64 / 1e6;
            t(u.user_time()) + t(u.system_time())
        }
        Err(_) => 0.0,
    }
}

/// Raises the open-file limit to the hard limit (players need one descriptor each).
pub fn raise_nofile() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_histogram() {
        let mut h = Histogram::default();
        assert_eq!(h.percentile_ms(50.0), 0.0);
        for us in 1..=1000 {
            h.record(us * 10);
        }
        assert_eq!(h.count(), 1000);
        assert!((h.percentile_ms(50.0) - 5.0).abs() < 0.02);
        assert!((h.percentile_ms(99.0) - 9.9).abs() < 0.02);
        assert_eq!(h.max_ms(), 10.0);
        h.record(250_000);
        h.record(u64::MAX / 2);
        assert!(h.percentile_ms(100.0) > 9000.0);
    }

    #[test]
    fn reads_our_own_proc_entries() {
        let pid = std::process::id();
        assert!(proc_cpu_s(pid).is_some());
        assert!(proc_status_kb(pid, "VmRSS").unwrap() > 0);
        assert!(mono_us() > 0);
    }
}
