//! RTSP URLs (RFC 2326 §3.2): what a client needs to connect (host, port, credentials) and
//! to name each track (the SDP `a=control` resolved against the presentation's base, RFC
//! 2326 §C.1.1).
//!
//! Relative control URLs are appended to the base with a `/` between them, as ffmpeg,
//! live555 and cameras do, not resolved as RFC 3986 would (which replaces the last path
//! segment: `rtsp://cam/stream1` + `trackID=1` would lose `stream1`, and cameras whose
//! `Content-Base` lacks its trailing `/` rely on the append).

/// The scheme of an RTSP URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `rtsp://`, TCP port 554 by default.
    Rtsp,
    /// `rtsps://` (RTSP over TLS), port 322 by default.
    Rtsps,
}

impl Scheme {
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Rtsp => 554,
            Scheme::Rtsps => 322,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Rtsp => "rtsp",
            Scheme::Rtsps => "rtsps",
        }
    }
}

/// A parsed `rtsp://[user[:password]@]host[:port][/path][?query]` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub scheme: Scheme,
    /// Percent-decoded user and password of the userinfo, when present.
    pub user: Option<String>,
    pub password: Option<String>,
    /// The host as written (an IPv6 literal keeps its brackets).
    pub host: String,
    /// The port, or the scheme's default.
    pub port: u16,
    /// Whether the URL named the port.
    pub explicit_port: bool,
    /// Path and query as written, starting with `/` (just `/` when the URL has none).
    pub path: String,
}

impl Url {
    /// Parses an absolute RTSP URL; `None` for another scheme, an empty host, a bad port, or
    /// spaces or control characters anywhere.
    pub fn parse(text: &str) -> Option<Url> {
        if text.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return None;
        }
        let (scheme_text, rest) = text.split_once("://")?;
        let scheme = if scheme_text.eq_ignore_ascii_case("rtsp") {
            Scheme::Rtsp
        } else if scheme_text.eq_ignore_ascii_case("rtsps") {
            Scheme::Rtsps
        } else {
            return None;
        };
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(authority_end);
        // The userinfo ends at the last '@' (passwords may hold an unescaped '@').
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            Some(info) => match info.split_once(':') {
                Some((u, p)) => (Some(percent_decode(u)?), Some(percent_decode(p)?)),
                None => (Some(percent_decode(info)?), None),
            },
            None => (None, None),
        };
        let (host, port) = split_host_port(hostport)?;
        if host.is_empty() {
            return None;
        }
        let path = match path {
            "" => "/".to_owned(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_owned(),
        };
        Some(Url {
            scheme,
            user,
            password,
            host: host.to_owned(),
            port: port.unwrap_or(scheme.default_port()),
            explicit_port: port.is_some(),
            path,
        })
    }

    /// The URL to put in requests: without the userinfo (cameras refuse it there, and it
    /// would leak the password into logs), the port only if the original named it.
    pub fn request_uri(&self) -> String {
        let mut out = format!("{}://{}", self.scheme.as_str(), self.host);
        if self.explicit_port {
            out.push(':');
            out.push_str(&self.port.to_string());
        }
        out.push_str(&self.path);
        out
    }
}

/// `host[:port]`, with `[v6]` literals; `None` when the port is not a number.
fn split_host_port(hostport: &str) -> Option<(&str, Option<u16>)> {
    if hostport.starts_with('[') {
        let close = hostport.find(']')?;
        let (host, rest) = hostport.split_at(close + 1);
        return match rest.strip_prefix(':') {
            Some(port) => Some((host, Some(port.parse().ok()?))),
            None if rest.is_empty() => Some((host, None)),
            None => None,
        };
    }
    match hostport.rsplit_once(':') {
        Some((host, port)) => Some((host, Some(port.parse().ok()?))),
        None => Some((hostport, None)),
    }
}

/// `%XX` escapes decoded; `None` for a bad escape or bytes that are not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Whether `url` starts with an RTSP scheme (`rtsp://`, `rtsps://`, `rtspu://`, any case).
fn is_absolute(url: &str) -> bool {
    ["rtsp://", "rtsps://", "rtspu://"].iter().any(|scheme| {
        url.get(..scheme.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(scheme))
    })
}

/// The base URL of a presentation's control URLs (RFC 2326 §C.1.1): `content_base` (a
/// DESCRIBE reply's `Content-Base` or `Content-Location`) when given, else `request_url`.
/// A base without a scheme (`192.168.1.10:554/stream0/`, as some Anjvision cameras send)
/// gets the request URL's scheme.
pub fn base(content_base: Option<&str>, request_url: &str) -> String {
    match content_base.map(str::trim).filter(|b| !b.is_empty()) {
        Some(b) if is_absolute(b) => b.to_owned(),
        Some(b) => {
            let scheme = request_url.split_once("://").map_or("rtsp", |(s, _)| s);
            format!("{scheme}://{b}")
        }
        None => request_url.to_owned(),
    }
}

/// The URL of a track (or of the whole presentation) from its SDP `a=control` (RFC 2326
/// §C.1.1) and the presentation's `base` (see [`base`]):
/// - absent, empty or `*`: the base itself;
/// - absolute (`rtsp://…`): as is;
/// - starting with `/`: the base's scheme and authority with this path;
/// - otherwise appended to the base, with a `/` unless the base ends with one.
pub fn resolve(base: &str, control: Option<&str>) -> String {
    let control = control.map(str::trim).unwrap_or("");
    if control.is_empty() || control == "*" {
        return base.to_owned();
    }
    if is_absolute(control) {
        return control.to_owned();
    }
    if control.starts_with('/') {
        let authority_start = base.find("://").map_or(0, |i| i + 3);
        let authority_end = base[authority_start..]
            .find(['/', '?'])
            .map_or(base.len(), |i| authority_start + i);
        return format!("{}{control}", &base[..authority_end]);
    }
    if base.ends_with('/') {
        format!("{base}{control}")
    } else {
        format!("{base}/{control}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_camera_urls() {
        let u = Url::parse("rtsp://admin:p%40ss:w@rd@192.168.1.64:8554/Streaming/Channels/101?transportmode=unicast").unwrap();
        assert_eq!(u.scheme, Scheme::Rtsp);
        assert_eq!(u.user.as_deref(), Some("admin"));
        assert_eq!(u.password.as_deref(), Some("p@ss:w@rd"));
        assert_eq!((u.host.as_str(), u.port), ("192.168.1.64", 8554));
        assert_eq!(u.path, "/Streaming/Channels/101?transportmode=unicast");
        assert_eq!(
            u.request_uri(),
            "rtsp://192.168.1.64:8554/Streaming/Channels/101?transportmode=unicast"
        );

        let u = Url::parse("RTSP://cam.local").unwrap();
        assert_eq!(
            (u.port, u.explicit_port, u.path.as_str()),
            (554, false, "/")
        );
        assert_eq!(u.request_uri(), "rtsp://cam.local/");
        let u = Url::parse("rtsps://[fe80::1]:3220/live").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("[fe80::1]", 3220));
        assert_eq!(Url::parse("rtsps://[::1]").unwrap().port, 322);
        // Dahua: query right after the authority.
        let u = Url::parse("rtsp://10.0.0.2?channel=1&subtype=0").unwrap();
        assert_eq!(u.path, "/?channel=1&subtype=0");

        for bad in [
            "http://cam/",
            "rtsp://",
            "rtsp://:554/x",
            "rtsp://cam:99999/",
            "rtsp://cam:x/",
            "rtsp://cam/a b",
            "rtsp://u%zz@cam/",
            "rtsp://[::1/",
            "cam/stream",
        ] {
            assert_eq!(Url::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn control_resolution() {
        let cases: &[(&str, Option<&str>, &str)] = &[
            // Hikvision: Content-Base with a trailing slash, relative trackID.
            (
                "rtsp://192.168.1.64:554/Streaming/Channels/101/",
                Some("trackID=1"),
                "rtsp://192.168.1.64:554/Streaming/Channels/101/trackID=1",
            ),
            // No trailing slash: appended with one (not RFC 3986's replacement).
            (
                "rtsp://10.0.0.2/live/ch00_0",
                Some("track1"),
                "rtsp://10.0.0.2/live/ch00_0/track1",
            ),
            // Dahua: base with a query, ending in a slash.
            (
                "rtsp://10.0.0.3:554/cam/realmonitor?channel=1&subtype=0/",
                Some("trackID=0"),
                "rtsp://10.0.0.3:554/cam/realmonitor?channel=1&subtype=0/trackID=0",
            ),
            // Absolute control URL, different host from the base.
            (
                "rtsp://10.0.0.2/x/",
                Some("rtsp://10.0.0.9:554/media/video1"),
                "rtsp://10.0.0.9:554/media/video1",
            ),
            ("rtsp://10.0.0.2/x/", Some("*"), "rtsp://10.0.0.2/x/"),
            ("rtsp://10.0.0.2/x", None, "rtsp://10.0.0.2/x"),
            ("rtsp://10.0.0.2/x", Some(" "), "rtsp://10.0.0.2/x"),
            // An absolute path.
            (
                "rtsp://10.0.0.2:8554/a/b?q=1",
                Some("/c/track2"),
                "rtsp://10.0.0.2:8554/c/track2",
            ),
            (
                "rtsp://10.0.0.2:8554",
                Some("/track2"),
                "rtsp://10.0.0.2:8554/track2",
            ),
        ];
        for (base, control, want) in cases {
            assert_eq!(resolve(base, *control), *want, "{base} + {control:?}");
        }
    }

    #[test]
    fn base_choice() {
        assert_eq!(
            base(Some("rtsp://10.0.0.2/a/"), "rtsp://10.0.0.2/b"),
            "rtsp://10.0.0.2/a/"
        );
        assert_eq!(base(None, "rtsp://10.0.0.2/b"), "rtsp://10.0.0.2/b");
        assert_eq!(base(Some(""), "rtsp://10.0.0.2/b"), "rtsp://10.0.0.2/b");
        // Anjvision: no scheme.
        assert_eq!(
            base(
                Some("192.168.1.10:554/stream0/"),
                "rtsp://192.168.1.10:554/stream0"
            ),
            "rtsp://192.168.1.10:554/stream0/"
        );
        assert_eq!(base(Some("cam/x/"), "rtsps://cam/x"), "rtsps://cam/x/");
    }
}
