//! RTP payload formats as SDP describes them: `a=rtpmap` (RFC 8866 §6.6) and the `a=fmtp`
//! parameters of H.264 (RFC 6184 §8.1), H.265 (RFC 7798 §7.1), AAC in `mpeg4-generic`
//! (RFC 3640 §4.1) and in `MP4A-LATM` (RFC 6416 §7.1; read from peers: our descriptions say
//! `mpeg4-generic`), G.711 (RFC 3551 §4.5.14, static payload types 0 and 8) and Opus (RFC 7587
//! §6.1); both ways: read from a camera's DESCRIBE or a publisher's ANNOUNCE, and written from
//! our codec configurations for the players of our RTSP server.
//!
//! What a caller must know:
//!
//! * Parameter sets are classified by their NAL unit type, not by where they stand: an SPS
//!   listed second is still the SPS, and a set of another type (VStarcam sends raw RBSP
//!   bytes there) is ignored. A start code at either end of a set (GW Security ends each
//!   with `00 00 00 01`) and trailing zero bytes are removed. Sets that do not decode are
//!   skipped, so a camera whose `sprop-parameter-sets` is missing or broken still plays: the
//!   depacketizers pick the sets up in band.
//! * Parameters are `;`-separated `name=value` pairs, names in any case; spaces around them
//!   (Hikvision's `; `) and a trailing `;` (Reolink) are fine; unknown ones are skipped.
//! * The clock rates RFC 6184/7798 (90 kHz), RFC 3551 (G.711, 8 kHz) and RFC 7587 (Opus,
//!   48 kHz) require are checked; AAC takes the one of its `a=rtpmap`.
//! * Not supported (an [`FormatError::Unsupported`]): H.264 `packetization-mode=2`
//!   (interleaved: STAP-B, MTAP, FU-B), H.265 `sprop-max-don-diff` > 0 (decoding order
//!   numbers), `mpeg4-generic` modes other than `AAC-hbr` and `AAC-lbr`, and any other
//!   encoding. `MP4A-LATM` only with `cpresent=0` and a `config=` StreamMuxConfig of
//!   audioMuxVersion 0, all streams on the same time framing, one program and one layer,
//!   frameLengthType 0, no other data, and an AudioSpecificConfig of a general audio object
//!   type (Main, LC, SSR, LTP, Scalable, TwinVQ; SBR and PS over one of them) with a
//!   channelConfiguration; see [`LatmParams::parse`].

use std::fmt::Write as _;

use bytes::Bytes;

use super::Media;
use crate::wire::base64;
use crate::wire::codec::aac::AacConfig;
use crate::wire::codec::bits::BitReader;
use crate::wire::codec::h264::{self, AvcConfig};
use crate::wire::codec::h265::{self, HevcConfig};
use crate::wire::codec::CodecError;

/// Most parameter sets of one kind kept from an `a=fmtp` line. Why: H.264 allows 32 SPS and
/// 256 PPS, but a stream that uses more than one of each is unheard of from a camera; four
/// bounds what one track holds whatever the line says (each set at most 768 bytes, the
/// base64 limit).
pub const MAX_PARAMETER_SETS: usize = 4;
/// RTP clock of H.264 and H.265 (RFC 6184 §8.2.1, RFC 7798 §7.2).
pub const VIDEO_CLOCK_RATE: u32 = 90_000;
/// RTP clock of G.711 (RFC 3551 §4.5.14).
pub const G711_CLOCK_RATE: u32 = 8_000;
/// RTP clock of Opus, whatever the sampling rate (RFC 7587 §4.1).
pub const OPUS_CLOCK_RATE: u32 = 48_000;
/// Static payload types (RFC 3551 Table 4).
pub const PT_PCMU: u8 = 0;
pub const PT_PCMA: u8 = 8;
/// Widest AU-header field read (RFC 3640 §3.2.1): the bit reader reads up to 32 bits, and no
/// mode comes near (AAC-hbr's AU-size is 13 bits).
pub const MAX_AU_HEADER_FIELD_BITS: u8 = 32;
/// Samples in one AAC access unit (ISO/IEC 14496-3 §4.5.1.1: 1024 per raw_data_block; 960
/// streams signal `constantDuration`).
pub const AAC_FRAME_SAMPLES: u32 = 1024;

/// Why a media section's format cannot be carried. It spoils one track: skip it with a log
/// line and keep the others.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// An encoding, mode or option this module does not handle.
    #[error("unsupported RTP payload format: {what}")]
    Unsupported { what: String },
    /// A parameter the format needs is missing.
    #[error("RTP payload format without {what}")]
    Missing { what: &'static str },
    /// A parameter or the clock rate is wrong.
    #[error("invalid RTP payload format parameter: {what}")]
    Invalid { what: &'static str },
}

/// `a=rtpmap` text after the payload type: `<encoding>/<clock rate>[/<channels>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rtpmap {
    /// As written (compare without case: `H264`, `MPEG4-GENERIC`, `opus`).
    pub encoding: String,
    pub clock_rate: u32,
    /// Audio channels; `None` when not written (one).
    pub channels: Option<u16>,
}

impl Rtpmap {
    /// `None` unless there is an encoding name and a non-zero clock rate (and, if present,
    /// a non-zero channel count) and nothing more.
    pub fn parse(text: &str) -> Option<Rtpmap> {
        let mut parts = text.trim().split('/');
        let encoding = parts.next()?.trim();
        let clock_rate: u32 = parts.next()?.trim().parse().ok()?;
        let channels = match parts.next() {
            Some(c) => Some(c.trim().parse().ok().filter(|&c: &u16| c > 0)?),
            None => None,
        };
        if encoding.is_empty() || clock_rate == 0 || parts.next().is_some() {
            return None;
        }
        Some(Rtpmap {
            encoding: encoding.to_owned(),
            clock_rate,
            channels,
        })
    }

    /// The text `a=rtpmap:<pt> ` is followed by.
    pub fn encode(&self) -> String {
        match self.channels {
            Some(c) => format!("{}/{}/{c}", self.encoding, self.clock_rate),
            None => format!("{}/{}", self.encoding, self.clock_rate),
        }
    }
}

/// A payload format we can depacketize (and packetize).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadFormat {
    H264(H264Params),
    H265(H265Params),
    Aac(AacParams),
    /// G.711 µ-law.
    Pcmu {
        channels: u16,
    },
    /// G.711 A-law.
    Pcma {
        channels: u16,
    },
    Opus(OpusParams),
    /// AAC in LATM (RFC 6416), as GStreamer sends it.
    Latm(LatmParams),
    /// AV1 (AOM "RTP Payload Format For AV1" v1.0.0), from WebRTC publishers only: an RTSP
    /// description's `AV1` is not parsed into it (refused as unsupported, as before).
    Av1,
}

impl PayloadFormat {
    /// The format of an `a=rtpmap` and its `a=fmtp` parameters.
    pub fn parse(rtpmap: &Rtpmap, fmtp: Option<&str>) -> Result<PayloadFormat, FormatError> {
        let fmtp = fmtp.unwrap_or("");
        let encoding = rtpmap.encoding.to_ascii_uppercase();
        let clock = |want: u32, what: &'static str| {
            if rtpmap.clock_rate == want {
                Ok(())
            } else {
                Err(FormatError::Invalid { what })
            }
        };
        match encoding.as_str() {
            "H264" => {
                clock(VIDEO_CLOCK_RATE, "H.264 clock rate (must be 90000)")?;
                let params = H264Params::parse(fmtp);
                if params.packetization_mode > 1 {
                    return Err(FormatError::Unsupported {
                        what: format!("H.264 packetization-mode={}", params.packetization_mode),
                    });
                }
                Ok(PayloadFormat::H264(params))
            }
            "H265" => {
                clock(VIDEO_CLOCK_RATE, "H.265 clock rate (must be 90000)")?;
                let max_don_diff = params(fmtp)
                    .find(|(k, _)| k.eq_ignore_ascii_case("sprop-max-don-diff"))
                    .and_then(|(_, v)| v.parse::<u32>().ok())
                    .unwrap_or(0);
                if max_don_diff > 0 {
                    return Err(FormatError::Unsupported {
                        what: "H.265 sprop-max-don-diff > 0 (decoding order numbers)".into(),
                    });
                }
                Ok(PayloadFormat::H265(H265Params::parse(fmtp)))
            }
            "MPEG4-GENERIC" => Ok(PayloadFormat::Aac(AacParams::parse(
                fmtp,
                rtpmap.clock_rate,
            )?)),
            "MP4A-LATM" => Ok(PayloadFormat::Latm(LatmParams::parse(
                fmtp,
                rtpmap.clock_rate,
                rtpmap.channels,
            )?)),
            "PCMU" | "PCMA" => {
                clock(G711_CLOCK_RATE, "G.711 clock rate (must be 8000)")?;
                let channels = rtpmap.channels.unwrap_or(1);
                Ok(if encoding == "PCMU" {
                    PayloadFormat::Pcmu { channels }
                } else {
                    PayloadFormat::Pcma { channels }
                })
            }
            "OPUS" => {
                clock(OPUS_CLOCK_RATE, "Opus clock rate (must be 48000)")?;
                Ok(PayloadFormat::Opus(OpusParams::parse(fmtp)))
            }
            _ => Err(FormatError::Unsupported {
                what: rtpmap.encoding.clone(),
            }),
        }
    }

    /// The RTP clock rate of the format.
    pub fn clock_rate(&self) -> u32 {
        match self {
            PayloadFormat::H264(_) | PayloadFormat::H265(_) | PayloadFormat::Av1 => {
                VIDEO_CLOCK_RATE
            }
            PayloadFormat::Aac(p) => p.clock_rate,
            PayloadFormat::Latm(p) => p.clock_rate,
            PayloadFormat::Pcmu { .. } | PayloadFormat::Pcma { .. } => G711_CLOCK_RATE,
            PayloadFormat::Opus(_) => OPUS_CLOCK_RATE,
        }
    }

    /// `video` or `audio`: the media kind of its `m=` line.
    pub fn kind(&self) -> &'static str {
        match self {
            PayloadFormat::H264(_) | PayloadFormat::H265(_) | PayloadFormat::Av1 => "video",
            _ => "audio",
        }
    }

    /// The `a=rtpmap` of the format as we write it.
    pub fn rtpmap(&self) -> Rtpmap {
        let (encoding, channels) = match self {
            PayloadFormat::H264(_) => ("H264", None),
            PayloadFormat::H265(_) => ("H265", None),
            PayloadFormat::Aac(p) => ("MPEG4-GENERIC", p.channels),
            PayloadFormat::Latm(p) => ("MP4A-LATM", p.channels),
            PayloadFormat::Pcmu { channels } => ("PCMU", Some(*channels).filter(|&c| c != 1)),
            PayloadFormat::Pcma { channels } => ("PCMA", Some(*channels).filter(|&c| c != 1)),
            // RFC 7587 §7: always 2 channels in the rtpmap.
            PayloadFormat::Opus(_) => ("opus", Some(2)),
            PayloadFormat::Av1 => ("AV1", None),
        };
        Rtpmap {
            encoding: encoding.to_owned(),
            clock_rate: self.clock_rate(),
            channels,
        }
    }

    /// The `a=fmtp` parameters as we write them; `None` when there are none.
    pub fn fmtp(&self) -> Option<String> {
        match self {
            PayloadFormat::H264(p) => Some(p.encode()),
            PayloadFormat::H265(p) => Some(p.encode()),
            PayloadFormat::Aac(p) => Some(p.encode()),
            PayloadFormat::Latm(p) => Some(p.encode()),
            PayloadFormat::Pcmu { .. } | PayloadFormat::Pcma { .. } | PayloadFormat::Av1 => None,
            PayloadFormat::Opus(p) => p.stereo.then(|| "sprop-stereo=1".to_owned()),
        }
    }

    /// The static payload type of G.711 at 8 kHz mono (RFC 3551 Table 4); `None` for the
    /// formats that need a dynamic one (96–127).
    pub fn static_payload_type(&self) -> Option<u8> {
        match self {
            PayloadFormat::Pcmu { channels: 1 } => Some(PT_PCMU),
            PayloadFormat::Pcma { channels: 1 } => Some(PT_PCMA),
            _ => None,
        }
    }

    /// An `m=` section for our description: port 0 (RTSP negotiates ports in SETUP),
    /// `RTP/AVP`, the payload type, `a=rtpmap`, `a=fmtp` and `a=control`.
    pub fn media(&self, payload_type: u8, control: &str) -> Media {
        Media {
            kind: self.kind().to_owned(),
            port: 0,
            protocol: "RTP/AVP".to_owned(),
            formats: vec![payload_type],
            rtpmaps: vec![(payload_type, self.rtpmap().encode())],
            setup: None,
            direction: None,
            connection_ip: None,
            control: Some(control.to_owned()),
            fmtps: self.fmtp().map(|f| (payload_type, f)).into_iter().collect(),
        }
    }
}

impl Media {
    /// The `a=rtpmap` of `payload_type`, or the static one of G.711 (payload types 0 and 8)
    /// when there is none.
    pub fn rtpmap(&self, payload_type: u8) -> Option<Rtpmap> {
        if let Some((_, text)) = self.rtpmaps.iter().find(|(pt, _)| *pt == payload_type) {
            return Rtpmap::parse(text);
        }
        let encoding = match payload_type {
            PT_PCMU => "PCMU",
            PT_PCMA => "PCMA",
            _ => return None,
        };
        Some(Rtpmap {
            encoding: encoding.to_owned(),
            clock_rate: G711_CLOCK_RATE,
            channels: None,
        })
    }

    /// The `a=fmtp` parameters of `payload_type`.
    pub fn fmtp(&self, payload_type: u8) -> Option<&str> {
        self.fmtps
            .iter()
            .find(|(pt, _)| *pt == payload_type)
            .map(|(_, f)| f.as_str())
    }

    /// Each payload type of the `m=` line with its format, or why it cannot be carried.
    pub fn payload_formats(
        &self,
    ) -> impl Iterator<Item = (u8, Result<PayloadFormat, FormatError>)> + '_ {
        self.formats.iter().map(|&pt| {
            let format = match self.rtpmap(pt) {
                Some(map) => PayloadFormat::parse(&map, self.fmtp(pt)),
                None => Err(FormatError::Missing { what: "a=rtpmap" }),
            };
            (pt, format)
        })
    }

    /// The first payload type of the `m=` line that we can carry, with its format; else the
    /// first one's error (or `Missing` when the line lists none).
    pub fn payload_format(&self) -> Result<(u8, PayloadFormat), FormatError> {
        let mut first_error = None;
        for (pt, format) in self.payload_formats() {
            match format {
                Ok(f) => return Ok((pt, f)),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or(FormatError::Missing {
            what: "a payload type",
        }))
    }
}

/// The `name=value` pairs of an `a=fmtp` parameter string, trimmed; pieces without `=` are
/// skipped.
pub fn params(fmtp: &str) -> impl Iterator<Item = (&str, &str)> {
    fmtp.split(';')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim()))
}

fn param<'a>(fmtp: &'a str, name: &str) -> Option<&'a str> {
    params(fmtp)
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// H.264 parameters (RFC 6184 §8.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct H264Params {
    /// 0: single NAL unit mode, 1: non-interleaved (STAP-A, FU-A), 2: interleaved.
    pub packetization_mode: u8,
    /// profile_idc, constraint flags, level_idc.
    pub profile_level_id: Option<[u8; 3]>,
    /// From `sprop-parameter-sets`, NAL units with their header, at most
    /// [`MAX_PARAMETER_SETS`] of each.
    pub sps: Vec<Bytes>,
    pub pps: Vec<Bytes>,
}

impl H264Params {
    /// Reads the parameters; never fails (what does not parse is left out).
    pub fn parse(fmtp: &str) -> H264Params {
        let mut p = H264Params {
            packetization_mode: 0,
            profile_level_id: None,
            sps: Vec::new(),
            pps: Vec::new(),
        };
        for (name, value) in params(fmtp) {
            match name.to_ascii_lowercase().as_str() {
                "packetization-mode" => p.packetization_mode = value.parse().unwrap_or(0),
                "profile-level-id" => {
                    p.profile_level_id = hex_decode(value).and_then(|b| b.try_into().ok());
                }
                "sprop-parameter-sets" => {
                    for set in parameter_sets(value) {
                        let list = match h264_nal_type(&set) {
                            h264::NAL_SPS => &mut p.sps,
                            h264::NAL_PPS => &mut p.pps,
                            _ => continue,
                        };
                        if list.len() < MAX_PARAMETER_SETS {
                            list.push(set);
                        }
                    }
                }
                _ => {}
            }
        }
        p
    }

    /// The parameters of a stream with this decoder configuration (packetization mode 1).
    pub fn from_config(config: &AvcConfig) -> H264Params {
        H264Params {
            packetization_mode: 1,
            profile_level_id: Some([config.profile, config.compatibility, config.level]),
            sps: config
                .sps
                .iter()
                .take(MAX_PARAMETER_SETS)
                .cloned()
                .collect(),
            pps: config
                .pps
                .iter()
                .take(MAX_PARAMETER_SETS)
                .cloned()
                .collect(),
        }
    }

    /// The decoder configuration of the first SPS and PPS (4-byte NAL lengths, profile and
    /// level from the SPS); `None` without both.
    pub fn avc_config(&self) -> Option<AvcConfig> {
        avc_config(self.sps.first()?.clone(), self.pps.first()?.clone())
    }

    /// `packetization-mode=…;profile-level-id=…;sprop-parameter-sets=…`.
    pub fn encode(&self) -> String {
        let mut out = format!("packetization-mode={}", self.packetization_mode);
        if let Some([a, b, c]) = self.profile_level_id {
            let _ = write!(out, ";profile-level-id={a:02X}{b:02X}{c:02X}");
        }
        write_sets(&mut out, "sprop-parameter-sets", [&self.sps, &self.pps]);
        out
    }
}

/// An AVCDecoderConfigurationRecord for one SPS and PPS, profile, compatibility and level
/// from the SPS's bytes 1 to 3 (H.264 §7.3.2.1.1), 4-byte NAL lengths; `None` when the SPS is
/// shorter than 4 bytes.
pub fn avc_config(sps: Bytes, pps: Bytes) -> Option<AvcConfig> {
    let (&profile, &compatibility, &level) = (sps.get(1)?, sps.get(2)?, sps.get(3)?);
    Some(AvcConfig {
        profile,
        compatibility,
        level,
        nal_length_size: 4,
        sps: vec![sps],
        pps: vec![pps],
    })
}

/// H.265 parameters (RFC 7798 §7.1): the parameter sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct H265Params {
    /// From `sprop-vps`, `sprop-sps`, `sprop-pps` (any of them: sets are sorted by type), at
    /// most [`MAX_PARAMETER_SETS`] of each.
    pub vps: Vec<Bytes>,
    pub sps: Vec<Bytes>,
    pub pps: Vec<Bytes>,
}

impl H265Params {
    /// Reads the parameters; never fails (what does not parse is left out).
    pub fn parse(fmtp: &str) -> H265Params {
        let mut p = H265Params {
            vps: Vec::new(),
            sps: Vec::new(),
            pps: Vec::new(),
        };
        for (name, value) in params(fmtp) {
            let name = name.to_ascii_lowercase();
            if !matches!(name.as_str(), "sprop-vps" | "sprop-sps" | "sprop-pps") {
                continue;
            }
            for set in parameter_sets(value) {
                let list = match set.first().map(|b| (b >> 1) & 0x3f) {
                    Some(h265::NAL_VPS) => &mut p.vps,
                    Some(h265::NAL_SPS) => &mut p.sps,
                    Some(h265::NAL_PPS) => &mut p.pps,
                    _ => continue,
                };
                if list.len() < MAX_PARAMETER_SETS && set.len() > 2 {
                    list.push(set);
                }
            }
        }
        p
    }

    pub fn from_config(config: &HevcConfig) -> H265Params {
        let take = |sets: &Vec<Bytes>| sets.iter().take(MAX_PARAMETER_SETS).cloned().collect();
        H265Params {
            vps: take(&config.vps),
            sps: take(&config.sps),
            pps: take(&config.pps),
        }
    }

    /// The decoder configuration of the first VPS, SPS and PPS (4-byte NAL lengths); `None`
    /// without all three or when the SPS's profile_tier_level does not parse.
    pub fn hevc_config(&self) -> Option<HevcConfig> {
        HevcConfig::from_parameter_sets(
            self.vps.first()?.clone(),
            self.sps.first()?.clone(),
            self.pps.first()?.clone(),
            4,
        )
        .ok()
    }

    /// `sprop-vps=…;sprop-sps=…;sprop-pps=…` (those that are not empty).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        for (name, sets) in [
            ("sprop-vps", &self.vps),
            ("sprop-sps", &self.sps),
            ("sprop-pps", &self.pps),
        ] {
            write_sets(&mut out, name, [sets]);
        }
        out.trim_start_matches(';').to_owned()
    }
}

/// AAC in `mpeg4-generic` (RFC 3640 §4.1, §3.3.6 `AAC-hbr`, §3.3.5 `AAC-lbr`): the
/// AudioSpecificConfig and the AU-header layout the depacketizer needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AacParams {
    /// The AudioSpecificConfig (`config=`, hex), checked to parse.
    pub config: Bytes,
    /// RTP clock rate (of the `a=rtpmap`; the sampling rate in practice).
    pub clock_rate: u32,
    /// Channels of the `a=rtpmap`, when written.
    pub channels: Option<u16>,
    /// Bits of the AU-header fields (§3.2.1); 0 means absent. AAC-hbr: 13, 3, 3.
    pub size_length: u8,
    pub index_length: u8,
    pub index_delta_length: u8,
    pub cts_delta_length: u8,
    pub dts_delta_length: u8,
    pub random_access_indication: bool,
    pub stream_state_indication: u8,
    /// Bits of the auxiliary section's size field (§3.2.2); 0: no auxiliary section.
    pub auxiliary_data_size_length: u8,
    /// `constantDuration`: RTP ticks of each access unit, when given.
    pub constant_duration: Option<u32>,
}

impl AacParams {
    /// `AAC-hbr` for this AudioSpecificConfig (what ffmpeg and cameras send): 13-bit sizes,
    /// 3-bit indexes, one AU per packet.
    pub fn hbr(config: Bytes) -> Result<AacParams, FormatError> {
        let aac = AacConfig::parse(&config).map_err(|_| FormatError::Invalid {
            what: "AudioSpecificConfig",
        })?;
        Ok(AacParams {
            clock_rate: aac.sample_rate,
            channels: aac.channel_count().map(u16::from),
            config,
            size_length: 13,
            index_length: 3,
            index_delta_length: 3,
            cts_delta_length: 0,
            dts_delta_length: 0,
            random_access_indication: false,
            stream_state_indication: 0,
            auxiliary_data_size_length: 0,
            constant_duration: None,
        })
    }

    /// Reads the parameters. `mode` must be `AAC-hbr` or `AAC-lbr` (any case); their default
    /// field lengths apply when `sizelength`/`indexlength`/`indexdeltalength` are missing.
    pub fn parse(fmtp: &str, clock_rate: u32) -> Result<AacParams, FormatError> {
        let mode = param(fmtp, "mode").ok_or(FormatError::Missing { what: "mode" })?;
        let (size, index) = if mode.eq_ignore_ascii_case("AAC-hbr") {
            (13, 3)
        } else if mode.eq_ignore_ascii_case("AAC-lbr") {
            (6, 2)
        } else {
            return Err(FormatError::Unsupported {
                what: format!("mpeg4-generic mode={mode}"),
            });
        };
        let config = param(fmtp, "config")
            .ok_or(FormatError::Missing { what: "config" })
            .and_then(|hex| {
                hex_decode(hex).ok_or(FormatError::Invalid {
                    what: "config (hex)",
                })
            })?;
        let aac = AacConfig::parse(&config).map_err(|_| FormatError::Invalid {
            what: "AudioSpecificConfig",
        })?;
        let bits = |name: &str, default: u8| -> Result<u8, FormatError> {
            match param(fmtp, name) {
                None => Ok(default),
                Some(v) => v
                    .parse::<u8>()
                    .ok()
                    .filter(|&b| b <= MAX_AU_HEADER_FIELD_BITS)
                    .ok_or(FormatError::Invalid {
                        what: "AU-header field length",
                    }),
            }
        };
        let params = AacParams {
            config: Bytes::from(config),
            clock_rate,
            channels: aac.channel_count().map(u16::from),
            size_length: bits("sizelength", size)?,
            index_length: bits("indexlength", index)?,
            index_delta_length: bits("indexdeltalength", index)?,
            cts_delta_length: bits("ctsdeltalength", 0)?,
            dts_delta_length: bits("dtsdeltalength", 0)?,
            random_access_indication: bits("randomaccessindication", 0)? != 0,
            stream_state_indication: bits("streamstateindication", 0)?,
            auxiliary_data_size_length: bits("auxiliarydatasizelength", 0)?,
            constant_duration: param(fmtp, "constantduration").and_then(|v| v.parse().ok()),
        };
        if params.size_length == 0 {
            return Err(FormatError::Invalid {
                what: "sizelength 0 (AAC needs AU sizes)",
            });
        }
        Ok(params)
    }

    /// The AudioSpecificConfig's facts.
    pub fn aac_config(&self) -> Result<AacConfig, CodecError> {
        AacConfig::parse(&self.config)
    }

    /// RTP ticks of one access unit: `constantDuration`, else 1024 samples at the clock rate.
    pub fn frame_duration(&self) -> u32 {
        self.constant_duration.unwrap_or(AAC_FRAME_SAMPLES)
    }

    /// `streamtype=5;profile-level-id=1;mode=AAC-hbr;sizelength=13;…;config=…` (RFC 3640
    /// §4.1: streamType 5 is audio; profile-level-id 1 as ffmpeg writes it). Fields that are
    /// not AAC-hbr's defaults are written too, so what [`AacParams::parse`] reads comes back.
    pub fn encode(&self) -> String {
        let mut out = format!(
            "streamtype=5;profile-level-id=1;mode=AAC-hbr;sizelength={};indexlength={};\
             indexdeltalength={}",
            self.size_length, self.index_length, self.index_delta_length
        );
        for (name, value) in [
            ("ctsdeltalength", self.cts_delta_length),
            ("dtsdeltalength", self.dts_delta_length),
            (
                "randomaccessindication",
                u8::from(self.random_access_indication),
            ),
            ("streamstateindication", self.stream_state_indication),
            ("auxiliarydatasizelength", self.auxiliary_data_size_length),
        ] {
            if value != 0 {
                let _ = write!(out, ";{name}={value}");
            }
        }
        if let Some(d) = self.constant_duration {
            let _ = write!(out, ";constantDuration={d}");
        }
        out.push_str(";config=");
        for b in self.config.iter() {
            let _ = write!(out, "{b:02X}");
        }
        out
    }
}

/// AAC in LATM (RFC 6416 §7.1): the out-of-band StreamMuxConfig (`cpresent=0;config=`) and
/// the AudioSpecificConfig read from it, which the hub's AAC sequence header carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatmParams {
    /// The AudioSpecificConfig, cut out of the StreamMuxConfig and padded to whole bytes.
    pub config: Bytes,
    /// The StreamMuxConfig as the SDP gave it (`config=`, hex).
    pub mux_config: Bytes,
    /// RTP clock rate (of the `a=rtpmap`).
    pub clock_rate: u32,
    /// Channels of the `a=rtpmap`, when written.
    pub channels: Option<u16>,
    /// RTP ticks of one AAC frame: 1024 samples (960 with frameLengthFlag) of the core rate,
    /// at the clock rate (twice as many for HE-AAC clocked at its output rate).
    pub frame_duration: u32,
}

/// Longest `config=` StreamMuxConfig read, in bytes. Why: the one we take is about 6 bytes
/// (15 bits of mux fields, a 2 to 7 byte AudioSpecificConfig, 13 bits after it); 64 bounds
/// the copy whatever the SDP says.
pub const MAX_STREAM_MUX_CONFIG: usize = 64;

/// syncExtensionType of the backward-compatible SBR and PS signalling (ISO 14496-3
/// §1.6.2.1) that avenc_aac puts after an LC config, which GStreamer copies into the
/// StreamMuxConfig.
const SYNC_EXTENSION_SBR: u32 = 0x2b7;
const SYNC_EXTENSION_PS: u32 = 0x548;

/// A StreamMuxConfig read bit by bit, counting bits (to cut the AudioSpecificConfig out).
#[derive(Clone)]
struct MuxBits<'a> {
    reader: BitReader<'a>,
    at: usize,
    /// Past the AudioSpecificConfig: fields missing at the end read as 0.
    lenient: bool,
}

impl MuxBits<'_> {
    fn read(&mut self, n: u8) -> Result<u32, FormatError> {
        self.at += usize::from(n);
        match self.reader.read_bits(u32::from(n)) {
            Ok(v) => Ok(v),
            Err(_) if self.lenient => Ok(0),
            Err(_) => Err(FormatError::Invalid {
                what: "MP4A-LATM StreamMuxConfig cut short",
            }),
        }
    }

    /// The next `n` bits, not consumed; `None` past the end.
    fn peek(&self, n: u8) -> Option<u32> {
        self.reader.clone().read_bits(u32::from(n)).ok()
    }

    /// GetAudioObjectType() (ISO 14496-3 §1.6.2.1.1): 31 escapes to 32 + 6 bits.
    fn object_type(&mut self) -> Result<u32, FormatError> {
        match self.read(5)? {
            31 => Ok(32 + self.read(6)?),
            t => Ok(t),
        }
    }

    /// samplingFrequencyIndex and the 24-bit frequency of index 15.
    fn sample_rate(&mut self) -> Result<(), FormatError> {
        if self.read(4)? == 15 {
            self.read(24)?;
        }
        Ok(())
    }
}

fn unsupported_latm(what: &str) -> FormatError {
    FormatError::Unsupported {
        what: format!("MP4A-LATM {what}"),
    }
}

impl LatmParams {
    /// Reads `cpresent` (must be 0: configuration in band is refused) and `config`, the
    /// StreamMuxConfig (ISO 14496-3 §1.7.3.1), whose AudioSpecificConfig (§1.6.2.1) must
    /// parse. `profile-level-id` and `object` are not needed.
    pub fn parse(
        fmtp: &str,
        clock_rate: u32,
        channels: Option<u16>,
    ) -> Result<LatmParams, FormatError> {
        // RFC 6416 §7.1: cpresent defaults to 1.
        if param(fmtp, "cpresent").unwrap_or("1") != "0" {
            return Err(unsupported_latm(
                "cpresent=1 (StreamMuxConfig in band; only cpresent=0 is read)",
            ));
        }
        let mux_config = param(fmtp, "config")
            .ok_or(FormatError::Missing {
                what: "config (MP4A-LATM StreamMuxConfig)",
            })
            .and_then(|hex| {
                if hex.len() > 2 * MAX_STREAM_MUX_CONFIG {
                    return Err(FormatError::Invalid {
                        what: "MP4A-LATM config too long",
                    });
                }
                hex_decode(hex).ok_or(FormatError::Invalid {
                    what: "config (hex)",
                })
            })?;
        let (config, frame_samples) = audio_specific_config(&mux_config)?;
        let aac = AacConfig::parse(&config).map_err(|_| FormatError::Invalid {
            what: "AudioSpecificConfig",
        })?;
        let duration =
            u64::from(frame_samples) * u64::from(clock_rate) / u64::from(aac.sample_rate);
        Ok(LatmParams {
            config: Bytes::from(config),
            mux_config: Bytes::from(mux_config),
            clock_rate,
            channels: channels.or(aac.channel_count().map(u16::from)),
            frame_duration: u32::try_from(duration).unwrap_or(u32::MAX).max(1),
        })
    }

    /// The AudioSpecificConfig's facts.
    pub fn aac_config(&self) -> Result<AacConfig, CodecError> {
        AacConfig::parse(&self.config)
    }

    /// `cpresent=0;config=…` with the StreamMuxConfig as read.
    pub fn encode(&self) -> String {
        let mut out = "cpresent=0;config=".to_owned();
        for b in self.mux_config.iter() {
            let _ = write!(out, "{b:02X}");
        }
        out
    }
}

/// The AudioSpecificConfig of a StreamMuxConfig (ISO 14496-3 §1.7.3.1, Table 1.42), cut
/// out bit-exact (with its backward-compatible SBR/PS extension, when there is one) and
/// padded with zero bits, and the samples of a frame (1024, or 960 with frameLengthFlag);
/// see the module documentation for what is refused. Fields after the AudioSpecificConfig
/// that the config lacks read as 0 (GStreamer writes `40002410adca00`: its 5-byte config
/// and one more bit).
pub fn audio_specific_config(mux: &[u8]) -> Result<(Vec<u8>, u32), FormatError> {
    let mut b = MuxBits {
        reader: BitReader::raw(mux, "StreamMuxConfig"),
        at: 0,
        lenient: false,
    };
    if b.read(1)? != 0 {
        return Err(unsupported_latm("audioMuxVersion 1"));
    }
    if b.read(1)? != 1 {
        return Err(unsupported_latm("allStreamsSameTimeFraming 0"));
    }
    b.read(6)?; // numSubFrames: the depacketizer reads every PayloadLengthInfo it finds.
    if b.read(4)? != 0 {
        return Err(unsupported_latm("with several programs"));
    }
    if b.read(3)? != 0 {
        return Err(unsupported_latm("with several layers"));
    }
    // AudioSpecificConfig (§1.6.2.1).
    let start = b.at;
    let mut object_type = b.object_type()?;
    b.sample_rate()?;
    let channel_configuration = b.read(4)?;
    if object_type == 5 || object_type == 29 {
        b.sample_rate()?; // extensionSamplingFrequencyIndex
        object_type = b.object_type()?;
    }
    // GASpecificConfig (§4.4.1) of the non-error-resilient general audio types.
    if !matches!(object_type, 1..=4 | 6 | 7) {
        return Err(unsupported_latm(&format!(
            "audio object type {object_type} (only general audio: 1-4, 6, 7)"
        )));
    }
    let frame_samples = if b.read(1)? == 1 { 960 } else { 1024 };
    if b.read(1)? == 1 {
        b.read(14)?; // coreCoderDelay
    }
    let extension_flag = b.read(1)?;
    if channel_configuration == 0 {
        return Err(unsupported_latm(
            "channelConfiguration 0 (program_config_element)",
        ));
    }
    if object_type == 6 {
        b.read(3)?; // layerNr
    }
    if extension_flag == 1 {
        b.read(1)?; // extensionFlag3
    }
    // Backward-compatible SBR (and PS) signalling: part of the config the decoder needs.
    if b.peek(11) == Some(SYNC_EXTENSION_SBR) {
        b.read(11)?;
        let extension_type = b.object_type()?;
        if extension_type != 5 {
            return Err(unsupported_latm(&format!(
                "extension audio object type {extension_type}"
            )));
        }
        if b.read(1)? == 1 {
            b.sample_rate()?; // extensionSamplingFrequencyIndex
            if b.peek(11) == Some(SYNC_EXTENSION_PS) {
                b.read(11)?;
                b.read(1)?; // psPresentFlag
            }
        }
    }
    let end = b.at;
    // GStreamer's rtpmp4apay ends the StreamMuxConfig a bit after the AudioSpecificConfig:
    // the fields it leaves out read as 0, as ffmpeg reads them.
    b.lenient = true;
    if b.read(3)? != 0 {
        return Err(unsupported_latm("frameLengthType other than 0"));
    }
    b.read(8)?; // latmBufferFullness
    if b.read(1)? != 0 {
        return Err(unsupported_latm("otherDataPresent"));
    }
    // crcCheckPresent and crcCheckSum do not matter out of band.
    Ok((copy_bits(mux, start, end), frame_samples))
}

/// Bits `start..end` of `data` (in range), MSB first, as bytes padded with zero bits.
fn copy_bits(data: &[u8], start: usize, end: usize) -> Vec<u8> {
    let mut out = vec![0u8; (end - start).div_ceil(8)];
    for (i, bit) in (start..end).enumerate() {
        if data[bit / 8] & (0x80 >> (bit % 8)) != 0 {
            out[i / 8] |= 0x80 >> (i % 8);
        }
    }
    out
}

/// Opus parameters (RFC 7587 §6.1): what matters for playback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusParams {
    /// `sprop-stereo=1`: the sender is likely to send stereo.
    pub stereo: bool,
}

impl OpusParams {
    pub fn parse(fmtp: &str) -> OpusParams {
        OpusParams {
            stereo: param(fmtp, "sprop-stereo") == Some("1"),
        }
    }
}

/// The decoded NAL units of a comma-separated list of base64 parameter sets, cleaned (see the
/// module documentation); those that do not decode or are empty are skipped.
fn parameter_sets(value: &str) -> impl Iterator<Item = Bytes> + '_ {
    value.split(',').filter_map(|b64| {
        let raw = base64::decode(b64.trim().as_bytes())?;
        let nal = strip_start_codes(&raw);
        (!nal.is_empty()).then(|| Bytes::copy_from_slice(nal))
    })
}

/// A NAL unit without a leading `00 00 01`/`00 00 00 01` and without trailing zero bytes and
/// start codes (an SPS or PPS ends with its rbsp_stop_one_bit, so its last byte is not 0).
fn strip_start_codes(mut nal: &[u8]) -> &[u8] {
    if let [0, 0, 1, rest @ ..] | [0, 0, 0, 1, rest @ ..] = nal {
        nal = rest;
    }
    loop {
        while let [rest @ .., 0] = nal {
            nal = rest;
        }
        match nal {
            [rest @ .., 0, 0, 1] => nal = rest,
            _ => return nal,
        }
    }
}

fn h264_nal_type(nal: &[u8]) -> u8 {
    nal.first().map_or(0, |b| b & 0x1f)
}

/// Appends `;name=b64,b64,…` of the non-empty `lists`, in order; nothing when all are empty.
fn write_sets<const N: usize>(out: &mut String, name: &str, lists: [&Vec<Bytes>; N]) {
    let mut first = true;
    for set in lists.iter().flat_map(|l| l.iter()) {
        out.push_str(if first { ";" } else { "," });
        if first {
            out.push_str(name);
            out.push('=');
            first = false;
        }
        out.push_str(&base64::encode(set));
    }
}

/// Hex digits (either case) to bytes; `None` for an odd count or a non-hex digit.
fn hex_decode(hex: &str) -> Option<Vec<u8>> {
    if hex.len() % 2 != 0 {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests;
