//! Process and system figures for `/api/v1/summaries`, `/rusages` and `/meminfos`, read from
//! `/proc` and `getrusage(2)` at the time of the request (SRS samples them every few seconds;
//! srs_app_utility.cpp), except `self.cpu_percent`: our share over the last second, from the
//! `getrusage` sample the sweep takes once a second ([`cpu_time_us`]). A file that cannot be
//! read leaves its fields at 0 and `ok` false.
//!
//! The parsers take the file's text, so tests feed them captured contents.

use std::io::Read;

use serde::Serialize;

use super::objects::round2;
use crate::server::ServerCtx;
use crate::wire::decimal::parse_f64;

/// Largest `/proc` file read. `/proc/net/dev` grows by ~130 bytes per interface; 64 KiB is
/// about 500 interfaces, and the rest of the file is ignored.
pub const MAX_PROC_FILE: u64 = 64 * 1024;

fn read_proc(path: &str) -> Option<String> {
    let file = std::fs::File::open(path).ok()?;
    let mut text = String::new();
    file.take(MAX_PROC_FILE).read_to_string(&mut text).ok()?;
    Some(text)
}

/// Our resident set size in KiB (`VmRSS` of `/proc/self/status`), as it is now.
#[cfg(feature = "metrics")]
pub fn rss_kib() -> Option<u64> {
    let status = read_proc("/proc/self/status")?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    Some(first_u64(&line["VmRSS:".len()..]))
}

/// The host name, for the server id.
pub fn hostname() -> Option<String> {
    let name = read_proc("/proc/sys/kernel/hostname")?;
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_owned())
}

/// `/proc/meminfo` in KiB, and SRS's derived figures (srs_update_meminfo).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct MemInfo {
    pub ok: bool,
    pub mem_total: u64,
    pub mem_free: u64,
    pub buffers: u64,
    pub cached: u64,
    pub swap_total: u64,
    pub swap_free: u64,
}

impl MemInfo {
    pub fn parse(text: &str) -> MemInfo {
        let mut m = MemInfo {
            ok: true,
            ..MemInfo::default()
        };
        for line in text.lines() {
            let Some((key, rest)) = line.split_once(':') else {
                continue;
            };
            let value = first_u64(rest);
            match key {
                "MemTotal" => m.mem_total = value,
                "MemFree" => m.mem_free = value,
                "Buffers" => m.buffers = value,
                "Cached" => m.cached = value,
                "SwapTotal" => m.swap_total = value,
                "SwapFree" => m.swap_free = value,
                _ => {}
            }
        }
        m
    }

    fn read() -> MemInfo {
        read_proc("/proc/meminfo").map_or_else(MemInfo::default, |t| MemInfo::parse(&t))
    }

    /// MemTotal - MemFree.
    pub fn active(&self) -> u64 {
        self.mem_total.saturating_sub(self.mem_free)
    }

    /// Active less buffers and page cache.
    pub fn real_in_use(&self) -> u64 {
        self.active()
            .saturating_sub(self.buffers)
            .saturating_sub(self.cached)
    }

    /// The share of RAM really in use, 0..1.
    pub fn percent_ram(&self) -> f64 {
        ratio(self.real_in_use() as f64, self.mem_total as f64)
    }

    /// The share of swap in use, 0..1.
    pub fn percent_swap(&self) -> f64 {
        ratio(
            self.swap_total.saturating_sub(self.swap_free) as f64,
            self.swap_total as f64,
        )
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

/// The first unsigned integer in `s` (after blanks), 0 if none.
fn first_u64(s: &str) -> u64 {
    s.split_whitespace()
        .next()
        .and_then(|w| w.parse().ok())
        .unwrap_or(0)
}

/// `/proc/uptime`: seconds since boot and idle seconds (summed over CPUs).
fn parse_uptime(text: &str) -> Option<(f64, f64)> {
    let mut it = text.split_whitespace().map(parse_f64);
    Some((it.next()??, it.next()??))
}

/// `/proc/loadavg`: the 1, 5 and 15 minute load averages.
fn parse_loadavg(text: &str) -> Option<(f64, f64, f64)> {
    let mut it = text.split_whitespace().map(parse_f64);
    Some((it.next()??, it.next()??, it.next()??))
}

/// `/proc/stat`'s aggregate `cpu` line: (busy, total) jiffies since boot.
fn parse_cpu_times(text: &str) -> Option<(u64, u64)> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|w| w.parse().unwrap_or(0))
        .collect();
    let total: u64 = values.iter().fold(0u64, |a, &v| a.saturating_add(v));
    // SRS counts everything but `idle` (the 4th field) as busy, iowait included.
    let idle = values.get(3).copied().unwrap_or(0);
    Some((total.saturating_sub(idle), total))
}

/// `/proc/self/stat`: the parent pid, the field after the `(comm)` and the state.
fn parse_ppid(text: &str) -> Option<i64> {
    // comm may hold spaces and parentheses: the last ')' ends it.
    let rest = &text[text.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// A CPU list such as `0-3,6` (`/sys/devices/system/cpu/online`): how many CPUs it names.
fn parse_cpu_list(text: &str) -> Option<u64> {
    let mut n = 0u64;
    for part in text.trim().split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u64, u64) = (a.parse().ok()?, b.parse().ok()?);
                n += b.checked_sub(a)? + 1;
            }
            None => {
                part.parse::<u64>().ok()?;
                n += 1;
            }
        }
    }
    Some(n)
}

/// `/proc/net/dev` byte counters: (received, sent) on `lo`, and on every other device
/// (SRS splits intranet and internet devices by address; we do not look addresses up).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct NetBytes {
    recv: u64,
    send: u64,
    recv_lo: u64,
    send_lo: u64,
}

fn parse_net_dev(text: &str) -> NetBytes {
    let mut n = NetBytes::default();
    // Two header lines, then `name: rx_bytes rx_packets ... (8 rx fields) tx_bytes ...`.
    for line in text.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let fields: Vec<u64> = rest
            .split_whitespace()
            .map(|w| w.parse().unwrap_or(0))
            .collect();
        let (rx, tx) = (
            fields.first().copied().unwrap_or(0),
            fields.get(8).copied().unwrap_or(0),
        );
        if name.trim() == "lo" {
            n.recv_lo = n.recv_lo.saturating_add(rx);
            n.send_lo = n.send_lo.saturating_add(tx);
        } else {
            n.recv = n.recv.saturating_add(rx);
            n.send = n.send.saturating_add(tx);
        }
    }
    n
}

/// `/proc/net/sockstat`: (TCP alloc, TCP time-wait, UDP in use), as SRS reads them.
fn parse_sockstat(text: &str) -> (u64, u64, u64) {
    let mut tcp_alloc = 0;
    let mut tcp_tw = 0;
    let mut udp = 0;
    let value = |words: &[&str], key: &str| -> u64 {
        words
            .windows(2)
            .find(|w| w[0] == key)
            .and_then(|w| w[1].parse().ok())
            .unwrap_or(0)
    };
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.first() {
            Some(&"TCP:") => {
                tcp_alloc = value(&words, "alloc");
                tcp_tw = value(&words, "tw");
            }
            Some(&"UDP:") => udp = value(&words, "inuse"),
            _ => {}
        }
    }
    (tcp_alloc, tcp_tw, udp)
}

/// `/proc/net/snmp`: TCP CurrEstab, found by its name in the `Tcp:` header line.
fn parse_tcp_established(text: &str) -> u64 {
    let mut lines = text.lines().filter(|l| l.starts_with("Tcp:"));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "CurrEstab")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

/// A C `long` (or `time_t`) widened: 32 bits on the ARM/MIPS boards, 64 on the others.
#[allow(clippy::useless_conversion)]
fn long<T: Into<i64>>(v: T) -> i64 {
    v.into()
}

/// `getrusage(RUSAGE_SELF)`, or `None` where it fails.
fn getrusage() -> Option<nix::sys::resource::Usage> {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF).ok()
}

/// Our CPU time so far (user + system, µs), for the once-a-second sample of
/// `self.cpu_percent`; `None` where `getrusage` fails.
pub fn cpu_time_us() -> Option<u64> {
    let u = getrusage()?;
    let us = |tv: nix::sys::time::TimeVal| {
        let us = long(tv.tv_sec()) * 1_000_000 + long(tv.tv_usec());
        u64::try_from(us).unwrap_or(0)
    };
    Some(us(u.user_time()) + us(u.system_time()))
}

/// 4 decimals: hundredths of a percent of a 0..1 share.
/// The C library's count of online CPUs. Not `std::thread::available_parallelism`: it also
/// reads and parses cgroup files (about 9 KB of the router binary) for a figure that only
/// stands in when /sys cannot be read.
fn cpus_online_sysconf() -> Option<u64> {
    // SAFETY: sysconf takes a constant and reads no memory of ours.
    let n = unsafe { nix::libc::sysconf(nix::libc::_SC_NPROCESSORS_ONLN) };
    u64::try_from(n).ok().filter(|&n| n > 0)
}

fn round4(v: f64) -> f64 {
    if v.is_finite() {
        (v * 10_000.0).round() / 10_000.0
    } else {
        0.0
    }
}

/// `/api/v1/rusages` `data` (SRS: `SrsGoApiRusages`); times are whole seconds as in SRS.
#[derive(Serialize)]
pub struct Rusage {
    ok: bool,
    sample_time: u64,
    ru_utime: i64,
    ru_stime: i64,
    ru_maxrss: i64,
    ru_ixrss: i64,
    ru_idrss: i64,
    ru_isrss: i64,
    ru_minflt: i64,
    ru_majflt: i64,
    ru_nswap: i64,
    ru_inblock: i64,
    ru_oublock: i64,
    ru_msgsnd: i64,
    ru_msgrcv: i64,
    ru_nsignals: i64,
    ru_nvcsw: i64,
    ru_nivcsw: i64,
}

pub fn rusage(epoch_now_ms: u64) -> Rusage {
    let u = getrusage();
    let f = |get: fn(&nix::sys::resource::Usage) -> i64| u.as_ref().map_or(0, get);
    Rusage {
        ok: u.is_some(),
        sample_time: epoch_now_ms,
        ru_utime: f(|u| long(u.user_time().tv_sec())),
        ru_stime: f(|u| long(u.system_time().tv_sec())),
        ru_maxrss: f(|u| long(u.max_rss())),
        ru_ixrss: f(|u| long(u.shared_integral())),
        ru_idrss: f(|u| long(u.unshared_data_integral())),
        ru_isrss: f(|u| long(u.unshared_stack_integral())),
        ru_minflt: f(|u| long(u.minor_page_faults())),
        ru_majflt: f(|u| long(u.major_page_faults())),
        ru_nswap: f(|u| long(u.full_swaps())),
        ru_inblock: f(|u| long(u.block_reads())),
        ru_oublock: f(|u| long(u.block_writes())),
        ru_msgsnd: f(|u| long(u.ipc_sends())),
        ru_msgrcv: f(|u| long(u.ipc_receives())),
        ru_nsignals: f(|u| long(u.signals())),
        ru_nvcsw: f(|u| long(u.voluntary_context_switches())),
        ru_nivcsw: f(|u| long(u.involuntary_context_switches())),
    }
}

/// `/api/v1/meminfos` `data` (SRS: `SrsGoApiMemInfos`), in KiB; percentages are 0..1.
#[derive(Serialize)]
#[allow(non_snake_case)]
pub struct MemInfos {
    ok: bool,
    sample_time: u64,
    percent_ram: f64,
    percent_swap: f64,
    MemActive: u64,
    RealInUse: u64,
    NotInUse: u64,
    MemTotal: u64,
    MemFree: u64,
    Buffers: u64,
    Cached: u64,
    SwapTotal: u64,
    SwapFree: u64,
}

pub fn meminfo(epoch_now_ms: u64) -> MemInfos {
    meminfos_from(&MemInfo::read(), epoch_now_ms)
}

pub fn meminfos_from(m: &MemInfo, epoch_now_ms: u64) -> MemInfos {
    MemInfos {
        ok: m.ok,
        sample_time: epoch_now_ms,
        percent_ram: round2(m.percent_ram()),
        percent_swap: round2(m.percent_swap()),
        MemActive: m.active(),
        RealInUse: m.real_in_use(),
        NotInUse: m.mem_total.saturating_sub(m.real_in_use()),
        MemTotal: m.mem_total,
        MemFree: m.mem_free,
        Buffers: m.buffers,
        Cached: m.cached,
        SwapTotal: m.swap_total,
        SwapFree: m.swap_free,
    }
}

/// `/api/v1/summaries` `data` (SRS: `srs_api_dump_summaries`).
#[derive(Serialize)]
pub struct Summaries {
    ok: bool,
    now_ms: u64,
    #[serde(rename = "self")]
    process: SelfSummary,
    system: SystemSummary,
    /// Not in SRS (its consoles ignore an extra key): live counts for leak checks.
    tinysrs: LiveCounts,
}

/// What is alive now; a leak shows as a count that does not come back down after the
/// clients leave.
#[derive(Serialize)]
struct LiveCounts {
    /// Accepted TCP connections open (RTMP, HTTP, GB28181 SIP and media: what
    /// `max_connections` limits).
    connections: usize,
    /// Per-connection and per-media-session tasks running.
    tasks: usize,
    /// Sources in the hub (freed `grace_period` after their last publisher and player).
    sources: usize,
    /// Player queues attached to those Sources.
    players: usize,
    /// Clients in the registry (every RTMP and HTTP connection, every GB28181 media session
    /// that received a packet).
    clients: usize,
    /// File ops (HLS segments, playlists, removals) dropped since the start because the disk
    /// queue was full: the disk is slower than the streams. A count, not a gauge.
    file_ops_dropped: u64,
    /// File ops that failed since the start (disk full, permissions).
    file_ops_failed: u64,
    /// The worst-case RAM the config in force allows (`tinysrs -t`'s total: every cap full
    /// at once), in bytes; null when `main` did not install [`super::MEMORY_BUDGET`].
    budget_bytes: Option<u64>,
    /// The port RTMP listens on (the one bound, when the config asked for port 0), for the
    /// console's publish hint; null without RTMP, and in the heartbeat.
    rtmp_port: Option<u16>,
}

impl Summaries {
    /// Sets [`LiveCounts::rtmp_port`] (the API knows the bound addresses).
    pub fn with_rtmp_port(mut self, port: Option<u16>) -> Summaries {
        self.tinysrs.rtmp_port = port;
        self
    }
}

#[derive(Serialize)]
struct SelfSummary {
    version: &'static str,
    pid: u32,
    ppid: i64,
    /// The command line, arguments joined by spaces.
    argv: String,
    cwd: String,
    /// Peak resident set (ru_maxrss), KiB.
    mem_kbyte: i64,
    /// mem_kbyte / MemTotal, 0..1.
    mem_percent: f64,
    /// Our CPU share over the last second (SRS: over its last sample, a second), with 4
    /// decimals; 1.0 is one CPU busy.
    cpu_percent: f64,
    /// Seconds since the server started.
    srs_uptime: u64,
}

#[derive(Serialize)]
struct SystemSummary {
    /// Busy (not idle) share of all CPUs since boot, 0..1.
    cpu_percent: f64,
    /// Disk figures need sampling over time: not collected.
    #[serde(rename = "disk_read_KBps")]
    disk_read_kbps: u64,
    #[serde(rename = "disk_write_KBps")]
    disk_write_kbps: u64,
    disk_busy_percent: f64,
    mem_ram_kbyte: u64,
    mem_ram_percent: f64,
    mem_swap_kbyte: u64,
    mem_swap_percent: f64,
    cpus: u64,
    cpus_online: u64,
    uptime: f64,
    /// SRS's spelling.
    ilde_time: f64,
    load_1m: f64,
    load_5m: f64,
    load_15m: f64,
    net_sample_time: u64,
    /// Bytes through devices other than `lo`.
    net_recv_bytes: u64,
    net_send_bytes: u64,
    /// Bytes through `lo`.
    net_recvi_bytes: u64,
    net_sendi_bytes: u64,
    srs_sample_time: u64,
    /// Bytes moved by the clients connected now.
    srs_recv_bytes: u64,
    srs_send_bytes: u64,
    conn_sys: u64,
    conn_sys_et: u64,
    conn_sys_tw: u64,
    conn_sys_udp: u64,
    /// Clients in the registry (connections, and GB28181 media sessions).
    conn_srs: u64,
}

pub fn summaries(ctx: &ServerCtx, epoch_now_ms: u64, now_ms: u64) -> Summaries {
    let usage = getrusage();
    let mem = MemInfo::read();
    let uptime_s = now_ms / 1000;
    let mem_kbyte = usage.as_ref().map_or(0, |u| long(u.max_rss()));
    let ppid = read_proc("/proc/self/stat").and_then(|t| parse_ppid(&t));
    let cpu = read_proc("/proc/stat").and_then(|t| parse_cpu_times(&t));
    let os_uptime = read_proc("/proc/uptime").and_then(|t| parse_uptime(&t));
    let load = read_proc("/proc/loadavg").and_then(|t| parse_loadavg(&t));
    let net = read_proc("/proc/net/dev").map(|t| parse_net_dev(&t));
    let sockstat = read_proc("/proc/net/sockstat").map(|t| parse_sockstat(&t));
    let established = read_proc("/proc/net/snmp").map(|t| parse_tcp_established(&t));
    let cpus = read_proc("/sys/devices/system/cpu/possible").and_then(|t| parse_cpu_list(&t));
    let cpus_online = read_proc("/sys/devices/system/cpu/online")
        .and_then(|t| parse_cpu_list(&t))
        .or_else(cpus_online_sysconf);
    let (mut srs_recv, mut srs_send) = (0u64, 0u64);
    let records = ctx.clients.snapshot();
    for r in &records {
        srs_recv = srs_recv.wrapping_add(r.recv.total());
        srs_send = srs_send.wrapping_add(r.send.total());
    }
    let ok = usage.is_some()
        && mem.ok
        && ppid.is_some()
        && cpu.is_some()
        && os_uptime.is_some()
        && load.is_some()
        && net.is_some()
        && sockstat.is_some();
    let (tcp_alloc, tcp_tw, udp) = sockstat.unwrap_or((0, 0, 0));
    let net = net.unwrap_or_default();
    let (os_up, os_idle) = os_uptime.unwrap_or((0.0, 0.0));
    let (l1, l5, l15) = load.unwrap_or((0.0, 0.0, 0.0));
    Summaries {
        ok,
        now_ms: epoch_now_ms,
        process: SelfSummary {
            version: env!("CARGO_PKG_VERSION"),
            pid: std::process::id(),
            ppid: ppid.unwrap_or(0),
            argv: std::env::args_os()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" "),
            cwd: std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_default(),
            mem_kbyte,
            mem_percent: round2(ratio(mem_kbyte as f64, mem.mem_total as f64)),
            cpu_percent: round4(ctx.cpu.share()),
            srs_uptime: uptime_s,
        },
        system: SystemSummary {
            cpu_percent: round2(cpu.map_or(0.0, |(busy, total)| ratio(busy as f64, total as f64))),
            disk_read_kbps: 0,
            disk_write_kbps: 0,
            disk_busy_percent: 0.0,
            mem_ram_kbyte: mem.mem_total,
            mem_ram_percent: round2(mem.percent_ram()),
            mem_swap_kbyte: mem.swap_total,
            mem_swap_percent: round2(mem.percent_swap()),
            cpus: cpus.or(cpus_online).unwrap_or(0),
            cpus_online: cpus_online.unwrap_or(0),
            uptime: round2(os_up),
            ilde_time: round2(os_idle),
            load_1m: round2(l1),
            load_5m: round2(l5),
            load_15m: round2(l15),
            net_sample_time: epoch_now_ms,
            net_recv_bytes: net.recv,
            net_send_bytes: net.send,
            net_recvi_bytes: net.recv_lo,
            net_sendi_bytes: net.send_lo,
            srs_sample_time: epoch_now_ms,
            srs_recv_bytes: srs_recv,
            srs_send_bytes: srs_send,
            conn_sys: tcp_alloc + tcp_tw,
            conn_sys_et: established.unwrap_or(0),
            conn_sys_tw: tcp_tw,
            conn_sys_udp: udp,
            conn_srs: records.len() as u64,
        },
        tinysrs: live_counts(ctx),
    }
}

fn live_counts(ctx: &ServerCtx) -> LiveCounts {
    let hub = ctx.hub.borrow();
    LiveCounts {
        connections: ctx.connections.get(),
        tasks: ctx.tasks.get(),
        sources: hub.len(),
        players: hub.sources().map(|s| s.borrow().players()).sum(),
        clients: ctx.clients.len(),
        file_ops_dropped: ctx.files.counts().dropped,
        file_ops_failed: ctx.files.counts().failed,
        budget_bytes: super::MEMORY_BUDGET.get().map(|f| f(&ctx.config())),
        rtmp_port: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMINFO: &str = "MemTotal:        1000000 kB\nMemFree:          200000 kB\n\
        MemAvailable:     600000 kB\nBuffers:           50000 kB\nCached:           150000 kB\n\
        SwapCached:            0 kB\nSwapTotal:        400000 kB\nSwapFree:         300000 kB\n";

    #[test]
    fn meminfo_and_srs_derived_figures() {
        let m = MemInfo::parse(MEMINFO);
        assert_eq!(m.mem_total, 1_000_000);
        assert_eq!(m.cached, 150_000, "SwapCached is not Cached");
        assert_eq!(m.active(), 800_000);
        assert_eq!(m.real_in_use(), 600_000);
        assert_eq!(m.percent_ram(), 0.6);
        assert_eq!(m.percent_swap(), 0.25);
        let j = meminfos_from(&m, 7);
        assert_eq!(j.NotInUse, 400_000);
        assert_eq!(j.sample_time, 7);
        // Nothing to divide by: zeros, not NaN.
        let empty = MemInfo::parse("");
        assert_eq!(empty.percent_ram(), 0.0);
        assert_eq!(empty.percent_swap(), 0.0);
    }

    #[test]
    fn small_proc_files() {
        assert_eq!(
            parse_uptime("350735.47 234388.90\n"),
            Some((350735.47, 234388.90))
        );
        assert_eq!(parse_uptime("x"), None);
        assert_eq!(
            parse_loadavg("0.20 0.18 0.12 1/80 11206\n"),
            Some((0.2, 0.18, 0.12))
        );
        assert_eq!(
            parse_cpu_times("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4\n"),
            Some((200, 1000))
        );
        assert_eq!(
            parse_ppid("1234 (tiny srs) (x) S 77 1234 1234 0 -1 4194560 12 0"),
            Some(77)
        );
        assert_eq!(parse_ppid("garbage"), None);
        assert_eq!(parse_cpu_list("0-3\n"), Some(4));
        assert_eq!(parse_cpu_list("0,2-3,7"), Some(4));
        assert_eq!(parse_cpu_list("3-1"), None);
    }

    #[test]
    fn network_counters() {
        let dev = "Inter-|   Receive                                                |  Transmit\n \
            face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
            lo:  1000      10    0    0    0     0          0         0     1000      10    0    0    0     0       0          0\n  \
            eth0: 5000      50    0    0    0     0          0         0     7000      70    0    0    0     0       0          0\n  \
            wlan0: 1      1    0    0    0     0          0         0     2      1    0    0    0     0       0          0\n";
        assert_eq!(
            parse_net_dev(dev),
            NetBytes {
                recv: 5001,
                send: 7002,
                recv_lo: 1000,
                send_lo: 1000
            }
        );
        let sockstat = "sockets: used 290\nTCP: inuse 12 orphan 0 tw 3 alloc 15 mem 2\n\
            UDP: inuse 4 mem 1\nUDPLITE: inuse 0\n";
        assert_eq!(parse_sockstat(sockstat), (15, 3, 4));
        let snmp = "Ip: Forwarding DefaultTTL\nIp: 1 64\n\
            Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs\n\
            Tcp: 1 200 120000 -1 10 20 0 1 6 1000\n";
        assert_eq!(parse_tcp_established(snmp), 6);
        assert_eq!(parse_tcp_established("Tcp: CurrEstab\n"), 0);
    }
}
