//! Program-specific information (2.4.4): the PAT and PMT sections of a single program.

use super::crc::crc32_mpeg2;
use crate::wire::cursor::u16_at;

/// table_id of the program association section (table 2-31).
pub(super) const TABLE_PAT: u8 = 0x00;
/// table_id of the TS program map section.
pub(super) const TABLE_PMT: u8 = 0x02;
/// program_number of our one program; transport_stream_id has the same value (ffmpeg, SRS).
const PROGRAM_NUMBER: u16 = 1;
const TRANSPORT_STREAM_ID: u16 = 1;
/// '11' reserved, version_number 0, current_next_indicator 1.
const VERSION_CURRENT: u8 = 0xC1;
/// section_syntax_indicator 1, '0', '11' reserved: the top nibble before section_length.
const SYNTAX_RESERVED: u8 = 0xB0;
/// Bytes before the data of section_length (table_id, flags and section_length).
pub(super) const SECTION_HEADER_LEN: usize = 3;
/// Bytes between section_length and the table data: table_id_extension, version,
/// section_number, last_section_number.
const SYNTAX_HEADER_LEN: usize = 5;
const CRC_LEN: usize = 4;
/// Largest section_length of a PAT or PMT (2.4.4.5, 2.4.4.9: at most 0x3FD).
pub(super) const MAX_SECTION_LENGTH: usize = 1021;
/// Bytes of one elementary stream entry without descriptors.
const ES_ENTRY_LEN: usize = 5;

/// The whole PAT section the muxer writes.
pub(super) const PAT_LEN: usize = SECTION_HEADER_LEN + SYNTAX_HEADER_LEN + 4 + CRC_LEN;
/// The longest PMT section the muxer writes (two streams).
pub(super) const MAX_PMT_LEN: usize =
    SECTION_HEADER_LEN + SYNTAX_HEADER_LEN + 4 + 2 * ES_ENTRY_LEN + CRC_LEN;

/// A section on the stack.
pub(super) struct Section<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> Section<N> {
    pub(super) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Starts a long-form section: table_id, section_length (filled in by `finish`),
    /// table_id_extension, version 0 current, section 0 of 0.
    fn start(table_id: u8, extension: u16) -> Self {
        let mut buf = [0u8; N];
        buf[0] = table_id;
        buf[3..5].copy_from_slice(&extension.to_be_bytes());
        buf[5] = VERSION_CURRENT;
        Section {
            buf,
            len: SECTION_HEADER_LEN + SYNTAX_HEADER_LEN,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    /// Writes section_length and appends the CRC.
    fn finish(mut self) -> Self {
        let section_length = (self.len - SECTION_HEADER_LEN + CRC_LEN) as u16;
        self.buf[1] = SYNTAX_RESERVED | (section_length >> 8) as u8;
        self.buf[2] = section_length as u8;
        let crc = crc32_mpeg2(self.as_bytes());
        self.push(&crc.to_be_bytes());
        self
    }
}

/// '111' reserved bits above a 13-bit PID.
fn reserved_pid(pid: u16) -> [u8; 2] {
    (0xE000 | (pid & 0x1FFF)).to_be_bytes()
}

/// PAT with program [`PROGRAM_NUMBER`] on `pmt_pid` (2.4.4.3, table 2-30).
pub(super) fn encode_pat(pmt_pid: u16) -> Section<PAT_LEN> {
    let mut s = Section::start(TABLE_PAT, TRANSPORT_STREAM_ID);
    s.push(&PROGRAM_NUMBER.to_be_bytes());
    s.push(&reserved_pid(pmt_pid));
    s.finish()
}

/// PMT of program [`PROGRAM_NUMBER`] (2.4.4.8, table 2-33): PCR_PID, no program
/// descriptors, then `(stream_type, elementary_PID)` entries without descriptors. At most two
/// streams; more are left out.
pub(super) fn encode_pmt(pcr_pid: u16, streams: &[(u8, u16)]) -> Section<MAX_PMT_LEN> {
    let mut s = Section::start(TABLE_PMT, PROGRAM_NUMBER);
    s.push(&reserved_pid(pcr_pid));
    // '1111' reserved, program_info_length 0.
    s.push(&[0xF0, 0x00]);
    for &(stream_type, pid) in streams.iter().take(2) {
        let pid = reserved_pid(pid);
        s.push(&[stream_type, pid[0], pid[1], 0xF0, 0x00]);
    }
    s.finish()
}

/// section_length of a section whose first three bytes are known.
pub(super) fn section_length(head: &[u8; SECTION_HEADER_LEN]) -> usize {
    usize::from(u16::from_be_bytes([head[1], head[2]]) & 0x0FFF)
}

/// Why a section was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SectionFault {
    Crc,
    Malformed(&'static str),
}

/// A checked long-form section.
pub(super) struct LongSection<'a> {
    pub table_id: u8,
    pub current: bool,
    /// The table data between last_section_number and CRC_32.
    pub body: &'a [u8],
}

/// Checks a complete section (header, length, CRC) and returns its table data.
pub(super) fn decode_section(sec: &[u8]) -> Result<LongSection<'_>, SectionFault> {
    if sec.len() < SECTION_HEADER_LEN + SYNTAX_HEADER_LEN + CRC_LEN {
        return Err(SectionFault::Malformed("shorter than a long-form section"));
    }
    if sec[1] & 0x80 == 0 {
        return Err(SectionFault::Malformed("section_syntax_indicator is 0"));
    }
    let crc_at = sec.len() - CRC_LEN;
    let (data, crc) = sec.split_at(crc_at);
    if crc32_mpeg2(data).to_be_bytes() != crc {
        return Err(SectionFault::Crc);
    }
    Ok(LongSection {
        table_id: sec[0],
        current: sec[5] & 0x01 != 0,
        body: &data[SECTION_HEADER_LEN + SYNTAX_HEADER_LEN..],
    })
}

/// The PMT PID of the first program in a PAT body (program 0, the network PID, skipped).
pub(super) fn decode_pat(body: &[u8]) -> Result<Option<u16>, &'static str> {
    if body.len() % 4 != 0 {
        return Err("PAT loop is not a multiple of 4 bytes");
    }
    Ok(body
        .chunks_exact(4)
        .find(|e| e[0] != 0 || e[1] != 0)
        .map(|e| u16::from_be_bytes([e[2], e[3]]) & 0x1FFF))
}

/// The parts of a PMT the demuxer uses.
pub(super) struct Pmt {
    pub pcr_pid: u16,
    /// `(stream_type, elementary_PID)`, in PMT order, at most `limit` of them.
    pub streams: Vec<(u8, u16)>,
    /// Entries left out because of `limit`.
    pub dropped: usize,
}

/// Reads a PMT body, skipping descriptors, keeping at most `limit` streams.
pub(super) fn decode_pmt(body: &[u8], limit: usize) -> Result<Pmt, &'static str> {
    let short = |_| "PMT shorter than PCR_PID and program_info_length";
    let pcr_pid = u16_at(body, 0).map_err(short)? & 0x1FFF;
    let info_len = usize::from(u16_at(body, 2).map_err(short)? & 0x0FFF);
    let mut rest = body
        .get(4 + info_len..)
        .ok_or("program_info_length past the section")?;
    let mut pmt = Pmt {
        pcr_pid,
        streams: Vec::new(),
        dropped: 0,
    };
    while !rest.is_empty() {
        let entry: &[u8; ES_ENTRY_LEN] = rest
            .get(..ES_ENTRY_LEN)
            .and_then(|b| b.try_into().ok())
            .ok_or("elementary stream entry cut short")?;
        let pid = u16::from_be_bytes([entry[1], entry[2]]) & 0x1FFF;
        let es_info_len = usize::from(u16::from_be_bytes([entry[3], entry[4]]) & 0x0FFF);
        rest = rest
            .get(ES_ENTRY_LEN + es_info_len..)
            .ok_or("ES_info_length past the section")?;
        if pmt.streams.len() < limit {
            pmt.streams.push((entry[0], pid));
        } else {
            pmt.dropped += 1;
        }
    }
    Ok(pmt)
}
