//! The TOML config file: schema, validation with line numbers, vhost lookup, reload diff.
//!
//! Keys follow SRS's names where the concept is the same; the shipped, commented example is
//! `rootfs/common/etc/tinysrs/tinysrs.toml`. Every key is optional and an empty file means the
//! embedded defaults ([`Config::embedded`]).
//!
//! Loading is all or nothing: unknown keys and bad values are errors naming the key and its
//! `line:column`, e.g. `tinysrs.toml:12:15: vhost.__defaultVhost__.play.time_jitter: expected
//! one of full, zero, off, found "fast"`. Values are checked while toml deserializes them (see
//! `schema`), so the span is the value's own; security rules and vhost names are checked just
//! after, on spans kept with `toml::Spanned`.
//!
//! Vhosts (SRS behaviour unless noted):
//! - The default vhost [`DEFAULT_VHOST`] always exists, written or not.
//! - Every vhost starts from the embedded defaults; a named vhost does **not** inherit what the
//!   file sets for the default vhost (SRS does the same: it has no vhost inheritance).
//! - Names are host names, matched case-insensitively (ours; SRS compares exactly) and stored in
//!   lower case, so `[vhost."Cam.Example.com"]` is `cam.example.com`, and two names that differ
//!   only in case are an error. `[vhost.__defaultvhost__]` in any case is the default vhost.
//! - A client's vhost resolves to the named vhost if one is configured, else to the default
//!   vhost. A configured but disabled vhost refuses its clients; it does not fall back to the
//!   default vhost.

mod diff;
mod error;
mod schema;
mod security;
mod vhost;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;

pub use error::ConfigError;
pub use security::{Action, Method, Peers, Rule, RuleError, Security};
pub use vhost::{Hls, HlsStorage, TimeJitter, Vhost};

use schema::{RawConfig, RawVhost};
use toml::Spanned;

/// The vhost used when a client names none or names one that is not configured (SRS's name).
pub const DEFAULT_VHOST: &str = "__defaultVhost__";

/// Largest config file [`Config::load`] reads; a real one is a few KiB.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// `http_server` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpServer {
    /// `http_server.enabled` (SRS: `http_server.enabled`).
    pub enabled: bool,
    /// `http_server.listen` (SRS: `http_server.listen`). Needs a restart to change.
    pub listen: SocketAddr,
    /// `http_server.dir` (SRS: `http_server.dir`): the static web root.
    pub dir: String,
    /// `http_server.crossdomain` (SRS: `http_server.crossdomain`): CORS headers.
    pub crossdomain: bool,
}

/// How camera media reaches us (`gb28181.transport`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GbTransport {
    /// The camera connects to our shared TCP media port (RFC 4571 framing).
    TcpPassive,
    /// We connect to the camera's TCP port from its SDP answer.
    TcpActive,
    /// RTP over UDP to a port of ours from `rtp_port_min..=rtp_port_max`.
    Udp,
}

/// How a camera stream is named in the hub (`gb28181.stream_name`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GbStreamName {
    /// `{app}/{channel_id}`.
    Channel,
    /// `{app}/{device_id}` (one stream per device).
    Device,
}

/// `gb28181` settings: the SIP server for IP cameras and their media.
#[derive(Debug, Clone, PartialEq)]
pub struct Gb28181 {
    /// `gb28181.enabled`.
    pub enabled: bool,
    /// `gb28181.sip_listen`: SIP over UDP and TCP. Needs a restart to change.
    pub sip_listen: SocketAddr,
    /// `gb28181.media_listen`: the shared TCP media port (tcp_passive). Restart to change.
    pub media_listen: SocketAddr,
    /// `gb28181.rtp_port_min`/`rtp_port_max`: UDP media ports, one per playing channel.
    pub rtp_ports: (u16, u16),
    /// `gb28181.server_id`: our 20-digit SIP id.
    pub server_id: String,
    /// `gb28181.domain`: SIP domain and digest realm (the first 10 digits of the id).
    pub domain: String,
    /// `gb28181.password`: shared REGISTER password; empty accepts devices without one.
    pub password: String,
    /// `gb28181.passwords`: per-device passwords, by device id.
    pub passwords: BTreeMap<String, String>,
    /// `gb28181.auto_invite`: invite every channel after the catalog arrives.
    pub auto_invite: bool,
    /// `gb28181.transport`.
    pub transport: GbTransport,
    /// `gb28181.app`: the app of camera streams in the hub.
    pub app: String,
    /// `gb28181.stream_name`.
    pub stream_name: GbStreamName,
    /// `gb28181.keepalive_timeout`, seconds without keepalive before a device is offline.
    pub keepalive_timeout_s: u32,
    /// `gb28181.media_timeout`, seconds without media before a channel is invited again.
    pub media_timeout_s: u32,
    /// `gb28181.max_media_sessions`: camera channels receiving media at once (and media TCP
    /// connections). RAM: up to about 8 MiB each at worst (see `limits`).
    pub max_media_sessions: usize,
    /// `gb28181.host`: the IP put in our SDP; empty = the local address the camera reached.
    pub host: String,
}

/// `http_api` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpApi {
    /// `http_api.enabled` (SRS: `http_api.enabled`).
    pub enabled: bool,
    /// `http_api.auth` (SRS: `http_api.auth`): basic-auth (username, password) when enabled.
    pub auth: Option<(String, String)>,
}

/// The whole configuration, every key resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `listen` (SRS: `listen`): RTMP listen address. Needs a restart to change.
    pub listen: SocketAddr,
    /// `max_connections` (SRS: `max_connections`): TCP connections (RTMP, HTTP, GB28181 SIP
    /// and media) over this are closed at accept.
    pub max_connections: usize,
    /// `max_streams`: streams (publishers and streams waited for by players) alive at once;
    /// a publish or play that would create one more is refused.
    pub max_streams: usize,
    /// `chunk_size` (SRS: `chunk_size`): our outgoing RTMP chunk size, 128..=65536.
    pub chunk_size: u32,
    /// `handshake_timeout`: ms to finish the RTMP handshake and `connect`.
    pub handshake_timeout_ms: u32,
    /// `idle_timeout`: ms with no bytes in either direction before a connection is closed.
    pub idle_timeout_ms: u32,
    /// `grace_period`: ms a Source with no publisher and no player is kept; 0 frees it at once.
    pub grace_period_ms: u32,
    /// `log.level` (SRS: `srs_log_level`).
    pub log_level: log::LevelFilter,
    /// `user`: when started as root, switch to this user (and its group) after binding the
    /// listening ports. Needs a restart to change.
    pub user: Option<String>,
    /// `http_server` (SRS: `http_server`): live HTTP-FLV/TS/HLS, static files and the API.
    pub http: HttpServer,
    /// `http_api` (SRS: `http_api`), served by the same HTTP server under `/api/`.
    pub api: HttpApi,
    /// `gb28181`: the camera gateway.
    pub gb28181: Gb28181,
    default_vhost: Vhost,
    /// Named vhosts by canonical (lower-case) name.
    vhosts: BTreeMap<String, Vhost>,
}

impl Config {
    /// The built-in defaults; equal to `from_toml_str("", _)`.
    pub fn embedded() -> Config {
        Config {
            listen: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 1935)),
            max_connections: 1000,
            max_streams: crate::live::MAX_STREAMS,
            chunk_size: 60_000,
            handshake_timeout_ms: 10_000,
            idle_timeout_ms: 30_000,
            grace_period_ms: 5_000,
            log_level: log::LevelFilter::Info,
            user: None,
            http: HttpServer {
                enabled: cfg!(feature = "http"),
                listen: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 8080)),
                dir: "./www".to_owned(),
                crossdomain: true,
            },
            api: HttpApi {
                enabled: cfg!(feature = "api"),
                auth: None,
            },
            gb28181: Gb28181 {
                enabled: cfg!(feature = "gb28181"),
                sip_listen: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 5060)),
                media_listen: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 9000)),
                rtp_ports: (30000, 30100),
                server_id: "34020000002000000001".to_owned(),
                domain: "3402000000".to_owned(),
                password: String::new(),
                passwords: BTreeMap::new(),
                auto_invite: true,
                transport: GbTransport::TcpPassive,
                app: "live".to_owned(),
                stream_name: GbStreamName::Channel,
                keepalive_timeout_s: 180,
                media_timeout_s: 15,
                max_media_sessions: 64,
                host: String::new(),
            },
            default_vhost: Vhost::embedded(DEFAULT_VHOST.to_owned()),
            vhosts: BTreeMap::new(),
        }
    }

    /// Parses config text; `origin` (usually the file name) starts every error message.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig =
            toml::from_str(text).map_err(|e| ConfigError::from_toml(&e, text, origin))?;
        let mut config = Config::embedded();
        if let Some(v) = raw.listen {
            config.listen = v.0;
        }
        if let Some(v) = raw.max_connections {
            config.max_connections = v.to_usize();
        }
        if let Some(v) = raw.max_streams {
            config.max_streams = v.to_usize();
        }
        if let Some(v) = raw.chunk_size {
            config.chunk_size = v.to_u32();
        }
        if let Some(v) = raw.handshake_timeout {
            config.handshake_timeout_ms = v.to_u32();
        }
        if let Some(v) = raw.idle_timeout {
            config.idle_timeout_ms = v.to_u32();
        }
        if let Some(v) = raw.grace_period {
            config.grace_period_ms = v.to_u32();
        }
        if let Some(user) = raw.user {
            config.user = Some(user);
        }
        if let Some(level) = raw.log.and_then(|log| log.level) {
            config.log_level = level.0;
        }
        let at = |span, key, message| ConfigError::at(text, origin, span, key, message);
        if let Some(gb) = raw.gb28181 {
            let g = &mut config.gb28181;
            if let Some(v) = gb.enabled {
                g.enabled = compiled_in(
                    v,
                    cfg!(feature = "gb28181"),
                    "gb28181.enabled",
                    "gb28181",
                    &at,
                )?;
            }
            if let Some(v) = gb.sip_listen {
                g.sip_listen = v.0;
            }
            if let Some(v) = gb.media_listen {
                g.media_listen = v.0;
            }
            if let Some(v) = gb.rtp_port_max {
                g.rtp_ports.1 = v.to_u32() as u16;
            }
            if let Some(v) = gb.rtp_port_min {
                g.rtp_ports.0 = v.get_ref().to_u32() as u16;
                if g.rtp_ports.0 > g.rtp_ports.1 {
                    return Err(at(
                        v.span(),
                        "gb28181.rtp_port_min".to_owned(),
                        format!("above rtp_port_max ({})", g.rtp_ports.1),
                    ));
                }
            }
            if let Some(v) = gb.server_id {
                g.domain = v.0[..10].to_owned();
                g.server_id = v.0;
            }
            if let Some(v) = gb.domain {
                g.domain = v;
            }
            if let Some(v) = gb.password {
                g.password = v;
            }
            if let Some(v) = gb.passwords {
                g.passwords = v;
            }
            if let Some(v) = gb.auto_invite {
                g.auto_invite = v;
            }
            if let Some(v) = gb.transport {
                g.transport = v.0;
            }
            if let Some(v) = gb.app {
                g.app = v;
            }
            if let Some(v) = gb.stream_name {
                g.stream_name = v.0;
            }
            if let Some(v) = gb.keepalive_timeout {
                g.keepalive_timeout_s = v.to_u32();
            }
            if let Some(v) = gb.media_timeout {
                g.media_timeout_s = v.to_u32();
            }
            if let Some(v) = gb.max_media_sessions {
                g.max_media_sessions = v.to_usize();
            }
            if let Some(v) = gb.host {
                g.host = v;
            }
        }
        if let Some(http) = raw.http_server {
            if let Some(v) = http.enabled {
                config.http.enabled = compiled_in(
                    v,
                    cfg!(feature = "http"),
                    "http_server.enabled",
                    "http-flv, http-ts, hls or api",
                    &at,
                )?;
            }
            if let Some(v) = http.listen {
                config.http.listen = v.0;
            }
            if let Some(v) = http.dir {
                config.http.dir = v;
            }
            if let Some(v) = http.crossdomain {
                config.http.crossdomain = v;
            }
        }
        if let Some(api) = raw.http_api {
            if let Some(v) = api.enabled {
                config.api.enabled =
                    compiled_in(v, cfg!(feature = "api"), "http_api.enabled", "api", &at)?;
            }
            if let Some(auth) = api.auth {
                config.api.auth = match auth.enabled {
                    Some(true) | None if auth.username.is_some() => Some((
                        auth.username.unwrap_or_default(),
                        auth.password.unwrap_or_default(),
                    )),
                    _ => None,
                };
            }
        }
        // File order, so that a case-duplicate is reported where it is written second.
        let mut written: Vec<(Spanned<String>, RawVhost)> =
            raw.vhost.unwrap_or_default().into_iter().collect();
        written.sort_by_key(|(name, _)| name.span().start);
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        for (name, raw_vhost) in written {
            let mut path = String::from("vhost");
            error::push_key(&mut path, name.get_ref());
            let canonical = canonical_vhost_name(name.get_ref())
                .map_err(|message| at(name.span(), path.clone(), message))?;
            if let Some(first) = seen.insert(canonical.clone(), name.get_ref().clone()) {
                return Err(at(
                    name.span(),
                    path,
                    format!("same vhost as {first:?} (vhost names are case-insensitive)"),
                ));
            }
            let vhost = if canonical == DEFAULT_VHOST {
                &mut config.default_vhost
            } else {
                config
                    .vhosts
                    .entry(canonical.clone())
                    .or_insert_with(|| Vhost::embedded(canonical))
            };
            apply_vhost(vhost, raw_vhost, &path, &at)?;
        }
        Ok(config)
    }

    /// Reads and parses the file at `path` (at most [`MAX_CONFIG_BYTES`]).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let io_error = |source| ConfigError::Io {
            path: path.to_owned(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io_error)?;
        let mut text = String::new();
        file.take(MAX_CONFIG_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(io_error)?;
        if text.len() as u64 > MAX_CONFIG_BYTES {
            return Err(ConfigError::TooLarge {
                path: path.to_owned(),
                limit: MAX_CONFIG_BYTES,
            });
        }
        Config::from_toml_str(&text, &path.display().to_string())
    }

    /// The vhost configured under `name` (ASCII case-insensitive, [`DEFAULT_VHOST`] included);
    /// `None` if there is none or it is disabled.
    pub fn vhost(&self, name: &str) -> Option<&Vhost> {
        self.configured(name).filter(|v| v.enabled)
    }

    /// The default vhost, enabled or not.
    pub fn default_vhost(&self) -> &Vhost {
        &self.default_vhost
    }

    /// The vhost a client asking for `name` gets (SRS): the vhost configured under that name if
    /// any, else the default vhost; `None` when that vhost is disabled. A disabled named vhost
    /// does not fall back to the default vhost.
    pub fn resolve_vhost(&self, name: &str) -> Option<&Vhost> {
        let vhost = self.configured(name).unwrap_or(&self.default_vhost);
        vhost.enabled.then_some(vhost)
    }

    /// Every configured vhost, disabled ones included: the default vhost first, then by name.
    pub fn vhosts(&self) -> impl Iterator<Item = &Vhost> {
        std::iter::once(&self.default_vhost).chain(self.vhosts.values())
    }

    /// Human-readable list of what changed, for the SIGHUP reload log, one line per key written
    /// as in the file: `vhost.__defaultVhost__.play.gop_cache: true -> false`,
    /// `vhost."cam.example.com": added`. A key that needs a restart to apply (`listen`) ends
    /// with `(needs a restart to apply)`. Empty when nothing changed.
    pub fn diff(&self, new: &Config) -> Vec<String> {
        diff::diff(self, new)
    }

    fn configured(&self, name: &str) -> Option<&Vhost> {
        if name.eq_ignore_ascii_case(DEFAULT_VHOST) {
            return Some(&self.default_vhost);
        }
        self.vhosts
            .values()
            .find(|v| v.name.eq_ignore_ascii_case(name))
    }
}

/// Longest host name (RFC 1035 §2.3.4 allows 255 octets on the wire, 253 characters in text).
const MAX_VHOST_NAME: usize = 253;

/// The lower-case name under which a written vhost name is stored, or why it is refused.
fn canonical_vhost_name(name: &str) -> Result<String, String> {
    let valid = !name.is_empty()
        && name.len() <= MAX_VHOST_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if !valid {
        return Err(format!(
            "a vhost name is a host name of 1 to {MAX_VHOST_NAME} letters, digits, '.', '-' \
             or '_', found {name:?}"
        ));
    }
    if name.eq_ignore_ascii_case(DEFAULT_VHOST) {
        Ok(DEFAULT_VHOST.to_owned())
    } else {
        Ok(name.to_ascii_lowercase())
    }
}

/// `enabled = true` for a protocol this build does not have is refused, naming the feature.
fn compiled_in(
    value: Spanned<bool>,
    compiled: bool,
    key: &str,
    feature: &str,
    at: &ErrorAt<'_>,
) -> Result<bool, ConfigError> {
    let enabled = *value.get_ref();
    if enabled && !compiled {
        return Err(at(
            value.span(),
            key.to_owned(),
            format!("this build does not have it (Cargo feature {feature}); see boards/ or build with --features full"),
        ));
    }
    Ok(enabled)
}

type ErrorAt<'a> = dyn Fn(std::ops::Range<usize>, String, String) -> ConfigError + 'a;

/// Overrides `vhost`'s embedded defaults with what the file sets; `path` is `vhost.NAME`.
fn apply_vhost(
    vhost: &mut Vhost,
    raw: RawVhost,
    path: &str,
    at: &ErrorAt<'_>,
) -> Result<(), ConfigError> {
    if let Some(v) = raw.enabled {
        vhost.enabled = v;
    }
    if let Some(v) = raw.min_latency {
        vhost.min_latency = v;
    }
    if let Some(v) = raw.tcp_nodelay {
        vhost.tcp_nodelay = v;
    }
    if let Some(play) = raw.play {
        if let Some(v) = play.gop_cache {
            vhost.gop_cache = v;
        }
        if let Some(v) = play.gop_cache_max_frames {
            vhost.gop_cache_max_frames = v.to_usize();
        }
        if let Some(v) = play.gop_cache_max_bytes {
            vhost.gop_cache_max_bytes = v.to_usize();
        }
        if let Some(v) = play.queue_length {
            vhost.queue_length_ms = v.0;
        }
        if let Some(v) = play.queue_max_bytes {
            vhost.queue_max_bytes = v.to_usize();
        }
        if let Some(v) = play.mw_latency {
            vhost.mw_latency_ms = v.to_u32();
        }
        if let Some(v) = play.time_jitter {
            vhost.time_jitter = v.0;
        }
    }
    if let Some(publish) = raw.publish {
        if let Some(v) = publish.firstpkt_timeout {
            vhost.firstpkt_timeout_ms = v.to_u32();
        }
        if let Some(v) = publish.normal_timeout {
            vhost.normal_timeout_ms = v.to_u32();
        }
    }
    if let Some(remux) = raw.http_remux {
        if let Some(v) = remux.enabled {
            let flv_or_ts = cfg!(any(feature = "http-flv", feature = "http-ts"));
            let key = format!("{path}.http_remux.enabled");
            vhost.http_remux = compiled_in(v, flv_or_ts, &key, "http-flv or http-ts", at)?;
        }
    }
    if let Some(hls) = raw.hls {
        let h = &mut vhost.hls;
        if let Some(v) = hls.enabled {
            let key = format!("{path}.hls.enabled");
            h.enabled = compiled_in(v, cfg!(feature = "hls"), &key, "hls", at)?;
        }
        if let Some(v) = hls.hls_fragment {
            h.fragment_ms = v.0;
        }
        if let Some(v) = hls.hls_window {
            h.window_ms = v.0;
        }
        if let Some(v) = hls.hls_max_bytes {
            h.max_bytes = v.to_usize();
        }
        if let Some(v) = hls.hls_storage {
            h.storage = v.0;
        }
        if let Some(v) = hls.hls_path {
            h.path = v;
        }
        if let Some(v) = hls.hls_cleanup {
            h.cleanup = v;
        }
        if let Some(v) = hls.hls_dispose {
            h.dispose_s = v.to_u32();
        }
    }
    if let Some(security) = raw.security {
        if let Some(v) = security.enabled {
            vhost.security.enabled = v;
        }
        if let Some(lines) = security.rules {
            let mut rules = Vec::with_capacity(lines.len());
            for (i, line) in lines.iter().enumerate() {
                let rule = line.get_ref().parse::<Rule>().map_err(|e| {
                    at(
                        line.span(),
                        format!("{path}.security.rules[{i}]"),
                        format!("bad rule {:?}: {e}", line.get_ref()),
                    )
                })?;
                rules.push(rule);
            }
            vhost.security.rules = rules;
        }
    }
    Ok(())
}
