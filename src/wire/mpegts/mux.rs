//! The muxer: PAT/PMT and PES packetization into 188-byte transport packets (2.4.3.2).

use bytes::BufMut;

use super::pes::{self, Header, STREAM_ID_AUDIO, STREAM_ID_VIDEO};
use super::psi;
use super::{
    StreamType, AUDIO_PID, BODY_LEN, NULL_PID, PACKET_LEN, PAT_PID, PMT_PID, SYNC_BYTE,
    TIMESTAMP_MASK, VIDEO_PID,
};

/// Bytes [`Muxer::write_tables`] writes: one PAT and one PMT packet.
pub const TABLES_LEN: usize = 2 * PACKET_LEN;

/// payload_unit_start_indicator, in the second header byte.
const PUSI: u8 = 0x40;
/// adaptation_field_control values, in the fourth header byte (table 2-5).
const AFC_PAYLOAD: u8 = 0x10;
const AFC_BOTH: u8 = 0x30;
/// Adaptation field flags (2.4.3.4).
const AF_RANDOM_ACCESS: u8 = 0x40;
const AF_PCR: u8 = 0x10;
/// Bytes of program_clock_reference: 33-bit base, 6 reserved bits, 9-bit extension.
const PCR_LEN: usize = 6;
/// Fill byte of adaptation-field stuffing and of the packet tail after a PSI section.
const STUFFING: u8 = 0xFF;

/// Writes a single-program transport stream; see the module documentation.
///
/// State is the four continuity counters (PAT, PMT, video, audio); each call writes whole
/// packets, so calls may be interleaved freely and their outputs concatenated.
#[derive(Debug, Clone)]
pub struct Muxer {
    video: Option<StreamType>,
    audio: Option<StreamType>,
    cc_pat: u8,
    cc_pmt: u8,
    cc_video: u8,
    cc_audio: u8,
}

impl Muxer {
    /// A muxer for the given tracks. The video track goes on [`VIDEO_PID`] with stream_id
    /// 0xE0, the audio track on [`AUDIO_PID`] with stream_id 0xC0, whatever their types.
    /// PCR goes on the video PID if there is video, else on the audio PID.
    pub fn new(video: Option<StreamType>, audio: Option<StreamType>) -> Muxer {
        Muxer {
            video,
            audio,
            cc_pat: 0,
            cc_pmt: 0,
            cc_video: 0,
            cc_audio: 0,
        }
    }

    pub fn video(&self) -> Option<StreamType> {
        self.video
    }

    pub fn audio(&self) -> Option<StreamType> {
        self.audio
    }

    /// The PID carrying PCR, or [`NULL_PID`] when there is no track at all.
    pub fn pcr_pid(&self) -> u16 {
        match (self.video, self.audio) {
            (Some(_), _) => VIDEO_PID,
            (None, Some(_)) => AUDIO_PID,
            (None, None) => NULL_PID,
        }
    }

    /// PAT + PMT (2 packets, [`TABLES_LEN`] bytes), with their own continuity counters.
    /// Each table is one section starting the packet (pointer_field 0), followed by 0xFF
    /// up to the end of the packet (2.4.4: stuffing after a section).
    pub fn write_tables(&mut self, out: &mut impl BufMut) {
        let pat = psi::encode_pat(PMT_PID);
        write_section(PAT_PID, &mut self.cc_pat, pat.as_bytes(), out);
        let mut streams = [(0u8, 0u16); 2];
        let mut n = 0;
        for (track, pid) in [(self.video, VIDEO_PID), (self.audio, AUDIO_PID)] {
            if let Some(t) = track {
                streams[n] = (t.code(), pid);
                n += 1;
            }
        }
        let pmt = psi::encode_pmt(self.pcr_pid(), &streams[..n]);
        write_section(PMT_PID, &mut self.cc_pmt, pmt.as_bytes(), out);
    }

    /// One video access unit as one PES (stream_id 0xE0, PES_packet_length 0). Times are
    /// 90 kHz ticks taken mod 2^33; DTS is written only when it differs from PTS.
    /// `keyframe` sets random_access_indicator in the first packet; when video carries the
    /// PCR (always, if there is video), the first packet has PCR = `dts`. Writes nothing if
    /// the muxer has no video track.
    pub fn write_video(
        &mut self,
        pts: u64,
        dts: u64,
        keyframe: bool,
        annexb: &[u8],
        out: &mut impl BufMut,
    ) {
        if self.video.is_none() {
            return;
        }
        let header = Header::new(STREAM_ID_VIDEO, pts, dts, annexb.len(), false);
        let af = FirstPacketFields {
            random_access: keyframe,
            pcr: (self.pcr_pid() == VIDEO_PID).then_some(dts & TIMESTAMP_MASK),
        };
        write_pes(
            VIDEO_PID,
            &mut self.cc_video,
            header.as_bytes(),
            annexb,
            af,
            out,
        );
    }

    /// One or more audio frames (ADTS or MP3) as one PES (stream_id 0xC0) with a PTS and no
    /// DTS; PES_packet_length is the real length when it fits 16 bits, else 0. On an
    /// audio-only muxer the first packet also carries PCR = `pts` and random_access_indicator
    /// (every audio frame is a random access point; HLS audio-only segments want it).
    /// Writes nothing if the muxer has no audio track.
    pub fn write_audio(&mut self, pts: u64, data: &[u8], out: &mut impl BufMut) {
        if self.audio.is_none() {
            return;
        }
        let header = Header::new(STREAM_ID_AUDIO, pts, pts, data.len(), true);
        let carries_pcr = self.pcr_pid() == AUDIO_PID;
        let af = FirstPacketFields {
            random_access: carries_pcr,
            pcr: carries_pcr.then_some(pts & TIMESTAMP_MASK),
        };
        write_pes(
            AUDIO_PID,
            &mut self.cc_audio,
            header.as_bytes(),
            data,
            af,
            out,
        );
    }

    /// Bytes [`Muxer::write_video`] writes for these arguments (0 without a video track).
    pub fn video_encoded_len(&self, pts: u64, dts: u64, keyframe: bool, len: usize) -> usize {
        if self.video.is_none() {
            return 0;
        }
        let af = FirstPacketFields {
            random_access: keyframe,
            pcr: (self.pcr_pid() == VIDEO_PID).then_some(0),
        };
        packets_len(af.len(), pes::header_len(pts, dts) + len)
    }

    /// Bytes [`Muxer::write_audio`] writes for `len` bytes of frames (0 without an audio
    /// track).
    pub fn audio_encoded_len(&self, len: usize) -> usize {
        if self.audio.is_none() {
            return 0;
        }
        let carries_pcr = self.pcr_pid() == AUDIO_PID;
        let af = FirstPacketFields {
            random_access: carries_pcr,
            pcr: carries_pcr.then_some(0),
        };
        packets_len(af.len(), pes::header_len(0, 0) + len)
    }
}

/// Adaptation field contents of the first packet of a PES.
#[derive(Clone, Copy)]
struct FirstPacketFields {
    random_access: bool,
    /// PCR base in 90 kHz ticks (33 bits); the extension is always 0.
    pcr: Option<u64>,
}

impl FirstPacketFields {
    /// Bytes the adaptation field needs in the first packet, length byte included; 0 when
    /// there is nothing to say.
    fn len(self) -> usize {
        match (self.random_access, self.pcr) {
            (_, Some(_)) => 2 + PCR_LEN,
            (true, None) => 2,
            (false, None) => 0,
        }
    }

    fn flags(self) -> u8 {
        let mut flags = 0;
        if self.random_access {
            flags |= AF_RANDOM_ACCESS;
        }
        if self.pcr.is_some() {
            flags |= AF_PCR;
        }
        flags
    }
}

/// Total bytes of the packets carrying a PES of `total` bytes whose first packet has an
/// adaptation field of `first_af` bytes.
fn packets_len(first_af: usize, total: usize) -> usize {
    let first_room = BODY_LEN - first_af;
    let packets = if total <= first_room {
        1
    } else {
        1 + (total - first_room).div_ceil(BODY_LEN)
    };
    packets * PACKET_LEN
}

fn put_header(pid: u16, start: bool, afc: u8, cc: &mut u8, out: &mut impl BufMut) {
    let pusi = if start { PUSI } else { 0 };
    out.put_slice(&[
        SYNC_BYTE,
        pusi | ((pid >> 8) as u8 & 0x1F),
        pid as u8,
        afc | *cc,
    ]);
    *cc = (*cc + 1) & 0x0F;
}

/// One PSI section in one packet: pointer_field 0, section, 0xFF to the end.
fn write_section(pid: u16, cc: &mut u8, section: &[u8], out: &mut impl BufMut) {
    put_header(pid, true, AFC_PAYLOAD, cc, out);
    out.put_u8(0);
    out.put_slice(section);
    out.put_bytes(STUFFING, BODY_LEN - 1 - section.len());
}

/// program_clock_reference_base (33 bits), 6 reserved '1' bits, extension 0 (2.4.3.5).
fn encode_pcr(base: u64) -> [u8; PCR_LEN] {
    let base = base & TIMESTAMP_MASK;
    [
        (base >> 25) as u8,
        (base >> 17) as u8,
        (base >> 9) as u8,
        (base >> 1) as u8,
        ((base & 1) as u8) << 7 | 0x7E,
        0x00,
    ]
}

/// Splits `head ++ body` into packets on `pid`. Every packet is full: where the payload
/// runs short (only possible in the last packet, or a single one) the adaptation field
/// grows with 0xFF stuffing; an adaptation field of one byte is just its length byte, 0
/// (2.4.3.4: "adaptation_field_length 0 ... inserts a single stuffing byte").
fn write_pes(
    pid: u16,
    cc: &mut u8,
    head: &[u8],
    body: &[u8],
    first_fields: FirstPacketFields,
    out: &mut impl BufMut,
) {
    let total = head.len() + body.len();
    let mut sent = 0;
    let mut first = true;
    while first || sent < total {
        let fields = if first {
            first_fields
        } else {
            FirstPacketFields {
                random_access: false,
                pcr: None,
            }
        };
        let room = BODY_LEN - fields.len();
        let chunk = (total - sent).min(room);
        // Bytes left for the adaptation field, length byte included.
        let af_len = BODY_LEN - chunk;
        let afc = if af_len > 0 { AFC_BOTH } else { AFC_PAYLOAD };
        put_header(pid, first, afc, cc, out);
        if af_len > 0 {
            out.put_u8((af_len - 1) as u8);
            if af_len > 1 {
                out.put_u8(fields.flags());
                let mut used = 2;
                if let Some(pcr) = fields.pcr {
                    out.put_slice(&encode_pcr(pcr));
                    used += PCR_LEN;
                }
                out.put_bytes(STUFFING, af_len - used);
            }
        }
        put_range(head, body, sent, chunk, out);
        sent += chunk;
        first = false;
    }
}

/// Writes `len` bytes of `head ++ body` starting at `from`.
fn put_range(head: &[u8], body: &[u8], from: usize, len: usize, out: &mut impl BufMut) {
    let in_head = head.get(from..).unwrap_or_default();
    let from_head = in_head.len().min(len);
    out.put_slice(&in_head[..from_head]);
    let body_from = (from + from_head).saturating_sub(head.len());
    let rest = len - from_head;
    out.put_slice(body.get(body_from..body_from + rest).unwrap_or_default());
}
