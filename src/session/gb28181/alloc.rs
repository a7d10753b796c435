//! What each call takes: an SSRC for our offer and, for UDP media, a port from the configured
//! range. A port returns when the driver has closed its socket (after the offer failed or the
//! call ended), so it is never offered again while still bound.

use super::call::MediaTransport;
use crate::wire::sdp;

#[derive(Debug, Default)]
pub struct Alloc {
    /// UDP media ports in use (one per call at most, so bounded by the range's size).
    used_udp_ports: Vec<u16>,
    /// The sequence part of the next SSRC.
    ssrc_seq: u32,
}

impl Alloc {
    /// The SSRC of a new offer, as text (for `y=` and `Subject`) and as the number RTP carries.
    /// GB/T 28181-2016 §9 (Annex F's `y=`): "0" (live) + digits 4–8 of the domain + a 4-digit
    /// sequence.
    pub fn ssrc(&mut self, domain: &str) -> (String, u32) {
        let digits: String = domain
            .chars()
            .filter(char::is_ascii_digit)
            .skip(3)
            .take(5)
            .collect();
        self.ssrc_seq = (self.ssrc_seq + 1) % 10_000;
        let text = format!("0{digits:0>5}{:04}", self.ssrc_seq);
        let value = text.parse().unwrap_or(0);
        (text, value)
    }

    /// The transport of a new call: for UDP, the lowest free port of `ports`; None when all
    /// are taken.
    pub fn transport(&mut self, kind: sdp::Transport, ports: (u16, u16)) -> Option<MediaTransport> {
        Some(match kind {
            sdp::Transport::TcpPassive => MediaTransport::TcpPassive,
            sdp::Transport::TcpActive => MediaTransport::TcpActive,
            sdp::Transport::Udp => {
                let (lo, hi) = ports;
                let port = (lo..=hi).find(|p| !self.used_udp_ports.contains(p))?;
                self.used_udp_ports.push(port);
                MediaTransport::Udp { port }
            }
        })
    }

    /// Gives back what `transport` took.
    pub fn release(&mut self, transport: MediaTransport) {
        if let MediaTransport::Udp { port } = transport {
            self.release_port(port);
        }
    }

    pub fn release_port(&mut self, port: u16) {
        self.used_udp_ports.retain(|p| *p != port);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssrc_is_live_flag_domain_digits_and_a_sequence() {
        let mut a = Alloc::default();
        assert_eq!(a.ssrc("3402000000"), ("0200000001".into(), 200_000_001));
        assert_eq!(a.ssrc("3402000000").0, "0200000002");
        assert_eq!(a.ssrc("34").0, "0000000003", "short domains are padded");
    }

    #[test]
    fn udp_ports_are_taken_lowest_first_and_given_back() {
        let mut a = Alloc::default();
        let udp = sdp::Transport::Udp;
        assert_eq!(
            a.transport(udp, (30000, 30001)),
            Some(MediaTransport::Udp { port: 30000 })
        );
        assert_eq!(
            a.transport(udp, (30000, 30001)),
            Some(MediaTransport::Udp { port: 30001 })
        );
        assert_eq!(a.transport(udp, (30000, 30001)), None, "range exhausted");
        a.release(MediaTransport::Udp { port: 30000 });
        assert_eq!(
            a.transport(udp, (30000, 30001)),
            Some(MediaTransport::Udp { port: 30000 })
        );
        a.release_port(30001);
        assert_eq!(
            a.transport(sdp::Transport::TcpPassive, (30000, 30001)),
            Some(MediaTransport::TcpPassive)
        );
        assert_eq!(
            a.transport(udp, (30000, 30001)),
            Some(MediaTransport::Udp { port: 30001 })
        );
    }
}
