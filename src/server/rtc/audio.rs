//! Audio for WHEP players (issue 15): which of a hub stream's audio a WebRTC player can get,
//! on which m-line and payload type, and its RTP timestamps and marker bits.
//!
//! What a caller must know:
//! - WebRTC's codecs that the hub carries as they are: G.711 A-law and mu-law (PCMA, static
//!   payload type 8, and PCMU, 0; 8 kHz mono, RFC 3551 §4.5.14; RFC 7874 §3 makes them
//!   mandatory in every browser) and Opus (RFC 7587: a 48 kHz RTP clock whatever the coded
//!   rate, one Opus packet per RTP packet). [`choose`] picks the one the stream has; AAC, MP3
//!   and the rest have no WebRTC mapping and players get video only.
//! - G.711 must be 8 kHz mono. The FLV audio header is its only description in the hub:
//!   SoundRate 0 (FLV's "5.5 kHz" code, which ffmpeg writes and reads as 8 kHz for G.711 and
//!   which the GB28181 and RTSP ingests write) is 8 kHz; SoundRate 1 to 3 (11, 22, 44 kHz) or
//!   SoundType stereo is refused ([`NoAudio::G711Format`]), and each frame is checked again
//!   ([`carries`]) since a republish may change it. What FLV cannot say is not caught: ffmpeg
//!   writes the same header byte (`0x72`) for A-law at 16 kHz or in stereo (measured with
//!   Debian 12's ffmpeg 5.1: `-ar 16000` and `-ac 2` both give SoundRate 0, mono), and the
//!   hub (RTSP server, MP4, these players) takes it as 8 kHz mono like every FLV reader.
//! - Opus with more than two channels (OpusHead channel mapping family 1) has no WebRTC SDP:
//!   refused.
//! - Timestamps ([`rtp_timestamp`]): the frame's DTS in milliseconds, the Source's timeline
//!   that video's 90 kHz timestamps come from too, in the codec's clock (8 kHz, 48 kHz), so
//!   the browser lines audio up with video as the publisher did.
//! - Marker bit: set on the first packet of a talkspurt (RFC 3551 §4.1, RFC 7587 §4.1): the
//!   first packet a player gets and the first after a gap in the audio ([`Talkspurt`]).

use std::sync::Arc;

use str0m::format::Codec as RtcCodec;
use str0m::media::{MediaKind, Mid, Pt};
use str0m::Rtc;

use crate::media::{AudioCodec, Codec, Frame, FrameKind};
use crate::wire::flv::parse_audio;
use crate::wire::rtp::DEFAULT_MTU;

/// FLV SoundRate code that G.711 at 8 kHz has (FLV spec E.4.2.1: "5.5 kHz"; there is no 8 kHz
/// code, ffmpeg writes this one and reads any as 8 kHz).
const G711_SOUND_RATE: u8 = 0;
/// An audio gap longer than this after a frame's end starts a new talkspurt (marker bit):
/// more than a packet's jitter at a publisher, less than any silence a listener hears.
pub const TALKSPURT_GAP_MS: i64 = 60;
/// An Opus frame's duration at most, when the gap to the next one is judged (RFC 6716 §3.2.1:
/// a packet holds up to 120 ms).
const OPUS_MAX_FRAME_MS: i64 = 120;
/// The largest audio payload sent in one RTP packet: an Opus packet is never fragmented
/// (RFC 7587 §4.2), so a larger one is dropped; G.711 is split at this size.
pub const MAX_AUDIO_PAYLOAD: usize = DEFAULT_MTU;

/// The audio codecs a WHEP player gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtcAudio {
    /// G.711 A-law, `PCMA/8000`.
    Pcma,
    /// G.711 mu-law, `PCMU/8000`.
    Pcmu,
    /// `opus/48000/2`.
    Opus,
}

impl RtcAudio {
    pub fn rtc_codec(self) -> RtcCodec {
        match self {
            RtcAudio::Pcma => RtcCodec::PCMA,
            RtcAudio::Pcmu => RtcCodec::PCMU,
            RtcAudio::Opus => RtcCodec::Opus,
        }
    }

    /// The RTP clock rate (RFC 3551 §4.5.14, RFC 7587 §4.1).
    pub fn clock_rate(self) -> u32 {
        match self {
            RtcAudio::Pcma | RtcAudio::Pcmu => 8_000,
            RtcAudio::Opus => 48_000,
        }
    }

    pub fn hub_codec(self) -> AudioCodec {
        match self {
            RtcAudio::Pcma => AudioCodec::G711A,
            RtcAudio::Pcmu => AudioCodec::G711U,
            RtcAudio::Opus => AudioCodec::Opus,
        }
    }
}

/// Why a stream's audio does not go to WebRTC players.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoAudio {
    /// A codec WebRTC has no payload format for (AAC, MP3, ...).
    Codec(AudioCodec),
    /// G.711 whose FLV header says another rate than 8 kHz (`sound_rate`, FLV's code) or
    /// stereo.
    G711Format { sound_rate: u8, stereo: bool },
    /// Opus with more channels than WebRTC's stereo.
    OpusChannels(u8),
}

impl std::fmt::Display for NoAudio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoAudio::Codec(c) => write!(f, "{c:?} audio, which WebRTC does not carry"),
            NoAudio::G711Format { sound_rate, stereo } => write!(
                f,
                "G.711 audio with FLV SoundRate {sound_rate}{}, not the 8 kHz mono WebRTC carries",
                if *stereo { " stereo" } else { "" }
            ),
            NoAudio::OpusChannels(n) => {
                write!(f, "Opus audio with {n} channels, more than WebRTC's two")
            }
        }
    }
}

/// The audio a WebRTC player of a stream gets: `codec` is the Source's audio codec, `header`
/// its audio sequence header, `sample` one of its audio frames (from the GOP cache) if it has
/// any. `Ok(None)` when the stream has no audio (yet).
pub fn choose(
    codec: Option<Codec>,
    header: Option<&Frame>,
    sample: Option<&Frame>,
) -> Result<Option<RtcAudio>, NoAudio> {
    let audio = match codec {
        Some(Codec::Audio(AudioCodec::G711A)) => RtcAudio::Pcma,
        Some(Codec::Audio(AudioCodec::G711U)) => RtcAudio::Pcmu,
        Some(Codec::Audio(AudioCodec::Opus)) => RtcAudio::Opus,
        Some(Codec::Audio(other)) => return Err(NoAudio::Codec(other)),
        _ => return Ok(None),
    };
    if audio == RtcAudio::Opus {
        if let Some(channels) = header.and_then(opus_channels) {
            if channels > 2 {
                return Err(NoAudio::OpusChannels(channels));
            }
        }
    }
    if let Some(frame) = sample {
        carries(audio, frame)?;
    }
    Ok(Some(audio))
}

/// Whether `frame` goes out as `audio`: an audio frame of that codec (not a sequence header)
/// and, for G.711, 8 kHz mono by its FLV header.
pub fn carries(audio: RtcAudio, frame: &Frame) -> Result<(), NoAudio> {
    let Codec::Audio(codec) = frame.codec else {
        return Err(NoAudio::Codec(AudioCodec::Other(0)));
    };
    if codec != audio.hub_codec() {
        return Err(NoAudio::Codec(codec));
    }
    if audio != RtcAudio::Opus {
        // parse_audio has read this header when the frame came in.
        if let Ok(tag) = parse_audio(&frame.data) {
            if tag.sound_rate != G711_SOUND_RATE || tag.sound_type != 0 {
                return Err(NoAudio::G711Format {
                    sound_rate: tag.sound_rate,
                    stereo: tag.sound_type != 0,
                });
            }
        }
    }
    Ok(())
}

/// The channel count of an Opus sequence header (`OpusHead`, RFC 7845 §5.1: magic, version,
/// then the count).
fn opus_channels(header: &Frame) -> Option<u8> {
    let head = header.data.get(header.payload_offset..)?;
    head.strip_prefix(b"OpusHead")?.get(1).copied()
}

/// The RTP timestamp of an audio frame: its DTS in `audio`'s clock, from the origin of the
/// video's (so `dts` 1000 ms is 90 000 in video and 8 000 in G.711). Wraps as RTP's does.
pub fn rtp_timestamp(audio: RtcAudio, frame: &Frame) -> u32 {
    crate::server::rtsp_server::rtp_timestamp(frame, audio.clock_rate())
}

/// The frame's codec data (after the FLV audio header).
pub fn payload(frame: &Frame) -> &[u8] {
    frame.data.get(frame.payload_offset..).unwrap_or_default()
}

/// The audio m-line of a WHEP session (the offer's first audio m-line that str0m answered
/// with `audio`'s codec and sends on) and `audio`'s payload type there; `None` when the offer
/// has no audio, rejects it (port 0, `inactive`) or does not offer that codec.
pub fn track(rtc: &Rtc, offer: &str, audio: RtcAudio) -> Option<(Mid, Pt)> {
    let mid = super::first_mid(offer, MediaKind::Audio)?;
    let media = rtc.media(mid)?;
    if media.kind() != MediaKind::Audio || !media.direction().is_sending() {
        return None;
    }
    let pt = rtc
        .codec_config()
        .params()
        .iter()
        .find(|p| p.spec().codec == audio.rtc_codec() && media.remote_pts().contains(&p.pt()))
        .map(|p| p.pt())?;
    Some((mid, pt))
}

/// Where the marker bit goes: the first packet of each talkspurt (RFC 3551 §4.1).
#[derive(Debug, Default)]
pub struct Talkspurt {
    /// The end (ms) of the last frame sent: its DTS plus its duration.
    end: Option<i64>,
}

impl Talkspurt {
    /// Whether `frame`, sent next as `audio`, starts a talkspurt: it is the first, or it comes
    /// more than [`TALKSPURT_GAP_MS`] after the last one ended.
    pub fn start(&mut self, audio: RtcAudio, frame: &Frame) -> bool {
        let duration = match audio {
            // One byte per sample at 8 kHz, mono.
            RtcAudio::Pcma | RtcAudio::Pcmu => (payload(frame).len() / 8) as i64,
            RtcAudio::Opus => OPUS_MAX_FRAME_MS,
        };
        let start = match self.end {
            None => true,
            Some(end) => {
                frame.dts > end.saturating_add(TALKSPURT_GAP_MS)
                    || frame.dts < end.saturating_sub(1000)
            }
        };
        self.end = Some(frame.dts.saturating_add(duration));
        start
    }
}

/// The RTP payloads of one audio frame with each one's timestamp offset (in the codec's clock)
/// from [`rtp_timestamp`]: G.711 split into pieces of at most [`MAX_AUDIO_PAYLOAD`] bytes
/// (whole samples), Opus whole or not at all (larger than [`MAX_AUDIO_PAYLOAD`]: dropped).
pub fn payloads(audio: RtcAudio, frame: &Frame) -> Vec<(u32, Arc<[u8]>)> {
    let data = payload(frame);
    if frame.kind != FrameKind::Audio || data.is_empty() {
        return Vec::new();
    }
    match audio {
        RtcAudio::Opus if data.len() > MAX_AUDIO_PAYLOAD => Vec::new(),
        RtcAudio::Opus => vec![(0, Arc::from(data))],
        RtcAudio::Pcma | RtcAudio::Pcmu => data
            .chunks(MAX_AUDIO_PAYLOAD)
            .enumerate()
            // A piece's offset is below the frame's length: one sample per byte.
            .map(|(i, piece)| ((i * MAX_AUDIO_PAYLOAD) as u32, Arc::from(piece)))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn g711(header: u8, dts: i64, samples: usize) -> Frame {
        let codec = AudioCodec::from_sound_format(header >> 4);
        let mut body = vec![header];
        body.resize(1 + samples, 0xD5);
        Frame::audio(codec, dts, false, Bytes::from(body), 1)
    }

    fn opus(dts: i64, len: usize) -> Frame {
        let mut body = vec![0x91, b'O', b'p', b'u', b's'];
        body.resize(5 + len, 0x78);
        Frame::audio(AudioCodec::Opus, dts, false, Bytes::from(body), 5)
    }

    fn opus_head(channels: u8) -> Frame {
        let mut body = vec![0x90, b'O', b'p', b'u', b's'];
        body.extend_from_slice(b"OpusHead");
        body.extend_from_slice(&[1, channels, 0, 0, 0x80, 0xbb, 0, 0, 0, 0, 0]);
        Frame::audio(AudioCodec::Opus, 0, true, Bytes::from(body), 5)
    }

    fn audio(c: AudioCodec) -> Option<Codec> {
        Some(Codec::Audio(c))
    }

    #[test]
    fn g711_and_opus_are_carried_aac_is_not() {
        // 0x72: SoundFormat 7 (A-law), SoundRate 0, 16-bit, mono (what ffmpeg and the
        // GB28181 ingest write); 0x82 mu-law.
        let alaw = g711(0x72, 0, 160);
        let ulaw = g711(0x82, 0, 160);
        assert_eq!(
            choose(audio(AudioCodec::G711A), None, Some(&alaw)),
            Ok(Some(RtcAudio::Pcma))
        );
        assert_eq!(
            choose(audio(AudioCodec::G711U), None, Some(&ulaw)),
            Ok(Some(RtcAudio::Pcmu))
        );
        // No frame seen yet: G.711 is taken as 8 kHz mono.
        assert_eq!(
            choose(audio(AudioCodec::G711A), None, None),
            Ok(Some(RtcAudio::Pcma))
        );
        assert_eq!(
            choose(
                audio(AudioCodec::Opus),
                Some(&opus_head(2)),
                Some(&opus(0, 80))
            ),
            Ok(Some(RtcAudio::Opus))
        );
        assert_eq!(
            choose(audio(AudioCodec::Opus), Some(&opus_head(6)), None),
            Err(NoAudio::OpusChannels(6))
        );
        assert_eq!(
            choose(audio(AudioCodec::Aac), None, None),
            Err(NoAudio::Codec(AudioCodec::Aac))
        );
        assert_eq!(
            choose(audio(AudioCodec::Mp3), None, None),
            Err(NoAudio::Codec(AudioCodec::Mp3))
        );
        assert_eq!(choose(None, None, None), Ok(None));
    }

    #[test]
    fn g711_other_than_8_khz_mono_is_refused() {
        // 0x7F: SoundRate 3 (44 kHz), stereo; 0x73: 5.5/8 kHz code but stereo; 0x76: 11 kHz.
        for (header, sound_rate, stereo) in [(0x7F, 3, true), (0x73, 0, true), (0x76, 1, false)] {
            let f = g711(header, 0, 160);
            assert_eq!(
                choose(audio(AudioCodec::G711A), None, Some(&f)),
                Err(NoAudio::G711Format { sound_rate, stereo }),
                "{header:#x}"
            );
            assert!(carries(RtcAudio::Pcma, &f).is_err());
        }
        // A frame of another codec than the one chosen (a republish) is not sent.
        assert!(carries(RtcAudio::Pcma, &g711(0x82, 0, 160)).is_err());
        assert!(carries(RtcAudio::Pcmu, &g711(0x82, 0, 160)).is_ok());
    }

    #[test]
    fn timestamps_are_the_dts_in_the_codec_clock() {
        // The same DTS as a video frame's: 90 kHz there, 8 and 48 kHz here.
        let f = g711(0x72, 1_000, 160);
        assert_eq!(rtp_timestamp(RtcAudio::Pcma, &f), 8_000);
        assert_eq!(rtp_timestamp(RtcAudio::Opus, &opus(1_000, 10)), 48_000);
        assert_eq!(rtp_timestamp(RtcAudio::Pcmu, &g711(0x82, 20, 160)), 160);
        // 32-bit wrap: 2^32 / 48 ms later the timestamp is back where it was.
        let wrap = (1i64 << 32) / 48 * 1000 / 1000;
        let a = rtp_timestamp(RtcAudio::Opus, &opus(3, 10));
        let b = rtp_timestamp(RtcAudio::Opus, &opus(3 + wrap, 10));
        assert_eq!(b.wrapping_sub(a), (wrap * 48) as u32);
        let video = Frame::video(
            crate::media::VideoCodec::Avc,
            1_000,
            0,
            true,
            false,
            Bytes::new(),
            0,
        );
        assert_eq!(
            crate::server::rtsp_server::rtp_timestamp(&video, 90_000) / 90,
            rtp_timestamp(RtcAudio::Pcma, &f) / 8
        );
    }

    #[test]
    fn g711_is_split_at_the_mtu_with_advancing_timestamps() {
        let f = g711(0x72, 0, MAX_AUDIO_PAYLOAD * 2 + 10);
        let p = payloads(RtcAudio::Pcma, &f);
        let shape: Vec<(u32, usize)> = p.iter().map(|(o, b)| (*o, b.len())).collect();
        let m = MAX_AUDIO_PAYLOAD;
        assert_eq!(shape, [(0, m), (m as u32, m), (2 * m as u32, 10)]);
        assert_eq!(
            payloads(RtcAudio::Pcma, &g711(0x72, 0, 160))[0].1.len(),
            160
        );
        assert!(payloads(RtcAudio::Pcma, &g711(0x72, 0, 0)).is_empty());
        // Opus: whole, never split; too large for one packet: dropped.
        assert_eq!(payloads(RtcAudio::Opus, &opus(0, 300))[0].1.len(), 300);
        assert!(payloads(RtcAudio::Opus, &opus(0, MAX_AUDIO_PAYLOAD + 1)).is_empty());
    }

    #[test]
    fn the_marker_starts_each_talkspurt() {
        let mut t = Talkspurt::default();
        // 20 ms frames (160 samples), back to back: only the first is marked.
        assert!(t.start(RtcAudio::Pcma, &g711(0x72, 0, 160)));
        assert!(!t.start(RtcAudio::Pcma, &g711(0x72, 20, 160)));
        assert!(!t.start(RtcAudio::Pcma, &g711(0x72, 45, 160)));
        // Half a second of silence, then speech again.
        assert!(t.start(RtcAudio::Pcma, &g711(0x72, 565, 160)));
        assert!(!t.start(RtcAudio::Pcma, &g711(0x72, 585, 160)));
        // Time going back (a republish's new clock) starts one too.
        assert!(t.start(RtcAudio::Pcma, &g711(0x72, -5_000, 160)));
        let mut t = Talkspurt::default();
        assert!(t.start(RtcAudio::Opus, &opus(0, 80)));
        assert!(!t.start(RtcAudio::Opus, &opus(20, 80)));
        // Opus DTX: a packet every 400 ms in silence.
        assert!(t.start(RtcAudio::Opus, &opus(420, 3)));
    }
}
