//! Live hub behaviour seen from the wire, with our own client (and ffmpeg/ffprobe where a real
//! encoder or decoder is the point): one publisher per stream, players that outlive their
//! publisher, slow players that do not hold anyone back, odd chunk sizes, and bad input that
//! ends only the connection that sent it.

mod common;

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::client::{Client, Error, MediaKind, Received};
use common::frames::{avc_frame, avc_header};
use common::{ffmpeg_publish, ffprobe, player, publisher, require, Proc, Server, TempDir};
use tinysrs::net::rtmp::SEND_BUFFER;
use tinysrs::server::MAX_BATCH_BYTES;
use tinysrs::wire::amf0::Value;
use tinysrs::wire::flv;
use tinysrs::wire::rtmp::chunk;
use tinysrs::wire::rtmp::message::{MessageHeader, MessageType};

const WAIT: Duration = Duration::from_secs(10);

/// Receives video until `n` messages arrived; other messages are skipped.
fn recv_videos(client: &mut Client, n: usize) -> Vec<(u32, Bytes)> {
    let end = Instant::now() + WAIT;
    let mut out = Vec::new();
    while out.len() < n {
        match client.recv_media(end.saturating_duration_since(Instant::now())) {
            Ok((MediaKind::Video, ts, body)) => out.push((ts, body)),
            Ok(_) => {}
            Err(e) => panic!("got {} of {n} video messages: {e}", out.len()),
        }
    }
    out
}

fn assert_bodies(got: &[(u32, Bytes)], sent: &[Vec<u8>], what: &str) {
    assert_eq!(got.len(), sent.len(), "{what}: message count");
    for (i, ((_, g), s)) in got.iter().zip(sent).enumerate() {
        assert!(
            g[..] == s[..],
            "{what}: message {i} differs (sent {} bytes, got {})",
            s.len(),
            g.len()
        );
    }
}

/// Reads until the server closes the connection; fails if it stays open for `timeout`.
fn assert_closed(client: &mut Client, timeout: Duration, what: &str) {
    let end = Instant::now() + timeout;
    loop {
        match client.recv_timeout(end.saturating_duration_since(Instant::now())) {
            Ok(_) => {}
            Err(Error::Closed) => return,
            Err(e) => panic!("{what}: expected the server to close the connection, got {e}"),
        }
    }
}

/// The connection stays open for `duration` and carries no media (replies and control
/// messages are fine).
fn assert_no_media(client: &mut Client, duration: Duration, what: &str) {
    let end = Instant::now() + duration;
    loop {
        match client.recv_timeout(end.saturating_duration_since(Instant::now())) {
            Ok(Received::Media { kind, .. }) => panic!("{what}: unexpected {kind:?}"),
            Ok(_) => {}
            Err(Error::Timeout) => return,
            Err(e) => panic!("{what}: the connection should stay open and quiet: {e}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// a. One publisher per stream.
// ---------------------------------------------------------------------------------------------

#[test]
fn second_publisher_of_a_stream_gets_bad_name_and_the_first_keeps_going() {
    let server = Server::start("");
    let mut first = publisher(&server, "dup");
    let mut watcher = player(&server, "dup");

    let mut second = Client::connect(&server.addr.to_string(), "live").unwrap();
    second.create_stream().unwrap();
    assert_eq!(second.publish("dup").unwrap(), "NetStream.Publish.BadName");
    assert_closed(&mut second, WAIT, "refused publisher");
    assert!(server.wait_log("already has a publisher", WAIT));

    let sent = vec![avc_header(1), avc_frame(true, 1, 0, 300)];
    first.send_video(0, &sent[0]).unwrap();
    first.send_video(0, &sent[1]).unwrap();
    assert_bodies(&recv_videos(&mut watcher, 2), &sent, "first publisher");
}

// ---------------------------------------------------------------------------------------------
// b. Players outlive their publisher.
// ---------------------------------------------------------------------------------------------

#[test]
fn players_stay_attached_across_unpublish_and_republish() {
    let server = Server::start("");
    // A player that comes before any publisher waits, then gets the stream from its start.
    let mut watcher = player(&server, "re");
    assert_no_media(
        &mut watcher,
        Duration::from_millis(300),
        "before any publisher",
    );

    let mut a = publisher(&server, "re");
    let sent_a = vec![
        avc_header(0xA),
        avc_frame(true, 0xA, 0, 2000),
        avc_frame(false, 0xA, 1, 500),
        avc_frame(false, 0xA, 2, 500),
    ];
    for (i, body) in sent_a.iter().enumerate() {
        a.send_video(i as u32 * 40, body).unwrap();
    }
    assert_bodies(&recv_videos(&mut watcher, 4), &sent_a, "publisher A");
    drop(a);

    // A left: the player is told, and stays connected.
    let end = Instant::now() + WAIT;
    loop {
        match watcher.recv_timeout(end.saturating_duration_since(Instant::now())) {
            Ok(Received::Status { code }) if code == "NetStream.Play.UnpublishNotify" => break,
            Ok(Received::Media { .. }) => panic!("media after publisher A left"),
            Ok(_) => {}
            Err(e) => panic!("waiting for UnpublishNotify: {e}"),
        }
    }
    assert_no_media(
        &mut watcher,
        Duration::from_millis(500),
        "after UnpublishNotify",
    );

    // B publishes the same stream: Reset/Start again, then B's own headers and frames.
    let mut b = publisher(&server, "re");
    let sent_b = vec![
        avc_header(0xB),
        avc_frame(true, 0xB, 0, 3000),
        avc_frame(false, 0xB, 1, 700),
        avc_frame(false, 0xB, 2, 700),
    ];
    for (i, body) in sent_b.iter().enumerate() {
        b.send_video(i as u32 * 40, body).unwrap();
    }
    let mut statuses = Vec::new();
    let mut videos = Vec::new();
    let end = Instant::now() + WAIT;
    while videos.len() < sent_b.len() {
        match watcher.recv_timeout(end.saturating_duration_since(Instant::now())) {
            Ok(Received::Status { code }) => {
                assert!(videos.is_empty(), "{code} after B's media");
                statuses.push(code);
            }
            Ok(Received::Media {
                kind: MediaKind::Video,
                timestamp,
                payload,
            }) => videos.push((timestamp, payload)),
            Ok(_) => {}
            Err(e) => panic!("got {} of B's video messages: {e}", videos.len()),
        }
    }
    assert_eq!(statuses, ["NetStream.Play.Reset", "NetStream.Play.Start"]);
    assert_bodies(&videos, &sent_b, "publisher B");
}

// ---------------------------------------------------------------------------------------------
// c. A slow player is cut back to keyframes; nobody else notices.
// ---------------------------------------------------------------------------------------------

const SLOW_QUEUE: u64 = 1024 * 1024;
const SLOW_SECONDS: u32 = 12;
const SLOW_GOP: u64 = 2 * 1024 * 1024;

/// ffmpeg publishing the harness's test picture and tone at a constant `bitrate` in real time.
///
/// `common::ffmpeg_publish` asks x264 for an average bitrate, but the simple test picture
/// never needs more than about 0.7 Mbit/s whatever the target; a slow player then falls behind
/// by less than the kernel's socket buffers hold and the queue limits are never reached.
/// HRD CBR mode pads with filler NAL units to the exact rate.
fn ffmpeg_publish_cbr(dir: &TempDir, url: &str, seconds: u32, bitrate: &str) -> Proc {
    require("ffmpeg");
    Proc::spawn(
        Command::new("ffmpeg")
            .args(["-hide_banner", "-nostats", "-loglevel", "error", "-re"])
            .args(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"])
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
            .args(["-t", &seconds.to_string()])
            .args(["-c:v", "libx264", "-preset", "ultrafast"])
            // A keyframe a second: a GOP (and so a new player's first burst) costs about
            // 2 × 2 Mbit/s × 1 s = 0.5 MiB, under the 1 MiB queue.
            .args(["-tune", "zerolatency", "-g", "25", "-keyint_min", "25"])
            .args(["-x264-params", "nal-hrd=cbr"])
            .args(["-b:v", bitrate, "-minrate", bitrate, "-maxrate", bitrate])
            .args(["-bufsize", bitrate])
            .args(["-c:a", "aac", "-b:a", "64k", "-f", "flv", url])
            .stdout(Stdio::null()),
        &dir.path("ffmpeg-publish-cbr.err"),
    )
}

/// A bitrate at which a player that stops reading overflows its queue well before the end.
///
/// Before the server's queue sees any backpressure the kernel absorbs what the stalled
/// socket's buffers hold: the server's send buffer (capped at `SEND_BUFFER`, which Linux
/// doubles) and the player's receive buffer (about 128 KiB while nobody reads). The rate is
/// raised until that, twice the queue, and the 1 s before the normal player joins are covered
/// within all but the last 4 s of the stream, with 2 Mbit/s at least.
fn slow_test_bitrate(seconds: u32) -> String {
    let kernel = 2 * SEND_BUFFER as u64 + (256 << 10);
    let bytes = kernel + 2 * SLOW_QUEUE;
    let kbps = (bytes * 8 / 1000 / u64::from(seconds - 4)).max(2000);
    format!("{kbps}k")
}

#[test]
fn slow_player_is_cut_back_while_a_normal_player_decodes_everything() {
    // HLS off: this measures what player queues and the GOP cache hold; HLS keeps its own
    // window of segments in RAM (measured by `ci/measure 1 1 hls-ram`).
    let server = Server::start(&format!(
        "[vhost.__defaultVhost__.play]\nqueue_max_bytes = {SLOW_QUEUE}\n\
         gop_cache_max_bytes = {SLOW_GOP}\n[vhost.__defaultVhost__.hls]\nenabled = false\n"
    ));
    let dir = TempDir::new("slow");
    let url = server.url("live/slow");
    let bitrate = slow_test_bitrate(SLOW_SECONDS);
    let mut ffmpeg = ffmpeg_publish_cbr(&dir, &url, SLOW_SECONDS, &bitrate);
    let published = Instant::now();
    assert!(
        server.wait_log("publish __defaultVhost__/live/slow", WAIT),
        "ffmpeg did not publish: {}",
        ffmpeg.stderr()
    );
    let baseline = server.rss_kib();
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (pid, sampling) = (server.pid(), sampling.clone());
        std::thread::spawn(move || {
            let mut peak = 0;
            while sampling.load(Ordering::Relaxed) {
                peak = peak.max(common::rss_kib(pid));
                std::thread::sleep(Duration::from_millis(50));
            }
            peak
        })
    };

    // Plays, then stops reading for most of the stream.
    let mut slow = player(&server, "slow");

    std::thread::sleep(Duration::from_secs(1));
    let probe_started = published.elapsed();
    let probe = {
        let url = url.clone();
        std::thread::spawn(move || {
            let probe_dir = TempDir::new("slow-probe");
            ffprobe(&probe_dir, &url, Duration::from_secs(40))
        })
    };

    // The slow player reads again 3 s before the end (its queue overflowed about 2 s
    // earlier, see `slow_test_bitrate`): first what the kernel buffered, then what its queue
    // kept. After every gap (a drop) comes a keyframe; one comes every 2 s.
    std::thread::sleep(
        Duration::from_secs(u64::from(SLOW_SECONDS) - 3).saturating_sub(published.elapsed()),
    );
    let (mut frames, mut gaps, mut last_ts) = (0, 0, None);
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        match slow.recv_timeout(end.saturating_duration_since(Instant::now())) {
            Ok(Received::Media {
                kind: MediaKind::Video,
                timestamp,
                payload,
            }) => {
                let tag = flv::parse_video(&payload).unwrap();
                if tag.sequence_header {
                    continue;
                }
                frames += 1;
                if let Some(prev) = last_ts {
                    if timestamp > prev + 200 {
                        gaps += 1;
                        assert!(
                            tag.keyframe,
                            "after a drop ({prev} -> {timestamp} ms) the slow player resumes \
                             on a keyframe"
                        );
                    }
                }
                last_ts = Some(timestamp);
            }
            Ok(Received::Status { code }) if code == "NetStream.Play.UnpublishNotify" => break,
            Ok(_) => {}
            Err(e) => panic!("reading the slow player's backlog: {e}"),
        }
    }
    let probe = probe.join().unwrap();
    sampling.store(false, Ordering::Relaxed);
    let peak = sampler.join().unwrap();
    ffmpeg.wait(WAIT);

    // The normal player decoded every frame of the time it was attached, without errors.
    let attached = f64::from(SLOW_SECONDS) - probe_started.as_secs_f64();
    let expected = (25.0 * attached * 0.8) as usize;
    println!(
        "slow player: {bitrate}bit/s; normal player attached {attached:.1} s, decoded {} video \
         / {} audio frames (lower bound {expected}); slow player read {frames} video frames \
         with {gaps} gaps",
        probe.video_frames, probe.audio_frames
    );
    assert!(probe.success, "ffprobe: {}", probe.errors);
    assert!(
        probe.errors.trim().is_empty(),
        "decode errors:\n{}",
        probe.errors
    );
    assert_eq!(probe.codecs, ["aac", "h264"]);
    assert!(
        probe.video_frames >= expected,
        "{} video frames",
        probe.video_frames
    );
    assert_eq!(probe.first_video.as_ref().map(|f| f.0), Some(true));
    assert!(gaps > 0, "the slow player lost frames");

    // The drop path ran: logged while it happened (rate-limited), counted when it stops.
    assert!(
        server.wait_log("slow player", WAIT),
        "no 'slow player' warning:\n{}",
        server.log()
    );
    drop(slow);
    let dropped = |log: &str| -> Vec<u64> {
        log.lines()
            .filter(|l| l.contains("stop playing"))
            .filter_map(|l| l.strip_suffix(" dropped")?.rsplit(' ').next()?.parse().ok())
            .collect()
    };
    let end = Instant::now() + WAIT;
    while dropped(&server.log()).len() < 2 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = server.log();
    let dropped = dropped(&log);
    assert!(
        dropped.iter().any(|&d| d > 0) && dropped.contains(&0),
        "the slow player dropped frames, the normal one none: {dropped:?}\n{log}"
    );

    // Memory. The caps count a frame at its cost (payload + its shared RTMP encoding):
    // the slow player's queue (1 MiB), the batch its blocked writev holds
    // (`MAX_BATCH_BYTES` plus one frame, under 64 KiB here), the GOP cache (2 MiB), plus
    // 1 MiB for the rest (read buffers, allocator slack). The kernel's socket buffers are not
    // in the RSS.
    let bound =
        baseline + (SLOW_QUEUE + MAX_BATCH_BYTES as u64 + (64 << 10) + SLOW_GOP + (1 << 20)) / 1024;
    println!(
        "slow player: server RSS baseline {baseline} KiB, peak {peak} KiB (+{} KiB), bound \
         {bound} KiB",
        peak.saturating_sub(baseline)
    );
    assert!(peak <= bound, "RSS peak {peak} KiB over {bound} KiB");
}

// ---------------------------------------------------------------------------------------------
// d. Chunk sizes at both ends of the range, and extended timestamps.
// ---------------------------------------------------------------------------------------------

/// Publishes with chunk size `client_chunk` to a server that sends at `server_chunk`; frames
/// of sizes around both chunk sizes, with timestamps crossing 0xFFFFFF (extended timestamp),
/// must arrive intact and with their timestamps (time_jitter off).
fn chunk_sizes(client_chunk: u32, server_chunk: u32) {
    let server = Server::start(&format!(
        "chunk_size = {server_chunk}\n[vhost.__defaultVhost__.play]\ntime_jitter = \"off\"\n"
    ));
    let stream = format!("chunks-{client_chunk}");
    let mut watcher = player(&server, &stream);
    let mut source = publisher(&server, &stream);
    source.set_chunk_size(client_chunk).unwrap();

    let mut sizes = vec![10, 127, 128, 129, 255, 256, 257, 4096, 65535, 65536, 65537];
    sizes.extend([65536 * 2 + 1, 200_000, 1_000_000]);
    let mut sent = vec![avc_header(7)];
    sent.extend(
        sizes
            .iter()
            .enumerate()
            .map(|(i, &len)| avc_frame(i % 5 == 0, 7, i as u32, len)),
    );
    let first_ts = 0xFF_FFFF - 3 * 40;
    let timestamps: Vec<u32> = (0..sent.len() as u32).map(|i| first_ts + i * 40).collect();
    for (ts, body) in timestamps.iter().zip(&sent) {
        source.send_video(*ts, body).unwrap();
        // Audio on its own chunk stream between the video messages.
        source.send_audio(*ts, &[0xAF, 0x01, 0x21, 0x10]).unwrap();
    }
    let got = recv_videos(&mut watcher, sent.len());
    assert_bodies(&got, &sent, &format!("client chunk size {client_chunk}"));
    let got_ts: Vec<u32> = got.iter().map(|(ts, _)| *ts).collect();
    assert_eq!(got_ts, timestamps, "timestamps across the extended range");
}

#[test]
fn publishing_with_chunk_size_128_to_a_server_sending_65536() {
    chunk_sizes(128, 65536);
}

#[test]
fn publishing_with_chunk_size_65536_to_a_server_sending_128() {
    chunk_sizes(65536, 128);
}

// ---------------------------------------------------------------------------------------------
// e. Bad input ends only the connection that sent it.
// ---------------------------------------------------------------------------------------------

#[test]
fn oversized_message_and_garbage_close_only_their_connection() {
    let mut server = Server::start("handshake_timeout = 3000\n");
    let mut watcher = player(&server, "good");
    let mut source = publisher(&server, "good");
    let first = vec![avc_header(3), avc_frame(true, 3, 0, 1000)];
    for body in &first {
        source.send_video(0, body).unwrap();
    }
    assert_bodies(
        &recv_videos(&mut watcher, 2),
        &first,
        "before the bad input",
    );

    // A publisher announcing a message one byte over the limit (`rtmp.max_message_bytes`,
    // 4 MiB by default): closed at its first chunk.
    let mut big = publisher(&server, "big");
    let too_long = tinysrs::config::Config::embedded().rtmp_max_message_bytes + 1;
    let header = MessageHeader {
        csid: 6,
        timestamp: 0,
        type_id: MessageType::Video,
        stream_id: 1,
    };
    let mut bytes = Vec::new();
    chunk::encode_message(128, &header, &vec![0x17; too_long], &mut bytes);
    // The server may close while we write; only the close matters.
    let _ = big.send_raw(&bytes[..64 * 1024]);
    assert_closed(&mut big, WAIT, "message over the length limit");
    assert!(
        server.wait_log("exceeds the limit", WAIT),
        "{}",
        server.log()
    );
    assert!(server
        .log()
        .contains("over rtmp.max_message_bytes; closing"));

    // Garbage after the handshake: an HTTP request, and bytes that look like nothing. The
    // request reads as a fmt 1 chunk starting a 3 MB message (which the decoder tolerates as
    // the first chunk of a chunk stream), so the handshake timeout (3 s here) closes it.
    let addr = server.addr.to_string();
    let mut http = Client::handshake(&addr).unwrap();
    let _ = http.send_raw(b"GET /live/good.flv HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    assert_closed(&mut http, WAIT, "HTTP request after the handshake");
    let mut noise = Client::handshake(&addr).unwrap();
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let garbage: Vec<u8> = (0..16 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let _ = noise.send_raw(&garbage);
    assert_closed(&mut noise, WAIT, "random bytes after the handshake");

    // A connected publisher that starts sending garbage.
    let mut rogue = publisher(&server, "rogue");
    let _ = rogue.send_raw(&[0xC6; 4096]);
    assert_closed(&mut rogue, WAIT, "garbage after publish");

    // The good pair never noticed.
    let more: Vec<Vec<u8>> = (1..20).map(|n| avc_frame(n % 10 == 0, 3, n, 800)).collect();
    for (n, body) in more.iter().enumerate() {
        source.send_video(40 * (n as u32 + 1), body).unwrap();
    }
    assert_bodies(
        &recv_videos(&mut watcher, more.len()),
        &more,
        "after the bad input",
    );
    assert!(server.is_running());
}

/// Merged read (`publish.mr`, SRS's): a publisher's socket is read once 16 KiB wait or
/// `mr_latency` has passed. Every frame still arrives whole and in order, a burst as well as
/// a trickle of small frames that never reaches 16 KiB (each within `mr_latency` and some
/// slack).
#[test]
fn merged_read_delivers_bursts_and_trickles() {
    let server = Server::start(
        "[vhost.__defaultVhost__.play]\nmw_latency = 0\ntime_jitter = \"off\"\n\
         [vhost.__defaultVhost__.publish]\nmr = true\nmr_latency = 200\n",
    );
    let mut watcher = player(&server, "mr");
    let mut source = publisher(&server, "mr");
    source.set_chunk_size(4096).unwrap();
    // A burst: headers, a keyframe, P-frames of odd sizes (over 100 KB in all).
    let mut sent = vec![avc_header(3)];
    let sizes = [30_000, 10, 5_000, 16_383, 16_385, 4_096, 60_000, 700];
    sent.extend(
        sizes
            .iter()
            .enumerate()
            .map(|(i, &len)| avc_frame(i == 0, 3, i as u32, len)),
    );
    for (i, body) in sent.iter().enumerate() {
        source.send_video(i as u32 * 40, body).unwrap();
    }
    assert_bodies(&recv_videos(&mut watcher, sent.len()), &sent, "burst");
    // A trickle: 200-byte frames every 100 ms, 2 KB a second.
    for n in 0..5u32 {
        let body = avc_frame(false, 3, 100 + n, 200);
        let at = Instant::now();
        source.send_video(1000 + n * 100, &body).unwrap();
        let got = recv_videos(&mut watcher, 1);
        let waited = at.elapsed();
        assert_bodies(&got, std::slice::from_ref(&body), "trickle");
        assert!(
            waited < Duration::from_millis(200 + 300),
            "frame {n} waited {waited:?} with mr_latency 200 ms"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A connection that stops publishing is read as before: its commands are answered at once,
/// not after `mr_latency` (here 5 s).
#[test]
fn merged_read_ends_with_the_publish() {
    let server = Server::start("[vhost.__defaultVhost__.publish]\nmr = true\nmr_latency = 5000\n");
    let mut source = publisher(&server, "mr-end");
    source.send_video(0, &avc_header(4)).unwrap();
    source.send_video(0, &avc_frame(true, 4, 0, 1000)).unwrap();
    source.close_stream().unwrap();
    // closeStream itself may wait out mr_latency (it is below the low-water mark); what
    // follows it must not.
    std::thread::sleep(Duration::from_millis(5500));
    let at = Instant::now();
    source.create_stream().unwrap();
    assert!(
        at.elapsed() < Duration::from_secs(2),
        "createStream answered after {:?}",
        at.elapsed()
    );
}

/// GStreamer's flvmux re-sends onMetaData mid-stream with the stream's timestamp. With the
/// default full jitter a player that joins later must get onMetaData at 0, first, before the
/// sequence headers; ffmpeg otherwise adds a phantom subtitle stream and stalls.
#[test]
fn mid_stream_metadata_reaches_a_new_player_at_zero() {
    let server = Server::start("");
    let mut publisher = publisher(&server, "meta");
    publisher.set_chunk_size(4096).unwrap();
    publisher.send_video(0, &avc_header(1)).unwrap();
    publisher.send_video(0, &avc_frame(true, 1, 0, 64)).unwrap();
    for n in 1..=66u32 {
        publisher
            .send_video(n * 40, &avc_frame(false, 1, n, 64))
            .unwrap();
    }
    let mut body = bytes::BytesMut::new();
    tinysrs::wire::amf0::encode_all(
        &[
            Value::String("@setDataFrame".into()),
            Value::String("onMetaData".into()),
            Value::ecma_array(vec![("width", Value::Number(320.0))]),
        ],
        &mut body,
    );
    publisher
        .send_message(5, MessageType::DataAmf0, 2642, &body)
        .unwrap();
    publisher
        .send_video(2680, &avc_frame(false, 1, 67, 64))
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let mut late = player(&server, "meta");
    let (kind, ts, _) = late.recv_media(WAIT).unwrap();
    assert_eq!(
        (kind, ts),
        (MediaKind::Metadata, 0),
        "first media to a new player"
    );
    let (kind, ts, body) = late.recv_media(WAIT).unwrap();
    assert_eq!((kind, ts), (MediaKind::Video, 0));
    assert_eq!(body[..], avc_header(1)[..]);
}

/// A real ffmpeg reading over RTMP: it asks getStreamLength and wants a number back; it
/// must finish its 2 s copy in time and not complain about the reply.
#[test]
fn ffmpeg_reads_without_unexpected_reply() {
    require("ffmpeg");
    let server = Server::start("");
    let dir = TempDir::new("getstreamlength");
    let url = server.url("live/len");
    let mut publish = ffmpeg_publish(&dir, &url, 10, 25, "300k");
    std::thread::sleep(Duration::from_millis(2500));
    let mut read = Proc::spawn(
        Command::new("ffmpeg")
            .args(["-hide_banner", "-nostats", "-v", "warning", "-i", &url])
            .args(["-c", "copy", "-t", "2", "-f", "null", "-"])
            .stdout(Stdio::null()),
        &dir.path("read.err"),
    );
    let status = read.wait(Duration::from_secs(15));
    let stderr = read.stderr();
    assert!(status.success(), "ffmpeg reader failed: {stderr}");
    assert!(
        !stderr.contains("Unexpected reply on getStreamLength"),
        "ffmpeg complained: {stderr}"
    );
    let _ = publish.child.kill();
    let _ = publish.child.wait();
}
