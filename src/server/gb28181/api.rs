//! The GB28181 part of the HTTP API, in SRS's envelope (`code`, `server`, `service`, `pid`):
//!
//! - `GET /api/v1/gb28181/devices`: devices with their channels and call state (with
//!   `invite = "on_demand"` also whether a channel's stream is watched: `on_demand` is
//!   "watched", "grace" with `bye_in_ms` until its BYE, or "unwatched"), and the SIP messages
//!   the decoder refused (`sip_refused`: in total, and per device with the reason of the
//!   last, so the operator sees why a camera went offline);
//!   A channel whose media the `on_publish` hook refused says why in `refused` (empty
//!   otherwise) until it is invited again.
//! - `GET|POST /api/v1/gb28181/devices/{device}/channels/{channel}/invite`: start a channel;
//! - `GET|POST /api/v1/gb28181/devices/{device}/channels/{channel}/bye`: stop it.
//!
//! Codes: 0 success; 6000 unknown device or channel, or a channel already in that state
//! (ours: SRS's GB28181 codes are not stable across its versions).

use serde::Serialize;

use crate::session::gb28181::{Agent, ChannelInfo, DeviceInfo, OnDemand, SipTransport};

pub const CODE_NOT_FOUND: u32 = 6000;

/// Answers a `/api/v1/gb28181/...` path: (the JSON object of the body's keys without the
/// envelope's, code).
pub fn handle(agent: &mut Agent, now_ms: u64, path: &str) -> (String, u32) {
    let rest = path.trim_start_matches("/api/v1/gb28181").trim_matches('/');
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        ["devices"] | [""] => {
            let devices = agent.devices();
            let body = Devices {
                devices: devices.iter().map(|d| Device::of(d, now_ms)).collect(),
                sip_refused: agent.refused_messages(),
            };
            // Our types always serialize; an empty object keeps the envelope whole if not.
            let json =
                crate::server::api::json::to_string(&body).unwrap_or_else(|_| "{}".to_owned());
            (json, 0)
        }
        ["devices", device, "channels", channel, "invite"] => {
            let ok = agent.invite(now_ms, device, channel);
            ("{}".to_owned(), if ok { 0 } else { CODE_NOT_FOUND })
        }
        ["devices", device, "channels", channel, "bye"] => {
            let ok = agent.bye(now_ms, device, channel);
            ("{}".to_owned(), if ok { 0 } else { CODE_NOT_FOUND })
        }
        _ => ("{}".to_owned(), CODE_NOT_FOUND),
    }
}

// The bodies as structs rather than `serde_json::Value`s (about 8 KB of the router binary):
// their fields are in the order the API has always written them, sorted by name.

#[derive(Serialize)]
struct Devices<'a> {
    devices: Vec<Device<'a>>,
    sip_refused: u64,
}

#[derive(Serialize)]
struct Device<'a> {
    channels: Vec<Channel<'a>>,
    id: &'a str,
    ip: String,
    last_seen_ms: u64,
    manufacturer: &'a str,
    model: &'a str,
    online: bool,
    port: u16,
    registered: bool,
    sip_refused: u64,
    sip_refused_reason: &'a str,
    transport: &'static str,
}

impl<'a> Device<'a> {
    fn of(d: &'a DeviceInfo, now_ms: u64) -> Device<'a> {
        Device {
            channels: d.channels.iter().map(|c| Channel::of(c, now_ms)).collect(),
            id: &d.id,
            ip: d.addr.ip().to_string(),
            last_seen_ms: d.last_seen_ms,
            manufacturer: &d.manufacturer,
            model: &d.model,
            online: d.online,
            port: d.addr.port(),
            registered: d.registered,
            sip_refused: d.sip_refused,
            sip_refused_reason: &d.sip_refused_reason,
            transport: match d.transport {
                SipTransport::Udp => "udp",
                SipTransport::Tcp(_) => "tcp",
            },
        }
    }
}

/// A channel; with `invite = "on_demand"` also its stream's viewers (`on_demand`: "watched",
/// "grace" with `bye_in_ms`, or "unwatched").
#[derive(Serialize)]
struct Channel<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    bye_in_ms: Option<u64>,
    id: &'a str,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    on_demand: Option<&'static str>,
    /// Why the last call's media was refused (its `on_publish` hook), empty if not.
    refused: &'a str,
    ssrc: Option<u32>,
    state: &'static str,
    status: &'a str,
}

impl<'a> Channel<'a> {
    fn of(c: &'a ChannelInfo, now_ms: u64) -> Channel<'a> {
        Channel {
            bye_in_ms: match c.on_demand {
                Some(OnDemand::Grace { bye_at }) => Some(bye_at.saturating_sub(now_ms)),
                _ => None,
            },
            id: &c.id,
            name: &c.name,
            on_demand: c.on_demand.map(|d| d.as_str()),
            refused: &c.refused,
            ssrc: c.ssrc,
            state: c.state,
            status: &c.status,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The structs write their keys sorted, as the `serde_json::Value`s they replaced did.
    #[test]
    fn keys_are_sorted_as_before() {
        let channel = |on_demand| ChannelInfo {
            id: "34020000001320000001".to_owned(),
            name: "cam".to_owned(),
            status: "ON".to_owned(),
            state: "playing",
            ssrc: Some(7),
            on_demand,
            refused: String::new(),
        };
        let device = DeviceInfo {
            id: "34020000001110000001".to_owned(),
            addr: "192.0.2.7:5060".parse().unwrap(),
            transport: SipTransport::Tcp(3),
            online: true,
            registered: true,
            manufacturer: "Hikvision".to_owned(),
            model: "DS-2CD".to_owned(),
            last_seen_ms: 1_000,
            channels: vec![
                channel(None),
                channel(Some(OnDemand::Grace { bye_at: 5_000 })),
                channel(Some(OnDemand::Watched)),
            ],
            sip_refused: 2,
            sip_refused_reason: "bad Via".to_owned(),
        };
        let body = Devices {
            devices: vec![Device::of(&device, 1_500)],
            sip_refused: 4,
        };
        let text = serde_json::to_string(&body).unwrap();
        let sorted = serde_json::to_value(&body).unwrap().to_string();
        assert_eq!(text, sorted);
        assert!(text.contains(r#""bye_in_ms":3500,"id""#), "{text}");
        assert!(text.contains(r#""transport":"tcp""#), "{text}");
    }
}
