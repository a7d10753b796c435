//! Devices and their channels: the table (bounded by [`MAX_DEVICES`] and [`MAX_CHANNELS`]),
//! the MANSCDP MESSAGEs a device sends (Keepalive, Catalog and DeviceInfo answers) and the
//! queries we send it.

use std::collections::VecDeque;

use super::call::{CallState, Resume};
use super::outbox::Originator;
use super::{Agent, AgentError, Peer};
use crate::sorted_map::SortedMap;
use crate::wire::manscdp::{self, CatalogItem, Message as Mans};
use crate::wire::sip::{Method, SipMessage};

/// Devices known at once (registered or seen). RAM: about 1 KiB each plus channels.
pub const MAX_DEVICES: usize = 256;
/// Channels per device kept from its catalog. RAM: about 200 bytes each.
pub const MAX_CHANNELS: usize = 64;

#[derive(Debug)]
pub struct Channel {
    pub name: String,
    /// The catalog's `Status` ("ON", "OFF"); an "OFF" channel is not invited automatically.
    pub status: String,
    pub call: CallState,
    /// Why the last call's media was refused (the `on_publish` hook's answer), empty if it
    /// was not; cleared by the next invite. At most [`MAX_REFUSED_LEN`] bytes.
    pub refused: String,
}

/// The longest refusal kept per channel (the hook's reason is cut there). RAM: 128 bytes a
/// channel.
pub const MAX_REFUSED_LEN: usize = 128;

impl Channel {
    pub fn new(status: &str) -> Channel {
        Channel {
            name: String::new(),
            status: status.to_string(),
            call: CallState::Idle {
                resume: Resume::At(0),
            },
            refused: String::new(),
        }
    }

    /// When the channel may be invited automatically: its status is not "OFF", no call is
    /// set up or up, and neither the API nor the device stopped it.
    pub fn auto_invite_at(&self) -> Option<u64> {
        if self.status.eq_ignore_ascii_case("OFF") {
            return None;
        }
        match self.call.resume()? {
            Resume::At(t) => Some(t),
            Resume::OnRegister | Resume::OnRequest => None,
        }
    }
}

#[derive(Debug)]
pub struct Device {
    pub peer: Peer,
    pub registered: bool,
    /// When the registration lapses (REGISTER's `Expires`); None when only keepalives were seen.
    pub expires_at: Option<u64>,
    pub last_seen: u64,
    pub manufacturer: String,
    pub model: String,
    pub channels: SortedMap<String, Channel>,
    /// Messages from the device's address the SIP decoder refused (a limit, bad syntax),
    /// and why the last one was.
    pub refused: u64,
    pub refused_reason: String,
}

impl Device {
    pub(super) fn new(peer: Peer, now: u64) -> Device {
        Device {
            peer,
            registered: false,
            expires_at: None,
            last_seen: now,
            manufacturer: String::new(),
            model: String::new(),
            channels: SortedMap::new(),
            refused: 0,
            refused_reason: String::new(),
        }
    }

    /// Takes a Catalog answer's items: new channels (up to [`MAX_CHANNELS`]), names and
    /// statuses of known ones.
    pub fn apply_catalog(&mut self, items: Vec<CatalogItem>) {
        for item in items {
            if self.channels.len() >= MAX_CHANNELS && !self.channels.contains_key(&item.device_id) {
                break;
            }
            let ch = self
                .channels
                .get_or_insert_with(item.device_id, || Channel::new(""));
            ch.name = item.name;
            ch.status = item.status;
        }
    }

    /// Channels that may be invited automatically at `now`.
    pub fn due_channels(&self, now: u64) -> Vec<String> {
        self.channels
            .iter()
            .filter(|(_, c)| c.auto_invite_at().is_some_and(|t| t <= now))
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Makes due at `now` the idle channels waiting out a retry delay or hung up by the
    /// device's BYE (the device registered again, so it is worth asking at once). Channels
    /// the API stopped stay stopped.
    pub fn retry_now(&mut self, now: u64) {
        for channel in self.channels.values_mut() {
            if let CallState::Idle { resume } = &mut channel.call {
                *resume = match *resume {
                    Resume::At(t) => Resume::At(t.min(now)),
                    Resume::OnRegister => Resume::At(now),
                    Resume::OnRequest => Resume::OnRequest,
                };
            }
        }
    }
}

#[derive(Debug, Default)]
pub struct Devices {
    pub map: SortedMap<String, Device>,
    /// Devices that left with `REGISTER Expires: 0`, oldest first, at most [`MAX_DEVICES`]
    /// (RAM: about 50 bytes each): their keepalives do not bring them back.
    left: VecDeque<String>,
}

impl Devices {
    /// The device `id`, created when new; refused past [`MAX_DEVICES`]. Marks it seen.
    pub fn ensure(&mut self, now: u64, id: &str, peer: Peer) -> Result<&mut Device, AgentError> {
        if !self.map.contains_key(id) && self.map.len() >= MAX_DEVICES {
            return Err(AgentError::TooManyDevices(MAX_DEVICES));
        }
        let d = self
            .map
            .get_or_insert_with(id.to_string(), || Device::new(peer, now));
        d.last_seen = now;
        Ok(d)
    }

    /// `id` unregistered: it must REGISTER to come back.
    pub fn left(&mut self, id: &str) {
        if self.has_left(id) {
            return;
        }
        if self.left.len() >= MAX_DEVICES {
            self.left.pop_front();
        }
        self.left.push_back(id.to_string());
    }

    /// `id` registered again.
    pub fn returned(&mut self, id: &str) {
        self.left.retain(|l| l != id);
    }

    pub fn has_left(&self, id: &str) -> bool {
        self.left.iter().any(|l| l == id)
    }

    pub fn channel(&self, device: &str, channel: &str) -> Option<&Channel> {
        self.map.get(device)?.channels.get(channel)
    }

    pub fn channel_mut(&mut self, device: &str, channel: &str) -> Option<&mut Channel> {
        self.map.get_mut(device)?.channels.get_mut(channel)
    }

    /// The (device, channel) whose call has this Call-ID.
    pub fn find_call(&self, call_id: &str) -> Option<(String, String)> {
        self.map.iter().find_map(|(dev, d)| {
            d.channels
                .iter()
                .find(|(_, c)| c.call.call_id() == Some(call_id))
                .map(|(ch, _)| (dev.clone(), ch.clone()))
        })
    }

    /// The (device, channel) whose call being set up or up has this SSRC.
    pub fn find_ssrc(&self, ssrc: u32) -> Option<(String, String)> {
        self.map.iter().find_map(|(dev, d)| {
            d.channels
                .iter()
                .find(|(_, c)| c.call.dialog().is_some_and(|d| d.ssrc == ssrc))
                .map(|(ch, _)| (dev.clone(), ch.clone()))
        })
    }

    /// Every call being set up or up, with its device.
    pub fn calls(&self) -> impl Iterator<Item = (&Device, &CallState)> {
        self.map
            .values()
            .flat_map(|d| d.channels.values().map(move |c| (d, &c.call)))
    }

    pub fn calls_mut(&mut self) -> impl Iterator<Item = &mut CallState> {
        self.map
            .values_mut()
            .flat_map(|d| d.channels.values_mut().map(|c| &mut c.call))
    }
}

/// The user part of the From URI: the id of the device that sent `msg`.
pub fn device_id_of(msg: &SipMessage) -> Option<String> {
    let from = msg.header("From")?;
    let user = from.split("sip:").nth(1)?.split(['@', '>', ';']).next()?;
    (!user.is_empty() && user.len() <= 64).then(|| user.to_string())
}

impl Agent {
    /// A MESSAGE: 200 OK, then its MANSCDP body.
    pub(super) fn on_message(&mut self, now: u64, peer: Peer, msg: &SipMessage) {
        self.reply(peer, msg, 200, "OK");
        let parsed = match manscdp::parse(&msg.body) {
            Ok(m) => m,
            Err(e) => {
                log::debug!("GB28181 MESSAGE from {} not understood: {e}", peer.addr);
                return;
            }
        };
        let from = device_id_of(msg);
        // Answers name the device in the body; the From of a known device wins (some devices
        // put a channel id there).
        let known = |body_id: String, devices: &Devices| {
            from.clone()
                .filter(|f| devices.map.contains_key(f))
                .unwrap_or(body_id)
        };
        match parsed {
            Mans::Keepalive { device_id, .. } => {
                let id = if device_id.is_empty() {
                    from.unwrap_or_default()
                } else {
                    device_id
                };
                self.on_keepalive(now, peer, &id);
            }
            Mans::CatalogResponse {
                device_id, items, ..
            } => {
                let id = known(device_id, &self.devices);
                let Some(d) = self.devices.map.get_mut(&id) else {
                    return;
                };
                d.last_seen = now;
                d.apply_catalog(items);
                self.invite_due(now, &id);
            }
            Mans::DeviceInfoResponse {
                device_id,
                manufacturer,
                model,
                ..
            } => {
                let id = known(device_id, &self.devices);
                if let Some(d) = self.devices.map.get_mut(&id) {
                    d.manufacturer = manufacturer;
                    d.model = model;
                    d.last_seen = now;
                }
            }
            _ => {}
        }
    }

    /// Sends a MANSCDP query (a SIP MESSAGE) to a device.
    pub(super) fn query(&mut self, id: &str, body: fn(u32, &str) -> String) {
        let Some(peer) = self.devices.map.get(id).map(|d| d.peer) else {
            return;
        };
        let xml = body(self.tokens.sn(), id);
        let msg = Originator::of(&self.config).request(
            &mut self.tokens,
            Method::Message,
            peer,
            id,
            None,
            Some(("Application/MANSCDP+xml", xml.into_bytes())),
        );
        self.outbox.send(peer, &msg);
    }

    /// Invites the channels of a device whose automatic invite is due, those the policy
    /// invites: none (manual), all (always), those whose stream has viewers (on demand).
    pub(super) fn invite_due(&mut self, now: u64, id: &str) {
        let Some(d) = self.devices.map.get(id) else {
            return;
        };
        let due: Vec<String> = d
            .due_channels(now)
            .into_iter()
            .filter(|ch| self.invites_by_itself(id, ch))
            .collect();
        for ch in due {
            self.invite(now, id, &ch);
        }
    }

    /// When the next channel of device `id` becomes due for an automatic invite (None: none
    /// will).
    pub(super) fn next_auto_invite(&self, id: &str, d: &Device) -> Option<u64> {
        d.channels
            .iter()
            .filter(|(ch, _)| self.invites_by_itself(id, ch))
            .filter_map(|(_, c)| c.auto_invite_at())
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::gb28181::SipTransport;

    fn peer() -> Peer {
        Peer {
            transport: SipTransport::Udp,
            addr: "10.0.0.2:5060".parse().unwrap(),
            local: "10.0.0.1:5060".parse().unwrap(),
        }
    }

    fn item(id: &str, status: &str) -> CatalogItem {
        CatalogItem {
            device_id: id.into(),
            name: format!("cam {id}"),
            manufacturer: String::new(),
            status: status.into(),
            parental: 0,
            parent_id: String::new(),
        }
    }

    #[test]
    fn the_device_table_is_bounded() {
        let mut d = Devices::default();
        for i in 0..MAX_DEVICES {
            d.ensure(0, &i.to_string(), peer()).unwrap();
        }
        assert!(matches!(
            d.ensure(0, "one more", peer()),
            Err(AgentError::TooManyDevices(MAX_DEVICES))
        ));
        assert_eq!(
            d.ensure(7, "3", peer()).unwrap().last_seen,
            7,
            "known ones still pass"
        );
    }

    #[test]
    fn catalog_items_fill_channels_up_to_the_limit_and_off_ones_are_not_due() {
        let mut d = Device::new(peer(), 0);
        d.apply_catalog(vec![item("a", "ON"), item("b", "OFF")]);
        assert_eq!(d.channels["a"].name, "cam a");
        assert_eq!(d.due_channels(0), vec!["a".to_string()]);
        d.apply_catalog(
            (0..2 * MAX_CHANNELS)
                .map(|i| item(&i.to_string(), "ON"))
                .collect(),
        );
        assert_eq!(d.channels.len(), MAX_CHANNELS);
        d.apply_catalog(vec![item("b", "ON")]);
        assert_eq!(
            d.channels["b"].status, "ON",
            "a known channel is updated at the limit"
        );
        d.channels.get_mut("a").unwrap().call = CallState::Idle {
            resume: Resume::At(5),
        };
        assert!(!d.due_channels(4).contains(&"a".to_string()));
        assert!(d.due_channels(5).contains(&"a".to_string()));
    }

    #[test]
    fn the_devices_that_left_are_bounded() {
        let mut d = Devices::default();
        for i in 0..=MAX_DEVICES {
            d.left(&i.to_string());
        }
        d.left("5");
        assert!(!d.has_left("0"), "the oldest is forgotten");
        assert!(d.has_left("1") && d.has_left(&MAX_DEVICES.to_string()));
        d.returned("5");
        assert!(!d.has_left("5"));
    }

    #[test]
    fn the_device_id_is_the_user_of_from() {
        let mut m = SipMessage::request(Method::Message, "sip:x@y");
        m.push_header("From", "<sip:34020000001320000001@3402000000>;tag=1");
        assert_eq!(device_id_of(&m).as_deref(), Some("34020000001320000001"));
        m.set_header("From", "<sip:@3402000000>");
        assert_eq!(device_id_of(&m), None);
    }
}
