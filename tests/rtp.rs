//! The RTP payload formats, SDP and RTCP of `wire` against a real peer, ffmpeg, on
//! 127.0.0.1: ffmpeg's RTP muxer sends H.264, H.265 and AAC to our UDP sockets and we
//! depacketize what arrives (its SDP file says how, its RTCP sender reports say when); and
//! we packetize an ffmpeg-made FLV's H.264 and AAC and send them to ffmpeg's RTP demuxer with
//! our own SDP and an RTCP BYE, and ffprobe counts the frames it got.
//!
//! Each test is bounded in time: ffmpeg runs at most [`TOOL_TIMEOUT`], receiving stops
//! [`QUIET`] after the sender exits.

mod common;

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use common::{require, Proc, TempDir};
use tinysrs::wire::codec::aac::decode_adts_frame;
use tinysrs::wire::codec::{avcc_to_annexb, AvcConfig, NalFormat};
use tinysrs::wire::flv::{self, FlvReader, TagType};
use tinysrs::wire::rtcp::{self, Bye, NtpTimestamp, Packet, SenderReport, SourceDescription};
use tinysrs::wire::rtp::{
    AccessUnit, Depacketizer, Packetizer, Popped, Reorder, RtpPacket, RtpWriter, DEFAULT_MTU,
};
use tinysrs::wire::sdp::fmtp::{AacParams, H264Params, PayloadFormat};
use tinysrs::wire::sdp::Sdp;

/// How long one ffmpeg or ffprobe run may take.
const TOOL_TIMEOUT: Duration = Duration::from_secs(60);
/// Receiving ends this long after the last datagram once the sender has exited.
const QUIET: Duration = Duration::from_millis(500);
/// Frames of the test pattern: 2 s at 25 fps, a keyframe every 25.
const FRAMES: usize = 50;
const SECONDS: &str = "2";

/// A UDP socket pair on 127.0.0.1 with an even RTP port and the RTCP port above it.
fn socket_pair() -> (UdpSocket, UdpSocket, u16) {
    for _ in 0..50 {
        let rtp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = rtp.local_addr().unwrap().port();
        if port % 2 != 0 || port == u16::MAX {
            continue;
        }
        if let Ok(rtcp) = UdpSocket::bind((Ipv4Addr::LOCALHOST, port + 1)) {
            for s in [&rtp, &rtcp] {
                s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
            }
            return (rtp, rtcp, port);
        }
    }
    panic!("no free UDP port pair on 127.0.0.1");
}

/// What ffmpeg sent: the SDP file, RTP and RTCP datagrams in arrival order.
struct Capture {
    sdp: Sdp,
    rtp: Vec<Bytes>,
    rtcp: Vec<Bytes>,
}

/// Runs ffmpeg (`args` then `-f rtp -sdp_file … rtp://127.0.0.1:PORT`) and collects what it
/// sends until it has exited and the sockets are quiet.
fn capture_ffmpeg(dir: &TempDir, args: &str) -> Capture {
    require("ffmpeg");
    let (rtp_socket, rtcp_socket, port) = socket_pair();
    let sdp_path = dir.path("ffmpeg.sdp");
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-nostdin", "-v", "error", "-y", "-re"])
        .args(args.split_whitespace())
        .args(["-f", "rtp", "-sdp_file"])
        .arg(&sdp_path)
        .arg(format!("rtp://127.0.0.1:{port}?pkt_size=1200"));
    let mut ffmpeg = Proc::spawn(&mut cmd, &dir.path("ffmpeg.err"));
    let started = Instant::now();
    let mut rtp = Vec::new();
    let mut rtcp = Vec::new();
    let mut last = Instant::now();
    let mut buf = vec![0u8; 65536];
    loop {
        assert!(started.elapsed() < TOOL_TIMEOUT, "ffmpeg ran too long");
        for (socket, out) in [(&rtp_socket, &mut rtp), (&rtcp_socket, &mut rtcp)] {
            if let Ok(n) = socket.recv(&mut buf) {
                out.push(Bytes::copy_from_slice(&buf[..n]));
                last = Instant::now();
            }
        }
        if ffmpeg.child.try_wait().unwrap().is_some() && last.elapsed() > QUIET {
            break;
        }
    }
    let status = ffmpeg.wait(Duration::from_secs(1));
    assert!(status.success(), "ffmpeg failed: {}", ffmpeg.stderr());
    let text = std::fs::read_to_string(&sdp_path).unwrap();
    let sdp = Sdp::parse(&text).unwrap_or_else(|e| panic!("ffmpeg's SDP: {e}\n{text}"));
    Capture { sdp, rtp, rtcp }
}

/// The access units of captured RTP, through the reorder buffer and the depacketizer of the
/// SDP's first media; no packet may be lost or refused.
fn depacketize(capture: &Capture) -> (PayloadFormat, Depacketizer, Vec<AccessUnit>) {
    let media = &capture.sdp.media[0];
    let (payload_type, format) = media.payload_format().unwrap();
    let mut depacketizer = Depacketizer::new(&format);
    let mut reorder = Reorder::new(64);
    let mut units = Vec::new();
    for datagram in &capture.rtp {
        let packet = RtpPacket::decode(datagram.clone()).unwrap();
        assert_eq!(packet.payload_type, payload_type);
        reorder.push(packet);
        while let Some(popped) = reorder.pop() {
            let Popped::Packet(packet) = popped else {
                panic!("loss on loopback: {popped:?}");
            };
            depacketizer.push(&packet).unwrap();
            units.extend(std::iter::from_fn(|| depacketizer.pop()));
        }
    }
    assert_eq!(depacketizer.stats().lost_packets, 0);
    assert_eq!(depacketizer.stats().dropped_packets, 0);
    assert!(units.iter().all(|u| !u.discontinuity));
    (format, depacketizer, units)
}

/// ffmpeg's RTCP: sender reports of the stream's SSRC whose wallclock is near now and whose
/// RTP timestamps map to times in the order they were sent.
fn check_sender_reports(capture: &Capture, clock_rate: u32) {
    let ssrc = RtpPacket::decode(capture.rtp[0].clone()).unwrap().ssrc;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64;
    let reports: Vec<SenderReport> = capture
        .rtcp
        .iter()
        .flat_map(|d| rtcp::packets(d).map(|p| p.unwrap()).collect::<Vec<_>>())
        .filter_map(|p| match p {
            Packet::SenderReport(sr) => Some(sr),
            _ => None,
        })
        .collect();
    assert!(!reports.is_empty(), "ffmpeg sent no sender report");
    for sr in &reports {
        assert_eq!(sr.ssrc, ssrc);
        let clock = rtcp::Wallclock::from_report(sr, clock_rate).unwrap();
        let at = clock.unix_micros(sr.rtp_timestamp);
        assert!(
            (now - at).abs() < 120_000_000,
            "SR wallclock {at} vs now {now}"
        );
        // One second of RTP ticks later is one second later.
        let later = clock.unix_micros(sr.rtp_timestamp.wrapping_add(clock_rate));
        assert!((later - at - 1_000_000).abs() <= 1);
    }
}

/// The access units as an Annex B stream, which ffprobe must decode whole and silently.
fn assert_ffprobe_decodes(dir: &TempDir, kind: NalFormat, sets: &[Bytes], units: &[AccessUnit]) {
    let mut stream = BytesMut::new();
    for unit in units {
        avcc_to_annexb(kind, 4, sets, unit.keyframe, &unit.data, &mut stream).unwrap();
    }
    let (name, format) = match kind {
        NalFormat::Avc => ("stream.h264", "h264"),
        NalFormat::Hevc => ("stream.h265", "hevc"),
    };
    std::fs::write(dir.path(name), &stream).unwrap();
    let frames = ffprobe_frames(dir, &["-f", format, name]);
    assert_eq!(frames, [units.len()], "ffprobe's frame count");
}

/// `nb_read_frames` of each stream of `input` (after `args`), decoding everything; ffprobe
/// must have nothing to say on stderr.
fn ffprobe_frames(dir: &TempDir, input: &[&str]) -> Vec<usize> {
    require("ffprobe");
    let out_path = dir.path("ffprobe.out");
    let mut cmd = Command::new("ffprobe");
    cmd.current_dir(&dir.0)
        .args([
            "-v",
            "error",
            "-count_frames",
            "-show_entries",
            "stream=nb_read_frames",
        ])
        .args(["-of", "csv=p=0"])
        .args(input)
        .stdout(File::create(&out_path).unwrap());
    let mut probe = Proc::spawn(&mut cmd, &dir.path("ffprobe.err"));
    let status = probe.wait(TOOL_TIMEOUT);
    let stderr = probe.stderr();
    assert!(status.success() && stderr.is_empty(), "ffprobe: {stderr}");
    std::fs::read_to_string(&out_path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.trim().trim_end_matches(',').parse().unwrap())
        .collect()
}

/// ffmpeg's H.264 RTP (x264, SPS/PPS in the SDP and again in band before each keyframe):
/// every frame comes out, keyframes where x264 put them, the SDP's SPS is the in-band one,
/// and ffprobe decodes our access units.
#[test]
fn ffmpeg_h264_rtp_depacketized() {
    let dir = TempDir::new("rtp-h264");
    let capture = capture_ffmpeg(
        &dir,
        &format!(
            "-f lavfi -i testsrc=size=320x240:rate=25 -t {SECONDS} -c:v libx264 \
             -preset ultrafast -g 25 -pix_fmt yuv420p -flags +global_header -bsf:v dump_extra"
        ),
    );
    let (format, depacketizer, units) = depacketize(&capture);
    let PayloadFormat::H264(params) = &format else {
        panic!("{format:?}");
    };
    assert_eq!(params.packetization_mode, 1);
    let sdp_sps = params.sps.first().expect("sprop-parameter-sets");
    let Depacketizer::Nal(h264) = &depacketizer else {
        panic!();
    };
    assert_eq!(h264.sps(), Some(sdp_sps), "in-band SPS is the SDP's");
    assert!(units.iter().all(|u| !u.new_parameters), "same sets in band");
    assert_eq!(units.len(), FRAMES);
    let keyframes: Vec<usize> = (0..units.len()).filter(|&i| units[i].keyframe).collect();
    assert_eq!(keyframes, [0, 25]);
    let steps: Vec<u32> = units
        .windows(2)
        .map(|w| w[1].timestamp.wrapping_sub(w[0].timestamp))
        .collect();
    assert!(
        steps.iter().all(|&s| s == 3600),
        "25 fps at 90 kHz: {steps:?}"
    );
    let info = params.avc_config().unwrap().sps_info().unwrap();
    assert_eq!((info.width, info.height), (320, 240));
    check_sender_reports(&capture, 90_000);
    assert_ffprobe_decodes(&dir, NalFormat::Avc, &[], &units);
}

/// Without a global header ffmpeg writes no sprop-parameter-sets (a camera quirk too): the
/// parameter sets come in band and announce themselves on the first access unit.
#[test]
fn ffmpeg_h264_without_sprop_takes_sets_in_band() {
    let dir = TempDir::new("rtp-h264-inband");
    let capture = capture_ffmpeg(
        &dir,
        &format!(
            "-f lavfi -i testsrc=size=320x240:rate=25 -t {SECONDS} -c:v libx264 \
             -preset ultrafast -g 25 -pix_fmt yuv420p"
        ),
    );
    let (format, depacketizer, units) = depacketize(&capture);
    assert_eq!(
        format,
        PayloadFormat::H264(H264Params::parse("packetization-mode=1"))
    );
    assert_eq!(units.len(), FRAMES);
    assert!(units[0].new_parameters && units[0].keyframe);
    assert!(units[1..].iter().all(|u| !u.new_parameters));
    let Depacketizer::Nal(h264) = &depacketizer else {
        panic!();
    };
    let config = h264.avc_config().unwrap();
    assert_eq!(config.sps_info().unwrap().width, 320);
    assert_ffprobe_decodes(&dir, NalFormat::Avc, &[], &units);
}

/// ffmpeg's H.265 RTP (x265, VPS/SPS/PPS in the SDP and in band): every frame, IRAP
/// keyframes, the SDP's sets are the in-band ones, ffprobe decodes it.
#[test]
fn ffmpeg_h265_rtp_depacketized() {
    let dir = TempDir::new("rtp-h265");
    let capture = capture_ffmpeg(
        &dir,
        &format!(
            "-f lavfi -i testsrc=size=320x240:rate=25 -t {SECONDS} -c:v libx265 \
             -x265-params log-level=none:keyint=25:min-keyint=25 -pix_fmt yuv420p \
             -flags +global_header -bsf:v dump_extra"
        ),
    );
    let (format, depacketizer, units) = depacketize(&capture);
    let PayloadFormat::H265(params) = &format else {
        panic!("{format:?}");
    };
    let Depacketizer::Nal(h265) = &depacketizer else {
        panic!();
    };
    assert_eq!(h265.sps(), params.sps.first());
    assert_eq!(h265.vps(), params.vps.first());
    assert_eq!(units.len(), FRAMES);
    // Two IRAP pictures (an IDR, then a CRA whose place in decoding order the B-frames move).
    assert_eq!(units.iter().filter(|u| u.keyframe).count(), 2);
    assert!(units[0].keyframe);
    let info = params.hevc_config().unwrap().sps_info().unwrap();
    assert_eq!((info.width, info.height), (320, 240));
    assert_ffprobe_decodes(&dir, NalFormat::Hevc, &[], &units);
}

/// ffmpeg's AAC RTP (mpeg4-generic, AAC-hbr, several units per packet): the access units are
/// byte for byte the raw frames of the same encoding written as ADTS, one every 1024 ticks.
#[test]
fn ffmpeg_aac_rtp_depacketized() {
    let dir = TempDir::new("rtp-aac");
    let source = format!("-f lavfi -i sine=frequency=1000:sample_rate=44100 -t {SECONDS} -c:a aac");
    let capture = capture_ffmpeg(&dir, &source);
    let (format, _, units) = depacketize(&capture);
    let PayloadFormat::Aac(params) = &format else {
        panic!("{format:?}");
    };
    assert_eq!(params.clock_rate, 44_100);
    let config = params.aac_config().unwrap();
    assert_eq!((config.sample_rate, config.channels), (44_100, 1));
    let steps: Vec<u32> = units
        .windows(2)
        .map(|w| w[1].timestamp.wrapping_sub(w[0].timestamp))
        .collect();
    assert!(steps.iter().all(|&s| s == 1024), "{steps:?}");

    let mut cmd = Command::new("ffmpeg");
    cmd.current_dir(&dir.0)
        .args(["-nostdin", "-v", "error", "-y"])
        .args(source.split_whitespace())
        .args(["-f", "adts", "same.aac"]);
    let mut ffmpeg = Proc::spawn(&mut cmd, &dir.path("adts.err"));
    assert!(ffmpeg.wait(TOOL_TIMEOUT).success(), "{}", ffmpeg.stderr());
    let adts = std::fs::read(dir.path("same.aac")).unwrap();
    let mut frames = Vec::new();
    let mut rest = &adts[..];
    while let Some((frame, used)) = decode_adts_frame(rest).unwrap() {
        frames.push(Bytes::copy_from_slice(frame.raw));
        rest = &rest[used..];
    }
    let got: Vec<Bytes> = units.into_iter().map(|u| u.data).collect();
    // ffmpeg puts up to 5 units in a packet and sends a packet when the next unit comes, so
    // the units of its last packet are never sent (libavformat/rtpenc_aac.c has no flush).
    assert!(capture.rtp.len() * 5 >= got.len() && got.len() > capture.rtp.len());
    assert!(got.len() <= frames.len() && frames.len() - got.len() < 5);
    assert!(
        got[..] == frames[..got.len()],
        "AAC access units differ from the ADTS frames"
    );
    check_sender_reports(&capture, 44_100);
}

/// An FLV's H.264 frames and AAC frames as (timestamp in ms, keyframe, payload), with the
/// decoder configurations.
struct FlvMedia {
    avc: AvcConfig,
    asc: Bytes,
    video: Vec<(u32, bool, Bytes)>,
    audio: Vec<Bytes>,
}

fn read_flv(path: &std::path::Path) -> FlvMedia {
    let mut input = BytesMut::from(&std::fs::read(path).unwrap()[..]);
    let mut reader = FlvReader::new(16 << 20);
    let mut media = FlvMedia {
        avc: AvcConfig {
            profile: 0,
            compatibility: 0,
            level: 0,
            nal_length_size: 4,
            sps: vec![],
            pps: vec![],
        },
        asc: Bytes::new(),
        video: vec![],
        audio: vec![],
    };
    while let Some(tag) = reader.decode(&mut input).unwrap() {
        match tag.tag_type {
            TagType::Video => {
                let v = flv::parse_video(&tag.body).unwrap();
                let payload = tag.body.slice(v.payload_offset..);
                if v.sequence_header {
                    media.avc = AvcConfig::parse(&payload).unwrap();
                } else if !v.end_of_sequence {
                    let pts = tag.timestamp.wrapping_add_signed(v.composition_time);
                    media.video.push((pts, v.keyframe, payload));
                }
            }
            TagType::Audio => {
                let a = flv::parse_audio(&tag.body).unwrap();
                let payload = tag.body.slice(a.payload_offset..);
                if a.sequence_header {
                    media.asc = payload;
                } else {
                    media.audio.push(payload);
                }
            }
            _ => {}
        }
    }
    media
}

/// Waits until something (ffmpeg) has bound UDP `port` on 127.0.0.1.
fn wait_bound(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
        assert!(Instant::now() < deadline, "nothing bound UDP port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A free even base port with the three above it free too (video RTP/RTCP, audio RTP/RTCP).
fn free_ports() -> u16 {
    for _ in 0..100 {
        let probe = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let base = probe.local_addr().unwrap().port() & !1;
        drop(probe);
        if !(1024..=u16::MAX - 4).contains(&base) {
            continue;
        }
        let all_free = (base..base + 4)
            .map(|p| UdpSocket::bind((Ipv4Addr::LOCALHOST, p)))
            .collect::<Result<Vec<_>, _>>()
            .is_ok();
        if all_free {
            return base;
        }
    }
    panic!("no four free UDP ports");
}

/// Our packetizers and SDP against ffmpeg's RTP demuxer: an FLV's H.264 (with STAP-A and
/// FU-A at a small MTU) and AAC (AAC-hbr) sent as RTP to the ports of our SDP, then RTCP SR +
/// SDES + BYE on each RTCP port; ffmpeg copies what it receives into Matroska, and ffprobe
/// decodes as many frames as we sent.
#[test]
fn our_rtp_and_sdp_played_by_ffmpeg() {
    require("ffmpeg");
    let dir = TempDir::new("rtp-to-ffmpeg");
    let mut cmd = Command::new("ffmpeg");
    cmd.current_dir(&dir.0)
        .args(["-nostdin", "-v", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"])
        .args(["-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=44100"])
        .args([
            "-t",
            SECONDS,
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "25",
        ])
        .args(["-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "flv", "in.flv"]);
    let mut make = Proc::spawn(&mut cmd, &dir.path("make.err"));
    assert!(make.wait(TOOL_TIMEOUT).success(), "{}", make.stderr());
    let media = read_flv(&dir.path("in.flv"));
    assert_eq!(media.video.len(), FRAMES);

    let base = free_ports();
    let video_format = PayloadFormat::H264(H264Params::from_config(&media.avc));
    let audio_format = PayloadFormat::Aac(AacParams::hbr(media.asc.clone()).unwrap());
    let mut video_media = video_format.media(96, "trackID=0");
    video_media.port = base;
    let mut audio_media = audio_format.media(97, "trackID=1");
    audio_media.port = base + 2;
    let mut sdp = Sdp::rtsp("tinysrs", vec![video_media, audio_media]);
    sdp.connection_ip = Some(Ipv4Addr::LOCALHOST.into());
    std::fs::write(dir.path("stream.sdp"), sdp.encode()).unwrap();

    let mut cmd = Command::new("ffmpeg");
    cmd.current_dir(&dir.0)
        .args(["-nostdin", "-v", "error", "-y"])
        .args([
            "-protocol_whitelist",
            "file,udp,rtp",
            "-rw_timeout",
            "5000000",
        ])
        .args([
            "-i",
            "stream.sdp",
            "-map",
            "0",
            "-c",
            "copy",
            "-f",
            "matroska",
            "out.mkv",
        ]);
    let mut receiver = Proc::spawn(&mut cmd, &dir.path("receiver.err"));
    wait_bound(base);
    wait_bound(base + 2);

    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let to = |port: u16| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let (video_ssrc, audio_ssrc) = (0x7164_0001, 0x7164_0002);
    let mut video = Packetizer::new(
        &video_format,
        RtpWriter {
            payload_type: 96,
            ssrc: video_ssrc,
            sequence: 65_500,
        },
        // Small enough that keyframes need FU-A, large enough for a STAP-A of SPS + PPS.
        600,
        media.avc.nal_length_size,
    );
    let mut audio = Packetizer::new(
        &audio_format,
        RtpWriter {
            payload_type: 97,
            ssrc: audio_ssrc,
            sequence: 7,
        },
        DEFAULT_MTU,
        4,
    );
    // Timestamps start near the wrap, as a camera's may.
    let video_start: u32 = 0xffff_0000;
    let audio_start: u32 = 0x8000_0000;
    let mut counts = [(0u32, 0u32, 0u32); 2];
    // NAL unit types of the video packets' payload headers: 24 STAP-A, 28 FU-A, else single.
    let mut packet_types = std::collections::BTreeSet::new();
    let mut audio_frames = media.audio.iter().enumerate().peekable();
    for (pts, keyframe, payload) in &media.video {
        let mut packets = Vec::new();
        let mut au = BytesMut::new();
        if *keyframe {
            // Parameter sets in front of each keyframe, as cameras send them: a STAP-A.
            for set in media.avc.sps.iter().chain(&media.avc.pps) {
                au.extend_from_slice(&(set.len() as u32).to_be_bytes());
                au.extend_from_slice(set);
            }
        }
        au.extend_from_slice(payload);
        video
            .packetize(video_start.wrapping_add(pts * 90), &au, &mut packets)
            .unwrap();
        for p in &packets {
            packet_types.insert(p[12] & 0x1f);
            socket.send_to(p, to(base)).unwrap();
            counts[0].1 += 1;
            counts[0].2 += (p.len() - 12) as u32;
        }
        counts[0].0 = video_start.wrapping_add(pts * 90);
        // Audio up to this video time.
        while let Some((i, frame)) =
            audio_frames.next_if(|(i, _)| *i as u32 * 1024 * 1000 / 44_100 <= *pts)
        {
            let mut packets = Vec::new();
            let ts = audio_start.wrapping_add(i as u32 * 1024);
            audio.packetize(ts, frame, &mut packets).unwrap();
            for p in &packets {
                socket.send_to(p, to(base + 2)).unwrap();
                counts[1].1 += 1;
                counts[1].2 += (p.len() - 12) as u32;
            }
            counts[1].0 = ts;
        }
        std::thread::sleep(Duration::from_millis(8));
    }
    for (i, frame) in audio_frames {
        let mut packets = Vec::new();
        audio
            .packetize(
                audio_start.wrapping_add(i as u32 * 1024),
                frame,
                &mut packets,
            )
            .unwrap();
        for p in &packets {
            socket.send_to(p, to(base + 2)).unwrap();
        }
    }
    assert!(
        packet_types.contains(&24) && packet_types.contains(&28),
        "{packet_types:?}"
    );
    // SR + SDES + BYE on each RTCP port: the end of each stream. ffmpeg reads the RTP and
    // RTCP sockets in whatever order; a BYE read before the last RTP datagrams would cut
    // them off, so those are given time to be read first.
    std::thread::sleep(Duration::from_millis(300));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64;
    for ((ssrc, port), (last_ts, packets, octets)) in
        [(video_ssrc, base + 1), (audio_ssrc, base + 3)]
            .into_iter()
            .zip(counts)
    {
        let mut compound = Vec::new();
        rtcp::encode_compound(
            &[
                Packet::SenderReport(SenderReport {
                    ssrc,
                    ntp: NtpTimestamp::from_unix_micros(now),
                    rtp_timestamp: last_ts,
                    packet_count: packets,
                    octet_count: octets,
                    reports: vec![],
                }),
                Packet::SourceDescription(SourceDescription {
                    chunks: vec![(ssrc, Some("tinysrs@127.0.0.1".into()))],
                }),
                Packet::Bye(Bye {
                    sources: vec![ssrc],
                    reason: Some("end of test".into()),
                }),
            ],
            &mut compound,
        )
        .unwrap();
        socket.send_to(&compound, to(port)).unwrap();
    }
    let status = receiver.wait(TOOL_TIMEOUT);
    assert!(
        status.success(),
        "ffmpeg receiving our RTP: {}",
        receiver.stderr()
    );
    let frames = ffprobe_frames(&dir, &["out.mkv"]);
    assert_eq!(
        frames,
        [FRAMES, media.audio.len()],
        "video and audio frames decoded"
    );
}
