//! The agent's calls (GB/T 28181-2016 §9.2, live play): the INVITE with our SDP offer, its
//! responses and our ACK, BYE both ways, the call timers and the media watchdog. Each change of
//! a call's state goes through [`CallState::on`]; this module sends what the transition needs.

use std::net::{IpAddr, SocketAddr};

use super::call::{
    CallEvent, CallState, Dialog, Due, Ended, IllegalTransition, MediaTransport, Resume,
};
use super::device::Channel;
use super::outbox::{InDialog, Originator};
use super::{Agent, AgentEvent, Peer, SipTransport};
use crate::wire::sdp::{self, Sdp};
use crate::wire::sip::{Method, SipMessage};

impl Agent {
    /// Invites a channel (API or automatic). Returns false when it is not known, a call is set
    /// up or up already, or no UDP media port is free.
    pub fn invite(&mut self, now: u64, device: &str, channel: &str) -> bool {
        let Some(d) = self.devices.map.get(device) else {
            return false;
        };
        let peer = d.peer;
        match d.channels.get(channel) {
            Some(c) if c.call.is_free() => {}
            // A device without a catalog is invited by its own id.
            None if channel == device => {}
            _ => return false,
        }
        let Some(transport) = self
            .alloc
            .transport(self.config.transport, self.config.rtp_ports)
        else {
            log::warn!("GB28181: no free UDP media port for {device}/{channel}");
            return false;
        };
        let (ssrc_text, ssrc) = self.alloc.ssrc(&self.config.domain);
        let ip = self.config.host.unwrap_or(peer.local.ip());
        let (port, offer) = match transport {
            MediaTransport::TcpPassive => (self.config.media_tcp_port, sdp::Transport::TcpPassive),
            MediaTransport::TcpActive => (9, sdp::Transport::TcpActive),
            MediaTransport::Udp { port } => (port, sdp::Transport::Udp),
        };
        let body = sdp::offer(&self.config.server_id, ip, port, offer, &ssrc_text);
        let dialog = Dialog {
            call_id: self.tokens.token(),
            from_tag: self.tokens.tag(),
            ssrc,
            transport,
        };
        let mut msg = Originator::of(&self.config).request(
            &mut self.tokens,
            Method::Invite,
            peer,
            channel,
            Some(in_dialog(&dialog, "", 1)),
            Some(("APPLICATION/SDP", body.into_bytes())),
        );
        // GB/T 28181 Subject: sender id:SSRC,receiver id:sequence number.
        let server = &self.config.server_id;
        msg.push_header("Subject", format!("{channel}:{ssrc_text},{server}:0"));
        let request = msg.to_bytes();
        let Some(d) = self.devices.map.get_mut(device) else {
            return false;
        };
        let ch = d
            .channels
            .get_or_insert_with(channel.to_string(), || Channel::new("ON"));
        let invite = CallEvent::Invite {
            dialog,
            request: request.clone(),
            now,
        };
        if let Err(e) = ch.call.on(invite) {
            log::debug!("GB28181 {device}/{channel}: {e}");
            self.alloc.release(transport);
            return false;
        }
        ch.refused.clear();
        // The driver opens the offer's port before it sends the INVITE.
        self.events.push_back(AgentEvent::MediaOffer {
            device: device.to_string(),
            channel: channel.to_string(),
            ssrc,
            transport,
        });
        self.outbox.send_bytes(peer, request);
        log::info!("GB28181 INVITE {device}/{channel} ssrc {ssrc_text} ({transport:?})");
        true
    }

    /// Stops a channel's media (API). False when no call is set up or up.
    pub fn bye(&mut self, now: u64, device: &str, channel: &str) -> bool {
        // An API stop is not retried automatically.
        self.hangup(now, device, channel, Resume::OnRequest)
    }

    /// A response to one of our requests: INVITE (1xx, 2xx → ACK and media, else failure) or
    /// BYE.
    pub(super) fn on_response(&mut self, now: u64, peer: Peer, status: u16, msg: &SipMessage) {
        let Some((_, method)) = msg.cseq() else {
            return;
        };
        let Some((dev, ch)) = msg.call_id().and_then(|c| self.devices.find_call(c)) else {
            return;
        };
        match method {
            Method::Invite if status < 200 => {
                let _ = self.fire(&dev, &ch, CallEvent::Provisional { status });
            }
            Method::Invite if status < 300 => self.on_answer(now, peer, msg, dev, ch),
            Method::Invite => {
                let retry_at = now + self.config.media_timeout_ms;
                if self.fire(&dev, &ch, CallEvent::Failed { retry_at }).is_ok() {
                    log::warn!("GB28181 INVITE {dev}/{ch} refused: {status}");
                }
            }
            Method::Bye if status >= 200 => {
                let _ = self.fire(&dev, &ch, CallEvent::ByeDone);
            }
            _ => {}
        }
    }

    /// A 2xx to our INVITE: the call is up; ACK it and start the media.
    fn on_answer(&mut self, now: u64, peer: Peer, msg: &SipMessage, dev: String, ch: String) {
        let Some(dialog) = self
            .devices
            .channel(&dev, &ch)
            .and_then(|c| c.call.dialog().cloned())
        else {
            return;
        };
        let to_tag = msg.to_tag().unwrap_or_default().to_string();
        let answer = std::str::from_utf8(&msg.body)
            .ok()
            .and_then(|t| Sdp::parse(t).ok());
        // The answer's y= is the SSRC the device will really use (it may differ from ours).
        let ssrc = answer
            .as_ref()
            .and_then(|s| s.ssrc.as_deref())
            .and_then(|y| y.trim().parse::<u32>().ok())
            .unwrap_or(dialog.ssrc);
        let remote = answer.as_ref().and_then(|s| {
            let m = s.media.first()?;
            let ip = m.connection_ip.or(s.connection_ip)?;
            Some(SocketAddr::new(ip, m.port))
        });
        let answered = CallEvent::Answered {
            to_tag: to_tag.clone(),
            ssrc,
            now,
        };
        if self.fire(&dev, &ch, answered).is_err() {
            return;
        }
        // ACK (RFC 3261 §13.2.2.4): same Call-ID, CSeq number, From tag; To tag of the 200.
        let ack = Originator::of(&self.config).request(
            &mut self.tokens,
            Method::Ack,
            peer,
            &ch,
            Some(in_dialog(&dialog, &to_tag, 1)),
            None,
        );
        self.outbox.send(peer, &ack);
        log::info!("GB28181 {dev}/{ch} answered, media ssrc {ssrc}");
        self.events.push_back(AgentEvent::MediaStart {
            device: dev,
            channel: ch,
            ssrc,
            transport: dialog.transport,
            remote,
        });
    }

    /// A BYE from a device: 200 OK, and the call ends. The device does not want to send: the
    /// channel is not invited again until it registers again, the API asks, or (on demand) a
    /// viewer arrives while nobody watches.
    pub(super) fn on_bye(&mut self, _now: u64, peer: Peer, msg: &SipMessage) {
        self.reply(peer, msg, 200, "OK");
        if let Some((dev, ch)) = msg.call_id().and_then(|c| self.devices.find_call(c)) {
            log::info!("GB28181 {dev}/{ch}: BYE from the device");
            self.end_call(&dev, &ch, Resume::OnRegister);
        }
    }

    /// The device ended the call or is gone: no BYE from us.
    pub(super) fn end_call(&mut self, dev: &str, ch: &str, resume: Resume) {
        let idle = self
            .devices
            .channel(dev, ch)
            .is_none_or(|c| matches!(c.call, CallState::Idle { .. }));
        if !idle {
            let _ = self.fire(dev, ch, CallEvent::Gone { resume });
        }
    }

    /// We end a call: BYE if it is up; invited again as `resume` says.
    pub(super) fn hangup(&mut self, now: u64, dev: &str, ch: &str, resume: Resume) -> bool {
        let Some(d) = self
            .devices
            .map
            .get(dev)
            .filter(|d| d.channels.contains_key(ch))
        else {
            return false;
        };
        let peer = d.peer;
        match self.fire(dev, ch, CallEvent::Hangup { now, resume }) {
            Ok(Some(Ended::Media { dialog, to_tag })) => {
                let bye = Originator::of(&self.config).request(
                    &mut self.tokens,
                    Method::Bye,
                    peer,
                    ch,
                    Some(in_dialog(&dialog, &to_tag, 2)),
                    None,
                );
                self.outbox.send(peer, &bye);
                true
            }
            Ok(_) => true,
            Err(_) => false,
        }
    }

    /// Applies `event` to a channel's call and stops the media of what the transition ended
    /// (a failed offer, a call that was up): the driver closes its socket and gives a UDP port
    /// back. Refused events are logged at debug (late or repeated responses are normal on
    /// UDP).
    fn fire(
        &mut self,
        dev: &str,
        ch: &str,
        event: CallEvent,
    ) -> Result<Option<Ended>, IllegalTransition> {
        let Some(c) = self.devices.channel_mut(dev, ch) else {
            return Ok(None);
        };
        let ended = c.call.on(event).inspect_err(|e| {
            log::debug!("GB28181 {dev}/{ch}: {e}, ignored");
        })?;
        if let Some(Ended::Offer { dialog } | Ended::Media { dialog, .. }) = &ended {
            self.events.push_back(AgentEvent::MediaStop {
                ssrc: dialog.ssrc,
                transport: dialog.transport,
            });
        }
        Ok(ended)
    }

    /// The calls' timers: INVITE retransmission and give-up, the media watchdog, BYEs left
    /// unanswered.
    pub(super) fn run_call_timers(&mut self, now: u64) {
        let media_timeout = self.config.media_timeout_ms;
        let mut due = Vec::new();
        for (id, d) in &self.devices.map {
            for (ch, c) in &d.channels {
                if let Some(what) = c.call.due(now, media_timeout) {
                    due.push((id.clone(), ch.clone(), what));
                }
            }
        }
        for (id, ch, what) in due {
            match what {
                Due::Retransmit => self.retransmit(now, &id, &ch),
                Due::NoAnswer => {
                    log::warn!("GB28181 INVITE {id}/{ch}: no answer");
                    let retry_at = now + media_timeout;
                    let _ = self.fire(&id, &ch, CallEvent::Failed { retry_at });
                }
                Due::MediaTimeout => {
                    log::warn!(
                        "GB28181 {id}/{ch}: no media for {} s, inviting again",
                        media_timeout / 1000
                    );
                    self.hangup(now, &id, &ch, Resume::At(now));
                }
                Due::ByeUnanswered => {
                    log::debug!("GB28181 {id}/{ch}: no answer to our BYE");
                    let _ = self.fire(&id, &ch, CallEvent::ByeDone);
                }
            }
        }
    }

    /// Sends an INVITE again (UDP only: TCP does not lose it) and counts the try.
    fn retransmit(&mut self, now: u64, dev: &str, ch: &str) {
        let Some(d) = self.devices.map.get(dev) else {
            return;
        };
        let peer = d.peer;
        if let Some(CallState::Inviting { request, .. }) = d.channels.get(ch).map(|c| &c.call) {
            if peer.transport == SipTransport::Udp {
                let request = request.clone();
                self.outbox.send_bytes(peer, request);
            }
        }
        let _ = self.fire(dev, ch, CallEvent::Retransmit { now });
    }

    /// The driver saw media for `ssrc`.
    pub fn media_activity(&mut self, now: u64, ssrc: u32) {
        let up = |c: &CallState| matches!(c, CallState::Up { dialog, .. } if dialog.ssrc == ssrc);
        if let Some(call) = self.devices.calls_mut().find(|c| up(c)) {
            let _ = call.on(CallEvent::Media { now });
        }
    }

    /// The only media connection of the call with `ssrc` closed (the device hung up its TCP
    /// media): the call is over now, not at the media timeout. Hung up (BYE, media stopped) and
    /// invited again after `media_timeout`, as after a failure. False when no such call.
    pub fn media_closed(&mut self, now: u64, ssrc: u32) -> bool {
        let Some((dev, ch)) = self.devices.find_ssrc(ssrc) else {
            return false;
        };
        log::info!("GB28181 {dev}/{ch}: media connection closed, hanging up");
        let resume = Resume::At(now + self.config.media_timeout_ms);
        self.hangup(now, &dev, &ch, resume)
    }

    /// The server refused the media of the call with `ssrc` (its `on_publish` hook said no):
    /// BYE, and the channel is invited again only when asked (the API, or on demand a viewer
    /// after nobody watched), not in a loop of refusals. `why` is kept for the API, cut at
    /// [`MAX_REFUSED_LEN`](super::device::MAX_REFUSED_LEN) bytes. False when no such call.
    pub fn refuse(&mut self, now: u64, ssrc: u32, why: &str) -> bool {
        let Some((dev, ch)) = self.devices.find_ssrc(ssrc) else {
            return false;
        };
        log::warn!("GB28181 {dev}/{ch}: media refused ({why}), hanging up");
        if let Some(c) = self.devices.channel_mut(&dev, &ch) {
            let mut end = why.len().min(super::device::MAX_REFUSED_LEN);
            while !why.is_char_boundary(end) {
                end -= 1;
            }
            c.refused = why[..end].to_owned();
        }
        self.hangup(now, &dev, &ch, Resume::OnRequest)
    }

    /// The media of a call arrives with another SSRC than agreed: follow it.
    pub fn rename_ssrc(&mut self, old: u32, new: u32) {
        for dialog in self.devices.calls_mut().filter_map(CallState::dialog_mut) {
            if dialog.ssrc == old {
                dialog.ssrc = new;
            }
        }
    }

    /// The SIP address of the device whose call has `ssrc`.
    pub fn device_addr(&self, ssrc: u32) -> Option<SocketAddr> {
        let (dev, _) = self.devices.find_ssrc(ssrc)?;
        self.devices.map.get(&dev).map(|d| d.peer.addr)
    }

    /// The SSRC of the one call set up or up with a device at `ip`, for media whose SSRC
    /// matches none (cameras that ignore our y=).
    pub fn only_call_from(&self, ip: IpAddr) -> Option<u32> {
        let mut calls = self
            .devices
            .calls()
            .filter(|(d, _)| d.peer.addr.ip() == ip)
            .filter_map(|(_, c)| c.dialog());
        let first = calls.next()?;
        calls.next().is_none().then_some(first.ssrc)
    }
}

fn in_dialog<'a>(dialog: &'a Dialog, to_tag: &'a str, cseq: u32) -> InDialog<'a> {
    InDialog {
        call_id: &dialog.call_id,
        from_tag: &dialog.from_tag,
        to_tag,
        cseq,
    }
}
