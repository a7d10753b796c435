//! `rtc_server.protocol` and the `rtc_server.tcp` sub-table (SRS 5: WebRTC over TCP, ossrs/srs
//! issue 2852): which candidates an answer offers and the TCP listener of ICE-TCP.

use std::net::SocketAddr;

use super::schema::{self, FromToml, Listen, Value};
use super::section::Show;

keywords! {
    /// `rtc_server.protocol` (SRS 5: `rtc_server.protocol`): the candidates an answer offers.
    pub enum RtcProtocol {
        /// A UDP host candidate only.
        Udp = "udp",
        /// A TCP passive host candidate only (ICE-TCP, RFC 6544); needs `tcp.enabled`.
        Tcp = "tcp",
        /// Both, UDP first: browsers rank a TCP host candidate below a UDP one (type
        /// preference 90 against 126), so TCP carries the media only when UDP fails. Without
        /// `tcp.enabled`, UDP only (as SRS).
        All = "all",
    }
}

/// `rtc_server.tcp` (SRS 5: `rtc_server.tcp { enabled; listen; }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtcTcp {
    /// `rtc_server.tcp.enabled`: the TCP listener of ICE-TCP (RFC 4571 framing). On by
    /// default here (SRS: off): it costs nothing until a peer connects and lets browsers on
    /// networks that block UDP play and publish.
    pub enabled: bool,
    /// `rtc_server.tcp.listen`: the TCP address; unset, `rtc_server.listen`'s address and port
    /// (SRS: 8000, its UDP port too).
    pub listen: Option<SocketAddr>,
}

impl Default for RtcTcp {
    fn default() -> RtcTcp {
        RtcTcp {
            enabled: true,
            listen: None,
        }
    }
}

impl RtcTcp {
    /// The TCP address: `listen`, else the UDP one (`udp`).
    pub fn address(&self, udp: SocketAddr) -> SocketAddr {
        self.listen.unwrap_or(udp)
    }
}

impl Show for RtcTcp {
    fn show(&self) -> String {
        match (self.enabled, self.listen) {
            (false, _) => "off".to_owned(),
            (true, None) => "on, the UDP address".to_owned(),
            (true, Some(a)) => format!("on, {a}"),
        }
    }
}

/// `rtc_server.tcp` as written: each key optional, over [`RtcTcp::default`].
pub(super) struct RawRtcTcp {
    enabled: Option<bool>,
    listen: Option<SocketAddr>,
}

impl FromToml for RawRtcTcp {
    fn from_toml(item: &schema::Item<'_>) -> Result<RawRtcTcp, schema::Invalid> {
        let mut raw = RawRtcTcp {
            enabled: None,
            listen: None,
        };
        schema::read_table(
            item,
            "a table of WebRTC over TCP settings",
            &["enabled", "listen"],
            &mut |key, value| {
                match key {
                    "enabled" => raw.enabled = Some(bool::from_toml(value)?),
                    "listen" => raw.listen = Some(Listen::from_toml(value)?.0),
                    _ => return Ok(false),
                }
                Ok(true)
            },
        )?;
        Ok(raw)
    }
}

impl Value<RtcTcp> for RawRtcTcp {
    fn into_value(self) -> RtcTcp {
        let default = RtcTcp::default();
        RtcTcp {
            enabled: self.enabled.unwrap_or(default.enabled),
            listen: self.listen.or(default.listen),
        }
    }
}
