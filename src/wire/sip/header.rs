//! Header-field helpers: canonical names (RFC 3261 §7.3.3 compact forms), comma-separated
//! lists, `name-addr` URIs and their user part, header parameters (`;tag=`, `;branch=`,
//! `;expires=`), the `received`/`rport` stamp on a `Via` (RFC 3581 §4), and the GB/T 28181
//! `Date` value.
//!
//! All of them work on values as [`super::SipMessage`] stores them (unfolded, trimmed) and
//! never fail: a value they cannot make sense of gives `None` or is passed through.

use crate::wire::date::{civil_from_days, CivilDate};
pub(crate) use crate::wire::textmsg::{is_lws, is_token};

/// Canonical spellings of the header names we know (RFC 3261 §20, RFC 3265/6665 events,
/// RFC 3515 REFER, RFC 4028 timers, RFC 3262 reliable provisionals). Names not listed are
/// kept as the peer spelled them; every comparison is case-insensitive anyway.
const KNOWN_NAMES: &[&str] = &[
    "Via",
    "From",
    "To",
    "Call-ID",
    "CSeq",
    "Contact",
    "Max-Forwards",
    "Expires",
    "Content-Length",
    "Content-Type",
    "Content-Encoding",
    "Content-Disposition",
    "Content-Language",
    "User-Agent",
    "Server",
    "Date",
    "Authorization",
    "WWW-Authenticate",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Authentication-Info",
    "Allow",
    "Accept",
    "Accept-Encoding",
    "Accept-Language",
    "Supported",
    "Require",
    "Proxy-Require",
    "Unsupported",
    "Route",
    "Record-Route",
    "Subject",
    "Min-Expires",
    "Retry-After",
    "Warning",
    "Organization",
    "Priority",
    "Timestamp",
    "Reply-To",
    "In-Reply-To",
    "Alert-Info",
    "Call-Info",
    "Error-Info",
    "MIME-Version",
    "Event",
    "Allow-Events",
    "Subscription-State",
    "Refer-To",
    "Referred-By",
    "Session-Expires",
    "Min-SE",
    "RSeq",
    "RAck",
];

/// RFC 3261 §7.3.3 compact forms (and the ones later RFCs registered), lowercase letter first.
const COMPACT_NAMES: &[(u8, &str)] = &[
    (b'v', "Via"),
    (b'f', "From"),
    (b't', "To"),
    (b'i', "Call-ID"),
    (b'm', "Contact"),
    (b'l', "Content-Length"),
    (b'c', "Content-Type"),
    (b'e', "Content-Encoding"),
    (b'k', "Supported"),
    (b's', "Subject"),
    (b'o', "Event"),
    (b'u', "Allow-Events"),
    (b'r', "Refer-To"),
    (b'b', "Referred-By"),
    (b'x', "Session-Expires"),
];

/// The long, canonically spelled form of a header name: compact forms expanded (`v` → `Via`),
/// known names respelled (`call-id` → `Call-ID`), anything else returned as given.
pub fn canonical_name(name: &str) -> &str {
    if let [letter] = name.as_bytes() {
        let letter = letter.to_ascii_lowercase();
        if let Some(&(_, long)) = COMPACT_NAMES.iter().find(|(c, _)| *c == letter) {
            return long;
        }
    }
    KNOWN_NAMES
        .iter()
        .find(|known| known.eq_ignore_ascii_case(name))
        .copied()
        .unwrap_or(name)
}

/// Byte index of the first comma of `value` that separates list elements: outside a
/// quoted string and outside `<...>` (RFC 3261 §7.3.1: several values of one header may be
/// joined with commas).
fn first_list_comma(value: &str) -> Option<usize> {
    let mut in_quote = false;
    let mut escaped = false;
    let mut in_angle = false;
    for (i, b) in value.bytes().enumerate() {
        if in_quote {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_quote = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_quote = true,
            b'<' => in_angle = true,
            b'>' => in_angle = false,
            b',' if !in_angle => return Some(i),
            _ => {}
        }
    }
    None
}

/// The elements of a comma-separated header value, trimmed, empty ones skipped. Commas in
/// quoted strings and inside `<...>` do not split. `Via: a, b` gives `a` and `b`.
pub fn split_list(value: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(value);
    std::iter::from_fn(move || loop {
        let s = rest?;
        let (item, next) = match first_list_comma(s) {
            Some(i) => (&s[..i], Some(&s[i + 1..])),
            None => (s, None),
        };
        rest = next;
        let item = item.trim_matches(is_lws);
        if !item.is_empty() {
            return Some(item);
        }
    })
}

/// The first list element of `value` split into the address part and its parameter part
/// (starting at the first `;`, or empty). For a `name-addr` (`"Cam" <sip:a@b;lr>;tag=1`) the
/// parameters are those after the `>`, so URI parameters are not header parameters
/// (RFC 3261 §20.10). For anything else (`sip:a@b;tag=1`, a `Via`) they start at the first
/// `;`.
fn split_params(value: &str) -> (&str, &str) {
    let first = split_list(value).next().unwrap_or("");
    if let Some(lt) = angle_open(first) {
        return match first[lt..].find('>') {
            Some(gt) => first.split_at(lt + gt + 1),
            None => (first, ""),
        };
    }
    match first.find(';') {
        Some(semi) => first.split_at(semi),
        None => (first, ""),
    }
}

/// Byte index of the `<` opening a `name-addr`, skipping a quoted display name.
fn angle_open(s: &str) -> Option<usize> {
    let mut in_quote = false;
    let mut escaped = false;
    for (i, b) in s.bytes().enumerate() {
        if in_quote {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_quote = false,
                _ => {}
            }
        } else if b == b'"' {
            in_quote = true;
        } else if b == b'<' {
            return Some(i);
        } else if b == b';' {
            return None;
        }
    }
    None
}

/// The parameters of a header value's first element as `(name, value)`; a parameter without
/// `=` has the value `""`. Surrounding quotes of a value are removed (not unescaped).
pub fn params(value: &str) -> impl Iterator<Item = (&str, &str)> {
    split_params(value)
        .1
        .split(';')
        .map(|p| p.trim_matches(is_lws))
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.trim_matches(is_lws), unquote(v.trim_matches(is_lws))),
            None => (p, ""),
        })
}

/// One parameter of a header value's first element, name compared case-insensitively:
/// `param("<sip:a@b>;tag=12", "tag") == Some("12")`, `param(via, "rport") == Some("")` for
/// a bare `;rport`.
pub fn param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    params(value)
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn unquote(v: &str) -> &str {
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v)
}

/// The URI of a `From`/`To`/`Contact`-style value's first element: what is inside `<...>`,
/// or the `addr-spec` before its first `;`. `"*"` for `Contact: *`.
pub fn uri(value: &str) -> &str {
    let first = split_list(value).next().unwrap_or("");
    if let Some(lt) = angle_open(first) {
        let inner = &first[lt + 1..];
        return inner.find('>').map_or(inner, |gt| &inner[..gt]).trim();
    }
    split_params(value).0.trim()
}

/// The user part of a SIP URI (RFC 3261 §19.1.1), without any password:
/// `sip:34020000001320000001@3402000000` → `34020000001320000001`. `None` when the URI has
/// no `@` (a host-only URI such as `sip:3402000000`) or the user part is empty.
pub fn uri_user(uri: &str) -> Option<&str> {
    let rest = match uri.split_once(':') {
        Some((scheme, rest)) if is_token(scheme) && !scheme.contains('.') => rest,
        _ => uri,
    };
    let rest = rest.split('?').next().unwrap_or(rest);
    let (userinfo, _host) = rest.split_once('@')?;
    let user = userinfo.split(':').next().unwrap_or(userinfo);
    (!user.is_empty()).then_some(user)
}

/// Appends `;name=value` (or `;name` for an empty value) to a header value; used to add the
/// `tag` to a response's `To` (RFC 3261 §8.2.6.2).
pub fn with_param(value: &str, name: &str, param_value: &str) -> String {
    let mut out = String::with_capacity(value.len() + name.len() + param_value.len() + 2);
    out.push_str(value);
    out.push(';');
    out.push_str(name);
    if !param_value.is_empty() {
        out.push('=');
        out.push_str(param_value);
    }
    out
}

/// The top `Via` element stamped with the address the request came from: a bare `;rport`
/// gets the source port (RFC 3581 §4) and `;received=` the source address (RFC 3261
/// §18.2.1; RFC 3581 asks for it whenever `rport` is present, so we always add it). An old
/// `received` is replaced. Later elements of a comma-joined `Via` are kept as they are.
///
/// `SIP/2.0/UDP 192.168.1.64:5060;rport;branch=z9hG4bK1` with `("192.168.1.64", 5060)` →
/// `SIP/2.0/UDP 192.168.1.64:5060;rport=5060;branch=z9hG4bK1;received=192.168.1.64`.
pub fn via_received(via: &str, ip: &str, port: u16) -> String {
    let (first, rest) = match first_list_comma(via) {
        Some(i) => (&via[..i], Some(&via[i..])),
        None => (via, None),
    };
    let mut parts = first.split(';');
    let mut out = String::with_capacity(via.len() + ip.len() + 24);
    out.push_str(parts.next().unwrap_or("").trim_matches(is_lws));
    for p in parts {
        let p = p.trim_matches(is_lws);
        let key = p.split('=').next().unwrap_or(p).trim_matches(is_lws);
        if p.is_empty() || key.eq_ignore_ascii_case("received") {
            continue;
        }
        out.push(';');
        if p.eq_ignore_ascii_case("rport") {
            out.push_str("rport=");
            out.push_str(&port.to_string());
        } else {
            out.push_str(p);
        }
    }
    out.push_str(";received=");
    out.push_str(ip);
    if let Some(rest) = rest {
        out.push_str(rest);
    }
    out
}

/// Latest instant [`format_date`] accepts: 9999-12-31T23:59:59.999, so the arithmetic below
/// cannot overflow whatever the caller passes.
const MAX_DATE_MILLIS: i64 = 253_402_300_799_999;

/// The `Date` value GB/T 28181 devices set their clock from (the 200 OK to REGISTER):
/// `yyyy-MM-ddTHH:mm:ss.SSS`, no zone, as SRS sends it. Note that this is not RFC 3261's
/// RFC 1123 `SIP-date`; GB/T 28181 cameras expect this form.
///
/// `millis` is milliseconds since 1970-01-01T00:00:00 *in the zone the cameras should show*:
/// pass Unix time for UTC (what SRS does), or Unix time plus the zone offset for local time.
/// Values outside 1970..=9999 are clamped.
pub fn format_date(millis: i64) -> String {
    let millis = millis.clamp(0, MAX_DATE_MILLIS);
    let days = millis / 86_400_000;
    let ms_of_day = millis % 86_400_000;
    // days >= 0: clamped above.
    let CivilDate { year, month, day } = civil_from_days(days as u64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}",
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1000 % 60,
        ms_of_day % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_names() {
        for (given, want) in [
            ("v", "Via"),
            ("V", "Via"),
            ("f", "From"),
            ("t", "To"),
            ("i", "Call-ID"),
            ("m", "Contact"),
            ("l", "Content-Length"),
            ("c", "Content-Type"),
            ("k", "Supported"),
            ("s", "Subject"),
            ("e", "Content-Encoding"),
            ("o", "Event"),
            ("call-id", "Call-ID"),
            ("CALL-ID", "Call-ID"),
            ("cseq", "CSeq"),
            ("www-authenticate", "WWW-Authenticate"),
            ("content-length", "Content-Length"),
            ("X-GB-Ver", "X-GB-Ver"),
            ("q", "q"),
            ("", ""),
        ] {
            assert_eq!(canonical_name(given), want, "{given}");
        }
    }

    #[test]
    fn lists() {
        let v: Vec<_> = split_list("a;branch=1 , b;branch=2,,c").collect();
        assert_eq!(v, ["a;branch=1", "b;branch=2", "c"]);
        let v: Vec<_> = split_list(r#""Doe, J" <sip:a@b>;q=1, <sip:c@d,e>"#).collect();
        assert_eq!(
            v,
            [
                r#""Doe, J" <sip:a@b>"#.to_owned() + ";q=1",
                "<sip:c@d,e>".into()
            ]
        );
        let v: Vec<_> = split_list(r#""a\"," <sip:x@y>"#).collect();
        assert_eq!(v.len(), 1, "escaped quote inside a quoted string");
        assert_eq!(split_list("").count(), 0);
        assert_eq!(split_list(" , ").count(), 0);
    }

    #[test]
    fn params_and_uris() {
        let from = "<sip:34020000001320000001@3402000000>;tag=2043466181";
        assert_eq!(param(from, "tag"), Some("2043466181"));
        assert_eq!(param(from, "TAG"), Some("2043466181"));
        assert_eq!(uri(from), "sip:34020000001320000001@3402000000");
        assert_eq!(uri_user(uri(from)), Some("34020000001320000001"));

        let named = r#""Cam <1>; x" <sip:cam@h;transport=udp;tag=no>;tag=yes;lr"#;
        assert_eq!(param(named, "tag"), Some("yes"));
        assert_eq!(
            param(named, "transport"),
            None,
            "URI params are not header params"
        );
        assert_eq!(param(named, "lr"), Some(""));
        assert_eq!(uri(named), "sip:cam@h;transport=udp;tag=no");

        let bare = "sip:alice@atlanta.com;tag=88sja8x";
        assert_eq!(param(bare, "tag"), Some("88sja8x"));
        assert_eq!(uri(bare), "sip:alice@atlanta.com");

        let via = "SIP/2.0/UDP 192.168.1.64:5060;rport; branch = z9hG4bK1 ;x=\"q\", \
                   SIP/2.0/TCP b;branch=2";
        assert_eq!(param(via, "branch"), Some("z9hG4bK1"));
        assert_eq!(param(via, "rport"), Some(""));
        assert_eq!(param(via, "x"), Some("q"));
        assert_eq!(param(via, "received"), None);

        assert_eq!(uri("*"), "*");
        assert_eq!(uri("<sip:a@b"), "sip:a@b", "unclosed angle");
        assert_eq!(param("<sip:a@b", "tag"), None);
        assert_eq!(uri(""), "");
        assert_eq!(param("", "tag"), None);
    }

    #[test]
    fn uri_users() {
        for (u, want) in [
            (
                "sip:34020000001320000001@3402000000",
                Some("34020000001320000001"),
            ),
            ("sips:alice:secret@atlanta.com;transport=tcp", Some("alice")),
            ("SIP:bob@h:5060", Some("bob")),
            ("sip:3402000000", None),
            ("sip:@h", None),
            ("sip:a@h?subject=x@y", Some("a")),
            (
                "34020000001320000001@192.168.1.64",
                Some("34020000001320000001"),
            ),
            ("", None),
            ("tel:+1-201-555-0123", None),
        ] {
            assert_eq!(uri_user(u), want, "{u}");
        }
    }

    #[test]
    fn via_stamp() {
        assert_eq!(
            via_received(
                "SIP/2.0/UDP 192.168.1.64:5060;rport;branch=z9hG4bK1",
                "10.0.0.9",
                40000
            ),
            "SIP/2.0/UDP 192.168.1.64:5060;rport=40000;branch=z9hG4bK1;received=10.0.0.9"
        );
        // No rport: only received; an old received is replaced; later elements are kept.
        assert_eq!(
            via_received(
                "SIP/2.0/TCP a:5060;received=1.1.1.1;branch=x, SIP/2.0/UDP b",
                "2.2.2.2",
                1
            ),
            "SIP/2.0/TCP a:5060;branch=x;received=2.2.2.2, SIP/2.0/UDP b"
        );
        // An rport that already has a value is left alone.
        assert_eq!(
            via_received("SIP/2.0/UDP a;rport=7", "b", 9),
            "SIP/2.0/UDP a;rport=7;received=b"
        );
        assert_eq!(via_received("", "b", 9), ";received=b");
    }

    #[test]
    fn with_params() {
        assert_eq!(with_param("<sip:a@b>", "tag", "x1"), "<sip:a@b>;tag=x1");
        assert_eq!(with_param("<sip:a@b>", "lr", ""), "<sip:a@b>;lr");
    }

    #[test]
    fn dates() {
        assert_eq!(format_date(0), "1970-01-01T00:00:00.000");
        // `date -u -d @1714564800` → Wed May  1 12:00:00 UTC 2024
        assert_eq!(format_date(1_714_564_800_000), "2024-05-01T12:00:00.000");
        // 2000-02-29 (leap day of a century leap year) 23:59:59.999
        assert_eq!(format_date(951_868_799_999), "2000-02-29T23:59:59.999");
        // 2100-03-01 (2100 is not a leap year): `date -u -d @4107542400`
        assert_eq!(format_date(4_107_542_400_000), "2100-03-01T00:00:00.000");
        assert_eq!(format_date(-5), "1970-01-01T00:00:00.000");
        assert_eq!(format_date(i64::MAX), "9999-12-31T23:59:59.999");
    }
}
