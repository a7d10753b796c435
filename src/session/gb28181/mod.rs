//! The GB/T 28181 SIP agent (server side): a state machine with no I/O and no clock.
//!
//! Verbs: [`Agent::handle_message`] (a SIP message from a peer, with the time),
//! [`Agent::handle_timeout`], [`Agent::poll_timeout`], [`Agent::poll_transmit`] (messages to
//! send, with their peer), [`Agent::poll_event`] (media to start or stop, devices
//! on/offline). Commands from the API: [`Agent::invite`], [`Agent::bye`]; from the driver,
//! a message the SIP decoder refused: [`Agent::handle_refused`]; from the media path:
//! [`Agent::media_activity`], [`Agent::media_closed`], [`Agent::rename_ssrc`],
//! [`Agent::only_call_from`], [`Agent::release_udp_port`]; from the live hub, for on-demand
//! invites: [`Agent::handle_viewers`], [`Agent::sync_viewers`].
//!
//! Device lifecycle: unknown → REGISTER (401 challenge if a password applies, then 200 with
//! Date) → online → Catalog and DeviceInfo queries → channels → INVITE each channel (as
//! [`InvitePolicy`] says: all of them, or those whose stream has viewers; its media port is
//! opened first) → 200 + SDP → ACK → media. Keepalives keep
//! it online; a keepalive from an unknown device (we restarted, it did not re-register) makes
//! it online too, but not one from a device that left with `Expires: 0` (it must REGISTER).
//! REGISTER with `Expires: 0` or no keepalive for `keepalive_timeout` takes it offline: its
//! calls are hung up (BYE) and their media stopped. A channel whose media stops for
//! `media_timeout` is hung up (BYE) and invited again. A call whose only media TCP connection
//! closes is hung up at once (BYE) and invited again after `media_timeout`. A channel the
//! device hangs up (its BYE) is invited again only when the device registers again or on
//! request (the API, or a viewer's arrival on demand, through [`Agent::invite`]).
//!
//! The pieces: `register` (REGISTER, digest nonces, liveness), `device` (devices,
//! channels, MANSCDP queries and answers), `call` (a call's states and its one transition
//! table), `invite` (INVITE, ACK, BYE and the call timers), `demand` (on-demand invites:
//! viewers and their grace), `alloc` (SSRCs and UDP media ports), `outbox` (what we send),
//! `view` (what the API shows).

mod alloc;
mod call;
mod demand;
mod device;
mod invite;
mod outbox;
mod register;
mod view;

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;

pub use call::{CallState, MediaTransport, INVITE_RETRY_MS, INVITE_TRIES};
pub use demand::{Watch, MAX_WATCHED};
pub use device::{MAX_CHANNELS, MAX_DEVICES, MAX_REFUSED_LEN};
pub use outbox::MAX_OUTBOX;
pub use register::Credentials;
pub use view::{Census, ChannelInfo, DeviceInfo, OnDemand, CHANNEL_STATES};

use crate::wire::sdp;
use crate::wire::sip::{Method, SipMessage, StartLine};

/// Where a SIP message came from or goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SipTransport {
    Udp,
    /// A TCP connection, by the driver's id for it.
    Tcp(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub transport: SipTransport,
    /// The device's address.
    pub addr: SocketAddr,
    /// Our address on that socket (used in Via/Contact and as the SDP's media address).
    pub local: SocketAddr,
}

/// When the agent invites a channel without being asked (the API may invite any time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitePolicy {
    /// Never: only the API (`auto_invite = false`).
    Manual,
    /// Every channel once its catalog arrives, and again after a failure or a stall
    /// (`invite = "always"`).
    Always,
    /// A channel while its stream has viewers: invited when the first arrives (or when the
    /// device comes while they wait), again after a failure or a stall while they stay, and
    /// hung up `grace_ms` after the last left (`invite = "on_demand"`).
    OnDemand { grace_ms: u64 },
}

/// Which id names a channel's stream (`gb28181.stream_name`): the stream names the hub
/// gives [`Agent::handle_viewers`] are these ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamNaming {
    /// The channel's own id: one stream per channel.
    Channel,
    /// The device's id: one stream per device, fed by one of its channels.
    Device,
}

/// The agent's settings (the server builds them from `gb28181.*`).
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Our 20-digit SIP id.
    pub server_id: String,
    /// SIP domain and digest realm.
    pub domain: String,
    pub credentials: Credentials,
    /// Which channels are invited without being asked, and when.
    pub invite: InvitePolicy,
    /// How streams are named, for on-demand invites.
    pub naming: StreamNaming,
    /// How the media of our offers reaches us.
    pub transport: sdp::Transport,
    pub keepalive_timeout_ms: u64,
    pub media_timeout_ms: u64,
    /// The IP for our SDP; None = the local address the device reached.
    pub host: Option<IpAddr>,
    /// Our shared TCP media port (tcp_passive).
    pub media_tcp_port: u16,
    /// UDP media ports (udp), inclusive.
    pub rtp_ports: (u16, u16),
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentEvent {
    DeviceOnline {
        device: String,
    },
    DeviceOffline {
        device: String,
    },
    /// We offer to receive a channel's media: its INVITE is in the outbox. Get ready before
    /// that INVITE leaves (the driver carries out events before it sends): the UDP port our
    /// SDP names must be open, since a device may send media as soon as it answers, before
    /// its 200 reaches us. Ends with [`AgentEvent::MediaStop`] when the offer fails, or goes
    /// on with [`AgentEvent::MediaStart`] when it is answered.
    MediaOffer {
        device: String,
        channel: String,
        ssrc: u32,
        transport: MediaTransport,
    },
    /// Expect media for a channel: the stream to publish, the SSRC of the answer, how.
    MediaStart {
        device: String,
        channel: String,
        ssrc: u32,
        transport: MediaTransport,
        /// The device's media address from its SDP answer (tcp_active connects there).
        remote: Option<SocketAddr>,
    },
    /// An offer or a call ended: stop its media and close what was opened for it (the UDP
    /// port goes back to the agent through [`Agent::release_udp_port`] once its socket is
    /// closed).
    MediaStop {
        ssrc: u32,
        transport: MediaTransport,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("too many devices (limit {0})")]
    TooManyDevices(usize),
}

pub struct Agent {
    config: AgentConfig,
    devices: device::Devices,
    registrar: register::Registrar,
    alloc: alloc::Alloc,
    /// Streams with viewers or in their grace (on demand).
    demand: demand::Demand,
    tokens: outbox::Tokens,
    outbox: outbox::Outbox,
    events: VecDeque<AgentEvent>,
    /// SIP messages the decoder refused since the start.
    refused_messages: u64,
}

impl Agent {
    /// `seed` makes tags, branches, Call-IDs and nonces unique per run.
    pub fn new(config: AgentConfig, seed: u64) -> Agent {
        Agent {
            config,
            devices: device::Devices::default(),
            registrar: register::Registrar::default(),
            alloc: alloc::Alloc::default(),
            demand: demand::Demand::default(),
            tokens: outbox::Tokens::new(seed),
            outbox: outbox::Outbox::default(),
            events: VecDeque::new(),
            refused_messages: 0,
        }
    }

    pub fn set_config(&mut self, config: AgentConfig) {
        self.config = config;
    }

    /// Messages dropped because the outbox was full.
    pub fn dropped_messages(&self) -> u64 {
        self.outbox.dropped
    }

    /// One SIP message from `peer`. `date` is the wall-clock time for a REGISTER's 200 OK
    /// (GB28181 devices set their clock from it), e.g. `2026-11-21T21:00:00.000`.
    pub fn handle_message(&mut self, now: u64, date: &str, peer: Peer, msg: SipMessage) {
        match &msg.start {
            StartLine::Request { method, .. } => match method {
                Method::Register => self.on_register(now, date, peer, &msg),
                Method::Message => self.on_message(now, peer, &msg),
                Method::Bye => self.on_bye(now, peer, &msg),
                Method::Ack => {}
                Method::Options => self.reply(peer, &msg, 200, "OK"),
                _ => self.reply(peer, &msg, 405, "Method Not Allowed"),
            },
            StartLine::Response { status, .. } => self.on_response(now, peer, *status, &msg),
        }
    }

    /// Expiries, retransmissions, the media watchdog, automatic invites and the ends of
    /// on-demand graces. Call at [`Agent::poll_timeout`] or about once a second.
    pub fn handle_timeout(&mut self, now: u64) {
        self.expire_devices(now);
        self.run_call_timers(now);
        self.end_graces(now);
        let ids: Vec<String> = self.devices.map.keys().cloned().collect();
        for id in ids {
            self.invite_due(now, &id);
        }
    }

    /// When [`Agent::handle_timeout`] has work next: a device's keepalive deadline, a call
    /// timer, an automatic invite, the end of a grace. None when nothing is pending.
    pub fn poll_timeout(&self) -> Option<u64> {
        let keepalive = self.config.keepalive_timeout_ms;
        let media_timeout = self.config.media_timeout_ms;
        let devices = self.devices.map.iter().flat_map(|(id, d)| {
            let silent = d.last_seen.saturating_add(keepalive + 1);
            let lapsed = d.expires_at.map(|t| t.saturating_add(keepalive + 1));
            let retry = self.next_auto_invite(id, d);
            [Some(silent), lapsed, retry]
        });
        let calls = self
            .devices
            .calls()
            .map(|(_, c)| c.poll_timeout(media_timeout));
        let graces = self.demand.next_bye();
        devices.chain(calls).chain([graces]).flatten().min()
    }

    pub fn poll_transmit(&mut self) -> Option<(Peer, Bytes)> {
        self.outbox.pop()
    }

    /// What the driver must do. Carry out every event before sending what
    /// [`Agent::poll_transmit`] gives: a [`AgentEvent::MediaOffer`]'s port must be open before
    /// its INVITE leaves.
    pub fn poll_event(&mut self) -> Option<AgentEvent> {
        self.events.pop_front()
    }

    /// The driver closed the socket of a UDP media port (or could not open it): the port may
    /// be offered again.
    pub fn release_udp_port(&mut self, port: u16) {
        self.alloc.release_port(port);
    }

    /// A response to `req` with a new To tag.
    fn reply(&mut self, peer: Peer, req: &SipMessage, status: u16, reason: &str) {
        let resp = req.response_to(status, reason, Some(&self.tokens.tag()));
        self.outbox.send(peer, &resp);
    }
}

#[cfg(test)]
mod tests;
