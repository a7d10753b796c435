//! The HTTP callbacks (`server::hooks`) of an RTMP connection: connect, publish and play wait
//! for the hooks' answer when the vhost asks them (the driver makes the call:
//! [`RtmpConn::take_decision`], then [`RtmpConn::handle_decision`]); the other events are
//! told without waiting.

use super::{Request, RtmpConn, SessionError, Vhost};
use crate::server::hooks::{self, Action};

/// A connection's HTTP callbacks: a decision being asked, and who it is for the events that
/// follow.
#[derive(Default)]
pub(super) struct HookState {
    /// The call the driver must make (taken by [`RtmpConn::take_decision`]).
    pub call: Option<hooks::HookCall>,
    /// What waits for the answer.
    pub pending: Option<Pending>,
    /// From connect on (refused by on_connect too, as SRS): the vhost and who connected, for
    /// on_close.
    pub connected: Option<(Vhost, hooks::Client)>,
    /// While publishing or playing: who, for on_unpublish / on_stop.
    pub streaming: Option<(Vhost, hooks::Client)>,
}

/// A command that waits for the HTTP hooks' answer.
pub(super) enum Pending {
    Connect(Request, Vhost),
    Publish(u32, Request, Vhost),
    Play(u32, Request, Vhost),
}

/// The HTTP callbacks (`server::hooks`): connect, publish and play wait for the hooks'
/// answer when the vhost asks them (the driver makes the call: [`RtmpConn::take_decision`],
/// then [`RtmpConn::handle_decision`]); the other events are told without waiting.
impl RtmpConn {
    pub(super) fn hook_state(&mut self) -> &mut HookState {
        self.hooks.get_or_insert_with(Box::default)
    }

    /// Who this connection is, for the payloads.
    pub(super) fn hook_client(&self, request: &Request, vhost: &Vhost) -> hooks::Client {
        hooks::Client {
            vhost: vhost.name.clone(),
            app: request.app.clone(),
            stream: request.stream.clone(),
            tc_url: request.tc_url.clone(),
            query: request.params.clone(),
            page_url: self.registration.record.page_url.borrow().clone(),
            ..hooks::Client::new(&self.log.cid, self.peer.ip())
        }
    }

    /// Whether the vhost asks the hooks about `action`; if so the call waits for the driver.
    pub(super) fn ask_hooks(&mut self, action: Action, request: &Request, vhost: &Vhost) -> bool {
        let client = self.hook_client(request, vhost);
        let extra = hooks::Extra::default();
        let Some(call) = self.ctx.hooks.call(vhost, action, &client, &extra) else {
            return false;
        };
        log::debug!("[{}] {}: asking the hooks", self.log.cid, action.name());
        self.hook_state().call = Some(call);
        true
    }

    /// A decision waits to be taken by [`RtmpConn::take_decision`].
    pub(super) fn has_decision(&self) -> bool {
        self.hooks.as_ref().is_some_and(|h| h.call.is_some())
    }

    /// The decision the driver must wait for, if one is asked (once).
    pub(super) fn take_decision(&mut self) -> Option<hooks::Decision> {
        let call = self.hooks.as_mut()?.call.take()?;
        Some(self.ctx.hooks.decide(call))
    }

    /// The hooks answered (`Err`: why they refused): the command waiting goes on or is
    /// refused, then the input held behind it is decoded.
    pub(super) fn handle_decision(
        &mut self,
        now_ms: u64,
        answer: Result<(), String>,
    ) -> Result<(), SessionError> {
        let Some(pending) = self.hooks.as_mut().and_then(|h| h.pending.take()) else {
            return Ok(());
        };
        let cid = self.log.cid.clone();
        if answer.is_err() {
            self.registration.record.fail();
        }
        match (pending, answer) {
            (Pending::Connect(request, vhost), Ok(())) => self.accept_connect(request, vhost),
            (Pending::Publish(id, request, vhost), Ok(())) => {
                self.publish_now(now_ms, id, request, vhost)
            }
            (Pending::Play(id, request, vhost), Ok(())) => {
                self.play_now(now_ms, id, request, vhost)
            }
            (Pending::Connect(..), Err(why)) => {
                log::warn!("[{cid}] connect refused by the on_connect hook: {why}");
                self.session
                    .reject_connect(&format!("refused by the on_connect hook: {why}"));
            }
            (Pending::Publish(id, request, _), Err(why)) => {
                log::warn!(
                    "[{cid}] publish {}/{} refused by the on_publish hook: {why}",
                    request.app,
                    request.stream
                );
                self.session.reject_publish(
                    id,
                    "NetStream.Publish.Rejected",
                    &format!("refused by the on_publish hook: {why}"),
                );
            }
            (Pending::Play(id, request, _), Err(why)) => {
                log::warn!(
                    "[{cid}] play {}/{} refused by the on_play hook: {why}",
                    request.app,
                    request.stream
                );
                self.session.reject_play(
                    id,
                    "NetStream.Play.Failed",
                    &format!("refused by the on_play hook: {why}"),
                );
            }
        }
        self.drain_events(now_ms)
    }

    /// A publish or play started: remembered for its end (and a publish for on_dvr).
    pub(super) fn hooks_streaming(&mut self, request: &Request, vhost: Vhost, publish: bool) {
        // forward.backend's on_forward carries the publisher's request too.
        let backend = vhost.forward.enabled && vhost.forward.backend.0.is_some();
        if !(vhost.http_hooks.enabled || publish && backend) {
            return;
        }
        let client = self.hook_client(request, &vhost);
        if publish {
            self.ctx.hooks.published(&client);
        }
        self.hook_state().streaming = Some((vhost, client));
    }

    /// A publish or play ended: on_unpublish or on_stop.
    pub(super) fn hooks_stopped(&mut self, action: Action) {
        let Some((vhost, client)) = self.hooks.as_mut().and_then(|h| h.streaming.take()) else {
            return;
        };
        self.ctx
            .hooks
            .notify(&vhost, action, &client, &hooks::Extra::default());
    }

    /// A connect named a vhost: on_close will follow, whatever on_connect answers (SRS
    /// tells the close of every connection whose vhost has hooks).
    pub(super) fn hooks_connected(&mut self, request: &Request, vhost: &Vhost) {
        if vhost.http_hooks.enabled {
            let client = self.hook_client(request, vhost);
            self.hook_state().connected = Some((vhost.clone(), client));
        }
    }

    /// The connection ended: on_close with its byte counts.
    pub(super) fn hooks_closed(&mut self) {
        let Some((vhost, client)) = self.hooks.as_mut().and_then(|h| h.connected.take()) else {
            return;
        };
        let record = &self.registration.record;
        let extra = hooks::Extra {
            send_bytes: Some(record.send.total()),
            recv_bytes: Some(record.recv.total()),
            ..hooks::Extra::default()
        };
        self.ctx
            .hooks
            .notify(&vhost, Action::Close, &client, &extra);
    }
}
