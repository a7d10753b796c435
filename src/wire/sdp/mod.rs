//! SDP (RFC 4566, RFC 8866) as GB/T 28181-2016 (§C.1 / Annex F "SDP定义") and RTSP (RFC 2326
//! Appendix C) use it: the INVITE offer we send a GB camera and the answer in its 200 OK; an
//! RTSP camera's DESCRIBE reply, an RTSP publisher's ANNOUNCE, and the description our RTSP
//! server gives its players. What RTP payload formats the `a=rtpmap`/`a=fmtp` lines describe,
//! and the lines for our own codecs, are in [`fmtp`].
//!
//! RTSP lines: `a=control:` at session and media level (a URL relative to the presentation's
//! base, resolved by [`crate::wire::rtsp::url::resolve`] where the `rtsp` feature is on),
//! `a=range:` at session level (RFC 2326 §C.1.5), `a=fmtp:<pt> <parameters>` per media.
//!
//! GB-specific lines: `y=` the 10-digit SSRC (digit 0: 0 live / 1 playback, digits 1–5 the
//! domain, 6–9 a serial), `f=` the media format (`v/codec/resolution/fps/rate-type/bitrate
//! a/codec/bitrate/sample-rate`, every field may be empty), `a=setup:active|passive` and
//! `a=connection:new` (RFC 4145) for RTP over TCP, protocol `TCP/RTP/AVP` (RFC 4571).
//!
//! Pure code: text in, [`Sdp`] out; no I/O.
//!
//! # Leniency (what cameras send)
//! - CRLF or LF line ends, blank lines, trailing spaces, a leading UTF-8 BOM.
//! - Unknown lines and attributes (`t=`, `b=`, `a=username:`, `a=filesize:`, `u=`, ...) and
//!   lines that are not `<letter>=` are ignored. `a=connection:new` is ignored on input.
//! - `c=` may be at session level, media level, or both ([`Sdp::connection_for`]).
//! - `y=` and `f=` may come before or after `m=`; they belong to the session either way.
//! - `a=setup:` and the direction attributes at session level are the default of every media
//!   section that lacks its own.
//! - `o=` may be missing (`origin_user` is then empty). Only its first field is kept.
//! - Non-numeric entries of an `m=` format list are skipped.
//! - `a=fmtp:` with a payload type but no parameters (Ubiquiti) is an empty parameter string;
//!   one without a numeric payload type is ignored. `a=rtpmap:` with a trailing space is
//!   trimmed.
//!
//! # Errors (the answer is unusable)
//! No `v=0` first, an `m=` line without kind/port/protocol or with a bad port, a `c=` whose
//! address is not an IP address, an `a=rtpmap:` without a numeric payload type, a `y=` that is
//! not 1 to 10 digits, more than [`MAX_MEDIA`] media sections, text over [`MAX_SDP_LEN`] or a description whose
//! [`Sdp::encode`] would be (so that what parses always encodes to text that parses).
//!
//! # Limits
//! The text is checked against [`MAX_SDP_LEN`] before anything else, so every allocation of
//! [`Sdp::parse`] is bounded by it (strings are copies of parts of it; a format list of 8 KiB
//! of one-digit entries is at most 4096 bytes).
//!
//! The caller hands in `&str`: a SIP body that is not UTF-8 must be converted first
//! (`String::from_utf8_lossy`); SDP is ASCII in practice.

use std::fmt::Write as _;
use std::net::IpAddr;

pub mod fmtp;
#[cfg(feature = "rtc")]
pub mod trickle;

/// Longest SDP body we parse. Why: a GB28181 answer is 300–600 bytes, an RTSP camera's
/// DESCRIBE reply 500–1500 (H.265 parameter sets in base64 are about 300 of them); 8 KiB
/// leaves room for verbose vendors and bounds everything [`Sdp::parse`] allocates.
pub const MAX_SDP_LEN: usize = 8 * 1024;
/// Most `m=` sections. Why: GB28181 uses one (video, PS carrying audio too), RTSP cameras two
/// or three (video, audio, ONVIF metadata); 16 bounds the `Vec<Media>` whatever the peer
/// sends.
pub const MAX_MEDIA: usize = 16;
/// Longest `y=` value: GB/T 28181-2016 Annex F, a 10-digit decimal SSRC.
pub const MAX_SSRC_DIGITS: usize = 10;

/// Why an SDP body was refused. Each variant names the 1-based line at fault where there is
/// one. The error spoils one SIP transaction (answer the INVITE with an error / BYE) or one
/// RTSP presentation (the DESCRIBE or ANNOUNCE fails).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("SDP of {len} bytes is longer than {max}", max = MAX_SDP_LEN)]
    TooLong { len: usize },
    #[error("SDP does not start with v=0")]
    NoVersion,
    #[error("SDP line {line}: bad m= line")]
    BadMedia { line: usize },
    #[error("SDP line {line}: bad c= line")]
    BadConnection { line: usize },
    #[error("SDP line {line}: bad a=rtpmap")]
    BadRtpmap { line: usize },
    #[error("SDP line {line}: bad y= SSRC (1 to 10 digits)")]
    BadSsrc { line: usize },
    #[error("SDP line {line}: more than {max} media sections", max = MAX_MEDIA)]
    TooManyMedia { line: usize },
    /// The text fits [`MAX_SDP_LEN`] but its encoding would not (session-level `a=setup:` and
    /// direction are copied into every media section, LF becomes CRLF).
    #[error("SDP would encode to {len} bytes, longer than {max}", max = MAX_SDP_LEN)]
    EncodesTooLong { len: usize },
}

/// A parsed session description: what GB28181 needs of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Sdp {
    /// First field of `o=`: the sender's GB device or platform id.
    pub origin_user: String,
    /// `s=`: `Play`, `Playback`, `Download` or `Talk` in GB28181.
    pub session_name: String,
    /// Session-level `c=`.
    pub connection_ip: Option<IpAddr>,
    pub media: Vec<Media>,
    /// `y=`: 1 to 10 ASCII digits (10 in GB28181), kept as text; see [`Sdp::ssrc_value`].
    pub ssrc: Option<String>,
    /// `f=`, verbatim (may be empty).
    pub format: Option<String>,
    /// Session-level `a=control:` (RTSP: the aggregate control URL, often `*`).
    pub control: Option<String>,
    /// Session-level `a=range:` (RTSP: `npt=0-` for live).
    pub range: Option<String>,
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq)]
pub struct Media {
    /// `video`, `audio`, ...
    pub kind: String,
    /// The port of `m=` (a `/count` suffix is dropped).
    pub port: u16,
    /// `RTP/AVP`, `TCP/RTP/AVP`, `RTP/AVP/TCP`, ... verbatim.
    pub protocol: String,
    /// Payload types of the `m=` line, in order.
    pub formats: Vec<u8>,
    /// `a=rtpmap:<pt> <rest>`: `(96, "PS/90000")`.
    pub rtpmaps: Vec<(u8, String)>,
    /// `a=setup:` value (`active`, `passive`, `actpass`).
    pub setup: Option<String>,
    /// `recvonly`, `sendonly`, `sendrecv` or `inactive`.
    pub direction: Option<String>,
    /// Media-level `c=`.
    pub connection_ip: Option<IpAddr>,
    /// `a=control:` (RTSP: the track's URL, often relative).
    pub control: Option<String>,
    /// `a=fmtp:<pt> <parameters>`: `(96, "packetization-mode=1;...")`, in order.
    pub fmtps: Vec<(u8, String)>,
}

/// How the media of our offer travels, named by our role (GB/T 28181-2016 Annex F).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `RTP/AVP`: the camera sends RTP datagrams to our port.
    Udp,
    /// `TCP/RTP/AVP` + `a=setup:passive`: we listen on the port, the camera connects.
    TcpPassive,
    /// `TCP/RTP/AVP` + `a=setup:active`: we connect to the port in the camera's answer.
    TcpActive,
}

const DIRECTIONS: [&str; 4] = ["recvonly", "sendonly", "sendrecv", "inactive"];
const CRLF: &str = "\r\n";

impl Sdp {
    /// Parses an SDP body; see the module documentation for what is tolerated.
    pub fn parse(text: &str) -> Result<Sdp, SdpError> {
        if text.len() > MAX_SDP_LEN {
            return Err(SdpError::TooLong { len: text.len() });
        }
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut sdp = Sdp {
            origin_user: String::new(),
            session_name: String::new(),
            connection_ip: None,
            media: Vec::new(),
            ssrc: None,
            format: None,
            control: None,
            range: None,
        };
        let mut session_setup: Option<String> = None;
        let mut session_direction: Option<String> = None;
        let mut seen_version = false;
        for (index, raw) in text.split('\n').enumerate() {
            let line = index + 1;
            let raw = raw.trim_end_matches(is_sdp_space);
            if raw.is_empty() {
                continue;
            }
            let bytes = raw.as_bytes();
            if bytes.len() < 2 || bytes[1] != b'=' || !bytes[0].is_ascii_alphabetic() {
                if !seen_version {
                    return Err(SdpError::NoVersion);
                }
                continue;
            }
            let kind = bytes[0];
            // Byte 1 is the ASCII '=', so 2 is a char boundary.
            let value = raw[2..].trim_matches(is_sdp_space);
            if !seen_version {
                if kind != b'v' || value != "0" {
                    return Err(SdpError::NoVersion);
                }
                seen_version = true;
                continue;
            }
            match kind {
                b'o' => {
                    let user = value.split_ascii_whitespace().next().unwrap_or("");
                    sdp.origin_user = user.to_string();
                }
                b's' => sdp.session_name = value.to_string(),
                b'c' => {
                    let ip = parse_connection(value).ok_or(SdpError::BadConnection { line })?;
                    match sdp.media.last_mut() {
                        Some(media) => media.connection_ip = Some(ip),
                        None => sdp.connection_ip = Some(ip),
                    }
                }
                b'm' => {
                    if sdp.media.len() == MAX_MEDIA {
                        return Err(SdpError::TooManyMedia { line });
                    }
                    sdp.media
                        .push(parse_media(value).ok_or(SdpError::BadMedia { line })?);
                }
                b'a' => {
                    let (name, arg) = match value.split_once(':') {
                        Some((name, arg)) => (
                            name.trim_matches(is_sdp_space),
                            Some(arg.trim_matches(is_sdp_space)),
                        ),
                        None => (value, None),
                    };
                    let media = sdp.media.last_mut();
                    match (name, arg, media) {
                        ("rtpmap", Some(arg), Some(media)) => {
                            media.rtpmaps.push(
                                parse_payload_type_and_rest(arg)
                                    .ok_or(SdpError::BadRtpmap { line })?,
                            );
                        }
                        ("fmtp", Some(arg), Some(media)) => {
                            if let Some(fmtp) = parse_payload_type_and_rest(arg) {
                                media.fmtps.push(fmtp);
                            }
                        }
                        ("control", Some(arg), Some(media)) => {
                            media.control = Some(arg.to_string())
                        }
                        ("control", Some(arg), None) => sdp.control = Some(arg.to_string()),
                        ("range", Some(arg), None) => sdp.range = Some(arg.to_string()),
                        ("setup", Some(arg), Some(media)) => media.setup = Some(arg.to_string()),
                        ("setup", Some(arg), None) => session_setup = Some(arg.to_string()),
                        (dir, None, media) if DIRECTIONS.contains(&dir) => match media {
                            Some(media) => media.direction = Some(dir.to_string()),
                            None => session_direction = Some(dir.to_string()),
                        },
                        _ => {}
                    }
                }
                b'y' => {
                    let valid = (1..=MAX_SSRC_DIGITS).contains(&value.len())
                        && value.bytes().all(|b| b.is_ascii_digit());
                    if !valid {
                        return Err(SdpError::BadSsrc { line });
                    }
                    sdp.ssrc = Some(value.to_string());
                }
                b'f' => sdp.format = Some(value.to_string()),
                _ => {}
            }
        }
        if !seen_version {
            return Err(SdpError::NoVersion);
        }
        for media in &mut sdp.media {
            if media.setup.is_none() {
                media.setup.clone_from(&session_setup);
            }
            if media.direction.is_none() {
                media.direction.clone_from(&session_direction);
            }
        }
        // What we accept must encode to text we accept again ([`Sdp::encode`]).
        let len = sdp.encoded_len();
        if len > MAX_SDP_LEN {
            return Err(SdpError::EncodesTooLong { len });
        }
        Ok(sdp)
    }

    /// Writes the description with CRLF line ends: `v=`, `o=` (left out when `origin_user` is
    /// empty), `s=`, session `c=`, `t=0 0`, each media (`m=`, `c=`, direction, `rtpmap`s,
    /// `setup` + `a=connection:new`), `y=`, `f=`. [`Sdp::parse`] of the result gives `self`
    /// back for any `self` that `parse` produced.
    ///
    /// `o=` carries session id and version 0 and the session (else first media) address.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(self.encoded_len());
        // Writing to a String cannot fail.
        let _ = self.write_to(&mut out);
        out
    }

    /// Length of [`Sdp::encode`]'s text, counted without building it. It can exceed the
    /// parsed text: session-level `a=setup:` and direction are written in every media
    /// section (with `a=connection:new` after each setup), and LF line ends become CRLF;
    /// [`Sdp::parse`] refuses a description whose encoding would exceed [`MAX_SDP_LEN`].
    pub fn encoded_len(&self) -> usize {
        let mut counter = Counter(0);
        // Counting cannot fail.
        let _ = self.write_to(&mut counter);
        counter.0
    }

    fn write_to(&self, out: &mut impl std::fmt::Write) -> std::fmt::Result {
        write!(out, "v=0{CRLF}")?;
        if !self.origin_user.is_empty() {
            let ip = self
                .connection_ip
                .or_else(|| self.media.iter().find_map(|m| m.connection_ip));
            write!(out, "o={} 0 0 {}{CRLF}", self.origin_user, address(ip))?;
        }
        write!(out, "s={}{CRLF}", self.session_name)?;
        if let Some(ip) = self.connection_ip {
            write!(out, "c={}{CRLF}", address(Some(ip)))?;
        }
        write!(out, "t=0 0{CRLF}")?;
        if let Some(control) = &self.control {
            write!(out, "a=control:{control}{CRLF}")?;
        }
        if let Some(range) = &self.range {
            write!(out, "a=range:{range}{CRLF}")?;
        }
        for media in &self.media {
            write!(out, "m={} {} {}", media.kind, media.port, media.protocol)?;
            for format in &media.formats {
                write!(out, " {format}")?;
            }
            out.write_str(CRLF)?;
            if let Some(ip) = media.connection_ip {
                write!(out, "c={}{CRLF}", address(Some(ip)))?;
            }
            if let Some(direction) = &media.direction {
                write!(out, "a={direction}{CRLF}")?;
            }
            for (pt, map) in &media.rtpmaps {
                write!(out, "a=rtpmap:{pt} {map}{CRLF}")?;
            }
            for (pt, params) in &media.fmtps {
                match params.as_str() {
                    "" => write!(out, "a=fmtp:{pt}{CRLF}")?,
                    params => write!(out, "a=fmtp:{pt} {params}{CRLF}")?,
                }
            }
            if let Some(control) = &media.control {
                write!(out, "a=control:{control}{CRLF}")?;
            }
            if let Some(setup) = &media.setup {
                write!(out, "a=setup:{setup}{CRLF}a=connection:new{CRLF}")?;
            }
        }
        if let Some(ssrc) = &self.ssrc {
            write!(out, "y={ssrc}{CRLF}")?;
        }
        if let Some(format) = &self.format {
            write!(out, "f={format}{CRLF}")?;
        }
        Ok(())
    }

    /// A description for RTSP: `o=- 0 0 IN IP4 0.0.0.0`, `s=<name>`, `c=IN IP4 0.0.0.0`,
    /// `t=0 0`, `a=control:*` (the aggregate URL is the request URL), `a=range:npt=0-` (a
    /// live stream), then `media` (see [`fmtp::PayloadFormat::media`]).
    pub fn rtsp(session_name: &str, media: Vec<Media>) -> Sdp {
        Sdp {
            origin_user: "-".to_owned(),
            session_name: session_name.to_owned(),
            connection_ip: Some(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)),
            media,
            ssrc: None,
            format: None,
            control: Some("*".to_owned()),
            range: Some("npt=0-".to_owned()),
        }
    }

    /// Whether the media travels over TCP: the protocol of the first `video` section (else of
    /// the first section) contains `TCP`, any case (`TCP/RTP/AVP`, `RTP/AVP/TCP`).
    pub fn is_tcp(&self) -> bool {
        self.video()
            .is_some_and(|m| m.protocol.to_ascii_uppercase().contains("TCP"))
    }

    /// The first `video` section, else the first section.
    pub fn video(&self) -> Option<&Media> {
        self.media
            .iter()
            .find(|m| m.kind.eq_ignore_ascii_case("video"))
            .or_else(|| self.media.first())
    }

    /// Where `media` is: its own `c=`, else the session's.
    pub fn connection_for(&self, media: &Media) -> Option<IpAddr> {
        media.connection_ip.or(self.connection_ip)
    }

    /// The `y=` SSRC as the number RTP packets carry, when it fits 32 bits.
    pub fn ssrc_value(&self) -> Option<u32> {
        self.ssrc.as_deref()?.parse().ok()
    }
}

/// A `fmt::Write` that only counts bytes, for [`Sdp::encoded_len`].
struct Counter(usize);

impl std::fmt::Write for Counter {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0 += s.len();
        Ok(())
    }
}

/// SDP is ASCII text (RFC 4566 §5): only ASCII whitespace is trimmed, the same set that
/// `split_ascii_whitespace` splits fields at, so that a field keeps any other byte (a vertical
/// tab, U+001D) and [`Sdp::encode`] writes back what parsing kept.
fn is_sdp_space(c: char) -> bool {
    c.is_ascii_whitespace()
}

/// `IN IP4 <addr>` / `IN IP6 <addr>`, with an optional `/ttl[/count]` suffix (RFC 4566 §5.7).
fn parse_connection(value: &str) -> Option<IpAddr> {
    let mut fields = value.split_ascii_whitespace();
    let (_net, _addr_type, addr) = (fields.next()?, fields.next()?, fields.next()?);
    let addr = addr.split('/').next()?;
    addr.parse().ok()
}

/// `<kind> <port>[/<count>] <proto> <fmt> ...` (RFC 4566 §5.14).
fn parse_media(value: &str) -> Option<Media> {
    let mut fields = value.split_ascii_whitespace();
    let kind = fields.next()?;
    let port = fields.next()?.split('/').next()?.parse().ok()?;
    let protocol = fields.next()?;
    Some(Media {
        kind: kind.to_string(),
        port,
        protocol: protocol.to_string(),
        formats: fields.filter_map(|f| f.parse().ok()).collect(),
        rtpmaps: Vec::new(),
        setup: None,
        direction: None,
        connection_ip: None,
        control: None,
        fmtps: Vec::new(),
    })
}

/// `<pt> <rest>`, as `a=rtpmap` (`<encoding>/<clock>[/<params>]`) and `a=fmtp` (the
/// parameters, which may be absent) have it (RFC 4566 §6). `None` without a numeric payload
/// type.
fn parse_payload_type_and_rest(arg: &str) -> Option<(u8, String)> {
    let (pt, rest) = arg
        .split_once(|c: char| c.is_ascii_whitespace())
        .unwrap_or((arg, ""));
    Some((
        pt.parse().ok()?,
        rest.trim_matches(is_sdp_space).to_string(),
    ))
}

fn address(ip: Option<IpAddr>) -> String {
    match ip {
        Some(IpAddr::V4(ip)) => format!("IN IP4 {ip}"),
        Some(IpAddr::V6(ip)) => format!("IN IP6 {ip}"),
        None => "IN IP4 0.0.0.0".to_string(),
    }
}

/// Our INVITE offer (GB/T 28181-2016 §9.2 live video, Annex F), lines in the order of the spec's
/// examples: `v=`, `o=`, `s=Play`, `c=`, `t=0 0`, `m=video <port> (TCP/)RTP/AVP 96 97 98`,
/// `a=recvonly`, the three `rtpmap`s (96 PS, 97 MPEG4, 98 H264, all 90000), for TCP
/// `a=setup:passive|active` + `a=connection:new`, `y=<ssrc>`, `f=` (empty: any format).
///
/// `port` is where we receive (UDP) or listen (TCP passive); for TCP active it is only
/// informative (any value, 0 included), since we connect to the port of the camera's answer.
/// `ssrc` should be the 10 digits the caller allocated; it is written as given.
pub fn offer(our_id: &str, our_ip: IpAddr, port: u16, transport: Transport, ssrc: &str) -> String {
    let (protocol, setup) = match transport {
        Transport::Udp => ("RTP/AVP", None),
        Transport::TcpPassive => ("TCP/RTP/AVP", Some("passive")),
        Transport::TcpActive => ("TCP/RTP/AVP", Some("active")),
    };
    let addr = address(Some(our_ip));
    let mut out = String::new();
    let _ = write!(
        out,
        "v=0{CRLF}o={our_id} 0 0 {addr}{CRLF}s=Play{CRLF}c={addr}{CRLF}t=0 0{CRLF}\
         m=video {port} {protocol} 96 97 98{CRLF}a=recvonly{CRLF}\
         a=rtpmap:96 PS/90000{CRLF}a=rtpmap:97 MPEG4/90000{CRLF}a=rtpmap:98 H264/90000{CRLF}"
    );
    if let Some(setup) = setup {
        let _ = write!(out, "a=setup:{setup}{CRLF}a=connection:new{CRLF}");
    }
    let _ = write!(out, "y={ssrc}{CRLF}f={CRLF}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// Hikvision-style 200 OK answer to a UDP offer: CRLF, session c=, `t=0 0`, username and
    /// password attributes, y= after the media, f= with the video part filled in.
    const HIKVISION_UDP: &str = "v=0\r\n\
        o=34020000001320000001 0 0 IN IP4 192.168.1.64\r\n\
        s=Play\r\n\
        c=IN IP4 192.168.1.64\r\n\
        t=0 0\r\n\
        m=video 15060 RTP/AVP 96\r\n\
        a=sendonly\r\n\
        a=rtpmap:96 PS/90000\r\n\
        a=username:34020000001320000001\r\n\
        a=password:12345678\r\n\
        a=filesize:0\r\n\
        y=0100000001\r\n\
        f=v/2/4/25/1/4096a///\r\n";

    /// Dahua-style answer for TCP passive (we listen, camera is active): LF only, trailing
    /// spaces, no session c= but a media c=, y= before m=, a blank line, an unknown line.
    const DAHUA_TCP: &str = "v=0\n\
        o=34020000001310000001 2890 2891 IN IP4 10.0.0.108 \n\
        s=Play\n\
        t=0 0\n\
        y=0200000002\n\
        \n\
        m=video 9 TCP/RTP/AVP 96 98  \n\
        c=IN IP4 10.0.0.108\n\
        b=AS:4096\n\
        a=rtpmap:96 PS/90000\n\
        a=rtpmap:98 H264/90000\n\
        a=sendonly\n\
        a=setup:active\n\
        a=connection:new\n\
        x-vendor-junk\n\
        f=v/2/6/25/2/4096a/1/8/1\n";

    fn ip(a: u8, b: u8, c: u8, d: u8) -> Option<IpAddr> {
        Some(IpAddr::V4(Ipv4Addr::new(a, b, c, d)))
    }

    #[test]
    fn hikvision_udp_answer() {
        let sdp = Sdp::parse(HIKVISION_UDP).unwrap();
        assert_eq!(
            sdp,
            Sdp {
                origin_user: "34020000001320000001".into(),
                session_name: "Play".into(),
                connection_ip: ip(192, 168, 1, 64),
                media: vec![Media {
                    kind: "video".into(),
                    port: 15060,
                    protocol: "RTP/AVP".into(),
                    formats: vec![96],
                    rtpmaps: vec![(96, "PS/90000".into())],
                    setup: None,
                    direction: Some("sendonly".into()),
                    connection_ip: None,
                    control: None,
                    fmtps: Vec::new(),
                }],
                ssrc: Some("0100000001".into()),
                format: Some("v/2/4/25/1/4096a///".into()),
                control: None,
                range: None,
            }
        );
        assert!(!sdp.is_tcp());
        assert_eq!(sdp.ssrc_value(), Some(100_000_001));
        assert_eq!(sdp.connection_for(&sdp.media[0]), ip(192, 168, 1, 64));
    }

    #[test]
    fn dahua_tcp_answer() {
        let sdp = Sdp::parse(DAHUA_TCP).unwrap();
        assert_eq!(sdp.origin_user, "34020000001310000001");
        assert_eq!(sdp.connection_ip, None);
        assert_eq!(sdp.ssrc.as_deref(), Some("0200000002"));
        assert_eq!(sdp.format.as_deref(), Some("v/2/6/25/2/4096a/1/8/1"));
        let video = sdp.video().unwrap();
        assert_eq!(video.port, 9);
        assert_eq!(video.protocol, "TCP/RTP/AVP");
        assert_eq!(video.formats, [96, 98]);
        assert_eq!(
            video.rtpmaps,
            [(96, "PS/90000".into()), (98, "H264/90000".into())]
        );
        assert_eq!(video.setup.as_deref(), Some("active"));
        assert_eq!(video.direction.as_deref(), Some("sendonly"));
        assert_eq!(sdp.connection_for(video), ip(10, 0, 0, 108));
        assert!(sdp.is_tcp());
        assert_eq!(Sdp::parse(&sdp.encode()).unwrap(), sdp);
    }

    #[test]
    fn offer_golden_udp() {
        let text = offer(
            "34020000002000000001",
            IpAddr::V4(Ipv4Addr::new(192, 168, 1, 2)),
            30000,
            Transport::Udp,
            "0100000001",
        );
        assert_eq!(
            text,
            "v=0\r\n\
             o=34020000002000000001 0 0 IN IP4 192.168.1.2\r\n\
             s=Play\r\n\
             c=IN IP4 192.168.1.2\r\n\
             t=0 0\r\n\
             m=video 30000 RTP/AVP 96 97 98\r\n\
             a=recvonly\r\n\
             a=rtpmap:96 PS/90000\r\n\
             a=rtpmap:97 MPEG4/90000\r\n\
             a=rtpmap:98 H264/90000\r\n\
             y=0100000001\r\n\
             f=\r\n"
        );
    }

    #[test]
    fn offer_round_trips() {
        let v4 = IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3));
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        for (transport, setup) in [
            (Transport::Udp, None),
            (Transport::TcpPassive, Some("passive")),
            (Transport::TcpActive, Some("active")),
        ] {
            for our_ip in [v4, v6] {
                let text = offer(
                    "34020000002000000001",
                    our_ip,
                    30002,
                    transport,
                    "0340200001",
                );
                let sdp = Sdp::parse(&text).unwrap();
                assert_eq!(sdp.origin_user, "34020000002000000001");
                assert_eq!(sdp.session_name, "Play");
                assert_eq!(sdp.connection_ip, Some(our_ip));
                assert_eq!(sdp.ssrc.as_deref(), Some("0340200001"));
                assert_eq!(sdp.format.as_deref(), Some(""));
                assert_eq!(sdp.is_tcp(), transport != Transport::Udp);
                let media = &sdp.media[0];
                assert_eq!((media.port, &media.formats[..]), (30002, &[96, 97, 98][..]));
                assert_eq!(media.setup.as_deref(), setup);
                assert_eq!(media.direction.as_deref(), Some("recvonly"));
                assert_eq!(media.rtpmaps[0], (96, "PS/90000".to_string()));
                assert_eq!(media.rtpmaps.len(), 3);
                // Our encoder writes the offer back byte for byte.
                assert_eq!(sdp.encode(), text);
            }
        }
        assert!(offer("x", v4, 1, Transport::TcpPassive, "1")
            .contains("a=setup:passive\r\na=connection:new\r\ny=1\r\n"));
    }

    #[test]
    fn session_level_defaults_and_odd_lines() {
        let sdp = Sdp::parse(
            "\u{feff}v=0\r\ns=Playback\r\na=setup:passive\r\na=recvonly\r\n\
             m=video 6000/2 RTP/AVP/TCP 96 x 300 97\r\nc=IN IP4 224.2.1.1/127/3\r\n",
        )
        .unwrap();
        assert_eq!(sdp.origin_user, "");
        let media = &sdp.media[0];
        assert_eq!(media.port, 6000);
        assert_eq!(media.formats, [96, 97]);
        assert_eq!(media.setup.as_deref(), Some("passive"));
        assert_eq!(media.direction.as_deref(), Some("recvonly"));
        assert_eq!(media.connection_ip, ip(224, 2, 1, 1));
        assert!(sdp.is_tcp());
        assert_eq!(sdp.ssrc_value(), None);
        assert_eq!(Sdp::parse(&sdp.encode()).unwrap(), sdp);
    }

    #[test]
    fn errors() {
        let cases: &[(&str, SdpError)] = &[
            ("", SdpError::NoVersion),
            ("\r\n\r\n", SdpError::NoVersion),
            ("s=Play\r\nv=0\r\n", SdpError::NoVersion),
            ("v=1\r\n", SdpError::NoVersion),
            ("SIP/2.0 200 OK\r\n", SdpError::NoVersion),
            ("v=0\r\nm=video\r\n", SdpError::BadMedia { line: 2 }),
            (
                "v=0\r\nm=video 70000 RTP/AVP 96\r\n",
                SdpError::BadMedia { line: 2 },
            ),
            ("v=0\r\nm=video 5000\r\n", SdpError::BadMedia { line: 2 }),
            (
                "v=0\nc=IN IP4 camera.local\n",
                SdpError::BadConnection { line: 2 },
            ),
            ("v=0\nc=IN IP4\n", SdpError::BadConnection { line: 2 }),
            (
                "v=0\nm=video 1 RTP/AVP 96\na=rtpmap:PS/90000\n",
                SdpError::BadRtpmap { line: 3 },
            ),
            ("v=0\ny=01000000011\n", SdpError::BadSsrc { line: 2 }),
            ("v=0\ny=01000x0001\n", SdpError::BadSsrc { line: 2 }),
            ("v=0\ny=\n", SdpError::BadSsrc { line: 2 }),
        ];
        for (text, err) in cases {
            assert_eq!(Sdp::parse(text).as_ref(), Err(err), "{text:?}");
        }
        let many = format!("v=0\n{}", "m=video 1 RTP/AVP 96\n".repeat(MAX_MEDIA + 1));
        assert_eq!(
            Sdp::parse(&many),
            Err(SdpError::TooManyMedia {
                line: MAX_MEDIA + 2
            })
        );
        let long = format!("v=0\n{}", "a=x\n".repeat(MAX_SDP_LEN / 4));
        assert_eq!(
            Sdp::parse(&long),
            Err(SdpError::TooLong { len: long.len() })
        );
    }

    /// Found by the `sdp` fuzz target: a vertical tab, which `split_ascii_whitespace` keeps
    /// as a field, became the protocol of an `m=` line; `encode` wrote it last on the line
    /// and the Unicode `trim` of the parser then dropped it, so the encoding did not parse.
    #[test]
    fn non_ascii_whitespace_survives_encode() {
        let sdp = Sdp::parse("v=0\r\nm=video 150 \u{b} \u{1}\r\ns=\u{1d}\r\n").unwrap();
        assert_eq!(sdp.media[0].protocol, "\u{b}");
        assert_eq!(sdp.session_name, "\u{1d}");
        assert_eq!(Sdp::parse(&sdp.encode()), Ok(sdp));
    }

    /// Found by the `sdp` fuzz target after 4.3 M runs: 1,513 bytes whose session-level
    /// `a=setup:` of about 800 bytes was copied into each of 16 media sections, so the
    /// encoding (13,911 bytes) failed to parse with `TooLong`.
    #[test]
    fn session_setup_copied_into_every_media_stays_under_the_limit() {
        let data = include_bytes!("../../../tests/data/fuzz/sdp-encode-too-long.bin");
        let text = std::str::from_utf8(data).unwrap();
        match Sdp::parse(text) {
            Ok(sdp) => assert_eq!(Sdp::parse(&sdp.encode()), Ok(sdp)),
            Err(err) => assert!(matches!(err, SdpError::EncodesTooLong { .. }), "{err}"),
        }
        // A session-level setup, copied into MAX_MEDIA sections, pushes the encoding over.
        let setup = "x".repeat(MAX_SDP_LEN / MAX_MEDIA);
        let text = format!(
            "v=0\na=setup:{setup}\n{}",
            "m=video 1 RTP/AVP\n".repeat(MAX_MEDIA)
        );
        assert!(text.len() < MAX_SDP_LEN);
        assert!(matches!(
            Sdp::parse(&text),
            Err(SdpError::EncodesTooLong { len }) if len > MAX_SDP_LEN
        ));
        // A short one is fine and comes back.
        let sdp = Sdp::parse(&text.replace(&setup, "passive")).unwrap();
        assert_eq!(sdp.encoded_len(), sdp.encode().len());
        assert_eq!(Sdp::parse(&sdp.encode()), Ok(sdp));
    }

    use crate::testutil::XorShift as Rng;

    const ALPHABET: &[u8] = b"vosctmayf=:/ \r\n0123456789RTPAVCIN.x";

    #[test]
    fn fuzz_no_panic_and_stable() {
        let seeds = [HIKVISION_UDP, DAHUA_TCP];
        let mut rng = Rng(0x1234_5678_9abc_def1);
        let mut parsed = 0;
        for round in 0..20_000 {
            let mut input = seeds[rng.below(seeds.len())].as_bytes().to_vec();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(input.len());
                match rng.below(3) {
                    0 => input[at] = ALPHABET[rng.below(ALPHABET.len())],
                    1 => {
                        input.remove(at);
                    }
                    _ => input.insert(at, rng.next() as u8),
                }
            }
            if round % 3 == 0 {
                input.truncate(rng.below(input.len() + 1));
            }
            let text = String::from_utf8_lossy(&input);
            if let Ok(sdp) = Sdp::parse(&text) {
                let again = Sdp::parse(&sdp.encode())
                    .unwrap_or_else(|e| panic!("round {round}: {e} {text:?}"));
                assert_eq!(again, sdp, "round {round}");
                let _ = sdp.is_tcp();
                parsed += 1;
            }
        }
        assert!(parsed > 2_000, "{parsed}");
    }
}
