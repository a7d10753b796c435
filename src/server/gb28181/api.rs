//! The GB28181 part of the HTTP API, in SRS's envelope (`code`, `server`, `service`, `pid`):
//!
//! - `GET /api/v1/gb28181/devices`: devices with their channels and call state (with
//!   `invite = "on_demand"` also whether a channel's stream is watched: `on_demand` is
//!   "watched", "grace" with `bye_in_ms` until its BYE, or "unwatched"), and the SIP messages
//!   the decoder refused (`sip_refused`: in total, and per device with the reason of the
//!   last, so the operator sees why a camera went offline);
//! - `GET|POST /api/v1/gb28181/devices/{device}/channels/{channel}/invite`: start a channel;
//! - `GET|POST /api/v1/gb28181/devices/{device}/channels/{channel}/bye`: stop it.
//!
//! Codes: 0 success; 6000 unknown device or channel, or a channel already in that state
//! (ours: SRS's GB28181 codes are not stable across its versions).

use serde_json::json;

use crate::session::gb28181::{Agent, ChannelInfo, OnDemand, SipTransport};

pub const CODE_NOT_FOUND: u32 = 6000;

/// Answers a `/api/v1/gb28181/...` path: (JSON body without the envelope fields, code).
pub fn handle(agent: &mut Agent, now_ms: u64, path: &str) -> (serde_json::Value, u32) {
    let rest = path.trim_start_matches("/api/v1/gb28181").trim_matches('/');
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        ["devices"] | [""] => {
            let devices: Vec<serde_json::Value> = agent
                .devices()
                .into_iter()
                .map(|d| {
                    json!({
                        "id": d.id,
                        "ip": d.addr.ip().to_string(),
                        "port": d.addr.port(),
                        "transport": match d.transport { SipTransport::Udp => "udp", SipTransport::Tcp(_) => "tcp" },
                        "registered": d.registered,
                        "online": d.online,
                        "manufacturer": d.manufacturer,
                        "model": d.model,
                        "last_seen_ms": d.last_seen_ms,
                        "sip_refused": d.sip_refused,
                        "sip_refused_reason": d.sip_refused_reason,
                        "channels": d.channels.iter().map(|c| channel(c, now_ms)).collect::<Vec<_>>(),
                    })
                })
                .collect();
            let refused = agent.refused_messages();
            (json!({ "devices": devices, "sip_refused": refused }), 0)
        }
        ["devices", device, "channels", channel, "invite"] => {
            let ok = agent.invite(now_ms, device, channel);
            (json!({}), if ok { 0 } else { CODE_NOT_FOUND })
        }
        ["devices", device, "channels", channel, "bye"] => {
            let ok = agent.bye(now_ms, device, channel);
            (json!({}), if ok { 0 } else { CODE_NOT_FOUND })
        }
        _ => (json!({}), CODE_NOT_FOUND),
    }
}

/// A channel; with `invite = "on_demand"` also its stream's viewers (`on_demand`: "watched",
/// "grace" with `bye_in_ms`, or "unwatched").
fn channel(c: &ChannelInfo, now_ms: u64) -> serde_json::Value {
    let mut v = json!({
        "id": c.id,
        "name": c.name,
        "status": c.status,
        "state": c.state,
        "ssrc": c.ssrc,
    });
    if let Some(d) = c.on_demand {
        v["on_demand"] = json!(d.as_str());
        if let OnDemand::Grace { bye_at } = d {
            v["bye_in_ms"] = json!(bye_at.saturating_sub(now_ms));
        }
    }
    v
}
