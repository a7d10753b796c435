//! The API's JSON text: serde_json's compact writer with `f64`s written by
//! [`crate::wire::decimal::F64Text`] instead of ryu. Every body the API, the GB28181 API and
//! DVR playback answer goes through [`to_string`].
//!
//! What a caller must know: the text is serde_json's, byte for byte, for every value the API
//! writes (`round2`/`round4` percentages, milliseconds as seconds, integers); an `f64` with
//! more than nine fraction digits would be written rounded to nine (F64Text's contract).
//! Why: ryu and its tables are about 18 KB of the router binary (boards/README.md).

use std::io;

use serde::Serialize;

use crate::wire::decimal::F64Text;

/// serde_json's `CompactFormatter` but for `f64`s (no body has an `f32`).
struct Compact;

impl serde_json::ser::Formatter for Compact {
    fn write_f64<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        writer.write_all(F64Text::new(value).as_str().as_bytes())
    }
}

/// `value` as compact JSON text, as `serde_json::to_string` writes it.
pub fn to_string<T: ?Sized + Serialize>(value: &T) -> serde_json::Result<String> {
    let mut out = Vec::with_capacity(128);
    value.serialize(&mut serde_json::Serializer::with_formatter(
        &mut out, Compact,
    ))?;
    // serde_json writes only UTF-8 (its strings come from `str`s).
    String::from_utf8(out).map_err(|_| serde::ser::Error::custom("not UTF-8"))
}
