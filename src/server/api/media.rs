//! A stream's `video` and `audio` objects, read from its sequence headers as SRS does
//! (SRS: `SrsStatistic::on_video_info`/`on_audio_info`, fed by the header's demuxer).

use serde::Serialize;

use crate::media::{AudioCodec, Codec, Frame, VideoCodec};
use crate::wire::codec::{aac::AacConfig, h264, h265};

#[derive(Debug, Serialize, PartialEq)]
pub struct VideoInfo {
    /// SRS's `srs_video_codec_id2str`: "H264", "HEVC", "AV1", "VP6" or "Other".
    pub codec: &'static str,
    /// SRS's profile names ("High", "Main", ...), "Other" when the header does not say.
    pub profile: &'static str,
    /// SRS's level names ("3.1", ...), "Other" when the header does not say.
    pub level: &'static str,
    /// Displayed size from the SPS; 0 when it does not parse.
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct AudioInfo {
    /// SRS's `srs_audio_codec_id2str`: "AAC", "MP3", "Opus" or "Other".
    pub codec: &'static str,
    /// Hz; 0 when unknown.
    pub sample_rate: u32,
    /// Channel count; 0 when unknown.
    pub channel: u32,
    /// SRS's `srs_aac_object2str`: "LC", "HE", "HEv2", "Main", "SSR" or "Other".
    pub profile: &'static str,
}

const OTHER: &str = "Other";

/// What the video sequence header `header` says. A header that does not parse still gives
/// the codec, with "Other" and zeros for the rest.
pub fn video_info(header: &Frame) -> VideoInfo {
    let codec = match header.codec {
        Codec::Video(c) => c,
        _ => VideoCodec::Other(0),
    };
    let record = header.data.get(header.payload_offset..).unwrap_or(&[]);
    let mut info = VideoInfo {
        codec: match codec {
            VideoCodec::Avc => "H264",
            VideoCodec::Hevc => "HEVC",
            VideoCodec::Av1 => "AV1",
            _ => OTHER,
        },
        profile: OTHER,
        level: OTHER,
        width: 0,
        height: 0,
    };
    match codec {
        VideoCodec::Avc => {
            if let Ok(config) = h264::AvcConfig::parse(record) {
                // SRS takes profile and level from the record, the size from the SPS.
                info.profile = h264::profile_name(config.profile);
                info.level = h264::level_name(config.level);
                if let Ok(sps) = config.sps_info() {
                    info.width = sps.width;
                    info.height = sps.height;
                }
            }
        }
        VideoCodec::Hevc => {
            if let Ok(config) = h265::HevcConfig::parse(record) {
                info.profile = h265::profile_name(config.general_profile_idc);
                info.level = h265::level_name(config.general_level_idc);
                if let Ok(sps) = config.sps_info() {
                    info.width = sps.width;
                    info.height = sps.height;
                }
            }
        }
        _ => {}
    }
    info
}

/// What the audio of a published stream is: from the AAC sequence header when there is one;
/// codecs without a header (MP3, G.711) are known by their codec alone. `None` (JSON `null`)
/// until the codec is known, and for AAC until its header arrives, as in SRS.
pub fn audio_info(codec: Option<Codec>, header: Option<&std::rc::Rc<Frame>>) -> Option<AudioInfo> {
    let codec = match header.map(|h| h.codec).or(codec)? {
        Codec::Audio(c) => c,
        _ => return None,
    };
    let name = match codec {
        AudioCodec::Aac => "AAC",
        AudioCodec::Mp3 => "MP3",
        AudioCodec::Opus => "Opus",
        _ => OTHER,
    };
    let mut info = AudioInfo {
        codec: name,
        sample_rate: 0,
        channel: 0,
        profile: OTHER,
    };
    match (codec, header) {
        (AudioCodec::Aac, Some(h)) => {
            let asc = h.data.get(h.payload_offset..).unwrap_or(&[]);
            if let Ok(config) = AacConfig::parse(asc) {
                // The output rate: explicit HE-AAC signals its core rate, half of it.
                info.sample_rate = config.extension_sample_rate.unwrap_or(config.sample_rate);
                info.channel = config.channel_count().map_or(0, u32::from);
                info.profile = config.profile_name();
            }
        }
        (AudioCodec::Aac, None) => return None,
        _ => {}
    }
    Some(info)
}
