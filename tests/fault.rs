//! Fault and abuse tests against the real binary on 127.0.0.1: a connection flood, slow-loris
//! handshakes and heads, 200 players that stop reading, garbage on every port, a publisher
//! killed mid-GOP, 50 reloads under load, and a leak check over 10,000 short sessions.
//!
//! Leaks are read from the server's own counts (`/api/v1/summaries` `data.tinysrs`: open
//! connections, connection tasks, Sources, players) and from its RSS. Each test prints its
//! RSS figures as `fault: <test> rss baseline=.. peak=.. after=.. KiB`.
//!
//! The tests take turns (`serial`): one test's load must not show in another's RSS figures or
//! frame timings, and the machine has two cores shared with other jobs. Timing is asserted
//! only where the issue asks for it (a frame within 1 s of the publisher, no gap above 1 s),
//! measured against the publisher's own send times.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::client::{Client, Error, MediaKind, Received};
use common::frames::{avc_frame, avc_header};
use common::paced::{read_until_unpublish, Paced, FRAME_MS};
use common::{
    curl, ffmpeg_publish, ffmpeg_read, ffprobe, player, publisher, rss_kib, Server, TempDir,
};
use serde_json::Value;
use tinysrs::net::rtmp::READ_BUFFER;
use tinysrs::wire::flv;
use tinysrs::wire::rtmp::chunk;
use tinysrs::wire::rtmp::handshake;
use tinysrs::wire::rtmp::message::{MessageHeader, MessageType};

const WAIT: Duration = Duration::from_secs(15);
static SERIAL: Mutex<()> = Mutex::new(());

/// One test at a time (a failed test poisons the lock; the next one still runs).
fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// No HLS (it keeps its own window of segments in RAM) and a Source freed as soon as it is
/// idle, so the counts settle within a sweep (1 s).
const BASE: &str = "grace_period = 0\n[vhost.__defaultVhost__.hls]\nenabled = false\n";

// ---------------------------------------------------------------------------------------------
// Helpers: the server's live counts, RSS sampling, pacing.
// ---------------------------------------------------------------------------------------------

/// `/api/v1/summaries` `data.tinysrs`. The API request itself is one connection and one task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Live {
    connections: u64,
    tasks: u64,
    sources: u64,
    players: u64,
}

fn live(server: &Server) -> Live {
    let (status, _, body) = curl(&[&server.http_url("api/v1/summaries")]);
    assert_eq!(status, 200, "summaries: {}", String::from_utf8_lossy(&body));
    let v: Value = serde_json::from_slice(&body).expect("summaries JSON");
    let t = &v["data"]["tinysrs"];
    let n = |k: &str| {
        t[k].as_u64()
            .unwrap_or_else(|| panic!("tinysrs.{k} in {v}"))
    };
    Live {
        connections: n("connections"),
        tasks: n("tasks"),
        sources: n("sources"),
        players: n("players"),
    }
}

/// Polls the counts until `done` holds; fails with the last counts after `WAIT`.
fn wait_live(server: &Server, what: &str, done: impl Fn(&Live) -> bool) -> Live {
    let end = Instant::now() + WAIT;
    loop {
        let l = live(server);
        if done(&l) {
            return l;
        }
        assert!(Instant::now() < end, "{what}: counts stay at {l:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// What is left when only the API request itself is connected.
fn idle(l: &Live) -> bool {
    *l == Live {
        connections: 1,
        tasks: 1,
        sources: 0,
        players: 0,
    }
}

/// Samples the server's RSS every 20 ms until `finish`.
struct Sampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<u64>,
}

impl Sampler {
    fn start(server: &Server) -> Sampler {
        let (pid, stop) = (server.pid(), Arc::new(AtomicBool::new(false)));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut peak = 0;
            while !flag.load(Ordering::Relaxed) {
                peak = peak.max(rss_kib(pid));
                std::thread::sleep(Duration::from_millis(20));
            }
            peak
        });
        Sampler { stop, thread }
    }

    /// The peak RSS seen, KiB.
    fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

fn report_rss(test: &str, baseline: u64, peak: u64, after: u64) {
    eprintln!("fault: {test} rss baseline={baseline} peak={peak} after={after} KiB");
}

/// Every frame from the first received one to the last sent one arrived, in order.
fn assert_every_frame(got: &[(u32, Instant)], sent: u32, what: &str) {
    let first = got
        .first()
        .map(|g| g.0)
        .unwrap_or_else(|| panic!("{what}: no frames"));
    let numbers: Vec<u32> = got.iter().map(|g| g.0).collect();
    let want: Vec<u32> = (first..sent).collect();
    assert!(
        numbers == want,
        "{what}: frames {first}..{sent} expected, got {} frames (first {:?}, last {:?})",
        numbers.len(),
        numbers.first(),
        numbers.last()
    );
}

/// TCP connect; the caller sends what it likes.
fn raw(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.set_write_timeout(Some(WAIT)).unwrap();
    s
}

/// True once the server closed `s` (EOF or reset); the socket must be nonblocking.
fn closed_by_server(mut s: &TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return true,
        }
    }
}

/// Reads until the server closes `s` (blocking, bounded by `WAIT`).
fn assert_closed(s: &mut TcpStream, what: &str) {
    let end = Instant::now() + WAIT;
    let mut buf = [0u8; 4096];
    loop {
        s.set_read_timeout(Some(
            end.saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1)),
        ))
        .unwrap();
        match s.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("{what}: still open after {WAIT:?}")
            }
            Err(_) => return,
        }
        assert!(Instant::now() < end, "{what}: still open after {WAIT:?}");
    }
}

/// Deterministic noise (xorshift64).
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Connection flood.
// ---------------------------------------------------------------------------------------------

/// Opens `n` connections that never send, alternating between the RTMP and HTTP ports; waits
/// until the server has closed at least `refused` of them (bounded) and returns them all with
/// the number it closed.
fn flood(server: &Server, n: usize, refused: usize) -> (Vec<TcpStream>, usize) {
    let http = server.http_addr.unwrap();
    let mut socks: Vec<TcpStream> = (0..n)
        .map(|i| {
            let s = TcpStream::connect(if i % 2 == 0 { server.addr } else { http }).unwrap();
            s.set_nonblocking(true).unwrap();
            s
        })
        .collect();
    let end = Instant::now() + WAIT;
    let mut closed = vec![false; n];
    loop {
        for (s, c) in socks.iter_mut().zip(closed.iter_mut()) {
            if !*c {
                *c = closed_by_server(s);
            }
        }
        let count = closed.iter().filter(|c| **c).count();
        if count >= refused || Instant::now() >= end {
            return (socks, count);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn flood_over_max_connections_is_refused_while_ffmpeg_keeps_streaming() {
    let _turn = serial();
    const MAX: usize = 100;
    const EXTRA: usize = 500;
    // Admitted flood connections must outlive the check: handshake and idle timeouts long.
    let server = Server::start(&format!(
        "max_connections = {MAX}\nhandshake_timeout = 60000\nidle_timeout = 60000\n{BASE}"
    ));
    let dir = TempDir::new("flood");
    let url = server.url("live/flood");
    let mut ffmpeg = ffmpeg_publish(&dir, &url, 60, 25, "500k");
    assert!(
        server.wait_log("publish __defaultVhost__/live/flood", WAIT),
        "ffmpeg did not publish: {}",
        ffmpeg.stderr()
    );
    // A real player across the whole flood: ffmpeg copies 20 s of the stream into a file.
    const PLAY_SECONDS: u32 = 20;
    let reader = {
        let url = url.clone();
        std::thread::spawn(move || {
            let d = TempDir::new("flood-player");
            let out = d.path("player.flv");
            let (ok, err) = ffmpeg_read(&d, &url, PLAY_SECONDS, &out, Duration::from_secs(90));
            let probe = ffprobe(&d, out.to_str().unwrap(), Duration::from_secs(60));
            (ok, err, probe)
        })
    };
    assert!(
        server.wait_log("play __defaultVhost__/live/flood", WAIT),
        "ffmpeg did not play:\n{}",
        server.log()
    );
    let streaming = |l: &Live| l.connections == 3 && l.tasks == 3 && l.players == 1;

    // Warm-up (the allocator's arenas grow once), then the baseline.
    let cold = server.rss_kib();
    let (socks, _) = flood(&server, MAX + EXTRA, EXTRA);
    drop(socks);
    wait_live(&server, "after the warm-up flood", streaming);
    let baseline = server.rss_kib();

    let sampler = Sampler::start(&server);
    let (socks, refused) = flood(&server, MAX + EXTRA, EXTRA);
    // Publisher and player hold two places: 98 flood connections are admitted and stay open
    // (they never send; the timeouts are a minute), every other one is closed at accept.
    let admitted = MAX - 2;
    std::thread::sleep(Duration::from_secs(1));
    let open = socks.iter().filter(|s| !closed_by_server(s)).count();
    eprintln!(
        "fault: flood {} connections: {refused} refused, {open} admitted",
        MAX + EXTRA
    );
    assert!(refused >= EXTRA, "only {refused} connections refused");
    assert_eq!(open, admitted, "flood connections admitted");
    assert!(
        server.wait_log(&format!("max_connections {MAX} reached"), WAIT),
        "no refusal logged:\n{}",
        server.log()
    );
    // The limit covers the GB28181 TCP ports too: refused there while it is reached.
    let (sip, media) = gb_addrs(&server);
    for (addr, what) in [
        (sip, "GB28181 SIP over TCP"),
        (media, "GB28181 media over TCP"),
    ] {
        let mut s = raw(addr);
        assert_closed(&mut s, &format!("{what} at max_connections"));
    }
    // Held for a few seconds while the real publisher and player go on.
    std::thread::sleep(Duration::from_secs(3));
    drop(socks);
    let counts = wait_live(&server, "after the flood", streaming);
    let peak = sampler.finish();
    let after = server.rss_kib();
    report_rss("flood", baseline, peak, after);
    eprintln!("fault: flood rss before the warm-up flood {cold} KiB");
    assert!(
        !matches!(ffmpeg.child.try_wait(), Ok(Some(_))),
        "the publisher ended during the flood: {}",
        ffmpeg.stderr()
    );
    assert_eq!(counts.sources, 1);

    let (ok, err, probe) = reader.join().unwrap();
    assert!(ok, "ffmpeg player: {err}");
    assert!(
        probe.success && probe.errors.trim().is_empty(),
        "{}",
        probe.errors
    );
    let expected = (25 * PLAY_SECONDS) as usize * 8 / 10;
    assert!(
        probe.video_frames >= expected,
        "the player decoded {} video frames, expected at least {expected}",
        probe.video_frames
    );
    assert!(
        after * 10 <= baseline * 11,
        "RSS after the flood {after} KiB is more than 10% over the baseline {baseline} KiB"
    );
}

// ---------------------------------------------------------------------------------------------
// Slow-loris.
// ---------------------------------------------------------------------------------------------

/// `handshake_timeout` of the slow-loris test.
const LORIS_HANDSHAKE_MS: u64 = 2000;

/// One round of 30 slow-loris connections; returns once the server closed them all (each
/// close logged with its reason).
fn slow_loris_round(server: &Server) {
    let http = server.http_addr.unwrap();
    // 10 RTMP connections trickling C0C1, 10 that finish the handshake and trickle `connect`,
    // 10 HTTP connections trickling a request head: one byte each every 200 ms, far below any
    // idle timeout (a minute), never done.
    let c0c1 = handshake::client_c0c1(&[7u8; handshake::PACKET_LEN], 0, true);
    let mut connect = Vec::new();
    {
        let header = MessageHeader {
            csid: 3,
            timestamp: 0,
            type_id: MessageType::CommandAmf0,
            stream_id: 0,
        };
        // A `connect` command far longer than anything trickled within the timeout.
        let mut body = vec![0x02, 0x00, 0x07];
        body.extend_from_slice(b"connect");
        body.extend(std::iter::repeat_n(0x05, 4000));
        chunk::encode_message(128, &header, &body, &mut connect);
    }
    let head = {
        let mut h = b"GET /api/v1/versions HTTP/1.1\r\nHost: 127.0.0.1\r\n".to_vec();
        h.extend(std::iter::repeat_n(b'X', 4000));
        h
    };
    struct Loris {
        sock: TcpStream,
        bytes: Vec<u8>,
        sent: usize,
        closed: bool,
        log: String,
    }
    let mut lorises = Vec::new();
    for i in 0..20 {
        let (sock, bytes, log) = if i < 10 {
            let sock = raw(server.addr);
            let port = sock.local_addr().unwrap().port();
            let log = format!("closed 127.0.0.1:{port}: timeout: handshake and connect");
            (sock, c0c1.clone(), log)
        } else {
            let sock = raw(http);
            let port = sock.local_addr().unwrap().port();
            let log = format!("HTTP 127.0.0.1:{port} closed: request head not complete in time");
            (sock, head.clone(), log)
        };
        sock.set_nonblocking(true).unwrap();
        lorises.push(Loris {
            sock,
            bytes,
            sent: 0,
            closed: false,
            log,
        });
    }
    // The handshaken ones (by hand, so that the socket stays a plain one).
    for _ in 0..10 {
        let mut sock = raw(server.addr);
        sock.write_all(&c0c1).unwrap();
        let mut s0s1s2 = vec![0u8; handshake::S0S1S2_LEN];
        sock.read_exact(&mut s0s1s2).unwrap();
        let c2 = handshake::client_c2(&c0c1, &s0s1s2).unwrap();
        sock.write_all(&c2).unwrap();
        let port = sock.local_addr().unwrap().port();
        sock.set_nonblocking(true).unwrap();
        lorises.push(Loris {
            sock,
            bytes: connect.clone(),
            sent: 0,
            closed: false,
            log: format!("closed 127.0.0.1:{port}: timeout: handshake and connect"),
        });
    }
    assert_eq!(lorises.len(), 30);

    let end = Instant::now() + Duration::from_millis(LORIS_HANDSHAKE_MS) + WAIT;
    while lorises.iter().any(|l| !l.closed) && Instant::now() < end {
        for l in lorises.iter_mut().filter(|l| !l.closed) {
            if closed_by_server(&l.sock) {
                l.closed = true;
                continue;
            }
            match l.sock.write(&l.bytes[l.sent..=l.sent]) {
                Ok(n) => l.sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => l.closed = true,
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let open = lorises.iter().filter(|l| !l.closed).count();
    assert_eq!(open, 0, "slow-loris connections still open after {WAIT:?}");
    // Each was trickling until closed (so the idle timer had no part in it), and each close
    // was logged with its reason.
    for l in &lorises {
        assert!(
            l.sent >= 3,
            "a slow-loris connection sent only {} bytes",
            l.sent
        );
        assert!(l.sent < l.bytes.len());
        assert!(
            server.wait_log(&l.log, WAIT),
            "no {:?} in the log:\n{}",
            l.log,
            server.log()
        );
    }
}

#[test]
fn slow_loris_handshakes_and_heads_are_timed_out_and_leave_nothing_behind() {
    let _turn = serial();
    let server = Server::start(&format!(
        "handshake_timeout = {LORIS_HANDSHAKE_MS}\nidle_timeout = 60000\n{BASE}"
    ));
    // A warm-up round (the allocator keeps what it once needed), then the baseline.
    let cold = server.rss_kib();
    slow_loris_round(&server);
    wait_live(&server, "after the warm-up round", idle);
    let baseline = server.rss_kib();
    let sampler = Sampler::start(&server);
    slow_loris_round(&server);
    wait_live(&server, "after the slow-loris connections", idle);
    let peak = sampler.finish();
    let after = server.rss_kib();
    report_rss("slow-loris", baseline, peak, after);
    eprintln!("fault: slow-loris rss before the warm-up round {cold} KiB");
    assert!(
        after * 100 <= baseline * 105,
        "RSS after {after} KiB is more than 5% over the baseline {baseline} KiB"
    );
}

// ---------------------------------------------------------------------------------------------
// 200 players that stop reading.
// ---------------------------------------------------------------------------------------------

#[test]
fn two_hundred_stalled_players_stay_under_their_caps_and_a_normal_player_keeps_up() {
    let _turn = serial();
    const STALLED: u64 = 200;
    // 4 KB frames at 25 fps (0.8 Mbit/s); a frame costs twice its size in a queue (payload and
    // RTMP chunks), so the 256 KiB queue holds 1.3 s: what a player may lag (1 s) and more.
    // A stalled player's socket buffers (SEND_BUFFER, doubled by Linux, and the client's
    // receive buffer) fill in about 7 s, then its queue overflows.
    const QUEUE: u64 = 256 * 1024;
    const FRAME_LEN: usize = 4_000;
    let server = Server::start(&format!(
        "{BASE}[vhost.__defaultVhost__.play]\nqueue_max_bytes = {QUEUE}\ntime_jitter = \"off\"\n"
    ));
    let mut normal = player(&server, "stall");
    let paced = Paced::start(publisher(&server, "stall"), FRAME_LEN, 25);
    let reader = std::thread::spawn(move || {
        let got = read_until_unpublish(&mut normal, Duration::from_secs(120));
        (got, normal)
    });
    std::thread::sleep(Duration::from_secs(2));
    let baseline = server.rss_kib();
    let sampler = Sampler::start(&server);

    // They play, then never read again.
    let stalled: Vec<Client> = (0..STALLED).map(|_| player(&server, "stall")).collect();
    assert!(
        server.wait_log("slow player", Duration::from_secs(40)),
        "the stalled players never overflowed their queues:\n{}",
        server.log()
    );
    // Overflowing for a while.
    std::thread::sleep(Duration::from_secs(2));
    let during = wait_live(&server, "while stalled", |l| l.players == STALLED + 1);
    let (sent, sent_at) = paced.finish();
    let (got, normal) = reader.join().unwrap();
    let got = got.unwrap_or_else(|e| panic!("the normal player: {e}"));
    let peak = sampler.finish();
    drop(normal);
    drop(stalled);
    wait_live(&server, "after the players left", idle);
    let after = server.rss_kib();
    report_rss("stalled-players", baseline, peak, after);

    // The normal player got every frame, each within 1 s of the publisher sending it.
    assert_every_frame(&got, sent, "the normal player");
    let worst = got
        .iter()
        .map(|(n, at)| at.saturating_duration_since(sent_at[*n as usize]))
        .max()
        .unwrap();
    eprintln!(
        "fault: stalled-players normal player got {} frames, worst delay {worst:?}; \
         {during:?}",
        got.len()
    );
    assert!(worst <= Duration::from_secs(1), "a frame took {worst:?}");

    // Per stalled player: its queue cap, its read buffer and 16 KiB for its session and
    // connection state. Frames are shared, so a stalled player's queue and blocked write
    // batch hold references, not copies.
    let per_player = (QUEUE + READ_BUFFER as u64 + 16 * 1024) / 1024;
    let bound = baseline + STALLED * per_player;
    eprintln!(
        "fault: stalled-players bound {bound} KiB ({per_player} KiB per player); used {} KiB \
         over the baseline, {} KiB per player",
        peak.saturating_sub(baseline),
        peak.saturating_sub(baseline) / STALLED
    );
    assert!(peak <= bound, "RSS peak {peak} KiB over {bound} KiB");
}

/// Found by the test above with a smaller queue: while a player's driver waited `mw_latency`
/// to merge writes, a queue holding less than that much of the stream overflowed, was cut
/// back to the next keyframe, and overflowed again before the next write: a player reading
/// at full speed got nothing at all. The wait now ends when the queue is half full.
#[test]
fn a_queue_smaller_than_mw_latency_of_the_stream_still_delivers() {
    let _turn = serial();
    // 8 KB frames at 25 fps cost 16 KB each in a queue: 64 KiB holds 4 frames (160 ms), less
    // than the 350 ms a merged write waits.
    let server = Server::start(&format!(
        "{BASE}[vhost.__defaultVhost__.play]\nqueue_max_bytes = 65536\nmw_latency = 350\n\
         time_jitter = \"off\"\n"
    ));
    let mut watcher = player(&server, "small");
    let paced = Paced::start(publisher(&server, "small"), 8_000, 25);
    let reader = std::thread::spawn(move || read_until_unpublish(&mut watcher, WAIT * 2));
    std::thread::sleep(Duration::from_secs(4));
    let (sent, _) = paced.finish();
    let got = reader
        .join()
        .unwrap()
        .unwrap_or_else(|e| panic!("the player: {e}"));
    eprintln!(
        "fault: small queue: the player got {} of {sent} frames",
        got.len()
    );
    // Most frames; a loaded machine may stall the server long enough for a few drops.
    assert!(
        got.len() as u32 * 2 >= sent,
        "the player got {} of {sent} frames",
        got.len()
    );
}

// ---------------------------------------------------------------------------------------------
// Garbage and truncated input on every port.
// ---------------------------------------------------------------------------------------------

/// The GB28181 SIP and media addresses from the start-up log line.
fn gb_addrs(server: &Server) -> (SocketAddr, SocketAddr) {
    // "GB28181 SIP listening on 127.0.0.1:P (udp, tcp), media on 127.0.0.1:M"
    let log = server.log();
    let line = log
        .lines()
        .find_map(|l| l.split("GB28181 SIP listening on ").nth(1))
        .unwrap_or_else(|| panic!("no GB28181 listener:\n{log}"));
    let sip = line.split_whitespace().next().unwrap().parse().unwrap();
    let media = line.rsplit(' ').next().unwrap().parse().unwrap();
    (sip, media)
}

/// A SIP REGISTER (GB28181 device 34020000001320000001) over UDP; returns the status line of
/// the answer.
fn sip_register(sip: SocketAddr) -> String {
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(WAIT)).unwrap();
    let port = udp.local_addr().unwrap().port();
    let dev = "34020000001320000001";
    let msg = format!(
        "REGISTER sip:34020000002000000001@3402000000 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{port};rport;branch=z9hG4bK1234\r\n\
         From: <sip:{dev}@3402000000>;tag=1\r\n\
         To: <sip:{dev}@3402000000>\r\n\
         Call-ID: fault-1@127.0.0.1\r\n\
         CSeq: 1 REGISTER\r\n\
         Contact: <sip:{dev}@127.0.0.1:{port}>\r\n\
         Max-Forwards: 70\r\n\
         Expires: 3600\r\n\
         Content-Length: 0\r\n\r\n"
    );
    udp.send_to(msg.as_bytes(), sip).unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = udp.recv_from(&mut buf).expect("an answer to REGISTER");
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn garbage_on_every_port_closes_only_that_connection() {
    let _turn = serial();
    let server = Server::start(&format!(
        "handshake_timeout = 3000\n{BASE}[vhost.__defaultVhost__.play]\ntime_jitter = \"off\"\n"
    ));
    let http = server.http_addr.unwrap();
    let (sip, media) = gb_addrs(&server);
    assert!(sip_register(sip).starts_with("SIP/2.0 "), "SIP answers");

    // A good pair that must not notice anything.
    let mut watcher = player(&server, "good");
    let mut source = publisher(&server, "good");
    let first = vec![avc_header(3), avc_frame(true, 3, 0, 1000)];
    for body in &first {
        source.send_video(0, body).unwrap();
    }
    let recv_videos = |c: &mut Client, n: usize| -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| loop {
                match c.recv_media(WAIT) {
                    Ok((MediaKind::Video, _, body)) => break body.to_vec(),
                    Ok(_) => {}
                    Err(e) => panic!("good player, message {i}: {e}"),
                }
            })
            .collect()
    };
    assert_eq!(recv_videos(&mut watcher, 2), first);

    let rtmp_log = |s: &TcpStream| format!("closed {}", s.local_addr().unwrap());
    let http_log = |s: &TcpStream| format!("HTTP {} closed: ", s.local_addr().unwrap());
    let mut expect: Vec<(String, &str)> = Vec::new();

    // RTMP: random bytes from the first byte.
    let mut s = raw(server.addr);
    let _ = s.write_all(&noise(1, 8192));
    assert_closed(&mut s, "RTMP: random bytes");
    expect.push((rtmp_log(&s), "RTMP: random bytes"));

    // RTMP: a valid handshake, then random chunks.
    for seed in 2..5 {
        let mut c = Client::handshake(&server.addr.to_string()).unwrap();
        expect.push((
            format!("closed {}", c.local_addr()),
            "RTMP: garbage chunks after the handshake",
        ));
        let _ = c.send_raw(&noise(seed, 16 * 1024));
        loop {
            match c.recv_timeout(WAIT) {
                Ok(_) => {}
                Err(Error::Closed) => break,
                Err(e) => panic!("RTMP: garbage chunks: the server should close, got {e}"),
            }
        }
    }

    // RTMP: connected, then a message declaring 16 MiB (the most a chunk header can say).
    let mut c = Client::connect(&server.addr.to_string(), "live").unwrap();
    expect.push((
        format!("closed {}", c.local_addr()),
        "RTMP: huge message length",
    ));
    let mut huge = vec![0x06]; // fmt 0, csid 6
    huge.extend_from_slice(&[0, 0, 0]); // timestamp
    huge.extend_from_slice(&[0xFF, 0xFF, 0xFF]); // message length
    huge.push(9); // video
    huge.extend_from_slice(&1u32.to_le_bytes());
    huge.extend_from_slice(&[0x17; 128]);
    let _ = c.send_raw(&huge);
    loop {
        match c.recv_timeout(WAIT) {
            Ok(_) => {}
            Err(Error::Closed) => break,
            Err(e) => panic!("RTMP: huge message length: the server should close, got {e}"),
        }
    }
    assert!(
        server.wait_log("exceeds the limit", WAIT),
        "{}",
        server.log()
    );

    // RTMP: an AMF0 nesting bomb in `connect`: 50,000 objects, each inside the last.
    let mut s = raw(server.addr);
    let c0c1 = handshake::client_c0c1(&[9u8; handshake::PACKET_LEN], 0, true);
    s.write_all(&c0c1).unwrap();
    let mut s0s1s2 = vec![0u8; handshake::S0S1S2_LEN];
    s.read_exact(&mut s0s1s2).unwrap();
    s.write_all(&handshake::client_c2(&c0c1, &s0s1s2).unwrap())
        .unwrap();
    let mut body = vec![0x02, 0x00, 0x07];
    body.extend_from_slice(b"connect");
    body.push(0x00);
    body.extend_from_slice(&1.0f64.to_be_bytes());
    for _ in 0..50_000 {
        body.extend_from_slice(&[0x03, 0x00, 0x01, b'a']);
    }
    let header = MessageHeader {
        csid: 3,
        timestamp: 0,
        type_id: MessageType::CommandAmf0,
        stream_id: 0,
    };
    let mut bomb = Vec::new();
    chunk::encode_message(128, &header, &body, &mut bomb);
    let _ = s.write_all(&bomb);
    assert_closed(&mut s, "RTMP: AMF0 nesting bomb");
    expect.push((rtmp_log(&s), "RTMP: AMF0 nesting bomb"));

    // RTMP: truncated: half a handshake, then the client goes away.
    let mut s = raw(server.addr);
    s.write_all(&c0c1[..700]).unwrap();
    let port = s.local_addr().unwrap();
    drop(s);
    expect.push((
        format!("closed by peer {port}"),
        "RTMP: truncated handshake",
    ));

    // HTTP: random bytes, a head over the size limit, a truncated head.
    let mut s = raw(http);
    let _ = s.write_all(&noise(5, 8192));
    assert_closed(&mut s, "HTTP: random bytes");
    expect.push((http_log(&s), "HTTP: random bytes"));
    let mut s = raw(http);
    let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 256 * 1024));
    let _ = s.write_all(&big);
    assert_closed(&mut s, "HTTP: oversized head");
    expect.push((http_log(&s), "HTTP: oversized head"));
    let mut s = raw(http);
    s.write_all(b"GET /api/v1/versions HTTP/1.1\r\nHost: 127.")
        .unwrap();
    let at = http_log(&s);
    s.shutdown(std::net::Shutdown::Write).unwrap();
    assert_closed(&mut s, "HTTP: truncated head");
    expect.push((at, "HTTP: truncated head"));

    // GB28181 SIP over TCP: random bytes; a head declaring a 1 GB body.
    let mut s = raw(sip);
    let _ = s.write_all(&noise(6, 16 * 1024));
    assert_closed(&mut s, "SIP TCP: random bytes");
    expect.push((
        format!("GB28181 SIP tcp {}", s.local_addr().unwrap()),
        "SIP TCP: random bytes",
    ));
    let mut s = raw(sip);
    let _ = s.write_all(
        b"MESSAGE sip:34020000002000000001@3402000000 SIP/2.0\r\nCSeq: 1 MESSAGE\r\n\
          Content-Length: 1000000000\r\n\r\n<?xml",
    );
    assert_closed(&mut s, "SIP TCP: huge Content-Length");
    expect.push((
        format!("GB28181 SIP tcp {}", s.local_addr().unwrap()),
        "SIP TCP: huge Content-Length",
    ));
    // GB28181 SIP over UDP: random datagrams and truncated messages; no connection to close,
    // the agent must go on answering.
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    for seed in 0..50 {
        udp.send_to(&noise(seed + 100, 1 + (seed as usize * 97) % 1400), sip)
            .unwrap();
    }
    udp.send_to(
        b"REGISTER sip:34020000002000000001@3402000000 SIP/2.0\r\nVia: SIP/2.0/UDP",
        sip,
    )
    .unwrap();
    // GB28181 media over TCP (RFC 4571): random bytes; a frame that is not RTP.
    let mut s = raw(media);
    let _ = s.write_all(&noise(7, 16 * 1024));
    assert_closed(&mut s, "media TCP: random bytes");
    expect.push((
        format!("GB28181 media tcp {}", s.local_addr().unwrap()),
        "media TCP: random bytes",
    ));
    let mut s = raw(media);
    let _ = s.write_all(&[
        0x00, 0x10, 0x00, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);
    assert_closed(&mut s, "media TCP: not RTP");
    expect.push((
        format!("GB28181 media tcp {}", s.local_addr().unwrap()),
        "media TCP: not RTP",
    ));

    // Each close was logged.
    for (needle, what) in &expect {
        assert!(
            server.wait_log(needle, WAIT),
            "{what}: no {needle:?} in the log:\n{}",
            server.log()
        );
    }
    assert!(
        sip_register(sip).starts_with("SIP/2.0 "),
        "SIP still answers"
    );

    // The good pair never noticed; the server is up and back to the two of them.
    let more: Vec<Vec<u8>> = (1..20).map(|n| avc_frame(n % 10 == 0, 3, n, 800)).collect();
    for (n, body) in more.iter().enumerate() {
        source.send_video(FRAME_MS * (n as u32 + 1), body).unwrap();
    }
    assert_eq!(recv_videos(&mut watcher, more.len()), more);
    wait_live(&server, "after the garbage", |l| {
        l.connections == 3 && l.tasks == 3 && l.sources == 1 && l.players == 1
    });
}

// ---------------------------------------------------------------------------------------------
// A publisher killed mid-GOP comes back.
// ---------------------------------------------------------------------------------------------

/// The stream `name` in `/api/v1/streams`.
fn api_stream(server: &Server, name: &str) -> Option<Value> {
    let (status, _, body) = curl(&[&server.http_url("api/v1/streams")]);
    assert_eq!(status, 200);
    let v: Value = serde_json::from_slice(&body).unwrap();
    v["streams"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == name)
        .cloned()
}

fn wait_stream(server: &Server, name: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let end = Instant::now() + WAIT;
    loop {
        let s = api_stream(server, name);
        if let Some(s) = s.as_ref().filter(|s| done(s)) {
            return s.clone();
        }
        assert!(Instant::now() < end, "{what}: stream in the API: {s:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Reads video until `n` frames (sequence headers aside) arrived; returns whether each was a
/// keyframe.
fn read_frames(c: &mut Client, n: usize, what: &str) -> Vec<bool> {
    let mut keys = Vec::new();
    while keys.len() < n {
        match c.recv_media(WAIT) {
            Ok((MediaKind::Video, _, body)) => {
                let tag = flv::parse_video(&body).unwrap();
                if !tag.sequence_header {
                    keys.push(tag.keyframe);
                }
            }
            Ok(_) => {}
            Err(e) => panic!("{what}: after {} frames: {e}", keys.len()),
        }
    }
    keys
}

#[test]
fn publisher_killed_mid_gop_reconnects_and_players_continue_from_a_keyframe() {
    let _turn = serial();
    let server = Server::start(BASE);
    let dir = TempDir::new("kill");
    let url = server.url("live/kill");
    let mut watcher = player(&server, "kill");
    // A keyframe every 50 frames (2 s).
    let mut first = ffmpeg_publish(&dir, &url, 60, 50, "300k");
    let before = wait_stream(&server, "kill", "first publish", |s| {
        s["publish"]["active"] == true
    });
    // Mid-GOP: 20 frames past the second keyframe.
    let keys = read_frames(&mut watcher, 70, "before the kill");
    assert!(keys[0] && keys[50], "keyframes every 50 frames: {keys:?}");
    assert!(!keys[69]);
    first.child.kill().unwrap(); // SIGKILL
    first.child.wait().unwrap();

    // The player sees the publisher leave and stays; the API shows no publisher, one client.
    let end = Instant::now() + WAIT;
    loop {
        match watcher.recv_timeout(end.saturating_duration_since(Instant::now())) {
            Ok(Received::Status { code }) if code == "NetStream.Play.UnpublishNotify" => break,
            Ok(_) => {}
            Err(e) => panic!("the player after the kill: {e}"),
        }
    }
    let gone = wait_stream(&server, "kill", "after the kill", |s| {
        s["publish"]["active"] == false && s["clients"] == 1
    });
    assert!(gone["publish"].get("cid").is_none(), "{gone}");

    let _second = ffmpeg_publish(&dir, &url, 60, 50, "300k");
    let back = wait_stream(&server, "kill", "second publish", |s| {
        s["publish"]["active"] == true && s["clients"] == 2
    });
    assert_ne!(back["publish"]["cid"], before["publish"]["cid"]);
    // The player continues, from a keyframe.
    let keys = read_frames(&mut watcher, 60, "after the reconnect");
    assert!(keys[0], "the first frame after the reconnect is a keyframe");
    let l = live(&server);
    assert_eq!((l.sources, l.players), (1, 1), "{l:?}");
}

// ---------------------------------------------------------------------------------------------
// SIGHUP under load.
// ---------------------------------------------------------------------------------------------

#[test]
fn fifty_reloads_under_one_publisher_and_fifty_players_drop_nothing() {
    let _turn = serial();
    const PLAYERS: usize = 50;
    const RELOADS: usize = 50;
    let config = |chunk: u32| {
        format!(
            "chunk_size = {chunk}\n{BASE}[vhost.__defaultVhost__.play]\ntime_jitter = \"off\"\n"
        )
    };
    let server = Server::start(&config(60000));
    let file = std::fs::read_to_string(&server.config_path).unwrap();
    let readers: Vec<_> = (0..PLAYERS)
        .map(|_| {
            let mut c = player(&server, "hup");
            std::thread::spawn(move || read_until_unpublish(&mut c, Duration::from_secs(120)))
        })
        .collect();
    let paced = Paced::start(publisher(&server, "hup"), 2000, 25);
    std::thread::sleep(Duration::from_secs(1));

    // Each reload changes the config (the chunk size new sessions get), and each is waited
    // for, so that no two signals merge into one.
    let reloaded = |log: &str| log.matches("SIGHUP: reloaded").count();
    for i in 0..RELOADS {
        let chunk = if i % 2 == 0 { 4096 } else { 60000 };
        let text = file.replace(&config(60000), &config(chunk));
        std::fs::write(&server.config_path, text).unwrap();
        server.signal("HUP");
        let end = Instant::now() + WAIT;
        while reloaded(&server.log()) <= i {
            assert!(
                Instant::now() < end,
                "reload {i} not logged:\n{}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(1));
    let (sent, sent_at) = paced.finish();
    let log = server.log();
    assert_eq!(reloaded(&log), RELOADS);
    assert!(
        log.contains("chunk_size"),
        "the reloads changed something:\n{log}"
    );

    // Every player got every frame, and no gap between two frames at a player was more than
    // 1 s longer than the publisher's gap between them.
    let mut worst = Duration::ZERO;
    for (i, r) in readers.into_iter().enumerate() {
        let got = r
            .join()
            .unwrap()
            .unwrap_or_else(|e| panic!("player {i}: {e}"));
        let what = format!("player {i}");
        assert_every_frame(&got, sent, &what);
        assert_eq!(got[0].0, 0, "{what} joined before the publisher");
        for w in got.windows(2) {
            let (a, b) = (w[0], w[1]);
            let at_player = b.1.saturating_duration_since(a.1);
            let at_publisher =
                sent_at[b.0 as usize].saturating_duration_since(sent_at[a.0 as usize]);
            worst = worst.max(at_player.saturating_sub(at_publisher));
        }
    }
    eprintln!("fault: sighup {RELOADS} reloads, {PLAYERS} players, {sent} frames, worst extra gap {worst:?}");
    assert!(
        worst <= Duration::from_secs(1),
        "a frame gap grew by {worst:?}"
    );
    wait_live(&server, "after the reloads", idle);
}

// ---------------------------------------------------------------------------------------------
// Leak check.
// ---------------------------------------------------------------------------------------------

/// One cycle: a publisher connects, publishes a sequence header and a keyframe; a player
/// connects, plays and receives the keyframe; both close.
fn cycle(addr: &str, stream: &str) {
    let mut p = Client::connect(addr, "live").unwrap();
    p.create_stream().unwrap();
    assert_eq!(p.publish(stream).unwrap(), "NetStream.Publish.Start");
    p.send_video(0, &avc_header(5)).unwrap();
    p.send_video(0, &avc_frame(true, 5, 0, 200)).unwrap();
    let mut c = Client::connect(addr, "live").unwrap();
    c.create_stream().unwrap();
    assert_eq!(c.play(stream).unwrap(), "NetStream.Play.Start");
    loop {
        let (kind, _, body) = c.recv_media(WAIT).unwrap();
        if kind == MediaKind::Video && !flv::parse_video(&body).unwrap().sequence_header {
            break;
        }
    }
}

/// `cycles` cycles over `threads` threads, streams named per thread and reused every 20.
fn cycles(server: &Server, cycles: u64, threads: u64) {
    let done = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (addr, done) = (server.addr.to_string(), done.clone());
            std::thread::spawn(move || {
                let mut i = t;
                while i < cycles {
                    cycle(&addr, &format!("leak-{t}-{}", i % 20));
                    done.fetch_add(1, Ordering::Relaxed);
                    i += threads;
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(done.load(Ordering::Relaxed), cycles);
}

#[test]
fn ten_thousand_short_sessions_leak_no_memory_tasks_or_sources() {
    let _turn = serial();
    const CYCLES: u64 = 10_000;
    const THREADS: u64 = 4;
    let server = Server::start(BASE);
    // Warm-up, then the baseline with every count back at rest.
    let cold = server.rss_kib();
    cycles(&server, 200, THREADS);
    let rest = wait_live(&server, "after the warm-up", idle);
    let baseline = server.rss_kib();

    let sampler = Sampler::start(&server);
    let started = Instant::now();
    cycles(&server, CYCLES, THREADS);
    let took = started.elapsed();
    let end = wait_live(&server, "after the cycles", idle);
    let peak = sampler.finish();
    let after = server.rss_kib();
    report_rss("leak", baseline, peak, after);
    eprintln!("fault: leak rss before the 200 warm-up cycles {cold} KiB");
    eprintln!(
        "fault: leak {CYCLES} cycles ({} connections) in {took:?}; counts {rest:?} -> {end:?}",
        2 * CYCLES
    );
    assert_eq!(rest, end);
    assert!(
        after * 100 <= baseline * 105,
        "RSS after {after} KiB is more than 5% over the baseline {baseline} KiB"
    );
}
