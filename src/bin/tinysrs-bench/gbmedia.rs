//! `gb-media`: the media half of a GB28181 camera, for scripts (`ci/browser`) whose camera
//! signalling is sipp's. Reads an Annex B H.264 file (ffmpeg's `-bsf:v h264_mp4toannexb
//! -f h264`, no B-frames), cuts it into access units, muxes each into one MPEG-PS pack with
//! the crate's [`Muxer`] (pack header; system header and PSM with stream_type 0x1B on
//! keyframes; PES 0xE0), and sends the packs as RTP (PT 96, the SSRC of the server's `y=`
//! line, 90 kHz timestamps, marker on a frame's last packet) over UDP, or over TCP with
//! RFC 4571 framing when the offer was `TCP/RTP/AVP` (tcp_passive: we connect). Real time at
//! `--fps`, looping the file with timestamps that keep rising, for `--secs` seconds.
//!
//! Blocking std sockets and sleeps: one flow, nothing else to do meanwhile. The facts are
//! those of the Rust tests' camera simulator (tests/common/gbdevice.rs).

use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::json;
use std::io::Write;
use tinysrs::wire::codec::annexb;
use tinysrs::wire::mpegps::{Muxer, StreamType};
use tinysrs::wire::rtp::{encode_frame, RtpPacket};

pub const USAGE: &str = "\
usage: tinysrs-bench gb-media --to IP:PORT --ssrc N --h264 FILE [--tcp] [--alaw] [--secs S] [--fps F]
  sends FILE (Annex B H.264) as MPEG-PS over RTP to a GB28181 server's media port
  --to IP:PORT   the media address of the server's INVITE (c= and m= lines)
  --ssrc N       the SSRC of its y= line (decimal)
  --h264 FILE    e.g. ffmpeg ... -c:v libx264 -bf 0 -g 25 -bsf:v h264_mp4toannexb -f h264 FILE
  --tcp          RTP over TCP (RFC 4571), for an offer of TCP/RTP/AVP; UDP otherwise
  --alaw         add audio as a camera sends it: a 440 Hz tone, G.711 A-law 8 kHz mono
                 (PSM stream_type 0x90, PES 0xC0), one PS pack per video frame's time
  --secs S       how long to send, looping the file                    [30]
  --fps F        frames a second                                       [25]
";

/// RTP payload type GB28181 uses for PS (`a=rtpmap:96 PS/90000`).
const PAYLOAD_TYPE: u8 = 96;
/// Largest RTP payload: with the IP, UDP and RTP headers it stays under a 1500-byte MTU.
const MAX_PAYLOAD: usize = 1400;
/// Largest input file read: a clip of a few seconds is well under this.
const MAX_FILE_BYTES: u64 = 64 << 20;
/// Longest run, so that a script's mistake cannot leave a sender running for ever.
const MAX_SECS: f64 = 3600.0;
/// How long the TCP connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

struct Options {
    to: SocketAddr,
    ssrc: u32,
    h264: PathBuf,
    tcp: bool,
    alaw: bool,
    secs: f64,
    fps: u32,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let (mut to, mut ssrc, mut h264) = (None, None, None);
    let (mut tcp, mut alaw, mut secs, mut fps) = (false, false, 30.0, 25u32);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        let bad = |v: &str| format!("{arg}: bad value {v:?}");
        match arg.as_str() {
            "--to" => {
                let v = value()?;
                to = Some(v.parse::<SocketAddr>().map_err(|_| bad(v))?)
            }
            "--ssrc" => {
                let v = value()?;
                ssrc = Some(v.parse::<u32>().map_err(|_| bad(v))?)
            }
            "--h264" => h264 = Some(PathBuf::from(value()?)),
            "--tcp" => tcp = true,
            "--alaw" => alaw = true,
            "--secs" => {
                let v = value()?;
                secs = v.parse::<f64>().map_err(|_| bad(v))?
            }
            "--fps" => {
                let v = value()?;
                fps = v.parse::<u32>().map_err(|_| bad(v))?
            }
            s => return Err(format!("unknown argument {s:?}")),
        }
    }
    if !(secs > 0.0 && secs <= MAX_SECS) || fps == 0 || fps > 1000 {
        return Err(format!(
            "--secs must be in (0, {MAX_SECS}], --fps in 1..=1000"
        ));
    }
    Ok(Options {
        to: to.ok_or("--to is needed")?,
        ssrc: ssrc.ok_or("--ssrc is needed")?,
        h264: h264.ok_or("--h264 is needed")?,
        tcp,
        alaw,
        secs,
        fps,
    })
}

/// One access unit in Annex B (4-byte start codes).
struct AccessUnit {
    keyframe: bool,
    data: Bytes,
}

/// Groups the NAL units of an H.264 byte stream into access units (§7.4.1.2.3): once the
/// current one holds a picture, a new one starts at the first slice of a picture
/// (first_mb_in_slice = 0: the ue(v) "1" bit) or at a NAL unit that must precede one (SEI,
/// parameter sets, AUD, types 14-18). A unit is a keyframe when it holds an IDR slice.
fn access_units(stream: &[u8]) -> Vec<AccessUnit> {
    let mut units = Vec::new();
    let mut current: Vec<u8> = Vec::new();
    let (mut has_picture, mut keyframe) = (false, false);
    for nal in annexb::split(stream).filter(|n| !n.is_empty()) {
        let t = nal[0] & 0x1f;
        let vcl = (1..=5).contains(&t);
        let starts_unit = if vcl {
            nal.len() > 1 && nal[1] & 0x80 != 0
        } else {
            matches!(t, 6..=9 | 14..=18)
        };
        if starts_unit && has_picture {
            units.push(AccessUnit {
                keyframe,
                data: Bytes::from(std::mem::take(&mut current)),
            });
            (has_picture, keyframe) = (false, false);
        }
        has_picture |= vcl;
        keyframe |= t == 5;
        current.extend_from_slice(&[0, 0, 0, 1]);
        current.extend_from_slice(nal);
    }
    if has_picture {
        units.push(AccessUnit {
            keyframe,
            data: Bytes::from(current),
        });
    }
    units
}

enum Link {
    Udp(UdpSocket),
    Tcp(TcpStream),
}

pub fn main(args: &[String]) -> ExitCode {
    let o = match parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("tinysrs-bench gb-media: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&o) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tinysrs-bench gb-media: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(o: &Options) -> Result<(), String> {
    let name = o.h264.display();
    let len = std::fs::metadata(&o.h264)
        .map_err(|e| format!("{name}: {e}"))?
        .len();
    if len > MAX_FILE_BYTES {
        return Err(format!("{name}: {len} bytes, more than {MAX_FILE_BYTES}"));
    }
    let data = std::fs::read(&o.h264).map_err(|e| format!("{name}: {e}"))?;
    let units = access_units(&data);
    if !units.iter().any(|u| u.keyframe) {
        return Err(format!(
            "{name}: no H.264 IDR picture (is it Annex B H.264?)"
        ));
    }
    // Start on the first keyframe, so the server's first PSM comes with a decodable picture.
    let first_key = units.iter().position(|u| u.keyframe).unwrap_or(0);
    let units = &units[first_key..];

    let mut link = if o.tcp {
        let stream = TcpStream::connect_timeout(&o.to, CONNECT_TIMEOUT)
            .map_err(|e| format!("connect {}: {e}", o.to))?;
        let _ = stream.set_nodelay(true);
        stream
            .set_write_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        Link::Tcp(stream)
    } else {
        let socket = UdpSocket::bind(if o.to.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        })
        .map_err(|e| format!("bind: {e}"))?;
        socket.connect(o.to).map_err(|e| format!("{}: {e}", o.to))?;
        Link::Udp(socket)
    };
    eprintln!(
        "tinysrs-bench gb-media: {} access units from {name}, {} fps, to {} over {} (ssrc {})",
        units.len(),
        o.fps,
        o.to,
        if o.tcp { "TCP" } else { "UDP" },
        o.ssrc
    );

    let audio = o.alaw.then_some(StreamType::G711A);
    let mut muxer = Muxer::new(Some(StreamType::H264), audio);
    // Audio samples per video frame (8 kHz), and the tone's phase across frames.
    let samples = (8_000 / o.fps).max(1) as usize;
    let mut phase = 0u64;
    let ticks = 90_000 / u64::from(o.fps);
    let frame_time = Duration::from_secs_f64(1.0 / f64::from(o.fps));
    let total = (o.secs * f64::from(o.fps)).ceil() as u64;
    let start = Instant::now();
    let (mut sequence, mut packets, mut bytes) = (0x1234u16, 0u64, 0u64);
    let mut ps = Vec::new();
    let mut out = Vec::new();
    for i in 0..total {
        if let Some(wait) = (start + frame_time * i as u32).checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let unit = &units[(i % units.len() as u64) as usize];
        // PTS/DTS are 33 bits (ISO/IEC 13818-1 §2.4.3.7); the RTP timestamp is their low 32.
        let pts = (i * ticks) % (1 << 33);
        out.clear();
        ps.clear();
        muxer.write_frame(true, pts, None, unit.keyframe, &unit.data, true, &mut ps);
        let mut packs = vec![std::mem::take(&mut ps)];
        if audio.is_some() {
            let tone: Vec<u8> = (0..samples as u64)
                .map(|n| {
                    let t = (phase + n) as f64 / 8_000.0;
                    alaw((8_000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16)
                })
                .collect();
            phase += samples as u64;
            let mut pack = Vec::new();
            muxer.write_frame(false, pts, None, false, &tone, false, &mut pack);
            packs.push(pack);
        }
        for ps in &packs {
            let chunks = ps.chunks(MAX_PAYLOAD).count();
            for (n, chunk) in ps.chunks(MAX_PAYLOAD).enumerate() {
                let packet = RtpPacket {
                    marker: n + 1 == chunks,
                    payload_type: PAYLOAD_TYPE,
                    sequence,
                    timestamp: pts as u32,
                    ssrc: o.ssrc,
                    payload: Bytes::copy_from_slice(chunk),
                };
                sequence = sequence.wrapping_add(1);
                packets += 1;
                let mut buf = Vec::with_capacity(packet.encoded_len());
                packet.encode(&mut buf);
                match &mut link {
                    Link::Udp(socket) => {
                        socket
                            .send(&buf)
                            .map_err(|e| format!("send to {}: {e}", o.to))?;
                        bytes += buf.len() as u64;
                    }
                    Link::Tcp(_) => encode_frame(&buf, &mut out).map_err(|e| e.to_string())?,
                }
            }
        }
        if let Link::Tcp(stream) = &mut link {
            // RFC 4571: each packet behind its 16-bit length; one write a frame.
            stream
                .write_all(&out)
                .map_err(|e| format!("write to {}: {e}", o.to))?;
            bytes += out.len() as u64;
        }
    }
    println!(
        "{}",
        json!({
            "mode": "gb-media",
            "frames": total,
            "packets": packets,
            "bytes": bytes,
            "secs": start.elapsed().as_secs_f64(),
        })
    );
    Ok(())
}

/// G.711 A-law of a 16-bit linear sample (ITU-T G.711 table 1: the sign, a 3-bit segment
/// and 4 bits within it, of the 13 most significant bits; even bits inverted).
fn alaw(pcm: i16) -> u8 {
    let mut value = i32::from(pcm) >> 3;
    let mask: i32 = if value >= 0 {
        0xD5
    } else {
        value = -value - 1;
        0x55
    };
    const SEGMENT_END: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];
    let Some(segment) = SEGMENT_END.iter().position(|&end| value <= end) else {
        return (0x7F ^ mask) as u8;
    };
    let step = if segment < 2 { 1 } else { segment };
    let code = ((segment as i32) << 4) | ((value >> step) & 0x0F);
    (code ^ mask) as u8
}

#[cfg(test)]
mod tests {
    #[test]
    fn alaw_codes_silence_peaks_and_signs() {
        use super::alaw;
        // G.711's A-law: +0 is 0xD5, -1 is 0x55; the largest magnitudes 0xAA and 0x2A.
        assert_eq!(alaw(0), 0xD5);
        assert_eq!(alaw(-1), 0x55);
        assert_eq!(alaw(i16::MAX), 0xAA);
        assert_eq!(alaw(i16::MIN), 0x2A);
    }

    use super::*;

    #[test]
    fn access_units_split_at_first_slices_and_parameter_sets() {
        // SPS, PPS, IDR slice (first_mb 0), then a non-IDR slice (first_mb 0): two units.
        let stream = [
            0, 0, 0, 1, 0x67, 0x42, 0, 0, 0, 1, 0x68, 0xce, 0, 0, 0, 1, 0x65, 0x88, 0x84, 0, 0, 0,
            1, 0x41, 0x9a, 0x02,
        ];
        let units = access_units(&stream);
        assert_eq!(units.len(), 2);
        assert!(units[0].keyframe);
        assert!(!units[1].keyframe);
        assert_eq!(units[1].data.as_ref(), &[0, 0, 0, 1, 0x41, 0x9a, 0x02]);
    }
}
