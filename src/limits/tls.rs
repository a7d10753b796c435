//! TLS: what each TLS connection holds beyond its TCP socket (`net::tls::CONNECTION_BYTES`:
//! the send buffer, the record being decrypted, plaintext waiting, the handshake), for every
//! connection that may be one: each connection of the RTMPS server (with its own read
//! buffer), each `rtmps://` forward destination (a `backend` may answer up to
//! `MAX_DESTINATIONS` of them) per stream, each request in flight to an `https://` hook, each
//! `rtsps://` ingest (one camera connection each).

use super::{kib, BudgetLine, Limits};
use crate::config::{Config, MAX_DESTINATIONS};
use crate::net::tls::CONNECTION_BYTES;

/// The "tls" line, when anything may speak TLS.
pub(super) fn line(config: &Config, limits: &Limits) -> Option<BudgetLine> {
    let server = if config.rtmps_enabled {
        limits.connections
    } else {
        0
    };
    let per_server = CONNECTION_BYTES + crate::net::rtmp::READ_BUFFER;
    // HTTPS connections: any of max_connections may be one (its HTTP buffers are counted on
    // the http line).
    let https = if config.http.enabled && config.http.https.enabled {
        limits.connections
    } else {
        0
    };
    let forwards = config
        .vhosts()
        .filter(|v| v.enabled && v.forward.enabled)
        .map(|v| match v.forward.backend.0 {
            Some(_) => MAX_DESTINATIONS,
            None => v.forward.destination.0.iter().filter(|d| d.tls).count(),
        })
        .max()
        .unwrap_or(0)
        .saturating_mul(limits.streams);
    let hooks = https_hook_requests(config);
    let cameras = config.ingests.iter().filter(|i| i.tls()).count();
    let clients = forwards.saturating_add(hooks).saturating_add(cameras);
    if server == 0 && https == 0 && clients == 0 {
        return None;
    }
    Some(BudgetLine {
        what: "tls",
        formula: format!(
            "{server} RTMPS connections (max_connections when rtmps.enabled) x {} + \
             {https} HTTPS connections (max_connections when http_server.https.enabled) x {} + \
             {clients} TLS clients ({forwards} rtmps:// forwards, max_streams x the most per \
             vhost; {hooks} https:// hook requests; {cameras} rtsps:// ingests) x {}",
            kib(per_server),
            kib(CONNECTION_BYTES),
            kib(CONNECTION_BYTES),
        ),
        bytes: (server as u64)
            .saturating_mul(per_server as u64)
            .saturating_add(
                (https as u64)
                    .saturating_add(clients as u64)
                    .saturating_mul(CONNECTION_BYTES as u64),
            ),
    })
}

/// Requests in flight at once to `https://` hook URLs at most.
#[cfg(feature = "hooks")]
fn https_hook_requests(config: &Config) -> usize {
    let urls = super::hooks::urls(config)
        .filter(|u| u.starts_with("https://"))
        .count();
    urls.saturating_mul(crate::net::hooks::MAX_PER_URL)
}

#[cfg(not(feature = "hooks"))]
fn https_hook_requests(_: &Config) -> usize {
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_costs_only_when_something_speaks_it() {
        let off = Limits::of(&Config::embedded()).budget();
        assert!(off.lines.iter().all(|l| l.what != "tls"));
        let on = Config::from_toml_str(
            "max_connections = 10\nmax_streams = 3\n[rtmps]\nenabled = true\n\
             [vhost.__defaultVhost__.forward]\nenabled = true\n\
             destination = [\"127.0.0.1:1935\", \"rtmps://10.0.0.2/a/b\"]\n",
            "test",
        )
        .unwrap();
        let b = Limits::of(&on).budget();
        let line = b.lines.iter().find(|l| l.what == "tls").unwrap();
        let server = 10 * (CONNECTION_BYTES + crate::net::rtmp::READ_BUFFER);
        assert_eq!(line.bytes, (server + 3 * CONNECTION_BYTES) as u64);
    }

    #[cfg(feature = "rtsp")]
    #[test]
    fn rtsps_ingests_are_tls_clients() {
        let config = Config::from_toml_str(
            "[[ingest]]\nurl = \"rtsps://10.0.0.2:7441/cam\"\nstream = \"live/a\"\n\
             [[ingest]]\nurl = \"rtsp://10.0.0.3/cam\"\nstream = \"live/b\"\n",
            "test",
        )
        .unwrap();
        let b = Limits::of(&config).budget();
        let line = b.lines.iter().find(|l| l.what == "tls").unwrap();
        assert_eq!(line.bytes, CONNECTION_BYTES as u64);
        assert!(line.formula.contains("1 rtsps:// ingests"));
    }
}
