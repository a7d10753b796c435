//! The TOML file as written: every key optional, every value checked while it is deserialized
//! so that toml reports the value's span. Key names follow SRS where the concept is the same.
//!
//! Checks that need more than one value (vhost names that differ only in case) or the place of
//! one array element (security rules) are done by the caller on the `Spanned` values kept here.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};

use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde::Deserialize as DeriveDeserialize;
use toml::Spanned;

use super::vhost::{HlsStorage, TimeJitter};
use super::{GbStreamName, GbTransport};

/// Top level of `tinysrs.toml`.
#[derive(DeriveDeserialize)]
#[serde(deny_unknown_fields, expecting = "a config table")]
pub(super) struct RawConfig {
    pub listen: Option<Listen>,
    pub max_connections: Option<Int<1, 1_000_000>>,
    pub max_streams: Option<Int<1, 65_536>>,
    pub chunk_size: Option<Int<128, 65_536>>,
    pub handshake_timeout: Option<Timeout>,
    pub idle_timeout: Option<Timeout>,
    /// 0 frees an idle Source at once.
    pub grace_period: Option<Int<0, 3_600_000>>,
    pub log: Option<RawLog>,
    pub user: Option<String>,
    pub http_server: Option<RawHttpServer>,
    pub http_api: Option<RawHttpApi>,
    pub gb28181: Option<RawGb28181>,
    pub vhost: Option<BTreeMap<Spanned<String>, RawVhost>>,
}

#[derive(DeriveDeserialize)]
#[serde(deny_unknown_fields, expecting = "a table of HTTP server settings")]
pub(super) struct RawHttpServer {
    pub enabled: Option<Spanned<bool>>,
    pub listen: Option<Listen>,
    pub dir: Option<String>,
    pub crossdomain: Option<bool>,
}

#[derive(DeriveDeserialize)]
#[serde(deny_unknown_fields, expecting = "a table of GB28181 settings")]
pub(super) struct RawGb28181 {
    pub enabled: Option<Spanned<bool>>,
    pub sip_listen: Option<Listen>,
    pub media_listen: Option<Listen>,
    pub rtp_port_min: Option<Spanned<Int<1024, 65_535>>>,
    pub rtp_port_max: Option<Int<1024, 65_535>>,
    pub server_id: Option<SipId>,
    pub domain: Option<String>,
    pub password: Option<String>,
    pub passwords: Option<BTreeMap<String, String>>,
    pub auto_invite: Option<bool>,
    pub transport: Option<GbTransportKey>,
    pub app: Option<String>,
    pub stream_name: Option<StreamNameKey>,
    pub keepalive_timeout: Option<Int<10, 3_600>>,
    pub media_timeout: Option<Int<3, 3_600>>,
    pub max_media_sessions: Option<Int<1, 1_024>>,
    pub host: Option<String>,
}

/// A GB28181 20-digit SIP id.
pub(super) struct SipId(pub String);

impl<'de> Deserialize<'de> for SipId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        if s.len() == 20 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(SipId(s))
        } else {
            Err(de::Error::custom(format_args!(
                "expected a GB28181 id of 20 digits, found {s:?}"
            )))
        }
    }
}

pub(super) struct GbTransportKey(pub GbTransport);

impl<'de> Deserialize<'de> for GbTransportKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        const CHOICES: &[(&str, GbTransport)] = &[
            ("tcp_passive", GbTransport::TcpPassive),
            ("tcp_active", GbTransport::TcpActive),
            ("udp", GbTransport::Udp),
        ];
        deserializer
            .deserialize_str(KeywordVisitor(CHOICES))
            .map(GbTransportKey)
    }
}

pub(super) struct StreamNameKey(pub GbStreamName);

impl<'de> Deserialize<'de> for StreamNameKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        const CHOICES: &[(&str, GbStreamName)] = &[
            ("channel", GbStreamName::Channel),
            ("device", GbStreamName::Device),
        ];
        deserializer
            .deserialize_str(KeywordVisitor(CHOICES))
            .map(StreamNameKey)
    }
}

#[derive(DeriveDeserialize)]
#[serde(deny_unknown_fields, expecting = "a table of HTTP API settings")]
pub(super) struct RawHttpApi {
    pub enabled: Option<Spanned<bool>>,
    pub auth: Option<RawAuth>,
}

#[derive(DeriveDeserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table of API authentication settings"
)]
pub(super) struct RawAuth {
    pub enabled: Option<bool>,
    pub username: Option<String>,
    pub password: Option<String>,
}

#[derive(DeriveDeserialize)]
#[serde(deny_unknown_fields, expecting = "a table of HTTP remux settings")]
pub(super) struct RawHttpRemux {
    pub enabled: Option<Spanned<bool>>,
}

#[derive(DeriveDeserialize)]
#[serde(deny_unknown_fields, expecting = "a table of HLS settings")]
pub(super) struct RawHls {
    pub enabled: Option<Spanned<bool>>,
    pub hls_fragment: Option<Seconds>,
    pub hls_window: Option<Seconds>,
    pub hls_max_bytes: Option<Int<65_536, 4_294_967_295>>,
    pub hls_storage: Option<Storage>,
    pub hls_path: Option<String>,
    pub hls_cleanup: Option<bool>,
    pub hls_dispose: Option<Int<0, 86_400>>,
}

/// Seconds, integer or fractional, `0 < s <= 3600`, kept as whole ms.
pub(super) type Seconds = QueueLength;

/// `hls.hls_storage`.
pub(super) struct Storage(pub HlsStorage);

impl<'de> Deserialize<'de> for Storage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        const CHOICES: &[(&str, HlsStorage)] =
            &[("ram", HlsStorage::Ram), ("disk", HlsStorage::Disk)];
        deserializer
            .deserialize_str(KeywordVisitor(CHOICES))
            .map(Storage)
    }
}

#[derive(DeriveDeserialize)]
#[serde(deny_unknown_fields, expecting = "a table of log settings")]
pub(super) struct RawLog {
    pub level: Option<LogLevel>,
}

#[derive(DeriveDeserialize)]
#[serde(deny_unknown_fields, expecting = "a table of vhost settings")]
pub(super) struct RawVhost {
    pub enabled: Option<bool>,
    pub min_latency: Option<bool>,
    pub tcp_nodelay: Option<bool>,
    pub play: Option<RawPlay>,
    pub publish: Option<RawPublish>,
    pub security: Option<RawSecurity>,
    pub http_remux: Option<RawHttpRemux>,
    pub hls: Option<RawHls>,
}

#[derive(DeriveDeserialize)]
#[serde(deny_unknown_fields, expecting = "a table of play settings")]
pub(super) struct RawPlay {
    pub gop_cache: Option<bool>,
    pub gop_cache_max_frames: Option<Int<1, 1_000_000>>,
    pub gop_cache_max_bytes: Option<Bytes>,
    pub queue_length: Option<QueueLength>,
    pub queue_max_bytes: Option<Bytes>,
    pub mw_latency: Option<Int<0, 10_000>>,
    pub time_jitter: Option<Jitter>,
}

#[derive(DeriveDeserialize)]
#[serde(deny_unknown_fields, expecting = "a table of publish settings")]
pub(super) struct RawPublish {
    pub firstpkt_timeout: Option<Timeout>,
    pub normal_timeout: Option<Timeout>,
}

#[derive(DeriveDeserialize)]
#[serde(deny_unknown_fields, expecting = "a table of security settings")]
pub(super) struct RawSecurity {
    pub enabled: Option<bool>,
    /// Parsed by the caller so that an error points at the rule, not at the whole array.
    pub rules: Option<Vec<Spanned<String>>>,
}

/// A timeout in milliseconds: at least 1 ms, at most an hour.
pub(super) type Timeout = Int<1, 3_600_000>;

/// A byte cap: at least 1, at most 4 GiB - 1 (so it fits `usize` on 32-bit boards).
pub(super) type Bytes = Int<1, 4_294_967_295>;

/// An integer in `MIN..=MAX`.
pub(super) struct Int<const MIN: i64, const MAX: i64>(i64);

impl<const MIN: i64, const MAX: i64> Int<MIN, MAX> {
    /// The value; saturates only if `MAX` does not fit `u32`, which no `u32` key's range allows.
    pub fn to_u32(&self) -> u32 {
        u32::try_from(self.0).unwrap_or(u32::MAX)
    }

    /// The value; saturates only if `MAX` does not fit `usize`, which no `usize` key allows.
    pub fn to_usize(&self) -> usize {
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }
}

impl<'de, const MIN: i64, const MAX: i64> Deserialize<'de> for Int<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IntVisitor<const MIN: i64, const MAX: i64>;

        impl<const MIN: i64, const MAX: i64> Visitor<'_> for IntVisitor<MIN, MAX> {
            type Value = Int<MIN, MAX>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "an integer in {MIN}..={MAX}")
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                if (MIN..=MAX).contains(&v) {
                    Ok(Int(v))
                } else {
                    Err(E::custom(format_args!(
                        "expected an integer in {MIN}..={MAX}, found {v}"
                    )))
                }
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                match i64::try_from(v) {
                    Ok(v) => self.visit_i64(v),
                    Err(_) => Err(E::custom(format_args!(
                        "expected an integer in {MIN}..={MAX}, found {v}"
                    ))),
                }
            }
        }

        deserializer.deserialize_i64(IntVisitor::<MIN, MAX>)
    }
}

/// `play.queue_length`: seconds, integer or fractional, `0 < s <= 3600`, kept as whole ms.
pub(super) struct QueueLength(pub u32);

const QUEUE_LENGTH_EXPECTED: &str = "a number of seconds over 0 and at most 3600";

impl<'de> Deserialize<'de> for QueueLength {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SecondsVisitor;

        impl Visitor<'_> for SecondsVisitor {
            type Value = QueueLength;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(QUEUE_LENGTH_EXPECTED)
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                // NaN fails both comparisons; 0.0004 s would round to a 0 ms queue.
                let ms = (v * 1000.0).round();
                if v > 0.0 && v <= 3600.0 && ms >= 1.0 {
                    // In 1.0..=3_600_000.0, so the cast is exact.
                    Ok(QueueLength(ms as u32))
                } else {
                    Err(E::custom(format_args!(
                        "expected {QUEUE_LENGTH_EXPECTED} (at least 0.001), found {v}"
                    )))
                }
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                if (1..=3600).contains(&v) {
                    Ok(QueueLength((v * 1000) as u32))
                } else {
                    Err(E::custom(format_args!(
                        "expected {QUEUE_LENGTH_EXPECTED}, found {v}"
                    )))
                }
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                self.visit_i64(i64::try_from(v).unwrap_or(i64::MAX))
            }
        }

        deserializer.deserialize_f64(SecondsVisitor)
    }
}

/// `listen`: `"IP:PORT"`, `"[IPv6]:PORT"`, or a bare port (integer or string) meaning
/// `0.0.0.0:PORT` as SRS's `listen 1935;`. Port 0 lets the kernel choose (tests).
pub(super) struct Listen(pub SocketAddr);

const LISTEN_EXPECTED: &str = "a port or an address like \"0.0.0.0:1935\" or \"[::]:1935\"";

impl<'de> Deserialize<'de> for Listen {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListenVisitor;

        impl Visitor<'_> for ListenVisitor {
            type Value = Listen;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(LISTEN_EXPECTED)
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                match u16::try_from(v) {
                    Ok(port) => Ok(Listen(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)))),
                    Err(_) => Err(E::custom(format_args!(
                        "expected a port in 0..=65535, found {v}"
                    ))),
                }
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                self.visit_i64(i64::try_from(v).unwrap_or(i64::MAX))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                if let Ok(addr) = v.parse::<SocketAddr>() {
                    return Ok(Listen(addr));
                }
                match v.parse::<u16>() {
                    Ok(port) if v.bytes().all(|b| b.is_ascii_digit()) => {
                        Ok(Listen(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))))
                    }
                    _ => Err(E::custom(format_args!(
                        "expected {LISTEN_EXPECTED}, found {v:?}"
                    ))),
                }
            }
        }

        deserializer.deserialize_any(ListenVisitor)
    }
}

/// `log.level` (SRS: `srs_log_level`).
pub(super) struct LogLevel(pub log::LevelFilter);

impl<'de> Deserialize<'de> for LogLevel {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use log::LevelFilter;
        const CHOICES: &[(&str, LevelFilter)] = &[
            ("trace", LevelFilter::Trace),
            ("debug", LevelFilter::Debug),
            ("info", LevelFilter::Info),
            ("warn", LevelFilter::Warn),
            ("error", LevelFilter::Error),
            ("off", LevelFilter::Off),
        ];
        deserializer
            .deserialize_str(KeywordVisitor(CHOICES))
            .map(LogLevel)
    }
}

/// `play.time_jitter` (SRS: `play.time_jitter`).
pub(super) struct Jitter(pub TimeJitter);

impl<'de> Deserialize<'de> for Jitter {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        const CHOICES: &[(&str, TimeJitter)] = &[
            ("full", TimeJitter::Full),
            ("zero", TimeJitter::Zero),
            ("off", TimeJitter::Off),
        ];
        deserializer
            .deserialize_str(KeywordVisitor(CHOICES))
            .map(Jitter)
    }
}

/// A string that must be one of a fixed list of lower-case words.
struct KeywordVisitor<T: 'static>(&'static [(&'static str, T)]);

impl<T: 'static> KeywordVisitor<T> {
    fn write_choices(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("one of ")?;
        for (i, (word, _)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(word)?;
        }
        Ok(())
    }
}

impl<T: Copy + 'static> Visitor<'_> for KeywordVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_choices(f)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        match self.0.iter().find(|(word, _)| *word == v) {
            Some((_, value)) => Ok(*value),
            None => Err(E::custom(format_args!(
                "expected {}, found {v:?}",
                Choices(&self)
            ))),
        }
    }
}

struct Choices<'a, T: 'static>(&'a KeywordVisitor<T>);

impl<T: 'static> fmt::Display for Choices<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.write_choices(f)
    }
}
