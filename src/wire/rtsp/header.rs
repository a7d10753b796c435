//! Typed RTSP header values (RFC 2326 §12): `Session`, `Transport`, `RTP-Info`, and the
//! `WWW-Authenticate` challenges with the `Authorization` answers (Basic, RFC 7617; Digest
//! through [`crate::wire::digest`]).
//!
//! Parsers take the value as [`super::Message`] stores it (trimmed, unfolded) and are
//! lenient where cameras are sloppy: spaces around `;` and `=`, a trailing `;` (Laureii's
//! `RTP-Info`), a space inside `ssrc= d6d6627` (Hikvision), parameter names in any case.
//! Unknown parameters are skipped. Each `encode` writes what its `parse` reads back.

use std::fmt::Write as _;

use crate::wire::base64;
use crate::wire::digest;
use crate::wire::textmsg::{is_lws, parse_decimal, parse_delta_seconds};

/// Most transports read from one `Transport` header. Why: a client offers one to three
/// alternatives (TCP, UDP, multicast); the rest are skipped rather than stored.
pub const MAX_TRANSPORTS: usize = 8;
/// Most `RTP-Info` entries read: one per track; cameras have two or three (video, audio,
/// ONVIF metadata).
pub const MAX_RTP_INFO: usize = 16;
/// Most methods read from `Public`: RFC 2326 defines 11.
pub const MAX_METHODS: usize = 16;
/// Most `WWW-Authenticate` challenges read: cameras send Digest and Basic, some twice.
pub const MAX_CHALLENGES: usize = 4;
/// The session timeout when `Session` names none (RFC 2326 §12.37).
pub const DEFAULT_SESSION_TIMEOUT: u32 = 60;

/// `Session: id[;timeout=seconds]` (RFC 2326 §12.37).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The session id, as sent (at least 8 characters in the RFC; cameras send fewer).
    pub id: String,
    /// `timeout` in seconds, when given; see [`Session::timeout_or_default`].
    pub timeout: Option<u32>,
}

impl Session {
    /// Parses a value; `None` when the id is empty.
    pub fn parse(value: &str) -> Option<Session> {
        let mut parts = value.split(';');
        let id = parts.next()?.trim_matches(is_lws);
        if id.is_empty() {
            return None;
        }
        let timeout = parts
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim_matches(is_lws).eq_ignore_ascii_case("timeout"))
            .and_then(|(_, v)| parse_delta_seconds(v.trim_matches(is_lws)));
        Some(Session {
            id: id.to_owned(),
            timeout,
        })
    }

    /// The timeout, or the RFC's 60 s default.
    pub fn timeout_or_default(&self) -> u32 {
        self.timeout.unwrap_or(DEFAULT_SESSION_TIMEOUT)
    }

    /// The header value: `id` or `id;timeout=N`.
    pub fn encode(&self) -> String {
        match self.timeout {
            Some(t) => format!("{};timeout={t}", self.id),
            None => self.id.clone(),
        }
    }
}

/// The lower transport of a `Transport` spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lower {
    /// `RTP/AVP` or `RTP/AVP/UDP`.
    Udp,
    /// `RTP/AVP/TCP`: interleaved on the RTSP connection.
    Tcp,
}

/// `mode=` of a `Transport` spec (RFC 2326 §12.39): PLAY, or RECORD for a client that
/// publishes (ANNOUNCE/RECORD).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Play,
    Record,
}

/// A number or a pair of numbers: `interleaved=0-1`, `client_port=5000-5001`,
/// `client_port=5000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pair<T> {
    pub first: T,
    pub second: Option<T>,
}

impl<T: Copy> Pair<T> {
    pub fn new(first: T, second: T) -> Pair<T> {
        Pair {
            first,
            second: Some(second),
        }
    }
}

impl<T: std::str::FromStr> Pair<T> {
    fn parse(value: &str) -> Option<Pair<T>> {
        let (first, second) = match value.split_once('-') {
            Some((a, b)) => (a, Some(b.trim_matches(is_lws).parse().ok()?)),
            None => (value, None),
        };
        Some(Pair {
            first: first.trim_matches(is_lws).parse().ok()?,
            second,
        })
    }
}

impl<T: std::fmt::Display> std::fmt::Display for Pair<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.second {
            Some(second) => write!(f, "{}-{second}", self.first),
            None => write!(f, "{}", self.first),
        }
    }
}

/// One transport spec of a `Transport` header (RFC 2326 §12.39): what a client asks for in
/// SETUP and what the server chose in its reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transport {
    /// `transport-protocol/profile`, `RTP/AVP` in practice (kept as sent, uppercase
    /// compared).
    pub protocol: String,
    pub lower: Lower,
    /// `unicast` (true) or `multicast` (false); `None` when neither is named.
    pub unicast: Option<bool>,
    /// `interleaved=` channels (RTP, RTCP) for TCP.
    pub interleaved: Option<Pair<u8>>,
    pub client_port: Option<Pair<u16>>,
    pub server_port: Option<Pair<u16>>,
    /// `ssrc=`: 8 hex digits in the RFC; fewer are accepted.
    pub ssrc: Option<u32>,
    pub mode: Option<Mode>,
    /// `destination=` and `source=` addresses, as sent.
    pub destination: Option<String>,
    pub source: Option<String>,
}

impl Transport {
    /// RTP over TCP, interleaved on `channels` (the usual client request).
    pub fn tcp(channels: Pair<u8>) -> Transport {
        Transport {
            interleaved: Some(channels),
            ..Transport::new(Lower::Tcp)
        }
    }

    /// RTP over UDP to `client_port` (RTP, RTCP).
    pub fn udp(client_port: Pair<u16>) -> Transport {
        Transport {
            client_port: Some(client_port),
            ..Transport::new(Lower::Udp)
        }
    }

    fn new(lower: Lower) -> Transport {
        Transport {
            protocol: "RTP/AVP".to_owned(),
            lower,
            unicast: Some(true),
            interleaved: None,
            client_port: None,
            server_port: None,
            ssrc: None,
            mode: None,
            destination: None,
            source: None,
        }
    }

    /// Every spec of a header value (comma-separated alternatives), those that do not parse
    /// skipped, at most [`MAX_TRANSPORTS`].
    pub fn parse_list(value: &str) -> impl Iterator<Item = Transport> + '_ {
        value
            .split(',')
            .filter_map(Transport::parse)
            .take(MAX_TRANSPORTS)
    }

    /// One spec: `RTP/AVP[/TCP|/UDP]` then `;`-separated parameters. `None` when the first
    /// part has fewer than two `/`-separated fields, the lower transport is neither TCP nor
    /// UDP, or a known parameter's value does not parse.
    pub fn parse(spec: &str) -> Option<Transport> {
        let mut parts = spec.split(';');
        let proto = parts.next()?.trim_matches(is_lws);
        let mut fields = proto.split('/');
        let (protocol, profile) = (fields.next()?, fields.next()?);
        if protocol.is_empty() || profile.is_empty() {
            return None;
        }
        let lower = match fields.next() {
            None => Lower::Udp,
            Some(l) if l.eq_ignore_ascii_case("UDP") => Lower::Udp,
            Some(l) if l.eq_ignore_ascii_case("TCP") => Lower::Tcp,
            Some(_) => return None,
        };
        if fields.next().is_some() {
            return None;
        }
        let mut t = Transport::new(lower);
        t.protocol = format!("{protocol}/{profile}");
        t.unicast = None;
        for part in parts {
            let part = part.trim_matches(is_lws);
            let (name, value) = match part.split_once('=') {
                Some((n, v)) => (n.trim_matches(is_lws), Some(v.trim_matches(is_lws))),
                None => (part, None),
            };
            let lowercase = name.to_ascii_lowercase();
            match (lowercase.as_str(), value) {
                ("unicast", None) => t.unicast = Some(true),
                ("multicast", None) => t.unicast = Some(false),
                ("interleaved", Some(v)) => t.interleaved = Some(Pair::parse(v)?),
                ("client_port", Some(v)) => t.client_port = Some(Pair::parse(v)?),
                ("server_port", Some(v)) => t.server_port = Some(Pair::parse(v)?),
                ("ssrc", Some(v)) => {
                    if v.is_empty() || v.len() > 8 {
                        return None;
                    }
                    t.ssrc = Some(u32::from_str_radix(v, 16).ok()?);
                }
                ("mode", Some(v)) => {
                    let v = v.trim_matches('"');
                    t.mode = if v.eq_ignore_ascii_case("record") {
                        Some(Mode::Record)
                    } else if v.eq_ignore_ascii_case("play") {
                        Some(Mode::Play)
                    } else {
                        None
                    };
                }
                ("destination", Some(v)) if is_address(v) => t.destination = Some(v.to_owned()),
                ("source", Some(v)) if is_address(v) => t.source = Some(v.to_owned()),
                _ => {}
            }
        }
        Some(t)
    }

    /// The spec as a header value: protocol, lower transport (`/TCP` only; UDP is the
    /// default), then `unicast`/`multicast`, `destination`, `source`, `interleaved`,
    /// `client_port`, `server_port`, `ssrc` (8 hex digits), `mode`.
    pub fn encode(&self) -> String {
        let mut out = self.protocol.clone();
        if self.lower == Lower::Tcp {
            out.push_str("/TCP");
        }
        match self.unicast {
            Some(true) => out.push_str(";unicast"),
            Some(false) => out.push_str(";multicast"),
            None => {}
        }
        // Writing to a String cannot fail.
        if let Some(d) = &self.destination {
            let _ = write!(out, ";destination={d}");
        }
        if let Some(s) = &self.source {
            let _ = write!(out, ";source={s}");
        }
        if let Some(i) = self.interleaved {
            let _ = write!(out, ";interleaved={i}");
        }
        if let Some(p) = self.client_port {
            let _ = write!(out, ";client_port={p}");
        }
        if let Some(p) = self.server_port {
            let _ = write!(out, ";server_port={p}");
        }
        if let Some(s) = self.ssrc {
            let _ = write!(out, ";ssrc={s:08X}");
        }
        match self.mode {
            Some(Mode::Play) => out.push_str(";mode=play"),
            Some(Mode::Record) => out.push_str(";mode=record"),
            None => {}
        }
        out
    }
}

/// An address parameter as [`Transport::encode`] can write it back: not empty, no
/// separators or spaces.
fn is_address(v: &str) -> bool {
    !v.is_empty() && !v.contains([';', ',', ' ', '\t'])
}

/// One entry of `RTP-Info` (RFC 2326 §12.33): the track's URL and where its RTP starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpInfo {
    pub url: String,
    /// Sequence number of the first packet after PLAY.
    pub seq: Option<u16>,
    /// RTP timestamp that corresponds to the PLAY `Range` start.
    pub rtptime: Option<u32>,
}

impl RtpInfo {
    /// Every entry of a header value, at most [`MAX_RTP_INFO`]. An entry starts at a
    /// `url=` after a `,`; a `,` not followed by `url=` is part of the URL, and so is each
    /// `;` before the first `seq=` or `rtptime=`, so URLs with commas or semicolons survive.
    /// A trailing `;` (Laureii) is ignored; entries without `url=` are skipped.
    pub fn parse_list(value: &str) -> Vec<RtpInfo> {
        let mut out = Vec::new();
        let mut rest = value;
        while let Some(entry) = next_entry(&mut rest) {
            if out.len() == MAX_RTP_INFO {
                break;
            }
            if let Some(info) = RtpInfo::parse(entry) {
                out.push(info);
            }
        }
        out
    }

    /// One entry: `url=…` then `;seq=` and `;rtptime=` in any order.
    fn parse(entry: &str) -> Option<RtpInfo> {
        let entry = entry.trim_matches(is_lws);
        let url_and_params = entry
            .get(..4)
            .filter(|p| p.eq_ignore_ascii_case("url="))
            .map(|_| &entry[4..])?;
        let mut info = RtpInfo {
            url: String::new(),
            seq: None,
            rtptime: None,
        };
        let mut in_url = true;
        for (i, piece) in url_and_params.split(';').enumerate() {
            let (key, value) = piece.split_once('=').unwrap_or((piece, ""));
            let value = value.trim_matches(is_lws);
            match key.trim_matches(is_lws).to_ascii_lowercase().as_str() {
                "seq" if i > 0 => {
                    in_url = false;
                    info.seq = parse_decimal(value).and_then(|n| u16::try_from(n).ok());
                }
                "rtptime" if i > 0 => {
                    in_url = false;
                    info.rtptime = parse_decimal(value).and_then(|n| u32::try_from(n).ok());
                }
                _ if in_url => {
                    if i > 0 {
                        info.url.push(';');
                    }
                    info.url.push_str(piece);
                }
                _ => {}
            }
        }
        let url = info.url.trim_end_matches(';').trim_matches(is_lws);
        info.url = url.to_owned();
        Some(info)
    }

    /// The entry as written in a PLAY reply: `url=…;seq=…;rtptime=…`.
    pub fn encode(&self) -> String {
        let mut out = format!("url={}", self.url);
        if let Some(seq) = self.seq {
            let _ = write!(out, ";seq={seq}");
        }
        if let Some(t) = self.rtptime {
            let _ = write!(out, ";rtptime={t}");
        }
        out
    }

    /// A whole header value: the entries joined with `,`.
    pub fn encode_list(entries: &[RtpInfo]) -> String {
        let mut out = String::new();
        for (i, e) in entries.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&e.encode());
        }
        out
    }
}

/// Takes the next `RTP-Info` entry off `rest`: up to the next `,` that is followed by
/// `url=` (or the end).
fn next_entry<'a>(rest: &mut &'a str) -> Option<&'a str> {
    if rest.trim_matches(is_lws).is_empty() {
        return None;
    }
    let text = *rest;
    let mut from = 0;
    while let Some(comma) = text[from..].find(',').map(|c| from + c) {
        let after = text[comma + 1..].trim_start_matches(is_lws);
        if after
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("url="))
        {
            *rest = &text[comma + 1..];
            return Some(&text[..comma]);
        }
        from = comma + 1;
    }
    *rest = "";
    Some(text)
}

/// A `WWW-Authenticate` challenge of a scheme we answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// RFC 7617: `Basic realm="…"`.
    Basic {
        realm: String,
    },
    Digest(digest::Challenge),
}

impl Challenge {
    /// Parses a challenge; `None` for other schemes and Digest values that do not parse.
    pub fn parse(value: &str) -> Option<Challenge> {
        let v = value.trim_start_matches(is_lws);
        let scheme = v.split(is_lws).next().unwrap_or("");
        if scheme.eq_ignore_ascii_case("Basic") {
            let realm = v[scheme.len()..]
                .split(',')
                .filter_map(|p| p.split_once('='))
                .find(|(k, _)| k.trim_matches(is_lws).eq_ignore_ascii_case("realm"))
                .map(|(_, r)| r.trim_matches(is_lws).trim_matches('"').to_owned())
                .unwrap_or_default();
            return Some(Challenge::Basic { realm });
        }
        digest::Challenge::parse(v).ok().map(Challenge::Digest)
    }

    /// The header value.
    pub fn encode(&self) -> String {
        match self {
            Challenge::Basic { realm } => format!("Basic realm=\"{}\"", realm.replace('"', "")),
            Challenge::Digest(c) => c.header_value(),
        }
    }
}

/// The `Authorization` value for Basic (RFC 7617 §2): `Basic base64(user:password)`.
pub fn basic_authorization(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::encode(format!("{user}:{password}").as_bytes())
    )
}

/// The user and password of a Basic `Authorization` value; `None` for another scheme, bad
/// base64, no `:` or text that is not UTF-8.
pub fn parse_basic(value: &str) -> Option<(String, String)> {
    let v = value.trim_matches(is_lws);
    let (scheme, token) = v.split_once(is_lws)?;
    if !scheme.eq_ignore_ascii_case("Basic") {
        return None;
    }
    let plain = String::from_utf8(base64::decode(token.trim_matches(is_lws).as_bytes())?).ok()?;
    let (user, password) = plain.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}
