//! SRS's HTTP callbacks (`http_hooks` per vhost): what each event posts, and SRS's rule for
//! whether an answer allows the client. No I/O: the requests are made by a [`HookClient`] that
//! `net::hooks` provides (the default one, without a network, refuses every decision).
//!
//! What a caller must know:
//! - Events that ask (`on_connect`, `on_publish`, `on_play`) are [`HookCall`]s the caller's
//!   driver awaits through [`Hooks::decide`]: every URL in order, the first refusal refuses.
//!   Only that client waits; the event loop and the other clients go on.
//! - Events that tell (`on_close`, `on_unpublish`, `on_stop`, `on_dvr`, `on_hls`) go to
//!   [`Hooks::notify`] and are never waited for; the client bounds and drops them (counted)
//!   when its queue is full.
//! - Payloads are SRS's (`srs_app_http_hooks.cpp`), field for field and event for event:
//!   `client_id` is the connection's log id, which is also its id in `/api/v1/clients`;
//!   `server_id`, `service_id` and `stream_id` are the API's; `param` is the query string with
//!   its `?` (empty when none), as SRS keeps it.
//! - SRS's allow rule ([`allows`]): status 200 or 201 and a body that is `0` or a JSON object
//!   whose `code` is the integer 0. Beyond SRS: whitespace around the body is ignored (SRS
//!   compares `0` exactly, so `0\n` from a `print` refuses there).
//!
//! - `on_hls` is sent at the once-a-second sweep after a segment closes (RAM storage) or its
//!   file is written (disk).
//!
//! - `on_hls_notify` is a GET to each URL template (see [`notify_url`]) at the same sweep; the
//!   answer is ignored after `hls.hls_nb_notify` bytes of body.
//!
//! - `on_forward` (SRS 5.0 `forward.backend`): [`Hooks::forward_call`] builds SRS's body; the
//!   answer's body comes back through [`Hooks::ask`] (`server::forward` reads its URLs).
//!
//! Not supported yet: HTTPS URLs.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::rc::Rc;

use bytes::Bytes;

use super::api::objects::{stream_id, stream_url};
use crate::config::{HookUrls, HttpHooks, Vhost};
use crate::live::StreamKey;
use crate::wire::json;

/// Publishes remembered for `on_dvr`, which comes after the publisher may have gone (a
/// recording closes when the disk has renamed it). Why 64: a recording closes within seconds
/// of its publish ending; 64 streams ending at once is more than a board serves.
/// RAM: 64 × (about 300 bytes + the names).
pub const RECENT_PUBLISHES: usize = 64;

/// The hook events, by SRS's `action` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Connect,
    Close,
    Publish,
    Unpublish,
    Play,
    Stop,
    Dvr,
    Hls,
    /// A GET to each URL template, the answer ignored.
    HlsNotify,
    /// Not a vhost's event: the server's `heartbeat` (server::heartbeat), posted with the
    /// same client.
    Heartbeat,
    /// `forward.backend` (SRS 5.0 dynamic forward): asked for a stream's destinations.
    Forward,
}

/// Every event, in [`Action::index`] order (for the per-event counts).
pub const ACTIONS: [Action; 11] = [
    Action::Connect,
    Action::Close,
    Action::Publish,
    Action::Unpublish,
    Action::Play,
    Action::Stop,
    Action::Dvr,
    Action::Hls,
    Action::HlsNotify,
    Action::Heartbeat,
    Action::Forward,
];

/// What the client did for one event since start (`/metrics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HookCounts {
    /// Requests made (one per URL).
    pub requests: u64,
    /// Of those, the ones that failed or refused (no answer, an error status, a refusal).
    pub failures: u64,
    /// Events dropped unsent because the queue was full.
    pub dropped: u64,
}

impl Action {
    /// The place of this event in [`ACTIONS`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// SRS's `action` value.
    pub fn name(self) -> &'static str {
        match self {
            Action::Connect => "on_connect",
            Action::Close => "on_close",
            Action::Publish => "on_publish",
            Action::Unpublish => "on_unpublish",
            Action::Play => "on_play",
            Action::Stop => "on_stop",
            Action::Dvr => "on_dvr",
            Action::Hls => "on_hls",
            Action::HlsNotify => "on_hls_notify",
            Action::Heartbeat => "heartbeat",
            Action::Forward => "on_forward",
        }
    }

    /// The vhost's URLs for this event.
    pub fn urls(self, hooks: &HttpHooks) -> &HookUrls {
        match self {
            Action::Connect => &hooks.on_connect,
            Action::Close => &hooks.on_close,
            Action::Publish => &hooks.on_publish,
            Action::Unpublish => &hooks.on_unpublish,
            Action::Play => &hooks.on_play,
            Action::Stop => &hooks.on_stop,
            Action::Dvr => &hooks.on_dvr,
            Action::Hls => &hooks.on_hls,
            Action::HlsNotify => &hooks.on_hls_notify,
            Action::Heartbeat | Action::Forward => {
                static NONE: HookUrls = HookUrls(Vec::new());
                &NONE
            }
        }
    }
}

/// One event to post to each of `urls`, in order.
#[derive(Debug, Clone)]
pub struct HookCall {
    pub action: Action,
    pub urls: Vec<String>,
    /// The JSON body.
    pub body: Bytes,
    /// Per request: connection, request and whole response (`http_hooks.hooks_timeout`).
    pub timeout_ms: u64,
    /// For log lines: the client's log id.
    pub cid: String,
    /// `Some(n)`: a GET with no body whose answer is ignored after `n` bytes of body
    /// (`on_hls_notify`); `None`: a JSON POST.
    pub get: Option<usize>,
}

/// Who a client is, in SRS's request terms.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Client {
    /// The log id (`client_id`).
    pub cid: String,
    pub ip: String,
    pub vhost: String,
    pub app: String,
    pub stream: String,
    pub tc_url: String,
    /// The query string without `?` (empty when none).
    pub query: String,
    pub page_url: String,
}

impl Client {
    pub fn new(cid: &str, ip: IpAddr) -> Client {
        Client {
            cid: cid.to_owned(),
            ip: ip.to_string(),
            ..Client::default()
        }
    }

    pub(crate) fn key(&self) -> StreamKey {
        StreamKey {
            vhost: self.vhost.clone(),
            app: self.app.clone(),
            stream: self.stream.clone(),
        }
    }

    fn param(&self) -> String {
        if self.query.is_empty() {
            String::new()
        } else {
            format!("?{}", self.query)
        }
    }
}

/// What the events carry beyond the client: the event's own fields.
#[derive(Debug, Clone, Default)]
pub struct Extra {
    pub send_bytes: Option<u64>,
    pub recv_bytes: Option<u64>,
    /// on_dvr, on_hls.
    pub file: Option<String>,
    /// on_hls: seconds, the segment's URL, the playlist's path and URL, its sequence number.
    pub duration_s: Option<f64>,
    pub url: Option<String>,
    pub m3u8: Option<String>,
    pub m3u8_url: Option<String>,
    pub seq_no: Option<u64>,
}

/// The server's identity in the payloads: the API's ids and the working directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub server_id: String,
    pub service_id: String,
    /// SRS's `cwd` (on_dvr, on_hls).
    pub cwd: String,
}

/// The JSON body of `action` for `client`, with the fields SRS gives that event. Written by
/// hand rather than by a serde derive (a struct of twenty optional fields cost about 3 KB
/// more on the router build).
pub fn payload(id: &Identity, action: Action, client: &Client, extra: &Extra) -> String {
    use Action::*;
    let mut j = JsonWriter(String::with_capacity(512));
    j.str("server_id", &id.server_id);
    j.str("service_id", &id.service_id);
    j.str("action", action.name());
    j.str("client_id", &client.cid);
    j.str("ip", &client.ip);
    j.str("vhost", &client.vhost);
    j.str("app", &client.app);
    if action == Close {
        j.num("send_bytes", extra.send_bytes.unwrap_or(0));
        j.num("recv_bytes", extra.recv_bytes.unwrap_or(0));
        return j.finish();
    }
    j.str("tcUrl", &client.tc_url);
    j.str("stream", &client.stream);
    j.str("param", &client.param());
    if matches!(action, Connect | Play) {
        j.str("pageUrl", &client.page_url);
    }
    if action == Connect {
        return j.finish();
    }
    if action == Hls {
        // SRS: milliseconds / 1000.0.
        let ms = (extra.duration_s.unwrap_or(0.0) * 1000.0).round().max(0.0) as u64;
        j.raw("duration", &format!("{}.{:03}", ms / 1000, ms % 1000));
    }
    if matches!(action, Dvr | Hls) {
        j.str("cwd", &id.cwd);
        j.str("file", extra.file.as_deref().unwrap_or(""));
    }
    if action == Hls {
        j.str("url", extra.url.as_deref().unwrap_or(""));
        j.str("m3u8", extra.m3u8.as_deref().unwrap_or(""));
        j.str("m3u8_url", extra.m3u8_url.as_deref().unwrap_or(""));
        j.num("seq_no", extra.seq_no.unwrap_or(0));
    }
    let key = client.key();
    j.str("stream_url", &stream_url(&key));
    j.str("stream_id", &stream_id(&key));
    j.finish()
}

/// An `on_hls_notify` URL template filled in as SRS fills it (`[server_id]`, `[app]`,
/// `[stream]`, `[ts_url]`, `[param]` replaced, `param` with its `?`). Names with bytes that a
/// request line cannot carry make a URL the client refuses (logged), as SRS would send it
/// broken.
pub fn notify_url(template: &str, id: &Identity, client: &Client, ts_url: &str) -> String {
    template
        .replace("[server_id]", &id.server_id)
        .replace("[app]", &client.app)
        .replace("[stream]", &client.stream)
        .replace("[ts_url]", ts_url)
        .replace("[param]", &client.param())
}

/// A JSON object written member by member (RFC 8259).
/// A JSON object written member by member (the payloads; the heartbeat's body).
pub(crate) struct JsonWriter(pub(crate) String);

impl JsonWriter {
    fn key(&mut self, name: &str) {
        self.0.push(if self.0.is_empty() { '{' } else { ',' });
        self.0.push('"');
        self.0.push_str(name);
        self.0.push_str("\":");
    }

    /// A string member, escaped (§7): quote, backslash and controls.
    pub(crate) fn str(&mut self, name: &str, value: &str) {
        self.key(name);
        self.0.push('"');
        for c in value.chars() {
            match c {
                '"' => self.0.push_str("\\\""),
                '\\' => self.0.push_str("\\\\"),
                '\n' => self.0.push_str("\\n"),
                '\r' => self.0.push_str("\\r"),
                '\t' => self.0.push_str("\\t"),
                c if u32::from(c) < 0x20 => {
                    let _ = write!(self.0, "\\u{:04x}", u32::from(c));
                }
                c => self.0.push(c),
            }
        }
        self.0.push('"');
    }

    pub(crate) fn num(&mut self, name: &str, value: u64) {
        self.key(name);
        let _ = write!(self.0, "{value}");
    }

    /// A member whose value is already JSON.
    pub(crate) fn raw(&mut self, name: &str, json: &str) {
        self.key(name);
        self.0.push_str(json);
    }

    pub(crate) fn finish(mut self) -> String {
        if self.0.is_empty() {
            self.0.push('{');
        }
        self.0.push('}');
        self.0
    }
}

/// SRS's rule (`SrsHttpHooks::do_post`): `Ok` when the answer allows, else why not. The
/// object form is read by `wire::json` (serde_json's deserializer would cost about 17 KB on
/// the router build).
pub fn allows(status: u16, body: &[u8]) -> Result<(), String> {
    if status != 200 && status != 201 {
        return Err(format!("HTTP status {status}"));
    }
    let text = body.trim_ascii();
    if text.is_empty() {
        return Err("empty response".into());
    }
    let shown = || String::from_utf8_lossy(&text[..text.len().min(64)]).into_owned();
    if text == b"0" {
        return Ok(());
    }
    if !text.starts_with(b"{") {
        return Err(format!(
            "response {:?} (0 or {{\"code\": 0}} allows)",
            shown()
        ));
    }
    match json::integer_member(text, "code") {
        Ok(Some(0)) => Ok(()),
        Ok(Some(code)) => Err(format!("code {code}")),
        Ok(None) => Err(format!("no integer code in {:?}", shown())),
        Err(e) => Err(format!("not JSON ({e}): {:?}", shown())),
    }
}

/// The decision future a [`HookClient`] returns: `Ok` when every URL allowed.
pub type Decision = Pin<Box<dyn Future<Output = Result<(), String>>>>;

/// What takes a decision made in the hook client's own task ([`HookClient::decide_then`]).
pub type Verdict = Box<dyn FnOnce(Result<(), String>)>;

/// The answer future of [`HookClient::ask`]: the body of an allowing answer.
#[cfg(feature = "forward")]
pub type Answer = Pin<Box<dyn Future<Output = Result<Vec<u8>, String>>>>;

/// Makes the requests (`net::hooks`).
pub trait HookClient {
    /// Posts to every URL in order and says whether all allowed; the caller waits.
    fn decide(&self, call: HookCall) -> Decision;
    /// Posts without waiting; dropped (and counted) when the client's queue is full.
    fn notify(&self, call: HookCall);
    /// [`HookClient::decide`] for a caller with no task of its own per client (GB28181
    /// calls): the client's task waits, then hands the verdict to `done`.
    fn decide_then(&self, call: HookCall, done: Verdict);
    /// What was done for `action` so far.
    fn counts(&self, _action: Action) -> HookCounts {
        HookCounts::default()
    }
    /// Posts to the call's first URL and returns the body of an answer that allows (SRS's
    /// rule); the caller waits.
    #[cfg(feature = "forward")]
    fn ask(&self, _call: HookCall) -> Answer {
        Box::pin(std::future::ready(Err("no hook client".to_owned())))
    }
}

/// Without a network (unit tests): every decision refuses, notices are dropped.
struct NoClient;

impl HookClient for NoClient {
    fn decide(&self, _: HookCall) -> Decision {
        Box::pin(std::future::ready(Err("no hook client".to_owned())))
    }

    fn notify(&self, _: HookCall) {}

    fn decide_then(&self, _: HookCall, done: Verdict) {
        done(Err("no hook client".to_owned()));
    }
}

/// What the server keeps for the callbacks: the client, the identity, the recent publishes.
#[derive(Clone)]
pub struct Hooks(Rc<HooksInner>);

struct HooksInner {
    client: RefCell<Rc<dyn HookClient>>,
    identity: RefCell<Identity>,
    recent: RefCell<VecDeque<Client>>,
}

impl Default for Hooks {
    fn default() -> Self {
        Hooks(Rc::new(HooksInner {
            client: RefCell::new(Rc::new(NoClient)),
            identity: RefCell::default(),
            recent: RefCell::default(),
        }))
    }
}

impl Hooks {
    /// At start, by the driver: the client that makes the requests, and our identity.
    pub fn start(&self, client: Rc<dyn HookClient>, identity: Identity) {
        *self.0.client.borrow_mut() = client;
        *self.0.identity.borrow_mut() = identity;
    }

    /// The call for `action` if the vhost reports it (hooks enabled, URLs given).
    pub fn call(
        &self,
        vhost: &Vhost,
        action: Action,
        client: &Client,
        extra: &Extra,
    ) -> Option<HookCall> {
        let hooks = &vhost.http_hooks;
        let urls = action.urls(hooks);
        if !hooks.enabled || urls.is_empty() {
            return None;
        }
        let identity = self.0.identity.borrow();
        let (urls, body, get) = if action == Action::HlsNotify {
            let ts_url = extra.url.as_deref().unwrap_or("");
            let urls = urls
                .iter()
                .map(|t| notify_url(t, &identity, client, ts_url))
                .collect();
            (urls, Bytes::new(), Some(vhost.hls.nb_notify))
        } else {
            let body = payload(&identity, action, client, extra);
            (
                urls.iter().map(str::to_owned).collect(),
                Bytes::from(body),
                None,
            )
        };
        Some(HookCall {
            action,
            urls,
            body,
            timeout_ms: u64::from(hooks.timeout_s) * 1000,
            cid: client.cid.clone(),
            get,
        })
    }

    /// Posts `call` without waiting (the heartbeat's way; see [`HookClient::notify`]).
    pub fn post(&self, call: HookCall) {
        let client = self.0.client.borrow().clone();
        client.notify(call);
    }

    /// What the client did for `action` so far.
    pub fn counts(&self, action: Action) -> HookCounts {
        let client = self.0.client.borrow().clone();
        client.counts(action)
    }

    /// Asks the hooks (see [`HookClient::decide`]).
    pub fn decide(&self, call: HookCall) -> Decision {
        let client = self.0.client.borrow().clone();
        client.decide(call)
    }

    /// Asks the hooks and hands the verdict to `done` later (see
    /// [`HookClient::decide_then`]).
    pub fn decide_then(&self, call: HookCall, done: Verdict) {
        let client = self.0.client.borrow().clone();
        client.decide_then(call, done);
    }

    /// Asks `call`'s first URL (see [`HookClient::ask`]).
    #[cfg(feature = "forward")]
    pub fn ask(&self, call: HookCall) -> Answer {
        let client = self.0.client.borrow().clone();
        client.ask(call)
    }

    /// SRS's `on_forward` to `url` (`SrsHttpHooks::on_forward_backend`): `action`, the ids,
    /// then the publisher's `ip`, `vhost`, `app`, `tcUrl`, `stream` and `param`.
    #[cfg(feature = "forward")]
    pub fn forward_call(&self, url: &str, timeout_ms: u64, client: &Client) -> HookCall {
        let id = self.0.identity.borrow();
        let mut j = JsonWriter(String::with_capacity(512));
        j.str("action", Action::Forward.name());
        j.str("server_id", &id.server_id);
        j.str("service_id", &id.service_id);
        j.str("client_id", &client.cid);
        j.str("ip", &client.ip);
        j.str("vhost", &client.vhost);
        j.str("app", &client.app);
        j.str("tcUrl", &client.tc_url);
        j.str("stream", &client.stream);
        j.str("param", &client.param());
        HookCall {
            action: Action::Forward,
            urls: vec![url.to_owned()],
            body: Bytes::from(j.finish()),
            timeout_ms,
            cid: client.cid.clone(),
            get: None,
        }
    }

    /// Tells the hooks of `action`, if the vhost reports it.
    pub fn notify(&self, vhost: &Vhost, action: Action, client: &Client, extra: &Extra) {
        if let Some(call) = self.call(vhost, action, client, extra) {
            let hook_client = self.0.client.borrow().clone();
            hook_client.notify(call);
        }
    }

    /// A publish was accepted: remembered for its recordings' `on_dvr`.
    pub fn published(&self, client: &Client) {
        let mut recent = self.0.recent.borrow_mut();
        recent.retain(|c| c.key() != client.key());
        if recent.len() >= RECENT_PUBLISHES {
            recent.pop_front();
        }
        recent.push_back(client.clone());
    }

    /// The publisher of `key` last seen (empty names for a stream with none: GB28181).
    pub fn publisher(&self, key: &StreamKey) -> Client {
        let recent = self.0.recent.borrow();
        recent
            .iter()
            .rev()
            .find(|c| c.vhost == key.vhost && c.app == key.app && c.stream == key.stream)
            .cloned()
            .unwrap_or_else(|| Client {
                vhost: key.vhost.clone(),
                app: key.app.clone(),
                stream: key.stream.clone(),
                ..Client::default()
            })
    }
}

/// A recording closed (the hub's `DvrClosed`): `on_dvr`, with the path as written.
pub fn on_dvr(ctx: &super::ServerCtx, key: &StreamKey, path: &std::path::Path) {
    let config = ctx.config();
    let Some(vhost) = config.vhost(&key.vhost) else {
        return;
    };
    let client = ctx.hooks.publisher(key);
    let extra = Extra {
        file: Some(path.display().to_string()),
        ..Extra::default()
    };
    ctx.hooks.notify(vhost, Action::Dvr, &client, &extra);
}

/// Once a second: the HLS segments closed (RAM storage) or written to their files (disk)
/// since, each to `on_hls`. `file` and `m3u8` are the files' paths on disk storage and empty
/// in RAM (there is no file); `url` and `m3u8_url` are the HTTP paths without the leading
/// `/`, as SRS gives them.
#[cfg(feature = "hls")]
pub fn sweep(ctx: &super::ServerCtx, _now_ms: u64) {
    let config = ctx.config();
    for stream in ctx.hls.borrow().values() {
        let mut s = stream.borrow_mut();
        if !s.report_closed {
            continue;
        }
        let closed = s.take_closed();
        if closed.is_empty() {
            continue;
        }
        let key = s.key().clone();
        let Some(vhost) = config.vhost(&key.vhost) else {
            continue;
        };
        let client = ctx.hooks.publisher(&key);
        for seg in closed {
            let files = s.files_of(seg.seq);
            let extra = Extra {
                duration_s: Some(seg.duration_ms as f64 / 1000.0),
                file: files.as_ref().map(|(f, _)| f.display().to_string()),
                url: Some(format!("{}/{}-{}.ts", key.app, key.stream, seg.seq)),
                m3u8: files.as_ref().map(|(_, m)| m.display().to_string()),
                m3u8_url: Some(format!("{}/{}.m3u8", key.app, key.stream)),
                seq_no: Some(seg.seq),
                ..Extra::default()
            };
            ctx.hooks.notify(vhost, Action::Hls, &client, &extra);
            ctx.hooks.notify(vhost, Action::HlsNotify, &client, &extra);
        }
    }
}

/// The bytes of a request, the judgement of its answer, the client's books.
mod request;
pub use request::{
    judge, literal_addr, split_url, AnswerReader, Ledger, Request, Target, MAX_QUEUED,
    MAX_RESPONSE_BODY,
};

#[cfg(test)]
mod tests;
