//! A bit reader over a NAL unit payload that removes emulation-prevention bytes as it goes
//! (H.264 §7.4.1 / H.265 §7.4.2: in `00 00 03 0x` the `03` is not part of the RBSP), with the
//! fixed-width `u(n)` and exp-Golomb `ue(v)` / `se(v)` descriptors (H.264 §9.1, H.265 §9.2).
//! [`BitReader::raw`] reads plain bits (MPEG-4 audio has no emulation prevention).
//!
//! Nothing is copied or allocated: the reader walks the escaped bytes directly. Every read is
//! bounded by the input; running off the end is [`CodecError::Truncated`] with the reader's
//! context string.

use super::CodecError;

/// The longest exp-Golomb prefix accepted. 31 leading zeros code values up to 2^32 - 2, the
/// largest any `ue(v)` in H.264 or H.265 may take; more is corrupt or hostile input.
pub const MAX_EXP_GOLOMB_LEADING_ZEROS: u32 = 31;

/// Reads bits MSB first from an escaped NAL payload (the NAL header already skipped).
#[derive(Debug, Clone)]
pub struct BitReader<'a> {
    data: &'a [u8],
    /// Index in `data` of the next byte to load.
    next: usize,
    /// Consecutive zero bytes loaded just before `next`, for emulation prevention.
    zeros: u8,
    /// The byte being read and how many of its bits (low bits) are still unread.
    current: u8,
    bits_left: u8,
    /// Whether `00 00 03` sequences are escapes (NAL units) or plain data.
    escaped: bool,
    /// Names the structure being read, for error messages ("H.264 SPS").
    what: &'static str,
}

impl<'a> BitReader<'a> {
    /// A reader over a NAL unit payload: emulation-prevention bytes are dropped. `what`
    /// names the structure, and is carried by every error this reader returns.
    pub fn new(data: &'a [u8], what: &'static str) -> BitReader<'a> {
        BitReader {
            data,
            next: 0,
            zeros: 0,
            current: 0,
            bits_left: 0,
            escaped: true,
            what,
        }
    }

    /// A reader over plain bits (no emulation prevention), e.g. an AudioSpecificConfig.
    pub fn raw(data: &'a [u8], what: &'static str) -> BitReader<'a> {
        BitReader {
            escaped: false,
            ..BitReader::new(data, what)
        }
    }

    fn truncated(&self) -> CodecError {
        CodecError::Truncated { what: self.what }
    }

    /// Loads the next RBSP byte, dropping an emulation_prevention_three_byte.
    fn load(&mut self) -> Result<(), CodecError> {
        let mut byte = *self.data.get(self.next).ok_or(self.truncated())?;
        self.next += 1;
        if self.escaped && self.zeros >= 2 && byte == 0x03 {
            byte = *self.data.get(self.next).ok_or(self.truncated())?;
            self.next += 1;
            self.zeros = 0;
        }
        self.zeros = if byte == 0 {
            self.zeros.saturating_add(1)
        } else {
            0
        };
        self.current = byte;
        self.bits_left = 8;
        Ok(())
    }

    /// `u(1)`.
    pub fn read_bit(&mut self) -> Result<bool, CodecError> {
        if self.bits_left == 0 {
            self.load()?;
        }
        self.bits_left -= 1;
        Ok((self.current >> self.bits_left) & 1 == 1)
    }

    /// `u(n)` for `n <= 32`; a larger `n` is a programming error reported as `Invalid`.
    pub fn read_bits(&mut self, n: u32) -> Result<u32, CodecError> {
        if n > 32 {
            return Err(CodecError::Invalid {
                what: "bit field wider than 32 bits",
            });
        }
        let mut value: u64 = 0;
        for _ in 0..n {
            value = (value << 1) | u64::from(self.read_bit()?);
        }
        // At most 32 bits were shifted in.
        u32::try_from(value).map_err(|_| CodecError::Invalid {
            what: "bit field wider than 32 bits",
        })
    }

    /// `u(8)`.
    pub fn read_u8(&mut self) -> Result<u8, CodecError> {
        let v = self.read_bits(8)?;
        Ok(v.to_be_bytes()[3])
    }

    /// Skips `n` bits.
    pub fn skip_bits(&mut self, n: u32) -> Result<(), CodecError> {
        for _ in 0..n {
            self.read_bit()?;
        }
        Ok(())
    }

    /// `ue(v)`: unsigned exp-Golomb. A prefix longer than
    /// [`MAX_EXP_GOLOMB_LEADING_ZEROS`] is `Invalid`.
    pub fn read_ue(&mut self) -> Result<u32, CodecError> {
        let mut leading_zeros = 0u32;
        while !self.read_bit()? {
            leading_zeros += 1;
            if leading_zeros > MAX_EXP_GOLOMB_LEADING_ZEROS {
                return Err(CodecError::Invalid {
                    what: "exp-Golomb code longer than 32 bits",
                });
            }
        }
        let suffix = u64::from(self.read_bits(leading_zeros)?);
        // (2^lz - 1) + suffix <= 2^32 - 2 for lz <= 31.
        let value = (1u64 << leading_zeros) - 1 + suffix;
        u32::try_from(value).map_err(|_| CodecError::Invalid {
            what: "exp-Golomb code longer than 32 bits",
        })
    }

    /// `ue(v)` that must not exceed `max` (a range the spec gives for the field `what`).
    pub fn read_ue_max(&mut self, max: u32, what: &'static str) -> Result<u32, CodecError> {
        let v = self.read_ue()?;
        if v > max {
            return Err(CodecError::Invalid { what });
        }
        Ok(v)
    }

    /// `se(v)`: signed exp-Golomb, k → (-1)^(k+1) * ceil(k / 2).
    pub fn read_se(&mut self) -> Result<i32, CodecError> {
        let k = i64::from(self.read_ue()?);
        let value = if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) };
        // |value| <= 2^31 - 1 because k <= 2^32 - 2.
        i32::try_from(value).map_err(|_| CodecError::Invalid {
            what: "exp-Golomb code longer than 32 bits",
        })
    }

    /// Escaped input bytes not yet loaded (an upper bound on the RBSP bytes left).
    pub fn bytes_left(&self) -> usize {
        self.data.len().saturating_sub(self.next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::XorShift;

    #[test]
    fn fixed_width_fields_msb_first() {
        let mut r = BitReader::new(&[0b1010_0101, 0xff, 0x12, 0x34, 0x56, 0x78], "test");
        assert!(r.read_bit().unwrap());
        assert_eq!(r.read_bits(3).unwrap(), 0b010);
        assert_eq!(r.read_bits(4).unwrap(), 0b0101);
        assert_eq!(r.read_u8().unwrap(), 0xff);
        assert_eq!(r.read_bits(32).unwrap(), 0x1234_5678);
        assert_eq!(r.read_bit(), Err(CodecError::Truncated { what: "test" }));
        assert_eq!(r.read_bits(0).unwrap(), 0);
    }

    #[test]
    fn bits_wider_than_32_are_refused() {
        let data = [0u8; 8];
        let mut r = BitReader::new(&data, "test");
        assert!(matches!(r.read_bits(33), Err(CodecError::Invalid { .. })));
    }

    /// H.264 Table 9-2 / 9-3: bit strings and their ue / se values.
    #[test]
    fn exp_golomb_table() {
        // 1 | 010 | 011 | 00100 | 00101 | 00110 | 00111 | 0001000 → ue 0..=7
        let data = [
            0b1010_0110,
            0b0100_0010,
            0b1001_1000,
            0b1110_0010,
            0b0000_0000,
        ];
        let mut r = BitReader::new(&data, "test");
        for want in 0..=7 {
            assert_eq!(r.read_ue().unwrap(), want);
        }
        let mut r = BitReader::new(&data, "test");
        for want in [0, 1, -1, 2, -2, 3, -3, 4] {
            assert_eq!(r.read_se().unwrap(), want);
        }
    }

    #[test]
    fn exp_golomb_extremes() {
        // 31 zeros, a one, 31 ones: 2^32 - 2, the largest accepted value.
        let data = [0x00, 0x00, 0x00, 0x01, 0xff, 0xff, 0xff, 0xfe];
        let mut r = BitReader::new(&data, "test");
        assert_eq!(r.read_ue().unwrap(), u32::MAX - 1);
        let mut r = BitReader::new(&data, "test");
        assert_eq!(r.read_se().unwrap(), -(i32::MAX));
        // 32 zeros: refused before reading any suffix.
        let data = [0x00, 0x00, 0x00, 0x00, 0x80];
        let mut r = BitReader::new(&data, "test");
        assert_eq!(
            r.read_ue(),
            Err(CodecError::Invalid {
                what: "exp-Golomb code longer than 32 bits"
            })
        );
        // A prefix that runs off the end.
        let mut r = BitReader::new(&[0x00], "sps");
        assert_eq!(r.read_ue(), Err(CodecError::Truncated { what: "sps" }));
        let mut r = BitReader::new(&[0x02], "sps");
        assert_eq!(r.read_ue(), Err(CodecError::Truncated { what: "sps" }));
    }

    #[test]
    fn emulation_prevention_bytes_are_skipped() {
        // 00 00 03 01 → 00 00 01; 00 00 03 00 00 03 03 → 00 00 00 00 03.
        let data = [
            0x00, 0x00, 0x03, 0x01, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x03,
        ];
        let mut r = BitReader::new(&data, "test");
        let got: Vec<u8> = (0..8).map(|_| r.read_u8().unwrap()).collect();
        assert_eq!(got, [0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x03]);
        assert!(r.read_bit().is_err());
        // A raw reader keeps them.
        let mut r = BitReader::raw(&data[..4], "test");
        assert_eq!(r.read_bits(32).unwrap(), 0x0000_0301);
        // A 03 not preceded by two zeros is data.
        let mut r = BitReader::new(&[0x00, 0x03, 0x03], "test");
        assert_eq!(r.read_bits(24).unwrap(), 0x00_0303);
        // An exp-Golomb code whose zeros span an escape.
        let mut r = BitReader::new(&[0x00, 0x00, 0x03, 0x01, 0x80, 0x00, 0x01], "test");
        assert_eq!(r.read_ue().unwrap(), (1 << 23) - 1 + (1 << 22));
        // An escape as the last byte leaves nothing to read.
        let mut r = BitReader::new(&[0x00, 0x00, 0x03], "test");
        assert_eq!(r.read_bits(16).unwrap(), 0);
        assert!(r.read_bit().is_err());
        assert_eq!(r.bytes_left(), 0);
    }

    #[test]
    fn fuzz_reader_never_panics() {
        let mut rng = XorShift(0x0b17_5eed);
        for _ in 0..20_000 {
            let len = rng.below(12);
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    if rng.below(3) == 0 {
                        0
                    } else {
                        rng.next() as u8
                    }
                })
                .collect();
            let mut r = BitReader::new(&data, "fuzz");
            for _ in 0..8 {
                let ok = match rng.below(5) {
                    0 => r.read_ue().is_ok(),
                    1 => r.read_se().is_ok(),
                    2 => r.read_bits(rng.below(40) as u32).is_ok(),
                    3 => r.skip_bits(rng.below(20) as u32).is_ok(),
                    _ => r.read_bit().is_ok(),
                };
                if !ok {
                    break;
                }
            }
        }
    }
}
