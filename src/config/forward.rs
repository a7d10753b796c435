//! A vhost's forward (SRS: `vhost { forward { enabled on; destination ...; } }`): every stream
//! published on the vhost is published again to each destination by an RTMP client
//! (`server::forward`, `net::forward`).
//!
//! Destinations, SRS's two forms: `host[:port]` (port 1935 by default) keeps the source's app
//! and stream (`rtmp://host:port/app/stream`); a full URL `rtmp://host[:port]/app/stream[?query]`
//! replaces them (the query, a stream key, goes with the stream name). A TOML list, or one
//! string of space-separated destinations as SRS writes them. Host names need the Cargo feature
//! `dns` (in `full`). `backend` (SRS 5.0 dynamic forward) is an `http://` URL asked at each
//! publish for the stream's destinations (`server::forward`); when set, `destination` is not
//! used, as in SRS. `rtmps://` URLs (Cargo feature `tls`, in `full`) publish over TLS, with the
//! top-level `[tls]` settings.

use toml::Spanned;

use super::hooks::{check_url, is_ip_or_localhost};
use super::schema::{words_or_list, FromToml, Int, Invalid, Item, Value};
use super::section::{compiled_in, no_hook, Show};

/// Most destinations one vhost may forward to. Why: each is an RTMP connection and a queue of
/// up to `forward.queue_max_bytes` per published stream (`tinysrs -t`'s forward line).
pub const MAX_DESTINATIONS: usize = 8;

/// Longest destination accepted. Why: it is kept in the config and sent in `connect`.
pub const MAX_DESTINATION_LEN: usize = 1024;

/// The RTMP port when a destination names none.
pub const DEFAULT_PORT: u16 = 1935;

/// The RTMPS port when an `rtmps://` destination names none (the cloud ingests' 443).
pub const DEFAULT_TLS_PORT: u16 = 443;

/// One destination, checked at load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// As the config wrote it (for the API and the log).
    pub text: String,
    /// Host (an IP address or a name) as written, without brackets.
    pub host: String,
    pub port: u16,
    /// `rtmps://`: the session runs over TLS (`net::tls`; Cargo feature `tls`).
    pub tls: bool,
    /// `Some` for a full URL: its app and its stream (with the query); `None` keeps the
    /// source's.
    pub app_stream: Option<(String, String)>,
}

impl Destination {
    /// Parses `host[:port]` or `rtmp[s]://host[:port]/app/stream[?query]` (`rtmps://` at 443
    /// unless a port is written, as ffmpeg and OBS do).
    pub fn parse(text: &str) -> Result<Destination, String> {
        if text.len() > MAX_DESTINATION_LEN {
            return Err(format!(
                "a destination longer than {MAX_DESTINATION_LEN} bytes"
            ));
        }
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!(
                "{text:?} has spaces or bytes that are not ASCII (percent-encode them)"
            ));
        }
        let scheme = text.split_once("://").map(|(scheme, _)| scheme);
        let tls = scheme == Some("rtmps");
        if tls && !cfg!(feature = "tls") {
            return Err(format!(
                "{text:?}: rtmps:// needs the full build (Cargo feature tls)"
            ));
        }
        let (authority, app_stream) = match text.split_once("://") {
            Some(("rtmp" | "rtmps", rest)) => {
                let (authority, path) = rest
                    .split_once('/')
                    .ok_or_else(|| format!("{text:?} has no /app/stream"))?;
                let (app, stream) = path
                    .split_once('/')
                    .filter(|(a, s)| !a.is_empty() && !s.is_empty() && !s.starts_with('?'))
                    .ok_or_else(|| format!("{text:?}: a URL names both app and stream"))?;
                (authority, Some((app.to_owned(), stream.to_owned())))
            }
            Some((scheme, _)) => {
                return Err(format!(
                    "{text:?}: {scheme}:// is not supported (rtmp:// or rtmps:// URLs, or \
                     host:port)"
                ))
            }
            None => (text, None),
        };
        if authority.is_empty() || authority.contains(['@', '/', '?']) {
            return Err(format!("{text:?} has no host (or has credentials)"));
        }
        let (host, port) = match authority.strip_prefix('[') {
            Some(v6) => {
                let (host, rest) = v6
                    .split_once(']')
                    .ok_or_else(|| format!("{text:?}: unclosed [ in the host"))?;
                (host, rest.strip_prefix(':'))
            }
            None => match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            },
        };
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("{text:?}: bad port {p:?}"))?,
            None if tls => DEFAULT_TLS_PORT,
            None => DEFAULT_PORT,
        };
        if host.is_empty() {
            return Err(format!("{text:?} has no host"));
        }
        if !cfg!(feature = "dns") && !is_ip_or_localhost(authority) {
            return Err(format!(
                "{text:?}: host names need the full build (Cargo feature dns); write the \
                 destination's IP address (or localhost)"
            ));
        }
        Ok(Destination {
            text: text.to_owned(),
            host: host.to_owned(),
            port,
            tls,
            app_stream,
        })
    }
}

/// The destinations of a vhost, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Destinations(pub Vec<Destination>);

impl Value<Destinations> for Destinations {
    fn into_value(self) -> Destinations {
        self
    }
}

/// One destination, a space-separated string of them, or a list.
impl FromToml for Destinations {
    fn from_toml(item: &Item<'_>) -> Result<Self, Invalid> {
        let texts = words_or_list(
            item,
            "host:port, an rtmp:// URL, or a list of them",
            MAX_DESTINATIONS,
            "destinations",
        )?;
        let refuse = |message: String| Invalid {
            span: item.span(),
            message,
        };
        let parsed = texts
            .iter()
            .map(|t| Destination::parse(t))
            .collect::<Result<Vec<_>, _>>()
            .map_err(refuse)?;
        Ok(Destinations(parsed))
    }
}

impl Show for Destinations {
    fn show(&self) -> String {
        let texts: Vec<&str> = self.0.iter().map(|d| d.text.as_str()).collect();
        format!("{texts:?}")
    }
}

/// `forward.backend`: one `http://` URL (SRS takes the first word), or none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Backend(pub Option<String>);

impl Value<Backend> for Backend {
    fn into_value(self) -> Backend {
        self
    }
}

impl FromToml for Backend {
    fn from_toml(item: &Item<'_>) -> Result<Self, Invalid> {
        let urls = words_or_list(item, "an http(s):// URL", 1, "backend URLs")?;
        let refuse = |message: String| Invalid {
            span: item.span(),
            message,
        };
        if !cfg!(feature = "hooks") && !urls.is_empty() {
            return Err(refuse(
                "forward.backend is posted with the hooks' client: this build does not have it \
                 (Cargo feature hooks)"
                    .into(),
            ));
        }
        for url in &urls {
            check_url(url).map_err(refuse)?;
        }
        Ok(Backend(urls.into_iter().next()))
    }
}

impl Show for Backend {
    fn show(&self) -> String {
        format!("{:?}", self.0.as_deref().unwrap_or(""))
    }
}

section! {
    /// Forward of a vhost (SRS: `forward { ... }`); see `server::forward`.
    pub struct Forward: RawForward, "a table of forward settings" {
        /// `forward.enabled` (SRS: `forward.enabled`, default off).
        @check(compiled_in(cfg!(feature = "forward"), "forward"))
        enabled: bool = false => enabled: Spanned<bool>;
        /// `forward.destination` (SRS: `forward.destination`).
        destination: Destinations = Destinations::default() => destination: Destinations;
        /// `forward.backend` (SRS 5.0): asked at each publish for the destinations of that
        /// stream (`on_forward`); when set, `destination` is not used.
        backend: Backend = Backend::default() => backend: Backend;
        /// `forward.queue_max_bytes` (ours): the frames one destination may fall behind by,
        /// in bytes; past it its queue drops to the next keyframe, like a slow player's.
        /// RAM: per destination per published stream.
        queue_max_bytes: usize = 4 * 1024 * 1024 => queue_max_bytes: Int<65_536, 268_435_456>;
    }
    nested {}
    extra {}
    raw no_hook {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srs_destination_forms() {
        let d = Destination::parse("127.0.0.1:19350").unwrap();
        assert_eq!(
            (d.host.as_str(), d.port, d.app_stream),
            ("127.0.0.1", 19350, None)
        );
        let d = Destination::parse("10.0.0.2").unwrap();
        assert_eq!(d.port, 1935);
        let d = Destination::parse("rtmp://10.0.0.2/app/stream?key=k").unwrap();
        assert_eq!(
            d.app_stream,
            Some(("app".to_owned(), "stream?key=k".to_owned()))
        );
        let d = Destination::parse("rtmp://[::1]:1936/live/s").unwrap();
        assert_eq!((d.host.as_str(), d.port, d.tls), ("::1", 1936, false));
        let d = Destination::parse("rtmps://10.0.0.2/app/s");
        if cfg!(feature = "tls") {
            let d = d.unwrap();
            assert_eq!((d.port, d.tls), (443, true));
            assert_eq!(Destination::parse("rtmps://h:1443/a/s").unwrap().port, 1443);
        } else {
            assert!(d.unwrap_err().contains("Cargo feature tls"));
        }
        for bad in [
            "",
            "rtmp://10.0.0.2/app",
            "rtmp://10.0.0.2/app/",
            "10.0.0.2:0",
            "10.0.0.2:99999",
            "u@10.0.0.2",
            "rtmp:///app/s",
            "[::1",
        ] {
            assert!(Destination::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
