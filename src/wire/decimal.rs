//! Decimal numbers as text (`1.5`, `-0.004`, `25e-3`, `inf`) to `f64`, for the config's
//! float keys (TOML floats, as toml hands them over: underscores removed) and the numbers in
//! `/proc/uptime` and `/proc/loadavg`.
//!
//! What a caller must know: the result is the nearest `f64` (as `str::parse::<f64>` gives it)
//! whenever the digits without the point make an integer up to 2^53 (15 significant digits
//! always do) and the decimal exponent left after moving the point is within 10^±22: one
//! exact integer multiplied or divided by one exact power of ten, rounded once. Every value
//! our callers read is such a number. Longer or farther ones come out within a few units in
//! the last place of the nearest `f64`, and too large a value becomes infinity, as with std.
//!
//! The other way, [`F64Text`] writes an `f64` as JSON text as serde_json would (for the values
//! the API writes) and [`ratio_text`] an integer ratio with N fraction digits as
//! `format!("{:.N}")` would, both without std's float formatting.
//!
//! Why not `str::parse`: std's correctly rounded parser for any input (Eisel-Lemire with a
//! big-decimal fallback and a 10 KB table of powers of five) is about 17 KB of the router
//! binary, which has a 1.2 MB aim (boards/README.md).
//!
//! Accepted, as by `str::parse::<f64>`: an optional sign, digits with an optional `.` and
//! fraction (either part may be empty, not both), an optional exponent `e`/`E`, sign, digits;
//! or `inf`, `infinity`, `nan` in any case. Anything else is `None`.

/// 2^53: every integer up to it is exact in an `f64`.
const EXACT_INTEGER_MAX: u64 = 1 << 53;

/// The largest power of ten that is exact in an `f64` (5^22 < 2^53).
const EXACT_POW10_MAX: i32 = 22;

/// Digits kept in the integer significand: 19 always fit a `u64`. Later digits move the
/// exponent (before the point) or are dropped (after it).
const MAX_DIGITS: u32 = 19;

/// Exponents are clamped here: far beyond where every `f64` over- or underflows, and small
/// enough that adding the digit counts cannot overflow an `i32`.
const EXPONENT_CLAMP: i32 = 100_000;

/// Parses `text` as a decimal number; `None` if it is not one.
pub fn parse_f64(text: &str) -> Option<f64> {
    let (negative, body) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let magnitude = if body.eq_ignore_ascii_case("inf") || body.eq_ignore_ascii_case("infinity") {
        f64::INFINITY
    } else if body.eq_ignore_ascii_case("nan") {
        f64::NAN
    } else {
        finite(body.as_bytes())?
    };
    Some(if negative { -magnitude } else { magnitude })
}

/// An unsigned decimal literal without the sign.
fn finite(s: &[u8]) -> Option<f64> {
    let mut significand: u64 = 0;
    let mut digits = 0u32;
    let mut exponent: i32 = 0;
    let mut i = 0;
    let mut any_digit = false;
    while let Some(&c) = s.get(i).filter(|c| c.is_ascii_digit()) {
        any_digit = true;
        if significand == 0 && c == b'0' {
            // A leading zero adds no significant digit.
        } else if digits < MAX_DIGITS {
            significand = significand * 10 + u64::from(c - b'0');
            digits += 1;
        } else {
            exponent = exponent.saturating_add(1);
        }
        i += 1;
    }
    if s.get(i) == Some(&b'.') {
        i += 1;
        while let Some(&c) = s.get(i).filter(|c| c.is_ascii_digit()) {
            any_digit = true;
            if significand == 0 && c == b'0' {
                exponent = exponent.saturating_sub(1);
            } else if digits < MAX_DIGITS {
                significand = significand * 10 + u64::from(c - b'0');
                digits += 1;
                exponent = exponent.saturating_sub(1);
            }
            i += 1;
        }
    }
    if !any_digit {
        return None;
    }
    if let Some(b'e' | b'E') = s.get(i) {
        i += 1;
        let negative = match s.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let start = i;
        let mut e: i32 = 0;
        while let Some(&c) = s.get(i).filter(|c| c.is_ascii_digit()) {
            e = (e * 10 + i32::from(c - b'0')).min(EXPONENT_CLAMP);
            i += 1;
        }
        if i == start {
            return None;
        }
        exponent = exponent
            .clamp(-EXPONENT_CLAMP, EXPONENT_CLAMP)
            .saturating_add(if negative { -e } else { e });
    }
    if i != s.len() {
        return None;
    }
    if significand == 0 {
        return Some(0.0);
    }
    // The significand is exact as f64 only up to 2^53; a larger one is rounded here once.
    let value = significand as f64;
    if significand <= EXACT_INTEGER_MAX && (-EXACT_POW10_MAX..=EXACT_POW10_MAX).contains(&exponent)
    {
        // One correctly rounded operation on two exact operands (Clinger's fast path).
        let scale = pow10(exponent.unsigned_abs());
        return Some(if exponent < 0 {
            value / scale
        } else {
            value * scale
        });
    }
    Some(scaled(value, exponent))
}

/// 10^n for n <= 22, exact: every product on the way is.
fn pow10(n: u32) -> f64 {
    let mut p = 1.0;
    for _ in 0..n {
        p *= 10.0;
    }
    p
}

/// `value * 10^exponent` in exact steps of 10^22, each rounded: within a few units in the
/// last place, infinity past `f64::MAX`, 0 below the smallest subnormal.
fn scaled(mut value: f64, mut exponent: i32) -> f64 {
    let step = pow10(EXACT_POW10_MAX as u32);
    while exponent > EXACT_POW10_MAX && value.is_finite() {
        value *= step;
        exponent -= EXACT_POW10_MAX;
    }
    while exponent < -EXACT_POW10_MAX && value != 0.0 {
        value /= step;
        exponent += EXACT_POW10_MAX;
    }
    let scale = pow10(exponent.unsigned_abs());
    if exponent < 0 {
        value / scale
    } else {
        value * scale
    }
}

/// Most fraction digits [`F64Text`] writes: every value the API emits has at most four
/// (`round2`, `round4`) or three (milliseconds as seconds).
const MAX_FRACTION_DIGITS: u32 = 9;

/// The bound under which [`F64Text`] looks for the shortest decimal: every integer below it
/// is exact, and a value this large still has fraction digits of its own.
const SHORTEST_MAX: f64 = 1e15;

/// Below this (non-zero) the shortest form that `serde_json` (ryu) writes has an exponent
/// (`1e-6`); ours is then rounded to [`MAX_FRACTION_DIGITS`] instead.
const SHORTEST_MIN: f64 = 1e-5;

/// A finite `f64` as JSON text, the way `serde_json` writes it (ryu's shortest round-trip
/// digits, `3.0` for an integer, `-0.0`) for every value that has at most nine fraction
/// digits and a magnitude of 1e-5 up to 1e15 (and 0): all the values the API writes. Other
/// values are written rounded to nine fraction digits (1e15 and beyond: to an integer) in the
/// same plain form, never with an exponent. NaN and infinities never get here (serde_json
/// writes them as `null`).
///
/// Why not ryu (or std's `Display`): the shortest-digits machinery and its tables are about
/// 18 KB of the router binary, for a few rounded percentages and durations.
pub struct F64Text {
    buf: [u8; 48],
    len: usize,
}

impl F64Text {
    pub fn new(value: f64) -> F64Text {
        let v = value.abs();
        let (k, digits) = shortest(v).unwrap_or_else(|| {
            if v < 1e9 {
                (
                    (v * pow10(MAX_FRACTION_DIGITS)).round() as u64,
                    MAX_FRACTION_DIGITS,
                )
            } else {
                (v.round() as u64, 0)
            }
        });
        F64Text::digits(value.is_sign_negative(), k, digits)
    }

    /// The shortest digits that read back as `value`, with a decimal point (`3.0`), only
    /// where [`F64Text::new`] finds them (no rounding): at most nine fraction digits and a
    /// magnitude of 1e-5 up to 1e15 (or 0). There the text is also std's `{}` of `value`
    /// (which has no `.0` for an integer).
    pub fn exact(value: f64) -> Option<F64Text> {
        let (k, digits) = shortest(value.abs())?;
        Some(F64Text::digits(value.is_sign_negative(), k, digits))
    }

    /// `-`, then `k / 10^digits` with its fraction's trailing zeros cut (one digit kept).
    fn digits(negative: bool, k: u64, digits: u32) -> F64Text {
        let mut text = F64Text {
            buf: [0; 48],
            len: 0,
        };
        if negative {
            text.push(b'-');
        }
        let scale = 10u64.pow(digits);
        text.push_integer(k / scale, 1);
        text.push(b'.');
        let fraction = k % scale;
        if digits == 0 {
            text.push(b'0');
        } else {
            text.push_integer(fraction, digits as usize);
            while text.buf[text.len - 1] == b'0' && text.buf[text.len - 2] != b'.' {
                text.len -= 1;
            }
        }
        text
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII digits, '-' and '.' are ever pushed.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("0.0")
    }

    fn push(&mut self, byte: u8) {
        if self.len < self.buf.len() {
            self.buf[self.len] = byte;
            self.len += 1;
        }
    }

    /// `n` in decimal, zero-padded to at least `width` digits.
    fn push_integer(&mut self, mut n: u64, width: usize) {
        let mut digits = [b'0'; 20];
        let mut at = digits.len();
        while n > 0 || digits.len() - at < width {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
        }
        for &digit in &digits[at..] {
            self.push(digit);
        }
    }
}

/// The fewest fraction digits `d` and the integer `k` with `k / 10^d` rounding to `v`: then
/// `k`'s digits are the shortest that read back as `v` (two decimals with as many fraction
/// digits differ by far more than `v`'s rounding interval below 1e15).
fn shortest(v: f64) -> Option<(u64, u32)> {
    if v >= SHORTEST_MAX || (v != 0.0 && v < SHORTEST_MIN) {
        return None;
    }
    (0..=MAX_FRACTION_DIGITS).find_map(|d| {
        let scale = pow10(d);
        let k = (v * scale).round();
        (k < EXACT_INTEGER_MAX as f64 && k / scale == v).then_some((k as u64, d))
    })
}

/// `numerator / denominator` in decimal with `digits` fraction digits, rounded half to even as
/// `format!("{:.N}")` rounds an exact `f64` (`0.25` to one digit is `0.2`), without std's
/// float formatting (about 18 KB of the router binary). A zero denominator gives `0`.
pub fn ratio_text(numerator: u64, denominator: u64, digits: u32) -> String {
    let d = denominator.max(1);
    let scale = 10u64.pow(digits.min(9));
    let (mut int, rest) = (numerator / d, numerator % d);
    // Exact while `d * scale` fits (every caller's: MiB and milliseconds); saturates beyond.
    let scaled = rest.saturating_mul(scale);
    let (mut fraction, r) = (scaled / d, scaled % d);
    if r.saturating_mul(2) > d || (r.saturating_mul(2) == d && fraction % 2 == 1) {
        fraction += 1;
    }
    if fraction >= scale {
        fraction -= scale;
        int += 1;
    }
    if digits == 0 {
        int.to_string()
    } else {
        format!("{int}.{fraction:0width$}", width = digits as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_f64;

    /// Bit for bit what std's parser gives, NaN's sign aside.
    fn same_as_std(text: &str) {
        let ours = parse_f64(text);
        let std = text.parse::<f64>().ok();
        match (ours, std) {
            (Some(a), Some(b)) if a.is_nan() && b.is_nan() => {}
            (Some(a), Some(b)) => assert_eq!(a.to_bits(), b.to_bits(), "{text:?}: {a} vs {b}"),
            (a, b) => assert_eq!(a, b, "{text:?}"),
        }
    }

    #[test]
    fn config_and_proc_numbers_exact() {
        for t in [
            "0",
            "0.0",
            "-0.0",
            "+0",
            "1",
            "1.5",
            "0.5",
            "-0.5",
            "0.0004",
            "0.001",
            "3600",
            "3600.5",
            "3601",
            "1000.0",
            "2.0",
            "0.1",
            "0.2",
            "0.3",
            "1e3",
            "25e-3",
            "1E+2",
            "123456.78",
            "98765.43",
            "0.00",
            "1.",
            ".5",
            "4503599627370496",
            "9007199254740993",
            "1e22",
            "1e-22",
            "123456789012345e-22",
            "0.000000000000000000001",
            "00000000000000000000000000001.5",
            "1.50000000000000000000000",
        ] {
            same_as_std(t);
        }
    }

    #[test]
    fn specials() {
        for t in [
            "inf",
            "-inf",
            "+inf",
            "Infinity",
            "INF",
            "nan",
            "-nan",
            "+nan",
            "NaN",
            "1e400",
            "-1e400",
            "1e-400",
            "0e999999999999",
            "1e99999999999999999",
        ] {
            same_as_std(t);
        }
    }

    #[test]
    fn not_numbers() {
        for t in [
            "", "+", "-", ".", "e5", "1e", "1e+", "1.2.3", "1_000", "0x10", " 1", "1 ", "in",
            "infinit", "nana", "1,5", "--1", "+-1", ".e1",
        ] {
            assert_eq!(parse_f64(t), None, "{t:?}");
            same_as_std(t);
        }
    }

    /// Random numbers of up to 15 significant digits with the point anywhere and exponents
    /// that keep them in the exact range: always the nearest f64.
    #[test]
    fn fast_path_matches_std() {
        let mut x: u64 = 0x243f_6a88_85a3_08d3;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let digits = 1 + next() % 15;
            let mut s: String = (0..digits)
                .map(|_| char::from(b'0' + (next() % 10) as u8))
                .collect();
            let point = (next() % (digits + 1)) as usize;
            s.insert(point, '.');
            if s == "." {
                continue;
            }
            if next() % 3 == 0 {
                let e = (next() % 15) as i64 - 7;
                s.push_str(&format!("e{e}"));
            }
            same_as_std(&s);
        }
    }

    /// Outside the exact range the result is within a few units in the last place.
    #[test]
    fn far_numbers_close() {
        for t in [
            "1.7976931348623157e308",
            "2.2250738585072014e-308",
            "1.2345678901234567890123e200",
            "9.87654321e-250",
            "12345678901234567890123456789",
            "3.14159265358979323846264338",
        ] {
            let ours = parse_f64(t).unwrap();
            let std: f64 = t.parse().unwrap();
            let ulps = (ours.to_bits() as i64 - std.to_bits() as i64).abs();
            assert!(ulps <= 4, "{t}: {ours} vs {std} ({ulps} ulp)");
        }
    }

    /// serde_json's text (ryu) for the values the API writes: rounded to 2 or 4 decimals,
    /// milliseconds as seconds, integers, zeros of both signs.
    #[test]
    fn f64_text_as_serde_json() {
        use super::F64Text;
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let fixed = [
            0.0, -0.0, 1.0, 3.0, 100.0, 0.5, 0.1, 0.01, 0.0001, 12.34, 99.99, 1e14,
        ];
        let mut values: Vec<f64> = fixed.to_vec();
        for _ in 0..20_000 {
            let n = next();
            values.push((n >> 20) as f64 / 10_000.0);
            values.push((n % 100_000_000) as f64 / 1000.0);
            values.push(((n % 1_000_000) as f64 / 10_000.0 * 100.0).round() / 100.0);
            values.push(-((n % 10_000) as f64) / 10_000.0);
            values.push((n % 1_000_000_000_000) as f64);
        }
        for v in values {
            let ours = F64Text::new(v);
            assert_eq!(ours.as_str(), serde_json::to_string(&v).unwrap(), "{v:?}");
        }
    }

    /// Where it is exact, `F64Text` is std's `{}` (with `.0` after an integer).
    #[test]
    fn f64_text_exact_is_std_display() {
        use super::F64Text;
        let values = [
            0.0, -0.0, 1.0, -3.0, 1000.0, 1.5, 0.1, 2.25e-5, 12.345678, 1e14, 123_456.75,
        ];
        for v in values {
            let std = format!("{v}");
            let std = if std.contains('.') { std } else { std + ".0" };
            let ours = F64Text::exact(v).unwrap();
            assert_eq!(ours.as_str(), std, "{v:?}");
        }
        for v in [1.0 / 3.0, 1e-7, 1e15, 1e300, f64::NAN, f64::INFINITY] {
            assert!(F64Text::exact(v).is_none(), "{v:?}");
        }
    }

    /// Outside the exact range: rounded to nine fraction digits or an integer, no exponent.
    #[test]
    fn f64_text_rounds_others() {
        use super::F64Text;
        assert_eq!(F64Text::new(1.0 / 3.0).as_str(), "0.333333333");
        assert_eq!(F64Text::new(1.5e-7).as_str(), "0.00000015");
        assert_eq!(F64Text::new(1e-12).as_str(), "0.0");
        assert_eq!(F64Text::new(2e17).as_str(), "200000000000000000.0");
        assert_eq!(F64Text::new(f64::MAX).as_str(), "18446744073709551615.0");
    }

    /// As `format!("{:.N}")` writes the exact ratio, ties to even included.
    #[test]
    fn ratio_text_as_std() {
        use super::ratio_text;
        const MIB: u64 = 1 << 20;
        for bytes in (0..40 * MIB)
            .step_by(4096)
            .chain([262_144, 786_432, u64::MAX / 16])
        {
            let std = format!("{:.1}", bytes as f64 / MIB as f64);
            assert_eq!(ratio_text(bytes, MIB, 1), std, "{bytes}");
        }
        for ms in (0..200_000).step_by(7).chain([4_294_967_295_999]) {
            assert_eq!(
                ratio_text(ms, 1000, 3),
                format!("{:.3}", ms as f64 / 1000.0)
            );
        }
        assert_eq!(ratio_text(5, 2, 0), "2");
        assert_eq!(ratio_text(1, 0, 2), "1.00");
    }
}
