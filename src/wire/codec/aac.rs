//! AAC: the AudioSpecificConfig an RTMP AAC sequence header carries (ISO/IEC 14496-3
//! §1.6.2.1) and the 7-byte ADTS header (§1.A.2.2) MPEG-TS/HLS puts before every raw frame.
//!
//! Only the start of the AudioSpecificConfig is read: audio object type, sampling frequency,
//! channel configuration and, for explicit HE-AAC signalling (object type 5 or 29), the
//! extension sampling frequency and the core object type. The decoder-specific part
//! (GASpecificConfig, ...) and any trailing sync extension are not read, so HE-AAC signalled
//! implicitly or backward-compatibly (an LC config followed by `0x2b7` and an SBR flag) reads
//! as plain AAC-LC at the core rate. That is also what its ADTS header has to say.
//!
//! [`AdtsHeader::decode`] / [`decode_adts_frame`] read ADTS (what GB28181 cameras and `.aac`
//! files carry): the fixed and variable header fields by name, the frame length, and the
//! AudioSpecificConfig the header implies. The layer field and the CRC (when
//! protection_absent is 0) are not checked.

use super::bits::BitReader;
use super::CodecError;

/// Sampling frequencies by samplingFrequencyIndex (§1.6.3.3, Table 1.18); 13 and 14 are
/// reserved, 15 means a 24-bit explicit frequency follows.
pub const SAMPLE_RATES: [u32; 13] = [
    96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025, 8_000,
    7_350,
];
const EXPLICIT_FREQUENCY_INDEX: u8 = 15;
/// GetAudioObjectType(): 31 escapes to 32 + a 6-bit value.
const OBJECT_TYPE_ESCAPE: u8 = 31;

/// Audio object types (§1.5.1.1, Table 1.17) this module names.
pub const OBJECT_TYPE_MAIN: u8 = 1;
pub const OBJECT_TYPE_LC: u8 = 2;
pub const OBJECT_TYPE_SSR: u8 = 3;
pub const OBJECT_TYPE_LTP: u8 = 4;
/// SBR: HE-AAC (v1) signalled explicitly.
pub const OBJECT_TYPE_SBR: u8 = 5;
/// ER BSAC: with explicit SBR, an extensionChannelConfiguration follows the core type.
const OBJECT_TYPE_ER_BSAC: u8 = 22;
/// PS: HE-AAC v2 signalled explicitly.
pub const OBJECT_TYPE_PS: u8 = 29;

/// ADTS header: syncword 0xFFF, ID 0 (MPEG-4), layer 00, protection_absent 1 (no CRC).
pub const ADTS_HEADER_LEN: usize = 7;
/// aac_frame_length is 13 bits and counts the header.
pub const ADTS_MAX_FRAME_LEN: usize = (1 << 13) - 1;
/// adts_buffer_fullness 0x7FF signals a variable-rate stream.
const ADTS_BUFFER_FULLNESS_VBR: u16 = 0x7ff;

/// The facts of an AudioSpecificConfig that the HTTP API reports and ADTS needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AacConfig {
    /// audioObjectType as first signalled: 2 LC, 5 HE-AAC (SBR), 29 HE-AAC v2 (PS), 1 Main...
    /// Escaped types (31) are resolved: 32..=95.
    pub object_type: u8,
    /// samplingFrequencyIndex of the core decoder; 15 when the rate is explicit.
    pub sample_rate_index: u8,
    /// Core sampling rate in Hz (half the output rate for HE-AAC).
    pub sample_rate: u32,
    /// channelConfiguration as signalled (what SRS reports as "channel"): 0 = defined by a
    /// program_config_element, 1..=6 that many channels, 7 = 7.1 (8 channels), see
    /// [`AacConfig::channel_count`]. HE-AAC v2 signals 1 and decodes to stereo.
    pub channels: u8,
    /// The object type of the core decoder: `object_type`, except for explicit HE-AAC where
    /// it is the type after the extension frequency (normally 2, LC).
    pub core_object_type: u8,
    /// Explicit HE-AAC only: the output sampling rate after SBR, in Hz.
    pub extension_sample_rate: Option<u32>,
}

fn read_object_type(r: &mut BitReader<'_>) -> Result<u8, CodecError> {
    let object_type = r.read_bits(5)?.to_be_bytes()[3];
    if object_type == OBJECT_TYPE_ESCAPE {
        let extended = r.read_bits(6)?.to_be_bytes()[3];
        return Ok(32 + extended);
    }
    Ok(object_type)
}

/// samplingFrequencyIndex and, for index 15, the explicit samplingFrequency.
fn read_sample_rate(r: &mut BitReader<'_>) -> Result<(u8, u32), CodecError> {
    let index = r.read_bits(4)?.to_be_bytes()[3];
    let rate = if index == EXPLICIT_FREQUENCY_INDEX {
        r.read_bits(24)?
    } else {
        *SAMPLE_RATES
            .get(usize::from(index))
            .ok_or(CodecError::Invalid {
                what: "AAC samplingFrequencyIndex (reserved)",
            })?
    };
    if rate == 0 {
        return Err(CodecError::Invalid {
            what: "AAC explicit samplingFrequency 0",
        });
    }
    Ok((index, rate))
}

impl AacConfig {
    /// Parses the start of an AudioSpecificConfig (§1.6.2.1); bytes after the fields listed
    /// in the module docs are not read.
    pub fn parse(asc: &[u8]) -> Result<AacConfig, CodecError> {
        // ISO/IEC 14496-3 has no emulation prevention: a plain bit reader.
        let mut r = BitReader::raw(asc, "AudioSpecificConfig");
        let object_type = read_object_type(&mut r)?;
        if object_type == 0 {
            return Err(CodecError::Invalid {
                what: "AAC audioObjectType 0 (null)",
            });
        }
        let (sample_rate_index, sample_rate) = read_sample_rate(&mut r)?;
        let channels = r.read_bits(4)?.to_be_bytes()[3];
        let mut core_object_type = object_type;
        let mut extension_sample_rate = None;
        if object_type == OBJECT_TYPE_SBR || object_type == OBJECT_TYPE_PS {
            let (_, rate) = read_sample_rate(&mut r)?;
            extension_sample_rate = Some(rate);
            core_object_type = read_object_type(&mut r)?;
            if core_object_type == OBJECT_TYPE_ER_BSAC {
                r.skip_bits(4)?; // extensionChannelConfiguration
            }
        }
        Ok(AacConfig {
            object_type,
            sample_rate_index,
            sample_rate,
            channels,
            core_object_type,
            extension_sample_rate,
        })
    }

    /// The number of output channels of `channels` (§1.6.3.5 Table 1.19 and its later
    /// amendments), `None` for 0 (program_config_element) and reserved values.
    pub fn channel_count(&self) -> Option<u8> {
        match self.channels {
            1..=6 => Some(self.channels),
            7 | 12 | 14 => Some(8),
            11 => Some(7),
            13 => Some(24),
            _ => None,
        }
    }

    /// The 7-byte ADTS header (§1.A.2.2) for a raw frame of `payload_len` bytes:
    /// protection_absent 1, aac_frame_length = 7 + `payload_len`, buffer fullness 0x7FF,
    /// one raw data block.
    ///
    /// ADTS's 2-bit profile carries object types 1..=4 only; HE-AAC is written as its core
    /// type (LC) at the core rate, which decoders expand by implicit SBR detection, as
    /// ffmpeg does. Errors: `Unsupported` for other object types, an explicit frequency
    /// (index 15) or a channel configuration of 0 (needs a PCE in the stream) or above 7;
    /// `Invalid` when the frame would exceed 8191 bytes.
    pub fn adts_header(&self, payload_len: usize) -> Result<[u8; 7], CodecError> {
        if !(OBJECT_TYPE_MAIN..=OBJECT_TYPE_LTP).contains(&self.core_object_type) {
            return Err(CodecError::Unsupported {
                what: "AAC object type ADTS cannot carry (only Main, LC, SSR, LTP)",
            });
        }
        if usize::from(self.sample_rate_index) >= SAMPLE_RATES.len() {
            return Err(CodecError::Unsupported {
                what: "AAC explicit sampling frequency in ADTS",
            });
        }
        if !(1..=7).contains(&self.channels) {
            return Err(CodecError::Unsupported {
                what: "AAC channel configuration ADTS cannot carry (0 or above 7)",
            });
        }
        let frame_len = payload_len
            .checked_add(ADTS_HEADER_LEN)
            .filter(|&len| len <= ADTS_MAX_FRAME_LEN)
            .ok_or(CodecError::Invalid {
                what: "AAC frame too long for ADTS (8191 bytes with header)",
            })?;
        // Both fit their fields: checked above.
        let frame_len = frame_len as u16;
        let profile = self.core_object_type - 1;
        let fullness = ADTS_BUFFER_FULLNESS_VBR;
        Ok([
            0xff,
            0xf1, // syncword low 4 bits, ID 0, layer 00, protection_absent 1
            (profile << 6) | (self.sample_rate_index << 2) | (self.channels >> 2),
            ((self.channels & 0x03) << 6) | ((frame_len >> 11) as u8 & 0x03),
            (frame_len >> 3) as u8,
            (((frame_len & 0x07) as u8) << 5) | ((fullness >> 6) as u8 & 0x1f),
            (((fullness & 0x3f) as u8) << 2), // number_of_raw_data_blocks_in_frame 0
        ])
    }

    /// The profile name SRS reports (`srs_aac_object2str`): "Main", "LC", "SSR", "HE",
    /// "HEv2", else "Other".
    pub fn profile_name(&self) -> &'static str {
        match self.object_type {
            OBJECT_TYPE_MAIN => "Main",
            OBJECT_TYPE_LC => "LC",
            OBJECT_TYPE_SSR => "SSR",
            OBJECT_TYPE_SBR => "HE",
            OBJECT_TYPE_PS => "HEv2",
            _ => "Other",
        }
    }
}

/// ADTS syncword (§1.A.2.2.1): 12 one bits.
const ADTS_SYNC: u16 = 0xfff;
/// Header bytes when protection_absent is 0: the 7 fixed bytes plus a 16-bit crc_check.
pub const ADTS_HEADER_WITH_CRC_LEN: usize = 9;

/// An ADTS header (ISO/IEC 14496-3 §1.A.2.2: adts_fixed_header + adts_variable_header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdtsHeader {
    /// ID: false for MPEG-4, true for MPEG-2 AAC.
    pub mpeg2: bool,
    /// protection_absent: true when no CRC follows the 7 fixed bytes.
    pub protection_absent: bool,
    /// profile_ObjectType: the audio object type minus 1 (0 Main, 1 LC, 2 SSR, 3 LTP).
    pub profile: u8,
    /// sampling_frequency_index, 0..=12 (index into [`SAMPLE_RATES`]).
    pub sample_rate_index: u8,
    /// channel_configuration, 0..=7.
    pub channels: u8,
    /// aac_frame_length: the whole frame, header included.
    pub frame_len: usize,
    /// adts_buffer_fullness (0x7FF: variable rate).
    pub buffer_fullness: u16,
    /// number_of_raw_data_blocks_in_frame + 1.
    pub raw_data_blocks: u8,
}

impl AdtsHeader {
    /// Decodes the header at the start of `b`. `Ok(None)`: fewer bytes than the header
    /// (7, or 9 with a CRC). On success the `usize` is the header length; the raw frame is
    /// the bytes from there to [`AdtsHeader::frame_len`]. Errors: no syncword, a reserved
    /// sampling_frequency_index (13..=15), a frame length shorter than the header.
    pub fn decode(b: &[u8]) -> Result<Option<(AdtsHeader, usize)>, CodecError> {
        let Some(h) = b.get(..ADTS_HEADER_LEN) else {
            return Ok(None);
        };
        if u16::from_be_bytes([h[0], h[1]]) >> 4 != ADTS_SYNC {
            return Err(CodecError::Invalid {
                what: "ADTS syncword",
            });
        }
        let protection_absent = h[1] & 0x01 != 0;
        let header_len = if protection_absent {
            ADTS_HEADER_LEN
        } else {
            ADTS_HEADER_WITH_CRC_LEN
        };
        let sample_rate_index = (h[2] >> 2) & 0x0f;
        if usize::from(sample_rate_index) >= SAMPLE_RATES.len() {
            return Err(CodecError::Invalid {
                what: "ADTS sampling_frequency_index (reserved)",
            });
        }
        let frame_len =
            (usize::from(h[3] & 0x03) << 11) | (usize::from(h[4]) << 3) | usize::from(h[5] >> 5);
        if frame_len < header_len {
            return Err(CodecError::Invalid {
                what: "ADTS aac_frame_length shorter than the header",
            });
        }
        if b.len() < header_len {
            return Ok(None);
        }
        let header = AdtsHeader {
            mpeg2: h[1] & 0x08 != 0,
            protection_absent,
            profile: h[2] >> 6,
            sample_rate_index,
            channels: ((h[2] & 0x01) << 2) | (h[3] >> 6),
            frame_len,
            buffer_fullness: (u16::from(h[5] & 0x1f) << 6) | u16::from(h[6] >> 2),
            raw_data_blocks: (h[6] & 0x03) + 1,
        };
        Ok(Some((header, header_len)))
    }

    /// The audio object type (profile + 1): 1 Main, 2 LC, 3 SSR, 4 LTP.
    pub fn object_type(&self) -> u8 {
        self.profile + 1
    }

    /// The sampling rate in Hz.
    pub fn sample_rate(&self) -> u32 {
        // decode refused indexes past the table.
        SAMPLE_RATES[usize::from(self.sample_rate_index) % SAMPLE_RATES.len()]
    }

    /// The 2-byte AudioSpecificConfig (§1.6.2.1) this header implies: audioObjectType (5
    /// bits), samplingFrequencyIndex (4), channelConfiguration (4), GASpecificConfig zeros.
    pub fn audio_specific_config(&self) -> [u8; 2] {
        let object_type = self.object_type();
        [
            (object_type << 3) | (self.sample_rate_index >> 1),
            ((self.sample_rate_index & 1) << 7) | (self.channels << 3),
        ]
    }

    /// The same facts as an [`AacConfig`].
    pub fn config(&self) -> AacConfig {
        AacConfig {
            object_type: self.object_type(),
            sample_rate_index: self.sample_rate_index,
            sample_rate: self.sample_rate(),
            channels: self.channels,
            core_object_type: self.object_type(),
            extension_sample_rate: None,
        }
    }
}

/// One ADTS frame: its header and the raw AAC bytes after it (CRC excluded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdtsFrame<'a> {
    pub header: AdtsHeader,
    pub raw: &'a [u8],
}

/// Decodes the ADTS frame at the start of `b`; the `usize` is its length
/// (aac_frame_length). `Ok(None)`: the frame is not all there yet.
pub fn decode_adts_frame(b: &[u8]) -> Result<Option<(AdtsFrame<'_>, usize)>, CodecError> {
    let Some((header, header_len)) = AdtsHeader::decode(b)? else {
        return Ok(None);
    };
    let Some(raw) = b.get(header_len..header.frame_len) else {
        return Ok(None);
    };
    Ok(Some((AdtsFrame { header, raw }, header.frame_len)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::XorShift;

    fn lc(sample_rate_index: u8, sample_rate: u32, channels: u8) -> AacConfig {
        AacConfig {
            object_type: OBJECT_TYPE_LC,
            sample_rate_index,
            sample_rate,
            channels,
            core_object_type: OBJECT_TYPE_LC,
            extension_sample_rate: None,
        }
    }

    /// AudioSpecificConfigs and what they say. The 5-byte LC ones are the AAC sequence
    /// headers (after `af 00`) of `ffmpeg -f lavfi -i sine[=sample_rate=48000 -ac 2] -c:a aac
    /// -f flv` (Debian ffmpeg 5.1): LC plus a sync extension saying "no SBR", not read. The
    /// HE-AAC and escape cases were bit-packed by hand from §1.6.2.1.
    fn golden() -> Vec<(&'static [u8], AacConfig)> {
        vec![
            (&[0x12, 0x10], lc(4, 44_100, 2)),
            (&[0x11, 0x90], lc(3, 48_000, 2)),
            (&[0x13, 0x88], lc(7, 22_050, 1)),
            (&[0x12, 0x08, 0x56, 0xe5, 0x00], lc(4, 44_100, 1)),
            (&[0x11, 0x90, 0x56, 0xe5, 0x00], lc(3, 48_000, 2)),
            // HE-AAC: SBR, core 24 kHz stereo, extension 48 kHz, core LC.
            (
                &[0x2b, 0x11, 0x88, 0x00],
                AacConfig {
                    object_type: OBJECT_TYPE_SBR,
                    extension_sample_rate: Some(48_000),
                    ..lc(6, 24_000, 2)
                },
            ),
            // HE-AAC v2: PS, core 24 kHz mono, extension 48 kHz.
            (
                &[0xeb, 0x09, 0x88, 0x00],
                AacConfig {
                    object_type: OBJECT_TYPE_PS,
                    extension_sample_rate: Some(48_000),
                    ..lc(6, 24_000, 1)
                },
            ),
            // Escape: 31 then 10 → object type 42 (USAC), 44.1 kHz stereo.
            (
                &[0xf9, 0x48, 0x40],
                AacConfig {
                    object_type: 42,
                    core_object_type: 42,
                    ..lc(4, 44_100, 2)
                },
            ),
            // Explicit frequency: index 15, then 44100 in 24 bits.
            (&[0x17, 0x80, 0x56, 0x22, 0x10], lc(15, 44_100, 2)),
            // HE-AAC with both frequencies explicit (22050 core, 44100 output).
            (
                &[0x2f, 0x80, 0x2b, 0x11, 0x17, 0x80, 0x56, 0x22, 0x08, 0x00],
                AacConfig {
                    object_type: OBJECT_TYPE_SBR,
                    extension_sample_rate: Some(44_100),
                    ..lc(15, 22_050, 2)
                },
            ),
            // HE-AAC over ER BSAC: an extensionChannelConfiguration follows the core type.
            (
                &[0x2a, 0x12, 0x58, 0x80],
                AacConfig {
                    object_type: OBJECT_TYPE_SBR,
                    core_object_type: OBJECT_TYPE_ER_BSAC,
                    extension_sample_rate: Some(44_100),
                    ..lc(4, 44_100, 2)
                },
            ),
        ]
    }

    #[test]
    fn golden_configs() {
        for (asc, want) in golden() {
            assert_eq!(AacConfig::parse(asc), Ok(want), "{asc:02x?}");
        }
    }

    #[test]
    fn profile_names_match_srs() {
        let name = |asc: &[u8]| AacConfig::parse(asc).unwrap().profile_name();
        assert_eq!(name(&[0x12, 0x10]), "LC");
        assert_eq!(name(&[0x2b, 0x11, 0x88, 0x00]), "HE");
        assert_eq!(name(&[0xeb, 0x09, 0x88, 0x00]), "HEv2");
        assert_eq!(name(&[0x0a, 0x10]), "Main");
        assert_eq!(name(&[0x1a, 0x10]), "SSR");
        assert_eq!(name(&[0xf9, 0x48, 0x40]), "Other");
    }

    /// The first ADTS header of `ffmpeg -f lavfi -i sine -t 0.1 -c:a aac -f adts x.aac`
    /// (mono 44.1 kHz, first frame 258 bytes of payload), and of the same at
    /// `sine=sample_rate=48000 -ac 2` (stereo 48 kHz, 288 bytes of payload).
    #[test]
    fn adts_header_matches_ffmpeg() {
        let mono = AacConfig::parse(&[0x12, 0x08, 0x56, 0xe5, 0x00]).unwrap();
        assert_eq!(
            mono.adts_header(258).unwrap(),
            [0xff, 0xf1, 0x50, 0x40, 0x21, 0x3f, 0xfc]
        );
        let stereo = AacConfig::parse(&[0x11, 0x90]).unwrap();
        assert_eq!(
            stereo.adts_header(288).unwrap(),
            [0xff, 0xf1, 0x4c, 0x80, 0x24, 0xff, 0xfc]
        );
        // The largest frame: aac_frame_length 8191 (all 13 bits set).
        assert_eq!(
            stereo.adts_header(8184).unwrap(),
            [0xff, 0xf1, 0x4c, 0x83, 0xff, 0xff, 0xfc]
        );
        assert_eq!(
            stereo.adts_header(0).unwrap(),
            [0xff, 0xf1, 0x4c, 0x80, 0x00, 0xff, 0xfc]
        );
    }

    #[test]
    fn adts_header_for_he_aac_is_lc_at_the_core_rate() {
        let he = AacConfig::parse(&[0x2b, 0x11, 0x88, 0x00]).unwrap();
        let header = he.adts_header(100).unwrap();
        assert_eq!(header[2] >> 6, OBJECT_TYPE_LC - 1);
        assert_eq!((header[2] >> 2) & 0x0f, 6); // 24 kHz
        let v2 = AacConfig::parse(&[0xeb, 0x09, 0x88, 0x00]).unwrap();
        assert_eq!(v2.adts_header(100).unwrap()[2], 0x58); // LC, 24 kHz, channels high bit 0
    }

    #[test]
    fn adts_header_errors() {
        let stereo = AacConfig::parse(&[0x11, 0x90]).unwrap();
        let too_long = Err(CodecError::Invalid {
            what: "AAC frame too long for ADTS (8191 bytes with header)",
        });
        assert_eq!(stereo.adts_header(8185), too_long);
        assert_eq!(stereo.adts_header(usize::MAX), too_long);
        for asc in [
            &[0xf9, 0x48, 0x40][..],         // object type 42
            &[0x17, 0x80, 0x56, 0x22, 0x10], // explicit frequency
            &[0x12, 0x00],                   // channel configuration 0 (PCE)
            &[0x12, 0x40],                   // channel configuration 8
        ] {
            let config = AacConfig::parse(asc).unwrap();
            assert!(
                matches!(config.adts_header(10), Err(CodecError::Unsupported { .. })),
                "{asc:02x?}"
            );
        }
    }

    #[test]
    fn channel_counts() {
        let count = |channels| {
            AacConfig {
                channels,
                ..lc(4, 44_100, 0)
            }
            .channel_count()
        };
        assert_eq!(count(0), None);
        assert_eq!(count(2), Some(2));
        assert_eq!(count(6), Some(6));
        assert_eq!(count(7), Some(8));
        assert_eq!(count(8), None);
        assert_eq!(count(11), Some(7));
    }

    #[test]
    fn parse_errors() {
        let truncated = Err(CodecError::Truncated {
            what: "AudioSpecificConfig",
        });
        assert_eq!(AacConfig::parse(&[]), truncated);
        assert_eq!(AacConfig::parse(&[0x12]), truncated);
        assert_eq!(
            AacConfig::parse(&[0x02, 0x10]),
            Err(CodecError::Invalid {
                what: "AAC audioObjectType 0 (null)"
            })
        );
        // Index 13 (reserved).
        assert_eq!(
            AacConfig::parse(&[0x16, 0x90]),
            Err(CodecError::Invalid {
                what: "AAC samplingFrequencyIndex (reserved)"
            })
        );
        // Index 15 with frequency 0.
        assert!(matches!(
            AacConfig::parse(&[0x17, 0x80, 0x00, 0x00, 0x10]),
            Err(CodecError::Invalid { .. })
        ));
        // An explicit frequency of 0x000003 is plain data, not an emulation escape.
        assert_eq!(
            AacConfig::parse(&[0x17, 0x80, 0x00, 0x01, 0x90])
                .unwrap()
                .sample_rate,
            3
        );
    }

    /// Cuts before the last field read fail; later cuts parse the same.
    #[test]
    fn every_truncation_errors_or_agrees() {
        for (asc, want) in golden() {
            let mut first_ok = None;
            for cut in 0..asc.len() {
                match AacConfig::parse(&asc[..cut]) {
                    Ok(got) => {
                        assert_eq!(got, want);
                        first_ok.get_or_insert(cut);
                    }
                    Err(_) => assert!(first_ok.is_none(), "{asc:02x?} cut at {cut}"),
                }
            }
            assert!(first_ok.is_none_or(|c| c >= 2), "{asc:02x?}");
        }
    }

    #[test]
    fn fuzz_never_panics() {
        let mut rng = XorShift(0xaac_aac_aac);
        let seeds: Vec<_> = golden().into_iter().map(|(asc, _)| asc).collect();
        for i in 0..30_000 {
            let mut input: Vec<u8> = if i % 3 == 0 {
                (0..rng.below(12)).map(|_| rng.next() as u8).collect()
            } else {
                seeds[rng.below(seeds.len())].to_vec()
            };
            for _ in 0..=rng.below(2) {
                if !input.is_empty() {
                    let at = rng.below(input.len());
                    input[at] = rng.next() as u8;
                }
            }
            if let Ok(config) = AacConfig::parse(&input) {
                assert!(config.object_type > 0 && config.sample_rate > 0);
                let payload = rng.below(10_000);
                if let Ok(header) = config.adts_header(payload) {
                    assert_eq!(header[..2], [0xff, 0xf1]);
                    let len = (usize::from(header[3] & 0x03) << 11)
                        | (usize::from(header[4]) << 3)
                        | usize::from(header[5] >> 5);
                    assert_eq!(len, payload + ADTS_HEADER_LEN);
                }
                let _ = config.profile_name();
                let _ = config.channel_count();
            }
        }
    }

    /// The first ADTS header of `ffmpeg -f lavfi -i sine=sample_rate=44100 -ac 1 -c:a aac -f
    /// adts` (Debian ffmpeg 5.1): LC, 44.1 kHz, mono, 265-byte frame, VBR, one block.
    const ADTS_LC_44100_MONO: [u8; 7] = [0xff, 0xf1, 0x50, 0x40, 0x21, 0x3f, 0xfc];

    #[test]
    fn adts_decode_golden() {
        let (h, len) = AdtsHeader::decode(&ADTS_LC_44100_MONO).unwrap().unwrap();
        assert_eq!(len, 7);
        assert_eq!(
            h,
            AdtsHeader {
                mpeg2: false,
                protection_absent: true,
                profile: 1,
                sample_rate_index: 4,
                channels: 1,
                frame_len: 265,
                buffer_fullness: 0x7ff,
                raw_data_blocks: 1,
            }
        );
        assert_eq!(h.audio_specific_config(), [0x12, 0x08]);
        assert_eq!(h.config(), lc(4, 44_100, 1));
        assert_eq!(AacConfig::parse(&h.audio_specific_config()), Ok(h.config()));
        // With a CRC: 9 header bytes, MPEG-2 ID, 48 kHz stereo, 3 blocks.
        let crc = [
            0xff, 0xf8, 0x4c, 0x80, 0x02, 0x5f, 0xfe, 0xab, 0xcd, 0x21, 0x22,
        ];
        assert_eq!(decode_adts_frame(&crc), Ok(None), "frame not all there");
        let mut full = crc.to_vec();
        full.resize(18, 0x33);
        full.push(0xff);
        let (frame, used) = decode_adts_frame(&full).unwrap().unwrap();
        assert_eq!(used, 18);
        assert_eq!(frame.raw, &full[9..18]);
        let h = frame.header;
        assert!(h.mpeg2 && !h.protection_absent);
        assert_eq!((h.profile, h.sample_rate(), h.channels), (1, 48_000, 2));
        assert_eq!(h.raw_data_blocks, 3);
    }

    #[test]
    fn adts_round_trips_our_header() {
        for (index, rate) in SAMPLE_RATES.iter().enumerate() {
            for channels in 1..=7 {
                let config = lc(index as u8, *rate, channels);
                let mut frame = config.adts_header(5).unwrap().to_vec();
                frame.extend_from_slice(&[1, 2, 3, 4, 5]);
                let (f, used) = decode_adts_frame(&frame).unwrap().unwrap();
                assert_eq!(used, 12);
                assert_eq!(f.raw, [1, 2, 3, 4, 5]);
                assert_eq!(f.header.config(), config);
                assert_eq!(f.header.buffer_fullness, ADTS_BUFFER_FULLNESS_VBR);
            }
        }
    }

    #[test]
    fn adts_errors_and_cuts() {
        let mut frame = lc(4, 44_100, 2).adts_header(3).unwrap().to_vec();
        frame.extend_from_slice(&[7, 8, 9]);
        for cut in 0..frame.len() {
            assert_eq!(decode_adts_frame(&frame[..cut]), Ok(None), "cut at {cut}");
        }
        let mut bad = frame.clone();
        bad[1] = 0xe1;
        assert_eq!(
            AdtsHeader::decode(&bad),
            Err(CodecError::Invalid {
                what: "ADTS syncword"
            })
        );
        let mut bad = frame.clone();
        bad[2] = (bad[2] & !0x3c) | (13 << 2);
        assert_eq!(
            AdtsHeader::decode(&bad),
            Err(CodecError::Invalid {
                what: "ADTS sampling_frequency_index (reserved)"
            })
        );
        // aac_frame_length 6 < 7.
        let mut bad = frame.clone();
        bad[3] &= !0x03;
        bad[4] = 0;
        bad[5] = (6 << 5) | (bad[5] & 0x1f);
        assert!(AdtsHeader::decode(&bad).is_err());
        // CRC present: aac_frame_length 8 < 9.
        let mut bad = frame;
        bad[1] &= !0x01;
        bad[4] = 1;
        bad[5] &= 0x1f;
        assert!(AdtsHeader::decode(&bad).is_err());
    }

    #[test]
    fn adts_fuzz_never_panics() {
        let mut rng = XorShift(0xad75);
        for _ in 0..20_000 {
            let mut b: Vec<u8> = (0..rng.below(20)).map(|_| rng.next() as u8).collect();
            if b.len() >= 2 && rng.below(2) == 0 {
                b[0] = 0xff;
                b[1] |= 0xf0;
            }
            if let Ok(Some((f, used))) = decode_adts_frame(&b) {
                assert!(used <= b.len() && f.raw.len() < used);
            }
        }
    }
}
