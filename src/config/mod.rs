//! The TOML config file: schema, validation with line numbers, vhost lookup, reload diff.
//!
//! Keys follow SRS's names where the concept is the same; the shipped, commented example is
//! `rootfs/common/etc/tinysrs/tinysrs.toml`. Every key is optional and an empty file means the
//! embedded defaults ([`Config::embedded`]).
//!
//! Loading is all or nothing: unknown keys and bad values are errors naming the key and its
//! `line:column`, e.g. `tinysrs.toml:12:15: vhost.__defaultVhost__.play.time_jitter: expected
//! one of full, zero, off, found "fast"`. toml parses the file into its spanned document tree;
//! each value is checked as it is read from that tree (see `schema`), so the span is the
//! value's own; security rules and vhost names are checked just after, on spans kept with
//! `toml::Spanned`.
//!
//! Each key is defined once, as a row of its section's `section!` table below (top level,
//! `http_server`, `http_api`, `gb28181`) or in `vhost` (`vhost` and its sub-tables, `hls`) and
//! `security`: field, type, default, doc, checked raw type and whether a change needs a
//! restart. The raw tables, the copy over the defaults and the reload diff are generated from
//! it; see `section` for how to add a key.
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

#[macro_use]
mod section;

mod cluster;
mod diff;
mod dvr;
mod error;
mod exec;
mod forward;
mod hooks;
mod ingest;
mod refer;
mod rtc;
mod schema;
mod security;
mod vhost;

#[cfg(test)]
mod tests;

use crate::sorted_map::SortedMap;
use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

pub use cluster::{
    Cluster, ClusterMode, ClusterProtocol, Coworkers, Origins, MAX_COWORKERS, MAX_ORIGINS,
};
pub use dvr::{Dvr, DvrApply, DvrFormat, DvrPath, DvrPlan, DvrSync, WallTime};
pub use error::ConfigError;
pub use exec::{ChildIngest, Command, Exec, Transcode};
pub use forward::{Backend, Destination, Destinations, Forward, MAX_DESTINATIONS};
pub use hooks::{check_url as check_hook_url, HookUrls, HttpHooks};
pub use ingest::{Ingest, IngestMode, IngestTransport, MAX_INGESTS};
pub use refer::{Domains, Refer};
pub use rtc::{RtcProtocol, RtcTcp};
pub use security::{Action, Method, Peers, Rule, RuleError, Security};
pub use vhost::{Hls, HlsStorage, TimeJitter, Vhost};

use schema::{FromToml, Int, Keyword, Listen, Seconds, SipId, Timeout};
use section::{compiled_in, debug, no_hook, plain, ErrorAt, Section};
use toml::Spanned;
use vhost::RawVhost;

pub use crate::media::DEFAULT_VHOST;

/// Largest config file [`Config::load`] reads; a real one is a few KiB.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

section! {
    /// `http_server` settings.
    pub struct HttpServer: RawHttpServer, "a table of HTTP server settings" {
        /// `http_server.enabled` (SRS: `http_server.enabled`). Needs a restart to change.
        @restart
        @check(compiled_in(cfg!(feature = "http"), "http-flv, http-ts, hls or api"))
        enabled: bool = cfg!(feature = "http") => enabled: Spanned<bool>;
        /// `http_server.listen` (SRS: `http_server.listen`). Needs a restart to change.
        @restart
        listen: SocketAddr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 8080)) => listen: Listen;
        /// `http_server.dir` (SRS: `http_server.dir`): the static web root.
        dir: String = "./www".to_owned() => dir: String;
        /// `http_server.crossdomain` (SRS: `http_server.crossdomain`): CORS headers.
        crossdomain: bool = true => crossdomain: bool;
        /// `http_server.max_body_bytes` (SRS has no such key): the longest request body; a
        /// longer (or chunked) one gets 413 and the connection is closed. The API takes no
        /// body it needs: bodies are read and dropped. RAM: counted per connection.
        max_body_bytes: usize = 64 * 1024 => max_body_bytes: Int<0, 16_777_216>;
    }
    nested {
        /// `http_server.https` (SRS: `http_server.https`): the same site over TLS.
        https: Https => https;
    }
    extra {}
    raw no_hook {}
}

section! {
    /// `http_server.https` settings (SRS's names): HTTPS beside the plain port, serving the
    /// same routes (the API and WHIP/WHEP among them when the HTTP server serves them). Browsers need it for WHIP from a page that is not on
    /// localhost (a camera or a microphone is offered only to a secure origin).
    pub struct Https: RawHttps, "a table of HTTPS settings" {
        /// `https.enabled` (SRS: `https.enabled`). Off by default. Cargo feature `tls` (in
        /// `full`). Needs a restart.
        @restart
        @check(compiled_in(cfg!(feature = "tls"), "tls"))
        enabled: bool = false => enabled: Spanned<bool>;
        /// `https.listen` (SRS: `https.listen`, 8088 there too). Needs a restart.
        @restart
        listen: SocketAddr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 8088)) => listen: Listen;
        /// `https.key` (SRS: `https.key`): the private key, a PEM file (PKCS#8, EC or RSA).
        /// When neither it nor `cert` exists, a self-signed certificate for the box's
        /// addresses and host name is made at start and written to both (the key with mode
        /// 0600), so a browser's exception for it holds across restarts; when they cannot
        /// be written, it is used for this run only. Read at start.
        @restart
        key: String = "./conf/server.key".to_owned() => key: String;
        /// `https.cert` (SRS: `https.cert`): the certificate chain, a PEM file, the server's
        /// certificate first. Read at start.
        @restart
        cert: String = "./conf/server.crt".to_owned() => cert: String;
    }
    nested {}
    extra {}
    raw no_hook {}
}

keywords! {
    /// How camera media reaches us (`gb28181.transport`).
    pub enum GbTransport {
        /// The camera connects to our shared TCP media port (RFC 4571 framing).
        TcpPassive = "tcp_passive",
        /// We connect to the camera's TCP port from its SDP answer.
        TcpActive = "tcp_active",
        /// RTP over UDP to a port of ours from `rtp_port_min..=rtp_port_max`.
        Udp = "udp",
    }
}

keywords! {
    /// How a camera stream is named in the hub (`gb28181.stream_name`).
    pub enum GbStreamName {
        /// `{app}/{channel_id}`.
        Channel = "channel",
        /// `{app}/{device_id}` (one stream per device).
        Device = "device",
    }
}

keywords! {
    /// When camera channels are invited (`gb28181.invite`).
    pub enum GbInvite {
        /// Every channel once its catalog arrives, and again after a failure or a stall (as
        /// before on-demand invites existed).
        Always = "always",
        /// A channel while its stream has viewers: invited when the first arrives, hung up
        /// (BYE) `on_demand_grace` seconds after the last leaves.
        OnDemand = "on_demand",
    }
}

section! {
    /// `gb28181` settings: the SIP server for IP cameras and their media.
    pub struct Gb28181: RawGb28181, "a table of GB28181 settings" {
        /// `gb28181.enabled`.
        @check(compiled_in(cfg!(feature = "gb28181"), "gb28181"))
        enabled: bool = cfg!(feature = "gb28181") => enabled: Spanned<bool>;
        /// `gb28181.sip_listen`: SIP over UDP and TCP. Needs a restart to change.
        sip_listen: SocketAddr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 5060))
            => sip_listen: Listen;
        /// `gb28181.media_listen`: the shared TCP media port (tcp_passive). Restart to change.
        media_listen: SocketAddr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 9000))
            => media_listen: Listen;
        /// `gb28181.server_id`: our 20-digit SIP id.
        @show(plain)
        server_id: String = "34020000002000000001".to_owned() => server_id: SipId;
        /// `gb28181.password`: shared REGISTER password; empty accepts devices without one.
        @show(password_set)
        password: String = String::new() => password: String;
        /// `gb28181.passwords`: per-device passwords, by device id.
        passwords: SortedMap<String, String> = SortedMap::new()
            => passwords: SortedMap<String, String>;
        /// `gb28181.auto_invite`: invite channels without being asked (as `invite` says);
        /// off, only the API invites.
        auto_invite: bool = true => auto_invite: bool;
        /// `gb28181.on_demand_grace` (SRS has no such key), seconds: with `invite =
        /// "on_demand"`, how long a channel goes on sending after its last viewer left; a
        /// viewer who comes back meanwhile finds it still playing. Read at start.
        @restart
        on_demand_grace_s: u32 = 10 => on_demand_grace: Int<0, 3_600>;
        /// `gb28181.transport`.
        @show(debug)
        transport: GbTransport = GbTransport::TcpPassive => transport: Keyword<GbTransport>;
        /// `gb28181.app`: the app of camera streams in the hub.
        @show(plain)
        app: String = "live".to_owned() => app: String;
        /// `gb28181.stream_name`.
        @show(debug)
        stream_name: GbStreamName = GbStreamName::Channel
            => stream_name: Keyword<GbStreamName>;
        /// `gb28181.keepalive_timeout`, seconds without keepalive before a device is offline.
        keepalive_timeout_s: u32 = 180 => keepalive_timeout: Int<10, 3_600>;
        /// `gb28181.media_timeout`, seconds without media before a channel is invited again.
        media_timeout_s: u32 = 15 => media_timeout: Int<3, 3_600>;
        /// `gb28181.max_media_sessions`: camera channels receiving media at once (and media TCP
        /// connections). RAM: up to about 8 MiB each at worst (see `limits`).
        max_media_sessions: usize = 64 => max_media_sessions: Int<1, 1_024>;
        /// `gb28181.max_pes_bytes` (SRS has no such key): the longest PES packet of a camera's
        /// PS stream (a whole frame when the camera sends it in one unbounded PES); a longer
        /// one is dropped, the demuxer resyncs. Read when a media session starts. RAM: per
        /// media session.
        max_pes_bytes: usize = 2 * 1024 * 1024 => max_pes_bytes: Int<65_536, 67_108_864>;
        /// `gb28181.max_frame_bytes` (SRS has no such key): the largest access unit (video
        /// frame) assembled from a camera's PES packets; a larger one is dropped and counted.
        /// Read when a media session starts. RAM: per media session, and the largest frame a
        /// stream holds.
        max_frame_bytes: usize = 4 * 1024 * 1024 => max_frame_bytes: Int<65_536, 67_108_864>;
        /// `gb28181.max_reorder_bytes` (SRS has no such key): RTP packets held to put them
        /// back in order, counted at the 64 KiB an RTP packet over TCP may have: the window is
        /// this / 64 KiB packets, 2..=512. Read when a media session starts. RAM: per media
        /// session.
        max_reorder_bytes: usize = 2 * 1024 * 1024
            => max_reorder_bytes: Int<131_072, 33_554_432>;
        /// `gb28181.host`: the IP put in our SDP; empty = the local address the camera reached.
        host: String = String::new() => host: String;
    }
    nested {}
    extra {
        /// `gb28181.rtp_port_min`/`rtp_port_max`: UDP media ports, one per playing channel.
        pub rtp_ports: (u16, u16) = (30000, 30100) => "rtp_ports" @show(port_range);
        /// `gb28181.domain`: SIP domain and digest realm (the first 10 digits of the id).
        pub domain: String = "3402000000".to_owned() => "domain" @show(plain);
        /// `gb28181.invite` (SRS has no such key): "always" or "on_demand"; "on_demand"
        /// needs `auto_invite`. Read at start.
        pub invite: GbInvite = GbInvite::Always => "invite" @restart;
    }
    raw apply_gb28181 {
        rtp_port_min: Spanned<Int<1024, 65_535>>,
        rtp_port_max: Int<1024, 65_535>,
        domain: String,
        invite: Spanned<Keyword<GbInvite>>,
    }
}

/// `gb28181.password` in the reload log: whether one is set, never the password.
fn password_set(password: &str) -> String {
    if password.is_empty() { "none" } else { "set" }.to_owned()
}

/// `rtsp_server.rtp_port_min`: 0 or an even port from 1024 (an RTP port, RFC 3550 §11).
fn rtp_port_even(
    v: Spanned<Int<0, 65_534>>,
    key: &str,
    at: &ErrorAt<'_>,
) -> Result<u16, ConfigError> {
    let port = v.get_ref().to_u32() as u16;
    if port != 0 && (port % 2 != 0 || port < 1024) {
        let message = "an RTP port: even and 1024 or above (or 0: the kernel picks)";
        return Err(at(v.span(), key.to_owned(), message.to_owned()));
    }
    Ok(port)
}

/// `rtsp_server.rtp_port_max`: 0 or an odd port (the last RTCP port of the range).
fn rtp_port_odd(
    v: Spanned<Int<0, 65_535>>,
    key: &str,
    at: &ErrorAt<'_>,
) -> Result<u16, ConfigError> {
    let port = v.get_ref().to_u32() as u16;
    if port != 0 && port % 2 == 0 {
        let message = "the last RTCP port of the range: odd (or 0: the kernel picks)";
        return Err(at(v.span(), key.to_owned(), message.to_owned()));
    }
    Ok(port)
}

fn port_range(ports: &(u16, u16)) -> String {
    format!("{}-{}", ports.0, ports.1)
}

/// The `gb28181` keys that depend on each other: the port range, the domain that is the
/// first 10 digits of `server_id` unless written, and `invite = "on_demand"`, which needs
/// `auto_invite`.
type RawGbHooked = (
    Option<Spanned<Int<1024, 65_535>>>,
    Option<Int<1024, 65_535>>,
    Option<String>,
    Option<Spanned<Keyword<GbInvite>>>,
);

fn apply_gb28181(
    g: &mut Gb28181,
    (min, max, domain, invite): RawGbHooked,
    path: &str,
    at: &ErrorAt<'_>,
) -> Result<(), ConfigError> {
    if let Some(v) = invite {
        let span = v.span();
        g.invite = v.into_inner().0;
        if g.invite == GbInvite::OnDemand && !g.auto_invite {
            return Err(at(
                span,
                section::join(path, "invite"),
                "\"on_demand\" invites channels when viewers come, which auto_invite = false \
                 forbids (only the API invites then); set auto_invite = true or leave invite out"
                    .to_owned(),
            ));
        }
    }
    if let Some(v) = max {
        g.rtp_ports.1 = v.to_u32() as u16;
    }
    if let Some(v) = min {
        g.rtp_ports.0 = v.get_ref().to_u32() as u16;
        if g.rtp_ports.0 > g.rtp_ports.1 {
            return Err(at(
                v.span(),
                section::join(path, "rtp_port_min"),
                format!("above rtp_port_max ({})", g.rtp_ports.1),
            ));
        }
    }
    g.domain = domain.unwrap_or_else(|| g.server_id[..10].to_owned());
    Ok(())
}

section! {
    /// `http_api` settings.
    pub struct HttpApi: RawHttpApi, "a table of HTTP API settings" {
        /// `http_api.enabled` (SRS: `http_api.enabled`).
        @check(compiled_in(cfg!(feature = "api"), "api"))
        enabled: bool = cfg!(feature = "api") => enabled: Spanned<bool>;
        /// `http_api.listen` (SRS: `http_api.listen`): the API also on a port of its own, API
        /// paths only (SRS's console connects to 1985). Off unless written: the API is then on
        /// the HTTP server's port only. The same address as `http_server.listen` is that
        /// server. Needs a restart to change.
        @restart
        listen: Option<SocketAddr> = None => listen: Listen;
    }
    nested {}
    extra {
        /// `http_api.auth` (SRS: `http_api.auth`): basic auth when enabled.
        pub auth: Option<ApiAuth> = None => "auth" @show(show_auth);
    }
    raw apply_auth {
        auth: RawAuth,
    }
}

/// `http_api.auth` when enabled: who may use the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiAuth {
    pub username: String,
    /// `password`, or the first line of `password_file` once [`Config::load`] has read it;
    /// `None` until then, and nothing is accepted.
    pub password: Option<String>,
    /// `http_api.auth.password_file` (beyond SRS): where the packages keep the password they
    /// generate at install, so it is never in the config; used instead of `password` when
    /// set (not empty).
    pub password_file: Option<PathBuf>,
    /// `http_api.auth.read_only_open` (beyond SRS): `GET` and `HEAD` need no credentials;
    /// everything that changes something (`POST`, `PUT`, `DELETE`, and SRS's JSONP
    /// `method=DELETE`) still does.
    pub read_only_open: bool,
}

/// The longest password file [`Config::load`] reads.
pub const MAX_PASSWORD_FILE_BYTES: u64 = 256;

/// `http_api.auth`.
struct RawAuth {
    enabled: Option<bool>,
    username: Option<String>,
    password: Option<String>,
    password_file: Option<String>,
    read_only_open: Option<bool>,
}

impl FromToml for RawAuth {
    fn from_toml(item: &schema::Item<'_>) -> Result<RawAuth, schema::Invalid> {
        let mut auth = RawAuth {
            enabled: None,
            username: None,
            password: None,
            password_file: None,
            read_only_open: None,
        };
        schema::read_table(
            item,
            "a table of API authentication settings",
            &[
                "enabled",
                "username",
                "password",
                "password_file",
                "read_only_open",
            ],
            &mut |key, value| {
                match key {
                    "enabled" => auth.enabled = Some(bool::from_toml(value)?),
                    "username" => auth.username = Some(String::from_toml(value)?),
                    "password" => auth.password = Some(String::from_toml(value)?),
                    "password_file" => auth.password_file = Some(String::from_toml(value)?),
                    "read_only_open" => auth.read_only_open = Some(bool::from_toml(value)?),
                    _ => return Ok(false),
                }
                Ok(true)
            },
        )?;
        // Auth asked for without a user name would otherwise leave the API open in silence.
        if auth.enabled == Some(true) && auth.username.is_none() {
            return Err(schema::Invalid::at(
                item,
                "enabled = true needs a username (and a password or password_file); \
                 without one the API would stay open"
                    .to_owned(),
            ));
        }
        Ok(auth)
    }
}

fn apply_auth(
    api: &mut HttpApi,
    (auth,): (Option<RawAuth>,),
    _: &str,
    _: &ErrorAt<'_>,
) -> Result<(), ConfigError> {
    let Some(auth) = auth else {
        return Ok(());
    };
    api.auth = match auth.enabled {
        Some(true) | None if auth.username.is_some() => {
            // A board's package sets the file over the shipped `password`: the file wins.
            let password_file = auth.password_file.filter(|f| !f.is_empty());
            let password = match password_file {
                Some(_) => None,
                None => Some(auth.password.unwrap_or_default()),
            };
            Some(ApiAuth {
                username: auth.username.unwrap_or_default(),
                password,
                password_file: password_file.map(PathBuf::from),
                read_only_open: auth.read_only_open.unwrap_or(false),
            })
        }
        _ => None,
    };
    Ok(())
}

/// Whether a secret is set, never the secret.
fn show_secret(secret: &str) -> String {
    match secret.is_empty() {
        true => "(none)".to_owned(),
        false => "(set)".to_owned(),
    }
}

/// The user name only: the password never goes to the log.
fn show_auth(auth: &Option<ApiAuth>) -> String {
    match auth {
        Some(a) => {
            let mut s = format!("user {:?}", a.username);
            if let Some(f) = &a.password_file {
                s += &format!(", password from {}", f.display());
            }
            if a.read_only_open {
                s += ", GET and HEAD open";
            }
            s
        }
        None => "off".to_owned(),
    }
}

/// Reads `http_api.auth.password_file` into the password: its first line, without the line
/// end, at most [`MAX_PASSWORD_FILE_BYTES`]; an empty one is refused.
fn read_password_file(auth: &mut ApiAuth) -> Result<(), ConfigError> {
    let Some(path) = auth.password_file.clone() else {
        return Ok(());
    };
    let io_error = |source| ConfigError::Io {
        path: path.clone(),
        source,
    };
    let file = std::fs::File::open(&path).map_err(io_error)?;
    let mut text = String::new();
    file.take(MAX_PASSWORD_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(io_error)?;
    if text.len() as u64 > MAX_PASSWORD_FILE_BYTES {
        return Err(ConfigError::TooLarge {
            path,
            limit: MAX_PASSWORD_FILE_BYTES,
        });
    }
    let line = text.lines().next().unwrap_or("").trim_end();
    if line.is_empty() {
        let source = io::Error::new(io::ErrorKind::InvalidData, "an empty password");
        return Err(io_error(source));
    }
    auth.password = Some(line.to_owned());
    Ok(())
}

section! {
    /// The whole configuration, every key resolved.
    pub struct Config: RawConfig, "a config table" {
        /// `listen` (SRS: `listen`): RTMP listen address. Needs a restart to change.
        @restart
        listen: SocketAddr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 1935)) => listen: Listen;
        /// `max_connections` (SRS: `max_connections`): TCP connections (RTMP, HTTP, GB28181
        /// SIP and media) over this are closed at accept.
        max_connections: usize = 1000 => max_connections: Int<1, 1_000_000>;
        /// `max_streams`: streams (publishers and streams waited for by players) alive at once;
        /// a publish or play that would create one more is refused. RAM: a Source without
        /// players or cache is about 400 bytes; its GOP cache adds up to `gop_cache_max_bytes`.
        max_streams: usize = 1024 => max_streams: Int<1, 65_536>;
        /// `chunk_size` (SRS: `chunk_size`): our outgoing RTMP chunk size, 128..=65536.
        chunk_size: u32 = 60_000 => chunk_size: Int<128, 65_536>;
        /// `handshake_timeout`: ms to finish the RTMP handshake and `connect`.
        handshake_timeout_ms: u32 = 10_000 => handshake_timeout: Timeout;
        /// `idle_timeout`: ms with no bytes in either direction before a connection is closed.
        idle_timeout_ms: u32 = 30_000 => idle_timeout: Timeout;
        /// `grace_period`: ms a Source with no publisher and no player is kept; 0 frees it at
        /// once.
        grace_period_ms: u32 = 5_000 => grace_period: Int<0, 3_600_000>;
        /// `user`: when started as root, switch to this user (and its group) after binding the
        /// listening ports. Needs a restart to change.
        @restart
        user: Option<String> = None => user: String;
    }
    table log: RawLog, "a table of log settings" {
        /// `log.level` (SRS: `srs_log_level`).
        log_level: log::LevelFilter = log::LevelFilter::Info => level: Keyword<log::LevelFilter>;
    }
    table rtmp: RawRtmp, "a table of RTMP limits" {
        /// `rtmp.max_message_bytes` (SRS has no such key): the longest RTMP message a
        /// publisher may send (a video frame: the largest keyframe); a longer one closes the
        /// connection. Read when a connection starts. RAM: the largest frame a stream holds
        /// (its GOP cache, player queues and HLS segment count it like any frame).
        rtmp_max_message_bytes: usize = 4 * 1024 * 1024
            => max_message_bytes: Int<65_536, 16_777_215>;
        /// `rtmp.max_pending_bytes` (SRS has no such key): partly received messages one
        /// publisher may hold at once, across its chunk streams (a keyframe being received
        /// while audio goes on); raised to `max_message_bytes` when below it. Read when a
        /// connection starts. RAM: this much per publishing connection at worst.
        rtmp_max_pending_bytes: usize = 6 * 1024 * 1024
            => max_pending_bytes: Int<65_536, 1_073_741_824>;
    }
    table exporter: RawExporter, "a table of Prometheus exporter settings" {
        /// `exporter.enabled` (SRS 5: `exporter.enabled`): `/metrics` in Prometheus's text
        /// format on the HTTP server and the API's port (and on `exporter.listen` if set).
        @check(compiled_in(cfg!(feature = "metrics"), "metrics"))
        exporter_enabled: bool = false => enabled: Spanned<bool>;
        /// `exporter.listen` (SRS: `exporter.listen`, 9972 there): `/metrics` also on a port
        /// of its own, which serves nothing else. Off unless written. Needs a restart.
        @restart
        exporter_listen: Option<SocketAddr> = None => listen: Listen;
        /// `exporter.label` (SRS: `exporter.label`): a `label` label on `srs_build_info`.
        exporter_label: String = String::new() => label: String;
        /// `exporter.tag` (SRS: `exporter.tag`): a `tag` label on `srs_build_info`.
        exporter_tag: String = String::new() => tag: String;
    }
    table rtsp_server: RawRtspServer, "a table of RTSP server settings" {
        /// `rtsp_server.enabled` (SRS has no RTSP server; MediaMTX's `rtsp`): players pull
        /// every live stream as `rtsp://host:8554/app/stream`. Off by default, like every
        /// port beyond RTMP and HTTP: an RTSP port left open on a router is scanned for
        /// cameras. Needs a restart to change (the port is bound at start).
        @check(compiled_in(cfg!(feature = "rtsp"), "rtsp"))
        @restart
        rtsp_server_enabled: bool = false => enabled: Spanned<bool>;
        /// `rtsp_server.listen`: 8554 as MediaMTX (554 needs privileges; `user` drops them
        /// after binding). Needs a restart.
        @restart
        rtsp_server_listen: SocketAddr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 8554))
            => listen: Listen;
        /// `rtsp_server.max_sessions`: RTSP connections at once (also counted under
        /// `max_connections`); more are closed at accept. RAM: each holds up to
        /// `session::rtsp_server::MAX_INPUT` of input and its player queue (`tinysrs -t`).
        rtsp_server_max_sessions: usize = 64 => max_sessions: Int<1, 100_000>;
        /// `rtsp_server.auth_username` (SRS has no RTSP server; MediaMTX: `authInternalUsers`):
        /// when not empty, players' DESCRIBE and publishers' ANNOUNCE need this user and
        /// `auth_password`, Basic or Digest (401 offers both). Empty: no authentication (the
        /// `security` rules and the hooks apply either way).
        rtsp_server_auth_username: String = String::new() => auth_username: String;
        /// `rtsp_server.auth_password`: that user's password (not written to the log).
        @show(show_secret)
        rtsp_server_auth_password: String = String::new() => auth_password: String;
        /// `rtsp_server.rtp_port_min` (SRS has no RTSP server; MediaMTX: `rtpAddress`, one
        /// fixed pair shared by all): the first UDP port of the range a UDP player's or
        /// publisher's RTP/RTCP pairs are bound in (even RTP, odd RTCP after it, RFC 3550
        /// §11), for a firewall rule. Even, 1024 or above, with `rtp_port_max`; 0 with
        /// `rtp_port_max = 0` (the default): the kernel picks each pair. Read at each SETUP.
        @check(rtp_port_even)
        rtsp_server_rtp_port_min: u16 = 0 => rtp_port_min: Spanned<Int<0, 65_534>>;
        /// `rtsp_server.rtp_port_max`: the last port of that range (odd, above
        /// `rtp_port_min`); `(max - min + 1) / 2` tracks over UDP at once.
        @check(rtp_port_odd)
        rtsp_server_rtp_port_max: u16 = 0 => rtp_port_max: Spanned<Int<0, 65_535>>;
    }
    table rtc_server: RawRtcServer, "a table of WebRTC server settings" {
        /// `rtc_server.enabled` (SRS: `rtc_server.enabled`): WHEP play (`POST
        /// /rtc/v1/whep/?app=live&stream=x` on the HTTP server) over one UDP port. Off by
        /// default, like every port beyond RTMP and HTTP. Needs a restart to change.
        @check(compiled_in(cfg!(feature = "rtc"), "rtc"))
        @restart
        rtc_server_enabled: bool = false => enabled: Spanned<bool>;
        /// `rtc_server.listen` (SRS: `rtc_server.listen`, a port there): the UDP address
        /// every peer's ICE, DTLS and SRTP go to; 8000 as SRS. Needs a restart.
        @restart
        rtc_server_listen: SocketAddr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 8000))
            => listen: Listen;
        /// `rtc_server.candidate` (SRS: `rtc_server.candidate`): the address put in the
        /// answer's host candidate: an IP address, or `*` (the default) for the listen
        /// address when it names one, else the IP address the WHEP request's `Host` names
        /// (else 127.0.0.1).
        rtc_server_candidate: String = "*".to_string() => candidate: String;
        /// `rtc_server.max_sessions`: WebRTC sessions at once; an offer past it is 503.
        /// RAM: `limits::rtc` per session (`tinysrs -t`).
        rtc_server_max_sessions: usize = 64 => max_sessions: Int<1, 10_000>;
        /// `rtc_server.protocol` (SRS 5: `rtc_server.protocol`, `udp` there): the candidates
        /// an answer offers, `udp`, `tcp` or `all` (both, the default here: browsers use the
        /// UDP one whenever it works and fall back to TCP where UDP is blocked). `tcp` needs
        /// `tcp.enabled`. Read at each offer.
        @show(debug)
        rtc_server_protocol: RtcProtocol = RtcProtocol::All => protocol: Keyword<RtcProtocol>;
        /// `rtc_server.tcp` (SRS 5: `rtc_server.tcp { enabled; listen; }`): ICE-TCP, the same
        /// sessions over TCP connections (RFC 4571 framing). Needs a restart.
        @restart
        rtc_server_tcp: RtcTcp = RtcTcp::default() => tcp: rtc::RawRtcTcp;
    }
    table heartbeat: RawHeartbeat, "a table of heartbeat settings" {
        /// `heartbeat.enabled` (SRS: `heartbeat.enabled`): POST our ids (and, as asked, the
        /// summaries and listen ports) to `url` every `interval`, with the hooks' client.
        @check(compiled_in(cfg!(feature = "hooks"), "hooks"))
        heartbeat_enabled: bool = false => enabled: Spanned<bool>;
        /// `heartbeat.interval` (SRS: `heartbeat.interval`, seconds, 9.9 by default), kept as
        /// ms. Read at start.
        @restart
        heartbeat_interval_ms: u32 = 9_900 => interval: Seconds;
        /// `heartbeat.url` (SRS: `heartbeat.url`): `http://` only. Read at start.
        @restart
        heartbeat_url: String = "http://127.0.0.1:8085/api/v1/servers".to_owned() => url: String;
        /// `heartbeat.device_id` (SRS: `heartbeat.device_id`).
        heartbeat_device_id: String = "my-srs-device".to_owned() => device_id: String;
        /// `heartbeat.summaries` (SRS: `heartbeat.summaries`): add `/api/v1/summaries`'s data.
        heartbeat_summaries: bool = false => summaries: bool;
        /// `heartbeat.ports` (SRS: `heartbeat.ports`): add the listen addresses.
        heartbeat_ports: bool = false => ports: bool;
    }
    table rtmps: RawRtmps, "a table of RTMPS server settings" {
        /// `rtmps.enabled` (SRS 7: `rtmps.enabled`): RTMP over TLS, publish and play as on
        /// `listen`, for ffmpeg and OBS (`rtmps://host:1443/app/stream`). Off by default.
        /// Cargo feature `tls` (in `full`). Needs a restart.
        @check(compiled_in(cfg!(feature = "tls"), "tls"))
        @restart
        rtmps_enabled: bool = false => enabled: Spanned<bool>;
        /// `rtmps.listen` (SRS 7: `rtmps.listen`, 1443 there). Needs a restart.
        @restart
        rtmps_listen: SocketAddr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 1443))
            => listen: Listen;
        /// `rtmps.key` (SRS 7: `rtmps.key`): the private key, a PEM file (PKCS#8, EC or RSA).
        /// No certificate is made for you: README.md says how to make a self-signed one with
        /// openssl. Read at start.
        @restart
        rtmps_key: String = "./conf/server.key".to_owned() => key: String;
        /// `rtmps.cert` (SRS 7: `rtmps.cert`): the certificate chain, a PEM file, the
        /// server's certificate first. Read at start.
        @restart
        rtmps_cert: String = "./conf/server.crt".to_owned() => cert: String;
    }
    table tls: RawTls, "a table of TLS client settings" {
        /// `tls.verify` (SRS has no TLS client): check the certificates of `rtmps://` forward
        /// destinations and `https://` hook and backend URLs against the roots below. Off
        /// accepts any certificate (a LAN box with a self-signed one); the traffic is still
        /// encrypted. Cargo feature `tls` (in `full`). Read at start.
        @restart
        tls_verify: bool = true => verify: bool;
        /// `tls.ca_file`: a PEM file of the roots to trust (e.g. the system's
        /// `/etc/ssl/certs/ca-certificates.crt`, or a private CA); empty: Mozilla's roots,
        /// built in (webpki-roots). Read at start.
        @restart
        tls_ca_file: String = String::new() => ca_file: String;
    }
    nested {
        /// `http_server` (SRS: `http_server`): live HTTP-FLV/TS/HLS, static files and the API.
        http: HttpServer => http_server;
        /// `http_api` (SRS: `http_api`), served by the HTTP server under `/api/` and, with
        /// `http_api.listen`, on a port of its own.
        api: HttpApi => http_api;
        /// `gb28181`: the camera gateway.
        gb28181: Gb28181 => gb28181;
    }
    extra {
        default_vhost: Vhost = Vhost::embedded(DEFAULT_VHOST.to_owned());
        /// Named vhosts by canonical (lower-case) name.
        vhosts: SortedMap<String, Vhost> = SortedMap::new();
        /// `[[ingest]]` (SRS: `vhost { ingest { input.url } }`, through ffmpeg): cameras pulled
        /// over RTSP into the hub, in file order. Read at start.
        pub ingests: Vec<Ingest> = Vec::new() => "ingest" @show(ingest::show_ingests) @restart;
        /// `[[ingest]]` entries with `command` (SRS: `ingest`): programs run from start to
        /// stop, in file order. A reload starts the new ones and stops the removed ones.
        pub child_ingests: Vec<ChildIngest> = Vec::new()
            => "ingest_command" @show(exec::show_child_ingests);
    }
    raw apply_tables {
        vhost: RawVhosts,
        ingest: Vec<Spanned<ingest::RawEntry>>,
    }
}

/// The `[vhost.NAME]` tables as written, in the document's order, each with its name.
type RawVhosts = Vec<(Spanned<String>, RawVhost)>;

/// The tables of tables as written: `[vhost.NAME]` and `[[ingest]]`.
type RawTables = (Option<RawVhosts>, Option<Vec<Spanned<ingest::RawEntry>>>);

/// The tables of tables: `[vhost.NAME]` and `[[ingest]]`.
fn apply_tables(
    config: &mut Config,
    (vhosts, ingests): RawTables,
    path: &str,
    at: &ErrorAt<'_>,
) -> Result<(), ConfigError> {
    apply_vhosts(config, (vhosts,), path, at)?;
    if let Some(raw) = ingests {
        (config.ingests, config.child_ingests) = ingest::apply(raw, at)?;
    }
    if config.rtc_server_protocol == RtcProtocol::Tcp && !config.rtc_server_tcp.enabled {
        // SRS refuses it too: no candidate could be offered.
        return Err(at(
            0..0,
            "rtc_server.protocol".to_owned(),
            "\"tcp\" needs rtc_server.tcp.enabled = true".to_owned(),
        ));
    }
    let (min, max) = (
        config.rtsp_server_rtp_port_min,
        config.rtsp_server_rtp_port_max,
    );
    if (min == 0) != (max == 0) || min > max {
        // Each key was checked at its own place; their pairing has no single one.
        return Err(at(
            0..0,
            "rtsp_server.rtp_port_min".to_owned(),
            format!(
                "rtp_port_min {min} and rtp_port_max {max}: both 0 (the kernel picks), or an \
                 even port and an odd one above it"
            ),
        ));
    }
    Ok(())
}

/// The `[vhost.NAME]` tables, each over the embedded defaults (see the module doc).
fn apply_vhosts(
    config: &mut Config,
    (vhosts,): (Option<RawVhosts>,),
    _: &str,
    at: &ErrorAt<'_>,
) -> Result<(), ConfigError> {
    // File order, so that a case-duplicate is reported where it is written second.
    let mut written = vhosts.unwrap_or_default();
    written.sort_by_key(|(name, _)| name.span().start);
    let mut seen: SortedMap<String, String> = SortedMap::new();
    for (name, raw_vhost) in written {
        let path = section::join("vhost", name.get_ref());
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
                .get_or_insert_with(canonical.clone(), || Vhost::embedded(canonical))
        };
        vhost.apply(raw_vhost, &path, at)?;
    }
    Ok(())
}

impl Config {
    /// The built-in defaults; equal to `from_toml_str("", _)`.
    pub fn embedded() -> Config {
        Config::defaults()
    }

    /// Parses config text; `origin` (usually the file name) starts every error message.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let document =
            toml::de::DeTable::parse(text).map_err(|e| ConfigError::from_toml(&e, text, origin))?;
        let span = document.span();
        let document = Spanned::new(span, toml::de::DeValue::Table(document.into_inner()));
        let raw = RawConfig::from_toml(&document)
            .map_err(|e| ConfigError::from_invalid(e, text, origin))?;
        let at = |span, key, message| ConfigError::at(text, origin, span, key, message);
        let mut config = Config::embedded();
        config.apply(raw, "", &at)?;
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
        let mut config = Config::from_toml_str(&text, &path.display().to_string())?;
        if let Some(auth) = config.api.auth.as_mut() {
            read_password_file(auth)?;
        }
        Ok(config)
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
