//! CRC-32 of PSI sections (ISO/IEC 13818-1 Annex A): polynomial 0x04C11DB7, initial value
//! 0xFFFFFFFF, MSB first (no reflection), no final XOR. The CRC over a whole section,
//! including its trailing CRC_32 field, is 0.

/// The 256-entry table for one byte at a time, built at compile time (1 KiB of rodata).
const TABLE: [u32; 256] = build_table();

const POLY: u32 = 0x04C1_1DB7;

const fn build_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u32) << 24;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ POLY
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

/// CRC-32/MPEG-2 of `data`.
pub fn crc32_mpeg2(data: &[u8]) -> u32 {
    data.iter().fold(0xFFFF_FFFF, |crc, &byte| {
        (crc << 8) ^ TABLE[usize::from((crc >> 24) as u8 ^ byte)]
    })
}
