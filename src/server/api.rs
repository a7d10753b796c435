//! SRS's HTTP API (`/api/v1/...`), answered from the hub, the client registry, the config and
//! `/proc`. Pure and synchronous: the HTTP server parses the request, calls [`handle`] with the
//! time, and writes the [`ApiResponse`] back. Nothing here touches a socket or reads the clock.
//!
//! Existing SRS consoles and scripts must work unchanged, so every body matches SRS 5/6 key for
//! key (names, nesting, JSON types; SRS prints floats with two decimals and so do we). The
//! shapes live in `tests/data/srs-api/*.json` and the unit tests compare against them.
//!
//! # Endpoints
//!
//! | path | methods | body |
//! |---|---|---|
//! | `/api/`, `/api` | any | `urls` index |
//! | `/api/v1/`, `/api/v1`, any other `/api/v1/...` | any | `urls` index (SRS's `/api/v1/` mux entry catches unknown paths too) |
//! | `/api/v1/versions` | any | `data{major,minor,revision,version}` of tinysrs |
//! | `/api/v1/summaries` | any | `data{ok,now_ms,self{..},system{..},tinysrs{..}}` |
//! | `/api/v1/rusages` | any | `data{..}` from `getrusage(RUSAGE_SELF)` |
//! | `/api/v1/meminfos` | any | `data{..}` from `/proc/meminfo` |
//! | `/api/v1/authors` | any | `data{license,contributors}` |
//! | `/api/v1/features` | any | `data{options,options2,build,build2,features{..}}` |
//! | `/api/v1/vhosts[/{id}]` | GET | `vhosts[..]` or `vhost{..}` |
//! | `/api/v1/streams[/{id}]` | GET | `streams[..]` or `stream{..}`; `?start=&count=` |
//! | `/api/v1/clients[/{id}]` | GET, DELETE (kick) | `clients[..]` or `client{..}`; `?start=&count=` |
//! | `/api/v1/dvrs` | GET, POST | recordings and recorders; POST `{"action":"start"\|"stop","vhost","app","stream"}` (ours; see `dvr`) |
//! | `/api/v1/dvr/spans`, `/api/v1/dvr/playback` | GET | ours, answered by `server::http::playback` on the disk thread |
//! | `/api/v1/ingests[/{id}]`, `/api/v1/ingests/{id}/restart` | GET, POST (restart) | ours: the `[[ingest]]` cameras and their state (see `ingests`) |
//! | `/api/v1/processes` | GET | ours: the child processes (ingest commands, transcode, exec; see `processes`) |
//!
//! Every success body starts with SRS's envelope `{"code":0,"server":"vid-..","service":"..",
//! "pid":"1234",...}` (all three ids are strings in SRS 5+).
//!
//! JSONP as in SRS: a `callback` query parameter wraps any JSON answer as `callback(...)`
//! (`text/javascript`), and its `method` parameter (GET, PUT, POST, DELETE) stands for the
//! HTTP method, so `?callback=f&method=DELETE` kicks a client from a `<script>` tag.
//!
//! # Errors, as SRS answers them
//!
//! * Unknown vhost/stream/client id: HTTP 200 with only `{"code":2014}` (ERROR_RTMP_VHOST_NOT_FOUND),
//!   `{"code":2048}` (ERROR_RTMP_STREAM_NOT_FOUND) or `{"code":2049}` (ERROR_RTMP_CLIENT_NOT_FOUND).
//!   The id is checked before the method, so `POST /api/v1/streams/nope` is 2048 too.
//! * A method other than GET on vhosts/streams (GET/DELETE on clients): HTTP 405, plain text
//!   `Method Not Allowed`. `DELETE /api/v1/clients/` without an id is `{"code":2049}`.
//! * A path outside `/api/`: HTTP 404, plain text `Not Found` (SRS's mux has no entry).
//! * A path containing `..`: SRS drops the connection (ERROR_HTTP_URL_NOT_CLEAN); we answer 400
//!   `{"code":4002}`. An invalid JSONP callback: likewise 400 `{"code":4058}` (ERROR_HTTP_JSONP).
//! * Credentials configured (`http_api.auth`) and no valid `Authorization: Basic ...`: HTTP
//!   401, empty body, `WWW-Authenticate: Basic realm="tinysrs"`. OPTIONS is answered (200,
//!   empty) before the check, since CORS preflights carry no credentials, as in SRS.
//!
//! # Where tinysrs differs from SRS, and why
//!
//! * `/api/v1/streams` and the other collections without the trailing slash are answered
//!   directly; SRS answers 302 to the slash form, which a client following it ends up at anyway.
//! * Ids are stable hashes, not random: a vhost is `vid-` + 7 base-36 digits of FNV-1a(name), a
//!   stream `vid-` + 7 digits of FNV-1a(its SRS url, e.g. `/live/cam1`), so a script can keep
//!   an id across server restarts. A client is its connection's context id (the 8 characters
//!   in its log lines), as in SRS. The server id is `vid-` + a hash of the host name; the
//!   service id changes every start (see [`ApiSettings::new`]).
//! * Lists hold what is alive now: configured vhosts (SRS: vhosts that have seen a client),
//!   streams with a publisher or a player, clients that publish or play (a connection that has
//!   not asked for a stream yet is not listed, as in SRS). Byte counts are those of the clients
//!   connected now; SRS keeps counting after they leave.
//! * A GB28181 camera channel is its stream's publisher, client type `gb28181-publish`, with the
//!   camera's address and every RTP packet's bytes (SRS 5+ relays such a stream through RTMP
//!   to itself and lists that `fmle-publish` client from 127.0.0.1).
//! * A stream's `recv_bytes`/`kbps.recv_30s` are its publisher's, its `send_bytes`/
//!   `kbps.send_30s` the sum of its players'; `clients` counts publisher and players; `frames`
//!   counts video frames as SRS does.
//! * `audio.sample_rate`/`channel` come from the AudioSpecificConfig (48000 is 48000, the
//!   output rate for explicit HE-AAC); SRS reports the FLV header's rate class (44100 for
//!   any rate over 22050) and its mono/stereo bit.
//! * `/api/v1/summaries` fills from `/proc` and `getrusage` where Linux has the value;
//!   `self.cpu_percent` is our CPU share over the last second as in SRS (sampled once a
//!   second), with 4 decimals rather than SRS's 2 so that a light load does not read 0; the
//!   other percentages are averages since boot (SRS samples them), the disk fields are 0 (not
//!   sampled), and network devices are split into `lo` (intranet) and
//!   every other device (internet) since we do not look up interface addresses. It has one
//!   key SRS lacks, `data.tinysrs{connections,tasks,sources,players,clients,..}`: what is alive
//!   now, for leak checks, and `budget_bytes`, the config's worst-case memory (the web console
//!   shows it beside the RSS) (consoles ignore it; SRS's keys are all there, in SRS's order).
//! * Not served (they fall to the `/api/v1/` index like any unknown path): `self_proc_stats`,
//!   `system_proc_stats`, `requests`, `raw`, `clusters` (without the `edge` feature), `perf`,
//!   `tcmalloc`, `tests/*`, `rtc/*`.

/// SRS's origin cluster: where a stream is published.
#[cfg(feature = "edge")]
mod clusters;
#[cfg(feature = "dvr")]
mod dvr;
#[cfg(feature = "rtsp")]
mod ingests;
pub mod json;
pub mod logins;
mod media;
pub(crate) mod objects;
#[cfg(feature = "exec")]
mod processes;
pub(crate) mod system;

#[cfg(test)]
mod tests;

use serde::Serialize;

use super::ServerCtx;
use crate::config::ApiAuth;
use crate::wire::base64;
pub use crate::wire::http::Method;

/// SRS error codes (trunk/src/kernel/srs_kernel_error.hpp).
pub mod code {
    pub const SUCCESS: i32 = 0;
    pub const RTMP_VHOST_NOT_FOUND: i32 = 2014;
    pub const RTMP_STREAM_NOT_FOUND: i32 = 2048;
    pub const RTMP_CLIENT_NOT_FOUND: i32 = 2049;
    pub const HTTP_URL_NOT_CLEAN: i32 = 4002;
    pub const HTTP_JSONP: i32 = 4058;
    /// ERROR_HTTP_DVR_DISABLED: recording is off on the vhost.
    pub const HTTP_DVR_DISABLED: i32 = 3050;
    /// ERROR_HTTP_DVR_REQUEST: a DVR request without a valid action or stream.
    pub const HTTP_DVR_REQUEST: i32 = 3051;
    /// ERROR_HTTP_JSON_REQUIRED: a DVR request whose body is not JSON.
    pub const HTTP_JSON_REQUIRED: i32 = 3052;
}

/// The worst-case memory of a config (`limits::Limits::of(c).budget().total`, what
/// `tinysrs -t` prints), installed by `main` at start: `limits` sits above `server`, which
/// cannot ask it. Without it `tinysrs_memory_budget_bytes` (metrics) is left out and
/// `/api/v1/summaries`' `tinysrs.budget_bytes` is null.
pub static MEMORY_BUDGET: std::sync::OnceLock<fn(&crate::config::Config) -> u64> =
    std::sync::OnceLock::new();

/// `count` for the stream and client lists when the query gives less (SRS:
/// `srs_max(10, atoi(count))`, so asking for fewer than 10 still gets up to 10).
pub const MIN_PAGE_COUNT: usize = 10;

/// Longest JSONP callback name accepted. SRS has no cap; the name is echoed into the body.
pub const MAX_JSONP_CALLBACK: usize = 128;

/// One API request, already parsed by the HTTP server.
#[derive(Debug, Clone, Copy)]
pub struct ApiRequest<'a> {
    pub method: Method,
    /// The percent-decoded path, e.g. `/api/v1/streams/vid-0a1b2c3`.
    pub path: &'a str,
    /// The raw query string without `?`, e.g. `start=0&count=20`.
    pub query: &'a str,
    /// The `Authorization` header's value, if any.
    pub authorization: Option<&'a str>,
    /// The request body (at most `http_server.max_body_bytes`); only `POST /api/v1/dvrs`
    /// reads it.
    pub body: &'a [u8],
}

/// What to send back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiResponse {
    pub status: u16,
    /// `application/json`, except `text/plain; charset=utf-8` for SRS's plain-text HTTP
    /// errors (404, 405) and `text/javascript` for JSONP.
    pub content_type: &'static str,
    pub body: String,
    /// `WWW-Authenticate` on 401. CORS headers are the HTTP server's (`http_server.crossdomain`).
    pub extra_headers: Vec<(&'static str, String)>,
}

pub const CONTENT_TYPE_JSON: &str = "application/json";
pub const CONTENT_TYPE_TEXT: &str = "text/plain; charset=utf-8";
pub const CONTENT_TYPE_JSONP: &str = "text/javascript";

/// What the API needs besides the [`ServerCtx`]: made once at start by the driver (which may
/// read the wall clock), then passed to every [`handle`] call. Credentials come from the
/// config in force (`http_api.auth`), so a reload changes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiSettings {
    /// Wall-clock time, in ms since the Unix epoch, at server clock 0. SRS's time fields
    /// (`live_ms`, `now_ms`, `sample_time`) are epoch ms: `epoch_ms + now_ms`.
    pub epoch_ms: u64,
    /// SRS's `server` id: stable for the machine.
    pub server_id: String,
    /// SRS's `service` id: new for every process.
    pub service_id: String,
    /// The addresses we listen on (`/api/v1/clusters` gives them to coworkers).
    pub listens: Listens,
}

/// The addresses the server bound (a port 0 in the config is the port it got).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Listens {
    pub rtmp: Option<std::net::SocketAddr>,
    /// The API's: its own port, or the HTTP server's.
    pub api: Option<std::net::SocketAddr>,
}

impl ApiSettings {
    /// `epoch_ms`: the wall clock at server clock 0; `service_seed`: any per-process random
    /// value (it becomes the 8-character service id). The server id is `vid-` + 7 base-36
    /// digits of a hash of the host name (`/proc/sys/kernel/hostname`), so it survives
    /// restarts as SRS's stored one does.
    pub fn new(epoch_ms: u64, service_seed: u64) -> ApiSettings {
        let host = system::hostname().unwrap_or_else(|| "localhost".to_owned());
        ApiSettings {
            epoch_ms,
            server_id: format!(
                "vid-{}",
                objects::base36(objects::fnv1a(host.as_bytes()), 7)
            ),
            service_id: objects::base36(service_seed, 8),
            listens: Listens::default(),
        }
    }
}

/// Once a second, from the driver's sweep: samples our CPU time for `self.cpu_percent`
/// (`getrusage(2)`, a system call like the one `/api/v1/rusages` makes; no file is read).
pub fn sweep(ctx: &ServerCtx, now_ms: u64) {
    if let Some(cpu_us) = system::cpu_time_us() {
        ctx.cpu.sample(now_ms, cpu_us);
    }
}

/// Answers one API request. `now_ms` is the server clock (ms since start).
pub fn handle(
    ctx: &ServerCtx,
    settings: &ApiSettings,
    now_ms: u64,
    req: &ApiRequest<'_>,
) -> ApiResponse {
    handle_with(ctx, settings, now_ms, req, |api, method, path, query| {
        api.route(method, path, query)
    })
}

/// Answers an API request for an endpoint kept outside this module (GB28181): the same
/// JSONP, preflight, auth and URL checks as [`handle`], and `answer(path)` (the endpoint's
/// own keys, SRS code) in SRS's envelope.
pub fn handle_extension(
    ctx: &ServerCtx,
    settings: &ApiSettings,
    now_ms: u64,
    req: &ApiRequest<'_>,
    answer: impl FnOnce(&str) -> (String, i32),
) -> ApiResponse {
    handle_with(ctx, settings, now_ms, req, |api, _, path, _| {
        let (object, code) = answer(path);
        api.envelope_json(code, &object)
    })
}

fn handle_with(
    ctx: &ServerCtx,
    settings: &ApiSettings,
    now_ms: u64,
    req: &ApiRequest<'_>,
    route: impl FnOnce(&Api<'_>, Method, &str, &str) -> Reply,
) -> ApiResponse {
    let query = req.query.strip_prefix('?').unwrap_or(req.query);
    // SRS parses JSONP while reading the request line, before CORS and auth.
    let jsonp = match Jsonp::from_query(query) {
        Ok(j) => j,
        Err(()) => return finish(Reply::Error(400, code::HTTP_JSONP), None),
    };
    if req.method == Method::Options {
        // SRS's CORS mux (crossdomain on by default) answers preflights before auth.
        return finish(Reply::Empty(200), None);
    }
    let config = ctx.config();
    let method = jsonp.as_ref().and_then(|j| j.method).unwrap_or(req.method);
    if !authorized(config.api.auth.as_ref(), method, req.authorization) {
        let mut resp = finish(Reply::Empty(401), None);
        resp.extra_headers
            .push(("WWW-Authenticate", "Basic realm=\"tinysrs\"".to_owned()));
        return resp;
    }
    if req.path.contains("..") {
        return finish(Reply::Error(400, code::HTTP_URL_NOT_CLEAN), None);
    }
    let api = Api {
        ctx,
        settings,
        now_ms,
        pid: std::process::id().to_string(),
        body: req.body,
    };
    let reply = route(&api, method, req.path, query);
    finish(reply, jsonp.as_ref().map(|j| j.callback))
}

/// What a handler produced, before JSONP wrapping.
enum Reply {
    /// 200 with this JSON body.
    Json(String),
    /// 200 with `{"code":N}` only (SRS's `srs_api_response_code`).
    Code(i32),
    /// This status with `{"code":N}` (our answer where SRS drops the connection).
    Error(u16, i32),
    /// This status with SRS's plain-text reason phrase (`srs_go_http_error`).
    Http(u16),
    /// This status with an empty body (OPTIONS, 401).
    Empty(u16),
}

fn finish(reply: Reply, jsonp: Option<&str>) -> ApiResponse {
    let (status, json) = match reply {
        Reply::Json(body) => (200, body),
        Reply::Code(c) => (200, code_body(c)),
        Reply::Error(status, c) => (status, code_body(c)),
        Reply::Http(status) => {
            let body = match status {
                404 => "Not Found",
                405 => "Method Not Allowed",
                500 => "Internal Server Error",
                _ => "Bad Request",
            };
            return ApiResponse {
                status,
                content_type: CONTENT_TYPE_TEXT,
                body: body.to_owned(),
                extra_headers: Vec::new(),
            };
        }
        Reply::Empty(status) => (status, String::new()),
    };
    let (content_type, body) = match jsonp {
        Some(callback) if !json.is_empty() => (CONTENT_TYPE_JSONP, format!("{callback}({json})")),
        _ => (CONTENT_TYPE_JSON, json),
    };
    ApiResponse {
        status,
        content_type,
        body,
        extra_headers: Vec::new(),
    }
}

fn code_body(code: i32) -> String {
    format!("{{\"code\":{code}}}")
}

/// A JSONP request (SRS: a non-empty `callback` query parameter), whose `method` parameter
/// overrides the HTTP method (GET, PUT, POST, DELETE).
struct Jsonp<'a> {
    callback: &'a str,
    method: Option<Method>,
}

impl<'a> Jsonp<'a> {
    /// `Ok(None)`: not JSONP. `Err`: a callback SRS refuses (only `[A-Za-z0-9_.-]`).
    fn from_query(query: &'a str) -> Result<Option<Jsonp<'a>>, ()> {
        let callback = query_get(query, "callback").unwrap_or("");
        if callback.is_empty() {
            return Ok(None);
        }
        let valid = callback.len() <= MAX_JSONP_CALLBACK
            && callback
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !valid {
            return Err(());
        }
        let method = match query_get(query, "method") {
            Some("GET") => Some(Method::Get),
            Some("PUT") => Some(Method::Put),
            Some("POST") => Some(Method::Post),
            Some("DELETE") => Some(Method::Delete),
            _ => None,
        };
        Ok(Some(Jsonp { callback, method }))
    }
}

/// The first value of `key` in a query string (no percent-decoding: the API's values are
/// numbers and JSONP names).
fn query_get<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == key).then_some(v)
    })
}

/// C's `atoi` as SRS uses it for `start`/`count`: optional blanks and sign, then digits up to
/// the first non-digit; 0 if none; saturated to `i32` (C leaves overflow undefined).
fn atoi(s: &str) -> i64 {
    let s = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (negative, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut v: i64 = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        v = (v * 10 + i64::from(b - b'0')).min(i64::from(i32::MAX) + 1);
    }
    let v = if negative { -v } else { v };
    v.clamp(i64::from(i32::MIN), i64::from(i32::MAX))
}

/// `?start=&count=` as SRS reads them: start at least 0, count at least [`MIN_PAGE_COUNT`].
fn page(query: &str) -> (usize, usize) {
    let start = atoi(query_get(query, "start").unwrap_or("")).max(0);
    let count = atoi(query_get(query, "count").unwrap_or("")).max(MIN_PAGE_COUNT as i64);
    (start as usize, count as usize)
}

/// Checks HTTP basic credentials (RFC 7617) when some are configured.
/// Whether a request with `method` (after SRS's JSONP `method=`) and `authorization` may use
/// the API: yes with no credentials configured, or for `GET`/`HEAD` with `read_only_open`;
/// otherwise the configured user and password (none yet read: no).
pub fn authorized(auth: Option<&ApiAuth>, method: Method, authorization: Option<&str>) -> bool {
    let Some(auth) = auth else {
        return true;
    };
    if auth.read_only_open && matches!(method, Method::Get | Method::Head) {
        return true;
    }
    let (user, Some(password)) = (&auth.username, &auth.password) else {
        return false;
    };
    let Some(header) = authorization else {
        return false;
    };
    let header = header.trim();
    let Some((scheme, token)) = header.split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    let Some(plain) = base64::decode(token.trim().as_bytes()) else {
        return false;
    };
    // The user-id cannot hold ':' (RFC 7617 §2); the password may.
    let Some(colon) = plain.iter().position(|&b| b == b':') else {
        return false;
    };
    let (u, p) = (&plain[..colon], &plain[colon + 1..]);
    // Both compared in full, so the time does not tell which one was wrong.
    let user_ok = constant_time_eq(u, user.as_bytes());
    let password_ok = constant_time_eq(p, password.as_bytes());
    user_ok & password_ok
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// SRS's envelope: `code`, `server`, `service`, `pid`; the endpoint's own keys follow
/// ([`Api::envelope_json`]). Not a `#[serde(flatten)]` of the body: flatten buffers through
/// serde's private `Content` tree, about 3.6 KB of the router binary.
#[derive(Serialize)]
struct Envelope<'a> {
    code: i32,
    server: &'a str,
    service: &'a str,
    pid: &'a str,
}

#[derive(Serialize)]
struct Data<T: Serialize> {
    data: T,
}

#[derive(Serialize)]
struct Nothing {}

#[derive(Serialize)]
struct Urls<T: Serialize> {
    urls: T,
}

#[derive(Serialize)]
struct ApiIndex {
    v1: &'static str,
}

/// `/api/v1/` index: what SRS lists, for the endpoints tinysrs serves (SRS's descriptions).
#[derive(Serialize)]
struct V1Index {
    versions: &'static str,
    summaries: &'static str,
    rusages: &'static str,
    meminfos: &'static str,
    authors: &'static str,
    features: &'static str,
    vhosts: &'static str,
    streams: &'static str,
    clients: &'static str,
}

const V1_INDEX: V1Index = V1Index {
    versions: "the version of SRS",
    summaries: "the summary(pid, argv, pwd, cpu, mem) of SRS",
    rusages: "the rusage of SRS",
    meminfos: "the meminfo of system",
    authors: "the license, copyright, authors and contributors",
    features: "the supported features of SRS",
    vhosts: "manage all vhosts or specified vhost",
    streams: "manage all streams or specified stream",
    clients: "manage all clients or specified client, default query top 10 clients",
};

#[derive(Serialize)]
struct Version {
    major: u32,
    minor: u32,
    revision: u32,
    version: &'static str,
}

#[derive(Serialize)]
struct Authors {
    license: &'static str,
    contributors: &'static str,
}

#[derive(Serialize)]
struct Features {
    options: &'static str,
    options2: &'static str,
    build: &'static str,
    build2: &'static str,
    features: FeatureFlags,
}

/// SRS's feature switches, answered for tinysrs as built.
#[derive(Serialize)]
struct FeatureFlags {
    ssl: bool,
    hls: bool,
    hds: bool,
    callback: bool,
    api: bool,
    httpd: bool,
    dvr: bool,
    transcode: bool,
    ingest: bool,
    stat: bool,
    caster: bool,
    complex_send: bool,
    tcp_nodelay: bool,
    so_sendbuf: bool,
    mr: bool,
}

/// The Cargo features built in, as SRS's `options` (its configure flags).
fn build_options() -> &'static str {
    if cfg!(feature = "rtmp") {
        "rtmp"
    } else {
        ""
    }
}

/// One request's view of the server.
struct Api<'a> {
    ctx: &'a ServerCtx,
    settings: &'a ApiSettings,
    now_ms: u64,
    pid: String,
    /// Only `POST /api/v1/dvrs` reads it.
    #[cfg_attr(not(feature = "dvr"), allow(dead_code))]
    body: &'a [u8],
}

impl Api<'_> {
    fn epoch_now_ms(&self) -> u64 {
        self.settings.epoch_ms.saturating_add(self.now_ms)
    }

    fn ok<T: Serialize>(&self, body: T) -> Reply {
        self.envelope(code::SUCCESS, body)
    }

    /// `body`'s keys after SRS's envelope, with `code`.
    fn envelope<T: Serialize>(&self, code: i32, body: T) -> Reply {
        match json::to_string(&body) {
            Ok(object) => self.envelope_json(code, &object),
            // Our types always serialize; keep the connection useful if one ever does not.
            Err(_) => Reply::Http(500),
        }
    }

    /// SRS's envelope with `code`, then the endpoint's keys, given as the text of a JSON
    /// object (`{}`: none).
    fn envelope_json(&self, code: i32, object: &str) -> Reply {
        let envelope = Envelope {
            code,
            server: &self.settings.server_id,
            service: &self.settings.service_id,
            pid: &self.pid,
        };
        let Ok(mut json) = json::to_string(&envelope) else {
            return Reply::Http(500);
        };
        if let Some(keys) = object.trim().strip_prefix('{') {
            if keys.trim_start() != "}" {
                json.pop();
                json.push(',');
                json.push_str(keys);
            }
        }
        Reply::Json(json)
    }

    fn route(&self, method: Method, path: &str, query: &str) -> Reply {
        if let Some(rest) = path.strip_prefix("/api/v1/vhosts") {
            if let Some(id) = rest_id(rest) {
                return self.vhosts(method, id);
            }
        }
        if let Some(rest) = path.strip_prefix("/api/v1/streams") {
            if let Some(id) = rest_id(rest) {
                return self.streams(method, id, query);
            }
        }
        if let Some(rest) = path.strip_prefix("/api/v1/clients") {
            if let Some(id) = rest_id(rest) {
                return self.clients(method, id, query);
            }
        }
        #[cfg(feature = "rtsp")]
        if let Some(rest) = path.strip_prefix("/api/v1/ingests").and_then(rest_id) {
            return ingests::handle(self, method, rest);
        }
        #[cfg(feature = "exec")]
        if let Some("") = path.strip_prefix("/api/v1/processes").and_then(rest_id) {
            return processes::handle(self, method);
        }
        #[cfg(feature = "dvr")]
        if let Some("") = path.strip_prefix("/api/v1/dvrs").and_then(rest_id) {
            return dvr::handle(self, method, query);
        }
        #[cfg(feature = "edge")]
        if let Some("") = path.strip_prefix("/api/v1/clusters").and_then(rest_id) {
            return clusters::handle(self, query);
        }
        match path {
            "/api/v1/versions" => self.ok(Data {
                data: Version {
                    major: parse_u32(env!("CARGO_PKG_VERSION_MAJOR")),
                    minor: parse_u32(env!("CARGO_PKG_VERSION_MINOR")),
                    revision: parse_u32(env!("CARGO_PKG_VERSION_PATCH")),
                    version: env!("CARGO_PKG_VERSION"),
                },
            }),
            "/api/v1/summaries" => self.ok(Data {
                data: system::summaries(self.ctx, self.epoch_now_ms(), self.now_ms)
                    .with_rtmp_port(self.settings.listens.rtmp.map(|a| a.port())),
            }),
            "/api/v1/rusages" => self.ok(Data {
                data: system::rusage(self.epoch_now_ms()),
            }),
            "/api/v1/meminfos" => self.ok(Data {
                data: system::meminfo(self.epoch_now_ms()),
            }),
            "/api/v1/authors" => self.ok(Data {
                data: Authors {
                    license: env!("CARGO_PKG_LICENSE"),
                    contributors: env!("CARGO_PKG_AUTHORS"),
                },
            }),
            "/api/v1/features" => self.ok(Data {
                data: Features {
                    options: build_options(),
                    options2: build_options(),
                    // Set by the packaging script when it wants a date in the API.
                    build: option_env!("TINYSRS_BUILD_DATE").unwrap_or(""),
                    build2: option_env!("TINYSRS_BUILD_DATE").unwrap_or(""),
                    features: FeatureFlags {
                        ssl: false,
                        // HTTP-FLV/TS, HLS and static files share the HTTP server.
                        hls: true,
                        hds: false,
                        callback: false,
                        api: true,
                        httpd: true,
                        dvr: cfg!(feature = "dvr"),
                        transcode: false,
                        ingest: false,
                        stat: true,
                        caster: false,
                        // Players are written with writev batches and TCP_NODELAY is a
                        // vhost setting; reads are not merged.
                        complex_send: true,
                        tcp_nodelay: true,
                        so_sendbuf: false,
                        mr: false,
                    },
                },
            }),
            "/api" | "/api/" => self.ok(Urls {
                urls: ApiIndex {
                    v1: "the api version 1.0",
                },
            }),
            _ if path == "/api/v1" || path.starts_with("/api/v1/") => {
                self.ok(Urls { urls: V1_INDEX })
            }
            _ if path.starts_with("/api/") => self.ok(Urls {
                urls: ApiIndex {
                    v1: "the api version 1.0",
                },
            }),
            _ => Reply::Http(404),
        }
    }

    fn vhosts(&self, method: Method, id: &str) -> Reply {
        let config = self.ctx.config();
        let clients = objects::stream_clients(self.ctx);
        let streams = objects::live_streams(self.ctx);
        let mut vhosts = config.vhosts();
        let found = if id.is_empty() {
            None
        } else {
            match vhosts.find(|v| objects::vhost_id(&v.name) == id) {
                Some(v) => Some(v),
                None => return Reply::Code(code::RTMP_VHOST_NOT_FOUND),
            }
        };
        if method != Method::Get {
            return Reply::Http(405);
        }
        #[derive(Serialize)]
        struct List {
            vhosts: Vec<objects::VhostObject>,
        }
        #[derive(Serialize)]
        struct One {
            vhost: objects::VhostObject,
        }
        match found {
            Some(v) => self.ok(One {
                vhost: objects::vhost(v, &clients, &streams),
            }),
            None => self.ok(List {
                vhosts: config
                    .vhosts()
                    .map(|v| objects::vhost(v, &clients, &streams))
                    .collect(),
            }),
        }
    }

    fn streams(&self, method: Method, id: &str, query: &str) -> Reply {
        let streams = objects::live_streams(self.ctx);
        let found = if id.is_empty() {
            None
        } else {
            match streams.iter().find(|s| s.id == id) {
                Some(s) => Some(s),
                None => return Reply::Code(code::RTMP_STREAM_NOT_FOUND),
            }
        };
        if method != Method::Get {
            return Reply::Http(405);
        }
        let clients = objects::stream_clients(self.ctx);
        let epoch_now_ms = self.epoch_now_ms();
        #[derive(Serialize)]
        struct List {
            streams: Vec<objects::StreamObject>,
        }
        #[derive(Serialize)]
        struct One {
            stream: objects::StreamObject,
        }
        let stream = |s: &objects::LiveStream| {
            let mut obj = objects::stream(s, &clients, epoch_now_ms);
            obj.dvr = stream_dvr(self.ctx, &s.source.borrow().key);
            #[cfg(feature = "forward")]
            {
                obj.forwards = crate::server::forward::objects(self.ctx, &s.source.borrow().key);
            }
            #[cfg(feature = "edge")]
            {
                obj.edge = crate::server::edge::object(self.ctx, &s.source.borrow().key);
            }
            obj
        };
        match found {
            Some(s) => self.ok(One { stream: stream(s) }),
            None => {
                let (start, count) = page(query);
                self.ok(List {
                    streams: streams.iter().skip(start).take(count).map(stream).collect(),
                })
            }
        }
    }

    fn clients(&self, method: Method, id: &str, query: &str) -> Reply {
        let clients = objects::stream_clients(self.ctx);
        let found = if id.is_empty() {
            None
        } else {
            match clients.iter().find(|c| c.record.cid == id) {
                Some(c) => Some(c),
                None => return Reply::Code(code::RTMP_CLIENT_NOT_FOUND),
            }
        };
        #[derive(Serialize)]
        struct List {
            clients: Vec<objects::ClientObject>,
        }
        #[derive(Serialize)]
        struct One {
            client: objects::ClientObject,
        }
        match (method, found) {
            (Method::Get, Some(c)) => self.ok(One {
                client: objects::client(c, self.now_ms),
            }),
            (Method::Get, None) => {
                let (start, count) = page(query);
                self.ok(List {
                    clients: clients
                        .iter()
                        .skip(start)
                        .take(count)
                        .map(|c| objects::client(c, self.now_ms))
                        .collect(),
                })
            }
            (Method::Delete, Some(c)) => {
                log::warn!("[{}] kicked off by the HTTP API", c.record.cid);
                c.record.kick();
                self.ok(Nothing {})
            }
            (Method::Delete, None) => Reply::Code(code::RTMP_CLIENT_NOT_FOUND),
            _ => Reply::Http(405),
        }
    }
}

/// The recorder of `key` for `/api/v1/streams`, when the build records.
fn stream_dvr(ctx: &ServerCtx, key: &crate::live::StreamKey) -> Option<objects::DvrObject> {
    #[cfg(feature = "dvr")]
    return ctx.dvr.stream(key).as_ref().map(dvr::object);
    #[cfg(not(feature = "dvr"))]
    {
        let _ = (ctx, key);
        None
    }
}

/// The id after a collection's name: `""` for the collection itself (with or without the
/// trailing slash), `Some(id)` after the slash (SRS's `parse_rest_id`: everything after
/// the pattern, slashes included), `None` if `rest` continues the name (`/api/v1/streamsX`).
fn rest_id(rest: &str) -> Option<&str> {
    if rest.is_empty() {
        Some("")
    } else {
        rest.strip_prefix('/')
    }
}

fn parse_u32(s: &str) -> u32 {
    s.parse().unwrap_or(0)
}
