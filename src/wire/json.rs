//! A JSON object of scalars (RFC 8259), as API request bodies send them:
//! `{"action":"start","app":"live","stream":"cam","n":1,"x":null}`. [`decode_object`] gives the
//! members whose values are strings; numbers, `true`, `false` and `null` are checked and
//! skipped. Pure code over a byte slice that arrives whole (a request body), so running out
//! of bytes is an error, not "need more".
//!
//! Why not serde_json's deserializer: it costs about 17 KB on the router build (its number
//! parsing above all) for four string fields.
//!
//! Not supported (refused): nested objects and arrays, a top-level value other than an
//! object, more than [`MAX_MEMBERS`] members. Strings are decoded with their escapes
//! (`\uXXXX` and surrogate pairs included; a lone surrogate becomes U+FFFD); a duplicate name
//! keeps both members, in order.

use std::fmt;

/// Most members one object may have: the peer chooses the count, each costs a small
/// allocation. An API request names four.
pub const MAX_MEMBERS: usize = 32;

/// Why a body is not a JSON object of scalars; `at` is the byte offset of the fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    #[error("JSON ends too soon (at byte {at})")]
    Truncated { at: usize },
    #[error("unexpected byte {byte:#04x} at {at} in JSON")]
    Unexpected { byte: u8, at: usize },
    #[error("JSON nested object or array at {at} is not supported")]
    Nested { at: usize },
    #[error("JSON object with more than {MAX_MEMBERS} members")]
    TooManyMembers,
    #[error("bytes after the JSON object, at {at}")]
    Trailing { at: usize },
}

/// The string members of the JSON object `input`, in order.
pub fn decode_object(input: &[u8]) -> Result<Vec<(String, String)>, JsonError> {
    let mut r = Reader { input, at: 0 };
    let mut members = Vec::new();
    r.skip_space();
    r.expect(b'{')?;
    r.skip_space();
    if r.peek()? == b'}' {
        r.at += 1;
    } else {
        let mut count = 0;
        loop {
            count += 1;
            if count > MAX_MEMBERS {
                return Err(JsonError::TooManyMembers);
            }
            r.skip_space();
            r.expect(b'"')?;
            let name = r.string()?;
            r.skip_space();
            r.expect(b':')?;
            r.skip_space();
            if let Some(value) = r.scalar()? {
                members.push((name, value));
            }
            r.skip_space();
            match r.next()? {
                b',' => continue,
                b'}' => break,
                byte => return Err(r.unexpected(byte)),
            }
        }
    }
    r.skip_space();
    if r.at < input.len() {
        return Err(JsonError::Trailing { at: r.at });
    }
    Ok(members)
}

/// Deepest nesting [`integer_member`] skips through. Why: values are skipped recursively, one
/// stack frame per level; SRS's hook answers nest one or two levels (`{"code":0,"data":{}}`).
pub const MAX_DEPTH: usize = 16;

/// The first top-level member `name` of the JSON object `input`, if its value is an integer
/// (no fraction, no exponent) that fits an `i64`: SRS's hook answers, `{"code": 0, "data":
/// ...}`. Unlike [`decode_object`], values of any kind are checked and skipped, nested ones
/// up to [`MAX_DEPTH`] levels; each object or array holds at most [`MAX_MEMBERS`] members.
pub fn integer_member(input: &[u8], name: &str) -> Result<Option<i64>, JsonError> {
    let mut r = Reader { input, at: 0 };
    let mut found: Option<Option<i64>> = None;
    r.skip_space();
    r.expect(b'{')?;
    r.skip_space();
    if r.peek()? == b'}' {
        r.at += 1;
    } else {
        let mut count = 0;
        loop {
            count += 1;
            if count > MAX_MEMBERS {
                return Err(JsonError::TooManyMembers);
            }
            r.skip_space();
            r.expect(b'"')?;
            let key = r.string()?;
            r.skip_space();
            r.expect(b':')?;
            r.skip_space();
            let start = r.at;
            r.value(1)?;
            if found.is_none() && key == name {
                found = Some(integer(&input[start..r.at]));
            }
            r.skip_space();
            match r.next()? {
                b',' => continue,
                b'}' => break,
                byte => return Err(r.unexpected(byte)),
            }
        }
    }
    r.skip_space();
    if r.at < input.len() {
        return Err(JsonError::Trailing { at: r.at });
    }
    Ok(found.flatten())
}

/// A number's text as an `i64`, when it is an integer.
fn integer(text: &[u8]) -> Option<i64> {
    let digits = text.strip_prefix(b"-").unwrap_or(text);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// The value of member `name`, if it is a string (the first of its name).
pub fn get<'a>(members: &'a [(String, String)], name: &str) -> Option<&'a str> {
    members
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

struct Reader<'a> {
    input: &'a [u8],
    at: usize,
}

impl fmt::Debug for Reader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reader at {}", self.at)
    }
}

impl Reader<'_> {
    fn peek(&self) -> Result<u8, JsonError> {
        self.input
            .get(self.at)
            .copied()
            .ok_or(JsonError::Truncated { at: self.at })
    }

    fn next(&mut self) -> Result<u8, JsonError> {
        let b = self.peek()?;
        self.at += 1;
        Ok(b)
    }

    fn unexpected(&self, byte: u8) -> JsonError {
        JsonError::Unexpected {
            byte,
            at: self.at - 1,
        }
    }

    fn expect(&mut self, want: u8) -> Result<(), JsonError> {
        match self.next()? {
            b if b == want => Ok(()),
            b => Err(self.unexpected(b)),
        }
    }

    /// RFC 8259 §2: space, tab, line feed, carriage return.
    fn skip_space(&mut self) {
        while matches!(self.input.get(self.at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// A value: `Some(text)` for a string, `None` for a number or literal (checked, skipped).
    fn scalar(&mut self) -> Result<Option<String>, JsonError> {
        match self.next()? {
            b'"' => self.string().map(Some),
            b'{' | b'[' => Err(JsonError::Nested { at: self.at - 1 }),
            b't' => self.literal(b"rue").map(|()| None),
            b'f' => self.literal(b"alse").map(|()| None),
            b'n' => self.literal(b"ull").map(|()| None),
            b'-' | b'0'..=b'9' => {
                self.at -= 1;
                self.number().map(|()| None)
            }
            byte => Err(self.unexpected(byte)),
        }
    }

    /// Checks and skips any value, objects and arrays `depth` levels deep at most
    /// [`MAX_DEPTH`].
    fn value(&mut self, depth: usize) -> Result<(), JsonError> {
        let (open, close) = match self.peek()? {
            b'{' => (b'{', b'}'),
            b'[' => (b'[', b']'),
            _ => return self.scalar().map(drop),
        };
        if depth >= MAX_DEPTH {
            return Err(JsonError::Nested { at: self.at });
        }
        self.at += 1;
        self.skip_space();
        if self.peek()? == close {
            self.at += 1;
            return Ok(());
        }
        let mut count = 0;
        loop {
            count += 1;
            if count > MAX_MEMBERS {
                return Err(JsonError::TooManyMembers);
            }
            self.skip_space();
            if open == b'{' {
                self.expect(b'"')?;
                self.string()?;
                self.skip_space();
                self.expect(b':')?;
                self.skip_space();
            }
            self.value(depth + 1)?;
            self.skip_space();
            match self.next()? {
                b',' => continue,
                b if b == close => return Ok(()),
                byte => return Err(self.unexpected(byte)),
            }
        }
    }

    fn literal(&mut self, rest: &[u8]) -> Result<(), JsonError> {
        for &want in rest {
            self.expect(want)?;
        }
        Ok(())
    }

    /// RFC 8259 §6: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn number(&mut self) -> Result<(), JsonError> {
        if self.peek()? == b'-' {
            self.at += 1;
        }
        match self.next()? {
            b'0' => {}
            b'1'..=b'9' => self.digits(),
            byte => return Err(self.unexpected(byte)),
        }
        if self.input.get(self.at) == Some(&b'.') {
            self.at += 1;
            self.digit()?;
            self.digits();
        }
        if matches!(self.input.get(self.at), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.input.get(self.at), Some(b'+' | b'-')) {
                self.at += 1;
            }
            self.digit()?;
            self.digits();
        }
        Ok(())
    }

    fn digit(&mut self) -> Result<(), JsonError> {
        match self.next()? {
            b'0'..=b'9' => Ok(()),
            byte => Err(self.unexpected(byte)),
        }
    }

    fn digits(&mut self) {
        while matches!(self.input.get(self.at), Some(b'0'..=b'9')) {
            self.at += 1;
        }
    }

    /// The rest of a string after its opening quote (RFC 8259 §7).
    fn string(&mut self) -> Result<String, JsonError> {
        let mut out = Vec::new();
        loop {
            match self.next()? {
                b'"' => break,
                b'\\' => match self.next()? {
                    b'"' => out.push(b'"'),
                    b'\\' => out.push(b'\\'),
                    b'/' => out.push(b'/'),
                    b'b' => out.push(0x08),
                    b'f' => out.push(0x0c),
                    b'n' => out.push(b'\n'),
                    b'r' => out.push(b'\r'),
                    b't' => out.push(b'\t'),
                    b'u' => {
                        let c = self.escaped_char()?;
                        let mut buf = [0u8; 4];
                        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    }
                    byte => return Err(self.unexpected(byte)),
                },
                byte @ 0x00..=0x1f => return Err(self.unexpected(byte)),
                byte => out.push(byte),
            }
        }
        Ok(String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into()))
    }

    /// `\uXXXX` (the `\u` read), with a following low surrogate for a high one.
    fn escaped_char(&mut self) -> Result<char, JsonError> {
        let first = self.hex4()?;
        if !(0xD800..0xDC00).contains(&first) {
            return Ok(char::from_u32(first).unwrap_or(char::REPLACEMENT_CHARACTER));
        }
        if self.input.get(self.at..self.at + 2) != Some(b"\\u") {
            return Ok(char::REPLACEMENT_CHARACTER);
        }
        self.at += 2;
        let second = self.hex4()?;
        if !(0xDC00..0xE000).contains(&second) {
            return Ok(char::REPLACEMENT_CHARACTER);
        }
        let c = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
        Ok(char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER))
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let mut v = 0;
        for _ in 0..4 {
            let b = self.next()?;
            let d = match b {
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                b'A'..=b'F' => b - b'A' + 10,
                byte => return Err(self.unexpected(byte)),
            };
            v = v * 16 + u32::from(d);
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The API's request, as curl, a browser's fetch and Python's json.dumps send it.
    const DVR_START: &[u8] =
        br#"{"action":"start","vhost":"__defaultVhost__","app":"live","stream":"cam1"}"#;
    const PRETTY: &[u8] =
        b"{\n  \"action\": \"stop\",\r\n\t\"app\" : \"live\", \"n\": -1.5e+3, \"ok\": true,\n  \"x\": null, \"stream\": \"a\\\"b\\u00e9\\ud83d\\ude00\\/\"\n}\n";

    #[test]
    fn string_members_in_order_others_skipped() {
        let m = decode_object(DVR_START).unwrap();
        assert_eq!(get(&m, "action"), Some("start"));
        assert_eq!(get(&m, "vhost"), Some("__defaultVhost__"));
        assert_eq!(m.len(), 4);
        let m = decode_object(PRETTY).unwrap();
        let names: Vec<&str> = m.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["action", "app", "stream"]);
        assert_eq!(get(&m, "stream"), Some("a\"bé😀/"));
        assert_eq!(decode_object(b" {} ").unwrap(), []);
        assert_eq!(get(&m, "nope"), None);
    }

    #[test]
    fn every_cut_is_an_error_never_a_panic() {
        for input in [DVR_START, PRETTY] {
            let end = input.iter().rposition(|&b| b == b'}').unwrap();
            for cut in 0..=end {
                assert!(decode_object(&input[..cut]).is_err(), "cut at {cut}");
            }
        }
    }

    #[test]
    fn refusals_say_where() {
        assert_eq!(
            decode_object(br#"{"a":{"b":1}}"#),
            Err(JsonError::Nested { at: 5 })
        );
        assert_eq!(
            decode_object(br#"{"a":[1]}"#),
            Err(JsonError::Nested { at: 5 })
        );
        assert_eq!(
            decode_object(br#"["a"]"#),
            Err(JsonError::Unexpected { byte: b'[', at: 0 })
        );
        assert_eq!(
            decode_object(br#"{"a":1}x"#),
            Err(JsonError::Trailing { at: 7 })
        );
        assert_eq!(
            decode_object(br#"{"a":01}"#),
            Err(JsonError::Unexpected { byte: b'1', at: 6 })
        );
        assert_eq!(
            decode_object(br#"{"a":"\q"}"#),
            Err(JsonError::Unexpected { byte: b'q', at: 7 })
        );
        assert_eq!(
            decode_object(b"{\"a\":\"x\ny\"}"),
            Err(JsonError::Unexpected { byte: b'\n', at: 7 })
        );
        let many: String = format!(
            "{{{}}}",
            (0..=MAX_MEMBERS)
                .map(|i| format!("\"k{i}\":1"))
                .collect::<Vec<_>>()
                .join(",")
        );
        assert_eq!(
            decode_object(many.as_bytes()),
            Err(JsonError::TooManyMembers)
        );
        // A lone surrogate and bad UTF-8 in a string: replaced, not refused.
        let m = decode_object(b"{\"a\":\"\\ud800x\xff\"}").unwrap();
        assert_eq!(get(&m, "a"), Some("\u{fffd}x\u{fffd}"));
    }

    /// SRS hook answers: the top-level integer `code`, whatever else the object holds.
    #[test]
    fn integer_member_reads_srs_answers() {
        let cases: &[(&[u8], Option<i64>)] = &[
            (b"{\"code\": 0}", Some(0)),
            (
                b"{\"code\":0,\"data\":{\"urls\":[\"a\",{\"b\":[1,2.5e3,null]}]}}",
                Some(0),
            ),
            (b" {\"data\": [], \"code\": -12 } ", Some(-12)),
            (b"{\"code\": 0.0}", None),
            (b"{\"code\": \"0\"}", None),
            (b"{\"code\": 1e0}", None),
            (b"{\"data\": {\"code\": 0}}", None),
            (b"{\"code\": 99999999999999999999}", None),
            (b"{}", None),
            (b"{\"code\": 7, \"code\": 0}", Some(7)),
        ];
        for (input, want) in cases {
            assert_eq!(
                integer_member(input, "code"),
                Ok(*want),
                "{}",
                input.escape_ascii()
            );
        }
        for bad in [
            &b"{\"code\": 0"[..],
            b"{\"code\": 0} 0",
            b"[0]",
            b"{\"a\": [1,]}",
            b"{\"a\": {\"b\" 1}}",
        ] {
            assert!(
                integer_member(bad, "code").is_err(),
                "{}",
                bad.escape_ascii()
            );
        }
        let deep = format!(
            "{{\"a\":{}{}}}",
            "[".repeat(MAX_DEPTH),
            "]".repeat(MAX_DEPTH)
        );
        assert_eq!(
            integer_member(deep.as_bytes(), "code"),
            Err(JsonError::Nested {
                at: 5 + MAX_DEPTH - 1
            })
        );
        let ok = format!(
            "{{\"a\":{}{}}}",
            "[".repeat(MAX_DEPTH - 1),
            "]".repeat(MAX_DEPTH - 1)
        );
        assert_eq!(integer_member(ok.as_bytes(), "code"), Ok(None));
    }
}
