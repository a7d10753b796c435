//! `rtmp://host:port/app/stream`, `http://host:port/app/stream.flv` and
//! `rtsp://host:port/app/stream`, split into what the
//! clients need.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Rtmp,
    HttpFlv,
    Rtsp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub scheme: Scheme,
    /// "host:port" (the scheme's default port added when missing).
    pub host_port: String,
    /// Everything between the host and the last path segment, e.g. "live".
    pub app: String,
    /// The last path segment, e.g. "bench" or "bench.flv".
    pub stream: String,
    /// The whole path, e.g. "/live/bench.flv" (what an HTTP request asks for).
    pub path: String,
}

impl Url {
    pub fn parse(text: &str) -> Result<Url, String> {
        let (scheme, rest, default_port) = if let Some(rest) = text.strip_prefix("rtmp://") {
            (Scheme::Rtmp, rest, 1935)
        } else if let Some(rest) = text.strip_prefix("http://") {
            (Scheme::HttpFlv, rest, 80)
        } else if let Some(rest) = text.strip_prefix("rtsp://") {
            (Scheme::Rtsp, rest, 554)
        } else {
            return Err(format!("{text}: not an rtmp://, http:// or rtsp:// URL"));
        };
        let (host, path) = rest.split_once('/').ok_or(format!("{text}: no path"))?;
        let (app, stream) = path
            .rsplit_once('/')
            .filter(|(app, stream)| !app.is_empty() && !stream.is_empty())
            .ok_or(format!("{text}: the path must be /app/stream"))?;
        let host_port = if host.contains(':') {
            host.to_string()
        } else {
            format!("{host}:{default_port}")
        };
        Ok(Url {
            scheme,
            host_port,
            app: app.to_string(),
            stream: stream.to_string(),
            path: format!("/{path}"),
        })
    }

    /// The same server and app, stream `name` (for an RTMP or RTSP URL; an HTTP-FLV one gets
    /// `.flv`).
    pub fn with_stream(&self, name: &str) -> Url {
        let stream = match self.scheme {
            Scheme::Rtmp | Scheme::Rtsp => name.to_string(),
            Scheme::HttpFlv => format!("{name}.flv"),
        };
        Url {
            path: format!("/{}/{stream}", self.app),
            stream,
            ..self.clone()
        }
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.scheme {
            Scheme::Rtmp => "rtmp",
            Scheme::HttpFlv => "http",
            Scheme::Rtsp => "rtsp",
        };
        write!(f, "{scheme}://{}{}", self.host_port, self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_app_and_stream() {
        let u = Url::parse("rtmp://127.0.0.1/live/bench").unwrap();
        assert_eq!(
            (u.host_port.as_str(), u.app.as_str()),
            ("127.0.0.1:1935", "live")
        );
        assert_eq!(u.stream, "bench");
        let u = Url::parse("http://h:8080/a/b/s.flv").unwrap();
        assert_eq!((u.app.as_str(), u.stream.as_str()), ("a/b", "s.flv"));
        assert_eq!(u.path, "/a/b/s.flv");
        assert!(Url::parse("rtmp://h/x").is_err());
        let u = Url::parse("rtmp://h:1/live/s").unwrap().with_stream("s7");
        assert_eq!(u, Url::parse("rtmp://h:1/live/s7").unwrap());
        let u = Url::parse("http://h:2/live/s.flv")
            .unwrap()
            .with_stream("s3");
        assert_eq!(u, Url::parse("http://h:2/live/s3.flv").unwrap());
        let u = Url::parse("rtsp://h/live/s").unwrap();
        assert_eq!((u.scheme, u.host_port.as_str()), (Scheme::Rtsp, "h:554"));
        assert_eq!(u.with_stream("s2").to_string(), "rtsp://h:554/live/s2");
        assert!(Url::parse("udp://h/a/b").is_err());
    }
}
