//! What a client asks for: vhost, app and stream from `connect`'s tcUrl/app and the
//! publish/play name, following SRS's rules:
//! - the vhost is the tcUrl host, unless a `vhost=` (or `domain=`) parameter names another;
//! - parameters may ride on the app (`live?vhost=x`), on the stream (`cam?vhost=x&token=y`),
//!   or use SRS's legacy form `live...vhost...x`;
//! - an IP-address host means the default vhost.

use crate::media::DEFAULT_VHOST;

/// Longest app/stream/vhost name we keep; longer names are refused (they would be keys in the
/// registry and in logs).
pub const MAX_NAME_LEN: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The vhost the client asked for (not yet resolved against the config).
    pub vhost: String,
    pub app: String,
    pub stream: String,
    pub tc_url: String,
    /// The query string, without `?`, from the app and the stream (app first).
    pub params: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("empty {0}")]
    Empty(&'static str),
    #[error("{0} longer than {MAX_NAME_LEN} bytes")]
    TooLong(&'static str),
    #[error("{0} contains a character that is not allowed")]
    BadCharacter(&'static str),
}

/// Splits `rtmp://host[:port]/app[/more][?query]` into (host, app path, query).
fn split_tc_url(tc_url: &str) -> (&str, &str, &str) {
    let rest = tc_url.split_once("://").map_or(tc_url, |(_, r)| r);
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or(v6, |(h, _)| h),
        None => authority.split_once(':').map_or(authority, |(h, _)| h),
    };
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    (host, path, query)
}

/// Separates SRS's legacy `app...vhost...x` form and a `?query` from a name.
fn split_params(name: &str) -> (String, String) {
    let name = name.trim();
    let (name, query) = name.split_once('?').unwrap_or((name, ""));
    let mut query = query.to_string();
    let mut base = name.to_string();
    if let Some((b, legacy)) = name.split_once("...") {
        base = b.to_string();
        // "vhost...x" and further "key...value" pairs become "vhost=x&key=value".
        let parts: Vec<&str> = legacy.split("...").collect();
        for pair in parts.chunks(2) {
            if let [k, v] = pair {
                if !query.is_empty() {
                    query.push('&');
                }
                query.push_str(k);
                query.push('=');
                query.push_str(v);
            }
        }
    }
    (base, query)
}

/// The value of `key` in a `a=b&c=d` query string.
pub fn param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

fn check(what: &'static str, s: &str, allow_empty: bool) -> Result<(), RequestError> {
    if s.is_empty() && !allow_empty {
        return Err(RequestError::Empty(what));
    }
    if s.len() > MAX_NAME_LEN {
        return Err(RequestError::TooLong(what));
    }
    if s.chars().any(|c| c.is_control() || c == '\\') {
        return Err(RequestError::BadCharacter(what));
    }
    Ok(())
}

fn join_query(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}&{b}"),
    }
}

impl Request {
    /// Builds the request from `connect`'s app and tcUrl (either may be missing).
    pub fn from_connect(app: Option<&str>, tc_url: Option<&str>) -> Result<Request, RequestError> {
        let tc_url = tc_url.unwrap_or("").to_string();
        let (host, url_app, url_query) = split_tc_url(&tc_url);
        let app_field = app.filter(|a| !a.is_empty()).unwrap_or(url_app);
        let (app, app_query) = split_params(app_field);
        let app = app.trim_matches('/').to_string();
        let params = join_query(url_query, &app_query);
        let vhost = param(&params, "vhost")
            .or_else(|| param(&params, "domain"))
            .unwrap_or(host);
        let vhost = if vhost.is_empty() || vhost.parse::<std::net::IpAddr>().is_ok() {
            DEFAULT_VHOST.to_string()
        } else {
            vhost.to_ascii_lowercase()
        };
        check("app", &app, false)?;
        check("vhost", &vhost, false)?;
        check("tcUrl", &tc_url, true).or(Err(RequestError::TooLong("tcUrl")))?;
        Ok(Request {
            vhost,
            app,
            stream: String::new(),
            tc_url,
            params,
        })
    }

    /// The request for one publish/play name on this connection.
    pub fn with_stream(&self, name: &str) -> Result<Request, RequestError> {
        let (stream, query) = split_params(name);
        check("stream", &stream, false)?;
        let mut r = self.clone();
        if let Some(v) = param(&query, "vhost").or_else(|| param(&query, "domain")) {
            if v.parse::<std::net::IpAddr>().is_err() && !v.is_empty() {
                check("vhost", v, false)?;
                r.vhost = v.to_ascii_lowercase();
            }
        }
        r.params = join_query(&self.params, &query);
        r.stream = stream;
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(app: &str, tc: &str) -> Request {
        Request::from_connect(Some(app), Some(tc)).unwrap()
    }

    #[test]
    fn plain_ip_host_is_default_vhost() {
        let r = req("live", "rtmp://127.0.0.1:1935/live");
        assert_eq!(r.vhost, DEFAULT_VHOST);
        assert_eq!(r.app, "live");
        let s = r.with_stream("cam1").unwrap();
        assert_eq!((s.stream.as_str(), s.params.as_str()), ("cam1", ""));
    }

    #[test]
    fn host_name_is_the_vhost() {
        let r = req("live", "rtmp://Cam.Example.com/live");
        assert_eq!(r.vhost, "cam.example.com");
    }

    #[test]
    fn vhost_parameter_on_tcurl_app_or_stream() {
        assert_eq!(
            req("live", "rtmp://1.2.3.4/live?vhost=a.com").vhost,
            "a.com"
        );
        assert_eq!(
            req("live?vhost=b.com", "rtmp://1.2.3.4/live").vhost,
            "b.com"
        );
        assert_eq!(
            req("live...vhost...c.com", "rtmp://1.2.3.4/live").vhost,
            "c.com"
        );
        let r = req("live", "rtmp://1.2.3.4/live");
        let s = r.with_stream("cam?vhost=d.com&token=x").unwrap();
        assert_eq!(s.vhost, "d.com");
        assert_eq!(s.stream, "cam");
        assert_eq!(param(&s.params, "token"), Some("x"));
        let r = req(
            "live...vhost...c.com",
            "rtmp://1.2.3.4/live...vhost...c.com",
        );
        assert_eq!(r.app, "live");
    }

    #[test]
    fn app_from_tcurl_when_missing_and_ipv6_host() {
        let r = Request::from_connect(None, Some("rtmp://[::1]:1935/live/sub")).unwrap();
        assert_eq!(
            (r.vhost.as_str(), r.app.as_str()),
            (DEFAULT_VHOST, "live/sub")
        );
    }

    #[test]
    fn bad_names_are_refused() {
        assert_eq!(
            Request::from_connect(Some(""), Some("rtmp://h/")),
            Err(RequestError::Empty("app"))
        );
        let r = req("live", "rtmp://h/live");
        assert_eq!(r.with_stream(""), Err(RequestError::Empty("stream")));
        assert_eq!(
            r.with_stream(&"x".repeat(300)),
            Err(RequestError::TooLong("stream"))
        );
        assert_eq!(
            r.with_stream("a\nb"),
            Err(RequestError::BadCharacter("stream"))
        );
    }
}
