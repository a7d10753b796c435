//! The HTTP callbacks' client: one `POST` per URL and event, over a connection of its own
//! (`Connection: close`), written by `server::hooks::Request` (no HTTP crate: hyper's client
//! cost 41 KB on armv7). `http://`, and `https://` with the Cargo feature `tls` (`net::tls`).
//! What is not I/O (the request's bytes, the judgement of an answer, the books of queued
//! notices, drops and counts) is `server::hooks`'s.
//!
//! Bounds: at most [`MAX_PER_URL`] requests in flight per hook URL (more wait for a turn, within
//! their timeout); events that only tell wait in a queue of `MAX_QUEUED` and are dropped,
//! counted and logged at a limited rate, when it is full; a response body is read up to
//! `MAX_RESPONSE_BODY` bytes; each request, from the wait for a turn to the response's last
//! byte, gets `http_hooks.hooks_timeout`. A decision waits only in the task of the client it
//! is about; nothing here blocks the event loop (host names are resolved by tokio on its
//! blocking pool; IP addresses are not resolved at all).

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use super::Clock;
#[cfg(feature = "forward")]
use crate::server::hooks::Answer;
use crate::server::hooks::{
    judge, literal_addr, Action, AnswerReader, Decision, HookCall, HookClient, HookCounts, Ledger,
    Request, Verdict, MAX_QUEUED,
};

/// Requests in flight at once per hook URL. Why: SRS opens one connection per event and
/// client with no cap; a burst of 100 connects must not open 100 sockets to one hook server
/// (nor 100 of our file descriptors). 8 keeps a LAN hook server busy without queueing much.
pub const MAX_PER_URL: usize = 8;

/// Bytes read from a hook server at once (on the heap, per request in flight).
const READ_CHUNK: usize = 4096;

/// The client; one per server, shared by every connection.
pub struct HttpHookClient(Rc<Inner>);

struct Inner {
    clock: Clock,
    /// A turn-taker per hook URL, removed when nobody uses it.
    urls: RefCell<HashMap<String, Rc<Semaphore>>>,
    /// Notices waiting or in flight, drops, per-event counts.
    ledger: RefCell<Ledger>,
}

impl HttpHookClient {
    pub fn new(clock: Clock) -> HttpHookClient {
        HttpHookClient(Rc::new(Inner {
            clock,
            urls: RefCell::default(),
            ledger: RefCell::default(),
        }))
    }
}

impl HookClient for HttpHookClient {
    fn decide(&self, call: HookCall) -> Decision {
        Box::pin(self.0.clone().call_all(call, true))
    }

    fn counts(&self, action: Action) -> HookCounts {
        self.0.ledger.borrow().counts(action)
    }

    #[cfg(feature = "forward")]
    fn ask(&self, call: HookCall) -> Answer {
        let inner = self.0.clone();
        Box::pin(async move {
            let url = call.urls.first().cloned().unwrap_or_default();
            let answer = inner.post(&url, &call).await;
            let judged = answer.and_then(|(status, body)| {
                crate::server::hooks::allows(status, &body).map(|()| body)
            });
            (inner.ledger.borrow_mut()).record(call.action, judged.is_err());
            judged
        })
    }

    fn notify(&self, call: HookCall) {
        let inner = self.0.clone();
        let mut ledger = inner.ledger.borrow_mut();
        if !ledger.admit_notice(call.action) {
            if ledger.may_log(inner.clock.now_ms()) {
                log::warn!(
                    "hook {} for [{}] dropped: {MAX_QUEUED} events already wait ({} dropped \
                     in all; is the hook server slow?)",
                    call.action.name(),
                    call.cid,
                    ledger.dropped()
                );
            }
            return;
        }
        drop(ledger);
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
            None => inner.ledger.borrow_mut().notice_done(),
        }
    });
}

impl Inner {
    /// Posts `call` to each of its URLs in order. A decision (`decide`) stops at the first
    /// refusal and logs each answer; a notice goes on and logs failures at a limited rate.
    async fn call_all(self: Rc<Self>, call: HookCall, decide: bool) -> Result<(), String> {
        for url in &call.urls {
            let judged = judge(call.get, self.post(url, &call).await);
            let mut ledger = self.ledger.borrow_mut();
            ledger.handle_answer(&call, url, judged, decide, self.clock.now_ms())?;
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

/// Connects to `host:port`: an IP address or `localhost` at once, a host name through the
/// resolver (Cargo feature `dns`; without it the config refuses host names).
async fn connect(addr: &str) -> io::Result<TcpStream> {
    match literal_addr(addr) {
        Some(sa) => TcpStream::connect(sa).await,
        None => resolve_and_connect(addr).await,
    }
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
async fn exchange(url: &str, body: &Bytes, get: Option<usize>) -> io::Result<(u16, Vec<u8>)> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_owned());
    let Request { target, bytes } = Request::new(url, body, get).map_err(invalid)?;
    let stream = connect(&target.addr).await?;
    let _ = stream.set_nodelay(true);
    if target.tls {
        #[cfg(feature = "tls")]
        {
            let stream = super::tls::connect(stream, target.server_name()).await?;
            return talk(stream, bytes, get).await;
        }
        #[cfg(not(feature = "tls"))]
        return Err(invalid("https:// needs the Cargo feature tls"));
    }
    talk(stream, bytes, get).await
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
    let mut reader = AnswerReader::new(get);
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        // A TLS peer that closes without its `close_notify` (many do after `Connection:
        // close`) reads as the end of the stream, as over TCP.
        let n = match stream.read(&mut buf).await {
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => 0,
            other => other?,
        };
        let answer = reader.handle_read(&buf[..n]);
        if let Some(answer) = answer.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))? {
            return Ok(answer);
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
            body: Bytes::from_static(b"{}"),
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
            assert_eq!(client.0.ledger.borrow().queued(), MAX_QUEUED);
            assert_eq!(client.0.ledger.borrow().dropped(), 6);
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
            assert_eq!(client.0.ledger.borrow().queued(), 0);
        });
    }
}
