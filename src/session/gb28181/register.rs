//! Registration and liveness (GB/T 28181-2016 §9.1, §9.6): REGISTER with an MD5 digest
//! challenge (RFC 3261 §22.4) when a password applies, the 200 with `Date` that sets the
//! device's clock, `Expires: 0` to leave, and keepalives that keep a device online; silence for
//! `keepalive_timeout` (or past its registration) takes it offline. Offline, its calls are
//! hung up (BYE: a device whose keepalives are lost may still be sending) and their media
//! stopped. A device that left with `Expires: 0` must REGISTER again: its keepalives do not
//! bring it back (those of a device we do not know otherwise do, after our restart).

use std::collections::VecDeque;
use std::net::SocketAddr;

use super::call::Resume;
use super::device::{device_id_of, Device};
use super::{Agent, AgentEvent, InvitePolicy, Peer};
use crate::sorted_map::SortedMap;
use crate::wire::manscdp;
use crate::wire::sip::digest::{self, Challenge};
use crate::wire::sip::{SipError, SipMessage};

/// Nonces handed out and still accepted; the oldest is forgotten past this (a device answers
/// its challenge within a second, so 64 covers as many devices registering at once).
pub const MAX_NONCES: usize = 64;

/// REGISTER passwords: one per device, or a shared one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Credentials {
    /// Shared by every device without its own; empty accepts devices without a password.
    pub password: String,
    /// By device id.
    pub passwords: SortedMap<String, String>,
}

impl Credentials {
    /// The password `device` must prove, if any.
    pub fn password_for(&self, device: &str) -> Option<&str> {
        match self.passwords.get(device) {
            Some(p) => Some(p),
            None if !self.password.is_empty() => Some(&self.password),
            None => None,
        }
    }
}

/// The nonces of our digest challenges, newest last, at most [`MAX_NONCES`].
#[derive(Debug, Default)]
pub struct Registrar {
    nonces: VecDeque<String>,
}

impl Registrar {
    /// Whether `msg` carries a digest answer to one of our nonces for `password`.
    pub fn authorized(&self, msg: &SipMessage, password: &str) -> bool {
        msg.header("Authorization")
            .and_then(|a| digest::parse_authorization(a).ok())
            .filter(|c| self.nonces.contains(&c.nonce))
            .is_some_and(|c| digest::verify(&c, "REGISTER", password))
    }

    /// A challenge with a fresh `nonce`, remembered.
    pub fn challenge(&mut self, realm: &str, nonce: String) -> Challenge {
        if self.nonces.len() >= MAX_NONCES {
            self.nonces.pop_front();
        }
        self.nonces.push_back(nonce.clone());
        Challenge {
            realm: realm.to_string(),
            nonce,
            algorithm: Some("MD5".into()),
            qop: None,
            opaque: None,
        }
    }
}

impl Device {
    /// Silent for longer than `keepalive`, or that long past its registration's end.
    pub fn is_gone(&self, now: u64, keepalive: u64) -> bool {
        let expired = self.expires_at.is_some_and(|t| now > t + keepalive);
        now.saturating_sub(self.last_seen) > keepalive || expired
    }
}

impl Agent {
    /// REGISTER: 401 with a challenge unless authorized, else 200 with `Date` and `Expires`;
    /// a new device is queried for its Catalog and DeviceInfo.
    pub(super) fn on_register(&mut self, now: u64, date: &str, peer: Peer, msg: &SipMessage) {
        let Some(id) = device_id_of(msg) else {
            self.reply(peer, msg, 400, "Bad Request");
            return;
        };
        if let Some(password) = self.config.credentials.password_for(&id) {
            if !self.registrar.authorized(msg, password) {
                let challenge = self
                    .registrar
                    .challenge(&self.config.domain, self.tokens.token());
                let mut resp = msg.response_to(401, "Unauthorized", Some(&self.tokens.tag()));
                resp.push_header("WWW-Authenticate", challenge.header_value());
                self.outbox.send(peer, &resp);
                return;
            }
        }
        let expires = msg.expires().unwrap_or(3600);
        let mut resp = msg.response_to(200, "OK", Some(&self.tokens.tag()));
        resp.push_header("Date", date);
        resp.push_header("Expires", expires.to_string());
        self.outbox.send(peer, &resp);
        if expires == 0 {
            log::info!("GB28181 device {id} unregistered");
            self.take_offline(now, &id);
            self.devices.left(&id);
            return;
        }
        self.devices.returned(&id);
        let known_online = self.devices.map.get(&id).is_some_and(|d| d.registered);
        let d = match self.devices.ensure(now, &id, peer) {
            Ok(d) => d,
            Err(e) => {
                log::warn!("GB28181: refusing device {id}: {e}");
                return;
            }
        };
        d.registered = true;
        d.peer = peer;
        d.expires_at = Some(now + u64::from(expires) * 1000);
        if !known_online {
            log::info!("GB28181 device {id} registered from {}", peer.addr);
            self.events
                .push_back(AgentEvent::DeviceOnline { device: id.clone() });
            self.query(&id, manscdp::catalog_query);
            self.query(&id, manscdp::device_info_query);
        } else if self.config.invite != InvitePolicy::Manual {
            // A refresh (or a reboot within the registration): channels whose call failed
            // are invited again now rather than after media_timeout (on demand: those with
            // viewers).
            d.retry_now(now);
            self.invite_due(now, &id);
        }
    }

    /// A Keepalive: the device is seen (at `peer` now). One we did not know (we restarted, it
    /// did not register again) is taken as online and asked for its catalog.
    pub(super) fn on_keepalive(&mut self, now: u64, peer: Peer, id: &str) {
        if id.is_empty() {
            return;
        }
        let known = self.devices.map.contains_key(id);
        if !known && self.devices.has_left(id) {
            log::debug!("GB28181 keepalive from {id}, which unregistered: it must REGISTER");
            return;
        }
        match self.devices.ensure(now, id, peer) {
            Ok(d) => d.peer = peer,
            Err(e) => {
                log::warn!("GB28181: refusing device {id}: {e}");
                return;
            }
        }
        if !known {
            log::info!("GB28181 device {id} online by keepalive (no REGISTER seen)");
            self.events.push_back(AgentEvent::DeviceOnline {
                device: id.to_string(),
            });
            self.query(id, manscdp::catalog_query);
        }
    }

    /// Takes offline the devices gone silent.
    pub(super) fn expire_devices(&mut self, now: u64) {
        let keepalive = self.config.keepalive_timeout_ms;
        let gone: Vec<String> = self
            .devices
            .map
            .iter()
            .filter(|(_, d)| d.is_gone(now, keepalive))
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone {
            match self.devices.map.get(&id) {
                Some(d) if d.refused > 0 => log::info!(
                    "GB28181 device {id} offline (no keepalive; {} of its SIP messages \
                     refused, the last: {})",
                    d.refused,
                    d.refused_reason
                ),
                _ => log::info!("GB28181 device {id} offline (no keepalive)"),
            }
            self.take_offline(now, &id);
        }
    }

    /// A message from `addr` the SIP decoder refused (dropped over UDP; over TCP its
    /// connection closes): the limits stay, but the operator must see why a camera that keeps
    /// sending such messages goes offline. Counted in total and on the device at that address;
    /// a device's first is logged at warn with the reason, later ones at debug.
    pub fn handle_refused(&mut self, addr: SocketAddr, error: &SipError) {
        self.refused_messages += 1;
        let Some((id, d)) = self
            .devices
            .map
            .iter_mut()
            .find(|(_, d)| d.peer.addr == addr)
        else {
            log::debug!("GB28181 SIP from {addr} refused: {error}");
            return;
        };
        d.refused += 1;
        d.refused_reason = error.to_string();
        if d.refused == 1 {
            log::warn!(
                "GB28181 device {id}: SIP message from {addr} refused: {error} (logged once; \
                 counted as sip_refused in the API)"
            );
        } else {
            log::debug!("GB28181 device {id}: SIP message from {addr} refused: {error}");
        }
    }

    /// Messages the SIP decoder refused since the start (see [`Agent::handle_refused`]).
    pub fn refused_messages(&self) -> u64 {
        self.refused_messages
    }

    /// Hangs up the device's calls (BYE: its keepalives may be lost while its media still
    /// flows), stops their media, and forgets it.
    fn take_offline(&mut self, now: u64, id: &str) {
        let channels: Vec<String> = self
            .devices
            .map
            .get(id)
            .map(|d| d.channels.keys().cloned().collect())
            .unwrap_or_default();
        for ch in channels {
            self.hangup(now, id, &ch, Resume::OnRegister);
        }
        if self.devices.map.remove(id).is_some() {
            self.events.push_back(AgentEvent::DeviceOffline {
                device: id.to_string(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::gb28181::SipTransport;
    use crate::wire::sip::digest::compute_response;
    use crate::wire::sip::Method;

    #[test]
    fn a_device_password_wins_over_the_shared_one() {
        let mut c = Credentials::default();
        assert_eq!(c.password_for("a"), None);
        c.password = "shared".into();
        c.passwords.insert("a".into(), "own".into());
        assert_eq!(c.password_for("a"), Some("own"));
        assert_eq!(c.password_for("b"), Some("shared"));
    }

    #[test]
    fn only_answers_to_remembered_nonces_are_authorized() {
        let mut r = Registrar::default();
        let authorization = |nonce: &str| {
            let response = compute_response("dev", "realm", "pw", "REGISTER", "sip:x", nonce, None);
            let value = format!("Digest username=\"dev\", realm=\"realm\", nonce=\"{nonce}\", uri=\"sip:x\", response=\"{response}\"");
            SipMessage::request(Method::Register, "sip:x").with_header("Authorization", value)
        };
        let first = r.challenge("realm", "n0".into());
        assert_eq!(
            (first.realm.as_str(), first.nonce.as_str()),
            ("realm", "n0")
        );
        assert!(r.authorized(&authorization("n0"), "pw"));
        assert!(!r.authorized(&authorization("n0"), "other"));
        assert!(!r.authorized(&authorization("never given"), "pw"));
        for i in 1..=MAX_NONCES {
            r.challenge("realm", format!("n{i}"));
        }
        assert!(!r.authorized(&authorization("n0"), "pw"), "forgotten");
        assert!(r.authorized(&authorization("n1"), "pw"));
    }

    #[test]
    fn a_device_is_gone_after_silence_or_past_its_registration() {
        let peer = Peer {
            transport: SipTransport::Udp,
            addr: "10.0.0.2:5060".parse().unwrap(),
            local: "10.0.0.1:5060".parse().unwrap(),
        };
        let mut d = Device::new(peer, 0);
        d.registered = true;
        d.expires_at = Some(100_000);
        assert!(!d.is_gone(60_000, 60_000));
        assert!(d.is_gone(60_001, 60_000));
        d.last_seen = 200_000;
        assert!(!d.is_gone(160_000, 60_000));
        assert!(d.is_gone(160_001, 60_000), "registration over");
    }
}
