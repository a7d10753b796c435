//! Which UDP ports a player's UDP SETUP is given: an even RTP port and the odd RTCP port
//! after it (RFC 3550 §11), from `rtsp_server.rtp_port_min..=rtp_port_max` starting at the
//! pair after the last one taken, or any pair the kernel picks when the range is `(0, 0)`.
//! `net::rtsp_server` binds what [`PortPairs`] names until a pair binds.

/// Tries at binding an even RTP port and the odd RTCP port after it, before a UDP SETUP is
/// answered 500 (kernel-picked ports: an odd one is given back and tried again).
pub const BIND_ATTEMPTS: usize = 16;

/// Pairs of a configured range tried for one SETUP at most. Why: each try is two `bind`
/// calls on the event loop; a range in use has its free pairs just after the last one
/// taken, so a full scan of a 30,000-pair range is not needed.
pub const MAX_RANGE_ATTEMPTS: usize = 256;

/// The RTP ports to try for one SETUP, in order (0: any the kernel picks).
#[derive(Debug, Clone)]
pub struct PortPairs {
    range: (u16, u16),
    pairs: usize,
    left: usize,
    next: usize,
}

impl PortPairs {
    /// The tries for `range`, from its `next`th pair (the thread's cursor, kept by the
    /// driver across SETUPs).
    pub fn new(range: (u16, u16), next: usize) -> PortPairs {
        let pairs = usize::from(range.1.saturating_sub(range.0) / 2) + 1;
        let left = match range {
            (0, 0) => BIND_ATTEMPTS,
            _ => pairs.min(MAX_RANGE_ATTEMPTS),
        };
        PortPairs {
            range,
            pairs,
            left,
            next,
        }
    }

    /// The cursor after the tries given so far: where the next SETUP starts.
    pub fn cursor(&self) -> usize {
        self.next
    }

    /// Whether the RTP port `bound` can open a pair (even, with an RTCP port after it).
    pub fn usable(bound: u16) -> bool {
        bound % 2 == 0 && bound < u16::MAX
    }
}

impl Iterator for PortPairs {
    type Item = u16;

    fn next(&mut self) -> Option<u16> {
        self.left = self.left.checked_sub(1)?;
        Some(match self.range {
            (0, 0) => 0,
            (min, _) => {
                let i = self.next % self.pairs;
                self.next = i + 1;
                // Within the range by construction: i < pairs.
                min + 2 * i as u16
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_ports_are_tried_a_bounded_number_of_times() {
        let tries: Vec<u16> = PortPairs::new((0, 0), 7).collect();
        assert_eq!(tries, vec![0; BIND_ATTEMPTS]);
    }

    #[test]
    fn a_range_is_tried_from_the_cursor_round_once() {
        let mut pairs = PortPairs::new((21100, 21107), 2);
        let tries: Vec<u16> = pairs.by_ref().collect();
        assert_eq!(tries, [21104, 21106, 21100, 21102]);
        assert_eq!(pairs.cursor(), 2);
        // An odd bound is one even port less.
        let tries: Vec<u16> = PortPairs::new((21100, 21105), 0).collect();
        assert_eq!(tries, [21100, 21102, 21104]);
    }

    #[test]
    fn a_wide_range_is_tried_at_most_max_range_attempts_times() {
        assert_eq!(PortPairs::new((1024, 65534), 0).count(), MAX_RANGE_ATTEMPTS);
    }

    #[test]
    fn only_even_ports_below_the_last_open_a_pair() {
        assert!(PortPairs::usable(21100));
        assert!(!PortPairs::usable(21101));
        assert!(!PortPairs::usable(u16::MAX));
    }
}
