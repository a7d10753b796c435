//! The value types of the TOML file and how each is read from toml's parsed document
//! ([`FromToml`]): each checks its value where it is written, so that an error carries the
//! value's own span. The tables themselves are read by code that `section!` generates from each
//! section's definition (`super::mod`, `super::vhost`, `super::security`), through
//! [`read_table`]; the code that reads a value is written once per value type here, not once
//! per table (the serde derives this replaces cost about 170 KB on the router build).
//!
//! The messages are serde's, as the config loader has always given them: `invalid type:
//! string "yes", expected a boolean`, `unknown field `x`, expected one of `a`, `b``.
//!
//! Checks that need more than one value (vhost names that differ only in case) or the place of
//! one array element (security rules) are done by the caller on the `Spanned` values kept here.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::sorted_map::SortedMap;
use crate::wire::decimal::F64Text;

use super::vhost::TimeJitter;

/// A value of the parsed document, with its byte span.
pub(super) type Item<'i> = Spanned<DeValue<'i>>;

/// A value refused while reading the document: where, and why. The dotted key is found from
/// the span ([`super::error`]).
#[derive(Debug)]
pub(super) struct Invalid {
    pub span: Range<usize>,
    pub message: String,
}

impl Invalid {
    pub(super) fn at(item: &Item<'_>, message: String) -> Invalid {
        Invalid {
            span: item.span(),
            message,
        }
    }
}

/// A raw value read from one TOML value, checked.
pub(super) trait FromToml: Sized {
    fn from_toml(item: &Item<'_>) -> Result<Self, Invalid>;
}

/// Reads one key of a table into its raw slot. Not inlined: the readers that `section!`
/// generates make each key's arm one call of this, which exists once per value type rather
/// than once per key.
#[inline(never)]
pub(super) fn read_into<T: FromToml>(slot: &mut Option<T>, item: &Item<'_>) -> Result<(), Invalid> {
    *slot = Some(T::from_toml(item)?);
    Ok(())
}

/// The value as serde's "invalid type" message names it: `string "x"`, `integer `3``,
/// `floating point `1.5``, `boolean `true``, `sequence`, `map`.
struct Unexpected<'a, 'i>(&'a DeValue<'i>);

impl fmt::Display for Unexpected<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            DeValue::String(s) => write!(f, "string {:?}", &**s),
            DeValue::Integer(i) => match integer(i) {
                Some(n) => write!(f, "integer `{}`", Int128(n)),
                None => write!(f, "integer `{i}`"),
            },
            DeValue::Float(x) => match float(x) {
                // serde's spelling: a finite float always shows a decimal point (F64Text's
                // `3.0`); NaN, infinities and floats F64Text cannot write exactly as
                // `float_text` shows them.
                Some(v) => match F64Text::exact(v) {
                    Some(text) => write!(f, "floating point `{}`", text.as_str()),
                    None => write!(f, "floating point `{}`", float_text(x, v)),
                },
                None => write!(f, "floating point `{x}`"),
            },
            DeValue::Boolean(b) => write!(f, "boolean `{b}`"),
            DeValue::Datetime(d) => write!(f, "datetime `{d}`"),
            DeValue::Array(_) => f.write_str("sequence"),
            DeValue::Table(_) => f.write_str("map"),
        }
    }
}

/// `invalid type: <what was written>, expected <expected>`; numbers too large for any type
/// are refused as such (as toml's deserializer did).
pub(super) fn invalid_type(item: &Item<'_>, expected: &dyn fmt::Display) -> Invalid {
    let message = match item.get_ref() {
        DeValue::Integer(i) if integer(i).is_none() => "integer number overflowed".to_owned(),
        DeValue::Float(x) if float(x).is_none() => "floating-point number overflowed".to_owned(),
        value => format!("invalid type: {}, expected {expected}", Unexpected(value)),
    };
    Invalid::at(item, message)
}

/// Words as SRS writes a list on one line: one string of space-separated words, or a TOML
/// list of strings (hook URLs, forward destinations, referer domains), at most `max` of them
/// (`what` names them in the error).
pub(super) fn words_or_list(
    item: &Item<'_>,
    expected: &str,
    max: usize,
    what: &str,
) -> Result<Vec<String>, Invalid> {
    let words: Vec<String> = match item.get_ref() {
        DeValue::String(s) => s.split_whitespace().map(str::to_owned).collect(),
        DeValue::Array(_) => Vec::<String>::from_toml(item)?,
        _ => return Err(invalid_type(item, &expected)),
    };
    if words.len() > max {
        return Err(Invalid::at(item, format!("more than {max} {what}")));
    }
    Ok(words)
}

/// `v` (read from `x`) as std's `{}` writes it (`1.5`, `5000`, `NaN`, `-inf`), without std's
/// float formatting (about 8 KB on the router, for config error messages only): through
/// `F64Text` where it is exact (at most nine fraction digits, 1e-5 up to 1e15: any float a
/// config is likely to hold); other values are shown as written.
fn float_text(x: &toml::de::DeFloat<'_>, v: f64) -> String {
    if v.is_nan() {
        return "NaN".to_owned();
    }
    if v.is_infinite() {
        return if v < 0.0 { "-inf" } else { "inf" }.to_owned();
    }
    match F64Text::exact(v) {
        Some(text) => {
            let text = text.as_str();
            text.strip_suffix(".0").unwrap_or(text).to_owned()
        }
        None => x.as_str().to_owned(),
    }
}

/// An `i128` in decimal as its Display writes it, through `u64`s: std's 128-bit
/// formatting costs about 1 KB on the router, for config error messages only.
pub(super) struct Int128(pub i128);

impl fmt::Display for Int128 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const E19: u128 = 10_000_000_000_000_000_000;
        let m = self.0.unsigned_abs();
        let sign = if self.0 < 0 { "-" } else { "" };
        // `m / E19` < 2^128 / 10^19 < 2^64: each part fits a u64.
        let (high, low) = ((m / E19) as u64, (m % E19) as u64);
        if high > 0 {
            write!(f, "{sign}{high}{low:019}")
        } else {
            write!(f, "{sign}{low}")
        }
    }
}

/// An integer as written (any radix), if it fits an `i128`.
fn integer(i: &toml::de::DeInteger<'_>) -> Option<i128> {
    i128::from_str_radix(i.as_str(), i.radix()).ok()
}

/// A float as written; `None` for a finite literal too large for `f64` (toml's rule).
fn float(x: &toml::de::DeFloat<'_>) -> Option<f64> {
    let text = x.as_str();
    let v = crate::wire::decimal::parse_f64(text)?;
    (!v.is_infinite() || text.contains("inf")).then_some(v)
}

/// Reads the table `item`: `read(key, value)` takes each key in the document's order and
/// returns `false` for a key it does not know, which is refused at the key, listing `fields`
/// (serde's `deny_unknown_fields` message). Anything but a table is refused as
/// `invalid type: ..., expected <expected>`.
pub(super) fn read_table(
    item: &Item<'_>,
    expected: &str,
    fields: &[&str],
    read: &mut dyn FnMut(&str, &Item<'_>) -> Result<bool, Invalid>,
) -> Result<(), Invalid> {
    let DeValue::Table(table) = item.get_ref() else {
        return Err(invalid_type(item, &expected));
    };
    read_entries(table, fields, read)
}

/// [`read_table`] on a table already taken apart (the document's root).
pub(super) fn read_entries(
    table: &DeTable<'_>,
    fields: &[&str],
    read: &mut dyn FnMut(&str, &Item<'_>) -> Result<bool, Invalid>,
) -> Result<(), Invalid> {
    for (key, value) in table.iter() {
        if !read(key.get_ref(), value)? {
            return Err(Invalid {
                span: key.span(),
                message: unknown_field(key.get_ref(), fields),
            });
        }
    }
    Ok(())
}

/// serde's words for a key that is not one of `fields`.
fn unknown_field(key: &str, fields: &[&str]) -> String {
    let mut message = format!("unknown field `{key}`, ");
    match fields {
        [] => message.push_str("there are no fields"),
        [one] => message.push_str(&format!("expected `{one}`")),
        [a, b] => message.push_str(&format!("expected `{a}` or `{b}`")),
        _ => {
            message.push_str("expected one of ");
            for (i, field) in fields.iter().enumerate() {
                if i > 0 {
                    message.push_str(", ");
                }
                message.push_str(&format!("`{field}`"));
            }
        }
    }
    message
}

impl FromToml for bool {
    fn from_toml(item: &Item<'_>) -> Result<bool, Invalid> {
        match item.get_ref() {
            DeValue::Boolean(b) => Ok(*b),
            _ => Err(invalid_type(item, &"a boolean")),
        }
    }
}

impl FromToml for String {
    fn from_toml(item: &Item<'_>) -> Result<String, Invalid> {
        match item.get_ref() {
            DeValue::String(s) => Ok(s.to_string()),
            _ => Err(invalid_type(item, &"a string")),
        }
    }
}

impl<T: FromToml> FromToml for Spanned<T> {
    fn from_toml(item: &Item<'_>) -> Result<Spanned<T>, Invalid> {
        Ok(Spanned::new(item.span(), T::from_toml(item)?))
    }
}

impl<T: FromToml> FromToml for Vec<T> {
    fn from_toml(item: &Item<'_>) -> Result<Vec<T>, Invalid> {
        match item.get_ref() {
            DeValue::Array(items) => items.iter().map(T::from_toml).collect(),
            _ => Err(invalid_type(item, &"a sequence")),
        }
    }
}

/// A table of strings by any key (`gb28181.passwords`).
impl FromToml for SortedMap<String, String> {
    fn from_toml(item: &Item<'_>) -> Result<Self, Invalid> {
        let mut map = SortedMap::new();
        read_table(item, "a map", &[], &mut |key, value| {
            map.insert(key.to_owned(), String::from_toml(value)?);
            Ok(true)
        })?;
        Ok(map)
    }
}

/// A table of tables by name, each name with its span (`vhost`), in the document's order.
impl<T: FromToml> FromToml for Vec<(Spanned<String>, T)> {
    fn from_toml(item: &Item<'_>) -> Result<Self, Invalid> {
        let DeValue::Table(table) = item.get_ref() else {
            return Err(invalid_type(item, &"a map"));
        };
        let mut tables = Vec::new();
        for (key, value) in table.iter() {
            let name = Spanned::new(key.span(), key.get_ref().to_string());
            tables.push((name, T::from_toml(value)?));
        }
        Ok(tables)
    }
}

/// A checked raw value that becomes a typed field (`Int<1, 3_600_000>` becomes `u32` ms).
pub(super) trait Value<T> {
    fn into_value(self) -> T;
}

macro_rules! value_as_is {
    ($($t:ty),*) => {
        $(impl Value<$t> for $t {
            fn into_value(self) -> $t {
                self
            }
        })*
    };
}

value_as_is!(bool, String, SortedMap<String, String>);

impl Value<Option<String>> for String {
    fn into_value(self) -> Option<String> {
        Some(self)
    }
}

/// An enum written as one of a fixed list of lower-case words.
pub(super) trait Keywords: Copy + 'static {
    /// Every value, in the order "expected one of ..." lists them.
    const ALL: &'static [Self];
    /// The word for this value.
    fn word(&self) -> &'static str;
}

impl Keywords for TimeJitter {
    const ALL: &'static [Self] = &TimeJitter::ALL;

    fn word(&self) -> &'static str {
        self.as_str()
    }
}

/// `log.level` (SRS: `srs_log_level`).
impl Keywords for log::LevelFilter {
    const ALL: &'static [Self] = &[
        log::LevelFilter::Trace,
        log::LevelFilter::Debug,
        log::LevelFilter::Info,
        log::LevelFilter::Warn,
        log::LevelFilter::Error,
        log::LevelFilter::Off,
    ];

    fn word(&self) -> &'static str {
        match self {
            log::LevelFilter::Trace => "trace",
            log::LevelFilter::Debug => "debug",
            log::LevelFilter::Info => "info",
            log::LevelFilter::Warn => "warn",
            log::LevelFilter::Error => "error",
            log::LevelFilter::Off => "off",
        }
    }
}

/// The raw form of a [`Keywords`] key: a string that must be one of `T`'s words.
pub(super) struct Keyword<T>(pub T);

impl<T: Keywords> Value<T> for Keyword<T> {
    fn into_value(self) -> T {
        self.0
    }
}

impl<T: Keywords> FromToml for Keyword<T> {
    fn from_toml(item: &Item<'_>) -> Result<Self, Invalid> {
        let words: Vec<&'static str> = T::ALL.iter().map(Keywords::word).collect();
        Ok(Keyword(T::ALL[keyword(item, &words)?]))
    }
}

/// The index of the word written, which must be one of `words`.
fn keyword(item: &Item<'_>, words: &[&str]) -> Result<usize, Invalid> {
    let choices = Choices(words);
    let DeValue::String(written) = item.get_ref() else {
        return Err(invalid_type(item, &choices));
    };
    words
        .iter()
        .position(|w| *w == &**written)
        .ok_or_else(|| Invalid::at(item, format!("expected {choices}, found {:?}", &**written)))
}

/// `one of full, zero, off`.
struct Choices<'a>(&'a [&'a str]);

impl fmt::Display for Choices<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("one of ")?;
        for (i, word) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(word)?;
        }
        Ok(())
    }
}

/// `SipId` becomes the id.
impl Value<String> for SipId {
    fn into_value(self) -> String {
        self.0
    }
}

impl Value<SocketAddr> for Listen {
    fn into_value(self) -> SocketAddr {
        self.0
    }
}

/// A listener that is off unless its key is written (`http_api.listen`).
impl Value<Option<SocketAddr>> for Listen {
    fn into_value(self) -> Option<SocketAddr> {
        Some(self.0)
    }
}

impl Value<u32> for QueueLength {
    fn into_value(self) -> u32 {
        self.0
    }
}

impl<const MIN: i64, const MAX: i64> Value<u32> for Int<MIN, MAX> {
    fn into_value(self) -> u32 {
        self.to_u32()
    }
}

impl<const MIN: i64, const MAX: i64> Value<u64> for Int<MIN, MAX> {
    fn into_value(self) -> u64 {
        u64::try_from(self.0).unwrap_or(0)
    }
}

impl<const MIN: i64, const MAX: i64> Value<usize> for Int<MIN, MAX> {
    fn into_value(self) -> usize {
        self.to_usize()
    }
}

/// Seconds, integer or fractional, `0 < s <= 3600`, kept as whole ms.
pub(super) type Seconds = QueueLength;

/// A GB28181 20-digit SIP id.
pub(super) struct SipId(pub String);

impl FromToml for SipId {
    fn from_toml(item: &Item<'_>) -> Result<Self, Invalid> {
        let s = String::from_toml(item)?;
        if s.len() == 20 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(SipId(s))
        } else {
            Err(Invalid::at(
                item,
                format!("expected a GB28181 id of 20 digits, found {s:?}"),
            ))
        }
    }
}

/// A timeout in milliseconds: at least 1 ms, at most an hour.
pub(super) type Timeout = Int<1, 3_600_000>;

/// A byte cap: at least 1, at most 4 GiB - 1 (so it fits `usize` on 32-bit boards).
pub(super) type Bytes = Int<1, 4_294_967_295>;

/// An integer in `MIN..=MAX`.
pub(super) struct Int<const MIN: i64, const MAX: i64>(i64);

impl<const MIN: i64, const MAX: i64> Int<MIN, MAX> {
    /// The value; saturates only if `MAX` does not fit `u32`, which no `u32` key's range allows.
    pub fn to_u32(&self) -> u32 {
        u32::try_from(self.0).unwrap_or(u32::MAX)
    }

    /// The value; saturates only if `MAX` does not fit `usize`, which no `usize` key allows.
    pub fn to_usize(&self) -> usize {
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }
}

impl<const MIN: i64, const MAX: i64> FromToml for Int<MIN, MAX> {
    fn from_toml(item: &Item<'_>) -> Result<Self, Invalid> {
        int_in(item, MIN, MAX).map(Int)
    }
}

/// An integer in `min..=max`.
pub(super) fn int_in(item: &Item<'_>, min: i64, max: i64) -> Result<i64, Invalid> {
    let n = match item.get_ref() {
        DeValue::Integer(i) => integer(i),
        _ => None,
    };
    let Some(n) = n else {
        return Err(invalid_type(
            item,
            &format_args!("an integer in {min}..={max}"),
        ));
    };
    match i64::try_from(n) {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(Invalid::at(
            item,
            format!("expected an integer in {min}..={max}, found {}", Int128(n)),
        )),
    }
}

/// `play.queue_length`: seconds, integer or fractional, `0 < s <= 3600`, kept as whole ms.
pub(super) struct QueueLength(pub u32);

const QUEUE_LENGTH_EXPECTED: &str = "a number of seconds over 0 and at most 3600";

impl FromToml for QueueLength {
    fn from_toml(item: &Item<'_>) -> Result<Self, Invalid> {
        let refuse = |found: &dyn fmt::Display, min: &str| {
            Invalid::at(
                item,
                format!("expected {QUEUE_LENGTH_EXPECTED}{min}, found {found}"),
            )
        };
        match item.get_ref() {
            DeValue::Integer(i) => match integer(i) {
                Some(v) if (1..=3600).contains(&v) => Ok(QueueLength((v * 1000) as u32)),
                Some(v) => Err(refuse(&Int128(v), "")),
                None => Err(invalid_type(item, &QUEUE_LENGTH_EXPECTED)),
            },
            DeValue::Float(x) => {
                let Some(v) = float(x) else {
                    return Err(invalid_type(item, &QUEUE_LENGTH_EXPECTED));
                };
                // NaN fails both comparisons; 0.0004 s would round to a 0 ms queue.
                let ms = (v * 1000.0).round();
                if v > 0.0 && v <= 3600.0 && ms >= 1.0 {
                    // In 1.0..=3_600_000.0, so the cast is exact.
                    Ok(QueueLength(ms as u32))
                } else {
                    Err(refuse(&float_text(x, v), " (at least 0.001)"))
                }
            }
            _ => Err(invalid_type(item, &QUEUE_LENGTH_EXPECTED)),
        }
    }
}

/// `listen`: `"IP:PORT"`, `"[IPv6]:PORT"`, or a bare port (integer or string) meaning
/// `0.0.0.0:PORT` as SRS's `listen 1935;`. Port 0 lets the kernel choose (tests).
pub(super) struct Listen(pub SocketAddr);

const LISTEN_EXPECTED: &str = "a port or an address like \"0.0.0.0:1935\" or \"[::]:1935\"";

impl FromToml for Listen {
    fn from_toml(item: &Item<'_>) -> Result<Self, Invalid> {
        let any_ip = |port| Listen(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)));
        match item.get_ref() {
            DeValue::Integer(i) => match integer(i) {
                Some(v) => u16::try_from(v).map(any_ip).map_err(|_| {
                    Invalid::at(
                        item,
                        format!("expected a port in 0..=65535, found {}", Int128(v)),
                    )
                }),
                None => Err(invalid_type(item, &LISTEN_EXPECTED)),
            },
            DeValue::String(v) => {
                if let Ok(addr) = v.parse::<SocketAddr>() {
                    return Ok(Listen(addr));
                }
                match v.parse::<u16>() {
                    Ok(port) if v.bytes().all(|b| b.is_ascii_digit()) => Ok(any_ip(port)),
                    _ => Err(Invalid::at(
                        item,
                        format!("expected {LISTEN_EXPECTED}, found {:?}", &**v),
                    )),
                }
            }
            _ => Err(invalid_type(item, &LISTEN_EXPECTED)),
        }
    }
}
