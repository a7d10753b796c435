//! MPEG audio (what FLV calls MP3): the 4-byte frame header (ISO/IEC 11172-3 §2.4.1.3 and
//! §2.4.2.3; ISO/IEC 13818-3 §2.4.2.3 for the lower sampling frequencies; "MPEG 2.5", the
//! 8/11.025/12 kHz extension, is not in either standard but is what FLV's "MP3 8 kHz"
//! carries). RTMP sends MP3 without a sequence header, so a muxer learns the sampling rate
//! and channels from the first frame.
//!
//! Not read: bit rate, padding, CRC, the free format.

use super::CodecError;

/// Bytes of the frame header.
pub const HEADER_LEN: usize = 4;
/// sampling_frequency values of MPEG-1 (§2.4.2.3); MPEG-2 halves them, MPEG 2.5 quarters
/// them. Index 3 is reserved.
const MPEG1_RATES: [u32; 3] = [44_100, 48_000, 32_000];

/// The ID bits of the header (with MPEG 2.5's extra bit): which standard the frame follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MpegVersion {
    /// ISO/IEC 11172-3.
    Mpeg1,
    /// ISO/IEC 13818-3, lower sampling frequencies.
    Mpeg2,
    /// The unofficial 8–12 kHz extension.
    Mpeg25,
}

/// The facts of an MPEG audio frame header a container needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mp3Header {
    pub version: MpegVersion,
    /// 1, 2 or 3.
    pub layer: u8,
    pub sample_rate: u32,
    /// 1 (single_channel mode) or 2.
    pub channels: u8,
}

impl Mp3Header {
    /// Parses the header at the start of `frame`: 12-bit syncword (11 bits with MPEG 2.5),
    /// ID, layer, protection, bitrate_index, sampling_frequency, padding, private, mode.
    pub fn parse(frame: &[u8]) -> Result<Mp3Header, CodecError> {
        let [b0, b1, b2, b3] = frame
            .get(..HEADER_LEN)
            .and_then(|h| <[u8; 4]>::try_from(h).ok())
            .ok_or(CodecError::Truncated {
                what: "MPEG audio frame header",
            })?;
        if b0 != 0xff || b1 & 0xe0 != 0xe0 {
            return Err(CodecError::Invalid {
                what: "MPEG audio syncword",
            });
        }
        let version = match (b1 >> 3) & 0x03 {
            0b11 => MpegVersion::Mpeg1,
            0b10 => MpegVersion::Mpeg2,
            0b00 => MpegVersion::Mpeg25,
            _ => {
                return Err(CodecError::Invalid {
                    what: "MPEG audio version (reserved)",
                })
            }
        };
        let layer = match (b1 >> 1) & 0x03 {
            0b11 => 1,
            0b10 => 2,
            0b01 => 3,
            _ => {
                return Err(CodecError::Invalid {
                    what: "MPEG audio layer (reserved)",
                })
            }
        };
        if b2 >> 4 == 0x0f {
            return Err(CodecError::Invalid {
                what: "MPEG audio bitrate_index (forbidden)",
            });
        }
        let rate = *MPEG1_RATES
            .get(usize::from((b2 >> 2) & 0x03))
            .ok_or(CodecError::Invalid {
                what: "MPEG audio sampling_frequency (reserved)",
            })?;
        let sample_rate = match version {
            MpegVersion::Mpeg1 => rate,
            MpegVersion::Mpeg2 => rate / 2,
            MpegVersion::Mpeg25 => rate / 4,
        };
        // mode 3 is single_channel; stereo, joint stereo and dual channel decode to two.
        let channels = if b3 >> 6 == 0b11 { 1 } else { 2 };
        Ok(Mp3Header {
            version,
            layer,
            sample_rate,
            channels,
        })
    }

    /// Samples per channel in one frame: 384 for Layer I, 1152 for Layer II and for MPEG-1
    /// Layer III, 576 for Layer III at the lower rates.
    pub fn samples_per_frame(&self) -> u32 {
        match (self.layer, self.version) {
            (1, _) => 384,
            (3, MpegVersion::Mpeg2 | MpegVersion::Mpeg25) => 576,
            _ => 1152,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // First frame headers of `ffmpeg -f lavfi -i sine=sample_rate=R -c:a libmp3lame x.mp3`
    // (Debian ffmpeg 5.1, mono).
    const MP3_44100: &[u8] = &[0xff, 0xfb, 0x50, 0xc4];
    const MP3_22050: &[u8] = &[0xff, 0xf3, 0x40, 0xc4];
    const MP3_8000: &[u8] = &[0xff, 0xe3, 0x18, 0xc4];
    /// MPEG-1 Layer II, 48 kHz, stereo (hand-packed).
    const MP2_48000: &[u8] = &[0xff, 0xfd, 0x84, 0x00];

    #[test]
    fn golden_headers() {
        let h = |version, layer, sample_rate, channels| Mp3Header {
            version,
            layer,
            sample_rate,
            channels,
        };
        use MpegVersion::*;
        assert_eq!(Mp3Header::parse(MP3_44100), Ok(h(Mpeg1, 3, 44_100, 1)));
        assert_eq!(Mp3Header::parse(MP3_22050), Ok(h(Mpeg2, 3, 22_050, 1)));
        assert_eq!(Mp3Header::parse(MP3_8000), Ok(h(Mpeg25, 3, 8_000, 1)));
        assert_eq!(Mp3Header::parse(MP2_48000), Ok(h(Mpeg1, 2, 48_000, 2)));
        let samples = |b| Mp3Header::parse(b).unwrap().samples_per_frame();
        assert_eq!(samples(MP3_44100), 1152);
        assert_eq!(samples(MP3_22050), 576);
        assert_eq!(samples(MP2_48000), 1152);
    }

    #[test]
    fn errors() {
        let with = |at: usize, value: u8| {
            let mut v = MP3_44100.to_vec();
            v[at] = value;
            Mp3Header::parse(&v)
        };
        assert!(with(0, 0xfe).is_err());
        assert!(with(1, 0xeb).is_err()); // version 01 reserved
        assert!(with(1, 0xf9).is_err()); // layer 00 reserved
        assert!(with(2, 0xf0).is_err()); // bitrate_index 15
        assert!(with(2, 0x5c).is_err()); // sampling_frequency 3
        for cut in 0..HEADER_LEN {
            assert!(Mp3Header::parse(&MP3_44100[..cut]).is_err());
        }
    }
}
