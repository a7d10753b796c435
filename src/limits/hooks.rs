//! HTTP callbacks: the requests in flight (8 per hook URL, each with its read buffer, the
//! response head and body it may hold), the notices queued, a waiting decision per
//! connection, the publishes remembered for on_dvr and the HLS segments waiting for on_hls.

use super::{kib, BudgetLine, Limits};
use crate::config::Config;
use crate::net::hooks::MAX_PER_URL;
use crate::server::hooks::RECENT_PUBLISHES;
use crate::server::hooks::{MAX_QUEUED, MAX_RESPONSE_BODY};
use crate::wire::http::MAX_HEAD_LEN;

/// One call (its JSON body, URL list and names), rounded up: names are at most 256 bytes
/// each, the tcUrl and pageUrl 512.
const CALL_BYTES: usize = 4096;
/// A request in flight beyond its call: the read buffer (4 KiB), the request's bytes.
const REQUEST_BYTES: usize = 8192;
/// One remembered publisher (eight strings, as a call's names).
const CLIENT_BYTES: usize = 3072;
/// The closed segments one stream may keep for on_hls (none without HLS).
#[cfg(feature = "hls")]
const HLS_WAITING: usize = crate::server::hls::MAX_UNREPORTED * 16;
#[cfg(not(feature = "hls"))]
const HLS_WAITING: usize = 0;

/// Every hook URL of every enabled vhost with hooks on, once per place it is written.
pub(super) fn urls(config: &Config) -> impl Iterator<Item = &str> {
    config
        .vhosts()
        .filter(|v| v.enabled && v.http_hooks.enabled)
        .flat_map(|v| {
            let h = &v.http_hooks;
            [
                &h.on_connect,
                &h.on_close,
                &h.on_publish,
                &h.on_unpublish,
                &h.on_play,
                &h.on_stop,
                &h.on_dvr,
                &h.on_hls,
                &h.on_hls_notify,
            ]
            .into_iter()
            .flat_map(|u| u.0.iter().map(String::as_str))
        })
}

/// The "hooks" line, when a vhost has them: every hook URL with MAX_PER_URL requests
/// in flight, each holding a call, its buffers, a response head and the largest body; the
/// queued notices; a decision waiting per connection; the publishes remembered for on_dvr;
/// the segments waiting for on_hls in every stream.
pub(super) fn line(config: &Config, limits: &Limits) -> Option<BudgetLine> {
    // Every URL of every event counts, the same URL in two places twice: a worst case.
    let urls = urls(config).count();
    if urls == 0 {
        return None;
    }
    let per_request = CALL_BYTES + REQUEST_BYTES + MAX_HEAD_LEN + MAX_RESPONSE_BODY;
    // In u64: the URLs of every vhost x the calls in flight pass 4 GiB on a 32-bit target.
    let in_flight = (urls as u64).saturating_mul((MAX_PER_URL * per_request) as u64);
    let queued = MAX_QUEUED * CALL_BYTES;
    let waiting = limits.connections.saturating_mul(CALL_BYTES);
    let remembered = limits
        .streams
        .saturating_mul(HLS_WAITING)
        .saturating_add(RECENT_PUBLISHES * CLIENT_BYTES);
    Some(BudgetLine {
        what: "hooks",
        formula: format!(
            "{} hook URLs x {MAX_PER_URL} in flight x {} (call, buffers, head, body up to {}) \
             + {MAX_QUEUED} queued notices x {} + max_connections {} x {} waiting decisions \
             + {} (publishes for on_dvr, segments for on_hls)",
            urls,
            kib(per_request),
            kib(MAX_RESPONSE_BODY),
            kib(CALL_BYTES),
            limits.connections,
            kib(CALL_BYTES),
            kib(remembered),
        ),
        bytes: in_flight
            .saturating_add(queued as u64)
            .saturating_add(waiting as u64)
            .saturating_add(remembered as u64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hooks_cost_their_urls_requests_in_flight() {
        let off = Limits::of(&Config::embedded()).budget();
        assert!(
            off.lines.iter().all(|l| l.what != "hooks"),
            "off by default"
        );
        let on = Config::from_toml_str(
            "max_connections = 10\nmax_streams = 2\n[vhost.__defaultVhost__.http_hooks]\n\
             enabled = true\non_publish = [\"http://10.0.0.2/1\", \"http://10.0.0.2/2\"]\n\
             on_play = \"http://10.0.0.2/1\"\n",
            "test",
        )
        .unwrap();
        let b = Limits::of(&on).budget();
        let line = b.lines.iter().find(|l| l.what == "hooks").unwrap();
        let per_request = CALL_BYTES + REQUEST_BYTES + MAX_HEAD_LEN + MAX_RESPONSE_BODY;
        // http://10.0.0.2/1 is written twice and counted twice.
        let expected = 3 * MAX_PER_URL * per_request
            + MAX_QUEUED * CALL_BYTES
            + 10 * CALL_BYTES
            + RECENT_PUBLISHES * CLIENT_BYTES
            + 2 * HLS_WAITING;
        assert_eq!(line.bytes, expected as u64);
        assert!(line.formula.starts_with("3 hook URLs"), "{}", line.formula);
        assert_eq!(b.total, b.lines.iter().map(|l| l.bytes).sum::<u64>());
    }
}
