//! The GB/T 28181 SIP agent (server side): a state machine with no I/O and no clock.
//!
//! Verbs: [`Agent::handle_message`] (a SIP message from a peer, with the time),
//! [`Agent::handle_timeout`], [`Agent::poll_transmit`] (messages to send, with their peer),
//! [`Agent::poll_event`] (media to start or stop, devices on/offline); the driver calls
//! `handle_timeout` about once a second.
//! Commands from the API: [`Agent::invite`], [`Agent::bye`].
//!
//! Device lifecycle: unknown → REGISTER (401 challenge if a password applies, then 200 with
//! Date) → online → Catalog and DeviceInfo queries → channels → INVITE each channel (when
//! `auto_invite`) → 200 + SDP → ACK → media. Keepalives keep it online; a keepalive from an
//! unknown device (we restarted, it did not re-register) makes it online too. REGISTER with
//! `Expires: 0` or no keepalive for `keepalive_timeout` takes it offline (BYE to its calls).
//! A channel whose media stops for `media_timeout` is invited again.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use bytes::{Bytes, BytesMut};

use crate::config::GbTransport;
use crate::wire::manscdp::{self, Message as Mans};
use crate::wire::sdp::{self, Sdp};
use crate::wire::sip::digest::{self, Challenge};
use crate::wire::sip::{Method, SipMessage, StartLine};

/// Devices known at once (registered or seen). RAM: about 1 KiB each plus channels.
pub const MAX_DEVICES: usize = 256;
/// Channels per device kept from its catalog. RAM: about 200 bytes each.
pub const MAX_CHANNELS: usize = 64;
/// Messages waiting to be sent at most; past it the oldest are dropped (counted).
pub const MAX_OUTBOX: usize = 1024;
/// An unanswered INVITE is sent again this often (UDP), this many times.
pub const INVITE_RETRY_MS: u64 = 2_000;
pub const INVITE_TRIES: u32 = 4;

/// Where a SIP message came from or goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SipTransport {
    Udp,
    /// A TCP connection, by the driver's id for it.
    Tcp(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub transport: SipTransport,
    /// The device's address.
    pub addr: SocketAddr,
    /// Our address on that socket (used in Via/Contact and as the SDP's media address).
    pub local: SocketAddr,
}

#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub server_id: String,
    pub domain: String,
    pub password: String,
    pub passwords: BTreeMap<String, String>,
    pub auto_invite: bool,
    pub transport: GbTransport,
    pub keepalive_timeout_ms: u64,
    pub media_timeout_ms: u64,
    /// The IP for our SDP; None = the local address the device reached.
    pub host: Option<IpAddr>,
    /// Our shared TCP media port (tcp_passive).
    pub media_tcp_port: u16,
    /// UDP media ports (udp).
    pub rtp_ports: (u16, u16),
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentEvent {
    DeviceOnline {
        device: String,
    },
    DeviceOffline {
        device: String,
    },
    /// Expect media for a channel: the stream to publish, the SSRC we asked for, how.
    MediaStart {
        device: String,
        channel: String,
        ssrc: u32,
        transport: MediaTransport,
        /// The device's media address from its SDP answer (tcp_active connects there).
        remote: Option<SocketAddr>,
    },
    MediaStop {
        ssrc: u32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaTransport {
    TcpPassive,
    TcpActive,
    Udp { port: u16 },
}

/// What the API shows of a device.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceInfo {
    pub id: String,
    pub addr: SocketAddr,
    pub transport: SipTransport,
    pub online: bool,
    pub registered: bool,
    pub manufacturer: String,
    pub model: String,
    pub last_seen_ms: u64,
    pub channels: Vec<ChannelInfo>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChannelInfo {
    pub id: String,
    pub name: String,
    pub status: String,
    /// "idle", "inviting", "playing".
    pub state: &'static str,
    pub ssrc: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
enum Call {
    Idle {
        /// Do not invite before (after a failure or a stop).
        retry_at: u64,
    },
    Inviting {
        call_id: String,
        from_tag: String,
        ssrc: u32,
        transport: MediaTransport,
        sent_at: u64,
        tries: u32,
        request: Bytes,
    },
    Playing {
        call_id: String,
        from_tag: String,
        to_tag: String,
        ssrc: u32,
        last_media: u64,
    },
}

#[derive(Debug)]
struct Channel {
    name: String,
    status: String,
    call: Call,
}

#[derive(Debug)]
struct Device {
    peer: Peer,
    registered: bool,
    expires_at: Option<u64>,
    last_seen: u64,
    manufacturer: String,
    model: String,
    channels: BTreeMap<String, Channel>,
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("too many devices (limit {0})")]
    TooManyDevices(usize),
}

pub struct Agent {
    config: AgentConfig,
    devices: BTreeMap<String, Device>,
    outbox: VecDeque<(Peer, Bytes)>,
    events: VecDeque<AgentEvent>,
    /// Nonces we handed out (for digest), newest last; bounded.
    nonces: VecDeque<String>,
    counter: u64,
    seed: u64,
    used_udp_ports: Vec<u16>,
    pub dropped_messages: u64,
}

impl Agent {
    /// `seed` makes tags, branches, Call-IDs and nonces unique per run.
    pub fn new(config: AgentConfig, seed: u64) -> Agent {
        Agent {
            config,
            devices: BTreeMap::new(),
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            nonces: VecDeque::new(),
            counter: 0,
            seed,
            used_udp_ports: Vec::new(),
            dropped_messages: 0,
        }
    }

    pub fn set_config(&mut self, config: AgentConfig) {
        self.config = config;
    }

    fn token(&mut self) -> String {
        self.counter += 1;
        let v = self
            .seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(self.counter.wrapping_mul(0x2545_F491_4F6C_DD1D));
        format!("{:016x}", v)
    }

    fn send(&mut self, peer: Peer, msg: &SipMessage) {
        let mut out = BytesMut::with_capacity(512 + msg.body.len());
        msg.encode(&mut out);
        self.send_bytes(peer, out.freeze());
    }

    fn send_bytes(&mut self, peer: Peer, bytes: Bytes) {
        if self.outbox.len() >= MAX_OUTBOX {
            self.outbox.pop_front();
            self.dropped_messages += 1;
        }
        self.outbox.push_back((peer, bytes));
    }

    pub fn poll_transmit(&mut self) -> Option<(Peer, Bytes)> {
        self.outbox.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<AgentEvent> {
        self.events.pop_front()
    }

    fn password_for(&self, device: &str) -> Option<&str> {
        match self.config.passwords.get(device) {
            Some(p) => Some(p),
            None if !self.config.password.is_empty() => Some(&self.config.password),
            None => None,
        }
    }

    /// One SIP message from `peer`. `date` is the wall-clock time for a REGISTER's 200 OK
    /// (GB28181 devices set their clock from it), e.g. `2026-11-21T21:00:00.000`.
    pub fn handle_message(&mut self, now: u64, date: &str, peer: Peer, msg: SipMessage) {
        match &msg.start {
            StartLine::Request { method, .. } => match method {
                Method::Register => self.on_register(now, date, peer, &msg),
                Method::Message => self.on_message(now, peer, &msg),
                Method::Bye => self.on_bye(now, peer, &msg),
                Method::Ack => {}
                Method::Options => self.reply(peer, &msg, 200, "OK"),
                _ => self.reply(peer, &msg, 405, "Method Not Allowed"),
            },
            StartLine::Response { status, .. } => self.on_response(now, peer, *status, &msg),
        }
    }

    fn reply(&mut self, peer: Peer, req: &SipMessage, status: u16, reason: &str) {
        let tag = self.token();
        let resp = req.response_to(status, reason, Some(&tag[..8]));
        self.send(peer, &resp);
    }

    fn device_id_of(msg: &SipMessage) -> Option<String> {
        let from = msg.header("From")?;
        let user = from.split("sip:").nth(1)?.split(['@', '>', ';']).next()?;
        (!user.is_empty() && user.len() <= 64).then(|| user.to_string())
    }

    fn on_register(&mut self, now: u64, date: &str, peer: Peer, msg: &SipMessage) {
        let Some(id) = Self::device_id_of(msg) else {
            self.reply(peer, msg, 400, "Bad Request");
            return;
        };
        if let Some(password) = self.password_for(&id).map(str::to_owned) {
            let ok = msg
                .header("Authorization")
                .and_then(|a| digest::parse_authorization(a).ok())
                .filter(|c| self.nonces.contains(&c.nonce))
                .is_some_and(|c| digest::verify(&c, "REGISTER", &password));
            if !ok {
                let nonce = self.token();
                self.nonces.push_back(nonce.clone());
                if self.nonces.len() > 64 {
                    self.nonces.pop_front();
                }
                let challenge = Challenge {
                    realm: self.config.domain.clone(),
                    nonce,
                    algorithm: Some("MD5".into()),
                    qop: None,
                    opaque: None,
                };
                let tag = self.token();
                let mut resp = msg.response_to(401, "Unauthorized", Some(&tag[..8]));
                resp.headers
                    .push(("WWW-Authenticate".into(), challenge.header_value()));
                self.send(peer, &resp);
                return;
            }
        }
        let expires = msg.expires().unwrap_or(3600);
        let tag = self.token();
        let mut resp = msg.response_to(200, "OK", Some(&tag[..8]));
        resp.headers.push(("Date".into(), date.to_owned()));
        resp.headers.push(("Expires".into(), expires.to_string()));
        self.send(peer, &resp);
        if expires == 0 {
            log::info!("GB28181 device {id} unregistered");
            self.take_offline(now, &id);
            self.devices.remove(&id);
            return;
        }
        let known_online = self.devices.get(&id).is_some_and(|d| d.registered);
        if !self.ensure_device(now, &id, peer) {
            return;
        }
        if let Some(d) = self.devices.get_mut(&id) {
            d.registered = true;
            d.peer = peer;
            d.expires_at = Some(now + u64::from(expires) * 1000);
        }
        if !known_online {
            log::info!("GB28181 device {id} registered from {}", peer.addr);
            self.events
                .push_back(AgentEvent::DeviceOnline { device: id.clone() });
            self.query(&id, manscdp::catalog_query);
            self.query(&id, manscdp::device_info_query);
        }
    }

    /// Creates the device record if needed; false when the device limit is reached.
    fn ensure_device(&mut self, now: u64, id: &str, peer: Peer) -> bool {
        if !self.devices.contains_key(id) {
            if self.devices.len() >= MAX_DEVICES {
                log::warn!(
                    "GB28181: refusing device {id}: {}",
                    AgentError::TooManyDevices(MAX_DEVICES)
                );
                return false;
            }
            self.devices.insert(
                id.to_string(),
                Device {
                    peer,
                    registered: false,
                    expires_at: None,
                    last_seen: now,
                    manufacturer: String::new(),
                    model: String::new(),
                    channels: BTreeMap::new(),
                },
            );
        }
        if let Some(d) = self.devices.get_mut(id) {
            d.last_seen = now;
        }
        true
    }

    /// Sends a MANSCDP query (a SIP MESSAGE) to a device.
    fn query(&mut self, id: &str, body: fn(u32, &str) -> String) {
        let Some(peer) = self.devices.get(id).map(|d| d.peer) else {
            return;
        };
        let sn = (self.counter % 1_000_000) as u32 + 1;
        let xml = body(sn, id);
        let msg = self.request(
            Method::Message,
            peer,
            id,
            None,
            "Application/MANSCDP+xml",
            xml.into_bytes(),
        );
        self.send(peer, &msg);
    }

    /// A request from us to `target` (a device or channel id) at `peer`.
    #[allow(clippy::too_many_arguments)]
    fn request(
        &mut self,
        method: Method,
        peer: Peer,
        target: &str,
        call: Option<(&str, &str, u32)>,
        content_type: &str,
        body: Vec<u8>,
    ) -> SipMessage {
        let (call_id, from_tag, cseq) = match call {
            Some((c, t, n)) => (c.to_string(), t.to_string(), n),
            None => (self.token(), self.token()[..8].to_string(), 1),
        };
        let branch = self.token();
        let transport = match peer.transport {
            SipTransport::Udp => "UDP",
            SipTransport::Tcp(_) => "TCP",
        };
        let local = peer.local;
        let server = &self.config.server_id;
        let domain = &self.config.domain;
        let mut headers = vec![
            (
                "Via".to_string(),
                format!("SIP/2.0/{transport} {local};rport;branch=z9hG4bK{branch}"),
            ),
            (
                "From".into(),
                format!("<sip:{server}@{domain}>;tag={from_tag}"),
            ),
            ("To".into(), format!("<sip:{target}@{domain}>")),
            ("Call-ID".into(), call_id),
            ("CSeq".into(), format!("{cseq} {}", method_name(&method))),
            ("Contact".into(), format!("<sip:{server}@{local}>")),
            ("Max-Forwards".into(), "70".into()),
            ("User-Agent".into(), "tinysrs".into()),
        ];
        if !body.is_empty() {
            headers.push(("Content-Type".into(), content_type.to_string()));
        }
        SipMessage {
            start: StartLine::Request {
                method,
                uri: format!("sip:{target}@{}", peer.addr),
            },
            headers,
            body: Bytes::from(body),
        }
    }

    fn on_message(&mut self, now: u64, peer: Peer, msg: &SipMessage) {
        self.reply(peer, msg, 200, "OK");
        let parsed = match manscdp::parse(&msg.body) {
            Ok(m) => m,
            Err(e) => {
                log::debug!("GB28181 MESSAGE from {} not understood: {e}", peer.addr);
                return;
            }
        };
        let from = Self::device_id_of(msg);
        match parsed {
            Mans::Keepalive { device_id, .. } => {
                let id = if device_id.is_empty() {
                    from.unwrap_or_default()
                } else {
                    device_id
                };
                if id.is_empty() {
                    return;
                }
                let known = self.devices.contains_key(&id);
                if !self.ensure_device(now, &id, peer) {
                    return;
                }
                if let Some(d) = self.devices.get_mut(&id) {
                    d.peer = peer;
                }
                if !known {
                    // We restarted and the device did not register again: take it as online.
                    log::info!("GB28181 device {id} online by keepalive (no REGISTER seen)");
                    self.events
                        .push_back(AgentEvent::DeviceOnline { device: id.clone() });
                    self.query(&id, manscdp::catalog_query);
                }
            }
            Mans::CatalogResponse {
                device_id, items, ..
            } => {
                let id = from
                    .filter(|f| self.devices.contains_key(f))
                    .unwrap_or(device_id);
                let Some(d) = self.devices.get_mut(&id) else {
                    return;
                };
                d.last_seen = now;
                for item in items {
                    if d.channels.len() >= MAX_CHANNELS && !d.channels.contains_key(&item.device_id)
                    {
                        break;
                    }
                    let ch = d.channels.entry(item.device_id).or_insert(Channel {
                        name: String::new(),
                        status: String::new(),
                        call: Call::Idle { retry_at: 0 },
                    });
                    ch.name = item.name;
                    ch.status = item.status;
                }
                if self.config.auto_invite {
                    self.invite_idle(now, &id);
                }
            }
            Mans::DeviceInfoResponse {
                device_id,
                manufacturer,
                model,
                ..
            } => {
                let id = from
                    .filter(|f| self.devices.contains_key(f))
                    .unwrap_or(device_id);
                if let Some(d) = self.devices.get_mut(&id) {
                    d.manufacturer = manufacturer;
                    d.model = model;
                    d.last_seen = now;
                }
            }
            _ => {}
        }
    }

    /// Invites every idle channel of a device whose retry time has come.
    fn invite_idle(&mut self, now: u64, id: &str) {
        let Some(d) = self.devices.get(id) else {
            return;
        };
        let due: Vec<String> = d
            .channels
            .iter()
            .filter(|(_, c)| matches!(c.call, Call::Idle { retry_at } if retry_at <= now))
            .filter(|(_, c)| !c.status.eq_ignore_ascii_case("OFF"))
            .map(|(k, _)| k.clone())
            .collect();
        for ch in due {
            self.invite(now, id, &ch);
        }
    }

    fn ssrc_for(&mut self) -> (String, u32) {
        // GB28181 §9: "0" (live) + 5 digits of the domain + a 4-digit sequence.
        let digits: String = self
            .config
            .domain
            .chars()
            .filter(char::is_ascii_digit)
            .skip(3)
            .take(5)
            .collect();
        let digits = format!("{digits:0>5}");
        self.counter += 1;
        let text = format!("0{digits}{:04}", self.counter % 10_000);
        let value = text.parse().unwrap_or(0);
        (text, value)
    }

    fn media_transport(&mut self) -> Option<MediaTransport> {
        Some(match self.config.transport {
            GbTransport::TcpPassive => MediaTransport::TcpPassive,
            GbTransport::TcpActive => MediaTransport::TcpActive,
            GbTransport::Udp => {
                let (lo, hi) = self.config.rtp_ports;
                let port = (lo..=hi).find(|p| !self.used_udp_ports.contains(p))?;
                self.used_udp_ports.push(port);
                MediaTransport::Udp { port }
            }
        })
    }

    /// Invites a channel (API or automatic). Returns false when it is not known or busy.
    pub fn invite(&mut self, now: u64, device: &str, channel: &str) -> bool {
        let Some(d) = self.devices.get(device) else {
            return false;
        };
        let peer = d.peer;
        match d.channels.get(channel) {
            Some(c) if matches!(c.call, Call::Idle { .. }) => {}
            None if channel == device => {}
            _ => return false,
        }
        let Some(transport) = self.media_transport() else {
            log::warn!("GB28181: no free UDP media port for {device}/{channel}");
            return false;
        };
        let (ssrc_text, ssrc) = self.ssrc_for();
        let ip = self.config.host.unwrap_or(peer.local.ip());
        let (port, sdp_transport) = match transport {
            MediaTransport::TcpPassive => (self.config.media_tcp_port, sdp::Transport::TcpPassive),
            MediaTransport::TcpActive => (9, sdp::Transport::TcpActive),
            MediaTransport::Udp { port } => (port, sdp::Transport::Udp),
        };
        let body = sdp::offer(&self.config.server_id, ip, port, sdp_transport, &ssrc_text);
        let call_id = self.token();
        let from_tag = self.token()[..8].to_string();
        let mut msg = self.request(
            Method::Invite,
            peer,
            channel,
            Some((&call_id, &from_tag, 1)),
            "APPLICATION/SDP",
            body.into_bytes(),
        );
        let server = self.config.server_id.clone();
        msg.headers.push((
            "Subject".into(),
            format!("{channel}:{ssrc_text},{server}:0"),
        ));
        let mut out = BytesMut::new();
        msg.encode(&mut out);
        let request = out.freeze();
        self.send_bytes(peer, request.clone());
        log::info!("GB28181 INVITE {device}/{channel} ssrc {ssrc_text} ({transport:?})");
        let Some(d) = self.devices.get_mut(device) else {
            return false;
        };
        let ch = d.channels.entry(channel.to_string()).or_insert(Channel {
            name: String::new(),
            status: "ON".into(),
            call: Call::Idle { retry_at: 0 },
        });
        ch.call = Call::Inviting {
            call_id,
            from_tag,
            ssrc,
            transport,
            sent_at: now,
            tries: 1,
            request,
        };
        true
    }

    fn on_response(&mut self, now: u64, peer: Peer, status: u16, msg: &SipMessage) {
        let Some((_, Method::Invite)) = msg.cseq() else {
            return;
        };
        if status < 200 {
            return;
        }
        let Some(call_id) = msg.call_id().map(str::to_owned) else {
            return;
        };
        let Some((dev, ch)) = self.find_call(&call_id) else {
            return;
        };
        let media_timeout = self.config.media_timeout_ms;
        let Some(channel) = self
            .devices
            .get_mut(&dev)
            .and_then(|d| d.channels.get_mut(&ch))
        else {
            return;
        };
        let Call::Inviting {
            from_tag,
            ssrc,
            transport,
            ..
        } = channel.call.clone()
        else {
            return;
        };
        if status >= 300 {
            log::warn!("GB28181 INVITE {dev}/{ch} refused: {status}");
            channel.call = Call::Idle {
                retry_at: now + media_timeout,
            };
            self.release_port(transport);
            return;
        }
        let to_tag = msg
            .header("To")
            .and_then(|t| t.split(";tag=").nth(1))
            .map(|t| t.split(';').next().unwrap_or(t).to_string())
            .unwrap_or_default();
        let answer = std::str::from_utf8(&msg.body)
            .ok()
            .and_then(|t| Sdp::parse(t).ok());
        // The answer's y= is the SSRC the device will really use (it may differ from ours).
        let answer_ssrc = answer
            .as_ref()
            .and_then(|s| s.ssrc.as_deref())
            .and_then(|y| y.trim().parse::<u32>().ok())
            .unwrap_or(ssrc);
        let remote = answer.as_ref().and_then(|s| {
            let m = s.media.first()?;
            let ip = m.connection_ip.or(s.connection_ip)?;
            Some(SocketAddr::new(ip, m.port))
        });
        channel.call = Call::Playing {
            call_id: call_id.clone(),
            from_tag: from_tag.clone(),
            to_tag: to_tag.clone(),
            ssrc: answer_ssrc,
            last_media: now,
        };
        // ACK (RFC 3261 §13.2.2.4): same Call-ID, CSeq number, From tag; To tag of the 200.
        let mut ack = self.request(
            Method::Ack,
            peer,
            &ch,
            Some((&call_id, &from_tag, 1)),
            "",
            Vec::new(),
        );
        for (name, value) in ack.headers.iter_mut() {
            if name == "To" && !to_tag.is_empty() {
                value.push_str(&format!(";tag={to_tag}"));
            }
        }
        self.send(peer, &ack);
        log::info!("GB28181 {dev}/{ch} answered, media ssrc {answer_ssrc}");
        self.events.push_back(AgentEvent::MediaStart {
            device: dev,
            channel: ch,
            ssrc: answer_ssrc,
            transport,
            remote,
        });
    }

    fn release_port(&mut self, transport: MediaTransport) {
        if let MediaTransport::Udp { port } = transport {
            self.used_udp_ports.retain(|p| *p != port);
        }
    }

    fn find_call(&self, call_id: &str) -> Option<(String, String)> {
        self.devices.iter().find_map(|(dev, d)| {
            d.channels.iter().find_map(|(ch, c)| {
                let id = match &c.call {
                    Call::Inviting { call_id, .. } | Call::Playing { call_id, .. } => call_id,
                    Call::Idle { .. } => return None,
                };
                (id == call_id).then(|| (dev.clone(), ch.clone()))
            })
        })
    }

    fn on_bye(&mut self, now: u64, peer: Peer, msg: &SipMessage) {
        self.reply(peer, msg, 200, "OK");
        if let Some((dev, ch)) = msg.call_id().and_then(|c| self.find_call(c)) {
            log::info!("GB28181 {dev}/{ch}: BYE from the device");
            self.stop_call(now, &dev, &ch, false);
        }
    }

    /// Ends a call: BYE to the device if `send_bye`, media stop, channel idle.
    fn stop_call(&mut self, now: u64, dev: &str, ch: &str, send_bye: bool) {
        let retry = now + self.config.media_timeout_ms;
        let Some(d) = self.devices.get_mut(dev) else {
            return;
        };
        let peer = d.peer;
        let Some(c) = d.channels.get_mut(ch) else {
            return;
        };
        let old = std::mem::replace(&mut c.call, Call::Idle { retry_at: retry });
        match old {
            Call::Playing {
                call_id,
                from_tag,
                to_tag,
                ssrc,
                ..
            } => {
                if send_bye {
                    let mut bye = self.request(
                        Method::Bye,
                        peer,
                        ch,
                        Some((&call_id, &from_tag, 2)),
                        "",
                        Vec::new(),
                    );
                    for (name, value) in bye.headers.iter_mut() {
                        if name == "To" && !to_tag.is_empty() {
                            value.push_str(&format!(";tag={to_tag}"));
                        }
                    }
                    self.send(peer, &bye);
                }
                self.events.push_back(AgentEvent::MediaStop { ssrc });
            }
            Call::Inviting { transport, .. } => self.release_port(transport),
            Call::Idle { .. } => {}
        }
    }

    /// The driver releases a UDP media port it closed.
    pub fn release_udp_port(&mut self, port: u16) {
        self.used_udp_ports.retain(|p| *p != port);
    }

    /// Stops a channel's media (API).
    pub fn bye(&mut self, now: u64, device: &str, channel: &str) -> bool {
        let playing = self
            .devices
            .get(device)
            .and_then(|d| d.channels.get(channel))
            .is_some_and(|c| !matches!(c.call, Call::Idle { .. }));
        if playing {
            self.stop_call(now, device, channel, true);
            // An API stop is not retried automatically.
            if let Some(c) = self
                .devices
                .get_mut(device)
                .and_then(|d| d.channels.get_mut(channel))
            {
                c.call = Call::Idle { retry_at: u64::MAX };
            }
        }
        playing
    }

    /// The driver saw media for `ssrc`.
    pub fn media_activity(&mut self, now: u64, ssrc: u32) {
        for d in self.devices.values_mut() {
            for c in d.channels.values_mut() {
                if let Call::Playing {
                    ssrc: s,
                    last_media,
                    ..
                } = &mut c.call
                {
                    if *s == ssrc {
                        *last_media = now;
                        return;
                    }
                }
            }
        }
    }

    /// The media of a call arrives with another SSRC than agreed: follow it.
    pub fn rename_ssrc(&mut self, old: u32, new: u32) {
        for d in self.devices.values_mut() {
            for c in d.channels.values_mut() {
                if let Call::Playing { ssrc, .. } | Call::Inviting { ssrc, .. } = &mut c.call {
                    if *ssrc == old {
                        *ssrc = new;
                    }
                }
            }
        }
    }

    /// The SSRC of the one call in progress with a device at `ip`, for media whose SSRC
    /// matches none (cameras that ignore our y=).
    pub fn only_call_from(&self, ip: IpAddr) -> Option<u32> {
        let mut found = None;
        for d in self.devices.values().filter(|d| d.peer.addr.ip() == ip) {
            for c in d.channels.values() {
                if let Call::Playing { ssrc, .. } | Call::Inviting { ssrc, .. } = c.call {
                    if found.is_some() {
                        return None;
                    }
                    found = Some(ssrc);
                }
            }
        }
        found
    }

    /// Retries, expiries and the media watchdog. Call about once a second.
    pub fn handle_timeout(&mut self, now: u64) {
        let keepalive = self.config.keepalive_timeout_ms;
        let media_timeout = self.config.media_timeout_ms;
        let mut offline = Vec::new();
        let mut resend = Vec::new();
        let mut stalled = Vec::new();
        let mut failed = Vec::new();
        for (id, d) in &self.devices {
            let expired = d.expires_at.is_some_and(|t| now > t + keepalive);
            if now.saturating_sub(d.last_seen) > keepalive || expired {
                offline.push(id.clone());
                continue;
            }
            for (ch, c) in &d.channels {
                match &c.call {
                    Call::Inviting {
                        sent_at,
                        tries,
                        request,
                        ..
                    } if now >= sent_at + INVITE_RETRY_MS => {
                        if *tries >= INVITE_TRIES {
                            failed.push((id.clone(), ch.clone()));
                        } else if d.peer.transport == SipTransport::Udp {
                            resend.push((id.clone(), ch.clone(), d.peer, request.clone()));
                        }
                    }
                    Call::Playing { last_media, .. }
                        if now.saturating_sub(*last_media) > media_timeout =>
                    {
                        stalled.push((id.clone(), ch.clone()));
                    }
                    _ => {}
                }
            }
        }
        for id in offline {
            log::info!("GB28181 device {id} offline (no keepalive)");
            self.take_offline(now, &id);
        }
        for (id, ch, peer, request) in resend {
            self.send_bytes(peer, request);
            if let Some(Call::Inviting { sent_at, tries, .. }) = self
                .devices
                .get_mut(&id)
                .and_then(|d| d.channels.get_mut(&ch))
                .map(|c| &mut c.call)
            {
                *sent_at = now;
                *tries += 1;
            }
        }
        for (id, ch) in failed {
            log::warn!("GB28181 INVITE {id}/{ch}: no answer");
            if let Some(c) = self
                .devices
                .get_mut(&id)
                .and_then(|d| d.channels.get_mut(&ch))
            {
                if let Call::Inviting { transport, .. } = c.call {
                    c.call = Call::Idle {
                        retry_at: now + media_timeout,
                    };
                    self.release_port(transport);
                }
            }
        }
        for (id, ch) in stalled {
            log::warn!(
                "GB28181 {id}/{ch}: no media for {} s, inviting again",
                media_timeout / 1000
            );
            self.stop_call(now, &id, &ch, true);
            if let Some(c) = self
                .devices
                .get_mut(&id)
                .and_then(|d| d.channels.get_mut(&ch))
            {
                c.call = Call::Idle { retry_at: now };
            }
        }
        if self.config.auto_invite {
            let ids: Vec<String> = self.devices.keys().cloned().collect();
            for id in ids {
                self.invite_idle(now, &id);
            }
        }
    }

    fn take_offline(&mut self, now: u64, id: &str) {
        let channels: Vec<String> = self
            .devices
            .get(id)
            .map(|d| d.channels.keys().cloned().collect())
            .unwrap_or_default();
        for ch in channels {
            self.stop_call(now, id, &ch, false);
        }
        if self.devices.remove(id).is_some() {
            self.events.push_back(AgentEvent::DeviceOffline {
                device: id.to_string(),
            });
        }
    }

    /// Devices and their channels, for the API.
    pub fn devices(&self, now: u64) -> Vec<DeviceInfo> {
        let _ = now;
        self.devices
            .iter()
            .map(|(id, d)| DeviceInfo {
                id: id.clone(),
                addr: d.peer.addr,
                transport: d.peer.transport,
                online: true,
                registered: d.registered,
                manufacturer: d.manufacturer.clone(),
                model: d.model.clone(),
                last_seen_ms: d.last_seen,
                channels: d
                    .channels
                    .iter()
                    .map(|(cid, c)| ChannelInfo {
                        id: cid.clone(),
                        name: c.name.clone(),
                        status: c.status.clone(),
                        state: match c.call {
                            Call::Idle { .. } => "idle",
                            Call::Inviting { .. } => "inviting",
                            Call::Playing { .. } => "playing",
                        },
                        ssrc: match c.call {
                            Call::Inviting { ssrc, .. } | Call::Playing { ssrc, .. } => Some(ssrc),
                            Call::Idle { .. } => None,
                        },
                    })
                    .collect(),
            })
            .collect()
    }
}

fn method_name(m: &Method) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "{}",
        match m {
            Method::Register => "REGISTER",
            Method::Message => "MESSAGE",
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Info => "INFO",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Other(o) => o,
        }
    );
    s
}

#[cfg(test)]
mod tests;
