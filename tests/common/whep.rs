//! A WHEP player that is not ours: the `str0m` crate in its *sample* mode (str0m depacketizes,
//! with its own H.265 and AV1 depacketizers, not the server's packetizers), over a UDP socket
//! of 127.0.0.1 ([`super::peer`]), the offer posted with curl. It runs in the test's thread
//! until it has the frames it waits for or its deadline passes: every wait is bounded.

use std::time::{Duration, Instant};

use str0m::media::Direction;
use str0m::{Event, IceConnectionState, Rtc};

use super::peer::Peer;
use super::Server;

/// The codec the player offers (alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    H265,
    Av1,
}

/// What the player got.
#[derive(Debug, Default)]
pub struct Played {
    /// The depacketized frames, in order: str0m's samples of each RTP timestamp (H.265: Annex
    /// B access units; AV1: low-overhead OBU streams, temporal units without their delimiters).
    pub frames: Vec<Vec<u8>>,
    /// Whether str0m marked a sample of each frame as a keyframe.
    pub key: Vec<bool>,
    /// Frames str0m marked as not contiguous with the one before (a gap in the RTP packets).
    pub discontinuities: usize,
    /// Frames of which str0m marked a sample as a keyframe.
    pub keyframes: usize,
    /// The RTP timestamps of the frames.
    pub times: Vec<u64>,
}

/// A WHEP session of `server`'s `app/stream`, offered with `codec` alone on a recvonly video
/// m-line.
pub struct Player {
    peer: Peer,
    /// The session's resource (`Location`).
    pub location: String,
}

impl Player {
    /// Offers, and takes the answer; the HTTP status and body if the server does not answer
    /// 201.
    pub fn offer(
        server: &Server,
        app: &str,
        stream: &str,
        codec: Offer,
    ) -> Result<Player, (u16, String)> {
        let config = Rtc::builder()
            .clear_codecs()
            .enable_h265(codec == Offer::H265)
            .enable_av1(codec == Offer::Av1);
        let path = format!("rtc/v1/whep/?app={app}&stream={stream}");
        let peer = Peer::offer(server, &path, config, Direction::RecvOnly)?;
        Ok(Player {
            location: peer.location.clone(),
            peer,
        })
    }

    /// Runs the session until `frames` frames are in or `within` has passed.
    pub fn play(&mut self, frames: usize, within: Duration) -> Played {
        let end = Instant::now() + within;
        let mut played = Played::default();
        let mut gone = false;
        while !gone
            && played.frames.len() < frames
            && Instant::now() < end
            && self.peer.rtc.is_alive()
        {
            self.peer.step(None, |e| match e {
                Event::MediaData(m) => {
                    played.discontinuities += usize::from(!m.contiguous);
                    let time = m.time.numer();
                    // str0m hands out a sample per partition (for H.265 an aggregation
                    // packet apart from the fragmented slice after it): the samples of
                    // one RTP timestamp are one frame.
                    if played.times.last() == Some(&time) {
                        if let Some(f) = played.frames.last_mut() {
                            f.extend_from_slice(&m.data);
                        }
                        if m.is_keyframe() && !played.key.last().copied().unwrap_or(true) {
                            played.keyframes += 1;
                            if let Some(k) = played.key.last_mut() {
                                *k = true;
                            }
                        }
                    } else {
                        played.keyframes += usize::from(m.is_keyframe());
                        played.key.push(m.is_keyframe());
                        played.times.push(time);
                        played.frames.push(m.data.to_vec());
                    }
                }
                Event::IceConnectionStateChange(IceConnectionState::Disconnected) => gone = true,
                _ => {}
            });
        }
        played
    }
}
