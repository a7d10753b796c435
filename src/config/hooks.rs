//! A vhost's HTTP callbacks (SRS: `vhost { http_hooks { ... } }`): which URLs are told of, or
//! asked about, each client event; see `server::hooks` for the payloads and the allow rule.
//!
//! Each event key takes a list of URLs, called in order (SRS writes them space-separated on one
//! line: `on_publish http://a/api http://b/api;`; here a TOML list, or one string holding one
//! or more space-separated URLs). `http://` URLs, and `https://` ones in builds with the Cargo
//! feature `tls` (the `full` profile; others refuse them at load). Host names need the Cargo feature `dns` (in `full`);
//! the router's `small` build takes IP addresses and `localhost`.

use toml::Spanned;

use super::schema::{words_or_list, FromToml, Int, Invalid, Item, Value};
use super::section::{compiled_in, no_hook, Show};

/// Most URLs one event may name. Why: each is called in turn for every client event, so a
/// long list multiplies the hook traffic and the time a waiting client waits.
pub const MAX_URLS_PER_EVENT: usize = 8;

/// Longest hook URL accepted. Why: it is kept in the config and written into every request
/// line; real ones are well under 200 bytes.
pub const MAX_URL_LEN: usize = 1024;

/// The URLs of one event, in calling order (empty: the event is not reported).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HookUrls(pub Vec<String>);

impl HookUrls {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

impl Value<HookUrls> for HookUrls {
    fn into_value(self) -> HookUrls {
        self
    }
}

/// Why a hook URL is refused (also used by `server::hooks` when it splits one).
pub fn check_url(url: &str) -> Result<(), String> {
    if url.len() > MAX_URL_LEN {
        return Err(format!("a URL longer than {MAX_URL_LEN} bytes"));
    }
    let rest = match (url.strip_prefix("http://"), url.strip_prefix("https://")) {
        (Some(rest), _) => rest,
        (None, Some(rest)) if cfg!(feature = "tls") => rest,
        (None, Some(_)) => {
            return Err(format!(
                "{url:?}: https:// needs the full build (Cargo feature tls)"
            ))
        }
        (None, None) => return Err(format!("{url:?} is not an http:// or https:// URL")),
    };
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    if authority.is_empty() || authority.contains('@') {
        return Err(format!("{url:?} has no host (or has credentials)"));
    }
    if !cfg!(feature = "dns") && !is_ip_or_localhost(authority) {
        return Err(format!(
            "{url:?}: host names need the full build (Cargo feature dns); write the hook \
             server's IP address (or localhost)"
        ));
    }
    if !url.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "{url:?} has spaces or bytes that are not ASCII (percent-encode them)"
        ));
    }
    Ok(())
}

/// `host[:port]` is an IPv4 address, a bracketed IPv6 address or `localhost`: no DNS needed.
pub fn is_ip_or_localhost(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(v6) => {
            return v6
                .split_once(']')
                .is_some_and(|(h, _)| h.parse::<std::net::Ipv6Addr>().is_ok())
        }
        None => authority.split_once(':').map_or(authority, |(h, _)| h),
    };
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::Ipv4Addr>().is_ok()
}

/// One URL, a space-separated string of URLs, or a list of URLs.
impl FromToml for HookUrls {
    fn from_toml(item: &Item<'_>) -> Result<Self, Invalid> {
        let urls = words_or_list(
            item,
            "an http(s):// URL or a list of them",
            MAX_URLS_PER_EVENT,
            "URLs for one event",
        )?;
        let refuse = |message: String| Invalid {
            span: item.span(),
            message,
        };
        for url in &urls {
            check_url(url).map_err(refuse)?;
        }
        Ok(HookUrls(urls))
    }
}

impl Show for HookUrls {
    fn show(&self) -> String {
        format!("{:?}", self.0)
    }
}

section! {
    /// HTTP callbacks of a vhost (SRS: `http_hooks { ... }`); see `server::hooks`.
    pub struct HttpHooks: RawHttpHooks, "a table of HTTP callback settings" {
        /// `http_hooks.enabled` (SRS: `http_hooks.enabled`, default off).
        @check(compiled_in(cfg!(feature = "hooks"), "hooks"))
        enabled: bool = false => enabled: Spanned<bool>;
        /// `http_hooks.on_connect` (SRS): asked before an RTMP `connect` is accepted.
        on_connect: HookUrls = HookUrls::default() => on_connect: HookUrls;
        /// `http_hooks.on_close` (SRS): told when an RTMP connection closes.
        on_close: HookUrls = HookUrls::default() => on_close: HookUrls;
        /// `http_hooks.on_publish` (SRS): asked before a publish is accepted.
        on_publish: HookUrls = HookUrls::default() => on_publish: HookUrls;
        /// `http_hooks.on_unpublish` (SRS): told when a publisher stops.
        on_unpublish: HookUrls = HookUrls::default() => on_unpublish: HookUrls;
        /// `http_hooks.on_play` (SRS): asked before a player (RTMP, HTTP-FLV, HTTP-TS) starts.
        on_play: HookUrls = HookUrls::default() => on_play: HookUrls;
        /// `http_hooks.on_stop` (SRS): told when a player stops.
        on_stop: HookUrls = HookUrls::default() => on_stop: HookUrls;
        /// `http_hooks.on_dvr` (SRS): told when a recording file is closed.
        on_dvr: HookUrls = HookUrls::default() => on_dvr: HookUrls;
        /// `http_hooks.on_hls` (SRS): told when an HLS segment is closed.
        on_hls: HookUrls = HookUrls::default() => on_hls: HookUrls;
        /// `http_hooks.on_hls_notify` (SRS): URL templates fetched with a GET when an HLS
        /// segment is closed, `[server_id]`, `[app]`, `[stream]`, `[ts_url]` and `[param]`
        /// replaced (for CDNs that pre-fetch segments); the answer is ignored after
        /// `hls.hls_nb_notify` bytes of body.
        on_hls_notify: HookUrls = HookUrls::default() => on_hls_notify: HookUrls;
        /// `http_hooks.hooks_timeout`, seconds (ours; SRS waits up to its HTTP client's fixed
        /// 30 s): the longest one hook request may take, connection to last byte, before it
        /// counts as failed (which refuses the client for on_connect/on_publish/on_play).
        timeout_s: u32 = 3 => hooks_timeout: Int<1, 60>;
    }
    nested {}
    extra {}
    raw no_hook {}
}
