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
//! The answer is read (at most `server::hooks::MAX_RESPONSE_BODY`) and judged like a hook's:
//! anything but HTTP 200/201 with `0` or `{"code":0}` is logged as a failure, at a limited rate.

use super::api::{json, system, ApiSettings};
use super::hooks::{Action, HookCall, JsonWriter};
use super::ServerCtx;

/// Each post's timeout: SRS's HTTP client's default, the hooks' 3 s would cut a slow fleet
/// manager short for no gain (a beat only tells).
pub const TIMEOUT_MS: u64 = 30_000;

/// The heartbeat's JSON body, in SRS's key order (written by hand, as the hooks' payloads:
/// a serde derive costs more code); `ip` is the address to report, `epoch_now_ms` the wall
/// clock and `now_ms` the server clock.
pub fn body(
    ctx: &ServerCtx,
    settings: &ApiSettings,
    ip: &str,
    epoch_now_ms: u64,
    now_ms: u64,
) -> String {
    let config = ctx.config();
    let mut j = JsonWriter(String::with_capacity(256));
    j.str("device_id", &config.heartbeat_device_id);
    j.str("ip", ip);
    j.str("server", &settings.server_id);
    j.str("service", &settings.service_id);
    j.str("pid", &std::process::id().to_string());
    if config.heartbeat_summaries {
        let summaries = system::summaries(ctx, epoch_now_ms, now_ms);
        j.raw(
            "summaries",
            &json::to_string(&summaries).unwrap_or_else(|_| "{}".to_owned()),
        );
    }
    if config.heartbeat_ports {
        // Socket addresses need no escaping.
        let list = |a: std::net::SocketAddr| ["[\"", &a.to_string(), "\"]"].concat();
        j.raw("rtmp", &list(config.listen));
        if config.http.enabled {
            j.raw("http", &list(config.http.listen));
        }
        if config.api.enabled {
            j.raw(
                "api",
                &list(config.api.listen.unwrap_or(config.http.listen)),
            );
        }
    }
    j.finish()
}

/// The call to post: [`body`] to `heartbeat.url`.
pub fn call(ctx: &ServerCtx, body: String) -> HookCall {
    HookCall {
        action: Action::Heartbeat,
        urls: vec![ctx.config().heartbeat_url.clone()],
        body: body.into(),
        timeout_ms: TIMEOUT_MS,
        cid: "heartbeat".to_owned(),
        get: None,
    }
}
