//! The RTSP client that pulls a camera (RFC 2326): a state machine with no I/O and no clock.
//!
//! Verbs: [`ClientSession::handle_connected`] (the TCP connection is up), `handle_bytes`
//! (bytes from the camera, with the current time), [`ClientSession::poll_transmit`] (bytes to
//! send), [`ClientSession::poll_event`] (a redirect, playing), [`ClientSession::poll_frame`]
//! (frames for the hub),
//! `poll_timeout` / `handle_timeout` (deadlines), [`ClientSession::teardown`] (stop).
//!
//! States and transitions (each request waits for its reply before the next goes out):
//! `Connecting` --connected--> `Options` --200--> `Describe` --200 + SDP--> `Setup(0)` --200-->
//! … `Setup(n)` --200--> `Play` --200--> `Playing` --teardown--> `Closed`.
//! DESCRIBE --3xx + Location--> `Redirected` (the driver connects to the new address and calls
//! `handle_connected` again; at most [`MAX_REDIRECTS`]). Any request --401--> the same request
//! again with credentials from the URL's `user:password` (Digest when offered, else Basic),
//! once per request. Any other error status, a broken message, an SDP without a track we can
//! carry or a deadline passed: an [`Error`], after which the driver drops the session.
//!
//! What a caller must know:
//!
//! * Transport: RTP over the RTSP connection (interleaved, `RTP/AVP/TCP`), channels `2i` and
//!   `2i + 1` asked for track `i`; the channels the camera's SETUP reply names are used.
//!   Interleaved frames on other channels are counted and dropped. Or, after
//!   [`ClientSession::set_udp`], UDP unicast (`RTP/AVP;unicast;client_port=`) to the ports
//!   the driver bound: it hands each datagram to [`ClientSession::handle_datagram`], they go
//!   through a reorder window of [`REORDER_WINDOW`] packets, and no RTP within
//!   [`UDP_FIRST_PACKET_MS`] of PLAY is [`Error::NoUdp`] (the driver may then fall back to
//!   TCP). A camera that answers a UDP SETUP with interleaved channels is followed.
//! * `rtsps://`: the same requests (their URIs say rtsps://) over the TLS connection the
//!   driver opens; a redirect must keep the scheme.
//! * RTCP: sender reports are read (for the receiver reports' delay fields); a receiver
//!   report about each track goes to the camera every [`report::REPORT_INTERVAL_MS`]
//!   (interleaved on the track's RTCP channel, or by [`ClientSession::poll_datagram`] to the
//!   camera's RTCP port).
//! * Tracks: the first video track we can carry (H.264, H.265) and the first audio track
//!   (AAC `mpeg4-generic` or `MP4A-LATM`, G.711 PCMA/PCMU, Opus), so at most
//!   [`MAX_TRACKS`]; every other `m=` section is skipped with one log line (a hub stream has
//!   one video and one audio).
//! * Keepalive: `GET_PARAMETER` when the OPTIONS reply listed it in `Public`, else `OPTIONS`,
//!   every half of the `Session` timeout (60 s when the camera names none). Its reply is not
//!   waited for; a camera that stops sending media for `media_timeout_ms` is an error.
//! * Requests the camera sends us (some send `OPTIONS` or `GET_PARAMETER` as their own
//!   keepalive) get `200 OK` for OPTIONS and GET_PARAMETER, `501` otherwise.
//! * Media: frames as the hub stores them, see [`track`] (DTS = PTS: cameras send no
//!   B-frames).
//! * Memory: the input buffer holds at most one item being received (an RTSP message:
//!   `MAX_HEAD_LEN + MAX_BODY_LEN`, an interleaved frame: 64 KiB) plus one read; each track at
//!   most one access unit being assembled (`max_access_unit`).
//! * Not supported: multicast transport, RTSP over HTTP, UDP under `rtsps://` (SRTP), PAUSE,
//!   seeking.

pub mod decode_time;
pub mod report;
pub mod track;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use crate::media::Frame;
use crate::wire::digest;
use crate::wire::rtcp;
use crate::wire::rtp::{Popped, Reorder, RtpPacket};
use crate::wire::rtsp::header::{self, Challenge, Pair, Transport};
use crate::wire::rtsp::url::{self, Scheme, Url};
use crate::wire::rtsp::{self, Item, Message, Method, RtspError, StartLine};
use crate::wire::sdp::Sdp;

pub use track::{Track, TrackStats};

/// Tracks set up at most: one video and one audio (the hub's stream carries one of each).
/// The SDP's `m=` sections looked at are bounded by [`crate::wire::sdp::MAX_MEDIA`].
pub const MAX_TRACKS: usize = 2;
/// Longest URL we put in a request (the camera's URL, a redirect's `Location`, the
/// `Content-Base` with an `a=control`, percent-encoded). Why: a request line and the Digest
/// `Authorization` that repeats the URL must stay within [`rtsp::MAX_LINE_LEN`] (2 KiB), which
/// cameras' parsers limit too; camera URLs are under 300 bytes.
pub const MAX_URL_LEN: usize = 1024;
/// Longest Digest challenge we answer, its realm, nonce, opaque, algorithm and qop together.
/// Why: the answer repeats them all with the URL on one header line (see [`MAX_URL_LEN`]);
/// cameras send under 150 bytes.
pub const MAX_CHALLENGE_LEN: usize = 512;
/// DESCRIBE redirects (3xx) followed at most before giving up.
pub const MAX_REDIRECTS: u32 = 3;
/// Bytes the input buffer holds at most: the largest item (an interleaved frame of 64 KiB and
/// its header; an RTSP message is at most 16 KiB) plus one read of the driver's buffer.
pub const MAX_INPUT: usize = rtsp::INTERLEAVED_HEADER_LEN + rtsp::MAX_INTERLEAVED_LEN + MAX_READ;
/// The most a driver hands to one `handle_bytes` call.
pub const MAX_READ: usize = 16 * 1024;
/// Frames queued for the driver at most; a driver drains them after every call, so this only
/// bounds a bug (the oldest are dropped). One read of [`MAX_READ`] bytes makes a few.
const MAX_FRAMES: usize = 256;
/// RTP packets a UDP track holds back at most to put them in order. Why: a LAN reorders a few
/// packets at most; 32 datagrams of at most `server::rtsp::pull::MAX_DATAGRAM` bytes bound the RAM.
pub const REORDER_WINDOW: usize = 32;
/// How long after PLAY the first RTP over UDP may take before the session gives up
/// ([`Error::NoUdp`]). Why: a camera sends its first packets within a frame interval; three
/// seconds tell a firewall from a slow start.
pub const UDP_FIRST_PACKET_MS: u64 = 3_000;
/// How long a gap in a UDP track's sequence is waited for once no packet comes. Why: a LAN
/// reorders within a millisecond; 200 ms delays a quiet track's last frame a little, never a
/// busy track (its window fills first). RTSP publishers over UDP use it too.
pub const REORDER_FLUSH_MS: u64 = 200;
/// What we call ourselves in `User-Agent`.
const USER_AGENT: &str = concat!("tinysrs/", env!("CARGO_PKG_VERSION"));

/// What a session needs to know.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The camera's URL, with `user:password` when it needs them.
    pub url: Url,
    /// The `cnonce` of Digest answers with `qop=auth` (the driver draws it; this module
    /// draws no random numbers).
    pub cnonce: String,
    /// The largest access unit a track assembles; larger ones are dropped and counted.
    pub max_access_unit: usize,
    /// How long the camera may take to answer a request (and to accept the connection).
    pub request_timeout_ms: u64,
    /// How long the camera may send no media once playing.
    pub media_timeout_ms: u64,
}

/// Why the session ended. Each ends the connection: the driver logs it once and retries after
/// its backoff.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The camera's bytes are not RTSP (or lost their framing).
    #[error("bad RTSP from the camera: {0}")]
    Framing(#[from] RtspError),
    /// The camera refused a request: its status line.
    #[error("{method} refused: RTSP/1.0 {status} {reason}")]
    Status {
        method: &'static str,
        status: u16,
        reason: String,
    },
    /// 401 again after answering the challenge, or 401 without credentials in the URL.
    #[error("{method}: 401 {reason} ({what})")]
    Unauthorized {
        method: &'static str,
        reason: String,
        what: &'static str,
    },
    #[error("more than {MAX_REDIRECTS} redirects")]
    TooManyRedirects,
    /// A reply we cannot use: no SDP, no Location in a redirect, no session id.
    #[error("{method} reply unusable: {what}")]
    BadReply {
        method: &'static str,
        what: &'static str,
    },
    /// The SDP does not parse.
    #[error("DESCRIBE: {0}")]
    Sdp(String),
    /// The SDP has no track we can carry; the reasons of the first ones skipped.
    #[error("no track we can carry ({0})")]
    NoTracks(String),
    /// A deadline passed.
    #[error("timeout: {0}")]
    Timeout(&'static str),
    /// More bytes than [`MAX_INPUT`] waiting (a driver bug).
    #[error("input buffer over {MAX_INPUT} bytes")]
    InputOverflow,
    /// Playing over UDP and no RTP came within [`UDP_FIRST_PACKET_MS`].
    #[error("no RTP over UDP within {UDP_FIRST_PACKET_MS} ms of PLAY (a firewall?)")]
    NoUdp,
}

impl Error {
    /// Whether TCP interleaved may work where UDP did not: the camera refused the UDP
    /// transport (461 Unsupported Transport) or its UDP packets do not reach us.
    pub fn udp_blocked(&self) -> bool {
        matches!(
            self,
            Error::NoUdp
                | Error::Status {
                    method: "SETUP",
                    status: 461,
                    ..
                }
        )
    }
}

/// What the session tells the driver.
#[derive(Debug)]
pub enum Event {
    /// Close the connection and connect to `host:port`, then call `handle_connected`.
    Redirect { host: String, port: u16 },
    /// PLAY was accepted; `tracks` names what is carried (`"H264, AAC"`).
    Playing { tracks: String },
}

/// The session's state; see the module documentation for the transitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Connecting,
    Options,
    Describe,
    Setup(usize),
    Play,
    Playing,
    Redirected,
    Closed,
}

/// A request sent and not yet answered, kept to send it again with credentials.
#[derive(Debug, Clone)]
struct Pending {
    cseq: u32,
    method: Method,
    uri: String,
    headers: Vec<(&'static str, String)>,
    sent_ms: u64,
    /// It carried credentials answering a challenge.
    authorized: bool,
}

/// How we answer the camera's challenge.
#[derive(Debug, Clone)]
enum Auth {
    Basic,
    Digest {
        challenge: digest::Challenge,
        nc: u32,
    },
}

/// A track set up: where its media comes from.
#[derive(Debug)]
struct SetupTrack {
    control: String,
    /// Interleaved RTP channel (RTCP is the next one); unused over UDP.
    channel: u8,
    /// Over UDP: the camera's RTCP port when its SETUP reply named one (else no reports).
    udp: Option<UdpTrack>,
    track: Track,
    /// The name of its codec for the log.
    name: &'static str,
    reception: report::Reception,
}

/// The UDP side of a track.
#[derive(Debug)]
struct UdpTrack {
    server_rtcp_port: Option<u16>,
    reorder: Reorder,
}

/// The client side of one camera connection; see the module documentation.
#[derive(Debug)]
pub struct ClientSession {
    config: ClientConfig,
    /// The URL requests go to (changes with a redirect), without credentials.
    request_url: String,
    host: String,
    port: u16,
    state: State,
    cseq: u32,
    pending: Option<Pending>,
    auth: Option<Auth>,
    session_id: Option<String>,
    session_timeout_s: u32,
    get_parameter: bool,
    redirects: u32,
    /// Aggregate control URL (PLAY, TEARDOWN, keepalive).
    aggregate: String,
    tracks: Vec<SetupTrack>,
    /// The tracks of the SDP still to set up: control URL, track, codec name.
    to_setup: VecDeque<(String, Track, &'static str)>,
    input: BytesMut,
    outbox: VecDeque<Bytes>,
    events: VecDeque<Event>,
    /// Frames for the driver, at most [`MAX_FRAMES`].
    frames: VecDeque<Frame>,
    /// Frames of the packet being handled.
    made: Vec<Frame>,
    /// When the connection was asked for or the last request went out.
    deadline_from_ms: u64,
    next_keepalive_ms: u64,
    last_media_ms: u64,
    first_packet_ms: Option<u64>,
    /// Interleaved frames on channels no track uses (RTCP included).
    pub other_frames: u64,
    /// Frames dropped because the driver did not take them (see [`MAX_FRAMES`]).
    pub dropped_frames: u64,
    /// Over UDP: the client ports (RTP, RTCP) of each track, bound by the driver.
    udp_ports: Option<[Pair<u16>; MAX_TRACKS]>,
    /// RTP packets that came over UDP.
    pub udp_packets: u64,
    /// Datagrams for the driver: (track, RTCP bytes for the camera's RTCP port).
    datagrams: VecDeque<(usize, u16, Bytes)>,
    /// Our SSRC in receiver reports.
    ssrc: u32,
    playing_since_ms: u64,
    next_report_ms: u64,
}

impl ClientSession {
    /// A session for `config.url`; connect to [`ClientSession::target`] and call
    /// [`ClientSession::handle_connected`].
    pub fn new(config: ClientConfig, now_ms: u64) -> ClientSession {
        let request_url = config.url.request_uri();
        let (host, port) = (config.url.host.clone(), config.url.port);
        ClientSession {
            aggregate: request_url.clone(),
            request_url,
            host,
            port,
            config,
            state: State::Connecting,
            cseq: 0,
            pending: None,
            auth: None,
            session_id: None,
            session_timeout_s: header::DEFAULT_SESSION_TIMEOUT,
            get_parameter: false,
            redirects: 0,
            tracks: Vec::new(),
            to_setup: VecDeque::new(),
            input: BytesMut::new(),
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            frames: VecDeque::new(),
            made: Vec::new(),
            deadline_from_ms: now_ms,
            next_keepalive_ms: u64::MAX,
            last_media_ms: now_ms,
            first_packet_ms: None,
            other_frames: 0,
            dropped_frames: 0,
            udp_ports: None,
            udp_packets: 0,
            datagrams: VecDeque::new(),
            ssrc: 0x7473_7273,
            playing_since_ms: now_ms,
            next_report_ms: u64::MAX,
        }
    }

    /// Asks for RTP over UDP to `client_ports` (RTP, RTCP of each track) instead of TCP
    /// interleaved. Call before [`ClientSession::handle_connected`].
    pub fn set_udp(&mut self, client_ports: [Pair<u16>; MAX_TRACKS]) {
        self.udp_ports = Some(client_ports);
    }

    /// Our SSRC in receiver reports (the driver draws it).
    pub fn set_ssrc(&mut self, ssrc: u32) {
        self.ssrc = ssrc;
    }

    /// Whether the tracks set up came over UDP (all of them; the driver keeps its sockets).
    pub fn over_udp(&self) -> bool {
        !self.tracks.is_empty() && self.tracks.iter().all(|t| t.udp.is_some())
    }

    /// A datagram that came to the RTP (`rtcp` false) or RTCP port of track `index`.
    pub fn handle_datagram(&mut self, now_ms: u64, index: usize, rtcp: bool, payload: Bytes) {
        if !matches!(self.state, State::Play | State::Playing) {
            return;
        }
        let Some(t) = self.tracks.get(index) else {
            return;
        };
        if t.udp.is_none() {
            return;
        }
        if rtcp {
            self.handle_rtcp(now_ms, index, &payload);
            return;
        }
        let packet = match RtpPacket::decode(payload) {
            Ok(p) => p,
            Err(e) => {
                log::debug!("RTSP {}: UDP {e}", self.request_url);
                return;
            }
        };
        self.udp_packets += 1;
        let rate = self.tracks[index].track.format().clock_rate();
        self.tracks[index].reception.packet(
            packet.ssrc,
            packet.sequence,
            packet.timestamp,
            rate,
            now_ms,
        );
        self.last_media_ms = now_ms;
        if let Some(udp) = self.tracks[index].udp.as_mut() {
            udp.reorder.push(packet);
        }
        self.drain_reorder(now_ms, index);
    }

    /// The next RTCP datagram for the camera: (track, the camera's RTCP port, bytes).
    pub fn poll_datagram(&mut self) -> Option<(usize, u16, Bytes)> {
        self.datagrams.pop_front()
    }

    fn drain_reorder(&mut self, now_ms: u64, index: usize) {
        loop {
            let Some(popped) = self.tracks[index]
                .udp
                .as_mut()
                .and_then(|u| u.reorder.pop())
            else {
                break;
            };
            if let Popped::Packet(packet) = popped {
                self.handle_rtp(now_ms, index, &packet);
            }
            // A loss shows as a sequence gap to the depacketizer, which drops the broken
            // access unit.
        }
    }

    /// RTCP from the camera: its sender reports' times, for our receiver reports.
    fn handle_rtcp(&mut self, now_ms: u64, index: usize, payload: &[u8]) {
        for packet in rtcp::packets(payload) {
            match packet {
                Ok(rtcp::Packet::SenderReport(sr)) => {
                    self.tracks[index]
                        .reception
                        .sender_report(sr.ssrc, sr.ntp.middle32(), now_ms)
                }
                Ok(_) => {}
                Err(e) => {
                    log::debug!("RTSP {}: {e}", self.request_url);
                    break;
                }
            }
        }
    }

    /// A receiver report about each track that received something: interleaved, or queued
    /// for [`ClientSession::poll_datagram`].
    fn send_reports(&mut self, now_ms: u64) {
        for index in 0..self.tracks.len() {
            let Some(block) = self.tracks[index].reception.block(now_ms) else {
                continue;
            };
            let bytes = report::receiver_report(self.ssrc, vec![block]);
            let t = &self.tracks[index];
            match &t.udp {
                Some(udp) => {
                    if let Some(port) = udp.server_rtcp_port {
                        self.datagrams.push_back((index, port, bytes));
                    }
                }
                None => {
                    let mut out =
                        BytesMut::with_capacity(rtsp::INTERLEAVED_HEADER_LEN + bytes.len());
                    if rtsp::encode_interleaved(t.channel.wrapping_add(1), &bytes, &mut out).is_ok()
                    {
                        self.outbox.push_back(out.freeze());
                    }
                }
            }
        }
    }

    /// Where to connect: the URL's host and port, or a redirect's.
    pub fn target(&self) -> (&str, u16) {
        (&self.host, self.port)
    }

    /// Whether the connection is TLS (`rtsps://`; a redirect keeps the scheme).
    pub fn tls(&self) -> bool {
        self.config.url.scheme == Scheme::Rtsps
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// The counters of each track set up: (codec name, stats).
    pub fn track_stats(&self) -> impl Iterator<Item = (&'static str, TrackStats)> + '_ {
        self.tracks.iter().map(|t| (t.name, t.track.stats()))
    }

    /// The connection to [`ClientSession::target`] is up: OPTIONS goes out.
    pub fn handle_connected(&mut self, now_ms: u64) {
        self.input.clear();
        self.outbox.clear();
        self.pending = None;
        self.state = State::Options;
        let url = self.request_url.clone();
        self.send(now_ms, Method::Options, url, Vec::new());
    }

    /// Bytes from the camera.
    pub fn handle_bytes(&mut self, now_ms: u64, bytes: &[u8]) -> Result<(), Error> {
        if self.input.len() + bytes.len() > MAX_INPUT {
            return Err(Error::InputOverflow);
        }
        self.input.extend_from_slice(bytes);
        while matches!(
            self.state,
            State::Options | State::Describe | State::Setup(_) | State::Play | State::Playing
        ) {
            let Some(item) = rtsp::decode_buf(&mut self.input)? else {
                break;
            };
            match item {
                Item::Message(m) => self.handle_message(now_ms, m)?,
                Item::Interleaved { channel, payload } => {
                    self.handle_interleaved(now_ms, channel, payload)
                }
            }
        }
        Ok(())
    }

    /// The next deadline: a reply due, a keepalive, the media timeout.
    pub fn poll_timeout(&self) -> Option<u64> {
        match self.state {
            State::Connecting
            | State::Options
            | State::Describe
            | State::Setup(_)
            | State::Play => Some(self.deadline_from_ms + self.config.request_timeout_ms),
            State::Playing => {
                let mut t = self
                    .next_keepalive_ms
                    .min(self.last_media_ms + self.config.media_timeout_ms)
                    .min(self.next_report_ms);
                if self.over_udp() && self.udp_packets == 0 {
                    t = t.min(self.playing_since_ms + UDP_FIRST_PACKET_MS);
                }
                if self.reorder_holds() {
                    t = t.min(self.last_media_ms + REORDER_FLUSH_MS);
                }
                Some(t)
            }
            State::Redirected | State::Closed => None,
        }
    }

    /// Deadlines due at `now_ms`: an error when the camera is late, a keepalive when it is
    /// time.
    pub fn handle_timeout(&mut self, now_ms: u64) -> Result<(), Error> {
        match self.state {
            State::Connecting => {
                if now_ms >= self.deadline_from_ms + self.config.request_timeout_ms {
                    return Err(Error::Timeout("connecting"));
                }
            }
            State::Options | State::Describe | State::Setup(_) | State::Play => {
                if now_ms >= self.deadline_from_ms + self.config.request_timeout_ms {
                    return Err(Error::Timeout(match self.state {
                        State::Options => "no reply to OPTIONS",
                        State::Describe => "no reply to DESCRIBE",
                        State::Setup(_) => "no reply to SETUP",
                        _ => "no reply to PLAY",
                    }));
                }
            }
            State::Playing => {
                if self.over_udp()
                    && self.udp_packets == 0
                    && now_ms >= self.playing_since_ms + UDP_FIRST_PACKET_MS
                {
                    return Err(Error::NoUdp);
                }
                if now_ms >= self.last_media_ms + self.config.media_timeout_ms {
                    return Err(Error::Timeout("no media from the camera"));
                }
                if self.reorder_holds() && now_ms >= self.last_media_ms + REORDER_FLUSH_MS {
                    for index in 0..self.tracks.len() {
                        if let Some(u) = self.tracks[index].udp.as_mut() {
                            u.reorder.flush();
                        }
                        self.drain_reorder(now_ms, index);
                    }
                }
                if now_ms >= self.next_report_ms {
                    self.send_reports(now_ms);
                    self.next_report_ms = now_ms + report::REPORT_INTERVAL_MS;
                }
                if now_ms >= self.next_keepalive_ms {
                    let method = if self.get_parameter {
                        Method::GetParameter
                    } else {
                        Method::Options
                    };
                    let url = self.aggregate.clone();
                    self.send(now_ms, method, url, Vec::new());
                    self.schedule_keepalive(now_ms);
                }
            }
            State::Redirected | State::Closed => {}
        }
        Ok(())
    }

    /// The next bytes to send.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.outbox.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next frame for the hub: sequence headers, then pictures and audio frames.
    pub fn poll_frame(&mut self) -> Option<Frame> {
        self.frames.pop_front()
    }

    /// Whether [`ClientSession::poll_frame`] has a frame.
    pub fn has_frame(&self) -> bool {
        !self.frames.is_empty()
    }

    /// Stop pulling: TEARDOWN goes out when a session was set up; the driver sends what
    /// [`ClientSession::poll_transmit`] gives and closes.
    pub fn teardown(&mut self, now_ms: u64) {
        if self.session_id.is_some() && self.state != State::Closed {
            let url = self.aggregate.clone();
            self.send(now_ms, Method::Teardown, url, Vec::new());
        }
        self.state = State::Closed;
    }

    fn reorder_holds(&self) -> bool {
        self.tracks
            .iter()
            .any(|t| t.udp.as_ref().is_some_and(|u| u.reorder.held() > 0))
    }

    fn schedule_keepalive(&mut self, now_ms: u64) {
        let half = u64::from(self.session_timeout_s.max(2)) * 1000 / 2;
        self.next_keepalive_ms = now_ms + half;
    }

    fn send(
        &mut self,
        now_ms: u64,
        method: Method,
        uri: String,
        headers: Vec<(&'static str, String)>,
    ) {
        let pending = Pending {
            cseq: 0,
            method,
            uri,
            headers,
            sent_ms: now_ms,
            authorized: false,
        };
        self.send_pending(pending);
    }

    fn send_pending(&mut self, mut pending: Pending) {
        self.cseq = self.cseq.wrapping_add(1);
        pending.cseq = self.cseq;
        let mut m = Message::request(pending.method.clone(), pending.uri.clone())
            .with_header("CSeq", self.cseq.to_string())
            .with_header("User-Agent", USER_AGENT);
        if let Some(value) = self.authorization(&pending.method, &pending.uri) {
            m.push_header("Authorization", value);
        }
        if let Some(id) = &self.session_id {
            if pending.method != Method::Options || self.state == State::Playing {
                m.push_header("Session", id.clone());
            }
        }
        for (name, value) in &pending.headers {
            m.push_header(name, value.clone());
        }
        self.outbox.push_back(m.to_bytes());
        self.deadline_from_ms = pending.sent_ms;
        self.pending = Some(pending);
    }

    /// The `Authorization` value for a request, once a challenge was answered.
    fn authorization(&mut self, method: &Method, uri: &str) -> Option<String> {
        let user = self.config.url.user.as_deref().unwrap_or("");
        let password = self.config.url.password.as_deref().unwrap_or("");
        match self.auth.as_mut()? {
            Auth::Basic => Some(header::basic_authorization(user, password)),
            Auth::Digest { challenge, nc } => {
                *nc += 1;
                let creds = challenge.answer(
                    user,
                    password,
                    method.as_str(),
                    uri,
                    &self.config.cnonce,
                    *nc,
                );
                Some(creds.header_value())
            }
        }
    }

    fn handle_message(&mut self, now_ms: u64, m: Message) -> Result<(), Error> {
        let (status, reason) = match &m.start {
            StartLine::Request { method, .. } => {
                // The camera asks us something (its own keepalive, say).
                let status = match method {
                    Method::Options | Method::GetParameter => 200,
                    _ => 501,
                };
                self.outbox.push_back(m.response_to(status).to_bytes());
                return Ok(());
            }
            StartLine::Response { status, reason } => (*status, reason.clone()),
        };
        let Some(pending) = self.pending.take() else {
            return Ok(());
        };
        if m.cseq().is_some_and(|c| c != pending.cseq) {
            // A late reply to an earlier request (a keepalive, say).
            self.pending = Some(pending);
            return Ok(());
        }
        let method = method_name(&pending.method);
        if self.state == State::Playing {
            // Keepalive replies: whatever they say, the media tells whether the camera lives.
            return Ok(());
        }
        if status == 401 {
            return self.answer_challenge(pending, &m, reason);
        }
        if (300..400).contains(&status) && pending.method == Method::Describe {
            return self.redirect(&m, status, reason);
        }
        if !(200..300).contains(&status) {
            return Err(Error::Status {
                method,
                status,
                reason,
            });
        }
        match pending.method {
            Method::Options => {
                self.get_parameter = m.public().contains(&Method::GetParameter);
                self.state = State::Describe;
                let url = self.request_url.clone();
                self.send(
                    now_ms,
                    Method::Describe,
                    url,
                    vec![("Accept", "application/sdp".to_owned())],
                );
            }
            Method::Describe => {
                self.described(&m)?;
                self.setup_next(now_ms);
            }
            Method::Setup => {
                self.set_up(&m)?;
                self.setup_next(now_ms);
            }
            Method::Play => {
                self.playing(now_ms, &m);
            }
            _ => {}
        }
        Ok(())
    }

    /// A 401: the same request again with credentials, once.
    fn answer_challenge(
        &mut self,
        mut pending: Pending,
        m: &Message,
        reason: String,
    ) -> Result<(), Error> {
        let method = method_name(&pending.method);
        let unauthorized = |what| Error::Unauthorized {
            method,
            reason: reason.clone(),
            what,
        };
        if self.config.url.user.is_none() {
            return Err(unauthorized("no user:password in the URL"));
        }
        if pending.authorized {
            return Err(unauthorized("wrong user or password"));
        }
        let challenges = m.challenges();
        let digest = challenges.iter().find_map(|c| match c {
            Challenge::Digest(d) => Some(d.clone()),
            Challenge::Basic { .. } => None,
        });
        if let Some(d) = &digest {
            let len = d.realm.len()
                + d.nonce.len()
                + [&d.opaque, &d.algorithm, &d.qop]
                    .iter()
                    .map(|v| v.as_ref().map_or(0, String::len))
                    .sum::<usize>();
            if len > MAX_CHALLENGE_LEN {
                return Err(unauthorized("Digest challenge too long to answer"));
            }
        }
        self.auth = match digest {
            Some(challenge) => Some(Auth::Digest { challenge, nc: 0 }),
            None if challenges
                .iter()
                .any(|c| matches!(c, Challenge::Basic { .. })) =>
            {
                Some(Auth::Basic)
            }
            None => return Err(unauthorized("no Basic or Digest challenge")),
        };
        pending.authorized = true;
        self.send_pending(pending);
        Ok(())
    }

    fn redirect(&mut self, m: &Message, status: u16, reason: String) -> Result<(), Error> {
        self.redirects += 1;
        if self.redirects > MAX_REDIRECTS {
            return Err(Error::TooManyRedirects);
        }
        let location = m.header("Location").ok_or(Error::Status {
            method: "DESCRIBE",
            status,
            reason,
        })?;
        let target = Url::parse(location).ok_or(Error::BadReply {
            method: "DESCRIBE",
            what: "redirect Location is not an rtsp:// URL",
        })?;
        // A redirect does not take TLS away (nor add it to a plain ingest's UDP transport).
        if target.scheme != self.config.url.scheme {
            return Err(Error::BadReply {
                method: "DESCRIBE",
                what: "redirect Location changes the scheme (rtsp:// and rtsps://)",
            });
        }
        if target.request_uri().len() > MAX_URL_LEN {
            return Err(Error::BadReply {
                method: "DESCRIBE",
                what: "redirect Location longer than 1024 bytes",
            });
        }
        self.request_url = target.request_uri();
        self.aggregate = self.request_url.clone();
        self.host = target.host.clone();
        self.port = target.port;
        self.state = State::Redirected;
        self.events.push_back(Event::Redirect {
            host: target.host,
            port: target.port,
        });
        Ok(())
    }

    /// The DESCRIBE reply: the tracks to set up.
    fn described(&mut self, m: &Message) -> Result<(), Error> {
        if m.body.is_empty() {
            return Err(Error::BadReply {
                method: "DESCRIBE",
                what: "no SDP",
            });
        }
        let text = String::from_utf8_lossy(&m.body);
        let sdp = Sdp::parse(&text).map_err(|e| Error::Sdp(e.to_string()))?;
        let base = m.content_base(&self.request_url);
        self.aggregate = request_uri(url::resolve(&base, sdp.control.as_deref()));
        if self.aggregate.len() > MAX_URL_LEN {
            return Err(Error::BadReply {
                method: "DESCRIBE",
                what: "Content-Base with a=control longer than 1024 bytes",
            });
        }
        let (mut video, mut audio) = (false, false);
        let mut skipped = Vec::new();
        for media in &sdp.media {
            let (taken, name) = match media.kind.as_str() {
                "video" => (&mut video, "video"),
                "audio" => (&mut audio, "audio"),
                other => {
                    log::info!("RTSP {}: {other} track skipped", self.request_url);
                    skipped.push(format!("{other} track"));
                    continue;
                }
            };
            if *taken {
                log::info!(
                    "RTSP {}: another {name} track skipped (one of each is carried)",
                    self.request_url
                );
                continue;
            }
            match media.payload_format() {
                Ok((_, format)) if format.kind() == name => {
                    let codec = codec_name(&format);
                    let control = request_uri(url::resolve(&base, media.control.as_deref()));
                    if control.len() > MAX_URL_LEN {
                        log::info!(
                            "RTSP {}: {name} track skipped: its URL is longer than \
                             {MAX_URL_LEN} bytes",
                            self.request_url
                        );
                        skipped.push(format!("{name}: URL too long"));
                        continue;
                    }
                    *taken = true;
                    let track = Track::new(format, self.config.max_access_unit);
                    self.to_setup.push_back((control, track, codec));
                }
                Ok(_) => skipped.push(format!("{name} track of the other kind")),
                Err(e) => {
                    log::info!("RTSP {}: {name} track skipped: {e}", self.request_url);
                    skipped.push(format!("{name}: {e}"));
                }
            }
        }
        if self.to_setup.is_empty() {
            return Err(Error::NoTracks(if skipped.is_empty() {
                "no m= line".to_owned()
            } else {
                skipped.join("; ")
            }));
        }
        Ok(())
    }

    /// SETUP of the next track, or PLAY when all are set up.
    fn setup_next(&mut self, now_ms: u64) {
        if let Some((control, _, _)) = self.to_setup.front() {
            let index = self.tracks.len();
            let first = (2 * index) as u8;
            let transport = match self.udp_ports {
                Some(ports) => Transport::udp(ports[index]).encode(),
                None => Transport::tcp(Pair::new(first, first + 1)).encode(),
            };
            self.state = State::Setup(index);
            let url = control.clone();
            self.send(now_ms, Method::Setup, url, vec![("Transport", transport)]);
        } else {
            self.state = State::Play;
            let url = self.aggregate.clone();
            self.send(
                now_ms,
                Method::Play,
                url,
                vec![("Range", "npt=0.000-".to_owned())],
            );
        }
    }

    /// A SETUP reply: the session and the channels of the track.
    fn set_up(&mut self, m: &Message) -> Result<(), Error> {
        let Some((control, track, name)) = self.to_setup.pop_front() else {
            return Ok(());
        };
        let session = m.session().ok_or(Error::BadReply {
            method: "SETUP",
            what: "no Session header",
        })?;
        self.session_timeout_s = session.timeout_or_default();
        self.session_id = Some(session.id);
        let index = self.tracks.len();
        let transports = m.transports();
        let interleaved = transports.iter().find_map(|t| t.interleaved);
        let channel = interleaved.map_or((2 * index) as u8, |p| p.first);
        let chose_udp =
            interleaved.is_none() && transports.iter().any(|t| t.lower == header::Lower::Udp);
        let udp = match (self.udp_ports.is_some(), chose_udp) {
            (true, true) => Some(UdpTrack {
                server_rtcp_port: transports.iter().find_map(|t| {
                    t.server_port
                        .map(|p| p.second.unwrap_or(p.first.wrapping_add(1)))
                }),
                reorder: Reorder::new(REORDER_WINDOW),
            }),
            (false, true) => {
                return Err(Error::BadReply {
                    method: "SETUP",
                    what: "the camera chose UDP when TCP interleaved was asked for",
                })
            }
            (_, false) => None,
        };
        self.tracks.push(SetupTrack {
            control,
            channel,
            udp,
            track,
            name,
            reception: report::Reception::default(),
        });
        Ok(())
    }

    fn playing(&mut self, now_ms: u64, m: &Message) {
        for info in m.rtp_info() {
            let Some(rtptime) = info.rtptime else {
                continue;
            };
            if let Some(t) = self
                .tracks
                .iter_mut()
                .find(|t| same_track(&t.control, &info.url))
            {
                t.track.set_start(rtptime);
            }
        }
        self.state = State::Playing;
        self.last_media_ms = now_ms;
        self.playing_since_ms = now_ms;
        self.next_report_ms = now_ms + report::REPORT_INTERVAL_MS;
        self.schedule_keepalive(now_ms);
        let tracks = self
            .tracks
            .iter()
            .map(|t| t.name)
            .collect::<Vec<_>>()
            .join(", ");
        self.events.push_back(Event::Playing { tracks });
    }

    fn handle_interleaved(&mut self, now_ms: u64, channel: u8, payload: Bytes) {
        let tcp = |t: &SetupTrack| t.udp.is_none();
        let Some(index) = self
            .tracks
            .iter()
            .position(|t| tcp(t) && t.channel == channel)
        else {
            // RTCP is counted here too, and read for its sender reports.
            if let Some(index) = self
                .tracks
                .iter()
                .position(|t| tcp(t) && t.channel.wrapping_add(1) == channel)
            {
                self.handle_rtcp(now_ms, index, &payload);
            }
            self.other_frames += 1;
            return;
        };
        let packet = match RtpPacket::decode(payload) {
            Ok(p) => p,
            Err(e) => {
                log::debug!("RTSP {}: {e}", self.request_url);
                return;
            }
        };
        self.last_media_ms = now_ms;
        let rate = self.tracks[index].track.format().clock_rate();
        self.tracks[index].reception.packet(
            packet.ssrc,
            packet.sequence,
            packet.timestamp,
            rate,
            now_ms,
        );
        self.handle_rtp(now_ms, index, &packet);
    }

    /// An RTP packet of track `index`, in order: its frames go to the driver's queue.
    fn handle_rtp(&mut self, now_ms: u64, index: usize, packet: &RtpPacket) {
        let t = &mut self.tracks[index];
        let start = *self.first_packet_ms.get_or_insert(now_ms);
        if let Err(e) = t.track.push(packet, now_ms - start, &mut self.made) {
            log::debug!("RTSP {}: {} {e}", self.request_url, t.name);
        }
        for frame in self.made.drain(..) {
            if self.frames.len() >= MAX_FRAMES {
                self.frames.pop_front();
                self.dropped_frames += 1;
            }
            self.frames.push_back(frame);
        }
    }
}

/// A URL made from the camera's `Content-Base` and `a=control` as we can put it in a request
/// line: spaces, control characters and bytes that are not ASCII percent-encoded (a camera
/// that writes `a=control:track 1` gets `track%201` back).
fn request_uri(url: String) -> String {
    if url.bytes().all(|b| b.is_ascii_graphic()) {
        return url;
    }
    let mut out = String::with_capacity(url.len() + 8);
    for b in url.bytes() {
        if b.is_ascii_graphic() {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether an `RTP-Info` URL names the track at `control`: the same URL, or one ends with the
/// other (cameras write it relative, or with another host spelling).
fn same_track(control: &str, info_url: &str) -> bool {
    !info_url.is_empty()
        && (control == info_url || control.ends_with(info_url) || info_url.ends_with(control))
}

fn method_name(method: &Method) -> &'static str {
    match method {
        Method::Options => "OPTIONS",
        Method::Describe => "DESCRIBE",
        Method::Setup => "SETUP",
        Method::Play => "PLAY",
        Method::Teardown => "TEARDOWN",
        Method::GetParameter => "GET_PARAMETER",
        _ => "request",
    }
}

fn codec_name(format: &crate::wire::sdp::fmtp::PayloadFormat) -> &'static str {
    use crate::wire::sdp::fmtp::PayloadFormat as F;
    match format {
        F::H264(_) => "H264",
        F::H265(_) => "H265",
        F::Aac(_) => "AAC",
        F::Latm(_) => "AAC-LATM",
        F::Pcma { .. } => "PCMA",
        F::Pcmu { .. } => "PCMU",
        F::Opus(_) => "Opus",
        F::Av1 => "AV1",
    }
}
