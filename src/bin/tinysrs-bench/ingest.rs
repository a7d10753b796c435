//! `ingest`: many publishers, each with exactly one player. Publisher `i` publishes the same
//! stream (synthetic or `--flv`) as `<stream>i` of the URL's app (`rtmp://h/live/s` gives
//! `live/s0`, `live/s1`, ...), started `--ramp` per second; its player opens the same name (over
//! RTMP, or HTTP-FLV with `--play-url http://h:8080/live/s.flv`) once the publisher has
//! `Publish.Start`. What it measures is the server's cost per ingested stream: CPU per
//! ingested Gbit and RSS per publisher, with a player each so that every frame also goes out.
//!
//! Per second: publishers publishing, players playing, ingested and delivered bitrates, players
//! below 90% of their publisher. Then one JSON line; with `--server-pid`, the server's CPU over
//! the window and its RSS before the first publisher and at the end.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use serde_json::json;
use tokio::time::{sleep, sleep_until, Instant};

use crate::client::SETUP_TIMEOUT;
use crate::play::{self, Board, Player, State};
use crate::publish::{self, Counters};
use crate::source::Stream;
use crate::stats::{min_median_max, proc_cpu_s, proc_status_kb, self_cpu_s};
use crate::url::Scheme;
use crate::Options;

/// One publisher: its counters, and whether it ended.
#[derive(Default)]
struct Publisher {
    counters: Rc<Counters>,
    failed: Cell<bool>,
}

/// Counters at one instant (window start or end).
struct Snapshot {
    at: Instant,
    published: Vec<u64>,
    played: Vec<u64>,
    server_cpu_s: Option<f64>,
    bench_cpu_s: f64,
}

impl Snapshot {
    fn take(publishers: &[Publisher], board: &RefCell<Board>, server_pid: Option<u32>) -> Self {
        Snapshot {
            at: Instant::now(),
            published: publishers.iter().map(|p| p.counters.bytes.get()).collect(),
            played: board.borrow().players.iter().map(|p| p.bytes).collect(),
            server_cpu_s: server_pid.and_then(proc_cpu_s),
            bench_cpu_s: self_cpu_s(),
        }
    }
}

pub async fn run(o: Options, stream: Rc<Stream>) -> Result<(), String> {
    let url = o.url.clone().ok_or("no URL")?;
    if url.scheme != Scheme::Rtmp {
        return Err(format!("{url}: publishers need an rtmp:// URL"));
    }
    let play_url = o.play_url.clone().unwrap_or_else(|| url.clone());
    let prefix = play_url.stream.trim_end_matches(".flv").to_string();
    let n = o.publishers;
    let publishers: Rc<Vec<Publisher>> = Rc::new((0..n).map(|_| Publisher::default()).collect());
    let board = Rc::new(RefCell::new(Board {
        players: vec![Player::default(); n],
        ..Board::default()
    }));
    let first_error: Rc<RefCell<Option<String>>> = Rc::default();
    let server_rss_base = o.server_pid.and_then(|p| proc_status_kb(p, "VmRSS"));
    let start = Instant::now();
    {
        let (publishers, board, stream, first_error) = (
            publishers.clone(),
            board.clone(),
            stream.clone(),
            first_error.clone(),
        );
        let (ramp, url, play_url) = (o.ramp, url.clone(), play_url.clone());
        tokio::task::spawn_local(async move {
            for i in 0..n {
                sleep_until(start + Duration::from_secs_f64(i as f64 / ramp)).await;
                let name = format!("{prefix}{i}");
                let publish_url = url.with_stream(&name);
                let player_url = Rc::new(play_url.with_stream(&name));
                let (p, e) = (publishers.clone(), first_error.clone());
                let stream = stream.clone();
                tokio::task::spawn_local(async move {
                    let counters = p[i].counters.clone();
                    if let Err(err) = publish::run(publish_url, stream, counters).await {
                        p[i].failed.set(true);
                        e.borrow_mut()
                            .get_or_insert(format!("publisher {i} ({name}): {err}"));
                    }
                });
                let (p, board) = (publishers.clone(), board.clone());
                tokio::task::spawn_local(async move {
                    let deadline = Instant::now() + SETUP_TIMEOUT;
                    while !p[i].counters.publishing.get() {
                        if p[i].failed.get() || Instant::now() > deadline {
                            return;
                        }
                        sleep(Duration::from_millis(20)).await;
                    }
                    play::run(player_url, i, board).await;
                });
            }
        });
    }
    let ramp_s = n as f64 / o.ramp;
    let window_start = start + Duration::from_secs_f64(ramp_s + o.warmup);
    let window_end = window_start + Duration::from_secs_f64(o.duration);

    let mut last = Snapshot::take(&publishers, &board, None);
    let mut at_window_start: Option<Snapshot> = None;
    let mut tick = start;
    let mut second = 0u32;
    loop {
        tick += Duration::from_secs(1);
        let now_end = tick >= window_end;
        let wake = if now_end { window_end } else { tick };
        if at_window_start.is_none() && window_start < wake {
            sleep_until(window_start).await;
            at_window_start = Some(Snapshot::take(&publishers, &board, o.server_pid));
            board.borrow_mut().measuring = true;
        }
        sleep_until(wake).await;
        second += 1;
        let now = Snapshot::take(&publishers, &board, None);
        let slice_s = (now.at - last.at).as_secs_f64();
        if !o.quiet && slice_s > 0.5 {
            let b = board.borrow();
            let publishing = publishers
                .iter()
                .filter(|p| p.counters.publishing.get() && !p.failed.get())
                .count();
            let failed = publishers.iter().filter(|p| p.failed.get()).count();
            let playing = b
                .players
                .iter()
                .filter(|p| p.state == State::Playing)
                .count();
            let ingest = sum_delta(&now.published, &last.published);
            let delivered = sum_delta(&now.played, &last.played);
            // Below 90% of its publisher: since the window started (a server merging writes
            // delivers in bursts, one second is too short), or over the last second before.
            let since = at_window_start.as_ref().unwrap_or(&last);
            let below = below_90(&b.players, &now, since);
            let phase = match &at_window_start {
                None if now.at < start + Duration::from_secs_f64(ramp_s) => "ramp",
                None => "warmup",
                Some(_) => "measure",
            };
            let lat = &b.latency_second;
            println!(
                "{second:>4}s {phase:<7} publishers {publishing}/{n} ({failed} failed) players \
                 {playing}/{n} ingest {:.1} Mbit/s delivered {:.1} Mbit/s below-90% {below} \
                 latency ms p50/p99 {:.2}/{:.2}",
                mbps(ingest, slice_s),
                mbps(delivered, slice_s),
                lat.percentile_ms(50.0),
                lat.percentile_ms(99.0),
            );
        }
        board.borrow_mut().latency_second.clear();
        last = now;
        if now_end {
            break;
        }
    }
    let Some(first) = at_window_start else {
        return Err("the window never started".into());
    };
    let end = Snapshot::take(&publishers, &board, o.server_pid);
    let window_s = (end.at - first.at).as_secs_f64();
    let b = board.borrow();
    let publishing = publishers
        .iter()
        .filter(|p| p.counters.publishing.get() && !p.failed.get())
        .count();
    let mut rates: Vec<f64> = b
        .players
        .iter()
        .zip(end.played.iter().zip(&first.played))
        .filter(|(p, _)| p.state == State::Playing)
        .map(|(_, (e, f))| (e - f) as f64 * 8.0 / 1000.0 / window_s)
        .collect();
    let connected = rates.len();
    let (min, med, max) = min_median_max(&mut rates);
    let starved = below_90(&b.players, &end, &first);
    let ingest_mbps = mbps(sum_delta(&end.published, &first.published), window_s);
    let delivered_mbps = mbps(sum_delta(&end.played, &first.played), window_s);
    let server_cpu_s = match (first.server_cpu_s, end.server_cpu_s) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let ingest_gbit = ingest_mbps * window_s / 1000.0;
    let cpu_per_gbit = server_cpu_s
        .filter(|_| ingest_gbit > 0.0)
        .map(|c| c / ingest_gbit);
    let server_rss_end = o.server_pid.and_then(|p| proc_status_kb(p, "VmRSS"));
    let server_hwm = o.server_pid.and_then(|p| proc_status_kb(p, "VmHWM"));
    // After the window, and at the peak: a GOP cache's fill depends on where each stream is
    // in its GOP when RSS is read, so the end figure moves with the publishers' phases.
    let per_publisher = |rss: Option<u64>| match (server_rss_base, rss) {
        (Some(base), Some(rss)) if n > 0 => Some((rss as f64 - base as f64) / n as f64),
        _ => None,
    };
    let rss_per_publisher = per_publisher(server_rss_end);
    let peak_per_publisher = per_publisher(server_hwm);
    let lat = &b.latency_window;
    let lost: u64 = b.players.iter().map(|p| p.lost).sum();
    let bench_cpu_s = end.bench_cpu_s - first.bench_cpu_s;
    let first_error = first_error.borrow().clone().or(b.first_error.clone());
    println!(
        "window {window_s:.1} s: {publishing}/{n} publishers, {connected}/{n} players, ingest \
         {ingest_mbps:.1} Mbit/s, delivered {delivered_mbps:.1} Mbit/s, received kbit/s \
         min/med/max {min:.0}/{med:.0}/{max:.0}, starved {starved}, latency ms p50/p99/max \
         {:.2}/{:.2}/{:.2}, {lost} frames lost, bench CPU {bench_cpu_s:.2} s",
        lat.percentile_ms(50.0),
        lat.percentile_ms(99.0),
        lat.max_ms()
    );
    if let Some(cpu) = server_cpu_s {
        println!(
            "server pid {}: CPU {cpu:.2} s ({} s per ingested Gbit), RSS before publishers {} \
             KiB, end {} KiB ({} KiB per publisher), peak {} KiB ({} KiB per publisher)",
            o.server_pid.unwrap_or(0),
            cpu_per_gbit.map_or("-".into(), |c| format!("{c:.3}")),
            server_rss_base.unwrap_or(0),
            server_rss_end.unwrap_or(0),
            rss_per_publisher.map_or("-".into(), |r| format!("{r:.1}")),
            server_hwm.unwrap_or(0),
            peak_per_publisher.map_or("-".into(), |r| format!("{r:.1}")),
        );
    }
    if let Some(e) = &first_error {
        println!("first error: {e}");
    }
    println!(
        "{}",
        json!({
            "mode": "ingest",
            "url": url.to_string(),
            "play_url": play_url.to_string(),
            "publishers": n,
            "publishing": publishing,
            "connected": connected,
            "window_s": window_s,
            "stream_kbps": stream.kbps(),
            "gop_bytes": stream.max_gop_bytes(),
            "ingest_mbps": ingest_mbps,
            "delivered_mbps": delivered_mbps,
            "recv_kbps_min": min,
            "recv_kbps_median": med,
            "recv_kbps_max": max,
            "starved": starved,
            "lat_p50_ms": lat.percentile_ms(50.0),
            "lat_p99_ms": lat.percentile_ms(99.0),
            "lat_max_ms": lat.max_ms(),
            "lat_samples": lat.count(),
            "frames_lost": lost,
            "bench_cpu_s": bench_cpu_s,
            "server_cpu_s": server_cpu_s,
            "cpu_s_per_ingest_gbit": cpu_per_gbit,
            "server_rss_base_kb": server_rss_base,
            "server_rss_end_kb": server_rss_end,
            "server_rss_peak_kb": server_hwm,
            "rss_per_publisher_kb": rss_per_publisher,
            "rss_peak_per_publisher_kb": peak_per_publisher,
            "first_error": first_error,
        })
    );
    Ok(())
}

fn sum_delta(now: &[u64], then: &[u64]) -> u64 {
    now.iter().zip(then).map(|(a, b)| a - b).sum()
}

fn mbps(bytes: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        bytes as f64 * 8.0 / 1e6 / seconds
    } else {
        0.0
    }
}

/// Players not playing, or that got under 90% of their publisher's payload bytes between the
/// two snapshots (what a player reads includes chunk or tag headers, so a player that keeps up
/// is above 100%).
fn below_90(players: &[Player], now: &Snapshot, then: &Snapshot) -> usize {
    players
        .iter()
        .enumerate()
        .filter(|&(i, p)| {
            let published = now.published[i] - then.published[i];
            let played = now.played[i] - then.played[i];
            p.state != State::Playing || (played as f64) < 0.9 * published as f64
        })
        .count()
}
