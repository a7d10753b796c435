//! Helpers shared by unit tests.

// Each feature set uses some of them (as with tests/common).
#![allow(dead_code)]

// The interop tests that run ffmpeg are MPEG-TS's and MPEG-PS's.
#[cfg(feature = "mpegts")]
mod ffmpeg;
#[cfg(feature = "mpegts")]
pub use ffmpeg::{ffmpeg, have_tools};

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

static NEXT_DIR: AtomicUsize = AtomicUsize::new(0);

/// A scratch directory for one test, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let n = NEXT_DIR.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("tinysrs-unit-{}-{n}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    // The PS interop tests read ffmpeg's output.
    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.file(name)).expect("read ffmpeg output")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// xorshift64: a fixed, dependency-free sequence for the fuzz loops in unit tests, so a
/// failure is reproducible from its seed and iteration number.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// The clock's now, for unit tests of sans-IO code that takes an `Instant` (str0m's time);
/// the layers below `net` never read the clock themselves (ci/check-arch).
pub fn now() -> std::time::Instant {
    std::time::Instant::now()
}
