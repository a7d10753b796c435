//! Length-prefixed NAL units (ISO/IEC 14496-15 §5.3.2 / §8.3.2 sample format, what RTMP
//! and FLV carry) to the Annex B byte stream (H.264 Annex B, H.265 Annex B) that MPEG-TS
//! needs, with the access unit delimiter ISO/IEC 13818-1 §2.14 asks for; and [`split`], the
//! other direction's first step: the NAL units of an Annex B byte stream.

use bytes::{BufMut, Bytes};

use super::{CodecError, NalFormat};

/// The 4-byte start code (zero_byte + start_code_prefix_one_3bytes) written before every NAL.
const START_CODE: [u8; 4] = [0x00, 0x00, 0x00, 0x01];
/// H.264 AUD (§7.3.2.4): NAL type 9, primary_pic_type 7 (any slice type), stop bit.
const AVC_AUD: [u8; 6] = [0x00, 0x00, 0x00, 0x01, 0x09, 0xf0];
/// H.265 AUD (§7.3.2.5): NAL type 35, layer 0, TemporalId 0, pic_type 2 (I, P, B), stop bit.
const HEVC_AUD: [u8; 7] = [0x00, 0x00, 0x00, 0x01, 0x46, 0x01, 0x50];

const AVC_NAL_SPS: u8 = 7;
const AVC_NAL_PPS: u8 = 8;
const AVC_NAL_AUD: u8 = 9;
const HEVC_NAL_VPS: u8 = 32;
const HEVC_NAL_SPS: u8 = 33;
const HEVC_NAL_PPS: u8 = 34;
const HEVC_NAL_AUD: u8 = 35;

/// Iterates over the NAL units of a length-prefixed frame. Yields an error (once, then stops)
/// when a length prefix or a NAL runs past the end. Zero-length NAL units are yielded as
/// empty slices; callers usually skip them.
#[derive(Debug, Clone)]
pub struct NalUnits<'a> {
    rest: &'a [u8],
    length_size: usize,
}

impl<'a> NalUnits<'a> {
    /// `nal_length_size` must be 1..=4 (lengthSizeMinusOne + 1 of the configuration record).
    pub fn new(frame: &'a [u8], nal_length_size: u8) -> Result<NalUnits<'a>, CodecError> {
        if !(1..=4).contains(&nal_length_size) {
            return Err(CodecError::Invalid {
                what: "NAL length size (must be 1 to 4 bytes)",
            });
        }
        Ok(NalUnits {
            rest: frame,
            length_size: usize::from(nal_length_size),
        })
    }
}

impl<'a> Iterator for NalUnits<'a> {
    type Item = Result<&'a [u8], CodecError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let Some((prefix, after)) = self.rest.split_at_checked(self.length_size) else {
            self.rest = &[];
            return Some(Err(CodecError::Truncated {
                what: "NAL length prefix",
            }));
        };
        let len = prefix
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        let Some((nal, rest)) = after.split_at_checked(len) else {
            self.rest = &[];
            return Some(Err(CodecError::Truncated {
                what: "NAL unit (length runs past the frame)",
            }));
        };
        self.rest = rest;
        Some(Ok(nal))
    }
}

/// The 3-byte start_code_prefix_one_3bytes (H.264 §B.1.1, H.265 §B.2.1) every NAL unit of
/// an Annex B byte stream follows.
const START_CODE_PREFIX: [u8; 3] = [0x00, 0x00, 0x01];

/// The NAL units of an Annex B byte stream (H.264 Annex B, H.265 Annex B), without their
/// start codes: each unit runs from after a `00 00 01` to the next one, with its trailing zero
/// bytes (the next 4-byte start code's zero_byte, trailing_zero_8bits) removed. Bytes before
/// the first start code are skipped; units left empty are not yielded. Allocates nothing.
pub fn split(stream: &[u8]) -> AnnexBNals<'_> {
    AnnexBNals {
        rest: find_start(stream).map_or(&[][..], |at| &stream[at + START_CODE_PREFIX.len()..]),
    }
}

/// The offset of the first `00 00 01` in `data`.
fn find_start(data: &[u8]) -> Option<usize> {
    data.windows(START_CODE_PREFIX.len())
        .position(|w| w == START_CODE_PREFIX)
}

/// Iterator returned by [`split`].
#[derive(Debug, Clone)]
pub struct AnnexBNals<'a> {
    /// The input after the start code of the unit to yield next.
    rest: &'a [u8],
}

impl<'a> Iterator for AnnexBNals<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        while !self.rest.is_empty() {
            let (mut nal, rest) = match find_start(self.rest) {
                Some(at) => (&self.rest[..at], &self.rest[at + START_CODE_PREFIX.len()..]),
                None => (self.rest, &[][..]),
            };
            self.rest = rest;
            while let [head @ .., 0] = nal {
                nal = head;
            }
            if !nal.is_empty() {
                return Some(nal);
            }
        }
        None
    }
}

/// Which parameter set types a frame carries.
#[derive(Debug, Default)]
struct Carried {
    vps: bool,
    sps: bool,
    pps: bool,
}

impl Carried {
    fn note(&mut self, kind: NalFormat, nal_type: u8) {
        match (kind, nal_type) {
            (NalFormat::Hevc, HEVC_NAL_VPS) => self.vps = true,
            (NalFormat::Avc, AVC_NAL_SPS) | (NalFormat::Hevc, HEVC_NAL_SPS) => self.sps = true,
            (NalFormat::Avc, AVC_NAL_PPS) | (NalFormat::Hevc, HEVC_NAL_PPS) => self.pps = true,
            _ => {}
        }
    }

    fn complete(&self, kind: NalFormat) -> bool {
        self.sps && self.pps && (kind == NalFormat::Avc || self.vps)
    }
}

fn is_aud(kind: NalFormat, nal: &[u8]) -> bool {
    let nal_type = nal.first().map(|&b| kind.nal_type(b));
    match kind {
        NalFormat::Avc => nal_type == Some(AVC_NAL_AUD),
        NalFormat::Hevc => nal_type == Some(HEVC_NAL_AUD),
    }
}

fn add(total: usize, more: usize) -> Result<usize, CodecError> {
    total.checked_add(more).ok_or(CodecError::Invalid {
        what: "Annex B output size overflows",
    })
}

/// Appends an access unit in Annex B: an AUD (H.264: `00 00 00 01 09 F0`; H.265:
/// `00 00 00 01 46 01 50`), then, if `keyframe`, the `parameter_sets` in the order given
/// (VPS, SPS, PPS) unless the frame already carries them all (H.264: an SPS and a PPS;
/// H.265: a VPS, an SPS and a PPS), then each length-prefixed NAL of `avcc`
/// (`nal_length_size` 1..=4) with a 4-byte start code.
///
/// AUDs already in the input are dropped so the output has exactly one, first, as H.264
/// §7.4.1.2.3 and H.265 §7.4.2.4.4 order it; zero-length NAL units and empty parameter sets
/// are skipped. The whole frame is checked before anything is written, so on `Err` `out` is
/// untouched: a NAL length running past the buffer is `Truncated`, a frame with no NAL unit
/// left is `Invalid`, and an `out` with too little room (a fixed slice) is `NoSpace`.
/// A keyframe with no parameter sets to insert is written as is (undecodable on its own, but
/// not malformed).
pub fn avcc_to_annexb(
    kind: NalFormat,
    nal_length_size: u8,
    parameter_sets: &[Bytes],
    keyframe: bool,
    avcc: &[u8],
    out: &mut impl BufMut,
) -> Result<(), CodecError> {
    // Pass 1: validate, find the parameter sets the frame carries, size the output.
    let mut carried = Carried::default();
    let mut frame_len = 0usize;
    let mut nal_count = 0usize;
    for nal in NalUnits::new(avcc, nal_length_size)? {
        let nal = nal?;
        if nal.is_empty() || is_aud(kind, nal) {
            continue;
        }
        carried.note(kind, kind.nal_type(nal[0]));
        frame_len = add(frame_len, add(START_CODE.len(), nal.len())?)?;
        nal_count += 1;
    }
    if nal_count == 0 {
        return Err(CodecError::Invalid {
            what: "frame has no NAL unit",
        });
    }
    let aud: &[u8] = match kind {
        NalFormat::Avc => &AVC_AUD,
        NalFormat::Hevc => &HEVC_AUD,
    };
    let insert_parameter_sets = keyframe && !carried.complete(kind);
    let mut total = add(aud.len(), frame_len)?;
    if insert_parameter_sets {
        for ps in parameter_sets.iter().filter(|ps| !ps.is_empty()) {
            total = add(total, add(START_CODE.len(), ps.len())?)?;
        }
    }
    if out.remaining_mut() < total {
        return Err(CodecError::NoSpace {
            needed: total,
            available: out.remaining_mut(),
        });
    }

    // Pass 2: write. The iterator yields the same, already validated, units.
    out.put_slice(aud);
    if insert_parameter_sets {
        for ps in parameter_sets.iter().filter(|ps| !ps.is_empty()) {
            out.put_slice(&START_CODE);
            out.put_slice(ps);
        }
    }
    for nal in NalUnits::new(avcc, nal_length_size)? {
        let nal = nal?;
        if nal.is_empty() || is_aud(kind, nal) {
            continue;
        }
        out.put_slice(&START_CODE);
        out.put_slice(nal);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::XorShift;

    const SPS: &[u8] = &[0x67, 0x42, 0xc0, 0x0d];
    const PPS: &[u8] = &[0x68, 0xce, 0x3c, 0x80];
    const IDR: &[u8] = &[0x65, 0x88, 0x84];
    const SEI: &[u8] = &[0x06, 0x05];
    const NON_IDR: &[u8] = &[0x41, 0x9a, 0x02];

    /// Length-prefixes `nals` with `size`-byte big-endian lengths.
    fn avcc(size: u8, nals: &[&[u8]]) -> Vec<u8> {
        let mut v = Vec::new();
        for nal in nals {
            let len = (nal.len() as u32).to_be_bytes();
            v.extend_from_slice(&len[4 - usize::from(size)..]);
            v.extend_from_slice(nal);
        }
        v
    }

    fn convert(
        kind: NalFormat,
        size: u8,
        ps: &[Bytes],
        keyframe: bool,
        frame: &[u8],
    ) -> Result<Vec<u8>, CodecError> {
        let mut out = Vec::new();
        avcc_to_annexb(kind, size, ps, keyframe, frame, &mut out).map(|()| out)
    }

    fn parameter_sets() -> Vec<Bytes> {
        vec![Bytes::from_static(SPS), Bytes::from_static(PPS)]
    }

    #[test]
    fn avc_keyframe_golden_with_every_length_size() {
        let want: &[u8] = &[
            0x00, 0x00, 0x00, 0x01, 0x09, 0xf0, // AUD
            0x00, 0x00, 0x00, 0x01, 0x67, 0x42, 0xc0, 0x0d, // SPS
            0x00, 0x00, 0x00, 0x01, 0x68, 0xce, 0x3c, 0x80, // PPS
            0x00, 0x00, 0x00, 0x01, 0x06, 0x05, // SEI
            0x00, 0x00, 0x00, 0x01, 0x65, 0x88, 0x84, // IDR
        ];
        for size in [1, 2, 3, 4] {
            let frame = avcc(size, &[SEI, IDR]);
            let got = convert(NalFormat::Avc, size, &parameter_sets(), true, &frame).unwrap();
            assert_eq!(got, want, "length size {size}");
        }
        // The 2-byte golden input spelled out.
        let frame = [0x00, 0x02, 0x06, 0x05, 0x00, 0x03, 0x65, 0x88, 0x84];
        assert_eq!(
            convert(NalFormat::Avc, 2, &parameter_sets(), true, &frame).unwrap(),
            want
        );
    }

    #[test]
    fn avc_non_keyframe_golden() {
        let want: &[u8] = &[
            0x00, 0x00, 0x00, 0x01, 0x09, 0xf0, // AUD
            0x00, 0x00, 0x00, 0x01, 0x06, 0x05, // SEI
            0x00, 0x00, 0x00, 0x01, 0x41, 0x9a, 0x02, // non-IDR slice
        ];
        for size in [1, 2, 4] {
            let frame = avcc(size, &[SEI, NON_IDR]);
            let got = convert(NalFormat::Avc, size, &parameter_sets(), false, &frame).unwrap();
            assert_eq!(got, want, "length size {size}");
        }
    }

    #[test]
    fn keyframe_carrying_parameter_sets_gets_no_copy() {
        let frame = avcc(4, &[SPS, PPS, IDR]);
        let got = convert(NalFormat::Avc, 4, &parameter_sets(), true, &frame).unwrap();
        let want: &[u8] = &[
            0x00, 0x00, 0x00, 0x01, 0x09, 0xf0, //
            0x00, 0x00, 0x00, 0x01, 0x67, 0x42, 0xc0, 0x0d, //
            0x00, 0x00, 0x00, 0x01, 0x68, 0xce, 0x3c, 0x80, //
            0x00, 0x00, 0x00, 0x01, 0x65, 0x88, 0x84,
        ];
        assert_eq!(got, want);
        // An SPS alone is not enough: the sequence header's sets go in front.
        let frame = avcc(4, &[SPS, IDR]);
        let got = convert(NalFormat::Avc, 4, &parameter_sets(), true, &frame).unwrap();
        assert_eq!(got.len(), 6 + 8 + 8 + 8 + 7);
    }

    #[test]
    fn existing_auds_are_dropped_and_empty_nals_skipped() {
        let aud: &[u8] = &[0x09, 0xf0];
        let frame = avcc(4, &[aud, &[], NON_IDR, aud]);
        let got = convert(NalFormat::Avc, 4, &[], false, &frame).unwrap();
        assert_eq!(
            got,
            [0x00, 0x00, 0x00, 0x01, 0x09, 0xf0, 0x00, 0x00, 0x00, 0x01, 0x41, 0x9a, 0x02]
        );
        // Nothing but an AUD: no frame.
        let frame = avcc(4, &[aud]);
        assert_eq!(
            convert(NalFormat::Avc, 4, &[], false, &frame),
            Err(CodecError::Invalid {
                what: "frame has no NAL unit"
            })
        );
        assert!(convert(NalFormat::Avc, 4, &[], false, &[]).is_err());
    }

    #[test]
    fn hevc_keyframe_and_inter_golden() {
        let vps: &[u8] = &[0x40, 0x01, 0x0c];
        let sps: &[u8] = &[0x42, 0x01, 0x01];
        let pps: &[u8] = &[0x44, 0x01, 0xc1];
        let idr: &[u8] = &[0x26, 0x01, 0xaf]; // IDR_W_RADL
        let trail: &[u8] = &[0x02, 0x01, 0xd0]; // TRAIL_R
        let aud: &[u8] = &[0x46, 0x01, 0x50];
        let ps = [
            Bytes::from_static(vps),
            Bytes::from_static(sps),
            Bytes::from_static(pps),
        ];
        let got = convert(NalFormat::Hevc, 4, &ps, true, &avcc(4, &[aud, idr])).unwrap();
        let want: &[u8] = &[
            0x00, 0x00, 0x00, 0x01, 0x46, 0x01, 0x50, // AUD
            0x00, 0x00, 0x00, 0x01, 0x40, 0x01, 0x0c, // VPS
            0x00, 0x00, 0x00, 0x01, 0x42, 0x01, 0x01, // SPS
            0x00, 0x00, 0x00, 0x01, 0x44, 0x01, 0xc1, // PPS
            0x00, 0x00, 0x00, 0x01, 0x26, 0x01, 0xaf, // IDR
        ];
        assert_eq!(got, want);
        let got = convert(NalFormat::Hevc, 2, &ps, false, &avcc(2, &[trail])).unwrap();
        let want: &[u8] = &[
            0x00, 0x00, 0x00, 0x01, 0x46, 0x01, 0x50, //
            0x00, 0x00, 0x00, 0x01, 0x02, 0x01, 0xd0,
        ];
        assert_eq!(got, want);
        // SPS + PPS without a VPS is not complete for HEVC.
        let got = convert(NalFormat::Hevc, 4, &ps, true, &avcc(4, &[sps, pps, idr])).unwrap();
        assert_eq!(got.len(), 7 + 3 * 7 + 3 * 7);
        let got = convert(
            NalFormat::Hevc,
            4,
            &ps,
            true,
            &avcc(4, &[vps, sps, pps, idr]),
        )
        .unwrap();
        assert_eq!(got.len(), 7 + 4 * 7);
    }

    #[test]
    fn bad_lengths_are_errors() {
        let ps = parameter_sets();
        // Length runs past the end: 5 announced, 3 present.
        assert_eq!(
            convert(
                NalFormat::Avc,
                4,
                &ps,
                true,
                &[0, 0, 0, 5, 0x65, 0x88, 0x84]
            ),
            Err(CodecError::Truncated {
                what: "NAL unit (length runs past the frame)"
            })
        );
        // A good NAL, then half a length prefix.
        assert_eq!(
            convert(NalFormat::Avc, 4, &ps, true, &[0, 0, 0, 1, 0x65, 0, 0]),
            Err(CodecError::Truncated {
                what: "NAL length prefix"
            })
        );
        // A huge 4-byte length.
        assert!(convert(
            NalFormat::Avc,
            4,
            &ps,
            true,
            &[0xff, 0xff, 0xff, 0xff, 0x65]
        )
        .is_err());
        // 1-byte lengths: 0xff announced.
        assert!(convert(NalFormat::Avc, 1, &ps, false, &[0xff, 0x41]).is_err());
        for size in [0, 5, 255] {
            assert_eq!(
                convert(NalFormat::Avc, size, &ps, false, &avcc(4, &[NON_IDR])),
                Err(CodecError::Invalid {
                    what: "NAL length size (must be 1 to 4 bytes)"
                })
            );
        }
    }

    #[test]
    fn errors_leave_the_output_untouched() {
        let mut out = vec![0xaa];
        let frame = [0, 0, 0, 2, 0x41, 0x9a, 0, 0, 0, 9, 0x41];
        assert!(avcc_to_annexb(NalFormat::Avc, 4, &[], true, &frame, &mut out).is_err());
        assert_eq!(out, [0xaa]);
        // A fixed slice too small: refused, not a panic.
        let mut buf = [0u8; 8];
        let mut slice = &mut buf[..];
        assert_eq!(
            avcc_to_annexb(
                NalFormat::Avc,
                4,
                &[],
                false,
                &avcc(4, &[NON_IDR]),
                &mut slice
            ),
            Err(CodecError::NoSpace {
                needed: 13,
                available: 8
            })
        );
        assert_eq!(buf, [0u8; 8]);
        let mut buf = [0u8; 13];
        let mut slice = &mut buf[..];
        avcc_to_annexb(
            NalFormat::Avc,
            4,
            &[],
            false,
            &avcc(4, &[NON_IDR]),
            &mut slice,
        )
        .unwrap();
        assert_eq!(buf[10..], *NON_IDR);
    }

    #[test]
    fn nal_units_iterator() {
        let frame = avcc(3, &[SEI, &[], IDR]);
        let nals: Vec<_> = NalUnits::new(&frame, 3).unwrap().collect();
        assert_eq!(nals, [Ok(SEI), Ok(&[][..]), Ok(IDR)]);
        let mut it = NalUnits::new(&[0, 9, 1], 2).unwrap();
        assert!(it.next().unwrap().is_err());
        assert!(it.next().is_none());
    }

    #[test]
    fn every_truncation_errors_or_drops_whole_nals() {
        let frame = avcc(4, &[SEI, IDR]);
        for cut in 0..frame.len() {
            let r = convert(NalFormat::Avc, 4, &parameter_sets(), true, &frame[..cut]);
            // Cutting exactly after the first NAL leaves a well-formed one-NAL frame.
            if cut == 4 + SEI.len() {
                assert!(r.is_ok());
            } else {
                assert!(r.is_err(), "cut at {cut}");
            }
        }
    }

    #[test]
    fn fuzz_never_panics_and_output_is_annexb() {
        let mut rng = XorShift(0xa11e_b000);
        let ps = parameter_sets();
        for i in 0..20_000 {
            let size = (rng.below(5)) as u8;
            let kind = if rng.below(2) == 0 {
                NalFormat::Avc
            } else {
                NalFormat::Hevc
            };
            let mut frame = if i % 2 == 0 {
                avcc(size.clamp(1, 4), &[SEI, IDR, NON_IDR])
            } else {
                (0..rng.below(24)).map(|_| rng.next() as u8).collect()
            };
            for _ in 0..rng.below(3) {
                if !frame.is_empty() {
                    let at = rng.below(frame.len());
                    frame[at] = rng.next() as u8;
                }
            }
            let mut out = Vec::new();
            if avcc_to_annexb(kind, size, &ps, rng.below(2) == 0, &frame, &mut out).is_ok() {
                assert_eq!(out[..4], START_CODE);
                assert!(out.len() > 7);
            } else {
                assert!(out.is_empty());
            }
        }
    }

    #[test]
    fn split_handles_3_and_4_byte_start_codes() {
        let data = [0, 0, 1, 0x65, 1, 2, 0, 0, 0, 1, 0x41, 9, 0, 0, 1, 0x06, 0];
        let nals: Vec<&[u8]> = split(&data).collect();
        assert_eq!(nals, [&[0x65, 1, 2][..], &[0x41, 9][..], &[0x06][..]]);
        assert_eq!(split(&[1, 2, 3]).count(), 0);
        assert_eq!(split(&[]).count(), 0);
        // Leading garbage, empty units, zero stuffing between units.
        let data = [7, 0, 0, 1, 0, 0, 1, 0x67, 0, 0, 0, 0, 0, 0, 1, 0x68, 0xce];
        let nals: Vec<&[u8]> = split(&data).collect();
        assert_eq!(nals, [&[0x67][..], &[0x68, 0xce][..]]);
        // A start code cut at the end of the buffer stays part of the last unit's zeros.
        let nals: Vec<&[u8]> = split(&[0, 0, 0, 1, 0x41, 0, 0]).collect();
        assert_eq!(nals, [&[0x41][..]]);
    }

    #[test]
    fn split_round_trips_what_start_codes_join() {
        let mut rng = XorShift(0x5911_7000);
        for _ in 0..2000 {
            // Units without 00 00 0x (so they are valid NAL payloads) and a nonzero last byte.
            let units: Vec<Vec<u8>> = (0..rng.below(5))
                .map(|_| {
                    let mut u: Vec<u8> = (0..1 + rng.below(8))
                        .map(|_| 1 + (rng.next() % 255) as u8)
                        .collect();
                    if rng.below(2) == 0 {
                        u.insert(0, 0);
                    }
                    u
                })
                .filter(|u| u.last() != Some(&0))
                .collect();
            let mut stream = Vec::new();
            for u in &units {
                if rng.below(2) == 0 {
                    stream.push(0);
                }
                stream.extend_from_slice(&START_CODE_PREFIX);
                stream.extend_from_slice(u);
            }
            let got: Vec<&[u8]> = split(&stream).collect();
            let want: Vec<&[u8]> = units.iter().map(Vec::as_slice).collect();
            assert_eq!(got, want);
        }
    }
}
