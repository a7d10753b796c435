//! The bytes of one hook request and the judgement of its answer, for `net::hooks`, which
//! only connects, writes and reads: where a URL points ([`split_url`]), the request written
//! for it ([`Request::new`]), what an answer means ([`judge`]), and the client's books
//! ([`Ledger`]: the queue of notices, the drops, the per-event counts).

use std::net::{Ipv4Addr, SocketAddr};

use bytes::Bytes;

use super::{allows, Action, HookCall, HookCounts, ACTIONS};
use crate::server::RateLimit;
use crate::wire::http::client::{encode_request_head, ResponseReader};

/// Longest response body read from a hook server: SRS's answers are `0` or a small JSON
/// object. RAM: per request in flight, at most.
pub const MAX_RESPONSE_BODY: usize = 64 * 1024;

/// Events that only tell (on_close, on_unpublish, on_stop, on_dvr, on_hls) waiting or in
/// flight at once; more are dropped and counted. RAM: about 1 KiB each (the JSON body and a
/// request's buffers), 64 KiB at most.
pub const MAX_QUEUED: usize = 64;

/// Where a request goes: `http[s]://authority/path?query` split.
#[derive(Debug, PartialEq)]
pub struct Target<'a> {
    /// The authority with a port (80 or 443 unless written).
    pub addr: String,
    /// The Host header's value (the authority as written).
    pub host: &'a str,
    /// The request target: the path and query.
    pub target: String,
    /// `https://`.
    pub tls: bool,
}

/// `url` split, or None when it is not an `http://` or `https://` URL with an authority.
pub fn split_url(url: &str) -> Option<Target<'_>> {
    let (rest, tls) = match url.strip_prefix("https://") {
        Some(rest) => (rest, true),
        None => (url.strip_prefix("http://")?, false),
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if authority.is_empty() {
        return None;
    }
    let has_port = match authority.rfind(']') {
        Some(close) => authority[close..].contains(':'),
        None => authority.contains(':'),
    };
    let addr = match (has_port, tls) {
        (true, _) => authority.to_owned(),
        (false, true) => format!("{authority}:443"),
        (false, false) => format!("{authority}:80"),
    };
    let target = match tail.chars().next() {
        None => "/".to_owned(),
        Some('?') => format!("/{tail}"),
        Some(_) => tail.to_owned(),
    };
    Some(Target {
        addr,
        host: authority,
        target,
        tls,
    })
}

impl Target<'_> {
    /// The name checked against a TLS certificate: the host without port or brackets.
    pub fn server_name(&self) -> &str {
        let authority = self.host;
        match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(v6),
            None => authority.split(':').next().unwrap_or(authority),
        }
    }
}

/// `host:port` as an address to connect to without a resolver: an IP address, or
/// `localhost` (the loopback's IPv4 address); None for a host name.
pub fn literal_addr(addr: &str) -> Option<SocketAddr> {
    if let Ok(sa) = addr.parse::<SocketAddr>() {
        return Some(sa);
    }
    let (host, port) = addr.rsplit_once(':')?;
    let port = port.parse::<u16>().ok()?;
    host.eq_ignore_ascii_case("localhost")
        .then_some(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
}

/// One request to write: where it goes and its bytes.
pub struct Request<'a> {
    pub target: Target<'a>,
    pub bytes: Vec<u8>,
}

impl<'a> Request<'a> {
    /// `body` posted as JSON to `url` (`Connection: close`), or with `get` a GET without
    /// body (`on_hls_notify`). Err: why the URL cannot be asked.
    pub fn new(url: &'a str, body: &Bytes, get: Option<usize>) -> Result<Self, &'static str> {
        let target = split_url(url).ok_or("not an http:// or https:// URL")?;
        let mut bytes = Vec::with_capacity(256 + body.len());
        let len = body.len().to_string();
        let common = [
            ("Host", target.host),
            ("User-Agent", crate::server::http::SERVER),
            ("Connection", "close"),
        ];
        let post = [
            ("Content-Type", "application/json"),
            ("Content-Length", len.as_str()),
        ];
        let (method, headers) = match get {
            Some(_) => ("GET", &common[..]),
            None => ("POST", &[common.as_slice(), post.as_slice()].concat()[..]),
        };
        if !encode_request_head(method, &target.target, headers, &mut bytes) {
            return Err("the URL cannot be written in a request line");
        }
        bytes.extend_from_slice(body);
        Ok(Request { target, bytes })
    }
}

/// Reads a hook server's answer as it comes: the whole response (its body up to
/// [`MAX_RESPONSE_BODY`]), or for `on_hls_notify` (`get`) its status once the head and at most
/// `get` bytes of body came (SRS reads `hls_nb_notify` bytes and closes; the body is dropped).
pub struct AnswerReader {
    reader: ResponseReader,
    get: bool,
}

impl AnswerReader {
    pub fn new(get: Option<usize>) -> AnswerReader {
        AnswerReader {
            reader: ResponseReader::new(get.unwrap_or(MAX_RESPONSE_BODY)),
            get: get.is_some(),
        }
    }

    /// Bytes read (none: the end of the stream): the answer, `(status, body)`, once complete.
    pub fn handle_read(&mut self, data: &[u8]) -> Result<Option<(u16, Vec<u8>)>, String> {
        let step = match data.is_empty() {
            true => self.reader.handle_eof().map(|()| true),
            false => self.reader.handle_bytes(data),
        };
        match step {
            Ok(false) => Ok(None),
            Ok(true) if self.get => Ok(Some((self.reader.status(), Vec::new()))),
            Ok(true) => Ok(Some((self.reader.status(), self.reader.body().to_vec()))),
            // Past the body's limit, or a head we cannot read: with `get`, the status, when
            // the head came.
            Err(e) => match self.reader.status() {
                status if self.get && status != 0 => Ok(Some((status, Vec::new()))),
                _ => Err(e.to_string()),
            },
        }
    }
}

/// What an answer (`status`, `body`) means for the client: the status when it allows
/// (SRS's rule, [`allows`]), why not otherwise. `get` (`on_hls_notify`): any answer will do
/// (SRS ignores it).
pub fn judge(get: Option<usize>, answer: Result<(u16, Vec<u8>), String>) -> Result<u16, String> {
    match get {
        Some(_) => answer.map(|(status, _)| status),
        None => answer.and_then(|(status, body)| allows(status, &body).map(|()| status)),
    }
}

/// The hook client's books: notices waiting or in flight (at most [`MAX_QUEUED`]), drops,
/// and per event ([`Action::index`]) requests, failures and drops (`/metrics`).
#[derive(Default)]
pub struct Ledger {
    queued: usize,
    dropped: u64,
    counts: [HookCounts; ACTIONS.len()],
    log_limit: RateLimit,
}

impl Ledger {
    /// A notice of `action` asks for a place in the queue: true when it has one (then
    /// [`Ledger::notice_done`] frees it); false when the queue is full (the drop is counted).
    pub fn admit_notice(&mut self, action: Action) -> bool {
        if self.queued >= MAX_QUEUED {
            self.dropped += 1;
            self.counts[action.index()].dropped += 1;
            return false;
        }
        self.queued += 1;
        true
    }

    /// A notice is done (sent, failed or timed out).
    pub fn notice_done(&mut self) {
        self.queued = self.queued.saturating_sub(1);
    }

    /// One request of `action` was made; `failed`: it failed or refused.
    pub fn record(&mut self, action: Action, failed: bool) {
        let count = &mut self.counts[action.index()];
        count.requests += 1;
        count.failures += u64::from(failed);
    }

    /// The answer (judged) of `url` to `call`, counted and logged: a decision (`decide`) logs
    /// each answer and stops at a refusal (Err: why, for the client); a notice goes on and
    /// logs its failures at a limited rate.
    pub fn handle_answer(
        &mut self,
        call: &HookCall,
        url: &str,
        judged: Result<u16, String>,
        decide: bool,
        now_ms: u64,
    ) -> Result<(), String> {
        let (action, cid) = (call.action.name(), &call.cid);
        self.record(call.action, judged.is_err());
        match judged {
            Ok(status) if decide => {
                log::info!("[{cid}] hook {action} {url}: allowed (HTTP {status})")
            }
            Ok(_) => log::debug!("[{cid}] hook {action} {url}: ok"),
            Err(why) if decide => {
                log::warn!("[{cid}] hook {action} {url}: refused: {why}");
                return Err(format!("{action} {url}: {why}"));
            }
            Err(why) => {
                if self.may_log(now_ms) {
                    log::warn!("[{cid}] hook {action} {url} failed (ignored): {why}");
                }
            }
        }
        Ok(())
    }

    /// Whether a failure (or a drop) at `now_ms` may be logged (at a limited rate).
    pub fn may_log(&mut self, now_ms: u64) -> bool {
        self.log_limit.allow(now_ms)
    }

    pub fn queued(&self) -> usize {
        self.queued
    }

    /// Notices dropped since start.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub fn counts(&self, action: Action) -> HookCounts {
        self.counts[action.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_address_host_and_target() {
        let cases = [
            (
                "http://127.0.0.1:8085/api/v1/streams",
                ("127.0.0.1:8085", "127.0.0.1:8085", "/api/v1/streams"),
            ),
            (
                "http://hooks.lan/a?b=1",
                ("hooks.lan:80", "hooks.lan", "/a?b=1"),
            ),
            (
                "http://hooks.lan?b=1",
                ("hooks.lan:80", "hooks.lan", "/?b=1"),
            ),
            ("http://[::1]:9/x", ("[::1]:9", "[::1]:9", "/x")),
            ("http://[::1]", ("[::1]:80", "[::1]", "/")),
        ];
        for (url, (addr, host, target)) in cases {
            let t = split_url(url).unwrap();
            assert_eq!(
                (t.addr.as_str(), t.host, t.target.as_str(), t.tls),
                (addr, host, target, false),
                "{url}"
            );
        }
        let t = split_url("https://hooks.lan/a").unwrap();
        assert_eq!((t.addr.as_str(), t.tls), ("hooks.lan:443", true));
        assert!(split_url("ftp://h/").is_none());
        assert!(split_url("http:///a").is_none());
    }

    #[test]
    fn literal_addresses_need_no_resolver() {
        let addr = |a: &str| literal_addr(a).map(|sa| sa.to_string());
        assert_eq!(addr("127.0.0.1:8085").as_deref(), Some("127.0.0.1:8085"));
        assert_eq!(addr("[::1]:9").as_deref(), Some("[::1]:9"));
        assert_eq!(addr("LocalHost:80").as_deref(), Some("127.0.0.1:80"));
        assert_eq!(addr("hooks.lan:80"), None);
        assert_eq!(addr("localhost:http"), None);
    }

    #[test]
    fn decisions_stop_at_a_refusal_and_notices_go_on() {
        let call = HookCall {
            action: Action::Publish,
            urls: vec!["http://h/a".into()],
            body: Bytes::new(),
            get: None,
            timeout_ms: 1_000,
            cid: "c1".into(),
        };
        let mut ledger = Ledger::default();
        assert_eq!(
            ledger.handle_answer(&call, "http://h/a", Ok(200), true, 0),
            Ok(())
        );
        let refused = ledger.handle_answer(&call, "http://h/a", Err("HTTP 403".into()), true, 0);
        assert_eq!(refused, Err("on_publish http://h/a: HTTP 403".into()));
        let ignored = ledger.handle_answer(&call, "http://h/a", Err("down".into()), false, 0);
        assert_eq!(ignored, Ok(()));
        let c = ledger.counts(Action::Publish);
        assert_eq!((c.requests, c.failures), (3, 2));
    }

    #[test]
    fn server_names_drop_port_and_brackets() {
        let name = |url| split_url(url).unwrap().server_name().to_owned();
        assert_eq!(name("https://hooks.lan:8443/a"), "hooks.lan");
        assert_eq!(name("https://hooks.lan/a"), "hooks.lan");
        assert_eq!(name("https://[::1]:8443/a"), "::1");
        assert_eq!(name("https://[::1]"), "::1");
    }

    #[test]
    fn a_post_carries_its_json_body_and_a_get_none() {
        let body = Bytes::from_static(b"{\"action\":\"on_stop\"}");
        let post = Request::new("http://h:8085/hook?x=1", &body, None).unwrap();
        let text = String::from_utf8(post.bytes).unwrap();
        assert!(text.starts_with("POST /hook?x=1 HTTP/1.1\r\n"), "{text}");
        assert!(text.contains("Host: h:8085\r\n"), "{text}");
        assert!(text.contains("Connection: close\r\n"), "{text}");
        assert!(
            text.contains("Content-Type: application/json\r\n"),
            "{text}"
        );
        assert!(text.contains(&format!("Content-Length: {}\r\n", body.len())));
        assert!(text.ends_with("\r\n\r\n{\"action\":\"on_stop\"}"), "{text}");
        assert_eq!(post.target.addr, "h:8085");

        let get = Request::new("http://h/ts?n=1", &Bytes::new(), Some(10)).unwrap();
        let text = String::from_utf8(get.bytes).unwrap();
        assert!(text.starts_with("GET /ts?n=1 HTTP/1.1\r\n"), "{text}");
        assert!(!text.contains("Content-Length"), "{text}");
        assert!(text.ends_with("\r\n\r\n"), "{text}");

        assert!(Request::new("ftp://h/", &body, None).is_err());
    }

    #[test]
    fn answers_are_read_whole_or_up_to_what_a_get_wants() {
        let response = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n0";
        // Cut at every byte (no bytes read is the end of the stream): nothing until the last.
        for cut in 1..response.len() {
            let mut reader = AnswerReader::new(None);
            assert_eq!(
                reader.handle_read(&response[..cut]),
                Ok(None),
                "cut at {cut}"
            );
            let answer = reader.handle_read(&response[cut..]);
            assert_eq!(answer, Ok(Some((200, b"0".to_vec()))), "cut at {cut}");
        }
        // Until the end of the stream.
        let mut reader = AnswerReader::new(None);
        assert_eq!(
            reader.handle_read(b"HTTP/1.0 201 Created\r\n\r\n{}"),
            Ok(None)
        );
        assert_eq!(reader.handle_read(b""), Ok(Some((201, b"{}".to_vec()))));
        // A body over the limit, or a peer that closes first.
        let mut reader = AnswerReader::new(None);
        let long = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            MAX_RESPONSE_BODY + 1
        );
        assert!(reader.handle_read(long.as_bytes()).is_err());
        assert!(AnswerReader::new(None).handle_read(b"").is_err());
        // on_hls_notify: the status once `get` bytes of body came, the body dropped.
        let mut reader = AnswerReader::new(Some(4));
        let answer = reader.handle_read(b"HTTP/1.1 404 Not Found\r\n\r\n0123456789");
        assert_eq!(answer, Ok(Some((404, Vec::new()))));
        assert!(AnswerReader::new(Some(4)).handle_read(b"").is_err());
    }

    #[test]
    fn answers_are_judged_by_srs_rule_unless_any_will_do() {
        assert_eq!(judge(None, Ok((200, b"0".to_vec()))), Ok(200));
        assert!(judge(None, Ok((200, b"1".to_vec()))).is_err());
        assert!(judge(None, Ok((500, b"0".to_vec()))).is_err());
        assert_eq!(judge(Some(8), Ok((404, Vec::new()))), Ok(404));
        assert_eq!(judge(Some(8), Err("down".into())), Err("down".into()));
    }

    #[test]
    fn the_ledger_queues_sixty_four_notices_then_drops_and_counts() {
        let mut ledger = Ledger::default();
        for _ in 0..MAX_QUEUED {
            assert!(ledger.admit_notice(Action::Stop));
        }
        assert!(!ledger.admit_notice(Action::Stop));
        assert!(!ledger.admit_notice(Action::Close));
        assert_eq!((ledger.queued(), ledger.dropped()), (MAX_QUEUED, 2));
        assert_eq!(ledger.counts(Action::Stop).dropped, 1);
        assert_eq!(ledger.counts(Action::Close).dropped, 1);
        ledger.notice_done();
        assert!(ledger.admit_notice(Action::Stop));
        ledger.record(Action::Connect, false);
        ledger.record(Action::Connect, true);
        let c = ledger.counts(Action::Connect);
        assert_eq!((c.requests, c.failures), (2, 1));
        // The log of failures is rate-limited.
        for _ in 0..RateLimit::BURST {
            assert!(ledger.may_log(1_000));
        }
        assert!(!ledger.may_log(1_001));
    }
}
