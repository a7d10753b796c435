//! Prometheus `/metrics` (SRS 5's exporter, `SrsGoApiMetrics`): SRS's `srs_*` families with
//! SRS's names, types and labels, so that SRS's Grafana dashboards read them, then ours under
//! `tinysrs_`. Pure: made from the hub, the client registry and the config at the time of the
//! scrape; `server::http::metrics` serves it, `wire::prometheus` writes the text.
//!
//! What a caller must know:
//! - Every value is an integer or a fixed-point decimal written by hand (no float
//!   formatting). `srs_cpu_percent` is our CPU share over the last second in percent of one
//!   CPU with 2 decimals, as SRS's `percent * 100`; `srs_memory` is our RSS in KiB (SRS
//!   writes `rss * 4`, pages of 4 KiB: KiB too).
//! - `srs_send_bytes_total`/`srs_receive_bytes_total` count every client since the start
//!   (those gone and those here), so they only grow; `/api/v1/summaries`'s `srs_*_bytes`
//!   count the clients here.
//! - `srs_clients_errs_total` is always 0: connections do not report how they ended yet.
//! - Labels are bounded: per-stream families carry `vhost`, `app` and `stream` of at most
//!   `max_streams` streams; the document stops at [`MAX_BYTES`] (the samples left out are
//!   counted in `tinysrs_metrics_dropped_samples`).
//! - Not yet exported (issue 18): hook calls by event, GB28181 devices online, ingest states,
//!   DVR bytes written.

use crate::server::api::objects::{live_streams, stream_clients};
use crate::server::api::{system, ApiSettings};
use crate::server::ServerCtx;
use crate::wire::prometheus::{Exposition, Kind};

/// The largest document: about 500 streams of every per-stream family. RAM: up to this per
/// scrape being sent, [`MAX_SCRAPES`] at once.
pub const MAX_BYTES: usize = 512 * 1024;

/// Scrapes being answered or sent at once; one more gets 503. Prometheus scrapes each target
/// once per interval, so 4 leaves room for a second server and a person with curl.
pub const MAX_SCRAPES: usize = 4;

/// One stream's figures.
struct Row {
    vhost: String,
    app: String,
    stream: String,
    players: u64,
    recv_kbps: u64,
    send_kbps: u64,
    dropped_frames: u64,
    gop_bytes: u64,
    #[cfg(feature = "hls")]
    hls_ram_bytes: u64,
    #[cfg(feature = "dvr")]
    dvr: Option<crate::server::dvr::recorder::RecorderStatus>,
}

/// The document for one scrape.
pub fn render(ctx: &ServerCtx, settings: &ApiSettings) -> String {
    let config = ctx.config();
    let mut e = Exposition::new(MAX_BYTES);
    let pid = std::process::id();
    let mut pid_text = String::new();
    crate::wire::prometheus::push_u64(&mut pid_text, u64::from(pid));

    e.family(
        "srs_build_info",
        Kind::Gauge,
        "A metric with a constant '1' value labeled by the server's ids and version.",
    );
    let mut labels: Vec<(&str, &str)> = vec![
        ("server", &settings.server_id),
        ("service", &settings.service_id),
        ("pid", &pid_text),
        ("major", env!("CARGO_PKG_VERSION_MAJOR")),
        ("version", env!("CARGO_PKG_VERSION")),
        ("code", "tinysrs"),
    ];
    if !config.exporter_label.is_empty() {
        labels.push(("label", &config.exporter_label));
    }
    if !config.exporter_tag.is_empty() {
        labels.push(("tag", &config.exporter_tag));
    }
    e.sample("srs_build_info", &labels, 1);

    e.family("srs_cpu_percent", Kind::Gauge, "SRS cpu used percent.");
    // Hundredths of a percent; `as` saturates (NaN and negatives are 0).
    let cpu = (ctx.cpu.share() * 10_000.0) as u64;
    e.sample_fixed("srs_cpu_percent", &[], cpu, 2);
    let rss_kib = system::rss_kib().unwrap_or(0);
    e.single("srs_memory", Kind::Gauge, "SRS memory used.", rss_kib);

    let (recv, send) = ctx.clients.total_bytes();
    let streams = live_streams(ctx);
    let clients = stream_clients(ctx);
    e.single(
        "srs_send_bytes_total",
        Kind::Counter,
        "SRS total sent bytes.",
        send,
    );
    e.single(
        "srs_receive_bytes_total",
        Kind::Counter,
        "SRS total received bytes.",
        recv,
    );
    e.single(
        "srs_streams",
        Kind::Gauge,
        "The number of SRS concurrent streams.",
        streams.len() as u64,
    );
    e.single(
        "srs_clients",
        Kind::Gauge,
        "The number of SRS concurrent clients.",
        ctx.clients.len() as u64,
    );
    e.single(
        "srs_clients_total",
        Kind::Counter,
        "The total counts of SRS clients.",
        ctx.clients.registered(),
    );
    e.single(
        "srs_clients_errs_total",
        Kind::Counter,
        "The total errors of SRS clients.",
        0,
    );

    // Ours: the process.
    e.single(
        "tinysrs_rss_bytes",
        Kind::Gauge,
        "Resident set size now.",
        rss_kib.saturating_mul(1024),
    );
    if let Some(budget) = super::api::MEMORY_BUDGET.get() {
        e.single(
            "tinysrs_memory_budget_bytes",
            Kind::Gauge,
            "Worst-case memory the configured limits allow (tinysrs -t).",
            budget(&config),
        );
    }
    e.single(
        "tinysrs_connections",
        Kind::Gauge,
        "Accepted TCP connections open now.",
        ctx.connections.get() as u64,
    );
    e.single(
        "tinysrs_tasks",
        Kind::Gauge,
        "Connection and media tasks running.",
        ctx.tasks.get() as u64,
    );
    let files = ctx.files.counts();
    e.single(
        "tinysrs_file_ops_dropped_total",
        Kind::Counter,
        "File operations dropped because the disk thread's queue was full.",
        files.dropped,
    );
    e.single(
        "tinysrs_file_ops_failed_total",
        Kind::Counter,
        "File operations that failed.",
        files.failed,
    );

    // Ours: per stream (at most max_streams of them).
    let rows: Vec<Row> = streams
        .iter()
        .map(|s| {
            let source = s.source.borrow();
            let key = &source.key;
            let (mut recv_kbps, mut send_kbps) = (0, 0);
            for c in clients.iter().filter(|c| &c.key == key) {
                if c.record.kind.get().is_publish() {
                    recv_kbps += c.record.recv.kbps();
                } else {
                    send_kbps += c.record.send.kbps();
                }
            }
            let mut dropped_frames = 0;
            source.for_each_player(|q| dropped_frames += q.stats().dropped_frames);
            Row {
                vhost: key.vhost.clone(),
                app: key.app.clone(),
                stream: key.stream.clone(),
                players: source.players() as u64,
                recv_kbps,
                send_kbps,
                dropped_frames,
                gop_bytes: source.gop_len().1 as u64,
                #[cfg(feature = "hls")]
                hls_ram_bytes: ctx
                    .hls
                    .borrow()
                    .get(key)
                    .map_or(0, |h| h.borrow().ram_bytes() as u64),
                #[cfg(feature = "dvr")]
                dvr: ctx.dvr.stream(key),
            }
        })
        .collect();
    let per_stream = |e: &mut Exposition, name, kind, help, value: &dyn Fn(&Row) -> Option<u64>| {
        e.family(name, kind, help);
        for r in &rows {
            if let Some(v) = value(r) {
                let labels = [
                    ("vhost", &*r.vhost),
                    ("app", &*r.app),
                    ("stream", &*r.stream),
                ];
                e.sample(name, &labels, v);
            }
        }
    };
    per_stream(
        &mut e,
        "tinysrs_stream_players",
        Kind::Gauge,
        "Players of the stream now.",
        &|r| Some(r.players),
    );
    per_stream(
        &mut e,
        "tinysrs_stream_recv_kbps",
        Kind::Gauge,
        "Kilobits per second from the stream's publisher over 30 s.",
        &|r| Some(r.recv_kbps),
    );
    per_stream(
        &mut e,
        "tinysrs_stream_send_kbps",
        Kind::Gauge,
        "Kilobits per second to the stream's players over 30 s.",
        &|r| Some(r.send_kbps),
    );
    per_stream(
        &mut e,
        "tinysrs_stream_dropped_frames",
        Kind::Gauge,
        "Frames dropped from the queues of the stream's players here now.",
        &|r| Some(r.dropped_frames),
    );
    per_stream(
        &mut e,
        "tinysrs_stream_gop_cache_bytes",
        Kind::Gauge,
        "Bytes in the stream's GOP cache.",
        &|r| Some(r.gop_bytes),
    );
    #[cfg(feature = "hls")]
    per_stream(
        &mut e,
        "tinysrs_stream_hls_ram_bytes",
        Kind::Gauge,
        "Bytes of the stream's HLS segments held in RAM.",
        &|r| Some(r.hls_ram_bytes),
    );
    #[cfg(feature = "dvr")]
    {
        per_stream(
            &mut e,
            "tinysrs_stream_dvr_files_total",
            Kind::Counter,
            "Files the stream's recorder has written.",
            &|r| r.dvr.as_ref().map(|d| d.files),
        );
        per_stream(
            &mut e,
            "tinysrs_stream_dvr_dropped_frames_total",
            Kind::Counter,
            "Frames the stream's recorder dropped (the disk was behind).",
            &|r| r.dvr.as_ref().map(|d| d.dropped_frames),
        );
        per_stream(
            &mut e,
            "tinysrs_stream_dvr_queued_bytes",
            Kind::Gauge,
            "Bytes the stream's recorder has queued for the disk.",
            &|r| r.dvr.as_ref().map(|d| d.queued_bytes as u64),
        );
        per_stream(
            &mut e,
            "tinysrs_stream_dvr_failed",
            Kind::Gauge,
            "1 when the stream's recording failed.",
            &|r| r.dvr.as_ref().map(|d| u64::from(d.state == "failed")),
        );
    }
    // Ours: the HTTP callbacks, by event (a fixed set of labels).
    #[cfg(feature = "hooks")]
    {
        use crate::server::hooks::{HookCounts, ACTIONS};
        let counts = ACTIONS.map(|a| (a.name(), ctx.hooks.counts(a)));
        type Family = (&'static str, &'static str, fn(&HookCounts) -> u64);
        let families: [Family; 3] = [
            (
                "tinysrs_hook_requests_total",
                "HTTP callback requests made (one per URL), by event.",
                |c| c.requests,
            ),
            (
                "tinysrs_hook_failures_total",
                "HTTP callback requests that failed or refused, by event.",
                |c| c.failures,
            ),
            (
                "tinysrs_hook_dropped_total",
                "HTTP callback events dropped unsent (queue full), by event.",
                |c| c.dropped,
            ),
        ];
        for (name, help, value) in families {
            e.family(name, Kind::Counter, help);
            for (event, c) in &counts {
                e.sample(name, &[("event", event)], value(c));
            }
        }
    }
    // Ours: the [[ingest]] cameras by state (a fixed set of labels).
    #[cfg(feature = "rtsp")]
    {
        use crate::server::rtsp::IngestState;
        let name = "tinysrs_ingests";
        e.family(name, Kind::Gauge, "RTSP camera ingests by state.");
        let all = ctx.ingests.all();
        let states = [
            IngestState::Connecting,
            IngestState::Playing,
            IngestState::Backoff,
            IngestState::Idle,
        ];
        for state in states {
            let n = all.iter().filter(|s| s.state() == state).count();
            e.sample(name, &[("state", state.as_str())], n as u64);
        }
    }
    let dropped = e.dropped();
    e.lift_cap();
    e.single(
        "tinysrs_metrics_dropped_samples",
        Kind::Gauge,
        "Samples left out of this document to keep it under its size cap.",
        dropped,
    );
    e.finish()
}
