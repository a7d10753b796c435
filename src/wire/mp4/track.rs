//! One track: its codec configuration, timescale and sample entry (ISO/IEC 14496-12 §8.5.2,
//! §12.1.3 VisualSampleEntry, §12.2.3 AudioSampleEntry).

use bytes::{BufMut, Bytes};

use super::{fourcc, put_box, put_full_box, Mp4Error, BOX_HEADER_LEN, FULL_BOX_HEADER_LEN};
use crate::wire::codec::{AacConfig, Av1Config, AvcConfig, HevcConfig, Mp3Header, OpusHead};
use crate::wire::flv::{AudioCodec, VideoCodec};

/// Timescale of video tracks: milliseconds, the hub's clock (see the module docs).
pub const VIDEO_TIMESCALE: u32 = 1000;
/// Timescale of Opus tracks: Opus decodes at 48 kHz whatever the input rate.
const OPUS_TIMESCALE: u32 = 48_000;
/// The largest codec configuration accepted, in bytes. Real records are tens to a few
/// hundred bytes (an x265 record with its version SEI is about 2.5 KB); the cap keeps every
/// init segment box far from the 32-bit size field and bounds the init segment to about
/// 130 KB for two tracks. The configuration is not copied: the track holds the hub's `Bytes`.
pub const MAX_CONFIG_LEN: usize = 65_535;

/// SampleEntry (§8.5.2.2): reserved (6), data_reference_index (16).
const SAMPLE_ENTRY_LEN: usize = 8;
const DATA_REFERENCE_INDEX: u16 = 1;
/// VisualSampleEntry fields after SampleEntry (§12.1.3.2): pre_defined, reserved,
/// pre_defined[3], width, height, horizresolution, vertresolution, reserved, frame_count,
/// compressorname[32], depth, pre_defined.
const VISUAL_FIELDS_LEN: usize = 70;
/// 72 dpi in 16.16 fixed point.
const RESOLUTION_72_DPI: u32 = 0x0048_0000;
const FRAME_COUNT: u16 = 1;
const COMPRESSORNAME_LEN: usize = 32;
/// AV1-ISOBMFF §2.2.3 recommends this compressorname: a length byte, then "AOM Coding".
const AV1_COMPRESSORNAME: &[u8] = b"\x0aAOM Coding";
/// Colour images with no alpha.
const DEPTH_24: u16 = 0x0018;
/// AudioSampleEntry fields after SampleEntry (§12.2.3.2): reserved[2] (32 bits each),
/// channelcount, samplesize, pre_defined, reserved, samplerate (16.16).
const AUDIO_FIELDS_LEN: usize = 20;
const SAMPLE_SIZE_16: u16 = 16;

/// ES_Descriptor tags (ISO/IEC 14496-1 §7.2.2.1, Table 1).
const ES_DESCR_TAG: u8 = 0x03;
const DECODER_CONFIG_DESCR_TAG: u8 = 0x04;
const DECODER_SPECIFIC_INFO_TAG: u8 = 0x05;
const SL_CONFIG_DESCR_TAG: u8 = 0x06;
/// objectTypeIndication (14496-1 Table 5; the MP4 registration authority's list): MPEG-4
/// Audio (AAC), ISO/IEC 13818-3 audio (MPEG-2 lower sampling rates), ISO/IEC 11172-3 audio.
const OTI_MPEG4_AUDIO: u8 = 0x40;
const OTI_MPEG2_AUDIO: u8 = 0x69;
const OTI_MPEG1_AUDIO: u8 = 0x6b;
/// streamType 0x05 (AudioStream) << 2, upStream 0, reserved 1.
const STREAM_TYPE_AUDIO: u8 = 0x15;
/// DecoderConfigDescriptor after its header: objectTypeIndication, streamType byte,
/// bufferSizeDB (24), maxBitrate, avgBitrate.
const DECODER_CONFIG_FIELDS_LEN: usize = 13;
/// ES_Descriptor after its header: ES_ID (16), flags byte.
const ES_FIELDS_LEN: usize = 3;
/// SLConfigDescriptor: tag, length 1, predefined 2 (reserved for MP4 files, 14496-14 §3.1.2).
const SL_CONFIG: [u8; 3] = [SL_CONFIG_DESCR_TAG, 1, 2];

/// dOps fields (Opus in ISOBMFF §4.3.2): Version, OutputChannelCount, PreSkip,
/// InputSampleRate, OutputGain, ChannelMappingFamily; then with a family other than 0
/// StreamCount, CoupledCount and one ChannelMapping byte per channel.
const DOPS_FIELDS_LEN: usize = 11;
const DOPS_VERSION: u8 = 0;

/// What a track carries, with what its sample entry needs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Media {
    Video {
        /// Sample entry and configuration box types.
        entry: [u8; 4],
        config_box: [u8; 4],
        /// The configuration record, written as received.
        record: Bytes,
        width: u16,
        height: u16,
    },
    Aac {
        asc: Bytes,
        channels: u16,
        sample_rate: u32,
    },
    Mp3 {
        object_type: u8,
        channels: u16,
        sample_rate: u32,
    },
    Opus(OpusHead),
}

/// One track of an MP4 recording. Built from the hub's sequence header with
/// [`Track::video`] / [`Track::audio`]; [`InitSegment::new`](super::InitSegment::new) gives it
/// its ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Track {
    pub(super) id: u32,
    timescale: u32,
    media: Media,
}

fn check_len(codec: &'static str, config: &Bytes) -> Result<(), Mp4Error> {
    if config.len() > MAX_CONFIG_LEN {
        return Err(Mp4Error::ConfigTooLong {
            codec,
            len: config.len(),
            max: MAX_CONFIG_LEN,
        });
    }
    Ok(())
}

/// A picture dimension for the 16-bit sample entry fields; the codec parsers cap them at
/// `MAX_PICTURE_DIMENSION`, well below 65536.
fn dimension(value: u32) -> u16 {
    u16::try_from(value).unwrap_or(u16::MAX)
}

impl Track {
    /// A video track from the codec configuration record of a video sequence header (the
    /// tag body after `payload_offset`): AVCDecoderConfigurationRecord,
    /// HEVCDecoderConfigurationRecord or AV1CodecConfigurationRecord. The record must parse
    /// and hold an SPS (sequence header OBU for AV1) whose picture size is read.
    pub fn video(codec: VideoCodec, record: Bytes) -> Result<Track, Mp4Error> {
        let (name, entry, config_box) = match codec {
            VideoCodec::Avc => ("H.264", fourcc::AVC1, fourcc::AVCC),
            VideoCodec::Hevc => ("H.265", fourcc::HVC1, fourcc::HVCC),
            VideoCodec::Av1 => ("AV1", fourcc::AV01, fourcc::AV1C),
            other => return Err(Mp4Error::UnsupportedVideo(other)),
        };
        check_len(name, &record)?;
        let config_error = |error| Mp4Error::Config { codec: name, error };
        let (width, height) = match codec {
            VideoCodec::Avc => {
                let info = AvcConfig::parse(&record)
                    .and_then(|c| c.sps_info())
                    .map_err(config_error)?;
                (info.width, info.height)
            }
            VideoCodec::Hevc => {
                let info = HevcConfig::parse(&record)
                    .and_then(|c| c.sps_info())
                    .map_err(config_error)?;
                (info.width, info.height)
            }
            _ => {
                let c = Av1Config::parse(&record).map_err(config_error)?;
                (c.max_width, c.max_height)
            }
        };
        Ok(Track {
            id: 0,
            timescale: VIDEO_TIMESCALE,
            media: Media::Video {
                entry,
                config_box,
                record,
                width: dimension(width),
                height: dimension(height),
            },
        })
    }

    /// An audio track. `config` is, for AAC, the AudioSpecificConfig of the sequence header;
    /// for Opus, the OpusHead of the Enhanced RTMP SequenceStart; for MP3, which has no
    /// sequence header, the first frame (its header gives the rate and channels). G.711 and
    /// the rest are refused with [`Mp4Error::UnsupportedAudio`].
    pub fn audio(codec: AudioCodec, config: Bytes) -> Result<Track, Mp4Error> {
        match codec {
            AudioCodec::Aac => {
                check_len("AAC", &config)?;
                let c = AacConfig::parse(&config).map_err(|error| Mp4Error::Config {
                    codec: "AAC",
                    error,
                })?;
                // The rate the decoder outputs: after SBR for explicit HE-AAC.
                let sample_rate = c.extension_sample_rate.unwrap_or(c.sample_rate);
                // Channel configuration 0 (a PCE in the stream) says nothing here; 2 is the
                // usual answer and decoders read the configuration anyway.
                let channels = u16::from(c.channel_count().unwrap_or(2));
                Ok(Track {
                    id: 0,
                    timescale: sample_rate,
                    media: Media::Aac {
                        asc: config,
                        channels,
                        sample_rate,
                    },
                })
            }
            AudioCodec::Mp3 => {
                let h = Mp3Header::parse(&config).map_err(|error| Mp4Error::Config {
                    codec: "MP3",
                    error,
                })?;
                // 0x6B is ISO/IEC 11172-3; the lower rates (MPEG-2, and the unofficial 2.5)
                // are ISO/IEC 13818-3's, 0x69.
                let object_type = if h.sample_rate >= 32_000 {
                    OTI_MPEG1_AUDIO
                } else {
                    OTI_MPEG2_AUDIO
                };
                Ok(Track {
                    id: 0,
                    timescale: h.sample_rate,
                    media: Media::Mp3 {
                        object_type,
                        channels: u16::from(h.channels),
                        sample_rate: h.sample_rate,
                    },
                })
            }
            AudioCodec::Opus => {
                check_len("Opus", &config)?;
                let head = OpusHead::parse(&config).map_err(|error| Mp4Error::Config {
                    codec: "Opus",
                    error,
                })?;
                Ok(Track {
                    id: 0,
                    timescale: OPUS_TIMESCALE,
                    media: Media::Opus(head),
                })
            }
            other => Err(Mp4Error::UnsupportedAudio(other)),
        }
    }

    /// The track ID: 0 until an [`InitSegment`](super::InitSegment) numbers its tracks.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Units per second of this track's sample times.
    pub fn timescale(&self) -> u32 {
        self.timescale
    }

    pub fn is_video(&self) -> bool {
        matches!(self.media, Media::Video { .. })
    }

    /// The sample entry type: `avc1`, `hvc1`, `av01`, `mp4a` or `Opus`.
    pub fn sample_entry(&self) -> [u8; 4] {
        match &self.media {
            Media::Video { entry, .. } => *entry,
            Media::Aac { .. } | Media::Mp3 { .. } => fourcc::MP4A,
            Media::Opus(_) => fourcc::OPUS,
        }
    }

    /// Displayed width and height of a video track.
    pub fn picture_size(&self) -> Option<(u16, u16)> {
        match self.media {
            Media::Video { width, height, .. } => Some((width, height)),
            _ => None,
        }
    }

    /// `ms` milliseconds in this track's timescale (rounded down; exact for video).
    pub fn ticks(&self, ms: u64) -> u64 {
        let ticks = u128::from(ms) * u128::from(self.timescale) / 1000;
        u64::try_from(ticks).unwrap_or(u64::MAX)
    }

    /// Whether `trun` carries composition time offsets for this track (H.264, H.265).
    pub(super) fn has_composition_offsets(&self) -> bool {
        matches!(
            self.media,
            Media::Video { entry, .. } if entry != fourcc::AV01
        )
    }

    /// The `hdlr` handler_type and name.
    pub(super) fn handler(&self) -> ([u8; 4], &'static [u8]) {
        if self.is_video() {
            (*b"vide", b"tinysrs video")
        } else {
            (*b"soun", b"tinysrs audio")
        }
    }

    /// Bytes of the sample entry box (inside `stsd`).
    pub(super) fn sample_entry_len(&self) -> usize {
        match &self.media {
            Media::Video { record, .. } => {
                BOX_HEADER_LEN
                    + SAMPLE_ENTRY_LEN
                    + VISUAL_FIELDS_LEN
                    + BOX_HEADER_LEN
                    + record.len()
            }
            Media::Aac { asc, .. } => audio_entry_len(esds_len(Some(asc.len()))),
            Media::Mp3 { .. } => audio_entry_len(esds_len(None)),
            Media::Opus(head) => audio_entry_len(dops_len(head)),
        }
    }

    /// Writes the sample entry box with its configuration box.
    pub(super) fn encode_sample_entry(&self, out: &mut impl BufMut) {
        let len = self.sample_entry_len();
        match &self.media {
            Media::Video {
                entry,
                config_box,
                record,
                width,
                height,
            } => {
                put_box(out, len, *entry);
                put_sample_entry_header(out);
                out.put_u16(0); // pre_defined
                out.put_u16(0); // reserved
                out.put_slice(&[0; 12]); // pre_defined[3]
                out.put_u16(*width);
                out.put_u16(*height);
                out.put_u32(RESOLUTION_72_DPI);
                out.put_u32(RESOLUTION_72_DPI);
                out.put_u32(0); // reserved
                out.put_u16(FRAME_COUNT);
                let mut name = [0u8; COMPRESSORNAME_LEN];
                if *entry == fourcc::AV01 {
                    name[..AV1_COMPRESSORNAME.len()].copy_from_slice(AV1_COMPRESSORNAME);
                }
                out.put_slice(&name);
                out.put_u16(DEPTH_24);
                out.put_i16(-1); // pre_defined
                put_box(out, BOX_HEADER_LEN + record.len(), *config_box);
                out.put_slice(record);
            }
            Media::Aac {
                asc,
                channels,
                sample_rate,
            } => {
                put_audio_entry_header(out, len, fourcc::MP4A, *channels, *sample_rate);
                put_esds(out, OTI_MPEG4_AUDIO, Some(asc));
            }
            Media::Mp3 {
                object_type,
                channels,
                sample_rate,
            } => {
                put_audio_entry_header(out, len, fourcc::MP4A, *channels, *sample_rate);
                put_esds(out, *object_type, None);
            }
            Media::Opus(head) => {
                let channels = u16::from(head.channels);
                put_audio_entry_header(out, len, fourcc::OPUS, channels, OPUS_TIMESCALE);
                put_dops(out, head);
            }
        }
    }
}

fn put_sample_entry_header(out: &mut impl BufMut) {
    out.put_slice(&[0; 6]); // reserved
    out.put_u16(DATA_REFERENCE_INDEX);
}

fn audio_entry_len(config_box_len: usize) -> usize {
    BOX_HEADER_LEN + SAMPLE_ENTRY_LEN + AUDIO_FIELDS_LEN + config_box_len
}

/// AudioSampleEntry header and fields. samplerate is 16.16 fixed point, so a rate above
/// 65535 Hz is written as 0 (see the module docs).
fn put_audio_entry_header(
    out: &mut impl BufMut,
    len: usize,
    entry: [u8; 4],
    channels: u16,
    sample_rate: u32,
) {
    put_box(out, len, entry);
    put_sample_entry_header(out);
    out.put_u64(0); // reserved[2]
    out.put_u16(channels);
    out.put_u16(SAMPLE_SIZE_16);
    out.put_u16(0); // pre_defined
    out.put_u16(0); // reserved
    let rate = if sample_rate <= u32::from(u16::MAX) {
        sample_rate << 16
    } else {
        0
    };
    out.put_u32(rate);
}

/// Bytes of a descriptor's size field (14496-1 §8.3.3, expandable class: 7 bits per byte,
/// the high bit saying another byte follows), shortest form.
fn size_field_len(len: usize) -> usize {
    match len {
        0..=0x7f => 1,
        0x80..=0x3fff => 2,
        0x4000..=0x1f_ffff => 3,
        _ => 4,
    }
}

/// Writes a descriptor header: tag, then `len` in [`size_field_len`] bytes.
fn put_descriptor(out: &mut impl BufMut, tag: u8, len: usize) {
    out.put_u8(tag);
    let n = size_field_len(len);
    for i in (0..n).rev() {
        let more = if i > 0 { 0x80 } else { 0 };
        out.put_u8(((len >> (7 * i)) & 0x7f) as u8 | more);
    }
}

/// Body lengths of the ES_Descriptor and its DecoderConfigDescriptor, given the
/// DecoderSpecificInfo length (None: no DecoderSpecificInfo, as for MP3).
fn es_lens(dsi: Option<usize>) -> (usize, usize) {
    let dsi_total = dsi.map_or(0, |n| 1 + size_field_len(n) + n);
    let dcd_body = DECODER_CONFIG_FIELDS_LEN + dsi_total;
    let es_body = ES_FIELDS_LEN + 1 + size_field_len(dcd_body) + dcd_body + SL_CONFIG.len();
    (es_body, dcd_body)
}

/// Bytes of the `esds` box (ISO/IEC 14496-14 §5.6): FullBox + ES_Descriptor.
fn esds_len(dsi: Option<usize>) -> usize {
    let (es_body, _) = es_lens(dsi);
    FULL_BOX_HEADER_LEN + 1 + size_field_len(es_body) + es_body
}

/// Writes `esds`: ES_Descriptor (ES_ID 0, no dependencies, URL or OCR), its
/// DecoderConfigDescriptor (audio stream, buffer size and bit rates 0 = unknown), the
/// DecoderSpecificInfo when given (the AudioSpecificConfig), and the SLConfigDescriptor.
fn put_esds(out: &mut impl BufMut, object_type: u8, dsi: Option<&Bytes>) {
    let (es_body, dcd_body) = es_lens(dsi.map(|d| d.len()));
    put_full_box(out, esds_len(dsi.map(|d| d.len())), fourcc::ESDS, 0, 0);
    put_descriptor(out, ES_DESCR_TAG, es_body);
    out.put_u16(0); // ES_ID
    out.put_u8(0); // streamDependenceFlag, URL_Flag, OCRstreamFlag, streamPriority
    put_descriptor(out, DECODER_CONFIG_DESCR_TAG, dcd_body);
    out.put_u8(object_type);
    out.put_u8(STREAM_TYPE_AUDIO);
    out.put_slice(&[0; 3]); // bufferSizeDB
    out.put_u32(0); // maxBitrate
    out.put_u32(0); // avgBitrate
    if let Some(dsi) = dsi {
        put_descriptor(out, DECODER_SPECIFIC_INFO_TAG, dsi.len());
        out.put_slice(dsi);
    }
    out.put_slice(&SL_CONFIG);
}

/// Bytes of the `dOps` box.
fn dops_len(head: &OpusHead) -> usize {
    let table = if head.mapping_family == 0 {
        0
    } else {
        2 + head.mapping.len()
    };
    BOX_HEADER_LEN + DOPS_FIELDS_LEN + table
}

/// Writes `dOps` (a plain Box, big-endian fields) from the OpusHead's fields.
fn put_dops(out: &mut impl BufMut, head: &OpusHead) {
    put_box(out, dops_len(head), fourcc::DOPS);
    out.put_u8(DOPS_VERSION);
    out.put_u8(head.channels);
    out.put_u16(head.pre_skip);
    out.put_u32(head.input_sample_rate);
    out.put_i16(head.output_gain);
    out.put_u8(head.mapping_family);
    if head.mapping_family != 0 {
        out.put_u8(head.stream_count);
        out.put_u8(head.coupled_count);
        out.put_slice(&head.mapping);
    }
}
