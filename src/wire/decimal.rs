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
}
