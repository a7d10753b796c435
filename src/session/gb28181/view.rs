//! What the HTTP API shows of the agent: devices, their channels and call states.

use std::net::SocketAddr;

use super::demand::{stream_of, Watch};
use super::{Agent, InvitePolicy, SipTransport};

/// What the API shows of a device.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceInfo {
    pub id: String,
    pub addr: SocketAddr,
    pub transport: SipTransport,
    pub online: bool,
    pub registered: bool,
    pub manufacturer: String,
    pub model: String,
    pub last_seen_ms: u64,
    pub channels: Vec<ChannelInfo>,
    /// SIP messages from its address the decoder refused, and why the last one was.
    pub sip_refused: u64,
    pub sip_refused_reason: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChannelInfo {
    pub id: String,
    pub name: String,
    /// The catalog's `Status`.
    pub status: String,
    /// [`CallState::as_str`](super::call::CallState::as_str): "idle", "inviting", "playing",
    /// "stopping".
    pub state: &'static str,
    /// The SSRC of the call set up or up.
    pub ssrc: Option<u32>,
    /// Its stream's viewers with `invite = "on_demand"`; None otherwise.
    pub on_demand: Option<OnDemand>,
}

/// A channel's stream's viewers as on-demand invites see them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDemand {
    /// Nobody watches: not invited by the agent.
    Unwatched,
    Watched,
    /// The last viewer left: BYE at `bye_at` (ms, the agent's clock) unless one comes back.
    Grace {
        bye_at: u64,
    },
}

impl OnDemand {
    /// "unwatched", "watched", "grace".
    pub fn as_str(&self) -> &'static str {
        match self {
            OnDemand::Unwatched => "unwatched",
            OnDemand::Watched => "watched",
            OnDemand::Grace { .. } => "grace",
        }
    }
}

impl Agent {
    /// Devices and their channels, for the API. Devices are forgotten when they go offline, so
    /// every one listed is online.
    pub fn devices(&self) -> Vec<DeviceInfo> {
        self.devices
            .map
            .iter()
            .map(|(id, d)| DeviceInfo {
                id: id.clone(),
                addr: d.peer.addr,
                transport: d.peer.transport,
                online: true,
                registered: d.registered,
                manufacturer: d.manufacturer.clone(),
                model: d.model.clone(),
                last_seen_ms: d.last_seen,
                sip_refused: d.refused,
                sip_refused_reason: d.refused_reason.clone(),
                channels: d
                    .channels
                    .iter()
                    .map(|(cid, c)| ChannelInfo {
                        id: cid.clone(),
                        name: c.name.clone(),
                        status: c.status.clone(),
                        state: c.call.as_str(),
                        ssrc: c.call.dialog().map(|d| d.ssrc),
                        on_demand: self.on_demand(id, cid),
                    })
                    .collect(),
            })
            .collect()
    }

    fn on_demand(&self, device: &str, channel: &str) -> Option<OnDemand> {
        let InvitePolicy::OnDemand { .. } = self.config.invite else {
            return None;
        };
        Some(
            match self.viewers(stream_of(self.config.naming, device, channel)) {
                None => OnDemand::Unwatched,
                Some(Watch::Watched) => OnDemand::Watched,
                Some(Watch::Grace { bye_at }) => OnDemand::Grace { bye_at },
            },
        )
    }
}
