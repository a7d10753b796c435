//! The HTTP callbacks' client: one `POST` per URL and event, over a connection of its own
//! (`Connection: close`), written with `wire::http::client` (no HTTP crate: hyper's client cost
//! 41 KB on armv7). `http://`, and `https://` with the Cargo feature `tls` (`net::tls`).
//!
//! Bounds: at most [`MAX_PER_URL`] requests in flight per hook URL (more wait for a turn, within
//! their timeout); events that only tell wait in a queue of [`MAX_QUEUED`] and are dropped,
//! counted and logged at a limited rate, when it is full; a response body is read up to
//! [`MAX_RESPONSE_BODY`] bytes; each request, from the wait for a turn to the response's last
//! byte, gets `http_hooks.hooks_timeout`. A decision waits only in the task of the client it
//! is about; nothing here blocks the event loop (host names are resolved by tokio on its
//! blocking pool; IP addresses are not resolved at all).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use super::Clock;
#[cfg(feature = "forward")]
use crate::server::hooks::Answer;
use crate::server::hooks::{
    allows, Action, Decision, HookCall, HookClient, HookCounts, Verdict, ACTIONS,
};
use crate::server::RateLimit;
use crate::wire::http::client::{encode_request_head, ResponseReader};

/// Requests in flight at once per hook URL. Why: SRS opens one connection per event and
/// client with no cap; a burst of 100 connects must not open 100 sockets to one hook server
/// (nor 100 of our file descriptors). 8 keeps a LAN hook server busy without queueing much.
pub const MAX_PER_URL: usize = 8;

/// Events that only tell (on_close, on_unpublish, on_stop, on_dvr, on_hls) waiting or in
/// flight at once; more are dropped and counted. RAM: about 1 KiB each (the JSON body and a
/// request's buffers), 64 KiB at most.
pub const MAX_QUEUED: usize = 64;

/// Longest response body read from a hook server: SRS's answers are `0` or a small JSON
/// object. RAM: per request in flight, at most.
pub const MAX_RESPONSE_BODY: usize = 64 * 1024;

/// Bytes read from a hook server at once (on the heap, per request in flight).
const READ_CHUNK: usize = 4096;

/// The client; one per server, shared by every connection.
pub struct HttpHookClient(Rc<Inner>);

struct Inner {
    clock: Clock,
    /// A turn-taker per hook URL, removed when nobody uses it.
    urls: RefCell<HashMap<String, Rc<Semaphore>>>,
    /// Events that only tell, waiting or in flight.
    queued: Cell<usize>,
    dropped: Cell<u64>,
    /// Per event ([`Action::index`]): requests, failures, drops.
    counts: RefCell<[HookCounts; ACTIONS.len()]>,
    log_limit: RefCell<RateLimit>,
}

impl HttpHookClient {
    pub fn new(clock: Clock) -> HttpHookClient {
        HttpHookClient(Rc::new(Inner {
            clock,
            urls: RefCell::default(),
            queued: Cell::new(0),
            dropped: Cell::new(0),
            counts: RefCell::default(),
            log_limit: RefCell::default(),
        }))
    }
}

impl HookClient for HttpHookClient {
    fn decide(&self, call: HookCall) -> Decision {
        Box::pin(self.0.clone().call_all(call, true))
    }

    fn counts(&self, action: Action) -> HookCounts {
        self.0.counts.borrow()[action.index()]
    }

    #[cfg(feature = "forward")]
    fn ask(&self, call: HookCall) -> Answer {
        let inner = self.0.clone();
        Box::pin(async move {
            let url = call.urls.first().cloned().unwrap_or_default();
            let answer = inner.post(&url, &call).await;
            let judged = answer.and_then(|(status, body)| allows(status, &body).map(|()| body));
            let mut counts = inner.counts.borrow_mut();
            let count = &mut counts[call.action.index()];
            count.requests += 1;
            count.failures += u64::from(judged.is_err());
            judged
        })
    }

    fn notify(&self, call: HookCall) {
        let inner = self.0.clone();
        if inner.queued.get() >= MAX_QUEUED {
            inner.dropped.set(inner.dropped.get() + 1);
            inner.counts.borrow_mut()[call.action.index()].dropped += 1;
            if inner.log_limit.borrow_mut().allow(inner.clock.now_ms()) {
                log::warn!(
                    "hook {} for [{}] dropped: {MAX_QUEUED} events already wait ({} dropped \
                     in all; is the hook server slow?)",
                    call.action.name(),
                    call.cid,
                    inner.dropped.get()
                );
            }
            return;
        }
        inner.queued.set(inner.queued.get() + 1);
        spawn(inner, call, None);
    }

    fn decide_then(&self, call: HookCall, done: Verdict) {
        spawn(self.0.clone(), call, Some(done));
    }
}

/// The client's task for one event: a notice (`done` None; it leaves the queue at its end)
/// or a decision handed to `done`. One future for both (each future spawned costs its own
/// poll code; a task type of its own, about 3 KB on the router, was what a GB28181 call's
/// decision cost before).
fn spawn(inner: Rc<Inner>, call: HookCall, done: Option<Verdict>) {
    crate::net::spawn(async move {
        let decide = done.is_some();
        let verdict = inner.clone().call_all(call, decide).await;
        match done {
            Some(done) => done(verdict),
            None => inner.queued.set(inner.queued.get().saturating_sub(1)),
        }
    });
}

impl Inner {
    /// Posts `call` to each of its URLs in order. A decision (`decide`) stops at the first
    /// refusal and logs each answer; a notice goes on and logs failures at a limited rate.
    async fn call_all(self: Rc<Self>, call: HookCall, decide: bool) -> Result<(), String> {
        let action = call.action.name();
        for url in &call.urls {
            let answer = self.post(url, &call).await;
            // on_hls_notify: any answer will do (SRS ignores it).
            let judged = match call.get {
                Some(_) => answer.map(|(status, _)| status),
                None => answer.and_then(|(status, body)| allows(status, &body).map(|()| status)),
            };
            {
                let mut counts = self.counts.borrow_mut();
                let count = &mut counts[call.action.index()];
                count.requests += 1;
                count.failures += u64::from(judged.is_err());
            }
            match judged {
                Ok(status) if decide => {
                    log::info!(
                        "[{}] hook {action} {url}: allowed (HTTP {status})",
                        call.cid
                    )
                }
                Ok(_) => log::debug!("[{}] hook {action} {url}: ok", call.cid),
                Err(why) if decide => {
                    log::warn!("[{}] hook {action} {url}: refused: {why}", call.cid);
                    return Err(format!("{action} {url}: {why}"));
                }
                Err(why) => {
                    if self.log_limit.borrow_mut().allow(self.clock.now_ms()) {
                        log::warn!("[{}] hook {action} {url} failed (ignored): {why}", call.cid);
                    }
                }
            }
        }
        Ok(())
    }

    /// One request: a turn on the URL, then the exchange, all within the call's timeout.
    async fn post(&self, url: &str, call: &HookCall) -> Result<(u16, Vec<u8>), String> {
        let turns = self
            .urls
            .borrow_mut()
            .entry(url.to_owned())
            .or_insert_with(|| Rc::new(Semaphore::new(MAX_PER_URL)))
            .clone();
        let timeout = Duration::from_millis(call.timeout_ms);
        let result = tokio::time::timeout(timeout, async {
            let _turn = turns.acquire().await.map_err(|_| "closed".to_owned())?;
            exchange(url, &call.body, call.get)
                .await
                .map_err(|e| e.to_string())
        })
        .await;
        // Forget the URL's turn-taker when no one else holds it (after a reload, old URLs go).
        drop(turns);
        {
            let mut urls = self.urls.borrow_mut();
            if urls.get(url).is_some_and(|s| Rc::strong_count(s) == 1) {
                urls.remove(url);
            }
        }
        result.unwrap_or_else(|_| Err(format!("no answer within {} ms", call.timeout_ms)))
    }
}

/// Where a request goes: `http[s]://authority/path?query` split.
#[derive(Debug, PartialEq)]
struct Target<'a> {
    /// The authority with a port (80 or 443 unless written).
    addr: String,
    /// The Host header's value (the authority as written).
    host: &'a str,
    /// The request target: the path and query.
    target: String,
    /// `https://`.
    tls: bool,
}

fn split_url(url: &str) -> Option<Target<'_>> {
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

/// Connects to `host:port`: an IP address or `localhost` at once, a host name through the
/// resolver (Cargo feature `dns`; without it the config refuses host names).
async fn connect(addr: &str) -> io::Result<TcpStream> {
    if let Ok(sa) = addr.parse::<std::net::SocketAddr>() {
        return TcpStream::connect(sa).await;
    }
    if let Some(port) = addr
        .rsplit_once(':')
        .filter(|(host, _)| host.eq_ignore_ascii_case("localhost"))
        .and_then(|(_, port)| port.parse::<u16>().ok())
    {
        return TcpStream::connect((std::net::Ipv4Addr::LOCALHOST, port)).await;
    }
    resolve_and_connect(addr).await
}

#[cfg(feature = "dns")]
async fn resolve_and_connect(addr: &str) -> io::Result<TcpStream> {
    TcpStream::connect(addr).await
}

#[cfg(not(feature = "dns"))]
async fn resolve_and_connect(addr: &str) -> io::Result<TcpStream> {
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{addr}: host names need the Cargo feature dns"),
    ))
}

/// Connects, posts `body` as JSON and reads the whole response; with `get`, sends a GET
/// instead and stops reading after the response head and `get` bytes of its body (the body is
/// not returned).
async fn exchange(url: &str, body: &[u8], get: Option<usize>) -> io::Result<(u16, Vec<u8>)> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_owned());
    let Target {
        addr,
        host,
        target,
        tls,
    } = split_url(url).ok_or_else(|| invalid("not an http:// or https:// URL"))?;
    let mut request = Vec::with_capacity(256 + body.len());
    let len = body.len().to_string();
    let common = [
        ("Host", host),
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
    let written = encode_request_head(method, &target, headers, &mut request);
    if !written {
        return Err(invalid("the URL cannot be written in a request line"));
    }
    request.extend_from_slice(body);
    let stream = connect(&addr).await?;
    let _ = stream.set_nodelay(true);
    if tls {
        #[cfg(feature = "tls")]
        {
            // The name checked against the certificate: the host without port or brackets.
            let name = server_name(host);
            let stream = super::tls::connect(stream, name).await?;
            return talk(stream, request, get).await;
        }
        #[cfg(not(feature = "tls"))]
        return Err(invalid("https:// needs the Cargo feature tls"));
    }
    talk(stream, request, get).await
}

/// `host[:port]` or `[v6][:port]`: the host alone.
#[cfg(feature = "tls")]
fn server_name(authority: &str) -> &str {
    match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => authority.split(':').next().unwrap_or(authority),
    }
}

/// Writes the request and reads the answer (see [`exchange`]), over TCP or TLS.
async fn talk<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    request: Vec<u8>,
    get: Option<usize>,
) -> io::Result<(u16, Vec<u8>)> {
    stream.write_all(&request).await?;
    stream.flush().await?;
    drop(request);
    if let Some(max_body) = get {
        return read_head_and_some(&mut stream, max_body).await;
    }
    let mut reader = ResponseReader::new(MAX_RESPONSE_BODY);
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let n = read_or_close(&mut stream, &mut buf).await?;
        let done = if n == 0 {
            reader.handle_eof().map(|()| true)
        } else {
            reader.handle_bytes(&buf[..n])
        }
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        if done {
            return Ok((reader.status(), reader.body().to_vec()));
        }
    }
}

/// A read; a TLS peer that closes without its `close_notify` (many do after `Connection:
/// close`) reads as the end of the stream, as over TCP.
async fn read_or_close<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut [u8]) -> io::Result<usize> {
    match stream.read(buf).await {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
        other => other,
    }
}

/// `on_hls_notify`'s answer: the status of its head, then at most `max_body` more bytes read
/// and dropped (SRS reads `hls_nb_notify` bytes and closes).
async fn read_head_and_some<S: AsyncRead + Unpin>(
    stream: &mut S,
    max_body: usize,
) -> io::Result<(u16, Vec<u8>)> {
    let mut reader = ResponseReader::new(max_body);
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let n = read_or_close(stream, &mut buf).await?;
        let step = if n == 0 {
            reader.handle_eof().map(|()| true)
        } else {
            reader.handle_bytes(&buf[..n])
        };
        match step {
            Ok(false) => continue,
            Ok(true) => return Ok((reader.status(), Vec::new())),
            // Past the body's limit, or a head we cannot read: the status, when the head came.
            Err(e) => {
                return match reader.status() {
                    0 => Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
                    status => Ok((status, Vec::new())),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::hooks::Action;

    fn call(url: &str, timeout_ms: u64) -> HookCall {
        HookCall {
            action: Action::Stop,
            urls: vec![url.to_owned()],
            body: bytes::Bytes::from_static(b"{}"),
            get: None,
            timeout_ms,
            cid: "test".into(),
        }
    }

    /// A hook server that accepts and never answers: 8 requests reach it at once, 64 notices
    /// wait or fly, the rest are dropped and counted; a decision behind them times out.
    #[test]
    fn a_silent_hook_server_gets_eight_at_once_and_the_rest_is_dropped() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = accepted.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for s in listener.incoming().flatten() {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                held.push(s);
            }
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        tokio::task::LocalSet::new().block_on(&rt, async {
            let client = HttpHookClient::new(Clock::new());
            for _ in 0..MAX_QUEUED + 6 {
                client.notify(call(&url, 2_000));
            }
            assert_eq!(client.0.queued.get(), MAX_QUEUED);
            assert_eq!(client.0.dropped.get(), 6);
            tokio::time::sleep(Duration::from_millis(500)).await;
            assert_eq!(
                accepted.load(std::sync::atomic::Ordering::SeqCst),
                MAX_PER_URL,
                "requests in flight to one URL"
            );
            let started = std::time::Instant::now();
            let answer = client.decide(call(&url, 300)).await;
            assert!(answer.unwrap_err().contains("no answer within 300 ms"));
            assert!(started.elapsed() < Duration::from_millis(1_000));
            // Every notice's time (its wait for a turn included) is up: the queue is empty.
            tokio::time::sleep(Duration::from_millis(2_000)).await;
            assert_eq!(client.0.queued.get(), 0);
        });
    }

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
}
