//! HTTP Digest authentication (RFC 2617 §3.2) as SIP (RFC 3261 §22.4) and RTSP (RFC 2326
//! §12.5, §12.44, which take HTTP's) use it: the `WWW-Authenticate` challenge a server sends,
//! the `Authorization` credentials a client answers with, and the MD5 response check.
//!
//! What a caller must know:
//!
//! * Only `algorithm=MD5` (or none, which means MD5) and `qop` absent or `auth` verify;
//!   `MD5-sess`, `auth-int` and SHA-256 (RFC 8760) make [`verify`] return false. GB/T
//!   28181-2016 devices and IP cameras use plain MD5, most without `qop`.
//! * [`verify`] checks the response only. The caller must also check that `realm` is ours,
//!   that `nonce` is one we issued and have not expired, and that `username` is the one it
//!   expects (for SIP usually the `From` user). The `uri` is hashed as the client sent it;
//!   cameras do not always send the Request-URI, so we do not insist they match.
//! * The comparison of the response does not stop at the first differing byte.
//! * A client answers a challenge with [`Challenge::answer`]; the `cnonce` for `qop=auth` is
//!   the caller's (this module draws no random numbers).

use md5::{Digest, Md5};

use super::textmsg::{is_lws, is_token, is_token_byte};

/// Why a Digest value was refused: answer the request with 400 (or 401 with a fresh
/// challenge); the dialog or session and the connection live on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("bad Digest value: {0}")]
pub struct DigestError(pub &'static str);

/// A `WWW-Authenticate` (or `Proxy-Authenticate`) Digest challenge (RFC 2617 §3.2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    /// Chosen by the caller: unpredictable, and remembered to check the answer.
    pub nonce: String,
    /// `Some("MD5")` to name it explicitly, as GB/T 28181 platforms do.
    pub algorithm: Option<String>,
    /// `Some("auth")` to ask for `qop`; most cameras answer without it anyway.
    pub qop: Option<String>,
    pub opaque: Option<String>,
}

impl Challenge {
    /// The challenge GB/T 28181 platforms send: realm, nonce and `algorithm=MD5`.
    pub fn md5(realm: &str, nonce: &str) -> Challenge {
        Challenge {
            realm: realm.to_owned(),
            nonce: nonce.to_owned(),
            algorithm: Some("MD5".to_owned()),
            qop: None,
            opaque: None,
        }
    }

    /// The header value: `Digest realm="3402000000", nonce="…", algorithm=MD5`, then
    /// `qop="…"` and `opaque="…"` when set.
    pub fn header_value(&self) -> String {
        let mut out = String::from("Digest ");
        push_quoted(&mut out, "realm", &self.realm);
        out.push_str(", ");
        push_quoted(&mut out, "nonce", &self.nonce);
        if let Some(algorithm) = &self.algorithm {
            out.push_str(", ");
            push_token(&mut out, "algorithm", algorithm);
        }
        if let Some(qop) = &self.qop {
            out.push_str(", ");
            push_quoted(&mut out, "qop", qop);
        }
        if let Some(opaque) = &self.opaque {
            out.push_str(", ");
            push_quoted(&mut out, "opaque", opaque);
        }
        out
    }

    /// Parses a challenge (for a client registering upstream, and for tests). `realm` and
    /// `nonce` are required; `stale`, `domain` and unknown parameters are ignored.
    pub fn parse(value: &str) -> Result<Challenge, DigestError> {
        const NAMES: [&str; 5] = ["realm", "nonce", "algorithm", "qop", "opaque"];
        let [realm, nonce, algorithm, qop, opaque] = collect_params(value, NAMES)?;
        Ok(Challenge {
            realm: realm.ok_or(DigestError("missing realm"))?,
            nonce: nonce.ok_or(DigestError("missing nonce"))?,
            algorithm,
            qop,
            opaque,
        })
    }
}

impl Challenge {
    /// The credentials a client sends back for `method` and `uri` (RFC 2617 §3.2.2): with
    /// `qop=auth`, nonce count `nc` and the caller's `cnonce` when the challenge offers `auth`
    /// among its qop values, else without qop (the RFC 2069 form cameras expect). `opaque`
    /// and `algorithm` are echoed.
    pub fn answer(
        &self,
        username: &str,
        password: &str,
        method: &str,
        uri: &str,
        cnonce: &str,
        nc: u32,
    ) -> Credentials {
        let offers_auth = self.qop.as_deref().is_some_and(|qops| {
            qops.split(',')
                .any(|q| q.trim_matches(is_lws).eq_ignore_ascii_case("auth"))
        });
        let nc_text = format!("{nc:08x}");
        let qop = offers_auth.then(|| Qop {
            qop: "auth",
            nc: &nc_text,
            cnonce,
        });
        let response = compute_response(
            username,
            &self.realm,
            password,
            method,
            uri,
            &self.nonce,
            qop,
        );
        Credentials {
            username: username.to_owned(),
            realm: self.realm.clone(),
            nonce: self.nonce.clone(),
            uri: uri.to_owned(),
            response,
            algorithm: self.algorithm.clone(),
            qop: offers_auth.then(|| "auth".to_owned()),
            nc: offers_auth.then(|| nc_text.clone()),
            cnonce: offers_auth.then(|| cnonce.to_owned()),
            opaque: self.opaque.clone(),
        }
    }
}

/// The `Authorization` (or `Proxy-Authorization`) Digest credentials (RFC 2617 §3.2.2).
/// Values are unquoted and unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    /// 32 hex digits as sent (either case).
    pub response: String,
    pub algorithm: Option<String>,
    pub qop: Option<String>,
    pub nc: Option<String>,
    pub cnonce: Option<String>,
    pub opaque: Option<String>,
}

impl Credentials {
    /// The header value, for a client: `Digest username="…", realm="…", nonce="…", uri="…",
    /// response="…"`, then `algorithm`, `cnonce`, `opaque`, `qop`, `nc` when set (`qop`,
    /// `nc` and `algorithm` unquoted, RFC 2617 §3.2.2).
    pub fn header_value(&self) -> String {
        let mut out = String::from("Digest ");
        for (i, (name, value)) in [
            ("username", &self.username),
            ("realm", &self.realm),
            ("nonce", &self.nonce),
            ("uri", &self.uri),
            ("response", &self.response),
        ]
        .into_iter()
        .enumerate()
        {
            if i > 0 {
                out.push_str(", ");
            }
            push_quoted(&mut out, name, value);
        }
        if let Some(algorithm) = &self.algorithm {
            out.push_str(", ");
            push_token(&mut out, "algorithm", algorithm);
        }
        if let Some(cnonce) = &self.cnonce {
            out.push_str(", ");
            push_quoted(&mut out, "cnonce", cnonce);
        }
        if let Some(opaque) = &self.opaque {
            out.push_str(", ");
            push_quoted(&mut out, "opaque", opaque);
        }
        if let Some(qop) = &self.qop {
            out.push_str(", ");
            push_token(&mut out, "qop", qop);
        }
        if let Some(nc) = &self.nc {
            out.push_str(", ");
            push_token(&mut out, "nc", nc);
        }
        out
    }
}

/// Parses an `Authorization` value: the `Digest` scheme (any case), then `name=value` pairs,
/// quoted or not, in any order, with any spaces around `=` and `,`. Parameter names are
/// case-insensitive; unknown ones are ignored; a known one given twice is refused.
/// `username`, `realm`, `nonce`, `uri` and `response` are required, and `nc` and `cnonce`
/// when `qop` is present.
pub fn parse_authorization(value: &str) -> Result<Credentials, DigestError> {
    const NAMES: [&str; 10] = [
        "username",
        "realm",
        "nonce",
        "uri",
        "response",
        "algorithm",
        "qop",
        "nc",
        "cnonce",
        "opaque",
    ];
    let [username, realm, nonce, uri, response, algorithm, qop, nc, cnonce, opaque] =
        collect_params(value, NAMES)?;
    let qop = qop.filter(|q| !q.is_empty());
    if qop.is_some() && (nc.is_none() || cnonce.is_none()) {
        return Err(DigestError("qop without nc and cnonce"));
    }
    Ok(Credentials {
        username: username.ok_or(DigestError("missing username"))?,
        realm: realm.ok_or(DigestError("missing realm"))?,
        nonce: nonce.ok_or(DigestError("missing nonce"))?,
        uri: uri.ok_or(DigestError("missing uri"))?,
        response: response.ok_or(DigestError("missing response"))?,
        algorithm,
        qop,
        nc,
        cnonce,
        opaque,
    })
}

/// Whether `creds` answer correctly for `method` (the request's method, e.g. `REGISTER`) and
/// the device's `password`. See the module notes for what else the caller must check.
pub fn verify(creds: &Credentials, method: &str, password: &str) -> bool {
    if creds
        .algorithm
        .as_deref()
        .is_some_and(|a| !a.eq_ignore_ascii_case("MD5"))
    {
        return false;
    }
    let qop = match creds.qop.as_deref() {
        None => None,
        Some(qop) if qop.eq_ignore_ascii_case("auth") => {
            let (Some(nc), Some(cnonce)) = (creds.nc.as_deref(), creds.cnonce.as_deref()) else {
                return false;
            };
            Some(Qop { qop, nc, cnonce })
        }
        Some(_) => return false,
    };
    let expected = compute_response(
        &creds.username,
        &creds.realm,
        password,
        method,
        &creds.uri,
        &creds.nonce,
        qop,
    );
    eq_hex(expected.as_bytes(), creds.response.as_bytes())
}

/// The `qop=auth` inputs of a response (RFC 2617 §3.2.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Qop<'a> {
    /// `auth`, spelled as the client sent it (it is hashed).
    pub qop: &'a str,
    /// Nonce count, 8 hex digits as sent (`00000001`).
    pub nc: &'a str,
    pub cnonce: &'a str,
}

/// The Digest `response` in lowercase hex (RFC 2617 §3.2.2.1, MD5):
/// HA1 = MD5(username:realm:password), HA2 = MD5(method:uri), and
/// response = MD5(HA1:nonce:HA2), or MD5(HA1:nonce:nc:cnonce:qop:HA2) with `qop`.
pub fn compute_response(
    username: &str,
    realm: &str,
    password: &str,
    method: &str,
    uri: &str,
    nonce: &str,
    qop: Option<Qop<'_>>,
) -> String {
    let ha1 = md5_hex(&[username, ":", realm, ":", password]);
    let ha2 = md5_hex(&[method, ":", uri]);
    match qop {
        None => md5_hex(&[&ha1, ":", nonce, ":", &ha2]),
        Some(q) => md5_hex(&[
            &ha1, ":", nonce, ":", q.nc, ":", q.cnonce, ":", q.qop, ":", &ha2,
        ]),
    }
}

fn md5_hex(parts: &[&str]) -> String {
    let mut hasher = Md5::new();
    for part in parts {
        hasher.update(part.as_bytes());
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(32);
    for b in hasher.finalize() {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 0xf)] as char);
    }
    out
}

/// `expected` (lowercase hex) equals `got` in either case; every byte is compared.
fn eq_hex(expected: &[u8], got: &[u8]) -> bool {
    expected.len() == got.len()
        && expected
            .iter()
            .zip(got)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b.to_ascii_lowercase()))
            == 0
}

/// Appends `name=value` bare when `value` is a token (`algorithm=MD5`, `qop=auth`,
/// `nc=00000001`), else quoted so that it parses back.
fn push_token(out: &mut String, name: &str, value: &str) {
    if is_token(value) {
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    } else {
        push_quoted(out, name, value);
    }
}

/// Appends `name="value"` with `"` and `\` escaped (RFC 3261 §25.1 quoted-pair).
fn push_quoted(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str("=\"");
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// Reads a Digest value into one slot per name in `names` (case-insensitive).
fn collect_params<const N: usize>(
    value: &str,
    names: [&str; N],
) -> Result<[Option<String>; N], DigestError> {
    let mut slots: [Option<String>; N] = std::array::from_fn(|_| None);
    let mut rest = strip_scheme(value)?;
    while let Some((name, value, after)) = next_param(rest)? {
        rest = after;
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(name)) {
            if slots[i].is_some() {
                return Err(DigestError("parameter given twice"));
            }
            slots[i] = Some(value);
        }
    }
    Ok(slots)
}

/// What follows `Digest` (RFC 2617 §1.2 `challenge`/`credentials` = scheme 1*SP params).
fn strip_scheme(value: &str) -> Result<&str, DigestError> {
    let value = value.trim_start_matches(is_lws);
    let scheme_len = value.bytes().take_while(|&b| is_token_byte(b)).count();
    if !value[..scheme_len].eq_ignore_ascii_case("Digest") {
        return Err(DigestError("not the Digest scheme"));
    }
    Ok(&value[scheme_len..])
}

/// The next `name = value` (value quoted or a run of non-space, non-comma characters) and
/// the rest after it; `None` at the end. Commas and spaces between pairs are skipped, so a
/// missing comma is tolerated.
fn next_param(s: &str) -> Result<Option<(&str, String, &str)>, DigestError> {
    let s = s.trim_start_matches(|c| c == ',' || is_lws(c));
    if s.is_empty() {
        return Ok(None);
    }
    let name_len = s.bytes().take_while(|&b| is_token_byte(b)).count();
    if name_len == 0 {
        return Err(DigestError("expected a parameter name"));
    }
    let (name, rest) = s.split_at(name_len);
    let Some(rest) = rest.trim_start_matches(is_lws).strip_prefix('=') else {
        return Err(DigestError("parameter without '='"));
    };
    let rest = rest.trim_start_matches(is_lws);
    if let Some(quoted) = rest.strip_prefix('"') {
        let mut value = String::new();
        let mut chars = quoted.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => return Ok(Some((name, value, &quoted[i + 1..]))),
                '\\' => {
                    if let Some((_, escaped)) = chars.next() {
                        value.push(escaped);
                    }
                }
                c => value.push(c),
            }
        }
        return Err(DigestError("unterminated quoted string"));
    }
    let len = rest.find(|c| c == ',' || is_lws(c)).unwrap_or(rest.len());
    Ok(Some((name, rest[..len].to_owned(), &rest[len..])))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::XorShift;

    /// RFC 2617 §3.5: the `Authorization` for `GET /dir/index.html`, password
    /// "Circle Of Life".
    const RFC2617_AUTHORIZATION: &str = r#"Digest username="Mufasa",
                 realm="testrealm@host.com",
                 nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
                 uri="/dir/index.html",
                 qop=auth,
                 nc=00000001,
                 cnonce="0a4f113b",
                 response="6629fae49393a05397450978507c4ef1",
                 opaque="5ccc069c403ebaf9f0171e9517f40e41""#;

    /// A Hikvision-style REGISTER answer without qop. Computed independently:
    /// ```text
    /// HA1=$(printf '%s' '34020000001320000001:3402000000:12345678' | md5sum)   # 8258341d…
    /// HA2=$(printf '%s' 'REGISTER:sip:34020000002000000001@3402000000' | md5sum) # 95fced34…
    /// printf '%s' "$HA1:6fe9ba44a76be22a:$HA2" | md5sum
    /// 6a2143ae65b119e276a75f0a4a8992b7
    /// ```
    const HIK_AUTHORIZATION: &str = "Digest username=\"34020000001320000001\", \
realm=\"3402000000\", nonce=\"6fe9ba44a76be22a\", uri=\"sip:34020000002000000001@3402000000\", \
response=\"6a2143ae65b119e276a75f0a4a8992b7\", algorithm=MD5";

    #[test]
    fn rfc2617_vector() {
        let q = Qop {
            qop: "auth",
            nc: "00000001",
            cnonce: "0a4f113b",
        };
        assert_eq!(
            compute_response(
                "Mufasa",
                "testrealm@host.com",
                "Circle Of Life",
                "GET",
                "/dir/index.html",
                "dcd98b7102dd2f0e8b11d0f600bfb0c093",
                Some(q),
            ),
            "6629fae49393a05397450978507c4ef1"
        );
        // The header value arrives unfolded: one space where each line break was.
        let unfolded = RFC2617_AUTHORIZATION
            .split('\n')
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(" ");
        let creds = parse_authorization(&unfolded).unwrap();
        assert_eq!(creds.username, "Mufasa");
        assert_eq!(creds.qop.as_deref(), Some("auth"));
        assert_eq!(creds.nc.as_deref(), Some("00000001"));
        assert_eq!(
            creds.opaque.as_deref(),
            Some("5ccc069c403ebaf9f0171e9517f40e41")
        );
        assert!(verify(&creds, "GET", "Circle Of Life"));
        assert!(!verify(&creds, "GET", "Circle of Life"));
        assert!(!verify(&creds, "POST", "Circle Of Life"));
        let mut other_cnonce = creds.clone();
        other_cnonce.cnonce = Some("0a4f113c".into());
        assert!(!verify(&other_cnonce, "GET", "Circle Of Life"));
    }

    #[test]
    fn no_qop_vector() {
        assert_eq!(
            compute_response(
                "34020000001320000001",
                "3402000000",
                "12345678",
                "REGISTER",
                "sip:34020000002000000001@3402000000",
                "6fe9ba44a76be22a",
                None,
            ),
            "6a2143ae65b119e276a75f0a4a8992b7"
        );
        let creds = parse_authorization(HIK_AUTHORIZATION).unwrap();
        assert_eq!(
            creds,
            Credentials {
                username: "34020000001320000001".into(),
                realm: "3402000000".into(),
                nonce: "6fe9ba44a76be22a".into(),
                uri: "sip:34020000002000000001@3402000000".into(),
                response: "6a2143ae65b119e276a75f0a4a8992b7".into(),
                algorithm: Some("MD5".into()),
                qop: None,
                nc: None,
                cnonce: None,
                opaque: None,
            }
        );
        assert!(verify(&creds, "REGISTER", "12345678"));
        assert!(!verify(&creds, "REGISTER", "12345679"));
        assert!(!verify(&creds, "INVITE", "12345678"));
        let mut upper = creds.clone();
        upper.response = upper.response.to_ascii_uppercase();
        assert!(verify(&upper, "REGISTER", "12345678"), "hex in either case");
        let mut short = creds.clone();
        short.response.pop();
        assert!(!verify(&short, "REGISTER", "12345678"));
        for (algorithm, ok) in [("md5", true), ("MD5-sess", false), ("SHA-256", false)] {
            let mut c = creds.clone();
            c.algorithm = Some(algorithm.into());
            assert_eq!(verify(&c, "REGISTER", "12345678"), ok, "{algorithm}");
        }
        let mut auth_int = creds.clone();
        auth_int.qop = Some("auth-int".into());
        auth_int.nc = Some("00000001".into());
        auth_int.cnonce = Some("x".into());
        assert!(!verify(&auth_int, "REGISTER", "12345678"));
        let mut no_nc = creds;
        no_nc.qop = Some("auth".into());
        assert!(!verify(&no_nc, "REGISTER", "12345678"));
    }

    #[test]
    fn authorization_variants() {
        let want = parse_authorization(HIK_AUTHORIZATION).unwrap();
        for variant in [
            // Unquoted where tokens allow, other order, odd spacing, name case, scheme case.
            "digest  RESPONSE=6a2143ae65b119e276a75f0a4a8992b7 ,\
             uri = \"sip:34020000002000000001@3402000000\",\
             Username=\"34020000001320000001\",realm=3402000000,\
             nonce=6fe9ba44a76be22a , algorithm=\"MD5\"",
            // Unknown parameters ignored, empty elements skipped, no comma between two pairs.
            "Digest ,, username=\"34020000001320000001\" realm=\"3402000000\", stale=FALSE, \
             nonce=\"6fe9ba44a76be22a\",\turi=\"sip:34020000002000000001@3402000000\", \
             response=\"6a2143ae65b119e276a75f0a4a8992b7\", algorithm=MD5, x-vendor=\"a,b\",",
            // Quoted-pair escapes.
            "Digest username=\"3402000000132000000\\1\", realm=\"3402000000\", \
             nonce=\"6fe9ba44a76be22a\", uri=\"sip:34020000002000000001@3402000000\", \
             response=\"6a2143ae65b119e276a75f0a4a8992b7\", algorithm=MD5",
        ] {
            assert_eq!(
                parse_authorization(variant).as_ref(),
                Ok(&want),
                "{variant}"
            );
        }
        let escaped = parse_authorization(
            r#"Digest username="a\"b\\c", realm="r", nonce="n", uri="u", response="x""#,
        )
        .unwrap();
        assert_eq!(escaped.username, r#"a"b\c"#);
        assert_eq!(
            parse_authorization(&escaped.header_value()).as_ref(),
            Ok(&escaped)
        );
        assert_eq!(
            parse_authorization(&want.header_value()).as_ref(),
            Ok(&want)
        );
        let rfc = parse_authorization(
            "Digest username=\"Mufasa\", realm=\"r\", nonce=\"n\", uri=\"/\", qop=auth, \
             nc=00000001, cnonce=\"c\", response=\"x\", opaque=\"o\"",
        )
        .unwrap();
        assert_eq!(parse_authorization(&rfc.header_value()).as_ref(), Ok(&rfc));
        assert_eq!(
            rfc.header_value(),
            "Digest username=\"Mufasa\", realm=\"r\", nonce=\"n\", uri=\"/\", response=\"x\", \
             cnonce=\"c\", opaque=\"o\", qop=auth, nc=00000001"
        );
    }

    #[test]
    fn authorization_errors() {
        for (bad, why) in [
            ("Basic YWxhZGRpbjpvcGVuc2VzYW1l", "not the Digest scheme"),
            ("", "not the Digest scheme"),
            ("Digestusername=\"a\"", "not the Digest scheme"),
            ("Digest", "missing username"),
            (
                "Digest username=\"a\", realm=\"r\", nonce=\"n\", uri=\"u\"",
                "missing response",
            ),
            (
                "Digest username=\"a\", realm=\"r\", nonce=\"n\", response=\"x\"",
                "missing uri",
            ),
            ("Digest username=\"a", "unterminated quoted string"),
            ("Digest username", "parameter without '='"),
            ("Digest username \"a\"", "parameter without '='"),
            ("Digest =a", "expected a parameter name"),
            ("Digest username=a, USERNAME=b", "parameter given twice"),
            (
                "Digest username=a, realm=r, nonce=n, uri=u, response=x, qop=auth",
                "qop without nc and cnonce",
            ),
        ] {
            assert_eq!(parse_authorization(bad), Err(DigestError(why)), "{bad}");
        }
        // An empty qop is no qop.
        let c = parse_authorization("Digest username=a, realm=r, nonce=n, uri=u, response=x, qop=")
            .unwrap();
        assert_eq!(c.qop, None);
    }

    /// RFC 2617 §3.5 from the client's side: the challenge offers `auth,auth-int`, the answer
    /// takes `auth` and gives the RFC's response; a challenge without qop gets an answer
    /// without it (what an RTSP camera's `WWW-Authenticate: Digest realm=…, nonce=…` wants).
    #[test]
    fn answers_a_challenge() {
        let challenge = Challenge::parse(
            "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", \
             opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        )
        .unwrap();
        let creds = challenge.answer(
            "Mufasa",
            "Circle Of Life",
            "GET",
            "/dir/index.html",
            "0a4f113b",
            1,
        );
        assert_eq!(creds.response, "6629fae49393a05397450978507c4ef1");
        assert_eq!(creds.nc.as_deref(), Some("00000001"));
        assert_eq!(creds.qop.as_deref(), Some("auth"));
        assert!(verify(&creds, "GET", "Circle Of Life"));
        assert_eq!(parse_authorization(&creds.header_value()), Ok(creds));

        let camera =
            Challenge::parse(r#"Digest realm="IP Camera(C2358)", nonce="a1b2", stale="FALSE""#)
                .unwrap();
        let creds = camera.answer("admin", "12345", "DESCRIBE", "rtsp://10.0.0.2/", "x", 1);
        assert_eq!((creds.qop, creds.nc, creds.cnonce), (None, None, None));
        assert_eq!(
            creds.response,
            compute_response(
                "admin",
                "IP Camera(C2358)",
                "12345",
                "DESCRIBE",
                "rtsp://10.0.0.2/",
                "a1b2",
                None
            )
        );
    }

    #[test]
    fn challenge_header_values() {
        let c = Challenge::md5("3402000000", "6fe9ba44a76be22a");
        assert_eq!(
            c.header_value(),
            r#"Digest realm="3402000000", nonce="6fe9ba44a76be22a", algorithm=MD5"#
        );
        assert_eq!(Challenge::parse(&c.header_value()), Ok(c));
        let full = Challenge {
            realm: "a\"b".into(),
            nonce: "n".into(),
            algorithm: None,
            qop: Some("auth".into()),
            opaque: Some("o".into()),
        };
        assert_eq!(
            full.header_value(),
            r#"Digest realm="a\"b", nonce="n", qop="auth", opaque="o""#
        );
        assert_eq!(Challenge::parse(&full.header_value()), Ok(full));
        assert_eq!(
            Challenge::parse("Digest nonce=n"),
            Err(DigestError("missing realm"))
        );
        let dahua = Challenge::parse(
            "Digest realm=\"3402000000\",nonce=\"1a2b\",opaque=\"\",algorithm=MD5,stale=false",
        )
        .unwrap();
        assert_eq!(dahua.opaque.as_deref(), Some(""));
    }

    #[test]
    fn fuzz_parsers_do_not_panic() {
        let seeds = [
            RFC2617_AUTHORIZATION,
            HIK_AUTHORIZATION,
            r#"Digest realm="a\"b", nonce="n", qop="auth", opaque="o""#,
            "Digest username=\"摄像机\", realm=r",
        ];
        let alphabet = b"Digest =\",\\ \tabcqop";
        let mut rng = XorShift(0x5eed_d16e);
        for iteration in 0..20_000 {
            let mut s = seeds[rng.below(seeds.len())].as_bytes().to_vec();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(s.len() + 1);
                match rng.below(3) {
                    0 if at < s.len() => s[at] = alphabet[rng.below(alphabet.len())],
                    1 => s.insert(at, rng.next() as u8),
                    _ => s.truncate(at),
                }
            }
            let s = String::from_utf8_lossy(&s);
            if let Ok(creds) = parse_authorization(&s) {
                let _ = verify(&creds, "REGISTER", "pw");
                assert_eq!(
                    parse_authorization(&creds.header_value()).as_ref(),
                    Ok(&creds),
                    "iteration {iteration}: {s}"
                );
            }
            if let Ok(c) = Challenge::parse(&s) {
                assert_eq!(
                    Challenge::parse(&c.header_value()),
                    Ok(c),
                    "iteration {iteration}"
                );
            }
        }
    }
}
