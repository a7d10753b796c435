//! Trickle ICE for WHIP and WHEP sessions (RFC 9725 §4.3.1, RFC 8840 fragments): a `PATCH`
//! of a session's resource with an `application/trickle-ice-sdpfrag` body gives the session
//! the client's candidates gathered after its offer.
//!
//! What a caller must know:
//! - [`RtcServer::trickle`] takes the fragment's text; the HTTP glue checks the method, the
//!   media type (415) and `If-Match` (412), and answers 204 when this returns `Ok`.
//! - The fragment's `a=ice-ufrag`/`a=ice-pwd`, when present, must be the offer's: other ones
//!   ask for an ICE restart, which is not supported (422, as RFC 9725 wants from a server
//!   that trickles but does not restart). The client then makes a new session.
//! - Every candidate line is checked before any is added: one bad line refuses the fragment
//!   (400) and changes nothing. mDNS host candidates (`<uuid>.local`, a browser's hidden
//!   address) are skipped.
//! - Our side is ICE-lite: the session answers the client's checks from any address and never
//!   checks pairs itself, so added candidates change no connectivity; a client that trickles
//!   gets a protocol answer instead of 405, and the candidates are in str0m's agent.

use str0m::Candidate;

use super::RtcServer;
use crate::wire::sdp::trickle::{self, FragmentError};

/// The ICE credentials of a session's offer (`None` when it had none), for comparing with a
/// `PATCH`'s.
#[derive(Debug, Default)]
pub struct RemoteIce(Option<(String, String)>);

impl RemoteIce {
    pub fn of(offer: &str) -> RemoteIce {
        RemoteIce(trickle::credentials(offer).map(|(u, p)| (u.to_owned(), p.to_owned())))
    }

    /// A fragment with `credentials` belongs to the same ICE session (not a restart).
    fn same(&self, credentials: (&str, &str)) -> bool {
        match &self.0 {
            Some((u, p)) => (u.as_str(), p.as_str()) == credentials,
            // An offer without credentials cannot have been answered; nothing to compare.
            None => true,
        }
    }
}

/// A host candidate whose address is an mDNS name (`<uuid>.local`, which browsers give
/// instead of their addresses: draft-ietf-mmusic-mdns-ice-candidates). We do not resolve
/// them, so they are skipped, as that draft asks of such an agent; the browser's checks
/// reach us from its real address anyway.
fn is_mdns(candidate_line: &str) -> bool {
    candidate_line
        .split_ascii_whitespace()
        .nth(4)
        .is_some_and(|address| address.to_ascii_lowercase().ends_with(".local"))
}

/// Why a `PATCH` is refused, with its HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum TrickleError {
    #[error("no such session")]
    NotFound,
    #[error("bad fragment: {0}")]
    Fragment(#[from] FragmentError),
    #[error("bad candidate {line:?}: {why}")]
    BadCandidate { line: String, why: String },
    #[error("ICE restart is not supported: the fragment's ice-ufrag/ice-pwd are not the offer's")]
    Restart,
}

impl TrickleError {
    pub fn status(&self) -> u16 {
        match self {
            TrickleError::NotFound => 404,
            TrickleError::Fragment(_) | TrickleError::BadCandidate { .. } => 400,
            TrickleError::Restart => 422,
        }
    }
}

impl RtcServer {
    /// A trickle ICE fragment for session `id` (WHEP player or WHIP publisher): the number of
    /// candidates added.
    pub fn trickle(&mut self, id: u64, fragment: &str, now_ms: u64) -> Result<usize, TrickleError> {
        let publisher = self.publishers.iter().position(|p| p.id == id);
        let session = self.sessions.iter().position(|s| s.id == id);
        if publisher.is_none() && session.is_none() {
            return Err(TrickleError::NotFound);
        }
        let f = trickle::parse(fragment)?;
        let mut candidates = Vec::with_capacity(f.candidates.len());
        for line in f.candidates.iter().filter(|l| !is_mdns(l)) {
            let c = Candidate::from_sdp_string(line).map_err(|e| TrickleError::BadCandidate {
                line: line.chars().take(128).collect(),
                why: e.to_string(),
            })?;
            candidates.push(c);
        }
        let remote = match (publisher, session) {
            (Some(i), _) => &self.publishers[i].remote_ice,
            (None, Some(i)) => &self.sessions[i].remote_ice,
            (None, None) => return Err(TrickleError::NotFound),
        };
        if f.credentials.is_some_and(|c| !remote.same(c)) {
            return Err(TrickleError::Restart);
        }
        let added = candidates.len();
        let skipped = f.candidates.len() - added;
        if let Some(i) = publisher {
            let p = &mut self.publishers[i];
            for c in candidates {
                p.rtc.add_remote_candidate(c);
            }
            p.drain(now_ms, &mut self.out, &mut self.dropped_transmits);
        } else if let Some(i) = session {
            let s = &mut self.sessions[i];
            for c in candidates {
                s.rtc.add_remote_candidate(c);
            }
            super::drain(s, &mut self.out, &mut self.dropped_transmits);
        }
        log::debug!(
            "rtc: session {id}: {added} trickled candidates, {skipped} mDNS skipped{}",
            if f.end_of_candidates {
                ", end of candidates"
            } else {
                ""
            }
        );
        self.wake();
        Ok(added)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chromium_candidate_lines_are_taken_by_the_ice_agent() {
        for line in [
            "candidate:2415481232 1 udp 2122260223 192.0.2.1 49152 typ host generation 0 ufrag kbva network-id 1",
            "candidate:473322822 1 tcp 1518280447 192.0.2.1 9 typ host tcptype active generation 0 ufrag kbva network-id 1",
            "candidate:842163049 1 udp 1686052607 203.0.113.7 61764 typ srflx raddr 192.0.2.1 rport 61764 generation 0 ufrag kbva network-id 1",
        ] {
            assert!(Candidate::from_sdp_string(line).is_ok(), "{line}");
        }
        assert!(Candidate::from_sdp_string("candidate:1 1 udp nope 192.0.2.1 x typ host").is_err());
        let mdns = "candidate:1840965416 1 udp 2113937151 6c1a9d0e-4f0b-4b7a-9c4e-2f1d3e5a7b9c.local 54400 typ host generation 0 ufrag kbva network-cost 999";
        assert!(is_mdns(mdns));
        assert!(!is_mdns(
            "candidate:2415481232 1 udp 2122260223 192.0.2.1 49152 typ host"
        ));
    }

    #[test]
    fn credentials_other_than_the_offers_are_a_restart() {
        let ice =
            RemoteIce::of("v=0\r\na=ice-ufrag:kbva\r\na=ice-pwd:iJ+P9kt4Nes9QTB/S6rTTViF\r\n");
        assert!(ice.same(("kbva", "iJ+P9kt4Nes9QTB/S6rTTViF")));
        assert!(!ice.same(("kbva", "another-password-entirely")));
        assert!(!ice.same(("newU", "iJ+P9kt4Nes9QTB/S6rTTViF")));
    }
}
