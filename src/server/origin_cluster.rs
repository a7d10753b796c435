//! Origin cluster (SRS 3.0's `cluster.origin_cluster` and `cluster.coworkers`): an RTMP play on
//! an origin for a stream that nobody publishes here asks each coworker where the stream is
//! (`GET /api/v1/clusters?vhost=&ip=&app=&stream=&coworker=`, SRS's `discover_co_workers`),
//! and the first coworker that answers with an `origin` gets the player: the play is answered
//! with an RTMP 302 (`onStatus` `NetConnection.Connect.Rejected` with `ex.code` 302,
//! `ex.redirect` the tcUrl and `ex.redirect2` the full URL, as SRS sends it), then closed.
//!
//! What a caller must know: the policy (the request, the answer, the URL) is here; the net
//! layer (`net::origin_cluster`) only connects, writes [`CoworkerQuery::request`], reads the
//! response with `wire::http::client::ResponseReader` (at most [`MAX_ANSWER`] of body) within
//! [`QUERY_TIMEOUT_MS`], and hands the status and body to [`CoworkerQuery::answer`]. A play
//! that no coworker can place is refused (`NetStream.Play.StreamNotFound`); SRS closes it too.
//!
//! Not supported: HTTP players (HTTP-FLV, HLS) are not redirected (SRS neither); a coworker
//! listed that is this server is asked like any other (it answers no origin).

use crate::config::Destination;
use crate::session::rtmp::Request;
use crate::wire::http::client::encode_request_head;

/// One coworker's answer (connect, request and response) at most; the next one is asked
/// after it. As SRS's HTTP client timeout for `discover_co_workers` (not set: its default
/// would be 30 s; a player waits, so shorter).
pub const QUERY_TIMEOUT_MS: u64 = 3_000;

/// Longest body of a coworker's answer kept. Why: SRS's answer is a few hundred bytes (the
/// query repeated and one origin). RAM: per play waiting for coworkers.
pub const MAX_ANSWER: usize = 4096;

/// Bytes read at once from a coworker (by the net layer). RAM: per query in progress.
pub const QUERY_READ_BUFFER: usize = 2048;

/// A query beyond its buffers: the coworkers' list, the names, the request, the task and
/// the socket, rounded up. RAM: per query in progress.
pub const QUERY_STATE_BYTES: usize = 2048;

/// The question a play asks the coworkers, in order (made by the net layer).
#[derive(Debug, Clone)]
pub struct CoworkerQuery {
    pub coworkers: Vec<Destination>,
    pub vhost: String,
    /// The host the player connected to (SRS's `req->host`, from the tcUrl).
    pub ip: String,
    pub app: String,
    pub stream: String,
    /// The play's query (`?key=...`), kept on the redirect URL.
    pub params: String,
    /// The player connection's id, for the log.
    pub cid: String,
}

/// Where a coworker says the stream is: its RTMP `ip` and `port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    pub ip: String,
    pub port: u16,
}

impl CoworkerQuery {
    pub fn new(request: &Request, vhost: &str, coworkers: &[Destination], cid: &str) -> Self {
        CoworkerQuery {
            coworkers: coworkers.to_vec(),
            vhost: vhost.to_owned(),
            ip: tc_url_host(&request.tc_url).to_owned(),
            app: request.app.clone(),
            stream: request.stream.clone(),
            params: request.params.clone(),
            cid: cid.to_owned(),
        }
    }

    /// The `GET` to send to `coworker` (`None` when a value cannot be written in a request
    /// line; that coworker is skipped).
    pub fn request(&self, coworker: &Destination) -> Option<Vec<u8>> {
        let target = format!(
            "/api/v1/clusters?vhost={}&ip={}&app={}&stream={}&coworker={}",
            encode(&self.vhost),
            encode(&self.ip),
            encode(&self.app),
            encode(&self.stream),
            encode(&coworker.text),
        );
        let mut out = Vec::with_capacity(target.len() + 128);
        let headers = [
            ("Host", coworker.text.as_str()),
            ("User-Agent", crate::server::http::SERVER),
            ("Connection", "close"),
        ];
        encode_request_head("GET", &target, &headers, &mut out).then_some(out)
    }

    /// A coworker's response: where it has the stream, or why not.
    pub fn answer(status: u16, body: &[u8]) -> Result<Placed, String> {
        if status != 200 {
            return Err(format!("HTTP status {status}"));
        }
        // As serde_json::Value, as forward's backend answer is read: a derived Deserialize
        // costs 32 KB of the aarch64 binary.
        let answer: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| format!("answer does not parse: {e}"))?;
        let code = answer
            .get("code")
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(0);
        if code != 0 {
            return Err(format!("code {code}"));
        }
        let origin = answer
            .get("data")
            .and_then(|d| d.get("origin"))
            .filter(|o| !o.is_null());
        let Some(origin) = origin else {
            return Err("not there".into());
        };
        let ip = origin.get("ip").and_then(serde_json::Value::as_str);
        let port = origin
            .get("port")
            .and_then(serde_json::Value::as_u64)
            .and_then(|p| u16::try_from(p).ok());
        match (ip, port) {
            (Some(ip), Some(port)) if !ip.is_empty() && port != 0 => Ok(Placed {
                ip: ip.to_owned(),
                port,
            }),
            _ => Err("an origin without ip or port".into()),
        }
    }

    /// The RTMP URL the player is sent to (SRS's `srs_generate_rtmp_url`):
    /// `rtmp://ip:port/app/stream`, with the play's query and, on another vhost than the
    /// default, `vhost=`.
    pub fn redirect_url(&self, at: &Placed) -> String {
        let host = if at.ip.contains(':') {
            format!("[{}]", at.ip)
        } else {
            at.ip.clone()
        };
        let mut query: Vec<String> = Vec::new();
        if self.vhost != crate::config::DEFAULT_VHOST && !self.params.contains("vhost=") {
            query.push(format!("vhost={}", self.vhost));
        }
        if !self.params.is_empty() {
            query.push(self.params.clone());
        }
        let mut url = format!("rtmp://{host}:{}/{}/{}", at.port, self.app, self.stream);
        if !query.is_empty() {
            url.push('?');
            url.push_str(&query.join("&"));
        }
        url
    }
}

/// The host of a tcUrl (`rtmp://host[:port]/app`), or the tcUrl itself when it has none.
fn tc_url_host(tc_url: &str) -> &str {
    let rest = tc_url.split_once("://").map_or(tc_url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    match authority.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or(v6, |(h, _)| h),
        None => authority.split(':').next().unwrap_or_default(),
    }
}

/// Percent-encodes everything but RFC 3986's unreserved bytes.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query() -> CoworkerQuery {
        CoworkerQuery {
            coworkers: vec![Destination::parse("127.0.0.1:1985").unwrap()],
            vhost: crate::config::DEFAULT_VHOST.into(),
            ip: "127.0.0.1".into(),
            app: "live".into(),
            stream: "cam 1".into(),
            params: String::new(),
            cid: "c1".into(),
        }
    }

    #[test]
    fn the_request_is_srss() {
        let q = query();
        let text = String::from_utf8(q.request(&q.coworkers[0]).unwrap()).unwrap();
        assert!(text.starts_with(
            "GET /api/v1/clusters?vhost=__defaultVhost__&ip=127.0.0.1&app=live&stream=cam%201\
             &coworker=127.0.0.1%3A1985 HTTP/1.1\r\nHost: 127.0.0.1:1985\r\n"
        ));
    }

    #[test]
    fn an_answer_places_the_stream_or_not() {
        let srs = br#"{"code":0,"data":{"query":{"ip":"127.0.0.1","vhost":"__defaultVhost__",
            "app":"live","stream":"s"},"origin":{"ip":"10.0.0.2","port":19350,
            "vhost":"__defaultVhost__","api":"10.0.0.2:9090","routers":["10.0.0.2:9090"]}}}"#;
        assert_eq!(
            CoworkerQuery::answer(200, srs),
            Ok(Placed {
                ip: "10.0.0.2".into(),
                port: 19350
            })
        );
        let none = br#"{"code":0,"data":{"query":{},"origin":null}}"#;
        assert!(CoworkerQuery::answer(200, none).is_err());
        assert!(CoworkerQuery::answer(404, b"").is_err());
        assert!(CoworkerQuery::answer(200, b"{").is_err());
        assert!(CoworkerQuery::answer(200, br#"{"code":1}"#).is_err());
    }

    #[test]
    fn the_redirect_keeps_app_stream_query_and_vhost() {
        let mut q = query();
        q.stream = "s".into();
        let at = Placed {
            ip: "10.0.0.2".into(),
            port: 19350,
        };
        assert_eq!(q.redirect_url(&at), "rtmp://10.0.0.2:19350/live/s");
        q.vhost = "cams".into();
        q.params = "key=1".into();
        assert_eq!(
            q.redirect_url(&at),
            "rtmp://10.0.0.2:19350/live/s?vhost=cams&key=1"
        );
        assert_eq!(tc_url_host("rtmp://[::1]:1935/live"), "::1");
        assert_eq!(tc_url_host("rtmp://origin.example/live"), "origin.example");
    }
}
