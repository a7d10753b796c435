//! Timestamp correction for a Source (SRS's `time_jitter`), applied once per frame at ingest so
//! that every player shares the same timeline and the same encoded bytes.
//!
//! Input timestamps are RTMP's 32-bit milliseconds. They are first unwrapped onto a 64-bit
//! timeline (a step of more than 2^31 backwards is a wrap after 49.7 days, not a jump back),
//! then corrected:
//! - `Full`: a step outside [-250, +250] ms is replaced by a 10 ms step (SRS's constants),
//!   so a publisher that restarts its clock or jumps does not stall players; the result
//!   never goes below zero.
//! - `Zero`: the first timestamp becomes 0, steps are kept.
//! - `Off`: unwrapped but otherwise untouched.

/// How outgoing timestamps are corrected (SRS: `play.time_jitter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeJitter {
    /// Make timestamps monotonic and remove jumps, keeping the stream's own pacing.
    Full,
    /// Only shift timestamps so that the stream starts at zero.
    Zero,
    /// Pass the publisher's timestamps through unchanged.
    Off,
}

impl TimeJitter {
    /// Every mode, in the order the config file's error message lists them.
    pub const ALL: [TimeJitter; 3] = [TimeJitter::Full, TimeJitter::Zero, TimeJitter::Off];

    /// The word used in the config file (SRS's words).
    pub fn as_str(self) -> &'static str {
        match self {
            TimeJitter::Full => "full",
            TimeJitter::Zero => "zero",
            TimeJitter::Off => "off",
        }
    }
}

/// Largest step, either way, that `Full` keeps as is (SRS: CONST_MAX_JITTER_MS).
pub const MAX_JITTER_MS: i64 = 250;
/// The step `Full` uses in place of a larger one (SRS: DEFAULT_FRAME_TIME_MS).
pub const DEFAULT_FRAME_TIME_MS: i64 = 10;

#[derive(Debug, Clone)]
pub struct Jitter {
    mode: TimeJitter,
    /// Last raw 32-bit timestamp seen and its unwrapped value.
    last_raw: Option<(u32, i64)>,
    first_unwrapped: i64,
    last_corrected: i64,
}

impl Jitter {
    pub fn new(mode: TimeJitter) -> Jitter {
        Jitter {
            mode,
            last_raw: None,
            first_unwrapped: 0,
            last_corrected: 0,
        }
    }

    /// Corrects one timestamp.
    pub fn correct(&mut self, raw: u32) -> i64 {
        let Some((last_raw, last_unwrapped)) = self.last_raw else {
            self.last_raw = Some((raw, i64::from(raw)));
            self.first_unwrapped = i64::from(raw);
            self.last_corrected = match self.mode {
                TimeJitter::Off => i64::from(raw),
                TimeJitter::Zero | TimeJitter::Full => 0,
            };
            return self.last_corrected;
        };
        // Signed 32-bit distance: a wrap from 0xFFFF_FFF0 to 0x10 is a step of +0x20.
        let step = i64::from(raw.wrapping_sub(last_raw) as i32);
        let unwrapped = last_unwrapped + step;
        self.last_raw = Some((raw, unwrapped));
        self.last_corrected = match self.mode {
            TimeJitter::Off => unwrapped,
            TimeJitter::Zero => unwrapped - self.first_unwrapped,
            TimeJitter::Full => {
                let step = if (-MAX_JITTER_MS..=MAX_JITTER_MS).contains(&step) {
                    step
                } else {
                    DEFAULT_FRAME_TIME_MS
                };
                (self.last_corrected + step).max(0)
            }
        };
        self.last_corrected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(mode: TimeJitter, input: &[u32]) -> Vec<i64> {
        let mut j = Jitter::new(mode);
        input.iter().map(|&t| j.correct(t)).collect()
    }

    #[test]
    fn full_starts_at_zero_and_smooths_jumps() {
        let out = run(
            TimeJitter::Full,
            &[1000, 1040, 1080, 90_000, 90_040, 500, 540],
        );
        assert_eq!(out, vec![0, 40, 80, 90, 130, 140, 180]);
    }

    #[test]
    fn full_keeps_small_negative_steps_but_not_below_zero() {
        let out = run(TimeJitter::Full, &[0, 40, 30, 10, 0]);
        assert_eq!(out, vec![0, 40, 30, 10, 0]);
        let out = run(TimeJitter::Full, &[100, 90]);
        assert_eq!(out, vec![0, 0]);
    }

    #[test]
    fn zero_and_off() {
        assert_eq!(run(TimeJitter::Zero, &[500, 540, 400]), vec![0, 40, -100]);
        assert_eq!(run(TimeJitter::Off, &[500, 540, 400]), vec![500, 540, 400]);
    }

    #[test]
    fn wrap_after_49_7_days_is_a_small_step() {
        let out = run(TimeJitter::Off, &[u32::MAX - 19, u32::MAX, 20]);
        assert_eq!(
            out,
            vec![
                i64::from(u32::MAX) - 19,
                i64::from(u32::MAX),
                i64::from(u32::MAX) + 21
            ]
        );
        // What players receive: 32-bit truncation continues across the wrap.
        assert_eq!(out[2] as u32, 20);
        let out = run(TimeJitter::Full, &[u32::MAX - 19, u32::MAX, 20]);
        assert_eq!(out, vec![0, 19, 40]);
    }
}
