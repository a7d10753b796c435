//! Base64 (RFC 4648 §4, the standard alphabet), used for HTTP and RTSP Basic credentials and
//! the parameter sets of an SDP `a=fmtp` (RFC 6184 §8.1 `sprop-parameter-sets`, RFC 7798
//! §7.1 `sprop-vps`/`sps`/`pps`). Decoding takes padding as optional and refuses whitespace,
//! `-`/`_` and data after padding; encoding pads.

/// Longest encoded token decoded: basic credentials are a user and a password, a few dozen
/// bytes; anything longer is refused before decoding.
pub const MAX_ENCODED: usize = 1024;

fn value(c: u8) -> Option<u32> {
    match c {
        b'A'..=b'Z' => Some(u32::from(c - b'A')),
        b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
        b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// `input` in base64 with `=` padding.
pub fn encode(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for group in input.chunks(3) {
        let mut acc = 0u32;
        for (i, &b) in group.iter().enumerate() {
            acc |= u32::from(b) << (16 - 8 * i);
        }
        for i in 0..4 {
            if i <= group.len() {
                out.push(char::from(ALPHABET[(acc >> (18 - 6 * i)) as usize & 0x3f]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The bytes `input` encodes, or `None` if it is not base64 (or longer than [`MAX_ENCODED`]).
pub fn decode(input: &[u8]) -> Option<Vec<u8>> {
    if input.len() > MAX_ENCODED {
        return None;
    }
    // Up to two '=' at the very end, and only where a group is padded to 4.
    let data = input
        .strip_suffix(b"==")
        .or_else(|| input.strip_suffix(b"="))
        .unwrap_or(input);
    if data.len() != input.len() && input.len() % 4 != 0 {
        return None;
    }
    if data.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(data.len() / 4 * 3 + 2);
    for group in data.chunks(4) {
        let mut acc = 0u32;
        for &c in group {
            acc = (acc << 6) | value(c)?;
        }
        match group.len() {
            4 => out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]),
            3 => {
                // 18 bits: two bytes and 2 bits that must be zero.
                if acc & 0x3 != 0 {
                    return None;
                }
                out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]);
            }
            2 => {
                // 12 bits: one byte and 4 bits that must be zero.
                if acc & 0xf != 0 {
                    return None;
                }
                out.push((acc >> 4) as u8);
            }
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::XorShift;

    /// RFC 4648 §10 test vectors, plus basic-auth examples (RFC 7617 §2).
    const CASES: &[(&str, &str)] = &[
        ("", ""),
        ("Zg==", "f"),
        ("Zm8=", "fo"),
        ("Zm9v", "foo"),
        ("Zm9vYg==", "foob"),
        ("Zm9vYmE=", "fooba"),
        ("Zm9vYmFy", "foobar"),
        ("QWxhZGRpbjpvcGVuIHNlc2FtZQ==", "Aladdin:open sesame"),
        ("dGVzdDoxMjPCow==", "test:123\u{a3}"),
        ("Zg", "f"),
        ("Zm8", "fo"),
    ];

    #[test]
    fn decodes_the_rfc_vectors() {
        for (enc, dec) in CASES {
            assert_eq!(
                decode(enc.as_bytes()).as_deref(),
                Some(dec.as_bytes()),
                "{enc}"
            );
        }
    }

    #[test]
    fn encodes_the_rfc_vectors() {
        for (enc, dec) in CASES.iter().filter(|(enc, _)| enc.len() % 4 == 0) {
            assert_eq!(encode(dec.as_bytes()), *enc);
        }
    }

    #[test]
    fn refuses_what_is_not_base64() {
        for bad in [
            "Z",
            "Zg=",
            "Zg===",
            "=Zg=",
            "Zm9v YmFy",
            "Zm9v\n",
            "Zh==",
            "Zm9=",
            "Zm-v",
            "Zm_v",
            "Zg==Zg==",
            "Zm9vY",
            "\u{e9}",
        ] {
            assert_eq!(decode(bad.as_bytes()), None, "{bad:?}");
        }
        assert_eq!(decode(&[b'A'; MAX_ENCODED + 4]), None);
    }

    #[test]
    fn never_panics_and_round_trips_what_it_accepts() {
        const ALPHABET: &[u8] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ \n";
        let mut rng = XorShift(0x5eed_ba5e);
        for _ in 0..20_000 {
            let len = rng.below(24);
            let input: Vec<u8> = (0..len)
                .map(|_| ALPHABET[rng.below(ALPHABET.len())])
                .collect();
            if let Some(out) = decode(&input) {
                assert!(out.len() <= input.len());
                assert_eq!(decode(encode(&out).as_bytes()), Some(out));
            }
        }
    }
}
