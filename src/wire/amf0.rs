//! AMF0 (Action Message Format 0): the value encoding of RTMP command and data messages and of
//! FLV script tags.
//!
//! Spec: Adobe "Action Message Format -- AMF 0" (amf0-file-format-specification.pdf, December
//! 2007); `§` numbers below refer to it.
//!
//! Pure code over byte slices: [`decode`] / [`decode_all`] read, [`Value::encode`] /
//! [`encode_all`] write. An AMF0 body always arrives whole inside one RTMP message or FLV tag,
//! so running out of bytes is an error ([`Amf0Error::Truncated`]), not "need more".
//!
//! # Leniency (what real encoders send)
//! - Strings and property names that are not UTF-8 (GB2312 names from Chinese encoders) are
//!   decoded with [`String::from_utf8_lossy`]: bad bytes become U+FFFD, decoding never fails on
//!   them.
//! - An object or ECMA array whose end marker (`00 00 09`) is missing is accepted when it ends
//!   exactly at the end of the buffer (some encoders leave the marker off the last object of a
//!   body). A partial end marker (`00` or `00 00` then end) is still [`Amf0Error::Truncated`].
//! - The ECMA array count (§2.10) is only a hint and is ignored: the properties run until the
//!   object-end marker.
//! - Reference (0x07, §2.9) is decoded as [`Value::Undefined`]: its 2-byte index is consumed and
//!   dropped, since we keep no reference table. Unsupported (0x0D, §2.15) is also
//!   [`Value::Undefined`].
//! - Typed object (0x10, §2.18) is decoded as [`Value::Object`]; the class name is dropped.
//! - XML document (0x0F, §2.17) is decoded as [`Value::LongString`] (same layout).
//!
//! # Not supported
//! - AMF3 (the AVM+ switch marker 0x11, §3.1): [`Amf0Error::Amf3`].
//! - MovieClip (0x04, §2.6) and RecordSet (0x0E, §2.16), reserved by the spec:
//!   [`Amf0Error::Unsupported`].
//!
//! # Limits
//! The peer controls nesting and value count; both are capped ([`MAX_DEPTH`], [`MAX_ITEMS`]),
//! and no allocation is sized from a length or count read off the wire before the bytes it
//! describes are known to be present.

use bytes::BufMut;

/// Deepest nesting of objects, ECMA arrays and strict arrays that [`decode`] accepts: a
/// top-level object holding an object holding ... at most 16 containers deep.
///
/// Why: the decoder (and `Drop` of the result) recurses once per level, so the peer must not
/// choose the stack depth; 16 levels cost a few KiB of stack on any board. Real RTMP commands
/// and metadata nest two or three levels at most.
pub const MAX_DEPTH: usize = 16;

/// Most values (every number, string, container and container element, counted once each)
/// that one [`decode`] or [`decode_all`] call will produce.
///
/// Why: bounds the memory one message body can make us allocate, independently of how the
/// bytes are spent. Worst case per call ≈ `MAX_ITEMS × 56 B × 2` (one `(String, Value)` per
/// item on 64-bit, doubled for `Vec` growth) ≈ 460 KiB, plus up to 3× the body length for
/// strings (lossy UTF-8 turns one bad byte into the 3-byte U+FFFD). Real `connect` bodies hold
/// about 15 values, `onMetaData` about 30.
pub const MAX_ITEMS: usize = 4096;

/// Type markers, §2.1.
mod marker {
    pub const NUMBER: u8 = 0x00;
    pub const BOOLEAN: u8 = 0x01;
    pub const STRING: u8 = 0x02;
    pub const OBJECT: u8 = 0x03;
    pub const MOVIECLIP: u8 = 0x04;
    pub const NULL: u8 = 0x05;
    pub const UNDEFINED: u8 = 0x06;
    pub const REFERENCE: u8 = 0x07;
    pub const ECMA_ARRAY: u8 = 0x08;
    pub const OBJECT_END: u8 = 0x09;
    pub const STRICT_ARRAY: u8 = 0x0A;
    pub const DATE: u8 = 0x0B;
    pub const LONG_STRING: u8 = 0x0C;
    pub const UNSUPPORTED: u8 = 0x0D;
    pub const RECORDSET: u8 = 0x0E;
    pub const XML_DOCUMENT: u8 = 0x0F;
    pub const TYPED_OBJECT: u8 = 0x10;
    pub const AVMPLUS: u8 = 0x11;
}

/// Longest UTF-8 payload of a `String` (§2.4) and of a property name (§1.3 UTF-8: u16 length).
const SHORT_MAX: usize = u16::MAX as usize;
/// Longest UTF-8 payload of a `LongString` (§2.14, §1.3 UTF-8-long: u32 length).
const LONG_MAX: usize = u32::MAX as usize;
/// Bytes of the object-end sequence: empty name (`00 00`) + object-end marker (§2.11).
const OBJECT_END_LEN: usize = 3;

/// One AMF0 value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// §2.2, IEEE-754 double, big-endian.
    Number(f64),
    /// §2.3, any non-zero byte decodes as `true`.
    Boolean(bool),
    /// §2.4. Encoded as a `LongString` (marker 0x0C) when longer than 65535 bytes.
    String(String),
    /// §2.5 anonymous object (also what a typed object, §2.18, decodes to). Properties keep
    /// wire order; duplicates are kept.
    Object(Vec<(String, Value)>),
    /// §2.7.
    Null,
    /// §2.8 (also what Reference, §2.9, and Unsupported, §2.15, decode to).
    Undefined,
    /// §2.10 associative array (`onMetaData`). Properties keep wire order.
    EcmaArray(Vec<(String, Value)>),
    /// §2.12 dense array.
    StrictArray(Vec<Value>),
    /// §2.13: milliseconds since the Unix epoch, UTC; `tz` is reserved and should be 0.
    Date { millis: f64, tz: i16 },
    /// §2.14 (also what an XML document, §2.17, decodes to).
    LongString(String),
}

/// Why an AMF0 body could not be decoded. Every variant carries the byte offset, from the start
/// of the buffer given to [`decode`] / [`decode_all`], of the value or field at fault.
///
/// All of them spoil one message only; what to do with the connection is the session's call.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
pub enum Amf0Error {
    /// The field starting at `offset` runs past the end of the buffer.
    #[error("AMF0 truncated: field at offset {offset} runs past the end of the body")]
    Truncated { offset: usize },
    /// A type marker the spec does not define, or the object-end marker 0x09 where a value
    /// should start.
    #[error("AMF0 unknown type marker {marker:#04x} at offset {offset}")]
    UnknownMarker { marker: u8, offset: usize },
    /// A container at `offset` would nest deeper than [`MAX_DEPTH`].
    #[error("AMF0 nesting deeper than {max} at offset {offset}", max = MAX_DEPTH)]
    TooDeep { offset: usize },
    /// The value at `offset` would be one more than [`MAX_ITEMS`].
    #[error("AMF0 more than {max} values, at offset {offset}", max = MAX_ITEMS)]
    TooManyItems { offset: usize },
    /// A marker the spec reserves without a format: MovieClip (0x04) or RecordSet (0x0E).
    #[error("AMF0 type marker {marker:#04x} at offset {offset} is not supported")]
    Unsupported { marker: u8, offset: usize },
    /// The AVM+ marker (0x11): the rest of the value is AMF3, which we do not speak.
    #[error("AMF0 switch to AMF3 (AVM+ marker 0x11) at offset {offset}: AMF3 is not supported")]
    Amf3 { offset: usize },
}

impl Amf0Error {
    /// Byte offset of the value or field at fault.
    pub fn offset(&self) -> usize {
        match *self {
            Amf0Error::Truncated { offset }
            | Amf0Error::UnknownMarker { offset, .. }
            | Amf0Error::TooDeep { offset }
            | Amf0Error::TooManyItems { offset }
            | Amf0Error::Unsupported { offset, .. }
            | Amf0Error::Amf3 { offset } => offset,
        }
    }
}

/// Decodes one value from the start of `buf`; returns it and the bytes it took.
///
/// Bytes after the value are left alone. An empty `buf` is `Truncated { offset: 0 }`.
pub fn decode(buf: &[u8]) -> Result<(Value, usize), Amf0Error> {
    let mut decoder = Decoder::new(buf);
    let value = decoder.value(0)?;
    Ok((value, decoder.pos))
}

/// Decodes values until `buf` ends: the body of an RTMP command or data message.
///
/// An empty `buf` gives an empty `Vec`. [`MAX_ITEMS`] counts every value of the whole call.
pub fn decode_all(buf: &[u8]) -> Result<Vec<Value>, Amf0Error> {
    let mut decoder = Decoder::new(buf);
    let mut values = Vec::new();
    while !decoder.at_end() {
        values.push(decoder.value(0)?);
    }
    Ok(values)
}

/// Encodes `values` one after the other: the body of an RTMP command or data message.
///
/// `out` must have room for the sum of [`Value::encoded_len`] (a `BytesMut` or `Vec<u8>`
/// grows; a fixed `&mut [u8]` panics when full, as `BufMut` does).
pub fn encode_all(values: &[Value], out: &mut impl BufMut) {
    for value in values {
        value.encode(out);
    }
}

impl Value {
    /// Writes the value (§2). Lossless for every value [`decode`] can produce, with two
    /// limits of the format:
    /// - a `String` longer than 65535 bytes is written as a `LongString` (0x0C), never cut;
    /// - a property name longer than 65535 bytes (only possible for names built by the caller,
    ///   or decoded names that lossy UTF-8 grew) is cut at the last char boundary that fits,
    ///   since names have a u16 length and no long form.
    ///
    /// `LongString` payloads over 4 GiB and arrays over `u32::MAX` elements are cut likewise.
    /// Recurses once per nesting level of `self` (decoded values are at most [`MAX_DEPTH`]
    /// deep). `out` must have room for [`Value::encoded_len`] bytes.
    pub fn encode(&self, out: &mut impl BufMut) {
        match self {
            Value::Number(n) => {
                out.put_u8(marker::NUMBER);
                out.put_f64(*n);
            }
            Value::Boolean(b) => {
                out.put_u8(marker::BOOLEAN);
                out.put_u8(u8::from(*b));
            }
            Value::String(s) if s.len() <= SHORT_MAX => {
                out.put_u8(marker::STRING);
                put_short_utf8(s, out);
            }
            Value::String(s) | Value::LongString(s) => {
                out.put_u8(marker::LONG_STRING);
                put_long_utf8(s, out);
            }
            Value::Object(props) => {
                out.put_u8(marker::OBJECT);
                put_properties(props, out);
            }
            Value::Null => out.put_u8(marker::NULL),
            Value::Undefined => out.put_u8(marker::UNDEFINED),
            Value::EcmaArray(props) => {
                out.put_u8(marker::ECMA_ARRAY);
                out.put_u32(count_u32(props.len()));
                put_properties(props, out);
            }
            Value::StrictArray(items) => {
                out.put_u8(marker::STRICT_ARRAY);
                out.put_u32(count_u32(items.len()));
                for item in items.iter().take(LONG_MAX) {
                    item.encode(out);
                }
            }
            Value::Date { millis, tz } => {
                out.put_u8(marker::DATE);
                out.put_f64(*millis);
                out.put_i16(*tz);
            }
        }
    }

    /// Exact number of bytes [`Value::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        match self {
            Value::Number(_) => 1 + 8,
            Value::Boolean(_) => 1 + 1,
            Value::String(s) if s.len() <= SHORT_MAX => 1 + 2 + s.len(),
            Value::String(s) | Value::LongString(s) => 1 + 4 + clamp_str(s, LONG_MAX).len(),
            Value::Object(props) => (1usize).saturating_add(properties_len(props)),
            Value::Null | Value::Undefined => 1,
            Value::EcmaArray(props) => (1usize + 4).saturating_add(properties_len(props)),
            Value::StrictArray(items) => {
                items.iter().take(LONG_MAX).fold(1 + 4, |len: usize, item| {
                    len.saturating_add(item.encoded_len())
                })
            }
            Value::Date { .. } => 1 + 8 + 2,
        }
    }

    /// The text of a `String` or `LongString`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) | Value::LongString(s) => Some(s),
            _ => None,
        }
    }

    /// The number of a `Number` (not of a `Date`).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The flag of a `Boolean`.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// The properties of an `Object` or `EcmaArray`, in wire order.
    pub fn properties(&self) -> Option<&[(String, Value)]> {
        match self {
            Value::Object(props) | Value::EcmaArray(props) => Some(props),
            _ => None,
        }
    }

    /// The elements of a `StrictArray`.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::StrictArray(items) => Some(items),
            _ => None,
        }
    }

    /// Property `key` of an `Object` or `EcmaArray` (exact, case-sensitive match). With
    /// duplicate names the first one wins, as in SRS. `None` for other variants.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.properties()?
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value)
    }

    /// Builds an `Object` from `(name, value)` pairs, kept in order.
    pub fn object(props: impl IntoIterator<Item = (&'static str, Value)>) -> Value {
        Value::Object(owned_properties(props))
    }

    /// Builds an `EcmaArray` from `(name, value)` pairs, kept in order.
    pub fn ecma_array(props: impl IntoIterator<Item = (&'static str, Value)>) -> Value {
        Value::EcmaArray(owned_properties(props))
    }
}

impl From<f64> for Value {
    fn from(n: f64) -> Value {
        Value::Number(n)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Boolean(b)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s)
    }
}

fn owned_properties(
    props: impl IntoIterator<Item = (&'static str, Value)>,
) -> Vec<(String, Value)> {
    props
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
}

/// Longest prefix of `s` no longer than `max` bytes that ends on a char boundary.
fn clamp_str(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1; // is_char_boundary(0) is true, so this stops at 0 at the latest
    }
    s.get(..end).unwrap_or_default()
}

fn count_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// §1.3 UTF-8: u16 length, then bytes.
fn put_short_utf8(s: &str, out: &mut impl BufMut) {
    let s = clamp_str(s, SHORT_MAX);
    out.put_u16(u16::try_from(s.len()).unwrap_or(u16::MAX));
    out.put_slice(s.as_bytes());
}

/// §1.3 UTF-8-long: u32 length, then bytes.
fn put_long_utf8(s: &str, out: &mut impl BufMut) {
    let s = clamp_str(s, LONG_MAX);
    out.put_u32(count_u32(s.len()));
    out.put_slice(s.as_bytes());
}

/// §2.5 object-property*, then object-end.
fn put_properties(props: &[(String, Value)], out: &mut impl BufMut) {
    for (name, value) in props {
        put_short_utf8(name, out);
        value.encode(out);
    }
    out.put_u16(0);
    out.put_u8(marker::OBJECT_END);
}

fn properties_len(props: &[(String, Value)]) -> usize {
    props.iter().fold(OBJECT_END_LEN, |len, (name, value)| {
        len.saturating_add(2 + clamp_str(name, SHORT_MAX).len())
            .saturating_add(value.encoded_len())
    })
}

/// Cursor over one body. Invariant: `pos <= buf.len()`; `items <= MAX_ITEMS`.
struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Values decoded so far by this call, for [`MAX_ITEMS`].
    items: usize,
}

impl<'a> Decoder<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Decoder {
            buf,
            pos: 0,
            items: 0,
        }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// The next `len` bytes, or `Truncated` at the current offset (and no progress).
    fn take(&mut self, len: usize) -> Result<&'a [u8], Amf0Error> {
        let truncated = Amf0Error::Truncated { offset: self.pos };
        let end = self.pos.checked_add(len).ok_or(truncated)?;
        let bytes = self.buf.get(self.pos..end).ok_or(truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Amf0Error> {
        let offset = self.pos;
        self.take(N)?
            .try_into()
            .map_err(|_| Amf0Error::Truncated { offset })
    }

    fn u8(&mut self) -> Result<u8, Amf0Error> {
        Ok(u8::from_be_bytes(self.array()?))
    }

    fn u16(&mut self) -> Result<u16, Amf0Error> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn i16(&mut self) -> Result<i16, Amf0Error> {
        Ok(i16::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, Amf0Error> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn f64(&mut self) -> Result<f64, Amf0Error> {
        Ok(f64::from_be_bytes(self.array()?))
    }

    /// `len` bytes as text. The bytes are checked to be present before anything is allocated,
    /// so the allocation is bounded by the body (×3 for lossy replacement characters).
    fn text(&mut self, len: usize) -> Result<String, Amf0Error> {
        let bytes = self.take(len)?;
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }

    /// §1.3 UTF-8: u16 length, then bytes.
    fn short_text(&mut self) -> Result<String, Amf0Error> {
        let len = self.u16()?;
        self.text(usize::from(len))
    }

    /// §1.3 UTF-8-long: u32 length, then bytes.
    fn long_text(&mut self) -> Result<String, Amf0Error> {
        let len = self.u32()?;
        self.text(usize::try_from(len).unwrap_or(usize::MAX))
    }

    /// One value whose enclosing containers number `depth`.
    fn value(&mut self, depth: usize) -> Result<Value, Amf0Error> {
        let offset = self.pos;
        if self.items >= MAX_ITEMS {
            return Err(Amf0Error::TooManyItems { offset });
        }
        let marker = self.u8()?;
        self.items += 1;
        match marker {
            marker::NUMBER => Ok(Value::Number(self.f64()?)),
            marker::BOOLEAN => Ok(Value::Boolean(self.u8()? != 0)),
            marker::STRING => Ok(Value::String(self.short_text()?)),
            marker::OBJECT => {
                check_depth(depth, offset)?;
                Ok(Value::Object(self.properties(depth)?))
            }
            marker::NULL => Ok(Value::Null),
            marker::UNDEFINED | marker::UNSUPPORTED => Ok(Value::Undefined),
            marker::REFERENCE => {
                // §2.9: u16 index into the objects seen so far; we keep no table.
                self.u16()?;
                Ok(Value::Undefined)
            }
            marker::ECMA_ARRAY => {
                check_depth(depth, offset)?;
                // §2.10: associative-count is a hint only; never allocate from it.
                self.u32()?;
                Ok(Value::EcmaArray(self.properties(depth)?))
            }
            marker::STRICT_ARRAY => {
                check_depth(depth, offset)?;
                // §2.12: array-count, then that many values. Not pre-allocated: each element
                // must be present and pass MAX_ITEMS before it takes any room.
                let count = self.u32()?;
                let mut items = Vec::new();
                for _ in 0..count {
                    items.push(self.value(depth + 1)?);
                }
                Ok(Value::StrictArray(items))
            }
            marker::DATE => {
                let millis = self.f64()?;
                let tz = self.i16()?;
                Ok(Value::Date { millis, tz })
            }
            marker::LONG_STRING | marker::XML_DOCUMENT => Ok(Value::LongString(self.long_text()?)),
            marker::TYPED_OBJECT => {
                check_depth(depth, offset)?;
                // §2.18: class-name, then the properties of an anonymous object.
                let class_len = self.u16()?;
                self.take(usize::from(class_len))?;
                Ok(Value::Object(self.properties(depth)?))
            }
            marker::AVMPLUS => Err(Amf0Error::Amf3 { offset }),
            marker::MOVIECLIP | marker::RECORDSET => Err(Amf0Error::Unsupported { marker, offset }),
            _ => Err(Amf0Error::UnknownMarker { marker, offset }),
        }
    }

    /// §2.5 object-property* then object-end (`00 00 09`), for a container whose own depth is
    /// `depth`. An empty name not followed by 0x09 is an ordinary property with an empty name
    /// (0x09 is never a value marker, so this is unambiguous).
    fn properties(&mut self, depth: usize) -> Result<Vec<(String, Value)>, Amf0Error> {
        let mut props = Vec::new();
        loop {
            if self.at_end() {
                // Lenient: end marker missing on an object that ends the body.
                return Ok(props);
            }
            let name = self.short_text()?;
            if name.is_empty() && self.peek() == Some(marker::OBJECT_END) {
                self.u8()?;
                return Ok(props);
            }
            let value = self.value(depth + 1)?;
            props.push((name, value));
        }
    }
}

/// A container may open only while fewer than [`MAX_DEPTH`] containers enclose it.
fn check_depth(depth: usize, offset: usize) -> Result<(), Amf0Error> {
    if depth >= MAX_DEPTH {
        Err(Amf0Error::TooDeep { offset })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `connect` command body as ffmpeg's RTMP muxer sends it (trimmed to its four string
    /// properties): "connect", transaction id 1.0, command object.
    const CONNECT: &[u8] = b"\
        \x02\x00\x07connect\
        \x00\x3f\xf0\x00\x00\x00\x00\x00\x00\
        \x03\
        \x00\x03app\x02\x00\x04live\
        \x00\x04type\x02\x00\x0anonprivate\
        \x00\x08flashVer\x02\x00\x1fFMLE/3.0 (compatible; FMSc/1.0)\
        \x00\x05tcUrl\x02\x00\x1artmp://127.0.0.1:1935/live\
        \x00\x00\x09";

    /// Offset of the command object's marker in [`CONNECT`].
    const CONNECT_OBJECT_AT: usize = 10 + 9;

    /// `onMetaData` as ffmpeg's FLV muxer writes it (a subset of its properties): name, then an
    /// ECMA array with count hint 11.
    const ON_METADATA: &[u8] = b"\
        \x02\x00\x0aonMetaData\
        \x08\x00\x00\x00\x0b\
        \x00\x08duration\x00\x00\x00\x00\x00\x00\x00\x00\x00\
        \x00\x05width\x00\x40\x94\x00\x00\x00\x00\x00\x00\
        \x00\x06height\x00\x40\x86\x80\x00\x00\x00\x00\x00\
        \x00\x0dvideodatarate\x00\x40\xa3\x88\x00\x00\x00\x00\x00\
        \x00\x09framerate\x00\x40\x39\x00\x00\x00\x00\x00\x00\
        \x00\x0cvideocodecid\x00\x40\x1c\x00\x00\x00\x00\x00\x00\
        \x00\x0faudiosamplerate\x00\x40\xe5\x88\x80\x00\x00\x00\x00\
        \x00\x06stereo\x01\x01\
        \x00\x0caudiocodecid\x00\x40\x24\x00\x00\x00\x00\x00\x00\
        \x00\x07encoder\x02\x00\x0dLavf60.16.100\
        \x00\x08filesize\x00\x00\x00\x00\x00\x00\x00\x00\x00\
        \x00\x00\x09";

    /// Offset of the ECMA array's marker in [`ON_METADATA`].
    const ON_METADATA_ARRAY_AT: usize = 13;

    fn connect_values() -> Vec<Value> {
        vec![
            "connect".into(),
            1.0.into(),
            Value::object([
                ("app", "live".into()),
                ("type", "nonprivate".into()),
                ("flashVer", "FMLE/3.0 (compatible; FMSc/1.0)".into()),
                ("tcUrl", "rtmp://127.0.0.1:1935/live".into()),
            ]),
        ]
    }

    fn on_metadata_values() -> Vec<Value> {
        vec![
            "onMetaData".into(),
            Value::ecma_array([
                ("duration", 0.0.into()),
                ("width", 1280.0.into()),
                ("height", 720.0.into()),
                ("videodatarate", 2500.0.into()),
                ("framerate", 25.0.into()),
                ("videocodecid", 7.0.into()),
                ("audiosamplerate", 44100.0.into()),
                ("stereo", true.into()),
                ("audiocodecid", 10.0.into()),
                ("encoder", "Lavf60.16.100".into()),
                ("filesize", 0.0.into()),
            ]),
        ]
    }

    fn to_vec(value: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        value.encode(&mut out);
        assert_eq!(out.len(), value.encoded_len(), "encoded_len of {value:?}");
        out
    }

    fn to_vec_all(values: &[Value]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_all(values, &mut out);
        out
    }

    /// Encodes, decodes, checks the value and the byte count come back.
    fn round_trip(value: &Value) -> Vec<u8> {
        let bytes = to_vec(value);
        assert_eq!(
            decode(&bytes),
            Ok((value.clone(), bytes.len())),
            "{value:?}"
        );
        bytes
    }

    #[test]
    fn golden_connect_decodes() {
        let values = decode_all(CONNECT).unwrap();
        assert_eq!(values, connect_values());
        assert_eq!(values[0].as_str(), Some("connect"));
        assert_eq!(values[1].as_f64(), Some(1.0));
        let cmd = &values[2];
        assert_eq!(cmd.get("app").and_then(Value::as_str), Some("live"));
        assert_eq!(
            cmd.get("tcUrl").and_then(Value::as_str),
            Some("rtmp://127.0.0.1:1935/live")
        );
        assert_eq!(cmd.get("swfUrl"), None);
        assert_eq!(decode(CONNECT), Ok((Value::from("connect"), 10)));
    }

    #[test]
    fn golden_connect_encodes() {
        assert_eq!(to_vec_all(&connect_values()), CONNECT);
        let len: usize = connect_values().iter().map(Value::encoded_len).sum();
        assert_eq!(len, CONNECT.len());
    }

    #[test]
    fn golden_on_metadata_decodes() {
        let values = decode_all(ON_METADATA).unwrap();
        assert_eq!(values, on_metadata_values());
        let meta = &values[1];
        assert_eq!(meta.get("width").and_then(Value::as_f64), Some(1280.0));
        assert_eq!(meta.get("height").and_then(Value::as_f64), Some(720.0));
        assert_eq!(
            meta.get("audiosamplerate").and_then(Value::as_f64),
            Some(44100.0)
        );
        assert_eq!(meta.get("stereo").and_then(Value::as_bool), Some(true));
        assert_eq!(meta.properties().map(<[_]>::len), Some(11));
        let (array, used) = decode(&ON_METADATA[ON_METADATA_ARRAY_AT..]).unwrap();
        assert_eq!(array, values[1]);
        assert_eq!(used, ON_METADATA.len() - ON_METADATA_ARRAY_AT);
    }

    #[test]
    fn golden_on_metadata_encodes() {
        assert_eq!(to_vec_all(&on_metadata_values()), ON_METADATA);
    }

    /// Offsets where a cut of `body` still decodes: between top-level values, and between the
    /// properties of the container at `container_at` (missing end marker at end of buffer).
    fn clean_cuts(values: &[Value], container_at: usize) -> Vec<usize> {
        let mut cuts = vec![0];
        let mut at = 0;
        for value in values {
            at += value.encoded_len();
            cuts.push(at);
        }
        let container = values.last().unwrap();
        let header = match container {
            Value::EcmaArray(_) => 1 + 4,
            _ => 1,
        };
        let mut at = container_at + header;
        cuts.push(at);
        for (name, value) in container.properties().unwrap() {
            at += 2 + name.len() + value.encoded_len();
            cuts.push(at);
        }
        cuts
    }

    fn check_every_cut(body: &[u8], values: &[Value], container_at: usize) {
        let clean = clean_cuts(values, container_at);
        for cut in 0..body.len() {
            match decode_all(&body[..cut]) {
                Ok(_) => assert!(clean.contains(&cut), "cut at {cut} decoded"),
                Err(Amf0Error::Truncated { offset }) => {
                    assert!(!clean.contains(&cut), "cut at {cut} failed");
                    assert!(offset <= cut, "cut at {cut} blamed {offset}");
                }
                Err(other) => panic!("cut at {cut}: {other:?}"),
            }
            // A cut container on its own, through `decode`.
            if cut >= container_at {
                let part = &body[container_at..cut];
                let ok = clean.contains(&cut) && cut > container_at;
                match decode(part) {
                    Ok((_, used)) => assert!(ok && used == part.len(), "cut at {cut}"),
                    Err(Amf0Error::Truncated { .. }) => assert!(!ok, "cut at {cut}"),
                    Err(other) => panic!("cut at {cut}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn golden_connect_every_cut_is_truncated_or_clean() {
        check_every_cut(CONNECT, &connect_values(), CONNECT_OBJECT_AT);
    }

    #[test]
    fn golden_on_metadata_every_cut_is_truncated_or_clean() {
        check_every_cut(ON_METADATA, &on_metadata_values(), ON_METADATA_ARRAY_AT);
    }

    #[test]
    fn cut_inside_end_marker_is_truncated() {
        let end = CONNECT.len();
        assert_eq!(
            decode_all(&CONNECT[..end - 1]),
            Err(Amf0Error::Truncated { offset: end - 1 })
        );
        assert_eq!(
            decode_all(&CONNECT[..end - 2]),
            Err(Amf0Error::Truncated { offset: end - 3 })
        );
        // Exactly at the property boundary: accepted, all four properties there.
        let values = decode_all(&CONNECT[..end - 3]).unwrap();
        assert_eq!(values, connect_values());
    }

    #[test]
    fn object_without_end_marker_at_buffer_end() {
        let body = b"\x03\x00\x03app\x02\x00\x04live";
        let expected = Value::object([("app", "live".into())]);
        assert_eq!(decode(body), Ok((expected.clone(), body.len())));
        // Nested: both containers end at the end of the buffer.
        let body = b"\x08\x00\x00\x00\x01\x00\x01o\x03\x00\x01n\x05";
        let expected = Value::ecma_array([("o", Value::object([("n", Value::Null)]))]);
        assert_eq!(decode(body), Ok((expected, body.len())));
        // Marker alone.
        assert_eq!(decode(b"\x03"), Ok((Value::Object(vec![]), 1)));
    }

    #[test]
    fn round_trip_every_type() {
        let values = [
            Value::Number(0.0),
            Value::Number(-1.5e300),
            Value::Number(f64::INFINITY),
            Value::Boolean(false),
            Value::Boolean(true),
            Value::String(String::new()),
            Value::String("直播 live".into()),
            Value::Object(vec![]),
            Value::object([("a", Value::Null), ("", 2.0.into())]),
            Value::Null,
            Value::Undefined,
            Value::EcmaArray(vec![]),
            Value::ecma_array([("k", "v".into()), ("k", Value::Undefined)]),
            Value::StrictArray(vec![]),
            Value::StrictArray(vec![1.0.into(), "x".into(), Value::StrictArray(vec![])]),
            Value::Date {
                millis: 1_704_067_200_000.0,
                tz: 0,
            },
            Value::Date {
                millis: -1.0,
                tz: -480,
            },
            Value::LongString(String::new()),
            Value::LongString("short but long".into()),
        ];
        for value in &values {
            round_trip(value);
        }
        let all = to_vec_all(&values);
        assert_eq!(decode_all(&all).unwrap(), values);
    }

    #[test]
    fn round_trip_exact_bytes() {
        assert_eq!(round_trip(&Value::Boolean(true)), b"\x01\x01");
        assert_eq!(round_trip(&Value::Null), b"\x05");
        assert_eq!(round_trip(&Value::Undefined), b"\x06");
        assert_eq!(
            round_trip(&Value::LongString("ab".into())),
            b"\x0c\x00\x00\x00\x02ab"
        );
        assert_eq!(
            round_trip(&Value::StrictArray(vec![Value::Null, true.into()])),
            b"\x0a\x00\x00\x00\x02\x05\x01\x01"
        );
        assert_eq!(
            round_trip(&Value::Date { millis: 1.0, tz: 0 }),
            b"\x0b\x3f\xf0\x00\x00\x00\x00\x00\x00\x00\x00"
        );
        assert_eq!(round_trip(&Value::Object(vec![])), b"\x03\x00\x00\x09");
        assert_eq!(
            round_trip(&Value::EcmaArray(vec![])),
            b"\x08\x00\x00\x00\x00\x00\x00\x09"
        );
    }

    #[test]
    fn long_string_switch() {
        let fits = "a".repeat(SHORT_MAX);
        let bytes = round_trip(&Value::String(fits));
        assert_eq!(&bytes[..3], b"\x02\xff\xff");
        assert_eq!(bytes.len(), 3 + SHORT_MAX);

        let over = "a".repeat(SHORT_MAX + 1);
        let value = Value::String(over.clone());
        let bytes = to_vec(&value);
        assert_eq!(&bytes[..5], b"\x0c\x00\x01\x00\x00");
        assert_eq!(bytes.len(), 5 + SHORT_MAX + 1);
        let (decoded, used) = decode(&bytes).unwrap();
        assert_eq!(decoded, Value::LongString(over.clone()));
        assert_eq!(decoded.as_str(), Some(over.as_str()));
        assert_eq!(used, bytes.len());
    }

    #[test]
    fn long_property_name_is_cut_on_char_boundary() {
        // 21846 three-byte chars = 65538 bytes; the name keeps 21845 of them (65535 bytes).
        let name = "直".repeat(21_846);
        let value = Value::Object(vec![(name.clone(), Value::Null)]);
        let bytes = to_vec(&value);
        let (decoded, _) = decode(&bytes).unwrap();
        let kept = &decoded.properties().unwrap()[0].0;
        assert_eq!(kept.len(), SHORT_MAX);
        assert!(name.starts_with(kept.as_str()));
    }

    #[test]
    fn non_utf8_string_is_lossy() {
        // "直播" in GB2312, as a value and as a property name.
        let body = b"\x02\x00\x04\xd6\xb1\xb2\xa5";
        let (value, used) = decode(body).unwrap();
        assert_eq!(used, body.len());
        assert!(value.as_str().unwrap().contains('\u{fffd}'));

        let body = b"\x03\x00\x04\xd6\xb1\xb2\xa5\x02\x00\x01x\x00\x00\x09";
        let (value, _) = decode(body).unwrap();
        let (name, prop) = &value.properties().unwrap()[0];
        assert!(name.contains('\u{fffd}'));
        assert_eq!(prop.as_str(), Some("x"));
        // Long string too.
        let (value, _) = decode(b"\x0c\x00\x00\x00\x01\xff").unwrap();
        assert_eq!(value, Value::LongString("\u{fffd}".into()));
    }

    #[test]
    fn lenient_markers() {
        // Reference (§2.9) → Undefined, index consumed.
        assert_eq!(decode(b"\x07\x00\x01\x05"), Ok((Value::Undefined, 3)));
        assert_eq!(decode(b"\x07\x00"), Err(Amf0Error::Truncated { offset: 1 }));
        // Unsupported (§2.15) → Undefined.
        assert_eq!(decode(b"\x0d"), Ok((Value::Undefined, 1)));
        // Typed object (§2.18) → Object, class name dropped.
        let body = b"\x10\x00\x03Foo\x00\x01a\x01\x00\x00\x00\x09";
        let expected = Value::object([("a", false.into())]);
        assert_eq!(decode(body), Ok((expected, body.len())));
        // XML document (§2.17) → LongString.
        assert_eq!(
            decode(b"\x0f\x00\x00\x00\x03<a>"),
            Ok((Value::LongString("<a>".into()), 8))
        );
        // Boolean: any non-zero byte is true.
        assert_eq!(decode(b"\x01\x7f"), Ok((Value::Boolean(true), 2)));
        // ECMA count hint that lies.
        let body = b"\x08\xff\xff\xff\xff\x00\x01a\x05\x00\x00\x09";
        let expected = Value::ecma_array([("a", Value::Null)]);
        assert_eq!(decode(body), Ok((expected, body.len())));
    }

    #[test]
    fn refused_markers() {
        assert_eq!(decode(b"\x11\x06"), Err(Amf0Error::Amf3 { offset: 0 }));
        assert_eq!(
            decode_all(b"\x05\x04"),
            Err(Amf0Error::Unsupported {
                marker: 0x04,
                offset: 1
            })
        );
        assert_eq!(
            decode(b"\x0e"),
            Err(Amf0Error::Unsupported {
                marker: 0x0e,
                offset: 0
            })
        );
        assert_eq!(
            decode(b"\x09"),
            Err(Amf0Error::UnknownMarker {
                marker: 0x09,
                offset: 0
            })
        );
        assert_eq!(
            decode_all(b"\x05\x05\x12"),
            Err(Amf0Error::UnknownMarker {
                marker: 0x12,
                offset: 2
            })
        );
        assert_eq!(decode(b""), Err(Amf0Error::Truncated { offset: 0 }));
        assert_eq!(decode_all(b""), Ok(vec![]));
        let err = Amf0Error::Amf3 { offset: 7 };
        assert_eq!(err.offset(), 7);
        assert!(err.to_string().contains("AMF3"));
    }

    #[test]
    fn depth_limit() {
        // MAX_DEPTH nested objects decode; one more is refused at its own marker.
        let nested = |levels: usize| {
            let mut value = Value::Null;
            for _ in 0..levels {
                value = Value::object([("a", value)]);
            }
            value
        };
        round_trip(&nested(MAX_DEPTH));
        let bytes = to_vec(&nested(MAX_DEPTH + 1));
        let deepest = 4 * MAX_DEPTH; // each level: marker + 00 01 'a'
        assert_eq!(decode(&bytes), Err(Amf0Error::TooDeep { offset: deepest }));
        // Strict arrays count too.
        let mut arrays = Vec::new();
        for _ in 0..=MAX_DEPTH {
            arrays.extend_from_slice(b"\x0a\x00\x00\x00\x01");
        }
        arrays.push(0x05);
        assert_eq!(
            decode(&arrays),
            Err(Amf0Error::TooDeep {
                offset: 5 * MAX_DEPTH
            })
        );
    }

    #[test]
    fn nesting_bombs() {
        // 10 000 bare object markers: the first name length 0x0303 swallows 771 bytes, and so on.
        let bomb = vec![0x03; 10_000];
        assert!(matches!(
            decode(&bomb),
            Err(Amf0Error::TooDeep { .. } | Amf0Error::Truncated { .. })
        ));
        // 10 000 objects, each opening the next under a one-byte name.
        let bomb = b"\x03\x00\x01a".repeat(10_000);
        assert_eq!(
            decode(&bomb),
            Err(Amf0Error::TooDeep {
                offset: 4 * MAX_DEPTH
            })
        );
        let bomb = b"\x08\xff\xff\xff\xff\x00\x01a".repeat(10_000);
        assert_eq!(
            decode(&bomb),
            Err(Amf0Error::TooDeep {
                offset: 8 * MAX_DEPTH
            })
        );
        let bomb = b"\x0a\xff\xff\xff\xff".repeat(10_000);
        assert_eq!(
            decode(&bomb),
            Err(Amf0Error::TooDeep {
                offset: 5 * MAX_DEPTH
            })
        );
        // Strict array claiming 4 G elements: nothing is reserved up front.
        assert_eq!(
            decode(b"\x0a\xff\xff\xff\xff"),
            Err(Amf0Error::Truncated { offset: 5 })
        );
        assert_eq!(
            decode(b"\x0a\xff\xff\xff\xff\x05\x05"),
            Err(Amf0Error::Truncated { offset: 7 })
        );
        // Long string claiming 4 GiB with 3 bytes present.
        assert_eq!(
            decode(b"\x0c\xff\xff\xff\xffabc"),
            Err(Amf0Error::Truncated { offset: 5 })
        );
    }

    #[test]
    fn item_limit() {
        // A strict array of MAX_ITEMS - 1 nulls is MAX_ITEMS values: fine. One more is not.
        let array = |count: usize| {
            let mut body = b"\x0a".to_vec();
            body.extend_from_slice(&u32::try_from(count).unwrap().to_be_bytes());
            body.resize(5 + count, 0x05);
            body
        };
        let body = array(MAX_ITEMS - 1);
        assert_eq!(decode(&body).unwrap().1, body.len());
        assert_eq!(
            decode(&array(MAX_ITEMS)),
            Err(Amf0Error::TooManyItems {
                offset: 5 + MAX_ITEMS - 1
            })
        );
        // Strict array claiming 4 G elements followed by plenty of nulls.
        let mut body = b"\x0a\xff\xff\xff\xff".to_vec();
        body.resize(5 + 2 * MAX_ITEMS, 0x05);
        assert_eq!(
            decode(&body),
            Err(Amf0Error::TooManyItems {
                offset: 5 + MAX_ITEMS - 1
            })
        );
        // decode_all counts across top-level values.
        let nulls = vec![0x05; MAX_ITEMS];
        assert_eq!(decode_all(&nulls).unwrap().len(), MAX_ITEMS);
        let nulls = vec![0x05; MAX_ITEMS + 1];
        assert_eq!(
            decode_all(&nulls),
            Err(Amf0Error::TooManyItems { offset: MAX_ITEMS })
        );
    }

    #[test]
    fn accessors() {
        let values = connect_values();
        assert_eq!(values[0].as_f64(), None);
        assert_eq!(values[1].as_str(), None);
        assert_eq!(values[1].as_bool(), None);
        assert_eq!(values[1].get("app"), None);
        assert_eq!(Value::LongString("x".into()).as_str(), Some("x"));
        assert_eq!(Value::Date { millis: 1.0, tz: 0 }.as_f64(), None);
        let dup = Value::ecma_array([("k", 1.0.into()), ("k", 2.0.into())]);
        assert_eq!(dup.get("k"), Some(&Value::Number(1.0)));
        assert_eq!(dup.get("K"), None);
        let array = Value::StrictArray(vec![Value::Null]);
        assert_eq!(array.as_array(), Some(&[Value::Null][..]));
        assert_eq!(array.properties(), None);
    }

    use crate::testutil::XorShift as Rng;

    /// Mostly small bytes, so markers and lengths land in range.
    fn byte(rng: &mut Rng) -> u8 {
        match rng.below(4) {
            0 => 0,
            1 => rng.below(0x13) as u8,
            2 => b'a' + rng.below(3) as u8,
            _ => rng.next() as u8,
        }
    }

    fn has_nan(value: &Value) -> bool {
        match value {
            Value::Number(n) | Value::Date { millis: n, .. } => n.is_nan(),
            Value::Object(props) | Value::EcmaArray(props) => {
                props.iter().any(|(_, value)| has_nan(value))
            }
            Value::StrictArray(items) => items.iter().any(has_nan),
            _ => false,
        }
    }

    /// A decoded value re-encodes to bytes that decode to the same value and re-encode to the
    /// same bytes.
    fn check_stable(values: &[Value]) {
        let first = to_vec_all(values);
        let len: usize = values.iter().map(Value::encoded_len).sum();
        assert_eq!(first.len(), len);
        let again = decode_all(&first).expect("re-decode");
        assert!(again == values || values.iter().any(has_nan), "{values:?}");
        assert_eq!(to_vec_all(&again), first);
    }

    #[test]
    fn fuzz_no_panic_and_stable() {
        let seeds: [&[u8]; 2] = [CONNECT, ON_METADATA];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut decoded = 0;
        for round in 0..20_000 {
            let input: Vec<u8> = if round % 2 == 0 {
                let len = rng.below(64);
                (0..len).map(|_| byte(&mut rng)).collect()
            } else {
                let mut input = seeds[rng.below(seeds.len())].to_vec();
                for _ in 0..1 + rng.below(4) {
                    let at = rng.below(input.len());
                    input[at] = byte(&mut rng);
                }
                let cut = rng.below(input.len() + 1);
                input.truncate(cut);
                input
            };
            if let Ok((value, used)) = decode(&input) {
                assert!(used <= input.len());
                assert!(used > 0);
                check_stable(std::slice::from_ref(&value));
                decoded += 1;
            }
            if let Ok(values) = decode_all(&input) {
                check_stable(&values);
            }
        }
        assert!(decoded > 1_000, "fuzz inputs too rarely decode: {decoded}");
    }
}
