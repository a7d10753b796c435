//! What the NAL-unit payload formats share: H.264 (RFC 6184) and H.265 (RFC 7798) differ in
//! the size of the NAL unit header and the numbers of their packet types, not in how packets
//! make access units. [`super::h264`] and [`super::h265`] give a [`Layout`] and make the
//! [`Depacketizer`] and [`Packetizer`] here (`h264::depacketizer(&params)`,
//! `h265::packetizer(writer, mtu, 4)`).
//!
//! Access units (RFC 6184 §5.1, RFC 7798 §4.4.1 for the marker bit): a unit ends with the
//! packet that has the marker bit, or when a packet with another timestamp arrives. Two
//! camera quirks are tolerated:
//! * A marker bit or a timestamp change before any picture data (Reolink marks the packet of
//!   its SPS/PPS and stamps them with a timestamp of their own): the parameter sets are kept
//!   and join the picture that follows, with its timestamp (H.264 §7.4.1.2.3: they precede
//!   the picture in its access unit).
//! * A single NAL unit packet holding an Annex B stream (start codes inside): split at the
//!   start codes (a NAL unit cannot contain `00 00 01`, so this cannot cut a good one).
//! * A fragment unit with both start and end bits (RFC 6184 §5.8 forbids it): a whole NAL
//!   unit.

use bytes::{BufMut, Bytes, BytesMut};

use super::payload::{
    clamp_cap, clamp_mtu, AccessUnit, DepacketizeError, DepacketizeStats, PacketizeError, Ready,
    RtpWriter, SequenceCheck, DEFAULT_MAX_ACCESS_UNIT,
};
use super::RtpPacket;
use crate::wire::codec::annexb::{self, NalUnits};
use crate::wire::codec::h264::AvcConfig;
use crate::wire::codec::h265::HevcConfig;
use crate::wire::codec::NalFormat;
use crate::wire::sdp::fmtp;

/// Bytes of the big-endian length in front of each NAL unit of an access unit we give out.
pub const LENGTH_SIZE: usize = 4;
/// Size field of an aggregation unit (STAP-A, AP).
const AGGREGATION_SIZE_LEN: usize = 2;
/// The FU header's start and end bits (RFC 6184 §5.8, RFC 7798 §4.4.3).
const FU_START: u8 = 0x80;
const FU_END: u8 = 0x40;
/// The forbidden_zero_bit of the first header byte.
const FORBIDDEN_BIT: u8 = 0x80;
/// How many finished units wait for `pop`: a push finishes at most two (the previous unit on
/// a timestamp change, this one on its marker bit).
const READY_CAP: usize = 4;
/// What a fragment whose start was not seen is called in [`DepacketizeError::Malformed`].
const FRAGMENT_WITHOUT_START: &str = "fragment without its start";
/// Slot of each parameter set kind in [`Depacketizer::parameter_sets`].
pub const VPS: usize = 0;
pub const SPS: usize = 1;
pub const PPS: usize = 2;

/// The numbers of one NAL-unit payload format.
#[derive(Debug)]
pub struct Layout {
    pub format: NalFormat,
    /// Bytes of the NAL unit header: 1 (H.264) or 2 (H.265).
    pub header_len: usize,
    /// Packet type of an aggregation packet: STAP-A (24) or AP (48).
    pub aggregation: u8,
    /// Packet type of a fragmentation unit: FU-A (28) or FU (49).
    pub fragmentation: u8,
    /// Bits of the NAL unit type in an FU header.
    pub fu_type_mask: u8,
    /// Packet types we do not handle, with their names.
    pub unsupported: &'static [(u8, &'static str)],
    /// NAL unit types of picture data (VCL).
    pub is_vcl: fn(u8) -> bool,
    /// NAL unit types of a random access point (IDR, IRAP).
    pub is_keyframe: fn(u8) -> bool,
    /// The parameter set slot ([`VPS`], [`SPS`], [`PPS`]) of a NAL unit type.
    pub parameter_slot: fn(u8) -> Option<usize>,
}

impl Layout {
    /// Whether `nal_type` names a packet structure (aggregation, fragmentation, the
    /// unsupported ones), which a NAL unit sent alone must not have.
    fn is_packet_type(&self, nal_type: u8) -> bool {
        nal_type == self.aggregation
            || nal_type == self.fragmentation
            || self.unsupported.iter().any(|(t, _)| *t == nal_type)
    }
}

/// One piece of a packet's payload.
enum Unit<'a> {
    /// A whole NAL unit, header included.
    Nal(&'a [u8]),
    /// A fragment; the first one carries the NAL unit header rebuilt from the FU headers.
    Fragment {
        header: Option<[u8; 2]>,
        end: bool,
        data: &'a [u8],
    },
}

/// Why a payload does not parse.
enum PayloadError {
    Malformed(&'static str),
    Unsupported(&'static str),
}

/// Calls `f` with each unit of a packet's payload, in order.
fn for_each_unit<'a, E>(
    layout: &Layout,
    payload: &'a [u8],
    mut f: impl FnMut(Unit<'a>) -> Result<(), E>,
    bad: impl Fn(PayloadError) -> E,
) -> Result<(), E> {
    let malformed = |what| bad(PayloadError::Malformed(what));
    let Some(&first) = payload.first() else {
        return Err(malformed("empty payload"));
    };
    if payload.starts_with(&[0, 0, 1]) || payload.starts_with(&[0, 0, 0, 1]) {
        // An Annex B stream instead of a NAL unit: no NAL unit header starts with 00 00.
        return annexb_units(payload, f);
    }
    if first & FORBIDDEN_BIT != 0 {
        return Err(malformed("forbidden_zero_bit set"));
    }
    if payload.len() < layout.header_len {
        return Err(malformed("shorter than a NAL unit header"));
    }
    let packet_type = layout.format.nal_type(first);
    if packet_type == layout.aggregation {
        let mut rest = &payload[layout.header_len..];
        if rest.is_empty() {
            return Err(malformed("aggregation packet without units"));
        }
        while !rest.is_empty() {
            let Some((size, after)) = rest.split_at_checked(AGGREGATION_SIZE_LEN) else {
                return Err(malformed("aggregation unit size cut"));
            };
            let size = usize::from(u16::from_be_bytes([size[0], size[1]]));
            if size == 0 {
                return Err(malformed("empty aggregation unit"));
            }
            let Some((nal, after)) = after.split_at_checked(size) else {
                return Err(malformed("aggregation unit runs past the packet"));
            };
            f(Unit::Nal(nal))?;
            rest = after;
        }
        return Ok(());
    }
    if packet_type == layout.fragmentation {
        let Some(&fu) = payload.get(layout.header_len) else {
            return Err(malformed("fragmentation unit without its FU header"));
        };
        let nal_type = fu & layout.fu_type_mask;
        if nal_type == layout.aggregation || nal_type == layout.fragmentation {
            return Err(malformed("fragmentation unit of a packet type"));
        }
        let header = (fu & FU_START != 0).then(|| match layout.format {
            NalFormat::Avc => [(first & 0xe0) | nal_type, 0],
            NalFormat::Hevc => [(first & 0x81) | (nal_type << 1), payload[1]],
        });
        return f(Unit::Fragment {
            header,
            end: fu & FU_END != 0,
            data: &payload[layout.header_len + 1..],
        });
    }
    if let Some((_, name)) = layout.unsupported.iter().find(|(t, _)| *t == packet_type) {
        return Err(bad(PayloadError::Unsupported(name)));
    }
    if payload.windows(3).any(|w| w == [0, 0, 1]) {
        return annexb_units(payload, f);
    }
    f(Unit::Nal(payload))
}

/// The NAL units of a payload holding an Annex B stream: what precedes the first start code
/// (if anything), then the units between start codes.
fn annexb_units<'a, E>(
    payload: &'a [u8],
    mut f: impl FnMut(Unit<'a>) -> Result<(), E>,
) -> Result<(), E> {
    let first_code = payload.windows(3).position(|w| w == [0, 0, 1]).unwrap_or(0);
    let lead = annexb_trim(&payload[..first_code]);
    if !lead.is_empty() {
        f(Unit::Nal(lead))?;
    }
    for nal in annexb::split(&payload[first_code..]) {
        f(Unit::Nal(nal))?;
    }
    Ok(())
}

fn annexb_trim(mut nal: &[u8]) -> &[u8] {
    while let [rest @ .., 0] = nal {
        nal = rest;
    }
    nal
}

/// The access unit being assembled.
#[derive(Debug, Default)]
struct Picture {
    has_vcl: bool,
    keyframe: bool,
}

/// Parameter sets known (from the SDP or in band) and whether one changed since the last unit
/// given out.
#[derive(Debug, Default)]
struct ParameterSets {
    sets: [Option<Bytes>; 3],
    changed: bool,
}

/// Reassembles NAL units from packets into access units (see the module documentation and
/// [`super::payload`] for the contract).
#[derive(Debug)]
pub struct Depacketizer {
    layout: &'static Layout,
    max_access_unit: usize,
    /// The unit being assembled: 4-byte lengths and NAL units.
    au: BytesMut,
    /// RTP timestamp of the unit being assembled; `None` when idle.
    timestamp: Option<u32>,
    /// Where in `au` the length of the NAL unit being reassembled from fragments is.
    fragment_at: Option<usize>,
    picture: Picture,
    /// Dropping the rest of the unit with this timestamp (after a loss or an error).
    skipping: Option<u32>,
    sequence: SequenceCheck,
    discontinuity: bool,
    parameters: ParameterSets,
    ready: Ready,
    stats: DepacketizeStats,
}

impl Depacketizer {
    /// A depacketizer that knows `sets` (NAL units of VPS, SPS, PPS type; others ignored)
    /// from the start. See `h264::depacketizer`, `h265::depacketizer`.
    pub fn new<'a>(layout: &'static Layout, sets: impl Iterator<Item = &'a Bytes>) -> Self {
        let mut parameters = ParameterSets::default();
        for set in sets {
            if let Some(slot) = set
                .first()
                .and_then(|&b| (layout.parameter_slot)(layout.format.nal_type(b)))
            {
                parameters.sets[slot].get_or_insert_with(|| set.clone());
            }
        }
        Depacketizer {
            layout,
            max_access_unit: DEFAULT_MAX_ACCESS_UNIT,
            au: BytesMut::new(),
            timestamp: None,
            fragment_at: None,
            picture: Picture::default(),
            skipping: None,
            sequence: SequenceCheck::default(),
            discontinuity: false,
            parameters,
            ready: Ready::new(READY_CAP),
            stats: DepacketizeStats::default(),
        }
    }

    /// Another cap on the access unit size (at least [`super::MIN_MAX_ACCESS_UNIT`]).
    pub fn with_max_access_unit(mut self, max: usize) -> Self {
        self.max_access_unit = clamp_cap(max);
        self
    }

    pub fn stats(&self) -> DepacketizeStats {
        self.stats
    }

    pub fn pop(&mut self) -> Option<AccessUnit> {
        self.ready.pop()
    }

    /// The latest parameter set of each kind ([`VPS`], [`SPS`], [`PPS`]), from the SDP or in
    /// band.
    pub fn parameter_sets(&self) -> &[Option<Bytes>; 3] {
        &self.parameters.sets
    }

    /// The latest VPS (H.265 only).
    pub fn vps(&self) -> Option<&Bytes> {
        self.parameters.sets[VPS].as_ref()
    }

    pub fn sps(&self) -> Option<&Bytes> {
        self.parameters.sets[SPS].as_ref()
    }

    pub fn pps(&self) -> Option<&Bytes> {
        self.parameters.sets[PPS].as_ref()
    }

    /// H.264: the decoder configuration of the latest SPS and PPS, with 4-byte NAL lengths as
    /// the access units have them, once both are known. `None` for H.265.
    pub fn avc_config(&self) -> Option<AvcConfig> {
        match self.layout.format {
            NalFormat::Avc => fmtp::avc_config(self.sps()?.clone(), self.pps()?.clone()),
            NalFormat::Hevc => None,
        }
    }

    /// H.265: the decoder configuration of the latest VPS, SPS and PPS (4-byte NAL lengths),
    /// once all three are known and the SPS's profile_tier_level parses. `None` for H.264.
    pub fn hevc_config(&self) -> Option<HevcConfig> {
        match self.layout.format {
            NalFormat::Hevc => HevcConfig::from_parameter_sets(
                self.vps()?.clone(),
                self.sps()?.clone(),
                self.pps()?.clone(),
                LENGTH_SIZE as u8,
            )
            .ok(),
            NalFormat::Avc => None,
        }
    }

    pub fn push(&mut self, packet: &RtpPacket) -> Result<(), DepacketizeError> {
        self.stats.packets += 1;
        let (sequence, timestamp) = (packet.sequence, packet.timestamp);
        let after_loss = self.sequence.is_gap(sequence, &mut self.stats);
        if after_loss {
            self.discontinuity = true;
            if let Some(au_timestamp) = self.timestamp {
                self.drop_unit();
                if au_timestamp == timestamp {
                    self.skipping = Some(timestamp);
                }
            }
        }
        if let Some(skip) = self.skipping {
            if skip == timestamp {
                self.stats.dropped_packets += 1;
                if packet.marker {
                    self.skipping = None;
                }
                return Ok(());
            }
            self.skipping = None;
        }
        let mut incomplete = None;
        if self.timestamp.is_some_and(|t| t != timestamp) {
            if self.fragment_at.is_some() {
                self.drop_unit();
                self.discontinuity = true;
                incomplete = Some(DepacketizeError::Incomplete { sequence });
            } else if self.picture.has_vcl {
                self.finish();
            }
            // Otherwise only parameter sets or SEI wait: they join the picture that follows,
            // with its timestamp.
        }
        self.timestamp = Some(timestamp);
        let layout = self.layout;
        let mut result = for_each_unit(
            layout,
            &packet.payload,
            |unit| self.add(unit, sequence),
            |e| match e {
                PayloadError::Malformed(what) => DepacketizeError::Malformed { sequence, what },
                PayloadError::Unsupported(what) => DepacketizeError::Unsupported { sequence, what },
            },
        );
        if result.is_ok() && packet.marker && self.fragment_at.is_some() {
            result = Err(DepacketizeError::Malformed {
                sequence,
                what: "marker bit inside a fragmented NAL unit",
            });
        }
        if let Err(e) = result {
            self.fail(timestamp, packet.marker);
            // Right after a loss, a fragment without its start is the loss's doing: counted,
            // not reported.
            let lost_start = after_loss
                && matches!(
                    e,
                    DepacketizeError::Malformed {
                        what: FRAGMENT_WITHOUT_START,
                        ..
                    }
                );
            return if lost_start { Ok(()) } else { Err(e) };
        }
        if packet.marker && self.picture.has_vcl {
            self.finish();
        }
        incomplete.map_or(Ok(()), Err)
    }

    fn add(&mut self, unit: Unit<'_>, sequence: u16) -> Result<(), DepacketizeError> {
        let malformed = |what| DepacketizeError::Malformed { sequence, what };
        match unit {
            Unit::Nal(nal) => {
                if self.fragment_at.is_some() {
                    return Err(malformed("NAL unit inside a fragmented one"));
                }
                if nal.len() < self.layout.header_len || nal[0] & FORBIDDEN_BIT != 0 {
                    return Err(malformed("bad NAL unit header"));
                }
                self.reserve(LENGTH_SIZE + nal.len(), sequence)?;
                // nal.len() fits u32: a packet is at most 64 KiB.
                self.au.put_u32(nal.len() as u32);
                self.au.put_slice(nal);
                note(self.layout, &mut self.picture, &mut self.parameters, nal);
            }
            Unit::Fragment { header, end, data } => {
                match (header, self.fragment_at) {
                    (Some(_), Some(_)) => {
                        return Err(malformed("fragment start inside a fragmented NAL unit"))
                    }
                    (None, None) => return Err(malformed(FRAGMENT_WITHOUT_START)),
                    (Some(header), None) => {
                        let header = &header[..self.layout.header_len];
                        self.reserve(LENGTH_SIZE + header.len() + data.len(), sequence)?;
                        self.fragment_at = Some(self.au.len());
                        self.au.put_u32(0);
                        self.au.put_slice(header);
                    }
                    (None, Some(_)) => self.reserve(data.len(), sequence)?,
                }
                self.au.put_slice(data);
                if end {
                    if let Some(at) = self.fragment_at.take() {
                        let nal_start = at + LENGTH_SIZE;
                        // The unit is at most the cap, which fits u32 (see `reserve`).
                        let len = (self.au.len() - nal_start) as u32;
                        self.au[at..nal_start].copy_from_slice(&len.to_be_bytes());
                        note(
                            self.layout,
                            &mut self.picture,
                            &mut self.parameters,
                            &self.au[nal_start..],
                        );
                    }
                }
            }
        }
        Ok(())
    }

    /// Refuses to grow the unit past the cap.
    fn reserve(&mut self, more: usize, sequence: u16) -> Result<(), DepacketizeError> {
        if self.au.len() + more > self.max_access_unit.min(u32::MAX as usize) {
            self.stats.too_large += 1;
            return Err(DepacketizeError::TooLarge {
                sequence,
                limit: self.max_access_unit,
            });
        }
        Ok(())
    }

    /// After an error in a packet: its unit is dropped, and the rest of it skipped unless this
    /// packet ended it.
    fn fail(&mut self, timestamp: u32, marker: bool) {
        self.drop_unit();
        self.stats.dropped_packets += 1;
        self.discontinuity = true;
        self.skipping = (!marker).then_some(timestamp);
    }

    fn drop_unit(&mut self) {
        if self.timestamp.take().is_some() && !self.au.is_empty() {
            self.stats.dropped_access_units += 1;
        }
        self.au.clear();
        self.fragment_at = None;
        self.picture = Picture::default();
    }

    fn finish(&mut self) {
        let Some(timestamp) = self.timestamp.take() else {
            return;
        };
        let unit = AccessUnit {
            timestamp,
            data: self.au.split().freeze(),
            keyframe: self.picture.keyframe,
            new_parameters: std::mem::take(&mut self.parameters.changed),
            discontinuity: std::mem::take(&mut self.discontinuity),
        };
        self.picture = Picture::default();
        self.ready.push(unit, &mut self.stats);
    }
}

/// Takes note of a complete NAL unit: picture data, keyframe, a new parameter set.
fn note(layout: &Layout, picture: &mut Picture, parameters: &mut ParameterSets, nal: &[u8]) {
    let nal_type = layout.format.nal_type(nal[0]);
    if (layout.is_vcl)(nal_type) {
        picture.has_vcl = true;
    }
    if (layout.is_keyframe)(nal_type) {
        picture.keyframe = true;
    }
    if let Some(slot) = (layout.parameter_slot)(nal_type) {
        if parameters.sets[slot].as_deref() != Some(nal) {
            parameters.sets[slot] = Some(Bytes::copy_from_slice(nal));
            parameters.changed = true;
        }
    }
}

/// Splits access units into packets: a NAL unit that fits goes alone (or, with aggregation on,
/// with the small ones next to it in a STAP-A/AP), a larger one in fragmentation units.
#[derive(Debug)]
pub struct Packetizer {
    layout: &'static Layout,
    writer: RtpWriter,
    mtu: usize,
    nal_length_size: u8,
    aggregate: bool,
}

impl Packetizer {
    /// See `h264::packetizer`, `h265::packetizer`.
    pub fn new(
        layout: &'static Layout,
        writer: RtpWriter,
        mtu: usize,
        nal_length_size: u8,
    ) -> Self {
        Packetizer {
            layout,
            writer,
            mtu: clamp_mtu(mtu),
            nal_length_size,
            aggregate: true,
        }
    }

    /// Whether consecutive small NAL units share an aggregation packet (on by default: the
    /// parameter sets and SEI in front of a keyframe then cost one packet).
    pub fn with_aggregation(mut self, aggregate: bool) -> Self {
        self.aggregate = aggregate;
        self
    }

    pub fn next_sequence(&self) -> u16 {
        self.writer.sequence
    }

    /// Appends the packets of one access unit (NAL units with `nal_length_size`-byte lengths;
    /// empty ones skipped) to `out`, the marker bit on the last. NAL units must be what the
    /// codec allows: a forbidden bit, a type RTP reserves for its packets (H.264 0 and 24–31,
    /// H.265 48–63) or a header cut short is refused; start code emulation inside one is not
    /// looked for (the receiver would split there). On error nothing is appended.
    pub fn packetize(
        &mut self,
        timestamp: u32,
        access_unit: &[u8],
        out: &mut Vec<Bytes>,
    ) -> Result<(), PacketizeError> {
        let header_len = self.layout.header_len;
        let nals = NalUnits::new(access_unit, self.nal_length_size)
            .map_err(|_| PacketizeError::Malformed {
                what: "NAL length size",
            })?
            .filter(|n| !matches!(n, Ok(nal) if nal.is_empty()));
        let mut count = 0usize;
        let mut bytes = 0usize;
        for nal in nals.clone() {
            let nal = nal.map_err(|_| PacketizeError::Malformed {
                what: "NAL length runs past the access unit",
            })?;
            if nal.len() < header_len || nal[0] & FORBIDDEN_BIT != 0 {
                return Err(PacketizeError::Malformed {
                    what: "NAL unit without a valid header",
                });
            }
            if self
                .layout
                .is_packet_type(self.layout.format.nal_type(nal[0]))
            {
                return Err(PacketizeError::Malformed {
                    what: "NAL unit of a type RTP uses for its packets",
                });
            }
            count += 1;
            bytes += nal.len();
        }
        if count == 0 {
            return Err(PacketizeError::Malformed {
                what: "access unit without NAL units",
            });
        }
        // Room for every packet, headers and fragment headers included, in one allocation.
        let packets = bytes / (self.mtu - header_len - 1) + count;
        let mut buf = BytesMut::with_capacity(bytes + packets * (super::FIXED_HEADER_LEN + 3));
        let mut nals = nals.map(|n| n.unwrap_or_default()).peekable();
        while let Some(nal) = nals.next() {
            if nal.len() > self.mtu {
                self.fragment(&mut buf, timestamp, nal, nals.peek().is_none(), out);
                continue;
            }
            // Gather the small units that follow while they fit one aggregation packet.
            let mut group = vec![nal];
            let mut size = header_len + AGGREGATION_SIZE_LEN + nal.len();
            while let Some(next) = nals.peek().filter(|_| self.aggregate) {
                if size + AGGREGATION_SIZE_LEN + next.len() > self.mtu {
                    break;
                }
                size += AGGREGATION_SIZE_LEN + next.len();
                group.push(next);
                nals.next();
            }
            let last = nals.peek().is_none();
            if let [single] = group[..] {
                out.push(self.writer.packet(&mut buf, last, timestamp, &[single]));
                continue;
            }
            let header = self.aggregation_header(&group);
            let mut parts: Vec<&[u8]> = Vec::with_capacity(1 + 2 * group.len());
            let sizes: Vec<[u8; 2]> = group
                .iter()
                .map(|n| (n.len() as u16).to_be_bytes())
                .collect();
            parts.push(&header[..header_len]);
            for (nal, len) in group.iter().zip(&sizes) {
                parts.push(len);
                parts.push(nal);
            }
            out.push(self.writer.packet(&mut buf, last, timestamp, &parts));
        }
        Ok(())
    }

    /// FU packets of one NAL unit larger than the MTU.
    fn fragment(
        &mut self,
        buf: &mut BytesMut,
        timestamp: u32,
        nal: &[u8],
        last_nal: bool,
        out: &mut Vec<Bytes>,
    ) {
        let header_len = self.layout.header_len;
        let (indicator, nal_type) = match self.layout.format {
            NalFormat::Avc => (
                [(nal[0] & 0xe0) | self.layout.fragmentation, 0],
                nal[0] & 0x1f,
            ),
            NalFormat::Hevc => (
                [(nal[0] & 0x81) | (self.layout.fragmentation << 1), nal[1]],
                (nal[0] >> 1) & 0x3f,
            ),
        };
        let chunk = self.mtu - header_len - 1;
        let data = &nal[header_len..];
        let pieces = data.len().div_ceil(chunk);
        for (i, piece) in data.chunks(chunk).enumerate() {
            let start = if i == 0 { FU_START } else { 0 };
            let end = if i + 1 == pieces { FU_END } else { 0 };
            let fu = [start | end | nal_type];
            let marker = last_nal && end != 0;
            out.push(self.writer.packet(
                buf,
                marker,
                timestamp,
                &[&indicator[..header_len], &fu, piece],
            ));
        }
    }

    /// The STAP-A header (F or-ed, the highest NRI; RFC 6184 §5.7.1) or AP header (the lowest
    /// LayerId and TID; RFC 7798 §4.4.2) of `group`.
    fn aggregation_header(&self, group: &[&[u8]]) -> [u8; 2] {
        match self.layout.format {
            NalFormat::Avc => {
                let nri = group.iter().map(|n| n[0] & 0x60).max().unwrap_or(0);
                [nri | self.layout.aggregation, 0]
            }
            NalFormat::Hevc => {
                // nuh_layer_id spans the two header bytes; TemporalId+1 is the low 3 bits.
                let layer_id = |n: &&[u8]| ((n[0] & 1) << 5) | (n[1] >> 3);
                let layer = group.iter().map(layer_id).min().unwrap_or(0);
                let tid = group.iter().map(|n| n[1] & 0x07).min().unwrap_or(1);
                [
                    (self.layout.aggregation << 1) | (layer >> 5),
                    ((layer & 0x1f) << 3) | tid,
                ]
            }
        }
    }
}

/// NAL units with 4-byte lengths: what the tests feed the packetizers and expect back.
#[cfg(test)]
pub(super) fn length_prefixed(nals: &[&[u8]]) -> Bytes {
    let mut out = BytesMut::new();
    for nal in nals {
        out.put_u32(nal.len() as u32);
        out.put_slice(nal);
    }
    out.freeze()
}
