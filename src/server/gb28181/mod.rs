//! GB/T 28181 camera gateway: the SIP agent's glue and the media path from PS-over-RTP into
//! the live hub.

#[cfg(feature = "api")]
pub mod api;
pub mod assemble;
pub mod media;

use crate::config::{Config, GbTransport};
use crate::session::gb28181::{AgentConfig, Credentials};
use crate::wire::sdp;

/// The SIP agent's settings from `gb28181.*` (the media TCP port is the configured one; the
/// driver sets the one it bound).
pub fn agent_config(config: &Config) -> AgentConfig {
    let g = &config.gb28181;
    AgentConfig {
        server_id: g.server_id.clone(),
        domain: g.domain.clone(),
        credentials: Credentials {
            password: g.password.clone(),
            passwords: g.passwords.clone(),
        },
        auto_invite: g.auto_invite,
        transport: match g.transport {
            GbTransport::TcpPassive => sdp::Transport::TcpPassive,
            GbTransport::TcpActive => sdp::Transport::TcpActive,
            GbTransport::Udp => sdp::Transport::Udp,
        },
        keepalive_timeout_ms: u64::from(g.keepalive_timeout_s) * 1000,
        media_timeout_ms: u64::from(g.media_timeout_s) * 1000,
        host: g.host.parse().ok(),
        media_tcp_port: g.media_listen.port(),
        rtp_ports: g.rtp_ports,
    }
}
