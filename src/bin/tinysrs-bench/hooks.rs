//! The HTTP callbacks' cost (`ci/hooks-bench`): what an allowing `on_play` adds to a play's
//! setup, and what the hooks cost the server's CPU at a steady rate of connections.
//!
//! - `plays URL`: publishes URL's stream (our own publisher), then opens `--plays` RTMP plays
//!   of it one after the other, each timed from the TCP connect to `NetStream.Play.Start`, and
//!   closes each at once. Exact median and p99 of the setup times (every sample is kept; with
//!   `--samples FILE` they are appended to FILE in µs, one a line, so that a script can pool
//!   several runs).
//! - `connects URL`: publishes URL's stream, then starts `--rate` plays a second for
//!   `--duration` seconds, each connect + play + close; with `--server-pid` and `--hook-pid`,
//!   the CPU time of the server and of the hook server over the window.
//! - `hook-server --listen ADDR`: a minimal HTTP/1.x hook server that answers every request
//!   `200 {"code":0}` at once and closes (tinysrs's hook client sends `Connection: close`), so
//!   that what is measured is tinysrs and not the hook server. It counts requests by the JSON
//!   body's `action` and prints the counts as a JSON line when it gets SIGTERM or SIGINT.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io::Write;
use std::rc::Rc;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{signal, SignalKind};
use tokio::time::{sleep, sleep_until, timeout, Instant};

use crate::client::{Client, SETUP_TIMEOUT};
use crate::publish::{self, Counters};
use crate::source::Stream;
use crate::stats::{mono_us, proc_cpu_s};
use crate::url::{Scheme, Url};
use crate::Options;

/// Plays before the measured ones (not counted): the first connections pay for page faults
/// and the hook server's first accept.
const WARMUP_PLAYS: usize = 5;

/// After the last play of `connects` has been started: how long the window stays open for the
/// server to finish the closes (their `on_stop` and `on_close` are sent after the client left).
const SETTLE: Duration = Duration::from_millis(500);

/// The hook server's bounds: the request read before answering (tinysrs's bodies are under
/// 1 KiB), the time a client may take to send it, and the distinct actions counted.
const MAX_REQUEST: usize = 64 * 1024;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_ACTIONS: usize = 32;

/// The answer that lets everything in (SRS's rule: 200 and JSON with `"code": 0`).
const ALLOW: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
    Content-Length: 10\r\nConnection: close\r\n\r\n{\"code\":0}";

/// Starts our publisher on `url` and waits for `Publish.Start`, then a second more (the
/// server's GOP cache fills, so plays start the same way every time).
async fn start_publisher(
    url: &Url,
    stream: Rc<Stream>,
) -> Result<Rc<RefCell<Option<String>>>, String> {
    if url.scheme != Scheme::Rtmp {
        return Err(format!("{url}: the publisher needs an rtmp:// URL"));
    }
    let counters = Rc::new(Counters::default());
    let error: Rc<RefCell<Option<String>>> = Rc::default();
    {
        let (url, counters, error) = (url.clone(), counters.clone(), error.clone());
        tokio::task::spawn_local(async move {
            if let Err(e) = publish::run(url, stream, counters).await {
                *error.borrow_mut() = Some(e.to_string());
            }
        });
    }
    let deadline = Instant::now() + SETUP_TIMEOUT;
    while !counters.publishing.get() {
        if let Some(e) = error.borrow().as_ref() {
            return Err(format!("publish {url}: {e}"));
        }
        if Instant::now() > deadline {
            return Err(format!("publish {url}: no Publish.Start in time"));
        }
        sleep(Duration::from_millis(20)).await;
    }
    sleep(Duration::from_secs(1)).await;
    Ok(error)
}

/// One play: connect, handshake, `connect`, `createStream`, `play` up to `Play.Start`; the
/// setup time in µs. The connection is closed when this returns.
async fn one_play(url: &Url, random: u64) -> Result<u64, String> {
    let start = Instant::now();
    timeout(SETUP_TIMEOUT, async {
        let mut client = Client::connect(url, random).await?;
        client.play(&url.stream).await
    })
    .await
    .map_err(|_| "no Play.Start in time".to_string())?
    .map_err(|e| e.to_string())?;
    Ok(start.elapsed().as_micros() as u64)
}

/// The `p`-th percentile of sorted samples (nearest rank), in ms.
fn percentile_ms(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1] as f64 / 1000.0
}

pub async fn plays(o: Options, stream: Rc<Stream>) -> Result<(), String> {
    let url = o.url.clone().ok_or("no URL")?;
    let publisher_error = start_publisher(&url, stream).await?;
    let mut samples = Vec::with_capacity(o.plays);
    let mut failed = 0usize;
    let mut first_error = None;
    for i in 0..WARMUP_PLAYS + o.plays {
        if let Some(e) = publisher_error.borrow().as_ref() {
            return Err(format!("publish {url}: {e}"));
        }
        match one_play(&url, mono_us() ^ i as u64).await {
            Ok(us) if i >= WARMUP_PLAYS => samples.push(us),
            Ok(_) => {}
            Err(e) => {
                failed += 1;
                first_error.get_or_insert(format!("play {i}: {e}"));
            }
        }
    }
    if let Some(path) = &o.samples {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let text: String = samples.iter().map(|us| format!("{us}\n")).collect();
        file.write_all(text.as_bytes())
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    samples.sort_unstable();
    let (median, p99) = (percentile_ms(&samples, 50.0), percentile_ms(&samples, 99.0));
    let (min, max) = (percentile_ms(&samples, 0.0), percentile_ms(&samples, 100.0));
    println!(
        "{} plays of {url} (after {WARMUP_PLAYS} not counted), connect -> Play.Start ms: \
         median {median:.3}, p99 {p99:.3}, min {min:.3}, max {max:.3}; {failed} failed",
        samples.len()
    );
    if let Some(e) = &first_error {
        println!("first error: {e}");
    }
    println!(
        "{}",
        json!({
            "mode": "plays",
            "url": url.to_string(),
            "plays": samples.len(),
            "failed": failed,
            "median_ms": median,
            "p99_ms": p99,
            "min_ms": min,
            "max_ms": max,
            "first_error": first_error,
        })
    );
    if samples.is_empty() {
        return Err("no play succeeded".into());
    }
    Ok(())
}

/// What the `connects` tasks share.
#[derive(Default)]
struct Tally {
    started: Cell<usize>,
    done: Cell<usize>,
    failed: Cell<usize>,
    setup_us: RefCell<Vec<u64>>,
    first_error: RefCell<Option<String>>,
}

pub async fn connects(o: Options, stream: Rc<Stream>) -> Result<(), String> {
    let url = Rc::new(o.url.clone().ok_or("no URL")?);
    let publisher_error = start_publisher(&url, stream).await?;
    let total = (o.rate * o.duration).round() as usize;
    let tally = Rc::new(Tally::default());
    let cpu = |pid: Option<u32>| pid.and_then(proc_cpu_s);
    let (server_cpu0, hook_cpu0) = (cpu(o.server_pid), cpu(o.hook_pid));
    let start = Instant::now();
    for i in 0..total {
        sleep_until(start + Duration::from_secs_f64(i as f64 / o.rate)).await;
        let (url, tally) = (url.clone(), tally.clone());
        tally.started.set(tally.started.get() + 1);
        tokio::task::spawn_local(async move {
            match one_play(&url, mono_us() ^ i as u64).await {
                Ok(us) => tally.setup_us.borrow_mut().push(us),
                Err(e) => {
                    tally.failed.set(tally.failed.get() + 1);
                    tally
                        .first_error
                        .borrow_mut()
                        .get_or_insert(format!("play {i}: {e}"));
                }
            }
            tally.done.set(tally.done.get() + 1);
        });
    }
    // The schedule's end, then the plays still in setup, then the closes' callbacks.
    sleep_until(start + Duration::from_secs_f64(o.duration)).await;
    let deadline = Instant::now() + SETUP_TIMEOUT;
    while tally.done.get() < tally.started.get() && Instant::now() < deadline {
        sleep(Duration::from_millis(10)).await;
    }
    sleep(SETTLE).await;
    let window_s = start.elapsed().as_secs_f64();
    let server_cpu_s = server_cpu0.zip(cpu(o.server_pid)).map(|(a, b)| b - a);
    let hook_cpu_s = hook_cpu0.zip(cpu(o.hook_pid)).map(|(a, b)| b - a);
    if let Some(e) = publisher_error.borrow().as_ref() {
        return Err(format!("publish {url}: {e}"));
    }
    let ok = tally.setup_us.borrow().len();
    let mut setup = tally.setup_us.borrow().clone();
    setup.sort_unstable();
    let (median, p99) = (percentile_ms(&setup, 50.0), percentile_ms(&setup, 99.0));
    let pct = |cpu: Option<f64>| cpu.map(|c| c / window_s * 100.0);
    let per_play_us = |cpu: Option<f64>| cpu.filter(|_| ok > 0).map(|c| c * 1e6 / ok as f64);
    let show = |v: Option<f64>, unit: &str| v.map_or("-".into(), |v| format!("{v:.2}{unit}"));
    println!(
        "{ok}/{total} plays of {url} at {:.0}/s over {window_s:.1} s, setup ms median \
         {median:.3} p99 {p99:.3}; server CPU {} of a core, {} per play; hook server CPU {} \
         ({}); {} failed",
        o.rate,
        show(pct(server_cpu_s), " %"),
        show(per_play_us(server_cpu_s), " µs"),
        show(pct(hook_cpu_s), " %"),
        show(per_play_us(hook_cpu_s), " µs per play"),
        tally.failed.get()
    );
    if let Some(e) = tally.first_error.borrow().as_ref() {
        println!("first error: {e}");
    }
    println!(
        "{}",
        json!({
            "mode": "connects",
            "url": url.to_string(),
            "rate": o.rate,
            "scheduled": total,
            "plays": ok,
            "failed": tally.failed.get(),
            "window_s": window_s,
            "setup_median_ms": median,
            "setup_p99_ms": p99,
            "server_cpu_s": server_cpu_s,
            "server_cpu_pct": pct(server_cpu_s),
            "server_us_per_play": per_play_us(server_cpu_s),
            "hook_cpu_s": hook_cpu_s,
            "hook_cpu_pct": pct(hook_cpu_s),
            "first_error": *tally.first_error.borrow(),
        })
    );
    Ok(())
}

/// Requests answered, by `action` (at most [`MAX_ACTIONS`] names; the rest count as "other").
type Actions = Rc<RefCell<BTreeMap<String, u64>>>;

pub async fn hook_server(o: Options) -> Result<(), String> {
    let listen = o.listen.clone().ok_or("hook-server needs --listen ADDR")?;
    let listener = TcpListener::bind(&listen)
        .await
        .map_err(|e| format!("{listen}: {e}"))?;
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    println!("hook server listening on {listen}, answering {{\"code\":0}}");
    let actions: Actions = Rc::default();
    let errors = Rc::new(Cell::new(0u64));
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, _)) => {
                    let (actions, errors) = (actions.clone(), errors.clone());
                    tokio::task::spawn_local(async move {
                        match timeout(REQUEST_TIMEOUT, answer(socket)).await {
                            Ok(Ok(action)) => count(&actions, action),
                            _ => errors.set(errors.get() + 1),
                        }
                    });
                }
                // Out of descriptors: wait for some to close rather than spin.
                Err(_) => sleep(Duration::from_millis(10)).await,
            },
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    let total: u64 = actions.borrow().values().sum();
    println!(
        "{}",
        json!({
            "mode": "hook-server",
            "requests": total,
            "errors": errors.get(),
            "actions": *actions.borrow(),
        })
    );
    Ok(())
}

fn count(actions: &Actions, action: String) {
    let mut a = actions.borrow_mut();
    let key = if a.contains_key(&action) || a.len() < MAX_ACTIONS {
        action
    } else {
        "other".into()
    };
    *a.entry(key).or_default() += 1;
}

/// Reads one request (head, then `Content-Length` bytes of body), answers [`ALLOW`], closes;
/// the body's `action`.
async fn answer(mut socket: TcpStream) -> std::io::Result<String> {
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 4096];
    let mut need: Option<usize> = None;
    loop {
        if need.is_none() {
            if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                need = Some(at + 4 + content_length(&buf[..at]));
            }
        }
        if need.is_some_and(|n| buf.len() >= n) {
            break;
        }
        if buf.len() >= MAX_REQUEST {
            return Err(std::io::ErrorKind::InvalidData.into());
        }
        let n = socket.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    socket.write_all(ALLOW).await?;
    let _ = socket.shutdown().await;
    Ok(action_of(&buf))
}

/// `Content-Length` of a request head (0 when absent or unreadable).
fn content_length(head: &[u8]) -> usize {
    String::from_utf8_lossy(head)
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
        .min(MAX_REQUEST)
}

/// The `action` of a hook body (`"action":"on_play"`), or "unknown".
fn action_of(request: &[u8]) -> String {
    let text = String::from_utf8_lossy(request);
    text.split_once("\"action\":")
        .and_then(|(_, rest)| rest.trim_start().strip_prefix('"')?.split('"').next())
        .filter(|a| a.len() <= 32)
        .unwrap_or("unknown")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_hook_request() {
        let head = b"POST /api/v1/sessions HTTP/1.1\r\nHost: x\r\ncontent-length: 12";
        assert_eq!(content_length(head), 12);
        assert_eq!(content_length(b"GET / HTTP/1.1\r\nHost: x"), 0);
        let request = b"POST / HTTP/1.1\r\n\r\n{\"server_id\":\"a\",\"action\": \"on_play\"}";
        assert_eq!(action_of(request), "on_play");
        assert_eq!(action_of(b"POST / HTTP/1.1\r\n\r\n0"), "unknown");
    }

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<u64> = (1..=1000).map(|i| i * 1000).collect();
        assert_eq!(percentile_ms(&samples, 50.0), 500.0);
        assert_eq!(percentile_ms(&samples, 99.0), 990.0);
        assert_eq!(percentile_ms(&samples, 0.0), 1.0);
        assert_eq!(percentile_ms(&samples, 100.0), 1000.0);
        assert_eq!(percentile_ms(&[], 50.0), 0.0);
    }
}
