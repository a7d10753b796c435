//! The muxer: one pack per frame (2.5.3.1). A pack header, then on keyframes (when asked)
//! the system header and the PSM, then the frame in PES packets of at most
//! [`MAX_PES_PAYLOAD`] bytes, the first with the frame's PTS (and DTS when it differs) and
//! data_alignment_indicator set.

use bytes::BufMut;

use super::pack::{encode_system_header, system_header_len, PackHeader, MPEG2_PACK_LEN};
use super::{pes, psm, StreamType, AUDIO_STREAM_ID, VIDEO_STREAM_ID};

/// Most frame bytes in one PES packet: PES_packet_length is 16 bits and also counts the 3
/// flag bytes and up to 10 bytes of PTS and DTS; 65400 leaves room for them below 65535.
pub const MAX_PES_PAYLOAD: usize = 65400;
const _: () = assert!(MAX_PES_PAYLOAD + 3 + 10 <= u16::MAX as usize);

/// program_mux_rate and rate_bound, in units of 50 bytes/s: 20000 is 8 Mbit/s, above what
/// a GB28181 camera sends. Declared only: nothing paces the output; decoders use it at most
/// to size buffers.
pub const MUX_RATE: u32 = 20_000;

/// Writes a program stream with at most one video (stream_id 0xE0) and one audio
/// (stream_id 0xC0) stream. Stateless apart from the track types: output depends only on
/// the arguments, so calls may be interleaved freely and their outputs concatenated.
#[derive(Debug, Clone)]
pub struct Muxer {
    video: Option<StreamType>,
    audio: Option<StreamType>,
}

impl Muxer {
    pub fn new(video: Option<StreamType>, audio: Option<StreamType>) -> Muxer {
        Muxer { video, audio }
    }

    /// Writes one frame (an access unit in Annex B for video, ADTS frames or G.711 samples
    /// for audio) as one pack. `pts`/`dts` are 90 kHz, taken mod 2^33; the SCR is the DTS
    /// (or PTS). With `with_psm` and `keyframe`, the system header and PSM come first, so a
    /// reader can join there; callers pass `with_psm` on the keyframes they want them on
    /// (every video keyframe; for audio-only streams, every so often). Writes nothing for
    /// an empty frame or a track the muxer was not created with.
    ///
    /// `out` must grow (`BytesMut`, `Vec<u8>`) or have room for [`Muxer::encoded_len`]
    /// bytes; `bytes` panics on a full fixed-size buffer.
    #[allow(clippy::too_many_arguments)]
    pub fn write_frame(
        &mut self,
        video: bool,
        pts: u64,
        dts: Option<u64>,
        keyframe: bool,
        data: &[u8],
        with_psm: bool,
        out: &mut impl BufMut,
    ) {
        let Some(stream_id) = self.stream_id(video).filter(|_| !data.is_empty()) else {
            return;
        };
        PackHeader {
            scr: dts.unwrap_or(pts),
            scr_ext: 0,
            mux_rate: MUX_RATE,
        }
        .encode(out);
        if with_psm && keyframe {
            let (video_id, audio_id) = self.stream_ids();
            encode_system_header(MUX_RATE, video_id, audio_id, out);
            let mut entries = [(StreamType::Unknown(0), 0u8); 2];
            let mut n = 0;
            for (t, id) in [(self.video, VIDEO_STREAM_ID), (self.audio, AUDIO_STREAM_ID)] {
                if let Some(t) = t {
                    entries[n] = (t, id);
                    n += 1;
                }
            }
            psm::encode(&entries[..n], 0, out);
        }
        for (i, chunk) in data.chunks(MAX_PES_PAYLOAD).enumerate() {
            let first = i == 0;
            pes::encode(
                stream_id,
                first.then_some(pts),
                dts.filter(|_| first),
                first,
                chunk.len(),
                out,
            );
            out.put_slice(chunk);
        }
    }

    /// Bytes [`Muxer::write_frame`] writes with these arguments.
    pub fn encoded_len(
        &self,
        video: bool,
        pts: u64,
        dts: Option<u64>,
        keyframe: bool,
        data_len: usize,
        with_psm: bool,
    ) -> usize {
        if data_len == 0 || self.stream_id(video).is_none() {
            return 0;
        }
        let mut len = MPEG2_PACK_LEN;
        if with_psm && keyframe {
            let (video_id, audio_id) = self.stream_ids();
            let streams = usize::from(video_id.is_some()) + usize::from(audio_id.is_some());
            len += system_header_len(streams) + psm::encoded_len(streams);
        }
        let packets = data_len.div_ceil(MAX_PES_PAYLOAD);
        len + data_len
            + pes::header_len(Some(pts), dts)
            + (packets - 1) * pes::header_len(None, None)
    }

    /// The stream_id of the track, `None` when the muxer has no such track.
    fn stream_id(&self, video: bool) -> Option<u8> {
        let (track, id) = if video {
            (self.video, VIDEO_STREAM_ID)
        } else {
            (self.audio, AUDIO_STREAM_ID)
        };
        track.map(|_| id)
    }

    fn stream_ids(&self) -> (Option<u8>, Option<u8>) {
        (
            self.video.map(|_| VIDEO_STREAM_ID),
            self.audio.map(|_| AUDIO_STREAM_ID),
        )
    }
}
