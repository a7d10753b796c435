//! Helpers shared by unit tests.

// The interop tests that run ffmpeg are MPEG-TS's and MPEG-PS's.
#[cfg(feature = "mpegts")]
mod ffmpeg;
#[cfg(feature = "mpegts")]
pub use ffmpeg::{ffmpeg, have_tools, TempDir};

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
