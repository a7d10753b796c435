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
//! Not supported yet: `on_hls_notify`, `on_forward`, HTTPS URLs.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::rc::Rc;

use bytes::Bytes;
use serde::Serialize;

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
}

impl Action {
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

    fn key(&self) -> StreamKey {
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

/// The body of one event (`None` fields are not written: the event does not have them).
#[derive(Serialize)]
struct Payload<'a> {
    server_id: &'a str,
    service_id: &'a str,
    action: &'static str,
    client_id: &'a str,
    ip: &'a str,
    vhost: &'a str,
    app: &'a str,
    #[serde(rename = "tcUrl", skip_serializing_if = "Option::is_none")]
    tc_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    param: Option<&'a str>,
    #[serde(rename = "pageUrl", skip_serializing_if = "Option::is_none")]
    page_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    send_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    recv_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cwd: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    m3u8: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    m3u8_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seq_no: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_id: Option<String>,
}

/// The server's identity in the payloads: the API's ids and the working directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub server_id: String,
    pub service_id: String,
    /// SRS's `cwd` (on_dvr, on_hls).
    pub cwd: String,
}

/// The JSON body of `action` for `client`, with the fields SRS gives that event.
pub fn payload(id: &Identity, action: Action, client: &Client, extra: &Extra) -> String {
    use Action::*;
    let param = client.param();
    let key = client.key();
    let stream_fields = !matches!(action, Connect | Close);
    let p = Payload {
        server_id: &id.server_id,
        service_id: &id.service_id,
        action: action.name(),
        client_id: &client.cid,
        ip: &client.ip,
        vhost: &client.vhost,
        app: &client.app,
        tc_url: (action != Close).then_some(client.tc_url.as_str()),
        stream: (action != Close).then_some(client.stream.as_str()),
        param: (action != Close).then_some(param.as_str()),
        page_url: matches!(action, Connect | Play).then_some(client.page_url.as_str()),
        send_bytes: extra.send_bytes.filter(|_| action == Close),
        recv_bytes: extra.recv_bytes.filter(|_| action == Close),
        duration: (action == Hls).then(|| extra.duration_s.unwrap_or(0.0)),
        cwd: matches!(action, Dvr | Hls).then_some(id.cwd.as_str()),
        file: matches!(action, Dvr | Hls).then(|| extra.file.as_deref().unwrap_or("")),
        url: (action == Hls).then(|| extra.url.as_deref().unwrap_or("")),
        m3u8: (action == Hls).then(|| extra.m3u8.as_deref().unwrap_or("")),
        m3u8_url: (action == Hls).then(|| extra.m3u8_url.as_deref().unwrap_or("")),
        seq_no: (action == Hls).then(|| extra.seq_no.unwrap_or(0)),
        stream_url: stream_fields.then(|| stream_url(&key)),
        stream_id: stream_fields.then(|| stream_id(&key)),
    };
    serde_json::to_string(&p).unwrap_or_default()
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

/// Makes the requests (`net::hooks`).
pub trait HookClient {
    /// Posts to every URL in order and says whether all allowed; the caller waits.
    fn decide(&self, call: HookCall) -> Decision;
    /// Posts without waiting; dropped (and counted) when the client's queue is full.
    fn notify(&self, call: HookCall);
}

/// Without a network (unit tests): every decision refuses, notices are dropped.
struct NoClient;

impl HookClient for NoClient {
    fn decide(&self, _: HookCall) -> Decision {
        Box::pin(std::future::ready(Err("no hook client".to_owned())))
    }

    fn notify(&self, _: HookCall) {}
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
        let body = payload(&self.0.identity.borrow(), action, client, extra);
        Some(HookCall {
            action,
            urls: urls.iter().map(str::to_owned).collect(),
            body: Bytes::from(body),
            timeout_ms: u64::from(hooks.timeout_s) * 1000,
            cid: client.cid.clone(),
        })
    }

    /// Asks the hooks (see [`HookClient::decide`]).
    pub fn decide(&self, call: HookCall) -> Decision {
        let client = self.0.client.borrow().clone();
        client.decide(call)
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
        }
    }
}

#[cfg(test)]
mod tests;
