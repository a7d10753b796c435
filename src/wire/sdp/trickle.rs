//! Trickle ICE SDP fragments (RFC 8840 §9, media type `application/trickle-ice-sdpfrag`): the
//! body of a WHIP/WHEP `PATCH` on a session's resource (RFC 9725 §4.3.1), which carries the
//! client's ICE credentials, the `m=`/`a=mid` lines the candidates belong to, candidates
//! gathered after the offer, and `a=end-of-candidates`.
//!
//! Pure code: text in, [`Fragment`] out, borrowing from the text. The candidate lines are
//! handed on as text (`candidate:...`, without `a=`); their grammar is the ICE agent's to check.
//!
//! # Leniency
//! - CRLF or LF line ends, blank lines, trailing spaces.
//! - Lines other than the ones read (`a=ice-options:`, `a=group:`, `m=`, ...) are ignored.
//! - The first `a=ice-ufrag:`/`a=ice-pwd:`/`a=mid:` counts; a fragment may hold several media
//!   sections (a client without BUNDLE), and all their candidates are kept.
//!
//! # Refused ([`FragmentError`])
//! - A body over [`MAX_FRAGMENT_LEN`] bytes, a line that is not `<letter>=<value>`.
//! - More than [`MAX_CANDIDATES`] candidates (no allocation grows with the peer's count).
//! - An ICE ufrag without a password or the other way round: a restart needs both.

/// The largest fragment taken: a browser's few candidates are a few hundred bytes.
pub const MAX_FRAGMENT_LEN: usize = 8 * 1024;
/// Candidates one fragment may carry (a browser with every interface, IPv4 and IPv6, UDP
/// and TCP, host and server-reflexive, has well under this).
pub const MAX_CANDIDATES: usize = 32;

/// What a fragment says.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Fragment<'a> {
    /// `a=ice-ufrag:` and `a=ice-pwd:`, both or neither.
    pub credentials: Option<(&'a str, &'a str)>,
    /// The first `a=mid:`.
    pub mid: Option<&'a str>,
    /// Each `a=candidate:` line's value with its `candidate:` name (`candidate:1 1 udp ...`).
    pub candidates: Vec<&'a str>,
    /// `a=end-of-candidates` was present.
    pub end_of_candidates: bool,
}

/// Why a fragment was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FragmentError {
    #[error("fragment longer than {MAX_FRAGMENT_LEN} bytes")]
    TooLong,
    #[error("line {0} is not <letter>=<value>")]
    BadLine(usize),
    #[error("more than {MAX_CANDIDATES} candidates")]
    TooManyCandidates,
    #[error("ice-ufrag and ice-pwd must come together")]
    HalfCredentials,
}

/// Reads a trickle ICE fragment.
pub fn parse(text: &str) -> Result<Fragment<'_>, FragmentError> {
    if text.len() > MAX_FRAGMENT_LEN {
        return Err(FragmentError::TooLong);
    }
    let mut f = Fragment::default();
    let (mut ufrag, mut pwd) = (None, None);
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        let b = line.as_bytes();
        if b.len() < 2 || !b[0].is_ascii_lowercase() || b[1] != b'=' {
            return Err(FragmentError::BadLine(n + 1));
        }
        let Some(attr) = line.strip_prefix("a=") else {
            continue;
        };
        if attr.starts_with("candidate:") {
            if f.candidates.len() == MAX_CANDIDATES {
                return Err(FragmentError::TooManyCandidates);
            }
            f.candidates.push(attr);
        } else if attr == "end-of-candidates" {
            f.end_of_candidates = true;
        } else if let Some(v) = attr.strip_prefix("ice-ufrag:") {
            ufrag = ufrag.or(Some(v.trim()));
        } else if let Some(v) = attr.strip_prefix("ice-pwd:") {
            pwd = pwd.or(Some(v.trim()));
        } else if let Some(v) = attr.strip_prefix("mid:") {
            f.mid = f.mid.or(Some(v.trim()));
        }
    }
    f.credentials = match (ufrag, pwd) {
        (Some(u), Some(p)) => Some((u, p)),
        (None, None) => None,
        _ => return Err(FragmentError::HalfCredentials),
    };
    Ok(f)
}

/// The first `a=ice-ufrag:` and `a=ice-pwd:` of a whole description (an offer), for comparing
/// with a later fragment's: `None` unless both are present.
pub fn credentials(sdp: &str) -> Option<(&str, &str)> {
    let value = |name: &str| {
        sdp.lines()
            .find_map(|l| l.trim_end().strip_prefix(name).map(str::trim))
    };
    Some((value("a=ice-ufrag:")?, value("a=ice-pwd:")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As Chromium's `RTCPeerConnection` hands candidates to a WHIP client, put in a fragment
    /// the way RFC 9725 §4.3.1's example does.
    const FRAGMENT: &str = "a=ice-options:trickle ice2\r\n\
        a=group:BUNDLE 0 1\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n\
        a=mid:0\r\n\
        a=ice-ufrag:EsAw\r\n\
        a=ice-pwd:bP+XJMM09aR8AiX1jdukzR6Y\r\n\
        a=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0 ufrag EsAw network-id 1\r\n\
        a=candidate:3471623853 1 udp 2122194687 198.51.100.2 61765 typ host generation 0 ufrag EsAw network-id 2\r\n\
        a=candidate:473322822 1 tcp 1518280447 192.0.2.1 9 typ host tcptype active generation 0 ufrag EsAw network-id 1\r\n\
        a=end-of-candidates\r\n";

    #[test]
    fn a_browser_fragment_is_read() {
        let f = parse(FRAGMENT).unwrap();
        assert_eq!(f.credentials, Some(("EsAw", "bP+XJMM09aR8AiX1jdukzR6Y")));
        assert_eq!(f.mid, Some("0"));
        assert_eq!(f.candidates.len(), 3);
        assert!(f.candidates[0].starts_with("candidate:1387637174 1 udp"));
        assert!(f.candidates[2].contains("tcptype active"));
        assert!(f.end_of_candidates);
    }

    #[test]
    fn lf_endings_blank_lines_and_no_credentials() {
        let f = parse("\na=mid:0\n\na=candidate:1 1 udp 1 192.0.2.1 5000 typ host  \n").unwrap();
        assert_eq!(f.credentials, None);
        assert_eq!(
            f.candidates,
            vec!["candidate:1 1 udp 1 192.0.2.1 5000 typ host"]
        );
        assert!(!f.end_of_candidates);
        assert_eq!(parse("").unwrap(), Fragment::default());
    }

    #[test]
    fn bad_fragments_are_refused() {
        assert_eq!(
            parse("a=mid:0\r\nhello\r\n"),
            Err(FragmentError::BadLine(2))
        );
        assert_eq!(parse("A=mid:0"), Err(FragmentError::BadLine(1)));
        assert_eq!(
            parse("a=ice-ufrag:x\r\n"),
            Err(FragmentError::HalfCredentials)
        );
        let many = "a=candidate:1 1 udp 1 192.0.2.1 5000 typ host\r\n".repeat(MAX_CANDIDATES + 1);
        assert_eq!(parse(&many), Err(FragmentError::TooManyCandidates));
        let long = format!("a=x:{}", "y".repeat(MAX_FRAGMENT_LEN));
        assert_eq!(parse(&long), Err(FragmentError::TooLong));
    }

    #[test]
    fn an_offers_credentials() {
        let offer = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=ice-ufrag:ab12\r\na=ice-pwd:secretsecret\r\n\
                     m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ice-ufrag:ab12\r\na=ice-pwd:secretsecret\r\n";
        assert_eq!(credentials(offer), Some(("ab12", "secretsecret")));
        assert_eq!(credentials("v=0\r\na=ice-ufrag:x\r\n"), None);
    }
}
