//! GB/T 28181 camera gateway: the SIP agent's glue and the media path from PS-over-RTP into
//! the live hub. The agent's settings come from `gb28181.*` here ([`agent_config`]); its
//! events start and stop media sessions here ([`handle_event`]); the hub's viewers of camera
//! streams reach it here, for on-demand invites ([`handle_hub_event`], [`sync_viewers`]); the
//! driver in `net::gb28181` moves the bytes and opens the sockets this module asks for.

#[cfg(feature = "api")]
pub mod api;
pub mod assemble;
#[cfg(feature = "hooks")]
pub mod hooks;
pub mod media;

use std::net::SocketAddr;

use crate::config::{Config, GbInvite, GbStreamName, GbTransport};
use crate::live::{HubEvent, StreamKey};
use crate::server::ServerCtx;
use crate::session::gb28181::{
    Agent, AgentConfig, AgentEvent, Credentials, InvitePolicy, MediaTransport, StreamNaming,
};
use crate::wire::sdp;
use media::{ConnId, MediaLimits, MediaRouter};

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
        invite: match (g.auto_invite, g.invite) {
            (false, _) => InvitePolicy::Manual,
            (true, GbInvite::Always) => InvitePolicy::Always,
            (true, GbInvite::OnDemand) => InvitePolicy::OnDemand {
                grace_ms: u64::from(g.on_demand_grace_s) * 1000,
            },
        },
        naming: match g.stream_name {
            GbStreamName::Channel => StreamNaming::Channel,
            GbStreamName::Device => StreamNaming::Device,
        },
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

/// The hub stream of a camera channel: `{app}/{channel}` or `{app}/{device}`.
pub fn stream_key(config: &Config, device: &str, channel: &str) -> StreamKey {
    let g = &config.gb28181;
    StreamKey {
        vhost: config.default_vhost().name.clone(),
        app: g.app.clone(),
        stream: match g.stream_name {
            GbStreamName::Channel => channel.to_string(),
            GbStreamName::Device => device.to_string(),
        },
    }
}

/// The agent's name for a hub stream, if it is a camera stream (`{app}/{id}` on the default
/// vhost, as [`stream_key`] names them): the id.
pub fn camera_stream<'a>(config: &Config, key: &'a StreamKey) -> Option<&'a str> {
    let camera = key.vhost == config.default_vhost().name && key.app == config.gb28181.app;
    camera.then_some(key.stream.as_str())
}

/// Hands a hub event to the agent: a camera stream's first viewer or its last one leaving
/// (on-demand invites). Returns whether the agent took one (the driver then sends what it
/// queued).
pub fn handle_hub_event(agent: &mut Agent, config: &Config, now_ms: u64, event: &HubEvent) -> bool {
    let (key, watched) = match event {
        HubEvent::Watched { key } => (key, true),
        HubEvent::Unwatched { key } => (key, false),
        _ => return false,
    };
    match camera_stream(config, key) {
        Some(stream) => {
            agent.handle_viewers(now_ms, stream, watched);
            true
        }
        None => false,
    }
}

/// Once a second: the camera streams the hub counts as watched, to the agent (mends an event
/// the hub dropped; see [`Agent::sync_viewers`]).
pub fn sync_viewers(agent: &mut Agent, ctx: &ServerCtx, now_ms: u64) {
    let config = ctx.config();
    let hub = ctx.hub.borrow();
    let streams = hub.watched().filter_map(|k| camera_stream(&config, k));
    agent.sync_viewers(now_ms, streams);
}

/// A media socket the driver opens or closes for a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaSocket {
    /// Bind this UDP port (if it is not open yet) and hand its datagrams to
    /// [`MediaRouter::handle_packet`]. Asked for by the offer, so the port is open before the
    /// INVITE that names it leaves.
    OpenUdp { port: u16 },
    /// Connect to the camera (tcp_active) and hand its RFC 4571 frames over.
    Connect { ssrc: u32, remote: SocketAddr },
    /// Close this UDP port's socket, then give the port back to the agent
    /// ([`crate::session::gb28181::Agent::release_udp_port`]); at once if it was never open.
    CloseUdp { port: u16 },
    /// Close these media TCP connections (tcp_passive or tcp_active): their calls are over.
    CloseTcp { conns: Vec<ConnId> },
}

/// Carries out an agent event: media sessions start (from the offer, so media that comes
/// before the answer is not lost) and stop in the hub. Returns the socket the driver must
/// open or close (tcp_passive media comes in on the shared port).
pub fn handle_event(
    router: &mut MediaRouter,
    ctx: &ServerCtx,
    now_ms: u64,
    event: AgentEvent,
) -> Option<MediaSocket> {
    match event {
        AgentEvent::DeviceOnline { device } => log::debug!("GB28181 device {device} online"),
        AgentEvent::DeviceOffline { device } => log::info!("GB28181 device {device} offline"),
        AgentEvent::MediaOffer {
            device,
            channel,
            ssrc,
            transport,
        } => {
            let config = ctx.config();
            let key = stream_key(&config, &device, &channel);
            #[cfg(feature = "hooks")]
            let held = hooks::wants_on_publish(ctx, &key);
            if !router.start(ssrc, key, now_ms, &MediaLimits::of(&config)) {
                log::warn!("GB28181: too many media sessions, {device}/{channel} not received");
                return None;
            }
            #[cfg(feature = "hooks")]
            if held {
                router.hold(ssrc);
            }
            if let MediaTransport::Udp { port } = transport {
                return Some(MediaSocket::OpenUdp { port });
            }
        }
        AgentEvent::MediaStart {
            device,
            channel,
            ssrc,
            transport,
            remote,
        } => {
            let config = ctx.config();
            let key = stream_key(&config, &device, &channel);
            #[cfg(feature = "hooks")]
            let ask = hooks::wants_on_publish(ctx, &key);
            if !router.start(ssrc, key, now_ms, &MediaLimits::of(&config)) {
                log::warn!("GB28181: too many media sessions, {device}/{channel} not received");
                return None;
            }
            #[cfg(feature = "hooks")]
            if ask {
                router.ask(ssrc);
            }
            return match (transport, remote) {
                (MediaTransport::TcpPassive, _) => None,
                // Open since the offer, unless the session was refused then.
                (MediaTransport::Udp { port }, _) => Some(MediaSocket::OpenUdp { port }),
                (MediaTransport::TcpActive, Some(remote)) => {
                    Some(MediaSocket::Connect { ssrc, remote })
                }
                (MediaTransport::TcpActive, None) => {
                    log::warn!(
                        "GB28181 {device}/{channel}: tcp_active but no address in the answer"
                    );
                    None
                }
            };
        }
        AgentEvent::MediaStop { ssrc, transport } => {
            let conns = router.stop(ctx, ssrc, now_ms);
            return match transport {
                MediaTransport::Udp { port } => Some(MediaSocket::CloseUdp { port }),
                MediaTransport::TcpActive | MediaTransport::TcpPassive if !conns.is_empty() => {
                    Some(MediaSocket::CloseTcp { conns })
                }
                MediaTransport::TcpActive | MediaTransport::TcpPassive => None,
            };
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::Hub;

    const CONFIG: &str = "[gb28181]\nserver_id = \"44010000002000000099\"\npassword = \"pw\"\n\
         transport = \"udp\"\nstream_name = \"device\"\nrtp_port_min = 40000\nrtp_port_max = 40010\n\
         max_media_sessions = 1\n[gb28181.passwords]\n\"44010000001320000001\" = \"cam1\"\n";

    fn ctx(text: &str) -> ServerCtx {
        let config = Config::from_toml_str(text, "test.toml").unwrap();
        let hub = Hub::new(config.max_streams);
        ServerCtx::new(config, hub)
    }

    fn start(ssrc: u32, transport: MediaTransport, remote: Option<SocketAddr>) -> AgentEvent {
        AgentEvent::MediaStart {
            device: "dev".into(),
            channel: format!("ch{ssrc}"),
            ssrc,
            transport,
            remote,
        }
    }

    #[test]
    fn the_agent_gets_its_settings_without_the_config_types() {
        let config = Config::from_toml_str(CONFIG, "test.toml").unwrap();
        let a = agent_config(&config);
        assert_eq!(a.transport, sdp::Transport::Udp);
        assert_eq!(a.domain, "4401000000");
        assert_eq!(a.rtp_ports, (40000, 40010));
        assert_eq!(
            a.credentials.password_for("44010000001320000001"),
            Some("cam1")
        );
        assert_eq!(a.credentials.password_for("other"), Some("pw"));
        assert_eq!(
            a.keepalive_timeout_ms,
            u64::from(config.gb28181.keepalive_timeout_s) * 1000
        );
    }

    #[test]
    fn streams_are_named_by_channel_or_device() {
        let config = Config::from_toml_str(CONFIG, "test.toml").unwrap();
        assert_eq!(stream_key(&config, "dev", "ch").stream, "dev");
        let config = Config::from_toml_str("", "test.toml").unwrap();
        let key = stream_key(&config, "dev", "ch");
        assert_eq!((key.app.as_str(), key.stream.as_str()), ("live", "ch"));
    }

    #[test]
    fn media_events_start_and_stop_sessions_and_ask_for_sockets() {
        let ctx = ctx(CONFIG);
        let mut router = MediaRouter::default();
        let udp = MediaTransport::Udp { port: 40000 };
        assert_eq!(
            handle_event(&mut router, &ctx, 0, start(7, udp, None)),
            Some(MediaSocket::OpenUdp { port: 40000 })
        );
        assert!(router.sessions.contains_key(&7));
        let remote = "10.0.0.9:15060".parse().unwrap();
        let active = start(8, MediaTransport::TcpActive, Some(remote));
        assert_eq!(
            handle_event(&mut router, &ctx, 0, active.clone()),
            None,
            "max_media_sessions = 1"
        );
        let stop = AgentEvent::MediaStop {
            ssrc: 7,
            transport: udp,
        };
        assert_eq!(
            handle_event(&mut router, &ctx, 0, stop),
            Some(MediaSocket::CloseUdp { port: 40000 })
        );
        assert!(router.sessions.is_empty());
        assert_eq!(
            handle_event(&mut router, &ctx, 0, active),
            Some(MediaSocket::Connect { ssrc: 8, remote })
        );
        // The driver's connection to the camera.
        assert!(router.attach(8, 5));
        let stop = AgentEvent::MediaStop {
            ssrc: 8,
            transport: MediaTransport::TcpActive,
        };
        assert_eq!(
            handle_event(&mut router, &ctx, 0, stop.clone()),
            Some(MediaSocket::CloseTcp { conns: vec![5] })
        );
        assert_eq!(handle_event(&mut router, &ctx, 0, stop), None);
        let no_address = start(9, MediaTransport::TcpActive, None);
        assert_eq!(handle_event(&mut router, &ctx, 0, no_address), None);
        router.stop(&ctx, 9, 0);
        let passive = start(10, MediaTransport::TcpPassive, None);
        assert_eq!(handle_event(&mut router, &ctx, 0, passive), None);
        assert!(router.sessions.contains_key(&10), "fed by the shared port");
    }

    fn offer(ssrc: u32, transport: MediaTransport) -> AgentEvent {
        AgentEvent::MediaOffer {
            device: "dev".into(),
            channel: format!("ch{ssrc}"),
            ssrc,
            transport,
        }
    }

    /// Issue 17 item 8: a device may send media as soon as it answers, before its 200 reaches
    /// us. The offer opens the UDP port and starts the session, so those packets are taken.
    #[test]
    fn an_offer_opens_its_udp_port_and_takes_media_before_the_answer() {
        let ctx = ctx(CONFIG);
        let mut router = MediaRouter::default();
        let udp = MediaTransport::Udp { port: 40000 };
        assert_eq!(
            handle_event(&mut router, &ctx, 0, offer(7, udp)),
            Some(MediaSocket::OpenUdp { port: 40000 })
        );
        assert!(router.sessions.contains_key(&7), "ready before the answer");
        // The answer starts the same session; the port stays asked for (the driver keeps the
        // one it opened).
        assert_eq!(
            handle_event(&mut router, &ctx, 0, start(7, udp, None)),
            Some(MediaSocket::OpenUdp { port: 40000 })
        );
        assert_eq!(router.sessions.len(), 1);
        // An offer that fails closes its port.
        let failed = AgentEvent::MediaStop {
            ssrc: 7,
            transport: udp,
        };
        assert_eq!(
            handle_event(&mut router, &ctx, 0, failed),
            Some(MediaSocket::CloseUdp { port: 40000 })
        );
        assert!(router.sessions.is_empty());
        let passive = offer(10, MediaTransport::TcpPassive);
        assert_eq!(handle_event(&mut router, &ctx, 0, passive), None);
        assert!(router.sessions.contains_key(&10));
        // max_media_sessions = 1: refused, no port opened.
        assert_eq!(handle_event(&mut router, &ctx, 0, offer(11, udp)), None);
    }
}
