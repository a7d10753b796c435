//! The heartbeat's timer (`heartbeat.enabled`): every `heartbeat.interval` it has
//! `server::heartbeat` make the body and posts it with the hooks' client (`net::hooks`), which
//! bounds it and logs failures at a limited rate. The first beat goes one interval after the
//! start, as in SRS.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use tokio::time::{interval_at, Instant, MissedTickBehavior};

use super::Shared;
use crate::server::heartbeat;
use crate::server::http::host_and_port;

pub async fn run(shared: Shared) {
    let config = shared.ctx.config();
    let every_ms = config.heartbeat_interval_ms.max(1);
    let every = Duration::from_millis(u64::from(every_ms));
    let ip = device_ip(&config.heartbeat_url);
    // The u32 rather than `every.as_millis()`: a u128's Display costs 1 KB on the router.
    log::info!(
        "heartbeat: POST to {} every {every_ms} ms, ip \"{ip}\"",
        config.heartbeat_url,
    );
    drop(config);
    let mut tick = interval_at(Instant::now() + every, every);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now_ms = shared.clock.now_ms();
        let epoch_now_ms = shared.api.epoch_ms + now_ms;
        let body = heartbeat::body(&shared.ctx, &shared.api, &ip, epoch_now_ms, now_ms);
        shared.ctx.hooks.post(heartbeat::call(&shared.ctx, body));
    }
}

/// The `ip` to report: `$SRS_DEVICE_IP` (SRS's `srs.device.ip`), else the local address the
/// system would use towards the URL's host when that is an IP address (a UDP socket's
/// `connect` sends nothing), else empty (host names are not resolved here).
fn device_ip(url: &str) -> String {
    if let Ok(ip) = std::env::var("SRS_DEVICE_IP") {
        if !ip.is_empty() {
            return ip;
        }
    }
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let (name, port) = host_and_port(authority);
    let Ok(ip) = name.parse::<IpAddr>() else {
        return String::new();
    };
    let port: u16 = port.and_then(|p| p.parse().ok()).unwrap_or(80);
    // Addresses, not text: `bind("0.0.0.0:0")` would link the C library's resolver (28 KB).
    let any: IpAddr = if ip.is_ipv4() {
        Ipv4Addr::UNSPECIFIED.into()
    } else {
        Ipv6Addr::UNSPECIFIED.into()
    };
    UdpSocket::bind(SocketAddr::new(any, 0))
        .and_then(|s| {
            s.connect(SocketAddr::new(ip, port))
                .and_then(|()| s.local_addr())
        })
        .map(|a| a.ip().to_string())
        .unwrap_or_default()
}
