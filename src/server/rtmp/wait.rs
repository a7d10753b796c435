//! What an RTMP connection waits for before it reads on: the hooks' decision, an origin's
//! answer to a token traverse, the coworkers' answer to a play. The driver takes the
//! [`Wait`] ([`RtmpConn::take_wait`]), fetches its answer (nothing is read meanwhile: the
//! session holds what follows the command; a kick ends the wait) and hands it back
//! ([`RtmpConn::handle_wait`]).

use super::{RtmpConn, SessionError};

/// A call the driver must make for the connection.
pub enum Wait {
    /// The HTTP hooks' decision about a connect, publish or play.
    #[cfg(feature = "hooks")]
    Decision(crate::server::hooks::Decision),
    /// An edge's token traverse: the client's connect made again at an origin.
    #[cfg(feature = "edge")]
    Traverse(crate::server::edge::TraverseCall),
    /// An origin cluster's play of a stream not published here: where a coworker has it.
    #[cfg(feature = "edge")]
    Coworkers(crate::server::origin_cluster::CoworkerQuery),
}

/// The answer to a [`Wait`], arm for arm.
pub enum WaitAnswer {
    /// `Err`: why the hooks refused.
    #[cfg(feature = "hooks")]
    Decision(Result<(), String>),
    /// `Ok`: the origin that accepted; `Err`: why not.
    #[cfg(feature = "edge")]
    Traverse(Result<String, String>),
    /// `Ok`: where the stream is; `Err`: why no coworker has it.
    #[cfg(feature = "edge")]
    Coworkers(Result<crate::server::origin_cluster::Placed, String>),
}

impl RtmpConn {
    /// The call the driver must make before it reads on, if one is asked (once each).
    pub fn take_wait(&mut self) -> Option<Wait> {
        #[cfg(feature = "hooks")]
        if let Some(decision) = self.take_decision() {
            return Some(Wait::Decision(decision));
        }
        #[cfg(feature = "edge")]
        if let Some(call) = self.take_traverse() {
            return Some(Wait::Traverse(call));
        }
        #[cfg(feature = "edge")]
        if let Some(query) = self.take_coworker_query() {
            return Some(Wait::Coworkers(query));
        }
        None
    }

    /// A call waits to be taken by [`RtmpConn::take_wait`].
    pub fn has_wait(&self) -> bool {
        #[cfg(feature = "hooks")]
        if self.has_decision() {
            return true;
        }
        #[cfg(feature = "edge")]
        if self.has_traverse() || self.has_coworker_query() {
            return true;
        }
        false
    }

    /// The answer came: the command waiting goes on or is refused, then the input held
    /// behind it is decoded.
    pub fn handle_wait(&mut self, now_ms: u64, answer: WaitAnswer) -> Result<(), SessionError> {
        match answer {
            #[cfg(feature = "hooks")]
            WaitAnswer::Decision(answer) => self.handle_decision(now_ms, answer),
            #[cfg(feature = "edge")]
            WaitAnswer::Traverse(answer) => self.handle_traverse(now_ms, answer),
            #[cfg(feature = "edge")]
            WaitAnswer::Coworkers(answer) => self.handle_coworker_answer(now_ms, answer),
        }
    }
}
