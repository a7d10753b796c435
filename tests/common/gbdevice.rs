//! A GB28181 device simulator (the media half of an IP camera) for the integration tests.
//!
//! [`Clip::encode`] has Debian's ffmpeg make elementary streams (`-f h264`, `-f hevc`,
//! `-f adts`, `-f alaw`) into a [`TempDir`] and cuts them into access units and audio frames
//! with 90 kHz timestamps. [`Sender`] muxes them into MPEG-PS with the crate's own
//! [`Muxer`] (one pack per frame, system header and PSM on keyframes), packetises the packs
//! into RTP (PT 96, 90 kHz, payloads of at most [`MAX_PAYLOAD`] bytes, marker on the last
//! packet of a frame) and sends them over UDP, over TCP with RFC 4571 framing to the
//! server's media port (tcp_passive), or over a TCP connection the server makes to us
//! (tcp_active), in real time or faster. [`Faults`] spoil the stream the way cameras and
//! networks do.
//!
//! Every wait is bounded; nothing here outlives the test.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tinysrs::wire::codec::{annexb, decode_adts_frame};
use tinysrs::wire::mpegps::{Muxer, StreamType};
use tinysrs::wire::rtp::{encode_frame, RtpPacket};

use super::{require, Proc, TempDir};

/// RTP payload type GB28181 uses for PS (`a=rtpmap:96 PS/90000`).
pub const PAYLOAD_TYPE: u8 = 96;
/// Largest RTP payload we send: a 1400-byte payload with the IP, UDP and RTP headers stays
/// under a 1500-byte Ethernet MTU, as cameras keep it.
pub const MAX_PAYLOAD: usize = 1400;
/// Video frame rate of the clips.
pub const FPS: u64 = 25;
/// Keyframe interval of the clips, in frames (one GOP a second).
pub const KEYINT: u64 = 25;
/// 90 kHz ticks per video frame.
const VIDEO_TICKS: u64 = 90_000 / FPS;
/// AAC clips: sample rate and samples per ADTS frame (one raw data block).
pub const AAC_RATE: u64 = 44_100;
const AAC_FRAME_SAMPLES: u64 = 1024;
/// G.711 A-law: 8 kHz mono, one byte a sample; cameras send 20–40 ms per PES. 320 bytes is
/// 40 ms, one audio frame per video frame.
pub const G711_FRAME_BYTES: usize = 320;
/// PTS/DTS are 33-bit counters (ISO/IEC 13818-1 §2.4.3.7).
pub const PTS_WRAP: u64 = 1 << 33;
/// How long ffmpeg may take to make a clip.
const ENCODE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the server has to connect to us in tcp_active.
pub const ACCEPT_TIMEOUT: Duration = Duration::from_secs(10);

/// The elementary streams a GB28181 camera sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    H264,
    H265,
    Aac,
    G711A,
}

impl Codec {
    pub fn is_video(self) -> bool {
        matches!(self, Codec::H264 | Codec::H265)
    }

    /// The PSM stream_type (GB/T 28181-2016 appendix C).
    pub fn stream_type(self) -> StreamType {
        match self {
            Codec::H264 => StreamType::H264,
            Codec::H265 => StreamType::H265,
            Codec::Aac => StreamType::Aac,
            Codec::G711A => StreamType::G711A,
        }
    }
}

/// One access unit (video, Annex B with 4-byte start codes) or audio frame (one ADTS frame,
/// or G.711 samples).
#[derive(Debug, Clone)]
pub struct EsFrame {
    pub codec: Codec,
    /// 90 kHz from the start of the clip; no B-frames, so DTS = PTS.
    pub pts: u64,
    pub keyframe: bool,
    pub data: Bytes,
}

/// Elementary streams cut into frames, in sending order (by PTS, video first on a tie).
#[derive(Debug, Clone, Default)]
pub struct Clip {
    pub frames: Vec<EsFrame>,
}

impl Clip {
    /// `seconds` of ffmpeg's test pattern (320x240 at 800 kbit/s, 25 fps, a keyframe a second,
    /// no B-frames) and/or a 440 Hz tone.
    pub fn encode(dir: &TempDir, video: Option<Codec>, audio: Option<Codec>, seconds: u32) -> Clip {
        let mut frames = Vec::new();
        if let Some(codec) = video {
            assert!(codec.is_video(), "{codec:?} is not a video codec");
            frames.extend(encode_video(dir, codec, seconds));
        }
        if let Some(codec) = audio {
            assert!(!codec.is_video(), "{codec:?} is not an audio codec");
            frames.extend(encode_audio(dir, codec, seconds));
        }
        frames.sort_by_key(|f| (f.pts, !f.codec.is_video()));
        Clip { frames }
    }

    /// This clip, then `next` with its timestamps moved to follow on (a codec switch when
    /// `next` has other codecs). `next` should start with a keyframe.
    pub fn then(mut self, next: Clip) -> Clip {
        let start = self
            .frames
            .iter()
            .filter(|f| f.codec.is_video())
            .map(|f| f.pts + VIDEO_TICKS)
            .max()
            .or_else(|| self.frames.last().map(|f| f.pts + VIDEO_TICKS))
            .unwrap_or(0);
        self.frames.extend(next.frames.into_iter().map(|f| EsFrame {
            pts: f.pts + start,
            ..f
        }));
        self.frames.sort_by_key(|f| (f.pts, !f.codec.is_video()));
        self
    }

    /// Frames of `codec`.
    pub fn count(&self, codec: Codec) -> usize {
        self.frames.iter().filter(|f| f.codec == codec).count()
    }
}

/// Runs ffmpeg with `args` writing `name` in `dir`; returns the file's bytes.
fn ffmpeg_file(dir: &TempDir, args: &[&str], name: &str) -> Vec<u8> {
    require("ffmpeg");
    let path = dir.path(name);
    let mut p = Proc::spawn(
        Command::new("ffmpeg")
            .args(["-hide_banner", "-nostats", "-loglevel", "error"])
            .args(args)
            .arg("-y")
            .arg(&path)
            .stdout(Stdio::null()),
        &dir.path(&format!("{name}.err")),
    );
    let status = p.wait(ENCODE_TIMEOUT);
    assert!(status.success(), "ffmpeg {name}: {}", p.stderr());
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {name}: {e}"))
}

fn encode_video(dir: &TempDir, codec: Codec, seconds: u32) -> Vec<EsFrame> {
    let t = seconds.to_string();
    let input = [
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=320x240:rate=25",
        "-t",
        &t,
        "-pix_fmt",
        "yuv420p",
        // About what a camera's sub-stream sends: frames of several RTP packets.
        "-b:v",
        "800k",
    ];
    let data = match codec {
        Codec::H264 => {
            let mut args = input.to_vec();
            args.extend([
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-x264-params",
                "keyint=25:min-keyint=25:scenecut=0:bframes=0",
                "-bsf:v",
                "h264_mp4toannexb",
                "-f",
                "h264",
            ]);
            ffmpeg_file(dir, &args, "clip.h264")
        }
        Codec::H265 => {
            let mut args = input.to_vec();
            args.extend([
                "-c:v",
                "libx265",
                "-preset",
                "ultrafast",
                "-x265-params",
                "keyint=25:min-keyint=25:scenecut=0:bframes=0:log-level=error",
                "-f",
                "hevc",
            ]);
            ffmpeg_file(dir, &args, "clip.hevc")
        }
        _ => unreachable!(),
    };
    let nals: Vec<&[u8]> = annexb::split(&data).collect();
    assert!(!nals.is_empty(), "ffmpeg made no {codec:?} NAL units");
    access_units(codec, &nals)
        .into_iter()
        .enumerate()
        .map(|(i, au)| {
            let keyframe = au.iter().any(|n| is_keyframe_nal(codec, n));
            let mut data = Vec::with_capacity(au.iter().map(|n| n.len() + 4).sum());
            for nal in au {
                data.extend_from_slice(&[0, 0, 0, 1]);
                data.extend_from_slice(nal);
            }
            EsFrame {
                codec,
                pts: i as u64 * VIDEO_TICKS,
                keyframe,
                data: Bytes::from(data),
            }
        })
        .collect()
}

fn encode_audio(dir: &TempDir, codec: Codec, seconds: u32) -> Vec<EsFrame> {
    let t = seconds.to_string();
    match codec {
        Codec::Aac => {
            let data = ffmpeg_file(
                dir,
                &[
                    "-f",
                    "lavfi",
                    "-i",
                    "sine=frequency=440:sample_rate=44100",
                    "-t",
                    &t,
                    "-ac",
                    "1",
                    "-c:a",
                    "aac",
                    "-b:a",
                    "64k",
                    "-f",
                    "adts",
                ],
                "clip.aac",
            );
            split_adts(&data)
        }
        Codec::G711A => {
            let data = ffmpeg_file(
                dir,
                &[
                    "-f",
                    "lavfi",
                    "-i",
                    "sine=frequency=440:sample_rate=8000",
                    "-t",
                    &t,
                    "-c:a",
                    "pcm_alaw",
                    "-ar",
                    "8000",
                    "-ac",
                    "1",
                    "-f",
                    "alaw",
                ],
                "clip.alaw",
            );
            data.chunks(G711_FRAME_BYTES)
                .enumerate()
                .map(|(i, chunk)| EsFrame {
                    codec,
                    // 8000 samples a second: 90000 / 8000 = 45 / 4 ticks a sample.
                    pts: (i * G711_FRAME_BYTES) as u64 * 45 / 4,
                    keyframe: true,
                    data: Bytes::copy_from_slice(chunk),
                })
                .collect()
        }
        _ => unreachable!(),
    }
}

fn nal_type(codec: Codec, nal: &[u8]) -> u8 {
    match codec {
        Codec::H264 => nal[0] & 0x1f,
        _ => (nal[0] >> 1) & 0x3f,
    }
}

/// A coded picture (VCL NAL unit).
fn is_vcl(codec: Codec, nal: &[u8]) -> bool {
    let t = nal_type(codec, nal);
    match codec {
        Codec::H264 => (1..=5).contains(&t),
        _ => t <= 31,
    }
}

/// H.264 IDR (type 5); H.265 IRAP (types 16..=23).
fn is_keyframe_nal(codec: Codec, nal: &[u8]) -> bool {
    let t = nal_type(codec, nal);
    match codec {
        Codec::H264 => t == 5,
        _ => (16..=23).contains(&t),
    }
}

/// Groups NAL units into access units. A new one starts, once the current one holds a
/// picture, at the first slice of a picture (H.264 §7.4.1.2.3: first_mb_in_slice = 0, the
/// ue(v) "1" bit; H.265 §7.4.2.4.4: first_slice_segment_in_pic_flag) or at a NAL unit that
/// must precede one (AUD, parameter sets, SEI).
fn access_units<'a>(codec: Codec, nals: &[&'a [u8]]) -> Vec<Vec<&'a [u8]>> {
    let mut units: Vec<Vec<&[u8]>> = Vec::new();
    let mut current: Vec<&[u8]> = Vec::new();
    let mut has_picture = false;
    for &nal in nals {
        let t = nal_type(codec, nal);
        let starts_unit = if is_vcl(codec, nal) {
            match codec {
                Codec::H264 => nal.len() > 1 && nal[1] & 0x80 != 0,
                _ => nal.len() > 2 && nal[2] & 0x80 != 0,
            }
        } else {
            match codec {
                Codec::H264 => matches!(t, 6..=9 | 14..=18),
                _ => matches!(t, 32..=35 | 39 | 41..=44 | 48..=55),
            }
        };
        if starts_unit && has_picture {
            units.push(std::mem::take(&mut current));
            has_picture = false;
        }
        has_picture |= is_vcl(codec, nal);
        current.push(nal);
    }
    if has_picture {
        units.push(current);
    }
    units
}

/// ADTS frames (ISO/IEC 14496-3 §1.A.2) with their PTS.
fn split_adts(data: &[u8]) -> Vec<EsFrame> {
    let mut frames = Vec::new();
    let mut at = 0;
    let mut samples = 0u64;
    while at + 7 <= data.len() {
        let (frame, len) = match decode_adts_frame(&data[at..]) {
            Ok(Some(frame)) => frame,
            other => panic!("bad ADTS frame at offset {at}: {other:?}"),
        };
        let rate = u64::from(frame.header.sample_rate());
        frames.push(EsFrame {
            codec: Codec::Aac,
            pts: samples * 90_000 / rate,
            keyframe: true,
            data: Bytes::copy_from_slice(&data[at..at + len]),
        });
        samples += u64::from(frame.header.raw_data_blocks) * AAC_FRAME_SAMPLES;
        at += len;
    }
    frames
}

/// What the sender does wrong on purpose.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Percent of RTP packets not sent.
    pub drop_percent: u32,
    /// Percent of RTP packets sent twice.
    pub duplicate_percent: u32,
    /// Percent of RTP packets held back and sent after the next one.
    pub reorder_percent: u32,
    /// No system header or PSM at all: the receiver must guess the stream types.
    pub omit_psm: bool,
    /// RTP SSRC other than the one agreed in the SDP (`y=`).
    pub wrong_ssrc: Option<u32>,
    /// Added to every PTS (mod 2^33), e.g. to start just before the 33-bit wrap.
    pub pts_offset: u64,
    /// After every 5th frame, a padding PES (stream id 0xBE) and a private stream 1 PES
    /// (0xBD) in the same pack.
    pub padding_and_private: bool,
    /// Seed of the fault dice, so a failure can be replayed.
    pub seed: u64,
}

/// How to send a clip.
#[derive(Debug, Clone)]
pub struct SendOptions {
    /// The SSRC the server asked for (`y=` of its INVITE).
    pub ssrc: u32,
    /// 1.0 is real time; 2.0 twice as fast. Sending never runs ahead of this.
    pub speed: f64,
    pub faults: Faults,
}

impl SendOptions {
    pub fn real_time(ssrc: u32) -> SendOptions {
        SendOptions {
            ssrc,
            speed: 1.0,
            faults: Faults::default(),
        }
    }
}

/// What a sender did.
#[derive(Debug, Clone, Copy, Default)]
pub struct SendStats {
    pub frames: usize,
    /// RTP packets built (before faults).
    pub packets: usize,
    pub dropped: usize,
    pub duplicated: usize,
    pub reordered: usize,
    /// Video and audio frames that lost at least one packet.
    pub damaged_video_frames: usize,
    pub damaged_audio_frames: usize,
    /// Bytes written to the socket.
    pub bytes: usize,
}

enum Link {
    Udp(UdpSocket, SocketAddr),
    /// A connected UDP socket: an ICMP port unreachable from the server comes back as
    /// `ConnectionRefused` on a later send, as devices (and srs-bench) see it.
    UdpConnected(UdpSocket),
    Tcp(TcpStream),
}

/// xorshift64*: the fault dice.
struct Dice(u64);

impl Dice {
    fn percent(&mut self, p: u32) -> bool {
        if p == 0 {
            return false;
        }
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) % 100 < u64::from(p)
    }
}

/// One media connection (or UDP flow) of a device, with its RTP sequence counter.
pub struct Sender {
    link: Link,
    sequence: u16,
    /// A packet held back to be sent after the next (reorder fault).
    held: Option<Vec<u8>>,
    pub stats: SendStats,
}

impl Sender {
    /// RTP over UDP to `to`, from an ephemeral port on 127.0.0.1.
    pub fn udp(to: SocketAddr) -> io::Result<Sender> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        Ok(Sender::new(Link::Udp(socket, to)))
    }

    /// RTP over a UDP socket connected to `to`: a send fails with `ConnectionRefused` once
    /// the server has answered one with ICMP port unreachable (nothing bound there).
    pub fn udp_connected(to: SocketAddr) -> io::Result<Sender> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        socket.connect(to)?;
        Ok(Sender::new(Link::UdpConnected(socket)))
    }

    /// tcp_passive: we connect to the server's media port.
    pub fn tcp_connect(to: SocketAddr) -> io::Result<Sender> {
        let stream = TcpStream::connect_timeout(&to, Duration::from_secs(5))?;
        Ok(Sender::tcp(stream))
    }

    /// tcp_active: the server connects to `listener` (the port of our SDP answer).
    pub fn tcp_accept(listener: &TcpListener, timeout: Duration) -> io::Result<Sender> {
        listener.set_nonblocking(true)?;
        let end = Instant::now() + timeout;
        loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(false)?;
                    return Ok(Sender::tcp(stream));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < end => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the server did not connect (tcp_active)",
                    ))
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn tcp(stream: TcpStream) -> Sender {
        let _ = stream.set_nodelay(true);
        let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
        Sender::new(Link::Tcp(stream))
    }

    fn new(link: Link) -> Sender {
        Sender {
            link,
            sequence: 0x1234,
            held: None,
            stats: SendStats::default(),
        }
    }

    /// Sends `clip` as PS over RTP, paced by its timestamps.
    pub fn send_clip(&mut self, clip: &Clip, opts: &SendOptions) -> io::Result<SendStats> {
        let faults = &opts.faults;
        let ssrc = faults.wrong_ssrc.unwrap_or(opts.ssrc);
        let mut dice = Dice(faults.seed | 1);
        let mut video = clip
            .frames
            .iter()
            .find(|f| f.codec.is_video())
            .map(|f| f.codec);
        let mut audio = clip
            .frames
            .iter()
            .find(|f| !f.codec.is_video())
            .map(|f| f.codec);
        let mut muxer = Muxer::new(video.map(Codec::stream_type), audio.map(Codec::stream_type));
        let start = Instant::now();
        let first_pts = clip.frames.first().map_or(0, |f| f.pts);
        for (i, frame) in clip.frames.iter().enumerate() {
            // Codec switch: a new muxer, whose PSM (on the next keyframe) names the new types.
            let (v, a) = if frame.codec.is_video() {
                (Some(frame.codec), audio)
            } else {
                (video, Some(frame.codec))
            };
            if (v, a) != (video, audio) {
                (video, audio) = (v, a);
                muxer = Muxer::new(video.map(Codec::stream_type), audio.map(Codec::stream_type));
            }
            let due =
                Duration::from_secs_f64((frame.pts - first_pts) as f64 / 90_000.0 / opts.speed);
            if let Some(wait) = (start + due).checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let pts = (frame.pts + faults.pts_offset) % PTS_WRAP;
            let mut ps = Vec::with_capacity(frame.data.len() + 256);
            muxer.write_frame(
                frame.codec.is_video(),
                pts,
                None,
                frame.keyframe,
                &frame.data,
                !faults.omit_psm,
                &mut ps,
            );
            if faults.padding_and_private && i % 5 == 4 {
                // ISO/IEC 13818-1 §2.4.3.6: padding_stream bytes are 0xFF; private_stream_1
                // carries data we do not know (here a fake DVD sub-stream id and bytes).
                ps.extend_from_slice(&[0, 0, 1, 0xBE, 0, 32]);
                ps.extend_from_slice(&[0xFF; 32]);
                ps.extend_from_slice(&[0, 0, 1, 0xBD, 0, 24, 0x81, 0xC0, 0x00]);
                ps.extend_from_slice(&[0x5A; 21]);
            }
            let dropped = self.stats.dropped;
            self.send_ps_frame(&ps, pts as u32, ssrc, faults, &mut dice)?;
            if self.stats.dropped > dropped {
                if frame.codec.is_video() {
                    self.stats.damaged_video_frames += 1;
                } else {
                    self.stats.damaged_audio_frames += 1;
                }
            }
            self.stats.frames += 1;
        }
        self.flush_held()?;
        Ok(self.stats)
    }

    /// Sends arbitrary bytes as the PS payload of RTP packets (≤ [`MAX_PAYLOAD`] each, the
    /// marker on the last), `chunk` bytes a "frame", paced at `rate` frames a second.
    pub fn send_ps_bytes(
        &mut self,
        ps: &[u8],
        ssrc: u32,
        chunk: usize,
        rate: u32,
    ) -> io::Result<()> {
        let start = Instant::now();
        let mut dice = Dice(1);
        for (i, part) in ps.chunks(chunk.max(1)).enumerate() {
            let due = Duration::from_secs_f64(i as f64 / f64::from(rate.max(1)));
            if let Some(wait) = (start + due).checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let ts = (i as u64 * 90_000 / u64::from(rate.max(1))) as u32;
            self.send_ps_frame(part, ts, ssrc, &Faults::default(), &mut dice)?;
        }
        Ok(())
    }

    /// One frame's PS bytes as RTP packets, faults applied.
    fn send_ps_frame(
        &mut self,
        ps: &[u8],
        timestamp: u32,
        ssrc: u32,
        faults: &Faults,
        dice: &mut Dice,
    ) -> io::Result<()> {
        let chunks: Vec<&[u8]> = ps.chunks(MAX_PAYLOAD).collect();
        let mut out: Vec<Vec<u8>> = Vec::with_capacity(chunks.len() + 2);
        for (i, chunk) in chunks.iter().enumerate() {
            let packet = RtpPacket {
                marker: i + 1 == chunks.len(),
                payload_type: PAYLOAD_TYPE,
                sequence: self.sequence,
                timestamp,
                ssrc,
                payload: Bytes::copy_from_slice(chunk),
            };
            self.sequence = self.sequence.wrapping_add(1);
            self.stats.packets += 1;
            let mut bytes = Vec::with_capacity(packet.encoded_len());
            packet.encode(&mut bytes);
            if dice.percent(faults.drop_percent) {
                self.stats.dropped += 1;
                continue;
            }
            let duplicate = dice.percent(faults.duplicate_percent);
            if let Some(held) = self.held.take() {
                // The held packet goes after this one.
                out.push(bytes.clone());
                out.push(held);
            } else if dice.percent(faults.reorder_percent) {
                self.stats.reordered += 1;
                self.held = Some(bytes.clone());
            } else {
                out.push(bytes.clone());
            }
            if duplicate {
                self.stats.duplicated += 1;
                out.push(bytes);
            }
        }
        self.write_packets(&out)
    }

    fn flush_held(&mut self) -> io::Result<()> {
        if let Some(held) = self.held.take() {
            self.write_packets(&[held])?;
        }
        Ok(())
    }

    fn write_packets(&mut self, packets: &[Vec<u8>]) -> io::Result<()> {
        match &mut self.link {
            Link::Udp(socket, to) => {
                for p in packets {
                    socket.send_to(p, *to)?;
                    self.stats.bytes += p.len();
                }
                Ok(())
            }
            Link::UdpConnected(socket) => {
                for p in packets {
                    socket.send(p)?;
                    self.stats.bytes += p.len();
                }
                Ok(())
            }
            Link::Tcp(stream) => {
                // RFC 4571: each packet behind its 16-bit length; one write per frame.
                let mut buf = Vec::with_capacity(packets.iter().map(|p| p.len() + 2).sum());
                for p in packets {
                    encode_frame(p, &mut buf).map_err(io::Error::other)?;
                }
                self.stats.bytes += buf.len();
                stream.write_all(&buf)
            }
        }
    }
}

/// A free port on 127.0.0.1 for both UDP and TCP at the time of the call (bound, then
/// released): for sipp's `-p` and the server's `rtp_port_min`/`rtp_port_max`.
pub fn free_port() -> u16 {
    for _ in 0..50 {
        let tcp = TcpListener::bind("127.0.0.1:0").expect("bind a TCP port");
        let port = tcp.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both UDP and TCP");
}
