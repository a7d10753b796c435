//! One channel's call: its state, the one transition table ([`CallState::on`]) and its
//! timers. Pure data: the agent sends the messages and raises the events a transition asks for.
//!
//! ```text
//! state                       event                         next       the agent then
//! Idle | Stopping             Invite                        Inviting   (INVITE sent; a
//!                                                                       stopping call is
//!                                                                       forgotten)
//! Inviting (tries left)       Retransmit                    Inviting   sent again (UDP)
//! Inviting | Trying           Provisional 100 (other 1xx)   Trying     no more retransmits
//! Inviting | Trying | Ringing Provisional 180, 183          Ringing
//! Ringing                     Provisional 100               Ringing
//! Inviting | Trying | Ringing Answered (2xx)                Up         ACK, MediaStart
//! Inviting | Trying | Ringing Failed, Hangup, Gone          Idle       MediaStop (the
//!                                                                       offer's port closes)
//! Up                          Media                         Up
//! Up                          Hangup (API, media timeout)   Stopping   BYE, MediaStop
//! Up                          Gone (device BYE, offline)    Idle       MediaStop
//! Stopping                    ByeDone                       Idle
//! Stopping                    Gone                          Idle       (the later resume
//!                                                                       of the two)
//! anything else                                             unchanged  refused, logged at
//!                                                                       debug
//! ```
//!
//! An idle call is invited again as its [`Resume`] says: automatically at a time (after a
//! failure or a media timeout), when the device registers again (it hung up with its own BYE),
//! or only when asked (the API stopped it, or on demand nobody watched it). The API and, on
//! demand, a viewer's arrival invite through `Agent::invite` whatever the resume.
//!
//! Retransmission (RFC 3261 §17.1.1.2, Timer A with a fixed interval): an INVITE goes out again
//! every [`INVITE_RETRY_MS`] until a response comes, [`INVITE_TRIES`] sends in all, on UDP
//! only; [`INVITE_RETRY_MS`] after the last try, or at that same moment after a provisional
//! response stopped the retransmissions, the call has failed. Over TCP nothing is sent again
//! but the call fails at the same moment.
//!
//! Not supported: CANCEL (a call hung up before its 2xx is forgotten; a late 2xx is not
//! ACKed), ACK for a retransmitted 2xx, BYE retransmission.

use std::fmt;

use bytes::Bytes;

/// An unanswered INVITE is sent again this often (UDP), this many times in all.
pub const INVITE_RETRY_MS: u64 = 2_000;
pub const INVITE_TRIES: u32 = 4;
/// How long a BYE of ours waits for its final response before the call is forgotten
/// (RFC 3261 Timer F is 64·T1 = 32 s; cameras answer within a second or not at all).
pub const BYE_TIMEOUT_MS: u64 = INVITE_RETRY_MS * INVITE_TRIES as u64;

/// How a call's media reaches us, with the resources taken for it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum MediaTransport {
    TcpPassive,
    TcpActive,
    Udp { port: u16 },
}

/// `Debug` by hand: the router builds' `-Zfmt-debug=shallow` (targets/mips*.toml) would print
/// a derived one without the port, and logs and errors show it.
impl fmt::Debug for MediaTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MediaTransport::TcpPassive => f.write_str("TcpPassive"),
            MediaTransport::TcpActive => f.write_str("TcpActive"),
            MediaTransport::Udp { port } => write!(f, "Udp {{ port: {port} }}"),
        }
    }
}

/// What identifies a call of ours (RFC 3261 §12) and the media it asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    pub call_id: String,
    pub from_tag: String,
    /// The SSRC of our offer, then the one of the device's answer (or its media).
    pub ssrc: u32,
    pub transport: MediaTransport,
}

/// The INVITE's retransmission timer (data, on the caller's clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retransmit {
    /// When the timer fires next.
    pub next_at: u64,
    /// Sends left after the ones made; at 0 the next firing gives up.
    pub tries_left: u32,
}

impl Retransmit {
    /// The timer of an INVITE first sent at `now`.
    pub fn new(now: u64) -> Retransmit {
        Retransmit {
            next_at: now + INVITE_RETRY_MS,
            tries_left: INVITE_TRIES - 1,
        }
    }

    /// When the call fails if nothing is answered.
    pub fn give_up_at(&self) -> u64 {
        self.next_at + u64::from(self.tries_left) * INVITE_RETRY_MS
    }
}

/// When an idle channel is invited again without being asked. Ordered from the soonest to the
/// most reluctant (`At` by time), so two reasons combine with `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Resume {
    /// Automatically from this time (ms, the caller's clock), when the invite policy invites
    /// the channel by itself (always; on demand, while its stream is watched).
    At(u64),
    /// When the device registers again: it hung up with its own BYE, as SRS honours it.
    OnRegister,
    /// Only when asked: the API stopped the channel, or (on demand) nobody watched it.
    OnRequest,
}

/// A channel's call state. Transitions: [`CallState::on`] (the table is in the module docs).
#[derive(Debug, Clone, PartialEq)]
pub enum CallState {
    /// No call; invited again as `resume` says (or on request).
    Idle { resume: Resume },
    /// INVITE sent, no response yet; sent again on UDP by `timer`.
    Inviting {
        dialog: Dialog,
        request: Bytes,
        timer: Retransmit,
    },
    /// 100 Trying (or another 1xx but 180/183): no more retransmissions.
    Trying { dialog: Dialog, give_up_at: u64 },
    /// 180 Ringing or 183 Session Progress.
    Ringing { dialog: Dialog, give_up_at: u64 },
    /// 200 answered and ACKed: media expected, watched by `last_media`.
    Up {
        dialog: Dialog,
        to_tag: String,
        last_media: u64,
    },
    /// Our BYE sent, its final response awaited until `give_up_at`. The channel may be invited
    /// again as `resume` says meanwhile (a new call; this one is then forgotten).
    Stopping {
        call_id: String,
        resume: Resume,
        give_up_at: u64,
    },
}

/// What happens to a call.
#[derive(Debug, Clone, PartialEq)]
pub enum CallEvent {
    /// We sent an INVITE.
    Invite {
        dialog: Dialog,
        request: Bytes,
        now: u64,
    },
    /// The INVITE's timer fired with tries left (the request went out again on UDP).
    Retransmit { now: u64 },
    /// A provisional response (1xx) to the INVITE.
    Provisional { status: u16 },
    /// A 2xx to the INVITE (we ACK it); `ssrc` is the one of the answer.
    Answered { to_tag: String, ssrc: u32, now: u64 },
    /// A final refusal (3xx–6xx) of the INVITE, or no final response in time.
    Failed { retry_at: u64 },
    /// Media arrived.
    Media { now: u64 },
    /// We end the call (API stop, media timeout): BYE once it is up.
    Hangup { now: u64, resume: Resume },
    /// The device ended the call (its BYE) or went offline.
    Gone { resume: Resume },
    /// The final response to our BYE, or none in time.
    ByeDone,
}

/// What a transition leaves for the agent to clean up.
#[derive(Debug, Clone, PartialEq)]
pub enum Ended {
    /// An offer ended before its answer: what was opened for it (a UDP port) closes.
    Offer { dialog: Dialog },
    /// Media was expected: stop it (and send BYE if we hung up).
    Media { dialog: Dialog, to_tag: String },
}

/// An event that does not apply to the state (a late or repeated response, a timer that
/// raced another event). The state is left as it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{event} while {state}")]
pub struct IllegalTransition {
    pub state: &'static str,
    pub event: &'static str,
}

/// A timer of the call that is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Send the INVITE again (UDP) and fire [`CallEvent::Retransmit`].
    Retransmit,
    /// No final response: fire [`CallEvent::Failed`].
    NoAnswer,
    /// Up, but no media for the media timeout: hang up.
    MediaTimeout,
    /// Our BYE got no final response: fire [`CallEvent::ByeDone`].
    ByeUnanswered,
}

impl CallState {
    /// The transition table: every legal (state, event) pair, and what ends with it. Anything
    /// else is refused and leaves the state as it was.
    pub fn on(&mut self, event: CallEvent) -> Result<Option<Ended>, IllegalTransition> {
        use CallEvent as E;
        use CallState as S;
        let state = std::mem::replace(
            self,
            S::Idle {
                resume: Resume::At(0),
            },
        );
        let (next, ended) = match (state, event) {
            // A new call: from idle, or over one whose BYE is still unanswered.
            (
                S::Idle { .. } | S::Stopping { .. },
                E::Invite {
                    dialog,
                    request,
                    now,
                },
            ) => (
                S::Inviting {
                    dialog,
                    request,
                    timer: Retransmit::new(now),
                },
                None,
            ),
            (
                S::Inviting {
                    dialog,
                    request,
                    timer,
                },
                E::Retransmit { now },
            ) if timer.tries_left > 0 => (
                S::Inviting {
                    dialog,
                    request,
                    timer: Retransmit {
                        next_at: now + INVITE_RETRY_MS,
                        tries_left: timer.tries_left - 1,
                    },
                },
                None,
            ),
            (S::Inviting { dialog, timer, .. }, E::Provisional { status }) => {
                let give_up_at = timer.give_up_at();
                if is_ringing(status) {
                    (S::Ringing { dialog, give_up_at }, None)
                } else {
                    (S::Trying { dialog, give_up_at }, None)
                }
            }
            (S::Trying { dialog, give_up_at }, E::Provisional { status }) => {
                if is_ringing(status) {
                    (S::Ringing { dialog, give_up_at }, None)
                } else {
                    (S::Trying { dialog, give_up_at }, None)
                }
            }
            // A 100 after a 180 says nothing new.
            (S::Ringing { dialog, give_up_at }, E::Provisional { .. }) => {
                (S::Ringing { dialog, give_up_at }, None)
            }
            (
                S::Inviting { mut dialog, .. }
                | S::Trying { mut dialog, .. }
                | S::Ringing { mut dialog, .. },
                E::Answered { to_tag, ssrc, now },
            ) => {
                dialog.ssrc = ssrc;
                (
                    S::Up {
                        dialog,
                        to_tag,
                        last_media: now,
                    },
                    None,
                )
            }
            (
                S::Inviting { dialog, .. } | S::Trying { dialog, .. } | S::Ringing { dialog, .. },
                E::Failed { retry_at },
            ) => (
                S::Idle {
                    resume: Resume::At(retry_at),
                },
                Some(Ended::Offer { dialog }),
            ),
            (
                S::Inviting { dialog, .. } | S::Trying { dialog, .. } | S::Ringing { dialog, .. },
                E::Hangup { resume, .. } | E::Gone { resume },
            ) => (S::Idle { resume }, Some(Ended::Offer { dialog })),
            (
                S::Up {
                    dialog,
                    to_tag,
                    last_media,
                },
                E::Media { now },
            ) => (
                S::Up {
                    dialog,
                    to_tag,
                    last_media: last_media.max(now),
                },
                None,
            ),
            (S::Up { dialog, to_tag, .. }, E::Hangup { now, resume }) => (
                S::Stopping {
                    call_id: dialog.call_id.clone(),
                    resume,
                    give_up_at: now + BYE_TIMEOUT_MS,
                },
                Some(Ended::Media { dialog, to_tag }),
            ),
            (S::Up { dialog, to_tag, .. }, E::Gone { resume }) => {
                (S::Idle { resume }, Some(Ended::Media { dialog, to_tag }))
            }
            (S::Stopping { resume, .. }, E::ByeDone) => (S::Idle { resume }, None),
            // The device hangs up too: what either side asked for that waits longer holds
            // (an API stop stays a stop; a media timeout's retry yields to the device's BYE).
            (S::Stopping { resume, .. }, E::Gone { resume: theirs }) => (
                S::Idle {
                    resume: resume.max(theirs),
                },
                None,
            ),
            (state, event) => {
                let illegal = IllegalTransition {
                    state: state.name(),
                    event: event.name(),
                };
                *self = state;
                return Err(illegal);
            }
        };
        *self = next;
        Ok(ended)
    }

    /// The state's name, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            CallState::Idle { .. } => "idle",
            CallState::Inviting { .. } => "inviting",
            CallState::Trying { .. } => "trying",
            CallState::Ringing { .. } => "ringing",
            CallState::Up { .. } => "up",
            CallState::Stopping { .. } => "stopping",
        }
    }

    /// The state as the HTTP API shows it: "idle", "inviting" (until the answer), "playing",
    /// "stopping".
    pub fn as_str(&self) -> &'static str {
        match self {
            CallState::Idle { .. } => "idle",
            CallState::Inviting { .. } | CallState::Trying { .. } | CallState::Ringing { .. } => {
                "inviting"
            }
            CallState::Up { .. } => "playing",
            CallState::Stopping { .. } => "stopping",
        }
    }

    /// The call being set up or up (not idle, not stopping).
    pub fn dialog(&self) -> Option<&Dialog> {
        match self {
            CallState::Inviting { dialog, .. }
            | CallState::Trying { dialog, .. }
            | CallState::Ringing { dialog, .. }
            | CallState::Up { dialog, .. } => Some(dialog),
            CallState::Idle { .. } | CallState::Stopping { .. } => None,
        }
    }

    pub fn dialog_mut(&mut self) -> Option<&mut Dialog> {
        match self {
            CallState::Inviting { dialog, .. }
            | CallState::Trying { dialog, .. }
            | CallState::Ringing { dialog, .. }
            | CallState::Up { dialog, .. } => Some(dialog),
            CallState::Idle { .. } | CallState::Stopping { .. } => None,
        }
    }

    /// The Call-ID that responses and requests of this call carry.
    pub fn call_id(&self) -> Option<&str> {
        match self {
            CallState::Stopping { call_id, .. } => Some(call_id),
            other => other.dialog().map(|d| d.call_id.as_str()),
        }
    }

    /// When a new call may start without a request; None while a call is set up or up.
    pub fn resume(&self) -> Option<Resume> {
        match self {
            CallState::Idle { resume } | CallState::Stopping { resume, .. } => Some(*resume),
            _ => None,
        }
    }

    /// Whether a new call may start on request (API): no call is set up or up.
    pub fn is_free(&self) -> bool {
        self.dialog().is_none()
    }

    /// The timer due at `now`, if any.
    pub fn due(&self, now: u64, media_timeout: u64) -> Option<Due> {
        match self {
            CallState::Inviting { timer, .. } if now >= timer.next_at => {
                Some(if timer.tries_left > 0 {
                    Due::Retransmit
                } else {
                    Due::NoAnswer
                })
            }
            CallState::Trying { give_up_at, .. } | CallState::Ringing { give_up_at, .. }
                if now >= *give_up_at =>
            {
                Some(Due::NoAnswer)
            }
            CallState::Up { last_media, .. } if now.saturating_sub(*last_media) > media_timeout => {
                Some(Due::MediaTimeout)
            }
            CallState::Stopping { give_up_at, .. } if now >= *give_up_at => {
                Some(Due::ByeUnanswered)
            }
            _ => None,
        }
    }

    /// When the next timer is due (`Idle`'s retry is the agent's business).
    pub fn poll_timeout(&self, media_timeout: u64) -> Option<u64> {
        match self {
            CallState::Idle { .. } => None,
            CallState::Inviting { timer, .. } => Some(timer.next_at),
            CallState::Trying { give_up_at, .. }
            | CallState::Ringing { give_up_at, .. }
            | CallState::Stopping { give_up_at, .. } => Some(*give_up_at),
            CallState::Up { last_media, .. } => Some(last_media.saturating_add(media_timeout + 1)),
        }
    }
}

impl CallEvent {
    pub fn name(&self) -> &'static str {
        match self {
            CallEvent::Invite { .. } => "invite",
            CallEvent::Retransmit { .. } => "retransmit",
            CallEvent::Provisional { .. } => "provisional response",
            CallEvent::Answered { .. } => "answer",
            CallEvent::Failed { .. } => "failure",
            CallEvent::Media { .. } => "media",
            CallEvent::Hangup { .. } => "hangup",
            CallEvent::Gone { .. } => "hangup by the device",
            CallEvent::ByeDone => "BYE done",
        }
    }
}

impl fmt::Display for CallState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// 180 Ringing and 183 Session Progress move a call to ringing; other 1xx to trying.
fn is_ringing(status: u16) -> bool {
    matches!(status, 180 | 183)
}

#[cfg(test)]
mod tests;
