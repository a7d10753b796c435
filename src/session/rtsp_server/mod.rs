//! The RTSP server's side of one player or publisher connection (RFC 2326), as a state
//! machine: no socket, no clock, no hub. Bytes and the time go in; responses, events for the
//! glue (`server::rtsp_server`), frames of a publisher and the next deadline come out.
//!
//! ```text
//! Init --DESCRIBE answered--> Described --SETUP (TCP)--> Ready --PLAY answered--> Playing
//! Init --ANNOUNCE answered--> Described (record) --SETUP--> Ready --RECORD--> Recording
//!   any state --TEARDOWN / timeout / bad bytes--> Closed
//! ```
//!
//! What a caller must know:
//!
//! * [`ServerSession::handle_bytes`] buffers at most [`MAX_INPUT`] bytes and parses requests
//!   one at a time. DESCRIBE and PLAY need the hub: they come out of
//!   [`ServerSession::poll_event`] and the session parses nothing more until the glue
//!   answers ([`ServerSession::describe_ok`], [`ServerSession::play_ok`] or
//!   [`ServerSession::refuse`]); the other methods are answered here.
//! * Media goes interleaved on the connection (`RTP/AVP/TCP`) when the player offers it, else
//!   over UDP unicast to its `client_port` pair when UDP is on ([`ServerSession::with_udp`]):
//!   that SETUP waits for the driver's ports ([`Event::SetupUdp`]). Multicast, or UDP with
//!   UDP off, gets 461, upon which ffmpeg, GStreamer and VLC ask again for TCP.
//! * Media packets are shared by every player (built once per frame by the glue with
//!   sequence number 0 and SSRC 0); [`ServerSession::packet_header`] writes this player's
//!   interleaved header and RTP header (its own sequence numbers and SSRC) in front of them.
//! * The session ends (`is_closed`) after TEARDOWN's reply, at [`ServerSession::poll_timeout`]
//!   without a request or RTCP from the player for the session timeout, or on bytes that are
//!   not RTSP (an `Err` from `handle_bytes`, logged at debug by the caller).
//! * Publish ([`ServerSession::with_record`]; else ANNOUNCE and RECORD get 405): ANNOUNCE's
//!   SDP chooses the tracks ([`record`]), then waits for the glue ([`Event::Announce`],
//!   answered by [`ServerSession::announce_ok`] or [`ServerSession::refuse`]); SETUP takes
//!   the publisher's interleaved channels or (UDP) waits for the driver's ports as for a
//!   player; RECORD is answered here. Its RTP, interleaved or handed over by the driver
//!   ([`ServerSession::handle_datagram`]), comes out as hub frames
//!   ([`ServerSession::poll_frame`]).
//! * Authentication ([`ServerSession::with_auth`]): DESCRIBE and ANNOUNCE (the requests
//!   that open a stream; SETUP, PLAY and RECORD need one of them first) need the user and
//!   password, Basic (RFC 7617) or Digest (RFC 2617, MD5, with or without `qop=auth`,
//!   against this session's nonce); else 401 with both challenges, Digest first. After
//!   [`MAX_AUTH_FAILURES`] wrong answers the session ends.
//! * Not supported: PAUSE (455: a live stream), multicast (461), a `destination=` other
//!   than the player, RTSP 2.0, HTTP tunnelling.

pub mod record;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use crate::media::Frame;
use crate::wire::digest;
use crate::wire::rtp::FIXED_HEADER_LEN;
use crate::wire::rtsp::header::{Lower, Mode, Pair, RtpInfo, Session, Transport};
use crate::wire::rtsp::{self, Item, Message, Method, RtspError, INTERLEAVED_HEADER_LEN};

/// Bytes buffered from the player at most: one request (head and body at their limits) or
/// interleaved frame (an RTCP receiver report; its 64 KiB maximum) and one read.
/// RAM: this much per RTSP player at worst (players send a few hundred bytes a minute).
pub const MAX_INPUT: usize =
    INTERLEAVED_HEADER_LEN + rtsp::MAX_INTERLEAVED_LEN + rtsp::MAX_HEAD_LEN;

/// Tracks a description has at most (one video, one audio).
pub const MAX_TRACKS: usize = 2;

/// Session timeout announced in `Session: id;timeout=N` (seconds, RFC 2326 §12.37): a player
/// that sends no request and no RTCP for this long is dropped.
pub const SESSION_TIMEOUT_S: u32 = 60;

/// Bytes of the header a player writes before each shared RTP packet's payload: the
/// interleaved frame header and the RTP fixed header.
pub const PACKET_HEADER_LEN: usize = INTERLEAVED_HEADER_LEN + FIXED_HEADER_LEN;

/// The realm of our challenges.
pub const REALM: &str = "tinysrs";

/// Wrong credentials a connection may send before it is closed. Why: a player or publisher
/// that knows the password gets it right at its first answer (ffmpeg answers once and gives
/// up); more tries on one connection are guessing.
pub const MAX_AUTH_FAILURES: u32 = 3;

/// Who may play and publish.
#[derive(Debug, Clone)]
struct Auth {
    username: String,
    password: String,
    /// This session's Digest nonce (the driver's random draw).
    nonce: String,
    failures: u32,
}

/// The methods in `Public`.
const PUBLIC: &str = "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER, SET_PARAMETER";
/// The methods in `Public` when publishing is on.
const PUBLIC_RECORD: &str =
    "OPTIONS, DESCRIBE, ANNOUNCE, SETUP, PLAY, RECORD, TEARDOWN, GET_PARAMETER, SET_PARAMETER";

/// What the glue must decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// DESCRIBE of `path` (`/app/stream`, without the query) with `query` (without `?`,
    /// empty when none), at `url` (the request URL, the base of the tracks' URLs).
    Describe {
        url: String,
        path: String,
        query: String,
    },
    /// PLAY: answer with [`ServerSession::play_ok`], giving each track's next RTP timestamp.
    Play,
    /// ANNOUNCE of `path` with `query`, at `url` (as for DESCRIBE), with `codecs` (`H264`,
    /// `AAC`): the glue publishes and answers [`ServerSession::announce_ok`] or refuses.
    Announce {
        url: String,
        path: String,
        query: String,
        codecs: Vec<&'static str>,
    },
    /// The player said TEARDOWN (answered); the glue stops sending.
    Teardown,
    /// SETUP of `track` over UDP to the player's `client_ports` (RTP, RTCP): the driver binds
    /// a pair of ports and answers with [`ServerSession::setup_udp_ok`] (or
    /// [`ServerSession::refuse`]).
    SetupUdp {
        track: usize,
        client_ports: (u16, u16),
    },
}

/// Where one track's media goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// Interleaved on the RTSP connection: the whole header goes before the payload.
    Interleaved,
    /// Over UDP: the RTP header (`header[4..]`) and the payload make one datagram.
    Udp,
}

/// One track of the description, as the glue gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackDesc {
    /// `a=control:` of the track, relative (`trackID=0`).
    pub control: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TrackSetup {
    /// Interleaved channels (RTP, RTCP); unused over UDP.
    channels: (u8, u8),
    udp: bool,
    ssrc: u32,
    /// Next RTP sequence number.
    sequence: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Init,
    /// A DESCRIBE or PLAY waits for the glue.
    Waiting,
    Described,
    Ready,
    Playing,
    /// A publisher's RECORD was answered: its RTP comes in.
    Recording,
    Closed,
}

/// Why the connection ends.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Rtsp(#[from] RtspError),
    #[error("RTSP input over {limit} bytes")]
    InputTooLarge { limit: usize },
}

#[derive(Debug)]
pub struct ServerSession {
    input: BytesMut,
    outbox: VecDeque<Bytes>,
    events: VecDeque<Event>,
    state: State,
    /// State to return to when the glue refuses what waits.
    before_wait: State,
    /// The request waiting for the glue.
    pending: Option<Message>,
    id: String,
    /// SSRC of track 0; track N uses `ssrc_base + N`.
    ssrc_base: u32,
    /// The DESCRIBE's URL (base of the tracks' URLs), once described.
    base_url: String,
    tracks: Vec<TrackDesc>,
    setups: [Option<TrackSetup>; MAX_TRACKS],
    timeout_ms: u64,
    deadline_ms: u64,
    /// Whether SETUP may ask for UDP (the driver can bind ports).
    udp_enabled: bool,
    /// The UDP SETUP waiting for its ports.
    udp_wait: Option<Event>,
    /// Largest access unit a publisher may send; `None`: publishing is off (405).
    max_access_unit: Option<usize>,
    /// A publisher's announced tracks, from ANNOUNCE on.
    record: Option<record::Recording>,
    /// Receiver reports for a UDP publisher's RTCP ports: (track, RR + SDES).
    rtcp_datagrams: VecDeque<(usize, Bytes)>,
    auth: Option<Auth>,
}

impl ServerSession {
    /// A session with this id (random, from the driver) and SSRC base.
    pub fn new(now_ms: u64, id: u64, ssrc_base: u32) -> ServerSession {
        let timeout_ms = u64::from(SESSION_TIMEOUT_S) * 1000;
        ServerSession {
            input: BytesMut::new(),
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            state: State::Init,
            before_wait: State::Init,
            pending: None,
            id: format!("{id:016X}"),
            ssrc_base,
            base_url: String::new(),
            tracks: Vec::new(),
            setups: [None; MAX_TRACKS],
            timeout_ms,
            deadline_ms: now_ms.saturating_add(timeout_ms),
            udp_enabled: false,
            udp_wait: None,
            max_access_unit: None,
            record: None,
            rtcp_datagrams: VecDeque::new(),
            auth: None,
        }
    }

    /// DESCRIBE and ANNOUNCE need `username` and `password` (Basic or Digest); `nonce` is
    /// this session's Digest nonce (unpredictable: the driver draws it).
    pub fn with_auth(mut self, username: &str, password: &str, nonce: String) -> ServerSession {
        self.auth = Some(Auth {
            username: username.to_owned(),
            password: password.to_owned(),
            nonce,
            failures: 0,
        });
        self
    }

    /// Whether `m` carries the right credentials (always, without authentication).
    fn authorized(&self, m: &Message, method: &Method) -> bool {
        let Some(auth) = &self.auth else {
            return true;
        };
        let Some(value) = m.header("Authorization") else {
            return false;
        };
        if let Some((user, password)) = crate::wire::rtsp::header::parse_basic(value) {
            // Both compared in full, so the time does not tell which one was wrong.
            let user_ok = same_bytes(user.as_bytes(), auth.username.as_bytes());
            let password_ok = same_bytes(password.as_bytes(), auth.password.as_bytes());
            return user_ok & password_ok;
        }
        digest::parse_authorization(value).is_ok_and(|c| {
            c.username == auth.username
                && c.realm == REALM
                && c.nonce == auth.nonce
                && digest::verify(&c, method.as_str(), &auth.password)
        })
    }

    /// 401 with a Digest and a Basic challenge; the session ends after
    /// [`MAX_AUTH_FAILURES`] wrong answers.
    fn challenge(&mut self, m: &Message) {
        let Some(auth) = self.auth.as_mut() else {
            return;
        };
        if m.header("Authorization").is_some() {
            auth.failures += 1;
            log::debug!("RTSP: wrong credentials ({} so far)", auth.failures);
        }
        let digest = digest::Challenge {
            realm: REALM.to_owned(),
            nonce: auth.nonce.clone(),
            algorithm: None,
            qop: None,
            opaque: None,
        };
        let mut r = m.response_to(401);
        r.push_header("WWW-Authenticate", digest.header_value());
        r.push_header("WWW-Authenticate", format!("Basic realm=\"{REALM}\""));
        let done = auth.failures >= MAX_AUTH_FAILURES;
        self.reply(r);
        if done {
            self.state = State::Closed;
        }
    }

    /// Lets publishers ANNOUNCE and RECORD, with access units up to `max_access_unit` bytes.
    pub fn with_record(mut self, max_access_unit: usize) -> ServerSession {
        self.max_access_unit = Some(max_access_unit);
        self
    }

    /// Whether a publisher's RECORD was answered.
    pub fn is_recording(&self) -> bool {
        self.state == State::Recording
    }

    /// Whether this is a publisher's session (from ANNOUNCE on).
    pub fn is_publisher(&self) -> bool {
        self.record.is_some()
    }

    /// The next frame a publisher's RTP made, for the hub.
    pub fn poll_frame(&mut self) -> Option<Frame> {
        self.record.as_mut()?.poll_frame()
    }

    /// A UDP publisher's reorder counters (zero otherwise).
    pub fn reorder_stats(&self) -> crate::wire::rtp::ReorderStats {
        self.record
            .as_ref()
            .map_or_else(Default::default, record::Recording::reorder_stats)
    }

    /// Frames dropped because the glue did not take them (a publisher's).
    pub fn dropped_frames(&self) -> u64 {
        self.record.as_ref().map_or(0, |r| r.dropped_frames())
    }

    /// A UDP datagram from the player or publisher on track `index`'s RTP or RTCP port: a
    /// sign of life, and a recording publisher's RTP.
    pub fn handle_datagram(&mut self, now_ms: u64, index: usize, rtcp: bool, payload: Bytes) {
        self.handle_keepalive(now_ms);
        if self.state != State::Recording {
            return;
        }
        if let Some(r) = self.record.as_mut() {
            match rtcp {
                true => r.handle_rtcp(now_ms, index, &payload),
                false => r.handle_udp(now_ms, index, payload),
            }
        }
    }

    /// The next RTCP datagram for a UDP publisher's RTCP port: (track, bytes).
    pub fn poll_datagram(&mut self) -> Option<(usize, Bytes)> {
        self.rtcp_datagrams.pop_front()
    }

    /// Lets SETUP choose UDP unicast when the player offers it (the driver binds a port pair
    /// per track on [`Event::SetupUdp`]).
    pub fn with_udp(mut self, enabled: bool) -> ServerSession {
        self.udp_enabled = enabled;
        self
    }

    /// The session id (`Session:` header).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether responses wait in the outbox.
    pub fn has_transmit(&self) -> bool {
        !self.outbox.is_empty()
    }

    pub fn is_playing(&self) -> bool {
        self.state == State::Playing
    }

    pub fn is_closed(&self) -> bool {
        self.state == State::Closed && self.outbox.is_empty()
    }

    /// Whether a track goes over UDP.
    pub fn uses_udp(&self) -> bool {
        self.setups.iter().flatten().any(|s| s.udp)
    }

    /// Whether track `index` was set up (media for the others is not sent).
    pub fn is_set_up(&self, index: usize) -> bool {
        self.setups.get(index).is_some_and(Option::is_some)
    }

    /// Bytes from the player.
    pub fn handle_bytes(&mut self, now_ms: u64, bytes: &[u8]) -> Result<(), SessionError> {
        if self.input.len() + bytes.len() > MAX_INPUT {
            self.state = State::Closed;
            return Err(SessionError::InputTooLarge { limit: MAX_INPUT });
        }
        self.input.extend_from_slice(bytes);
        self.process(now_ms)
    }

    /// A sign of life from the player outside the RTSP connection (none yet: reserved for
    /// RTCP over UDP).
    pub fn handle_keepalive(&mut self, now_ms: u64) {
        self.deadline_ms = now_ms.saturating_add(self.timeout_ms);
    }

    /// At [`ServerSession::poll_timeout`]: closes a session the player stopped refreshing.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        if now_ms >= self.deadline_ms && self.state != State::Waiting {
            self.state = State::Closed;
        }
        if let Some(r) = self.record.as_mut() {
            r.handle_timeout(now_ms);
        }
        self.send_receiver_reports();
    }

    /// A publisher's receiver reports, from each track's SSRC on its RTCP channel or port.
    fn send_receiver_reports(&mut self) {
        while let Some((index, block)) = self.record.as_mut().and_then(|r| r.poll_report()) {
            let Some(setup) = self.setups.get(index).copied().flatten() else {
                continue;
            };
            let bytes = crate::session::rtsp::report::receiver_report(setup.ssrc, vec![block]);
            if setup.udp {
                self.rtcp_datagrams.push_back((index, bytes));
                continue;
            }
            let mut out = BytesMut::with_capacity(rtsp::INTERLEAVED_HEADER_LEN + bytes.len());
            if rtsp::encode_interleaved(setup.channels.1, &bytes, &mut out).is_ok() {
                self.outbox.push_back(out.freeze());
            }
        }
    }

    /// When to call [`ServerSession::handle_timeout`]. While the glue decides, its own
    /// deadline applies.
    pub fn poll_timeout(&self) -> Option<u64> {
        let deadline = match self.state {
            State::Closed | State::Waiting => return None,
            _ => self.deadline_ms,
        };
        let flush = self
            .record
            .as_ref()
            .and_then(record::Recording::poll_timeout);
        Some(flush.map_or(deadline, |f| f.min(deadline)))
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Responses to send, in order.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.outbox.pop_front()
    }

    fn process(&mut self, now_ms: u64) -> Result<(), SessionError> {
        while self.state != State::Waiting && self.state != State::Closed {
            let Some(item) = rtsp::decode_buf(&mut self.input).inspect_err(|_| {
                self.state = State::Closed;
            })?
            else {
                break;
            };
            self.deadline_ms = now_ms.saturating_add(self.timeout_ms);
            match item {
                // A publisher's RTP and RTCP (its sender reports); anything else on
                // interleaved channels counts as a sign of life only.
                Item::Interleaved { channel, payload } => {
                    if let (State::Recording, Some(r)) = (self.state, self.record.as_mut()) {
                        r.handle_interleaved(now_ms, channel, payload);
                    }
                }
                Item::Message(m) => self.handle_request(m),
            }
        }
        if self.input.is_empty() {
            self.input = BytesMut::new();
        }
        Ok(())
    }

    fn reply(&mut self, response: Message) {
        self.outbox.push_back(response.to_bytes());
    }

    fn error(&mut self, request: &Message, status: u16) {
        let response = request.response_to(status);
        self.reply(response);
    }

    fn handle_request(&mut self, m: Message) {
        let Some(method) = m.method().cloned() else {
            // A response from the player: nothing was asked.
            return;
        };
        if let Some(session) = m.session() {
            if session.id != self.id || self.state == State::Init {
                return self.error(&m, 454);
            }
        }
        if matches!(method, Method::Describe | Method::Announce) && !self.authorized(&m, &method) {
            return self.challenge(&m);
        }
        match method {
            Method::Options => {
                let r = m.response_to(200).with_header("Public", self.public());
                self.reply(r);
            }
            Method::GetParameter | Method::SetParameter => {
                let r = self.with_session(m.response_to(200));
                self.reply(r);
            }
            Method::Describe => self.describe(m),
            Method::Setup => self.setup(m),
            Method::Play => {
                if self.state != State::Ready || self.record.is_some() {
                    let status = if self.state == State::Playing {
                        200
                    } else {
                        455
                    };
                    if status == 200 {
                        let r = self.with_session(m.response_to(200));
                        return self.reply(r);
                    }
                    return self.error(&m, status);
                }
                self.wait(m, Event::Play);
            }
            Method::Teardown => {
                let r = m.response_to(200);
                self.reply(r);
                self.events.push_back(Event::Teardown);
                self.state = State::Closed;
            }
            Method::Pause => self.error(&m, 455),
            Method::Announce | Method::Record if self.max_access_unit.is_none() => {
                let r = m.response_to(405).with_header("Allow", PUBLIC);
                self.reply(r);
            }
            Method::Announce => self.announce(m),
            Method::Record => {
                if self.state == State::Recording {
                    let r = self.with_session(m.response_to(200));
                    return self.reply(r);
                }
                if self.state != State::Ready || self.record.is_none() {
                    return self.error(&m, 455);
                }
                self.state = State::Recording;
                let r = self.with_session(m.response_to(200));
                self.reply(r);
            }
            Method::Redirect | Method::Unknown(_) => self.error(&m, 501),
        }
    }

    fn wait(&mut self, m: Message, event: Event) {
        if let Event::SetupUdp { .. } = event {
            self.udp_wait = Some(event.clone());
        }
        self.before_wait = self.state;
        self.state = State::Waiting;
        self.pending = Some(m);
        self.events.push_back(event);
    }

    fn with_session(&self, mut r: Message) -> Message {
        if self.state != State::Init && self.state != State::Described {
            r.set_header(
                "Session",
                Session {
                    id: self.id.clone(),
                    timeout: Some(SESSION_TIMEOUT_S),
                }
                .encode(),
            );
        }
        r
    }

    fn public(&self) -> &'static str {
        match self.max_access_unit {
            Some(_) => PUBLIC_RECORD,
            None => PUBLIC,
        }
    }

    /// The URL of a DESCRIBE or ANNOUNCE: (the base, without the query or a trailing `/`;
    /// the path; the query). `None`: not an RTSP URL.
    fn split_url(m: &Message) -> Option<(String, String, String)> {
        let uri = m.request_uri().unwrap_or("");
        let url = rtsp::url::Url::parse(uri)?;
        let (path, query) = match url.path.split_once('?') {
            Some((p, q)) => (p.to_owned(), q.to_owned()),
            None => (url.path.clone(), String::new()),
        };
        let base = uri.split('?').next().unwrap_or(uri).trim_end_matches('/');
        Some((base.to_owned(), path, query))
    }

    /// ANNOUNCE: the SDP's tracks, then the glue decides.
    fn announce(&mut self, m: Message) {
        if self.state != State::Init {
            return self.error(&m, 455);
        }
        let Some((url, path, query)) = Self::split_url(&m) else {
            return self.error(&m, 400);
        };
        let max = self.max_access_unit.unwrap_or(0);
        let recording = match record::Recording::announce(&m.body, max) {
            Ok(r) => r,
            Err(e) => {
                log::debug!("RTSP ANNOUNCE {url} refused: {e}");
                let status = match e {
                    record::AnnounceError::NoTracks(_) => 415,
                    _ => 400,
                };
                return self.error(&m, status);
            }
        };
        let codecs = recording.codecs();
        self.base_url = url.clone();
        self.tracks = recording.controls().to_vec();
        self.record = Some(recording);
        self.wait(
            m,
            Event::Announce {
                url,
                path,
                query,
                codecs,
            },
        );
    }

    /// The glue took the announced stream: SETUP may follow.
    pub fn announce_ok(&mut self, now_ms: u64) {
        let Some(m) = self.take_pending() else {
            return;
        };
        self.state = State::Described;
        let r = m.response_to(200);
        self.reply(r);
        self.resume(now_ms);
    }

    fn describe(&mut self, m: Message) {
        if (self.state != State::Init && self.state != State::Described) || self.record.is_some() {
            return self.error(&m, 455);
        }
        let Some((url, path, query)) = Self::split_url(&m) else {
            return self.error(&m, 400);
        };
        self.wait(m, Event::Describe { url, path, query });
    }

    /// The glue's answer to DESCRIBE: the SDP text and its tracks (at most [`MAX_TRACKS`]).
    pub fn describe_ok(&mut self, now_ms: u64, url: &str, sdp: String, tracks: Vec<TrackDesc>) {
        let Some(m) = self.take_pending() else {
            return;
        };
        self.base_url = url.to_owned();
        self.tracks = tracks;
        self.tracks.truncate(MAX_TRACKS);
        self.state = State::Described;
        let r = m
            .response_to(200)
            .with_header("Content-Base", format!("{url}/"))
            .with_body("application/sdp", sdp);
        self.reply(r);
        self.resume(now_ms);
    }

    /// The glue refuses the waiting DESCRIBE, ANNOUNCE, PLAY or UDP SETUP with `status`
    /// (404, 403, 503...).
    pub fn refuse(&mut self, now_ms: u64, status: u16) {
        let Some(m) = self.take_pending() else {
            return;
        };
        self.state = self.before_wait;
        if self.state == State::Init {
            // A refused ANNOUNCE leaves no tracks behind.
            self.record = None;
            self.tracks.clear();
        }
        let r = self.with_session(m.response_to(status));
        self.reply(r);
        self.resume(now_ms);
    }

    /// The glue's answer to PLAY: `rtptimes[i]` is the RTP timestamp of track i's first
    /// packet (for `RTP-Info`).
    pub fn play_ok(&mut self, now_ms: u64, rtptimes: &[u32]) {
        let Some(m) = self.take_pending() else {
            return;
        };
        self.state = State::Playing;
        let mut info = Vec::new();
        for (i, t) in self.tracks.iter().enumerate() {
            if let Some(s) = self.setups[i] {
                info.push(RtpInfo {
                    url: format!("{}/{}", self.base_url, t.control),
                    seq: Some(s.sequence),
                    rtptime: Some(rtptimes.get(i).copied().unwrap_or(0)),
                });
            }
        }
        let r = self
            .with_session(m.response_to(200))
            .with_header("Range", "npt=0.000-")
            .with_header("RTP-Info", RtpInfo::encode_list(&info));
        self.reply(r);
        self.resume(now_ms);
    }

    fn take_pending(&mut self) -> Option<Message> {
        if self.state != State::Waiting {
            return None;
        }
        self.pending.take()
    }

    fn resume(&mut self, now_ms: u64) {
        // Requests that came while waiting; an error here closes the session.
        let _ = self.process(now_ms);
    }

    /// Which track a SETUP's URL names: its last path segment is a track's control (or, with
    /// one track and an aggregate URL, that track).
    fn track_of(&self, uri: &str) -> Option<usize> {
        // ffmpeg appends the control after the query: `/live/cam?token=a/streamid=0`.
        let last = uri.trim_end_matches('/').rsplit('/').next().unwrap_or("");
        let last = last.split('?').next().unwrap_or(last);
        if let Some(i) = self.tracks.iter().position(|t| t.control == last) {
            return Some(i);
        }
        let uri = uri.split('?').next().unwrap_or(uri).trim_end_matches('/');
        (self.tracks.len() == 1 && uri == self.base_url).then_some(0)
    }

    fn setup(&mut self, m: Message) {
        if !matches!(self.state, State::Described | State::Ready) {
            return self.error(&m, 455);
        }
        let Some(track) = self.track_of(m.request_uri().unwrap_or("")) else {
            let status = if self.tracks.is_empty() { 455 } else { 404 };
            return self.error(&m, status);
        };
        let specs = m.transports();
        let udp = specs.iter().find_map(|t| {
            let ports = t.client_port.filter(|_| t.lower == Lower::Udp)?;
            (t.unicast != Some(false) && t.destination.is_none()).then_some((
                ports.first,
                ports.second.unwrap_or(ports.first.wrapping_add(1)),
            ))
        });
        let Some(spec) = specs
            .into_iter()
            .find(|t| t.lower == Lower::Tcp && t.unicast != Some(false))
        else {
            if self.record.is_some() && udp.is_none() {
                return self.error(&m, 461);
            }
            if let Some(client_ports) = udp.filter(|_| self.udp_enabled) {
                return self.wait(
                    m,
                    Event::SetupUdp {
                        track,
                        client_ports,
                    },
                );
            }
            return self.error(&m, 461);
        };
        let default = (2 * track as u8, 2 * track as u8 + 1);
        let channels = match spec.interleaved {
            Some(Pair {
                first,
                second: Some(second),
            }) => (first, second),
            Some(Pair {
                first,
                second: None,
            }) => (first, first.wrapping_add(1)),
            None => default,
        };
        let clash = self
            .setups
            .iter()
            .enumerate()
            .any(|(i, s)| i != track && s.is_some_and(|s| s.channels.0 == channels.0));
        let record_clash = self
            .record
            .as_ref()
            .is_some_and(|r| r.channel_taken(track, channels.0));
        if clash || record_clash {
            return self.error(&m, 461);
        }
        if let Some(r) = self.record.as_mut() {
            r.set_channel(track, channels.0);
        }
        let ssrc = self.ssrc_base.wrapping_add(track as u32);
        let sequence = self.setups[track].map_or((ssrc >> 16) as u16, |s| s.sequence);
        self.setups[track] = Some(TrackSetup {
            channels,
            udp: false,
            ssrc,
            sequence,
        });
        self.state = State::Ready;
        let transport = Transport {
            ssrc: Some(ssrc),
            mode: self.record.as_ref().map(|_| Mode::Record),
            ..Transport::tcp(Pair::new(channels.0, channels.1))
        };
        let r = self
            .with_session(m.response_to(200))
            .with_header("Transport", transport.encode());
        self.reply(r);
    }

    /// This player's header for a shared RTP `packet` of track `index` (built with sequence
    /// number 0 and SSRC 0): the interleaved frame header, then the RTP fixed header with the
    /// player's next sequence number and SSRC. `None` for a track not set up or a packet
    /// shorter than an RTP header. The payload to send after it is `packet[12..]`.
    pub fn packet_header(
        &mut self,
        index: usize,
        packet: &[u8],
    ) -> Option<(Destination, [u8; PACKET_HEADER_LEN])> {
        let setup = self.setups.get_mut(index)?.as_mut()?;
        if packet.len() < FIXED_HEADER_LEN || packet.len() > rtsp::MAX_INTERLEAVED_LEN {
            return None;
        }
        let mut h = [0u8; PACKET_HEADER_LEN];
        h[0] = rtsp::INTERLEAVED_MAGIC;
        h[1] = setup.channels.0;
        h[2..4].copy_from_slice(&(packet.len() as u16).to_be_bytes());
        h[4..16].copy_from_slice(&packet[..FIXED_HEADER_LEN]);
        h[6..8].copy_from_slice(&setup.sequence.to_be_bytes());
        h[12..16].copy_from_slice(&setup.ssrc.to_be_bytes());
        setup.sequence = setup.sequence.wrapping_add(1);
        let to = match setup.udp {
            true => Destination::Udp,
            false => Destination::Interleaved,
        };
        Some((to, h))
    }

    /// The driver bound `server_ports` (RTP, RTCP) for the waiting UDP SETUP of `track`.
    pub fn setup_udp_ok(&mut self, now_ms: u64, track: usize, server_ports: (u16, u16)) {
        let Some(m) = self.take_pending() else {
            return;
        };
        let Some(Event::SetupUdp { client_ports, .. }) = self.udp_wait.take() else {
            return;
        };
        let ssrc = self.ssrc_base.wrapping_add(track as u32);
        let sequence = self.setups[track].map_or((ssrc >> 16) as u16, |s| s.sequence);
        self.setups[track] = Some(TrackSetup {
            channels: (0, 0),
            udp: true,
            ssrc,
            sequence,
        });
        self.state = State::Ready;
        let transport = Transport {
            ssrc: Some(ssrc),
            server_port: Some(Pair::new(server_ports.0, server_ports.1)),
            mode: self.record.as_ref().map(|_| Mode::Record),
            ..Transport::udp(Pair::new(client_ports.0, client_ports.1))
        };
        let r = self
            .with_session(m.response_to(200))
            .with_header("Transport", transport.encode());
        self.reply(r);
        self.resume(now_ms);
    }

    /// Track `index`'s interleaved RTCP channel and SSRC, for sender reports.
    pub fn rtcp_target(&self, index: usize) -> Option<(Destination, u8, u32)> {
        let s = self.setups.get(index)?.as_ref()?;
        let to = match s.udp {
            true => Destination::Udp,
            false => Destination::Interleaved,
        };
        Some((to, s.channels.1, s.ssrc))
    }
}

/// Whether `a` and `b` are equal, looking at every byte (no early exit on a difference).
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
