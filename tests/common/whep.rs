//! A WHEP player that is not ours: the `str0m` crate in its *sample* mode (str0m depacketizes,
//! with its own H.265 and AV1 depacketizers, not the server's packetizers), over a UDP socket
//! of 127.0.0.1, the offer posted with curl. It runs in the test's thread until it has the
//! frames it waits for or its deadline passes: every wait is bounded.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use str0m::change::SdpAnswer;
use str0m::media::{Direction, MediaKind};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};

use super::{curl, Server};

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
    rtc: Rtc,
    sock: UdpSocket,
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
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let local = sock.local_addr().unwrap();
        let cert = tinysrs::server::rtc::dtls_cert(&[0x42; 32], &[0x11; 16]).unwrap();
        let mut rtc = Rtc::builder()
            .clear_codecs()
            .enable_h265(codec == Offer::H265)
            .enable_av1(codec == Offer::Av1)
            .set_dtls_cert(cert)
            .set_crypto_provider(tinysrs::server::rtc::crypto::provider())
            .build(Instant::now());
        rtc.add_local_candidate(Candidate::host(local, "udp").unwrap());
        let mut api = rtc.sdp_api();
        api.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
        let (offer, pending) = api.apply().expect("an offer");
        let path = server.dir.path(&format!("whep-offer-{}.sdp", local.port()));
        std::fs::write(&path, offer.to_sdp_string()).unwrap();
        let url = server.http_url(&format!("rtc/v1/whep/?app={app}&stream={stream}"));
        let data = format!("@{}", path.display());
        let (status, head, body) = curl(&[
            "-X",
            "POST",
            "-H",
            "Content-Type: application/sdp",
            "--data-binary",
            &data,
            &url,
        ]);
        let body = String::from_utf8_lossy(&body).to_string();
        if status != 201 {
            return Err((status, body));
        }
        let answer =
            SdpAnswer::from_sdp_string(&body).map_err(|e| (status, format!("{e}: {body}")))?;
        rtc.sdp_api()
            .accept_answer(pending, answer)
            .map_err(|e| (status, format!("{e}: {body}")))?;
        let location = head
            .lines()
            .find_map(|l| l.strip_prefix("Location: "))
            .unwrap_or_default()
            .trim()
            .to_string();
        sock.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        Ok(Player {
            rtc,
            sock,
            location,
        })
    }

    /// Runs the session until `frames` frames are in or `within` has passed.
    pub fn play(&mut self, frames: usize, within: Duration) -> Played {
        let end = Instant::now() + within;
        let local = self.sock.local_addr().unwrap();
        let mut played = Played::default();
        let mut buf = vec![0; 2048];
        while played.frames.len() < frames && Instant::now() < end && self.rtc.is_alive() {
            let deadline = loop {
                match self.rtc.poll_output() {
                    Ok(Output::Timeout(t)) => break t,
                    Ok(Output::Transmit(t)) => {
                        let _ = self.sock.send_to(&t.contents, t.destination);
                    }
                    Ok(Output::Event(Event::MediaData(m))) => {
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
                    Ok(Output::Event(Event::IceConnectionStateChange(
                        IceConnectionState::Disconnected,
                    ))) => return played,
                    Ok(Output::Event(_)) => {}
                    Err(e) => panic!("str0m: {e}"),
                }
            };
            let now = Instant::now();
            if deadline > now {
                self.sock
                    .set_read_timeout(Some((deadline - now).min(Duration::from_millis(20))))
                    .unwrap();
                if let Ok((n, from)) = self.sock.recv_from(&mut buf) {
                    if let Ok(contents) = buf[..n].try_into() {
                        let input = Input::Receive(
                            Instant::now(),
                            Receive {
                                proto: Protocol::Udp,
                                source: from,
                                destination: local,
                                contents,
                            },
                        );
                        self.rtc
                            .handle_input(input)
                            .expect("str0m takes the datagram");
                        continue;
                    }
                }
            }
            self.rtc
                .handle_input(Input::Timeout(Instant::now()))
                .expect("str0m's timeout");
        }
        played
    }
}
