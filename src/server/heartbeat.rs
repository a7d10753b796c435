//! SRS's heartbeat (`heartbeat { enabled; interval; url; device_id; summaries; ports; }`,
//! srs_app_heartbeat.cpp): the body POSTed to `heartbeat.url` every `heartbeat.interval`.
//! Pure: `net::heartbeat` keeps the time, finds the `ip` and posts with the hooks' client.
//!
//! The body, key for key as SRS 6 makes it: `device_id`, `ip`, `server`, `service`, `pid`
//! (a string), then with `summaries` the `data` object of `/api/v1/summaries`, and with `ports`
//! the listen addresses as arrays of strings: `rtmp` always, `http` with the HTTP server on,
//! `api` with the API on (its own port, else the HTTP server's). SRS's `srt`, `rtsp` and `rtc`
//! arrays are never sent: we serve none of them.
//!
//! The answer is read (at most `net::hooks::MAX_RESPONSE_BODY`) and judged like a hook's:
//! anything but HTTP 200/201 with `0` or `{"code":0}` is logged as a failure, at a limited rate.

use serde::Serialize;

use super::api::{system, ApiSettings};
use super::hooks::{Action, HookCall};
use super::ServerCtx;

/// Each post's timeout: SRS's HTTP client's default, the hooks' 3 s would cut a slow fleet
/// manager short for no gain (a beat only tells).
pub const TIMEOUT_MS: u64 = 30_000;

/// The body, in SRS's key order.
#[derive(Serialize)]
struct Body<'a> {
    device_id: &'a str,
    ip: &'a str,
    server: &'a str,
    service: &'a str,
    pid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    summaries: Option<system::Summaries>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rtmp: Option<[String; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    http: Option<[String; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    api: Option<[String; 1]>,
}

/// The heartbeat's JSON body; `ip` is the address to report, `epoch_now_ms` the wall clock and
/// `now_ms` the server clock.
pub fn body(
    ctx: &ServerCtx,
    settings: &ApiSettings,
    ip: &str,
    epoch_now_ms: u64,
    now_ms: u64,
) -> String {
    let config = ctx.config();
    let ports = config.heartbeat_ports;
    let body = Body {
        device_id: &config.heartbeat_device_id,
        ip,
        server: &settings.server_id,
        service: &settings.service_id,
        pid: std::process::id().to_string(),
        summaries: config
            .heartbeat_summaries
            .then(|| system::summaries(ctx, epoch_now_ms, now_ms)),
        rtmp: ports.then(|| [config.listen.to_string()]),
        http: (ports && config.http.enabled).then(|| [config.http.listen.to_string()]),
        api: (ports && config.api.enabled)
            .then(|| [config.api.listen.unwrap_or(config.http.listen).to_string()]),
    };
    serde_json::to_string(&body).unwrap_or_default()
}

/// The call to post: [`body`] to `heartbeat.url`.
pub fn call(ctx: &ServerCtx, body: String) -> HookCall {
    HookCall {
        action: Action::Heartbeat,
        urls: vec![ctx.config().heartbeat_url.clone()],
        body: body.into(),
        timeout_ms: TIMEOUT_MS,
        cid: "heartbeat".to_owned(),
    }
}
