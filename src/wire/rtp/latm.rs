//! AAC over RTP in `MP4A-LATM` (RFC 6416 §6.1), with the StreamMuxConfig out of band
//! (`cpresent=0`, [`LatmParams`]): each packet carries one or more whole audioMuxElements,
//! or one fragment of an element with the marker bit on the last. An element with the
//! config out of band is, for each subframe, a PayloadLengthInfo (bytes of 255 summed up to
//! the first one below 255, ISO 14496-3 §1.7.3.2) and that many bytes of raw AAC frame.
//!
//! What a caller must know (beyond [`super::payload`]):
//! * Every PayloadLengthInfo found up to the end of the marked packet is read, so several
//!   subframes (`numSubFrames` > 0) and several elements in one packet come out as frames:
//!   frame `i` of a packet has the packet's timestamp plus `i` times the frame duration
//!   ([`LatmParams::frame_duration`]).
//! * An element is used only when its lengths add up to the bytes received; otherwise the
//!   packet is [`DepacketizeError::Malformed`] and nothing of it is given out.
//! * An element in fragments is copied as it arrives, at most [`MAX_ELEMENT`] bytes; one that
//!   grows past it is dropped ([`DepacketizeError::TooLarge`]). Whole elements are slices of
//!   the packet (no copy).
//! * After a loss, packets are dropped until a packet with the marker bit (the end of an
//!   element) has passed, since nothing in a fragment says whether it is the first.
//! * Our packetizer writes one frame per element and per packet, fragmented over packets
//!   when larger than the MTU.

use bytes::{BufMut, Bytes, BytesMut};

use super::payload::{
    clamp_mtu, AccessUnit, DepacketizeError, DepacketizeStats, PacketizeError, Ready, RtpWriter,
    SequenceCheck,
};
use super::RtpPacket;
use crate::wire::sdp::fmtp::LatmParams;

/// Largest audioMuxElement (and so frame) assembled. Why: an AAC frame is at most 768 bytes
/// per channel (6144 bits, ISO 14496-3 §4.5.3), 6 KiB for 7.1; 8 KiB holds that with its
/// length bytes. RAM: one such buffer per LATM track while an element arrives in fragments.
pub const MAX_ELEMENT: usize = 8 * 1024;
/// Most frames read from one packet. Why: each frame takes at least its length byte and real
/// ones are hundreds of bytes, so a 1400-byte packet carries a few; 64 bounds what one packet
/// can queue.
pub const MAX_FRAMES_PER_PACKET: usize = 64;

/// The PayloadLengthInfo bytes of a frame of `len` bytes: 255 per full 255, then the rest.
fn length_info_len(len: usize) -> usize {
    len / 255 + 1
}

/// The frames of an element (or several): `(start, len)` in `data`, or what is wrong.
fn frames(
    data: &[u8],
) -> Result<heapless::Vec<(usize, usize), MAX_FRAMES_PER_PACKET>, &'static str> {
    let mut out = heapless::Vec::new();
    let mut at = 0;
    while at < data.len() {
        let mut len = 0usize;
        loop {
            let Some(&b) = data.get(at) else {
                return Err("PayloadLengthInfo cut");
            };
            at += 1;
            len += usize::from(b);
            if b != 255 {
                break;
            }
        }
        if len > data.len() - at {
            return Err("frame runs past the element");
        }
        out.push((at, len)).map_err(|_| "too many frames")?;
        at += len;
    }
    Ok(out)
}

/// An element arriving in fragments.
#[derive(Debug)]
struct Fragment {
    timestamp: u32,
    data: BytesMut,
}

/// AAC frames from MP4A-LATM RTP packets.
#[derive(Debug)]
pub struct Depacketizer {
    frame_duration: u32,
    fragment: Option<Fragment>,
    /// After a loss or an error: packets are dropped until a marker bit.
    resync: bool,
    sequence: SequenceCheck,
    discontinuity: bool,
    ready: Ready,
    stats: DepacketizeStats,
}

impl Depacketizer {
    pub fn new(params: &LatmParams) -> Depacketizer {
        Depacketizer {
            frame_duration: params.frame_duration,
            fragment: None,
            resync: false,
            sequence: SequenceCheck::default(),
            discontinuity: false,
            ready: Ready::new(MAX_FRAMES_PER_PACKET + 1),
            stats: DepacketizeStats::default(),
        }
    }

    pub fn pop(&mut self) -> Option<AccessUnit> {
        self.ready.pop()
    }

    pub fn stats(&self) -> DepacketizeStats {
        self.stats
    }

    pub fn push(&mut self, packet: &RtpPacket) -> Result<(), DepacketizeError> {
        self.stats.packets += 1;
        if self.sequence.is_gap(packet.sequence, &mut self.stats) {
            self.discontinuity = true;
            self.resync = true;
            self.drop_fragment();
        }
        if self.resync {
            self.stats.dropped_packets += 1;
            self.resync = !packet.marker;
            return Ok(());
        }
        let result = self.element(packet);
        // `Incomplete` reports an earlier element; this packet was used.
        if result
            .as_ref()
            .is_err_and(|e| !matches!(e, DepacketizeError::Incomplete { .. }))
        {
            self.stats.dropped_packets += 1;
            self.drop_fragment();
            self.discontinuity = true;
            self.resync = !packet.marker;
        }
        result
    }

    fn drop_fragment(&mut self) {
        if self.fragment.take().is_some() {
            self.stats.dropped_access_units += 1;
        }
    }

    fn element(&mut self, packet: &RtpPacket) -> Result<(), DepacketizeError> {
        let sequence = packet.sequence;
        let mut incomplete = None;
        if self
            .fragment
            .as_ref()
            .is_some_and(|f| f.timestamp != packet.timestamp)
        {
            // The element in fragments never got its marker: the sender's fault (no gap).
            self.drop_fragment();
            self.discontinuity = true;
            incomplete = Some(DepacketizeError::Incomplete { sequence });
        }
        let element = if self.fragment.is_none() && packet.marker {
            packet.payload.clone()
        } else {
            let held = self.fragment.as_ref().map_or(0, |f| f.data.len());
            if held + packet.payload.len() > MAX_ELEMENT {
                self.stats.too_large += 1;
                return Err(DepacketizeError::TooLarge {
                    sequence,
                    limit: MAX_ELEMENT,
                });
            }
            let fragment = self.fragment.get_or_insert_with(|| Fragment {
                timestamp: packet.timestamp,
                data: BytesMut::new(),
            });
            fragment.data.put_slice(&packet.payload);
            if !packet.marker {
                return incomplete.map_or(Ok(()), Err);
            }
            match self.fragment.take() {
                Some(f) => f.data.freeze(),
                None => return incomplete.map_or(Ok(()), Err),
            }
        };
        let frames =
            frames(&element).map_err(|what| DepacketizeError::Malformed { sequence, what })?;
        for (i, &(start, len)) in frames.iter().enumerate() {
            if len == 0 {
                continue;
            }
            let offset = self.frame_duration.wrapping_mul(i as u32);
            self.emit(
                packet.timestamp.wrapping_add(offset),
                element.slice(start..start + len),
            );
        }
        incomplete.map_or(Ok(()), Err)
    }

    fn emit(&mut self, timestamp: u32, data: Bytes) {
        let unit = AccessUnit {
            timestamp,
            data,
            keyframe: false,
            new_parameters: false,
            discontinuity: std::mem::take(&mut self.discontinuity),
        };
        self.ready.push(unit, &mut self.stats);
    }
}

/// MP4A-LATM RTP packets (`cpresent=0`) from AAC frames.
#[derive(Debug)]
pub struct Packetizer {
    writer: RtpWriter,
    mtu: usize,
}

impl Packetizer {
    pub fn new(writer: RtpWriter, mtu: usize) -> Packetizer {
        Packetizer {
            writer,
            mtu: clamp_mtu(mtu),
        }
    }

    pub fn next_sequence(&self) -> u16 {
        self.writer.sequence
    }

    /// One raw AAC frame (no ADTS) as one audioMuxElement, in one packet or in fragments of
    /// at most the MTU with the marker bit on the last (RFC 6416 §6.1). Frames over
    /// [`MAX_ELEMENT`] less their length bytes are refused.
    pub fn packetize(
        &mut self,
        timestamp: u32,
        frame: &[u8],
        out: &mut Vec<Bytes>,
    ) -> Result<(), PacketizeError> {
        if frame.is_empty() {
            return Err(PacketizeError::Malformed {
                what: "empty AAC frame",
            });
        }
        let element_len = length_info_len(frame.len()) + frame.len();
        if element_len > MAX_ELEMENT {
            return Err(PacketizeError::TooLarge {
                len: frame.len(),
                limit: MAX_ELEMENT - length_info_len(MAX_ELEMENT),
            });
        }
        let mut element = BytesMut::with_capacity(element_len);
        element.put_bytes(255, frame.len() / 255);
        element.put_u8((frame.len() % 255) as u8);
        element.put_slice(frame);
        let pieces = element.len().div_ceil(self.mtu);
        let mut buf = BytesMut::with_capacity(element.len() + pieces * super::FIXED_HEADER_LEN);
        for (i, piece) in element.chunks(self.mtu).enumerate() {
            let last = i + 1 == pieces;
            out.push(self.writer.packet(&mut buf, last, timestamp, &[piece]));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
