//! An origin cluster's play (SRS's `cluster.origin_cluster`): a play of a stream nobody
//! publishes here waits while the driver asks the coworkers where it is
//! ([`RtmpConn::take_coworker_query`], then [`RtmpConn::handle_coworker_answer`]); the player
//! is then redirected there (RTMP 302) or refused.

use super::{Request, RtmpConn, SessionError, Vhost};
use crate::server::origin_cluster::{CoworkerQuery, Placed};

/// A play that waits for the coworkers' answer.
pub(super) struct CoworkerPlay {
    stream_id: u32,
    /// The query the driver must make (taken by [`RtmpConn::take_coworker_query`]), then kept
    /// to build the redirect.
    query: CoworkerQuery,
    taken: bool,
}

impl RtmpConn {
    /// Whether this play asks the coworkers (an origin-cluster vhost, and nobody publishes the
    /// stream here); if so the play waits for the driver.
    pub(super) fn ask_coworkers(
        &mut self,
        stream_id: u32,
        request: &Request,
        vhost: &Vhost,
    ) -> bool {
        if !vhost.cluster.is_origin_cluster() {
            return false;
        }
        let key = self.key(request, vhost);
        let source = self.ctx.hub.borrow().source(&key);
        if source.is_some_and(|s| s.borrow().publisher().is_some()) {
            return false;
        }
        let query = CoworkerQuery::new(
            request,
            &vhost.name,
            &vhost.cluster.coworkers.0,
            &self.log.cid,
        );
        log::info!(
            "[{}] play {key}: not published here, asking {} coworkers",
            self.log.cid,
            query.coworkers.len()
        );
        self.coworkers = Some(Box::new(CoworkerPlay {
            stream_id,
            query,
            taken: false,
        }));
        true
    }

    /// A coworker query waits to be taken by [`RtmpConn::take_coworker_query`].
    pub(super) fn has_coworker_query(&self) -> bool {
        self.coworkers.as_ref().is_some_and(|c| !c.taken)
    }

    /// The query the driver must make, if one is asked (once).
    pub(super) fn take_coworker_query(&mut self) -> Option<CoworkerQuery> {
        let play = self.coworkers.as_mut().filter(|c| !c.taken)?;
        play.taken = true;
        Some(play.query.clone())
    }

    /// The coworkers answered (`Ok`: where the stream is; `Err`: why no coworker has it):
    /// the play is redirected there or refused, then the input held behind it is decoded.
    pub(super) fn handle_coworker_answer(
        &mut self,
        now_ms: u64,
        answer: Result<Placed, String>,
    ) -> Result<(), SessionError> {
        let Some(play) = self.coworkers.take() else {
            return Ok(());
        };
        let CoworkerPlay {
            stream_id, query, ..
        } = *play;
        match answer {
            Ok(placed) => {
                let url = query.redirect_url(&placed);
                log::info!(
                    "[{}] play {}/{}: redirected (RTMP 302) to {url}",
                    self.log.cid,
                    query.app,
                    query.stream
                );
                self.session.redirect_play(stream_id, &url);
            }
            Err(why) => {
                log::warn!(
                    "[{}] play {}/{} refused: no coworker has it ({why})",
                    self.log.cid,
                    query.app,
                    query.stream
                );
                self.session.reject_play(
                    stream_id,
                    "NetStream.Play.StreamNotFound",
                    "no origin of the cluster has the stream",
                );
            }
        }
        self.drain_events(now_ms)
    }
}
