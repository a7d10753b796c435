//! An edge's token traverse (SRS's `cluster.token_traverse`): a client's `connect` on an edge
//! vhost waits while the driver makes it again at an origin ([`RtmpConn::take_traverse`], then
//! [`RtmpConn::handle_traverse`]); the origin's answer accepts or refuses the client here.

use super::{Request, RtmpConn, SessionError, Vhost};
use crate::server::edge::TraverseCall;

/// A connect that waits for the origin's answer.
pub(super) struct Traverse {
    request: Request,
    vhost: Vhost,
    /// The call the driver must make (taken by [`RtmpConn::take_traverse`]).
    call: Option<TraverseCall>,
}

impl RtmpConn {
    /// Whether the vhost checks connects at an origin; if so the connect waits for the
    /// driver.
    pub(super) fn ask_origin(&mut self, request: &Request, vhost: &Vhost) -> bool {
        let cluster = &vhost.cluster;
        if !(cluster.is_edge() && cluster.token_traverse) {
            return false;
        }
        let call = TraverseCall::new(request, &cluster.origin.0, &self.log.cid);
        self.traverse = Some(Box::new(Traverse {
            request: request.clone(),
            vhost: vhost.clone(),
            call: Some(call),
        }));
        true
    }

    /// A traverse waits to be taken by [`RtmpConn::take_traverse`].
    pub(super) fn has_traverse(&self) -> bool {
        self.traverse.as_ref().is_some_and(|t| t.call.is_some())
    }

    /// The traverse the driver must make, if one is asked (once).
    pub(super) fn take_traverse(&mut self) -> Option<TraverseCall> {
        self.traverse.as_mut()?.call.take()
    }

    /// The origin answered (`Ok`: the origin that accepted, and how fast; `Err`: why not): the connect goes
    /// on (to the hooks here, if any) or is refused, then the input held behind it is decoded.
    pub(super) fn handle_traverse(
        &mut self,
        now_ms: u64,
        answer: Result<String, String>,
    ) -> Result<(), SessionError> {
        let Some(traverse) = self.traverse.take() else {
            return Ok(());
        };
        let Traverse { request, vhost, .. } = *traverse;
        match answer {
            Ok(origin) => {
                log::info!(
                    "[{}] edge token traverse: accepted by {origin}, tcUrl={}",
                    self.log.cid,
                    request.tc_url
                );
                self.connect_checked(request, vhost);
            }
            Err(why) => {
                log::warn!(
                    "[{}] connect refused by the origin (token traverse): {why}",
                    self.log.cid
                );
                self.registration.record.fail();
                self.session
                    .reject_connect(&format!("refused by the origin: {why}"));
            }
        }
        self.drain_events(now_ms)
    }
}
