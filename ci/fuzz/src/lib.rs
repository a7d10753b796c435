//! Helpers shared by the fuzz targets.

/// Bytes at the front of an input that choose how the rest is cut (see [`split`]).
pub const SPLIT_CONTROL_LEN: usize = 4;

/// Splits a fuzz input into `(payload, pieces)`: the first [`SPLIT_CONTROL_LEN`] bytes seed
/// the piece lengths, the rest is the payload, cut into consecutive non-empty pieces that
/// cover it exactly. The first control byte caps the piece length (1 to 256 bytes, or the
/// whole payload at 255), so the fuzzer can explore byte-by-byte feeding as well as large
/// reads; the others vary the lengths below the cap.
pub fn split(data: &[u8]) -> (&[u8], Vec<&[u8]>) {
    if data.len() < SPLIT_CONTROL_LEN {
        return (&[], Vec::new());
    }
    let (control, payload) = data.split_at(SPLIT_CONTROL_LEN);
    let cap = match control[0] {
        255 => payload.len().max(1),
        c => usize::from(c) + 1,
    };
    // xorshift32 over the other control bytes; never zero.
    let mut state = u32::from_le_bytes([control[1], control[2], control[3], 0x5a]) | 1;
    let mut pieces = Vec::new();
    let mut rest = payload;
    while !rest.is_empty() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let len = (state as usize % cap + 1).min(rest.len());
        let (piece, tail) = rest.split_at(len);
        pieces.push(piece);
        rest = tail;
    }
    (payload, pieces)
}

/// Reads a big-endian integer of `n` bytes (at most 8) from the front of `data`, advancing
/// it; missing bytes read as zero.
pub fn take_uint(data: &mut &[u8], n: usize) -> u64 {
    let mut v = 0u64;
    for _ in 0..n.min(8) {
        let b = match data.split_first() {
            Some((&b, rest)) => {
                *data = rest;
                b
            }
            None => 0,
        };
        v = (v << 8) | u64::from(b);
    }
    v
}

/// Takes up to `n` bytes from the front of `data`.
pub fn take_bytes<'a>(data: &mut &'a [u8], n: usize) -> &'a [u8] {
    let (head, tail) = data.split_at(n.min(data.len()));
    *data = tail;
    head
}
