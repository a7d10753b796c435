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
    /// Why the last call's media was refused (the `on_publish` hook), empty if not.
    pub refused: String,
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

/// The channel states of [`Census::channels`], in that order (the API's `state` values).
pub const CHANNEL_STATES: [&str; 4] = ["idle", "inviting", "playing", "stopping"];

/// How many devices are online and their channels in each call state (`/metrics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Census {
    pub devices: usize,
    /// By [`CHANNEL_STATES`].
    pub channels: [usize; 4],
}

impl Agent {
    /// The devices online and their channels by call state.
    pub fn census(&self) -> Census {
        let mut census = Census {
            devices: self.devices.map.len(),
            ..Census::default()
        };
        for d in self.devices.map.values() {
            for c in d.channels.values() {
                let state = c.call.as_str();
                if let Some(i) = CHANNEL_STATES.iter().position(|s| *s == state) {
                    census.channels[i] += 1;
                }
            }
        }
        census
    }

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
                        refused: c.refused.clone(),
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
