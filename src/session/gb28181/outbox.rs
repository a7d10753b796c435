//! What the agent sends: the bounded outbox, the unique tokens of its messages, and the
//! requests it originates (RFC 3261 §8.1.1: Via, From, To, Call-ID, CSeq, Contact,
//! Max-Forwards).

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use super::{AgentConfig, Peer, SipTransport};
use crate::wire::sip::{Method, SipMessage, StartLine};

/// Messages waiting to be sent at most; past it the oldest are dropped (counted).
pub const MAX_OUTBOX: usize = 1024;

#[derive(Debug, Default)]
pub struct Outbox {
    queue: VecDeque<(Peer, Bytes)>,
    /// Messages dropped because the outbox was full.
    pub dropped: u64,
}

impl Outbox {
    pub fn send(&mut self, peer: Peer, msg: &SipMessage) {
        let mut out = BytesMut::with_capacity(512 + msg.body.len());
        msg.encode(&mut out);
        self.send_bytes(peer, out.freeze());
    }

    pub fn send_bytes(&mut self, peer: Peer, bytes: Bytes) {
        if self.queue.len() >= MAX_OUTBOX {
            self.queue.pop_front();
            self.dropped += 1;
        }
        self.queue.push_back((peer, bytes));
    }

    pub fn pop(&mut self) -> Option<(Peer, Bytes)> {
        self.queue.pop_front()
    }
}

/// Tags, branches, Call-IDs and nonces: unique per run through the seed, distinct within it
/// through a counter.
#[derive(Debug)]
pub struct Tokens {
    seed: u64,
    counter: u64,
}

impl Tokens {
    pub fn new(seed: u64) -> Tokens {
        Tokens { seed, counter: 0 }
    }

    /// 16 hex digits.
    pub fn token(&mut self) -> String {
        self.counter += 1;
        let v = self
            .seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(self.counter.wrapping_mul(0x2545_F491_4F6C_DD1D));
        format!("{v:016x}")
    }

    /// 8 hex digits, for tags.
    pub fn tag(&mut self) -> String {
        let mut t = self.token();
        t.truncate(8);
        t
    }

    /// A MANSCDP `SN` (1..=1,000,000).
    pub fn sn(&self) -> u32 {
        (self.counter % 1_000_000) as u32 + 1
    }
}

/// Who we are in the requests we send.
pub struct Originator<'a> {
    pub server_id: &'a str,
    pub domain: &'a str,
}

/// The dialog a request belongs to: Call-ID, our From tag, the device's To tag, CSeq number.
pub struct InDialog<'a> {
    pub call_id: &'a str,
    pub from_tag: &'a str,
    pub to_tag: &'a str,
    pub cseq: u32,
}

impl Originator<'_> {
    pub fn of(config: &AgentConfig) -> Originator<'_> {
        Originator {
            server_id: &config.server_id,
            domain: &config.domain,
        }
    }

    /// A request to `target` (a device or channel id) at `peer`, in `dialog` or out of any
    /// (then with a new Call-ID and tag, CSeq 1). Content-Type is set when `body` is not empty.
    pub fn request(
        &self,
        tokens: &mut Tokens,
        method: Method,
        peer: Peer,
        target: &str,
        dialog: Option<InDialog<'_>>,
        body: Option<(&str, Vec<u8>)>,
    ) -> SipMessage {
        let (call_id, from_tag, to_tag, cseq) = match dialog {
            Some(d) => (
                d.call_id.to_string(),
                d.from_tag.to_string(),
                d.to_tag,
                d.cseq,
            ),
            None => (tokens.token(), tokens.tag(), "", 1),
        };
        let branch = tokens.token();
        let transport = match peer.transport {
            SipTransport::Udp => "UDP",
            SipTransport::Tcp(_) => "TCP",
        };
        let local = peer.local;
        let (server, domain) = (self.server_id, self.domain);
        let to = if to_tag.is_empty() {
            format!("<sip:{target}@{domain}>")
        } else {
            format!("<sip:{target}@{domain}>;tag={to_tag}")
        };
        let mut headers = vec![
            (
                "Via".to_string(),
                format!("SIP/2.0/{transport} {local};rport;branch=z9hG4bK{branch}"),
            ),
            (
                "From".into(),
                format!("<sip:{server}@{domain}>;tag={from_tag}"),
            ),
            ("To".into(), to),
            ("Call-ID".into(), call_id),
            ("CSeq".into(), format!("{cseq} {method}")),
            ("Contact".into(), format!("<sip:{server}@{local}>")),
            ("Max-Forwards".into(), "70".into()),
            ("User-Agent".into(), "tinysrs".into()),
        ];
        let body = match body {
            Some((content_type, body)) if !body.is_empty() => {
                headers.push(("Content-Type".into(), content_type.to_string()));
                Bytes::from(body)
            }
            _ => Bytes::new(),
        };
        SipMessage {
            start: StartLine::Request {
                method,
                uri: format!("sip:{target}@{}", peer.addr),
            },
            headers,
            body,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> Peer {
        Peer {
            transport: SipTransport::Tcp(3),
            addr: "10.0.0.2:5060".parse().unwrap(),
            local: "10.0.0.1:5060".parse().unwrap(),
        }
    }

    #[test]
    fn outbox_drops_the_oldest_when_full() {
        let mut o = Outbox::default();
        for i in 0..=MAX_OUTBOX {
            o.send_bytes(peer(), Bytes::from(i.to_string()));
        }
        assert_eq!(o.dropped, 1);
        assert_eq!(o.pop().unwrap().1, Bytes::from("1"));
    }

    #[test]
    fn tokens_differ_and_tags_are_eight_digits() {
        let mut t = Tokens::new(5);
        let (a, b) = (t.token(), t.token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 16);
        assert_eq!(t.tag().len(), 8);
        assert_ne!(Tokens::new(6).token(), Tokens::new(5).token());
    }

    #[test]
    fn a_request_in_a_dialog_carries_its_ids_and_the_to_tag() {
        let me = Originator {
            server_id: "34020000002000000001",
            domain: "3402000000",
        };
        let dialog = InDialog {
            call_id: "c1",
            from_tag: "f1",
            to_tag: "t1",
            cseq: 2,
        };
        let bye = me.request(
            &mut Tokens::new(1),
            Method::Bye,
            peer(),
            "ch",
            Some(dialog),
            None,
        );
        assert_eq!(bye.call_id(), Some("c1"));
        assert_eq!(bye.header("CSeq"), Some("2 BYE"));
        assert_eq!(bye.header("To"), Some("<sip:ch@3402000000>;tag=t1"));
        assert!(bye
            .header("Via")
            .unwrap()
            .starts_with("SIP/2.0/TCP 10.0.0.1:5060;"));
        assert_eq!(bye.header("Content-Type"), None);
        let msg = me.request(
            &mut Tokens::new(1),
            Method::Message,
            peer(),
            "dev",
            None,
            Some(("Application/MANSCDP+xml", b"<x/>".to_vec())),
        );
        assert_eq!(msg.header("CSeq"), Some("1 MESSAGE"));
        assert_eq!(msg.header("To"), Some("<sip:dev@3402000000>"));
        assert_eq!(msg.header("Content-Type"), Some("Application/MANSCDP+xml"));
        assert_eq!(msg.request_uri(), Some("sip:dev@10.0.0.2:5060"));
    }
}
