//! The ICE/DTLS driver the str0m-based test clients share (the WHEP player of
//! [`super::whep`], the WHIP publisher of [`super::whip`]): a `str0m` peer in its *sample*
//! mode over a UDP socket of 127.0.0.1, with one video m-line, its offer posted with curl.
//! Every wait is bounded.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use str0m::change::SdpAnswer;
use str0m::media::{Direction, MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};

use super::{post_sdp, Server};

/// The longest a [`Peer::step`] waits for a datagram.
const POLL: Duration = Duration::from_millis(20);

/// A str0m peer whose offer the server answered.
pub struct Peer {
    pub rtc: Rtc,
    sock: UdpSocket,
    /// The video m-line.
    pub mid: Mid,
    /// The session's resource (`Location`).
    pub location: String,
}

impl Peer {
    /// Builds `config` (its codecs set by the caller) with our DTLS certificate and crypto,
    /// offers one video m-line of `direction` to `server`'s `path` (`rtc/v1/whep/?app=..`),
    /// and takes the answer; the HTTP status and body if the server does not answer 201.
    pub fn offer(
        server: &Server,
        path: &str,
        config: RtcConfig,
        direction: Direction,
    ) -> Result<Peer, (u16, String)> {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let local = sock.local_addr().unwrap();
        let cert = tinysrs::server::rtc::dtls_cert(&[0x42; 32], &[0x11; 16]).unwrap();
        let mut rtc = config
            .set_dtls_cert(cert)
            .set_crypto_provider(tinysrs::server::rtc::crypto::provider())
            .build(Instant::now());
        rtc.add_local_candidate(Candidate::host(local, "udp").unwrap());
        let mut api = rtc.sdp_api();
        let mid = api.add_media(MediaKind::Video, direction, None, None, None);
        let (offer, pending) = api.apply().expect("an offer");
        let file = server.dir.path(&format!("offer-{}.sdp", local.port()));
        std::fs::write(&file, offer.to_sdp_string()).unwrap();
        let url = server.http_url(path);
        let (status, head, body) = post_sdp(&url, &file.display().to_string(), &[]);
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
        Ok(Peer {
            rtc,
            sock,
            mid,
            location,
        })
    }

    /// One turn: str0m's datagrams go out and its events to `on_event` until it has only a
    /// deadline; then one datagram that comes before that deadline, `wake` or [`POLL`] is
    /// fed in, or else str0m's timeout.
    pub fn step(&mut self, wake: Option<Instant>, mut on_event: impl FnMut(Event)) {
        let deadline = loop {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(t)) => break t,
                Ok(Output::Transmit(t)) => {
                    let _ = self.sock.send_to(&t.contents, t.destination);
                }
                Ok(Output::Event(e)) => on_event(e),
                Err(e) => panic!("str0m: {e}"),
            }
        };
        let deadline = wake.map_or(deadline, |w| deadline.min(w));
        let now = Instant::now();
        if deadline > now {
            self.sock
                .set_read_timeout(Some((deadline - now).min(POLL)))
                .unwrap();
            let mut buf = [0; 2048];
            if let Ok((n, from)) = self.sock.recv_from(&mut buf) {
                if let Ok(contents) = buf[..n].try_into() {
                    let input = Input::Receive(
                        Instant::now(),
                        Receive {
                            proto: Protocol::Udp,
                            source: from,
                            destination: self.sock.local_addr().unwrap(),
                            contents,
                        },
                    );
                    self.rtc
                        .handle_input(input)
                        .expect("str0m takes the datagram");
                    return;
                }
            }
        }
        self.rtc
            .handle_input(Input::Timeout(Instant::now()))
            .expect("str0m's timeout");
    }
}
