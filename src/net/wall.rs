//! The wall clock and the local time zone, for recording file names (`server::dvr`): the
//! only place that asks the C library for local time.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::WallTime;
use crate::server::dvr::WallClock;

/// The system's clock and time zone (TZ, /etc/localtime, OpenWrt's /etc/TZ: whatever the C
/// library reads). The time zone files are read once, by the first call, which [`Self::new`]
/// makes before the server starts, so that no later call reads a file on the event loop.
#[derive(Debug)]
pub struct SystemWall;

impl SystemWall {
    pub fn new() -> SystemWall {
        let wall = SystemWall;
        let t = wall.now();
        log::debug!(
            "local time is UTC{:+03}:{:02}",
            t.utc_offset_s / 3600,
            (t.utc_offset_s % 3600).abs() / 60
        );
        wall
    }
}

impl Default for SystemWall {
    fn default() -> Self {
        SystemWall::new()
    }
}

impl WallClock for SystemWall {
    fn now(&self) -> WallTime {
        let unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        WallTime {
            unix_ms,
            utc_offset_s: utc_offset_s((unix_ms / 1000) as i64),
        }
    }
}

/// Local time minus UTC at `unix_s`, in seconds; 0 when the C library cannot tell.
fn utc_offset_s(unix_s: i64) -> i32 {
    use nix::libc;
    // The type of `t` is the C library's time_t, inferred from `localtime_r` (the libc crate
    // deprecates naming it on musl, whose time_t became 64 bits in 1.2). A 32-bit time_t (old
    // 32-bit glibc) cannot hold a time after 2038: no offset rather than a wrapped time.
    #[allow(clippy::useless_conversion)] // i64 to i64 where time_t is 64 bits
    let Some(t) = unix_s.try_into().ok() else {
        return 0;
    };
    let mut tm = std::mem::MaybeUninit::<libc::tm>::zeroed();
    // SAFETY: `localtime_r` is the reentrant form: it reads `t` and writes only the `tm` we
    // own (zeroed, so it is initialised whatever the call does); it returns null on failure.
    let tm = unsafe {
        if libc::localtime_r(&t, tm.as_mut_ptr()).is_null() {
            return 0;
        }
        tm.assume_init()
    };
    i32::try_from(tm.tm_gmtoff).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offset_is_within_a_day_and_now_is_after_2024() {
        let t = SystemWall.now();
        assert!(t.utc_offset_s.abs() <= 14 * 3600, "{t:?}");
        assert!(t.unix_ms > 1_704_067_200_000, "{t:?}");
    }
}
