//! `[[ingest]]`: cameras the server pulls into the hub over RTSP (ours; SRS's `vhost { ingest
//! NAME { input { url ...; } } }` runs ffmpeg for it). Each entry is one camera:
//!
//! ```toml
//! [[ingest]]
//! url = "rtsp://admin:password@192.168.1.64:554/Streaming/Channels/101"
//! stream = "live/frontdoor"          # app/stream on the default vhost
//! mode = "on_demand"                 # or "always"
//! on_demand_close_after = 10         # seconds without players before hanging up
//! transport = "tcp"                  # or "udp", or "auto" (UDP, TCP when no UDP comes)
//! ```
//!
//! `rtsps://` URLs (RTSP over TLS, Cargo feature `tls`, in `full`) pull over TCP only, with
//! the top-level `[tls]` settings: `transport = "udp"` is refused (UDP would need SRTP), and
//! `auto` is TCP.
//!
//! Entries are read at start: a reload logs a change as needing a restart.

use toml::Spanned;

use super::exec::{ChildIngest, Command};
use super::schema::{Int, Keyword};
use super::section::{no_hook, plain, ErrorAt};
use super::ConfigError;
use crate::media::DEFAULT_VHOST;

/// Most `[[ingest]]` entries. Why: each is a camera connection with its own buffers (see
/// `limits`); a gateway on a router has a handful of cameras.
pub const MAX_INGESTS: usize = 32;

keywords! {
    /// When a camera is pulled (`ingest.mode`).
    pub enum IngestMode {
        /// From start to stop, reconnecting after failures.
        Always = "always",
        /// While its stream has players (RTMP, HTTP-FLV, HTTP-TS, HLS): connected when the
        /// first comes, torn down `on_demand_close_after` seconds after the last leaves.
        OnDemand = "on_demand",
    }
}

keywords! {
    /// How the camera sends RTP (`ingest.transport`).
    pub enum IngestTransport {
        /// Interleaved on the RTSP connection (RTP/AVP/TCP): one connection, through NAT and
        /// firewalls.
        Tcp = "tcp",
        /// UDP unicast to two ports per track (RTP, RTCP): no head-of-line blocking, but the
        /// camera must reach us.
        Udp = "udp",
        /// UDP, and TCP interleaved when the camera refuses UDP (461) or no RTP arrives
        /// within 3 s of PLAY (a firewall); TCP from then on.
        Auto = "auto",
    }
}

section! {
    /// One `[[ingest]]` entry.
    pub struct Ingest: RawIngest, "an ingest table (url or command, stream, vhost, mode, on_demand_close_after, transport, shell)" {
        /// `ingest.url`: `rtsp://[user:password@]host[:port]/path` of the camera; the
        /// credentials answer its Basic or Digest challenge. Required.
        @check(check_url) @show(show_url)
        url: String = String::new() => url: Spanned<String>;
        /// `ingest.stream`: `app/stream` the camera publishes as. Required.
        @check(check_stream) @show(plain)
        stream: String = String::new() => stream: Spanned<String>;
        /// `ingest.vhost`: the vhost of the stream (default: the default vhost).
        @check(check_vhost) @show(plain)
        vhost: String = DEFAULT_VHOST.to_owned() => vhost: Spanned<String>;
        /// `ingest.mode`: "always" or "on_demand".
        mode: IngestMode = IngestMode::Always => mode: Keyword<IngestMode>;
        /// `ingest.on_demand_close_after`, seconds: with mode "on_demand", how long the camera
        /// goes on after its last player left; a player who comes back meanwhile finds it
        /// still playing.
        on_demand_close_after_s: u32 = 10 => on_demand_close_after: Int<0, 3_600>;
        /// `ingest.transport`: "tcp", "udp" or "auto".
        transport: IngestTransport = IngestTransport::Tcp => transport: Keyword<IngestTransport>;
        /// `ingest.command` (SRS: `ingest`'s ffmpeg): instead of `url`, a program run from
        /// start to stop that publishes to us (`config::exec`; Cargo feature `exec`).
        command: Command = Command::default() => command: Command;
        /// `ingest.shell`: with `command`, run it as `sh -c`.
        shell: bool = false => shell: bool;
    }
    nested {}
    extra {}
    raw no_hook {}
}

impl Ingest {
    /// The app of `stream` (before the `/`).
    pub fn app(&self) -> &str {
        self.stream.split_once('/').map_or("", |(a, _)| a)
    }

    /// The stream name of `stream` (after the `/`).
    pub fn stream_name(&self) -> &str {
        self.stream.split_once('/').map_or("", |(_, s)| s)
    }

    /// Whether the camera speaks TLS (`rtsps://`).
    pub fn tls(&self) -> bool {
        self.url
            .get(..8)
            .is_some_and(|s| s.eq_ignore_ascii_case("rtsps://"))
    }

    /// The URL without its password, for logs.
    pub fn url_for_log(&self) -> String {
        show_url(&self.url)
    }
}

/// The URL with the password replaced by `***` (the reload log, our log).
fn show_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let user = rest[..at].split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{}", &rest[at + 1..])
        }
        None => url.to_owned(),
    }
}

/// Why a build without the Cargo feature `rtsp` refuses every `[[ingest]]`.
const NO_RTSP: &str =
    "this build does not have RTSP ingest (Cargo feature rtsp); see boards/ or build with \
     --features full";

/// Why a build without the Cargo feature `exec` refuses every `[[ingest]]` with `command`.
const NO_EXEC: &str = "this build does not run child processes (Cargo feature exec); see boards/ \
                       or build with --features full";

fn check_url(value: Spanned<String>, key: &str, at: &ErrorAt<'_>) -> Result<String, ConfigError> {
    let span = value.span();
    let url = value.into_inner();
    let refuse = |message: String| Err(at(span.clone(), key.to_owned(), message));
    if !cfg!(feature = "rtsp") {
        return refuse(NO_RTSP.to_owned());
    }
    #[cfg(feature = "rtsp")]
    {
        use crate::session::rtsp::MAX_URL_LEN;
        use crate::wire::rtsp::url::{Scheme, Url};
        match Url::parse(&url) {
            Some(u) if u.request_uri().len() > MAX_URL_LEN => {
                return refuse(format!("longer than {MAX_URL_LEN} bytes"))
            }
            Some(u) if u.scheme == Scheme::Rtsp => {}
            Some(_) if !cfg!(feature = "tls") => {
                return refuse("rtsps:// needs the full build (Cargo feature tls)".to_owned())
            }
            Some(_) => {}
            None => {
                return refuse(format!(
                    "expected rtsp://[user:password@]host[:port]/path, found {:?}",
                    show_url(&url)
                ))
            }
        }
    }
    Ok(url)
}

fn check_stream(
    value: Spanned<String>,
    key: &str,
    at: &ErrorAt<'_>,
) -> Result<String, ConfigError> {
    let span = value.span();
    let stream = value.into_inner();
    let name_ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 128
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    };
    match stream.split_once('/') {
        Some((app, name)) if name_ok(app) && name_ok(name) => Ok(stream),
        _ => Err(at(
            span,
            key.to_owned(),
            format!("expected \"app/stream\" (letters, digits, '.', '-', '_'), found {stream:?}"),
        )),
    }
}

fn check_vhost(value: Spanned<String>, key: &str, at: &ErrorAt<'_>) -> Result<String, ConfigError> {
    let span = value.span();
    super::canonical_vhost_name(value.get_ref())
        .map_err(|message| at(span, key.to_owned(), message))
}

/// An `[[ingest]]` entry as read.
#[cfg(any(feature = "rtsp", feature = "exec"))]
pub(super) type RawEntry = RawIngest;

/// An `[[ingest]]` entry as read: with neither RTSP nor child processes (the router build),
/// as a whole (`section::CompiledOut`), so that the entries' readers are not in that build.
#[cfg(not(any(feature = "rtsp", feature = "exec")))]
pub(super) type RawEntry = super::section::CompiledOut;

/// With neither RTSP nor child processes (the router build) every entry is refused, the
/// first one here, so that the entries' checks, their reload log and the Vecs of them are not
/// in that build.
#[cfg(not(any(feature = "rtsp", feature = "exec")))]
pub(super) fn apply(
    raw: Vec<Spanned<RawEntry>>,
    at: &ErrorAt<'_>,
) -> Result<(Vec<Ingest>, Vec<ChildIngest>), ConfigError> {
    let Some(entry) = raw.first() else {
        return Ok((Vec::new(), Vec::new()));
    };
    let table = entry.get_ref();
    let span = table.span_of("url").unwrap_or(entry.span());
    let (key, why) = match table.span_of("command") {
        Some(_) => ("command", NO_EXEC),
        None => ("url", NO_RTSP),
    };
    Err(at(span, format!("ingest[0].{key}"), why.to_owned()))
}

/// Reads the `[[ingest]]` entries: each over the defaults, `url` (an RTSP pull) or
/// `command` (a child process) required, at most [`MAX_INGESTS`], no two publishing the same
/// stream. The RTSP pulls come first in the answer, the child ingests second.
#[cfg(any(feature = "rtsp", feature = "exec"))]
pub(super) fn apply(
    raw: Vec<Spanned<RawEntry>>,
    at: &ErrorAt<'_>,
) -> Result<(Vec<Ingest>, Vec<ChildIngest>), ConfigError> {
    use super::section::{join, Section};
    let mut ingests: Vec<Ingest> = Vec::new();
    let mut children: Vec<ChildIngest> = Vec::new();
    for (i, entry) in raw.into_iter().enumerate() {
        let span = entry.span();
        let path = format!("ingest[{i}]");
        if i >= MAX_INGESTS {
            return Err(at(
                span,
                path,
                format!("more than {MAX_INGESTS} [[ingest]] entries"),
            ));
        }
        let raw = entry.into_inner();
        let command_span = raw.command.as_ref().map(|_| span.clone());
        // The pull's own keys mean nothing to a child process: refused, not ignored.
        let pull_keys = [
            ("mode", raw.mode.is_some()),
            ("on_demand_close_after", raw.on_demand_close_after.is_some()),
            ("transport", raw.transport.is_some()),
        ];
        if let (Some(_), Some((key, _))) = (&command_span, pull_keys.iter().find(|(_, set)| *set)) {
            return Err(at(
                span,
                join(&path, key),
                "an RTSP pull's key; this [[ingest]] runs a command".to_owned(),
            ));
        }
        let url_span = raw.url.as_ref().map(|u| u.span());
        // Without RTSP every pull is refused here, at its `url` (or at the entry), so that the
        // entries' checks are not in the router build.
        if command_span.is_none() && !cfg!(feature = "rtsp") {
            return Err(at(
                url_span.unwrap_or(span),
                join(&path, "url"),
                NO_RTSP.to_owned(),
            ));
        }
        if command_span.is_some() && !cfg!(feature = "exec") {
            return Err(at(span, join(&path, "command"), NO_EXEC.to_owned()));
        }
        let mut ingest = Ingest::defaults();
        ingest.apply(raw, &path, at)?;
        let duplicate = |stream: &str| {
            !stream.is_empty()
                && (ingests
                    .iter()
                    .any(|o| o.vhost == ingest.vhost && o.stream == stream)
                    || children
                        .iter()
                        .any(|o| o.vhost == ingest.vhost && o.stream == stream))
        };
        if duplicate(&ingest.stream) {
            return Err(at(
                span,
                join(&path, "stream"),
                format!(
                    "{:?} is already published by another [[ingest]]",
                    ingest.stream
                ),
            ));
        }
        if command_span.is_some() {
            if ingest.command.0.is_empty() || url_span.is_some() {
                return Err(at(
                    span,
                    join(&path, "command"),
                    "give either url (an RTSP pull) or a non-empty command (a child process), \
                     not both"
                        .to_owned(),
                ));
            }
            children.push(ChildIngest {
                command: ingest.command,
                shell: ingest.shell,
                stream: ingest.stream,
                vhost: ingest.vhost,
            });
            continue;
        }
        for (value, name) in [(&ingest.url, "url"), (&ingest.stream, "stream")] {
            if value.is_empty() {
                return Err(at(
                    span.clone(),
                    join(&path, name),
                    "required in every [[ingest]] without command".to_owned(),
                ));
            }
        }
        if ingest.tls() && ingest.transport == IngestTransport::Udp {
            return Err(at(
                span,
                join(&path, "transport"),
                "rtsps:// pulls over TCP only (\"tcp\" or \"auto\"; UDP would need SRTP)"
                    .to_owned(),
            ));
        }
        ingests.push(ingest);
    }
    Ok((ingests, children))
}

/// `ingest` in the reload log: one entry after the other, passwords hidden.
pub(super) fn show_ingests(ingests: &[Ingest]) -> String {
    // Always empty without RTSP (`apply`).
    if !cfg!(feature = "rtsp") {
        return "[]".to_owned();
    }
    let shown: Vec<String> = ingests
        .iter()
        .map(|i| {
            format!(
                "{}/{} <- {} ({}, on_demand_close_after {}, transport {})",
                i.vhost,
                i.stream,
                show_url(&i.url),
                i.mode.as_str(),
                i.on_demand_close_after_s,
                i.transport.as_str()
            )
        })
        .collect();
    format!("[{}]", shown.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_logs() {
        assert_eq!(
            show_url("rtsp://admin:p@ss@10.0.0.2:554/s?x=1"),
            "rtsp://admin:***@10.0.0.2:554/s?x=1"
        );
        assert_eq!(show_url("rtsp://10.0.0.2/s"), "rtsp://10.0.0.2/s");
    }
}
