//! GB28181 calls and the HTTP callbacks (`http_hooks` of the default vhost): a call's media
//! waits for `on_publish` before it reaches the hub, and `on_unpublish` follows its stream.
//!
//! - When the vhost has `on_publish` URLs, the offer holds the session: its RTP packets are
//!   counted and dropped before the reorder window (nothing is buffered while the hook
//!   thinks). The answer to our INVITE asks the hook once; the driver awaits the decision
//!   ([`asks`], [`decided`]) while everything else goes on.
//! - Allowed: the media flows from the next packet (the stream starts at its next keyframe).
//!   Refused: the agent hangs up (BYE), keeps the reason for the API (`refused` on the
//!   channel) and invites the channel again only when asked.
//! - Payload: SRS 5 makes a GB28181 stream an RTMP publish of its own over loopback (`app`
//!   from the `output` URL, `stream` the device id), so its hook bodies have `ip`
//!   127.0.0.1 and a loopback `tcUrl`. Ours: `app` is `gb28181.app`, `stream` the channel id
//!   (or the device id, `gb28181.stream_name`), `tcUrl` `rtmp://127.0.0.1/{app}` as SRS's,
//!   but `ip` is the camera's SIP address (what a hook server can decide on), `client_id`
//!   the media session's id in `/api/v1/clients`, `param` empty.

use std::net::IpAddr;

use super::media::{MediaRouter, MediaSession};
use crate::live::ClientId;
use crate::server::hooks::{Action, Client, Extra, HookCall};
use crate::server::ServerCtx;
use crate::session::gb28181::Agent;

/// Whether the vhost of `session`'s stream asks `on_publish` (the offer then holds it).
pub fn wants_on_publish(ctx: &ServerCtx, key: &crate::live::StreamKey) -> bool {
    let config = ctx.config();
    config
        .vhost(&key.vhost)
        .is_some_and(|v| v.http_hooks.enabled && !v.http_hooks.on_publish.is_empty())
}

/// Who the session is in the hooks' terms (see the module doc).
pub fn client(session: &MediaSession) -> Client {
    let ip = session
        .device_ip
        .or_else(|| session.record().map(|r| r.peer.ip()))
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let key = &session.key;
    Client {
        vhost: key.vhost.clone(),
        app: key.app.clone(),
        stream: key.stream.clone(),
        tc_url: format!("rtmp://127.0.0.1/{}", key.app),
        ..Client::new(&session.cid(), ip)
    }
}

/// The `on_publish` calls to make for the sessions answered since the last time, by client
/// id; a session whose vhost has no such hook now (a reload) is let through at once.
pub fn asks(router: &mut MediaRouter, agent: &Agent, ctx: &ServerCtx) -> Vec<(ClientId, HookCall)> {
    let config = ctx.config();
    let mut calls = Vec::new();
    for id in router.take_asks() {
        let Some(session) = router.by_client(id) else {
            continue;
        };
        session.device_ip = agent.device_addr(session.ssrc).map(|a| a.ip());
        let call = config.vhost(&session.key.vhost).and_then(|vhost| {
            let client = client(session);
            ctx.hooks
                .call(vhost, Action::Publish, &client, &Extra::default())
        });
        match call {
            Some(call) => calls.push((id, call)),
            None => {
                router.allow(id);
            }
        }
    }
    calls
}

/// The `on_publish` decision for the session of client `id`: its media flows, or the agent
/// hangs up its call (the media stops through the agent's event). Nothing when the call
/// ended meanwhile.
pub fn decided(
    router: &mut MediaRouter,
    agent: &mut Agent,
    now_ms: u64,
    id: ClientId,
    verdict: Result<(), String>,
) {
    let Some(session) = router.by_client(id) else {
        return;
    };
    match verdict {
        Ok(()) => {
            log::info!("GB28181 {}: on_publish allowed", session.key);
            router.allow(id);
        }
        Err(why) => {
            if let Some(record) = session.record() {
                record.fail();
            }
            let ssrc = session.ssrc;
            agent.refuse(
                now_ms,
                ssrc,
                &format!("refused by the on_publish hook: {why}"),
            );
        }
    }
}

/// The stream of `session` was unpublished: `on_unpublish`.
pub fn on_unpublish(ctx: &ServerCtx, session: &MediaSession) {
    let config = ctx.config();
    if let Some(vhost) = config.vhost(&session.key.vhost) {
        let extra = Extra::default();
        ctx.hooks
            .notify(vhost, Action::Unpublish, &client(session), &extra);
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::config::Config;
    use crate::live::Hub;
    use crate::session::gb28181::{AgentEvent, MediaTransport};
    use crate::wire::rtp::RtpPacket;

    const HOOKS: &str = "[vhost.__defaultVhost__.http_hooks]\nenabled = true\n\
         on_publish = \"http://127.0.0.1:9/p\"\n";

    fn rtp(ssrc: u32, sequence: u16) -> Bytes {
        let packet = RtpPacket {
            marker: false,
            payload_type: 96,
            sequence,
            timestamp: 0,
            ssrc,
            payload: Bytes::from_static(&[0, 0, 1, 0xba]),
        };
        let mut out = Vec::new();
        packet.encode(&mut out);
        Bytes::from(out)
    }

    /// With an `on_publish` hook the offer holds the session: its packets are counted and
    /// dropped unread; the answer asks the hook once, with the channel as the stream; the
    /// decision lets the media through.
    #[test]
    fn an_offer_holds_its_media_until_the_hook_allows() {
        let config = Config::from_toml_str(HOOKS, "test.toml").unwrap();
        let mut agent = Agent::new(super::super::agent_config(&config), 1);
        let ctx = ServerCtx::new(config, Hub::new(8));
        let mut router = MediaRouter::default();
        let transport = MediaTransport::TcpPassive;
        let offer = AgentEvent::MediaOffer {
            device: "dev".into(),
            channel: "cam".into(),
            ssrc: 7,
            transport,
        };
        super::super::handle_event(&mut router, &ctx, 0, offer);
        assert!(
            asks(&mut router, &agent, &ctx).is_empty(),
            "asked at the answer"
        );
        let camera = "192.0.2.7:15060".parse().unwrap();
        for seq in 0..3 {
            router.handle_packet(&mut agent, &ctx, 10, camera, None, rtp(7, seq));
        }
        let s = &router.sessions[&7];
        assert!(s.is_held());
        assert_eq!((s.stats.packets, s.stats.held), (3, 3));
        let start = AgentEvent::MediaStart {
            device: "dev".into(),
            channel: "cam".into(),
            ssrc: 7,
            transport,
            remote: None,
        };
        super::super::handle_event(&mut router, &ctx, 20, start.clone());
        super::super::handle_event(&mut router, &ctx, 20, start);
        let calls = asks(&mut router, &agent, &ctx);
        assert_eq!(calls.len(), 1, "once per call");
        let (id, call) = &calls[0];
        let body = std::str::from_utf8(&call.body).unwrap();
        assert!(body.contains(r#""stream":"cam""#), "{body}");
        assert!(
            body.contains(r#""tcUrl":"rtmp://127.0.0.1/live""#),
            "{body}"
        );
        // The camera's address (no device in the agent here: its media's).
        assert!(body.contains(r#""ip":"192.0.2.7""#), "{body}");
        decided(&mut router, &mut agent, 30, *id, Ok(()));
        router.handle_packet(&mut agent, &ctx, 40, camera, None, rtp(7, 3));
        let s = &router.sessions[&7];
        assert!(!s.is_held());
        assert_eq!((s.stats.packets, s.stats.held), (4, 3));
        // A decision for a session gone is ignored.
        decided(&mut router, &mut agent, 50, 12345, Err("no".into()));
    }

    /// Without hooks nothing is held or asked.
    #[test]
    fn without_hooks_media_flows_from_the_offer() {
        let config = Config::from_toml_str("", "test.toml").unwrap();
        let agent = Agent::new(super::super::agent_config(&config), 1);
        let ctx = ServerCtx::new(config, Hub::new(8));
        let mut router = MediaRouter::default();
        let start = AgentEvent::MediaStart {
            device: "dev".into(),
            channel: "cam".into(),
            ssrc: 7,
            transport: MediaTransport::TcpPassive,
            remote: None,
        };
        super::super::handle_event(&mut router, &ctx, 0, start);
        assert!(!router.sessions[&7].is_held());
        assert!(asks(&mut router, &agent, &ctx).is_empty());
    }
}
