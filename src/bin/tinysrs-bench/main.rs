//! `tinysrs-bench`: the load generator behind `ci/bench`. Single-threaded (tokio current-thread
//! runtime and a `LocalSet`), cheap per connection, so one process drives thousands of players.
//!
//! Modes:
//! - `publish URL`: publishes a stream over RTMP in real time, looping (an FLV file, an AV1
//!   OBU stream as Enhanced RTMP `av01`, or a synthetic H.264-shaped stream), with a latency
//!   stamp in every H.264 frame (`stamp.rs`).
//! - `play URL`: N RTMP, HTTP-FLV or RTSP (RTP interleaved over TCP, `rtsp.rs`) players,
//!   ramped; per-second figures, then one JSON line.
//! - `run URL [--play-url URL]`: both in one process (what ci/bench uses); the publisher is
//!   RTMP, `--play-url` names the players' protocol (`rtsp://host:port/app/stream` for RTSP).
//! - `ingest URL --publishers N`: N publishers of streams `<stream>0..`, each with one player
//!   (`ingest.rs`): the server's CPU per ingested Gbit and RSS per publisher.
//! - `blast [--batched | --mw-latency MS]`: the reference sender (`blast.rs`), unbatched (one
//!   write per frame and socket) or batching writes per socket as tinysrs does by default.
//! - `plays URL`, `connects URL`, `hook-server --listen ADDR`: the HTTP callbacks' cost
//!   (`hooks.rs`, run by `ci/hooks-bench`): setup time of sequential plays, CPU at a steady
//!   rate of connect + play + close, and a hook server that allows everything at once.
//!
//! - `gb-media --to ADDR --ssrc N --h264 FILE`: the media half of a GB28181 camera
//!   (`gbmedia.rs`, with the `gb28181` feature): an H.264 file as MPEG-PS over RTP (UDP, or
//!   TCP with `--tcp`) at 25 fps, looping, for `ci/browser`'s sipp camera.
//!
//! Figures go to stdout: one human line per second, then a single JSON line (last line) for
//! scripts. With `--server-pid`, the server's CPU time over the window and its RSS (from
//! /proc) are included, so that the window a script measures is exactly the bench's.

mod blast;
mod client;
#[cfg(feature = "gb28181")]
mod gbmedia;
mod hooks;
mod ingest;
mod play;
mod publish;
#[cfg(feature = "rtsp")]
mod rtsp;
mod source;
mod stamp;
mod stats;
mod url;

use std::cell::RefCell;
use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use serde_json::json;
use tokio::task::LocalSet;
use tokio::time::{sleep, sleep_until, Instant};

use crate::play::{Board, Player, State};
use crate::publish::Counters;
use crate::source::Stream;
use crate::stats::{min_median_max, proc_cpu_s, proc_status_kb, self_cpu_s};
use crate::url::{Scheme, Url};

const USAGE: &str = "\
usage: tinysrs-bench MODE [options]
modes:
  publish URL            publish over RTMP (rtmp://host:port/app/stream) until killed
  play URL               N players (rtmp://..., http://host:port/app/stream.flv or
                         rtsp://host:port/app/stream: RTP interleaved over TCP)
  run URL                publish URL and play it (or --play-url) in one process
  ingest URL             N publishers of URL's stream name + 0..N-1 (rtmp://h/live/s:
                         live/s0, live/s1, ...), each with one player
  blast                  reference: write the stream to N loopback sockets, report CPU
  plays URL              publish URL, then --plays sequential RTMP plays of it, each
                         timed connect -> Play.Start: median, p99
  connects URL           publish URL, then --rate plays a second (connect, play, close)
                         for --duration seconds: server (and hook server) CPU
  hook-server            an HTTP hook server on --listen that allows every request
  gb-media               a GB28181 camera's media: H.264 as PS over RTP (gb-media --help)
options:
  --players N            players (play, run, blast)                        [10]
  --publishers N         (ingest) publishers, each with one player         [10]
  --ramp R               players (ingest: publishers) started per second   [500]
  --warmup S             seconds after the ramp before measuring           [2]
  --duration S           seconds measured                                  [10]
  --kbps K               synthetic stream bitrate, kbit/s                  [1000]
  --fps F                synthetic stream frame rate                       [25]
  --gop S                synthetic stream keyframe interval, seconds       [2]
  --flv FILE             publish this FLV file (looping) instead
  --obu FILE             publish this AV1 OBU stream (ffmpeg -f obu) at --fps as
                         Enhanced RTMP av01 (looping) instead
  --play-url URL         (run, ingest) what the players open, e.g. the HTTP-FLV URL
                         (run: or the RTSP URL, rtsp_server.listen's port)
                         (ingest: its stream name is the prefix, e.g. .../live/s.flv)
  --batched              (blast) batch each socket's writes over the server's shipped
                         mw_latency, then writev, as tinysrs does by default
  --mw-latency MS        (blast) batch over MS ms (0: a write per frame)   [0]
  --expect-kbps K        (play) the publish bitrate, for the 90% starvation line
  --server-pid PID       report this process's CPU and RSS over the window
  --plays N              (plays) measured plays                            [1000]
  --samples FILE         (plays) append each play's setup time (us) to FILE
  --rate R               (connects) plays started per second               [100]
  --hook-pid PID         (connects) also report this process's CPU
  --listen ADDR          (hook-server) e.g. 127.0.0.1:8085
  --quiet                no per-second lines
";

#[derive(Debug, Clone)]
struct Options {
    mode: String,
    url: Option<Url>,
    play_url: Option<Url>,
    players: usize,
    publishers: usize,
    ramp: f64,
    warmup: f64,
    duration: f64,
    kbps: u32,
    fps: u32,
    gop: u32,
    flv: Option<PathBuf>,
    obu: Option<PathBuf>,
    expect_kbps: Option<f64>,
    server_pid: Option<u32>,
    quiet: bool,
    /// (blast) The merged-write window; zero: one write per frame.
    mw_latency: Duration,
    /// (plays) Plays measured.
    plays: usize,
    /// (plays) Where each play's setup time is appended, in µs.
    samples: Option<PathBuf>,
    /// (connects) Plays started per second.
    rate: f64,
    /// (connects) The hook server's pid, for its CPU time.
    hook_pid: Option<u32>,
    /// (hook-server) The address to listen on.
    listen: Option<String>,
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mode = args.first().ok_or("no mode")?.clone();
    let mut o = Options {
        mode,
        url: None,
        play_url: None,
        players: 10,
        publishers: 10,
        ramp: 500.0,
        warmup: 2.0,
        duration: 10.0,
        kbps: 1000,
        fps: 25,
        gop: 2,
        flv: None,
        obu: None,
        expect_kbps: None,
        server_pid: None,
        quiet: false,
        mw_latency: Duration::ZERO,
        plays: 1000,
        samples: None,
        rate: 100.0,
        hook_pid: None,
        listen: None,
    };
    let mut it = args[1..].iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        fn num<T: std::str::FromStr>(arg: &str, v: &str) -> Result<T, String> {
            v.parse().map_err(|_| format!("{arg}: bad number {v:?}"))
        }
        match arg.as_str() {
            "--players" => o.players = num(arg, value()?)?,
            "--publishers" => o.publishers = num(arg, value()?)?,
            "--ramp" => o.ramp = num(arg, value()?)?,
            "--warmup" => o.warmup = num(arg, value()?)?,
            "--duration" => o.duration = num(arg, value()?)?,
            "--kbps" => o.kbps = num(arg, value()?)?,
            "--fps" => o.fps = num(arg, value()?)?,
            "--gop" => o.gop = num(arg, value()?)?,
            "--flv" => o.flv = Some(PathBuf::from(value()?)),
            "--obu" => o.obu = Some(PathBuf::from(value()?)),
            "--play-url" => o.play_url = Some(Url::parse(value()?)?),
            "--expect-kbps" => o.expect_kbps = Some(num(arg, value()?)?),
            "--server-pid" => o.server_pid = Some(num(arg, value()?)?),
            "--quiet" => o.quiet = true,
            "--batched" => o.mw_latency = blast::shipped_mw_latency(),
            "--mw-latency" => o.mw_latency = Duration::from_millis(num(arg, value()?)?),
            "--plays" => o.plays = num(arg, value()?)?,
            "--samples" => o.samples = Some(PathBuf::from(value()?)),
            "--rate" => o.rate = num(arg, value()?)?,
            "--hook-pid" => o.hook_pid = Some(num(arg, value()?)?),
            "--listen" => o.listen = Some(value()?.clone()),
            s if !s.starts_with("--") && o.url.is_none() => o.url = Some(Url::parse(s)?),
            s => return Err(format!("unknown argument {s:?}")),
        }
    }
    let positive = o.ramp > 0.0 && o.warmup >= 0.0 && o.duration > 0.0 && o.fps > 0;
    if !positive || o.kbps == 0 || o.gop == 0 || o.rate <= 0.0 {
        return Err("--ramp, --duration, --kbps, --fps, --gop and --rate must be > 0".into());
    }
    // The server's own bound on `play.mw_latency`.
    if o.mw_latency > Duration::from_secs(10) {
        return Err("--mw-latency: at most 10000 ms".into());
    }
    Ok(o)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    #[cfg(feature = "gb28181")]
    if args.first().map(String::as_str) == Some("gb-media") {
        return gbmedia::main(&args[1..]);
    }
    let options = match parse_args(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("tinysrs-bench: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    stats::raise_nofile();
    let stream = match (&options.flv, &options.obu) {
        (Some(path), _) => Stream::from_flv(path),
        (None, Some(path)) => Stream::from_obu(path, options.fps),
        (None, None) => Ok(Stream::synthetic(options.kbps, options.fps, options.gop)),
    };
    let stream = match stream {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tinysrs-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match options.mode.as_str() {
        "blast" => run_blast(&options, &stream),
        "publish" | "play" | "run" | "ingest" | "plays" | "connects" | "hook-server" => {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("tinysrs-bench: runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let stream = Rc::new(stream);
            let local = LocalSet::new();
            match options.mode.as_str() {
                "ingest" => local.block_on(&rt, ingest::run(options, stream)),
                "plays" => local.block_on(&rt, hooks::plays(options, stream)),
                "connects" => local.block_on(&rt, hooks::connects(options, stream)),
                "hook-server" => local.block_on(&rt, hooks::hook_server(options)),
                _ => local.block_on(&rt, load(options, stream)),
            }
        }
        m => Err(format!("unknown mode {m:?}\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tinysrs-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_blast(o: &Options, stream: &Stream) -> Result<(), String> {
    let f = blast::run(
        o.players,
        stream,
        o.mw_latency,
        Duration::from_secs_f64(o.warmup),
        Duration::from_secs_f64(o.duration),
    )
    .map_err(|e| format!("blast: {e}"))?;
    let mbps = f.bytes as f64 * 8.0 / f.window_s / 1e6;
    let cpu_per_gbit = if mbps > 0.0 {
        f.cpu_s / (mbps * f.window_s / 1000.0)
    } else {
        0.0
    };
    let mw_latency_ms = o.mw_latency.as_millis() as u64;
    println!(
        "blast: {} sockets, {:.0} kbit/s each, mw_latency {mw_latency_ms} ms: sender CPU {:.2} \
         s over {:.1} s, delivered {:.1} Mbit/s, {:.3} CPU s per Gbit, {} writes, {} stalled",
        o.players,
        stream.kbps(),
        f.cpu_s,
        f.window_s,
        mbps,
        cpu_per_gbit,
        f.writes,
        f.stalls
    );
    println!(
        "{}",
        json!({
            "mode": "blast",
            "players": o.players,
            "mw_latency_ms": mw_latency_ms,
            "writes": f.writes,
            "publish_kbps": stream.kbps(),
            "window_s": f.window_s,
            "sender_cpu_s": f.cpu_s,
            "delivered_mbps": mbps,
            "cpu_s_per_gbit": cpu_per_gbit,
            "stalls": f.stalls,
        })
    );
    Ok(())
}

/// publish, play or run.
async fn load(o: Options, stream: Rc<Stream>) -> Result<(), String> {
    let url = o.url.clone().ok_or("no URL")?;
    let counters = Rc::new(Counters::default());
    let publisher_error: Rc<RefCell<Option<String>>> = Rc::default();
    if o.mode != "play" && url.scheme != Scheme::Rtmp {
        return Err(format!(
            "{url}: the publisher is RTMP; other players: --play-url (http://, rtsp://)"
        ));
    }
    if o.mode != "play" {
        {
            let (url, stream, counters, err) = (
                url.clone(),
                stream.clone(),
                counters.clone(),
                publisher_error.clone(),
            );
            tokio::task::spawn_local(async move {
                if let Err(e) = publish::run(url, stream, counters).await {
                    *err.borrow_mut() = Some(e.to_string());
                }
            });
        }
        // Wait for Publish.Start, then a second of frames (the server's GOP cache fills).
        let deadline = Instant::now() + client::SETUP_TIMEOUT;
        while !counters.publishing.get() {
            if let Some(e) = publisher_error.borrow().as_ref() {
                return Err(format!("publish {url}: {e}"));
            }
            if Instant::now() > deadline {
                return Err(format!("publish {url}: no Publish.Start in time"));
            }
            sleep(Duration::from_millis(20)).await;
        }
        if o.mode == "publish" {
            println!("publishing {url} at {:.0} kbit/s", stream.kbps());
            loop {
                sleep(Duration::from_secs(1)).await;
                if let Some(e) = publisher_error.borrow().as_ref() {
                    return Err(format!("publish {url}: {e}"));
                }
            }
        }
        sleep(Duration::from_secs(1)).await;
    }
    let play_url = Rc::new(o.play_url.clone().unwrap_or(url.clone()));
    // The bitrate players are held against: what our publisher sends, or what the user says.
    let local_publisher = o.mode == "run";
    let expect_kbps = o.expect_kbps.unwrap_or_else(|| stream.kbps());

    let board = Rc::new(RefCell::new(Board {
        players: vec![Player::default(); o.players],
        ..Board::default()
    }));
    let server_rss_base = o.server_pid.and_then(|p| proc_status_kb(p, "VmRSS"));
    let start = Instant::now();
    {
        let (board, play_url, ramp, n) = (board.clone(), play_url.clone(), o.ramp, o.players);
        tokio::task::spawn_local(async move {
            for i in 0..n {
                sleep_until(start + Duration::from_secs_f64(i as f64 / ramp)).await;
                tokio::task::spawn_local(play::run(play_url.clone(), i, board.clone()));
            }
        });
    }
    let ramp_s = o.players as f64 / o.ramp;
    let window_start = start + Duration::from_secs_f64(ramp_s + o.warmup);
    let window_end = window_start + Duration::from_secs_f64(o.duration);

    // Per-second reports.
    let mut last_bytes = vec![0u64; o.players];
    let mut at_window_start: Option<Snapshot> = None;
    let mut rates = Vec::with_capacity(o.players);
    let mut tick = start;
    let mut last_tick = start;
    let mut second = 0u32;
    loop {
        tick += Duration::from_secs(1);
        let now_end = tick >= window_end;
        let wake = if now_end { window_end } else { tick };
        // The window's first instant gets its own wake-up, so the snapshot is on time.
        if at_window_start.is_none() && window_start < wake {
            sleep_until(window_start).await;
            at_window_start = Some(Snapshot::take(&board, &counters, &o));
            board.borrow_mut().measuring = true;
        }
        sleep_until(wake).await;
        second += 1;
        let slice_s = (wake - last_tick).as_secs_f64();
        last_tick = wake;
        if let Some(e) = publisher_error.borrow().as_ref() {
            return Err(format!("publish {url}: {e}"));
        }
        let mut b = board.borrow_mut();
        rates.clear();
        let mut connected = 0;
        let mut failed = 0;
        for (p, last) in b.players.iter().zip(last_bytes.iter_mut()) {
            match p.state {
                State::Playing => {
                    connected += 1;
                    rates.push((p.bytes - *last) as f64 * 8.0 / 1000.0 / slice_s);
                }
                State::Failed => failed += 1,
                State::Connecting => {}
            }
            *last = p.bytes;
        }
        let (min, med, max) = min_median_max(&mut rates);
        // Below 90%: the player's bytes since the window started against the publisher's
        // (one second is too short: a server merging writes over `mw_latency` delivers in
        // bursts). Before the window: the last second against the expected bitrate.
        let below = match &at_window_start {
            Some(first) => {
                let published = if local_publisher {
                    (counters.bytes.get() - first.publish_bytes) as f64
                } else {
                    (first.at.elapsed().as_secs_f64() * expect_kbps * 1000.0 / 8.0).floor()
                };
                b.players
                    .iter()
                    .zip(&first.player_bytes)
                    .filter(|(p, &at_start)| {
                        p.state == State::Playing && ((p.bytes - at_start) as f64) < 0.9 * published
                    })
                    .count()
            }
            None => rates.iter().filter(|&&r| r < 0.9 * expect_kbps).count(),
        };
        let phase = match &at_window_start {
            None if Instant::now() < start + Duration::from_secs_f64(ramp_s) => "ramp",
            None => "warmup",
            Some(_) => "measure",
        };
        // The window's last slice may be a fraction of a second: only the summary counts it.
        if !o.quiet && slice_s > 0.5 {
            let lat = &b.latency_second;
            let lost: u64 = b.players.iter().map(|p| p.lost).sum();
            println!(
                "{second:>4}s {phase:<7} players {connected}/{} ({failed} failed) \
                 kbit/s min/med/max {min:.0}/{med:.0}/{max:.0} below-90% {below} \
                 latency ms p50/p99/max {:.2}/{:.2}/{:.2} ({} frames) lost {lost}",
                o.players,
                lat.percentile_ms(50.0),
                lat.percentile_ms(99.0),
                lat.max_ms(),
                lat.count()
            );
        }
        b.latency_second.clear();
        drop(b);
        if now_end {
            break;
        }
    }
    let Some(first) = at_window_start else {
        return Err("the window never started".into());
    };
    let last = Snapshot::take(&board, &counters, &o);
    let window_s = (last.at - first.at).as_secs_f64();
    // The report; the board's borrow ends before the TEARDOWNs are awaited.
    {
        let b = board.borrow();
        // Per player over the window; the publisher's own count when it runs here.
        let publish_kbps = if local_publisher {
            (last.publish_bytes - first.publish_bytes) as f64 * 8.0 / 1000.0 / window_s
        } else {
            expect_kbps
        };
        let mut rates: Vec<f64> = Vec::with_capacity(o.players);
        let mut starved = 0;
        let mut delivered = 0u64;
        for (i, p) in b.players.iter().enumerate() {
            let bytes = p.bytes - first.player_bytes.get(i).copied().unwrap_or(0);
            delivered += bytes;
            let kbps = bytes as f64 * 8.0 / 1000.0 / window_s;
            if p.state == State::Playing {
                rates.push(kbps);
            }
            if p.state != State::Playing || kbps < 0.9 * publish_kbps {
                starved += 1;
            }
        }
        let connected = rates.len();
        let (min, med, max) = min_median_max(&mut rates);
        let delivered_mbps = delivered as f64 * 8.0 / 1e6 / window_s;
        let lat = &b.latency_window;
        let lost: u64 = b.players.iter().map(|p| p.lost).sum();
        let rtp_gaps: u64 = b.players.iter().map(|p| p.rtp_gaps).sum();
        let server_cpu_s = match (first.server_cpu_s, last.server_cpu_s) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        };
        let server_hwm = o.server_pid.and_then(|p| proc_status_kb(p, "VmHWM"));
        let server_rss_end = o.server_pid.and_then(|p| proc_status_kb(p, "VmRSS"));
        let bench_cpu_s = last.bench_cpu_s - first.bench_cpu_s;
        println!(
            "window {window_s:.1} s: {connected}/{} players, publish {publish_kbps:.0} kbit/s, \
             received kbit/s min/med/max {min:.0}/{med:.0}/{max:.0}, delivered {delivered_mbps:.1} \
             Mbit/s, starved {starved}, latency ms p50/p99/max {:.2}/{:.2}/{:.2} ({} samples), \
             {lost} frames lost, bench CPU {bench_cpu_s:.2} s",
            o.players,
            lat.percentile_ms(50.0),
            lat.percentile_ms(99.0),
            lat.max_ms(),
            lat.count()
        );
        if let Some(cpu) = server_cpu_s {
            println!(
                "server pid {}: CPU {cpu:.2} s, RSS before players {} KiB, peak {} KiB, end {} KiB",
                o.server_pid.unwrap_or(0),
                server_rss_base.unwrap_or(0),
                server_hwm.unwrap_or(0),
                server_rss_end.unwrap_or(0)
            );
        }
        if let Some(e) = &b.first_error {
            println!("first player error: {e}");
        }
        println!(
            "{}",
            json!({
                "mode": o.mode,
                "url": play_url.to_string(),
                "players": o.players,
                "connected": connected,
                "window_s": window_s,
                "publish_kbps": publish_kbps,
                "recv_kbps_min": min,
                "recv_kbps_median": med,
                "recv_kbps_max": max,
                "delivered_mbps": delivered_mbps,
                "starved": starved,
                "lat_p50_ms": lat.percentile_ms(50.0),
                "lat_p99_ms": lat.percentile_ms(99.0),
                "lat_max_ms": lat.max_ms(),
                "lat_samples": lat.count(),
                "frames_lost": lost,
                "rtp_gaps": rtp_gaps,
                "bench_cpu_s": bench_cpu_s,
                "server_cpu_s": server_cpu_s,
                "server_rss_base_kb": server_rss_base,
                "server_rss_peak_kb": server_hwm,
                "server_rss_end_kb": server_rss_end,
                "first_error": b.first_error,
            })
        );
    }
    board.borrow_mut().stop();
    if play_url.scheme == Scheme::Rtsp {
        // Time for the TEARDOWNs to go out before the process exits.
        sleep(Duration::from_millis(300)).await;
    }
    Ok(())
}

/// Counters at one instant (window start or end).
struct Snapshot {
    at: Instant,
    player_bytes: Vec<u64>,
    publish_bytes: u64,
    server_cpu_s: Option<f64>,
    bench_cpu_s: f64,
}

impl Snapshot {
    fn take(board: &RefCell<Board>, counters: &Counters, o: &Options) -> Snapshot {
        Snapshot {
            at: Instant::now(),
            player_bytes: board.borrow().players.iter().map(|p| p.bytes).collect(),
            publish_bytes: counters.bytes.get(),
            server_cpu_s: o.server_pid.and_then(proc_cpu_s),
            bench_cpu_s: self_cpu_s(),
        }
    }
}
