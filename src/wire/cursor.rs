//! Big-endian field access over byte slices, shared by the parsers of this module: reads at
//! a named offset (`u16_at(body, LENGTH_AT)`), a [`Reader`] that walks a slice front to back,
//! and the writer half ([`put_u24`]) that `bytes::BufMut` lacks.
//!
//! Every read is bounds-checked and returns [`Short`] (where the input ended and where the
//! field would have ended) instead of panicking; each format turns that into its own error.
//! Nothing allocates, and everything is `#[inline]` so hot paths (RTMP chunk headers) pay
//! nothing over hand indexing.

use bytes::BufMut;

/// A read ran past the end of the input: the field ends at byte `needed`, the input has
/// `len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Short {
    pub needed: usize,
    pub len: usize,
}

/// The `N` bytes at `at`.
#[inline]
pub fn array_at<const N: usize>(buf: &[u8], at: usize) -> Result<[u8; N], Short> {
    let end = at.saturating_add(N);
    buf.get(at..end)
        .and_then(|s| <[u8; N]>::try_from(s).ok())
        .ok_or(Short {
            needed: end,
            len: buf.len(),
        })
}

/// The byte at `at`.
#[inline]
pub fn u8_at(buf: &[u8], at: usize) -> Result<u8, Short> {
    array_at::<1>(buf, at).map(|[b]| b)
}

/// The big-endian u16 at `at`.
#[inline]
pub fn u16_at(buf: &[u8], at: usize) -> Result<u16, Short> {
    array_at(buf, at).map(u16::from_be_bytes)
}

/// The big-endian 24-bit unsigned integer at `at`.
#[inline]
pub fn u24_at(buf: &[u8], at: usize) -> Result<u32, Short> {
    array_at(buf, at).map(|[a, b, c]| u32::from_be_bytes([0, a, b, c]))
}

/// The big-endian 24-bit two's complement integer at `at` (FLV SI24).
#[inline]
pub fn i24_at(buf: &[u8], at: usize) -> Result<i32, Short> {
    array_at(buf, at).map(|[a, b, c]| i32::from_be_bytes([a, b, c, 0]) >> 8)
}

/// The big-endian u32 at `at`.
#[inline]
pub fn u32_at(buf: &[u8], at: usize) -> Result<u32, Short> {
    array_at(buf, at).map(u32::from_be_bytes)
}

/// Writes the low 24 bits of `value`, big-endian.
#[inline]
pub fn put_u24(out: &mut impl BufMut, value: u32) {
    let [_, a, b, c] = value.to_be_bytes();
    out.put_slice(&[a, b, c]);
}

/// Reads fields front to back. A read that does not fit returns [`Short`] and leaves the
/// position where it was.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    #[inline]
    pub const fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    /// A reader at offset `pos` of `buf` (past the end reads nothing).
    #[inline]
    pub const fn at(buf: &'a [u8], pos: usize) -> Reader<'a> {
        Reader { buf, pos }
    }

    /// Bytes read (or skipped) so far: the offset of the next field.
    #[inline]
    pub const fn position(&self) -> usize {
        self.pos
    }

    /// Bytes left to read.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// The unread bytes.
    #[inline]
    pub fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// The next `n` bytes.
    #[inline]
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], Short> {
        let end = self.pos.saturating_add(n);
        let s = self.buf.get(self.pos..end).ok_or(Short {
            needed: end,
            len: self.buf.len(),
        })?;
        self.pos = end;
        Ok(s)
    }

    /// Steps over `n` bytes.
    #[inline]
    pub fn skip(&mut self, n: usize) -> Result<(), Short> {
        self.take(n).map(|_| ())
    }

    #[inline]
    fn array<const N: usize>(&mut self) -> Result<[u8; N], Short> {
        let a = array_at(self.buf, self.pos)?;
        self.pos += N;
        Ok(a)
    }

    #[inline]
    pub fn u8(&mut self) -> Result<u8, Short> {
        self.array::<1>().map(|[b]| b)
    }

    #[inline]
    pub fn u16(&mut self) -> Result<u16, Short> {
        self.array().map(u16::from_be_bytes)
    }

    #[inline]
    pub fn u24(&mut self) -> Result<u32, Short> {
        self.array()
            .map(|[a, b, c]| u32::from_be_bytes([0, a, b, c]))
    }

    #[inline]
    pub fn u32(&mut self) -> Result<u32, Short> {
        self.array().map(u32::from_be_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATA: [u8; 7] = [0x01, 0x02, 0x03, 0x04, 0xff, 0xfe, 0x80];

    #[test]
    fn reads_at_offsets() {
        assert_eq!(u8_at(&DATA, 0), Ok(0x01));
        assert_eq!(u16_at(&DATA, 1), Ok(0x0203));
        assert_eq!(u24_at(&DATA, 4), Ok(0xfffe80));
        assert_eq!(i24_at(&DATA, 4), Ok(-384));
        assert_eq!(i24_at(&[0x7f, 0xff, 0xff], 0), Ok(0x7f_ffff));
        assert_eq!(u32_at(&DATA, 0), Ok(0x0102_0304));
        assert_eq!(array_at::<2>(&DATA, 5), Ok([0xfe, 0x80]));
        assert_eq!(u32_at(&DATA, 4), Err(Short { needed: 8, len: 7 }));
        assert_eq!(u8_at(&DATA, 7), Err(Short { needed: 8, len: 7 }));
        assert_eq!(
            u16_at(&DATA, usize::MAX),
            Err(Short {
                needed: usize::MAX,
                len: 7
            })
        );
    }

    #[test]
    fn reader_walks_and_stays_put_on_short_reads() {
        let mut r = Reader::new(&DATA);
        assert_eq!(r.u8(), Ok(1));
        assert_eq!(r.u16(), Ok(0x0203));
        assert_eq!(r.position(), 3);
        assert_eq!(r.u32(), Ok(0x04ff_fe80));
        assert_eq!(r.remaining(), 0);
        assert_eq!(r.u8(), Err(Short { needed: 8, len: 7 }));
        assert_eq!(r.position(), 7);
        let mut r = Reader::at(&DATA, 2);
        assert_eq!(r.take(2), Ok(&[3, 4][..]));
        assert_eq!(r.u24(), Ok(0xfffe80));
        let mut r = Reader::at(&DATA, 5);
        assert_eq!(r.u24(), Err(Short { needed: 8, len: 7 }));
        assert_eq!(r.rest(), &[0xfe, 0x80]);
        assert_eq!(r.skip(3), Err(Short { needed: 8, len: 7 }));
        assert_eq!(r.skip(2), Ok(()));
        let r = Reader::at(&DATA, 100);
        assert_eq!((r.remaining(), r.rest()), (0, &[][..]));
    }

    #[test]
    fn put_u24_writes_the_low_three_bytes() {
        let mut out = Vec::new();
        put_u24(&mut out, 0x12_3456);
        put_u24(&mut out, 0xff00_0001);
        assert_eq!(out, [0x12, 0x34, 0x56, 0x00, 0x00, 0x01]);
        assert_eq!(u24_at(&out, 0), Ok(0x12_3456));
    }
}
