//! Edge: per pulled stream (one per stream at most, so `max_streams` of them), the pull's read
//! buffer, the RTMP client's partly received messages (`rtmp.max_pending_bytes`, as a
//! publisher's; with `cluster.protocol = "flv"`, the HTTP-FLV client's body buffer, a tag of
//! `rtmp.max_message_bytes` and one read, if larger) and its state. The stream itself is counted as any published stream.
//! Origin cluster: per RTMP play waiting for its coworkers, the query's buffers.

use super::{kib, BudgetLine, Limits};
use crate::config::{ClusterProtocol, Config};
use crate::server::edge::{READ_BUFFER, TRAVERSE_CACHE, TRAVERSE_KEY_BYTES, TRAVERSE_WHY_BYTES};
use crate::server::origin_cluster::{MAX_ANSWER, QUERY_READ_BUFFER, QUERY_STATE_BYTES};
use crate::server::rtmp::chunk_limits;
use crate::session::flv_client::max_buffered;

/// One pull beyond its buffers: its state, the task and the client session, rounded up.
const PULL_BYTES: usize = 8192;

/// The "edge" line, when a vhost is an edge.
pub(super) fn line(config: &Config, limits: &Limits) -> Option<BudgetLine> {
    if !config.vhosts().any(|v| v.enabled && v.cluster.is_edge()) {
        return None;
    }
    let chunk = chunk_limits(config);
    let flv = config
        .vhosts()
        .any(|v| v.enabled && v.cluster.is_edge() && v.cluster.protocol == ClusterProtocol::Flv);
    let pending = if flv {
        chunk
            .max_pending_bytes
            .max(max_buffered(chunk.max_message_len))
    } else {
        chunk.max_pending_bytes
    };
    let per_pull = READ_BUFFER + pending + PULL_BYTES;
    // HLS players' traverses remembered, with token_traverse on an edge vhost.
    let traverse = config
        .vhosts()
        .any(|v| v.enabled && v.cluster.is_edge() && v.cluster.token_traverse);
    let traversed = if traverse {
        TRAVERSE_CACHE * (TRAVERSE_KEY_BYTES + TRAVERSE_WHY_BYTES)
    } else {
        0
    };
    Some(BudgetLine {
        what: "edge",
        formula: format!(
            "max_streams {} pulls x ({} read buffer + {} rtmp.max_pending_bytes or FLV body + {} state) + {} HLS token traverses remembered",
            limits.streams,
            kib(READ_BUFFER),
            kib(pending),
            kib(PULL_BYTES),
            kib(traversed),
        ),
        bytes: (per_pull as u64)
            .saturating_mul(limits.streams as u64)
            .saturating_add(traversed as u64),
    })
}

/// The "origin cluster" line, when a vhost is an origin with coworkers: each RTMP play of a
/// stream not here holds a coworker query (its read buffer, the answer's body and its state)
/// while it waits, so at most `max_connections` of them.
pub(super) fn origin_cluster_line(config: &Config, limits: &Limits) -> Option<BudgetLine> {
    if !config
        .vhosts()
        .any(|v| v.enabled && v.cluster.is_origin_cluster())
    {
        return None;
    }
    let per_query = QUERY_READ_BUFFER + MAX_ANSWER + QUERY_STATE_BYTES;
    Some(BudgetLine {
        what: "origin cluster",
        formula: format!(
            "max_connections {} plays x ({} read buffer + {} answer + {} state)",
            limits.connections,
            kib(QUERY_READ_BUFFER),
            kib(MAX_ANSWER),
            kib(QUERY_STATE_BYTES),
        ),
        bytes: (per_query as u64).saturating_mul(limits.connections as u64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_origin_cluster_costs_a_query_per_connection() {
        let off = Limits::of(&Config::embedded()).budget();
        assert!(off.lines.iter().all(|l| l.what != "origin cluster"));
        let on = Config::from_toml_str(
            "max_connections = 10\n[vhost.__defaultVhost__.cluster]\norigin_cluster = true\n\
             coworkers = \"127.0.0.1:1985\"\n",
            "test",
        )
        .unwrap();
        let b = Limits::of(&on).budget();
        let line = b.lines.iter().find(|l| l.what == "origin cluster").unwrap();
        assert_eq!(
            line.bytes,
            10 * (QUERY_READ_BUFFER + MAX_ANSWER + QUERY_STATE_BYTES) as u64
        );
    }

    #[test]
    fn an_edge_costs_a_pull_per_stream() {
        let off = Limits::of(&Config::embedded()).budget();
        assert!(off.lines.iter().all(|l| l.what != "edge"));
        let on = Config::from_toml_str(
            "max_streams = 3\n[vhost.__defaultVhost__.cluster]\nmode = \"remote\"\n\
             origin = \"127.0.0.1:1935\"\n",
            "test",
        )
        .unwrap();
        let b = Limits::of(&on).budget();
        let line = b.lines.iter().find(|l| l.what == "edge").unwrap();
        let per = READ_BUFFER + chunk_limits(&on).max_pending_bytes + PULL_BYTES;
        assert_eq!(line.bytes, (3 * per) as u64);
        let traverse = Config::from_toml_str(
            "max_streams = 3\n[vhost.__defaultVhost__.cluster]\nmode = \"remote\"\n\
             origin = \"127.0.0.1:1935\"\ntoken_traverse = true\n",
            "test",
        )
        .unwrap();
        let b = Limits::of(&traverse).budget();
        let line = b.lines.iter().find(|l| l.what == "edge").unwrap();
        let remembered = TRAVERSE_CACHE * (TRAVERSE_KEY_BYTES + TRAVERSE_WHY_BYTES);
        assert_eq!(line.bytes, (3 * per + remembered) as u64);
        let flv = Config::from_toml_str(
            "max_streams = 3\n[vhost.__defaultVhost__.cluster]\nmode = \"remote\"\n\
             origin = \"127.0.0.1:8080\"\nprotocol = \"flv\"\n",
            "test",
        )
        .unwrap();
        let b = Limits::of(&flv).budget();
        let line = b.lines.iter().find(|l| l.what == "edge").unwrap();
        let body = max_buffered(chunk_limits(&flv).max_message_len);
        assert!(line.bytes >= (3 * (READ_BUFFER + body)) as u64, "{line:?}");
    }
}
