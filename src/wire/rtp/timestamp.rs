//! RTP timestamps (RFC 3550 §5.1) are 32 bits, start at a random value and wrap: about every
//! 13 hours at 90 kHz, 25 hours at 48 kHz. [`Unwrapper`] puts them on a 64-bit timeline.

/// Turns 32-bit RTP timestamps into 64-bit ones that keep counting across the wrap.
///
/// Each timestamp is taken as the nearest to the previous one: a step of less than 2^31
/// forward or backward (B-frames step back; packets may arrive out of order) is a step, so a
/// wrap from `0xFFFF_FF00` to `0x0000_0100` is 512 ticks forward. The first timestamp maps to
/// itself (0 to 2^32 - 1), so the timeline starts wherever the sender's clock did; subtract
/// the first value for a timeline starting at 0. A sender that jumps by 2^31 or more (a
/// restart) is taken at its nearest reading, which may be backwards: callers that need
/// monotonic time must check.
#[derive(Debug, Clone, Default)]
pub struct Unwrapper {
    /// The previous timestamp as sent and as unwrapped.
    last: Option<(u32, i64)>,
}

impl Unwrapper {
    pub fn new() -> Unwrapper {
        Unwrapper::default()
    }

    /// `timestamp` on the 64-bit timeline.
    pub fn unwrap(&mut self, timestamp: u32) -> i64 {
        let value = match self.last {
            None => i64::from(timestamp),
            Some((raw, unwrapped)) => {
                // The wrapping difference read as signed: the nearest step.
                let step = timestamp.wrapping_sub(raw) as i32;
                unwrapped + i64::from(step)
            }
        };
        self.last = Some((timestamp, value));
        value
    }

    /// The last value given out.
    pub fn last(&self) -> Option<i64> {
        self.last.map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_anywhere_and_crosses_the_wrap() {
        let mut u = Unwrapper::new();
        assert_eq!(u.last(), None);
        assert_eq!(u.unwrap(0xffff_fc18), 0xffff_fc18);
        // 1000 ticks later, across the wrap.
        assert_eq!(u.unwrap(0x0000_0000), 0x1_0000_0000);
        assert_eq!(u.unwrap(1000), 0x1_0000_0000 + 1000);
        // A B-frame steps back, across the wrap again.
        assert_eq!(u.unwrap(0xffff_ff00), 0x1_0000_0000 - 256);
        assert_eq!(u.unwrap(3000), 0x1_0000_0000 + 3000);
        assert_eq!(u.last(), Some(0x1_0000_0000 + 3000));
    }

    #[test]
    fn runs_through_several_wraps() {
        let mut u = Unwrapper::new();
        let start: u32 = 0x8000_0000;
        let step: u32 = 3600 * 1000; // 40 s of 90 kHz per step
        let mut expected = i64::from(start);
        let mut ts = start;
        for _ in 0..10_000 {
            assert_eq!(u.unwrap(ts), expected);
            ts = ts.wrapping_add(step);
            expected += i64::from(step);
        }
        assert!(expected > 8 * (1i64 << 32), "crossed several wraps");
    }
}
