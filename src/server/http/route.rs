//! HTTP routing: which handler a request goes to, and the vhost/app/stream it names. Pure.
//!
//! - `/{app}/{stream}.flv` HTTP-FLV, `/{app}/{stream}.ts` HTTP-TS (live, chunked);
//! - `/{app}/{stream}.m3u8` and `/{app}/{stream}-{seq}.ts` HLS from the hub;
//! - `/api/...` the SRS-compatible API;
//! - `/metrics` Prometheus's metrics, when `exporter.enabled` (with the `metrics` feature);
//! - below the vhost's `dvr.http_mount` (`/dvr/`): its recordings (with the `dvr` feature);
//! - anything else: the static web root.
//!
//! The vhost is the Host header's name (SRS) unless `?vhost=` names another; an IP address or
//! no Host means the default vhost. `app` may contain `/` (`/live/sub/cam.flv`: app
//! `live/sub`).

#[cfg(feature = "dvr")]
use std::path::PathBuf;

use crate::config::{Config, Vhost, DEFAULT_VHOST};
use crate::live::StreamKey;
use crate::wire::http::{percent_decode, query_param, RequestHead};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Flv(StreamKey),
    Ts(StreamKey),
    Playlist(StreamKey),
    /// An HLS segment: the stream and the segment's sequence number.
    Segment(StreamKey, u64),
    /// The API, with the decoded path.
    Api(String),
    /// A recording: the DVR root of the vhost and the raw (not decoded) rest of the path
    /// below the mount, starting with `/`.
    #[cfg(feature = "dvr")]
    Dvr {
        root: PathBuf,
        rest: String,
    },
    Static,
    /// Prometheus `/metrics`, when `exporter.enabled`.
    #[cfg(feature = "metrics")]
    Metrics,
    /// WebRTC's WHEP offers and session resources (`/rtc/v1/...`, the decoded path), when
    /// `rtc_server.enabled`.
    #[cfg(feature = "rtc")]
    Rtc(String),
    /// A stream path for a vhost that does not exist or has the output disabled.
    NotFound,
}

/// The vhost a request names: `?vhost=`, else the Host header without its port.
pub fn requested_vhost(head: &RequestHead) -> String {
    if let Some(v) = query_param(&head.query, "vhost") {
        return v.to_ascii_lowercase();
    }
    let (name, _) = host_and_port(head.host.as_deref().unwrap_or(""));
    if name.is_empty() || name.parse::<std::net::IpAddr>().is_ok() {
        DEFAULT_VHOST.to_string()
    } else {
        name.to_ascii_lowercase()
    }
}

/// A Host header's name (an IPv6 address without its brackets) and port, if it has one.
pub fn host_and_port(host: &str) -> (&str, Option<&str>) {
    match host.strip_prefix('[') {
        Some(v6) => {
            let (name, rest) = v6.split_once(']').unwrap_or((v6, ""));
            (name, rest.strip_prefix(':'))
        }
        None => match host.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        },
    }
}

/// Splits `/app/.../name.ext` into (app, name, ext).
fn split_stream_path(path: &str) -> Option<(&str, &str, &str)> {
    let path = path.strip_prefix('/')?;
    let (app, file) = path.rsplit_once('/')?;
    let (name, ext) = file.rsplit_once('.')?;
    if app.is_empty() || name.is_empty() || app.split('/').any(|s| s.is_empty() || s == "..") {
        return None;
    }
    Some((app, name, ext))
}

/// `name-123` → (`name`, 123).
fn segment_name(name: &str) -> Option<(&str, u64)> {
    let (stream, seq) = name.rsplit_once('-')?;
    if stream.is_empty() || seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((stream, seq.parse().ok()?))
}

/// Routes a request. `is_hls_stream` says whether a stream has HLS segments (so that
/// `/live/cam-1.ts` is a segment of `cam` and not the live TS of a stream named `cam-1`).
pub fn route(
    config: &Config,
    head: &RequestHead,
    is_hls_stream: impl Fn(&StreamKey) -> bool,
) -> Route {
    let Ok(path) = percent_decode(&head.target) else {
        return Route::Static;
    };
    if path == "/api" || path.starts_with("/api/") {
        return Route::Api(path);
    }
    #[cfg(feature = "metrics")]
    if path == "/metrics" && config.exporter_enabled {
        return Route::Metrics;
    }
    #[cfg(feature = "rtc")]
    if path.starts_with("/rtc/v1/") && config.rtc_server_enabled {
        return Route::Rtc(path);
    }
    #[cfg(feature = "dvr")]
    if let Some(dvr) = dvr_route(config, head) {
        return dvr;
    }
    let Some((app, name, ext)) = split_stream_path(&path) else {
        return Route::Static;
    };
    if !matches!(ext, "flv" | "ts" | "m3u8") {
        return Route::Static;
    }
    let Some(vhost) = config.resolve_vhost(&requested_vhost(head)) else {
        return Route::NotFound;
    };
    let key = |stream: &str| StreamKey {
        vhost: vhost.name.clone(),
        app: app.to_string(),
        stream: stream.to_string(),
    };
    let remux = |v: &Vhost| v.http_remux;
    match ext {
        "flv" if remux(vhost) => Route::Flv(key(name)),
        "m3u8" if vhost.hls.enabled => Route::Playlist(key(name)),
        "ts" => {
            if vhost.hls.enabled {
                if let Some((stream, seq)) = segment_name(name) {
                    let k = key(stream);
                    if is_hls_stream(&k) {
                        return Route::Segment(k, seq);
                    }
                }
            }
            if remux(vhost) {
                Route::Ts(key(name))
            } else {
                Route::NotFound
            }
        }
        _ => Route::NotFound,
    }
}

/// A path below the requested vhost's `dvr.http_mount` (matched on the raw target, so a
/// percent-encoded mount is a static file).
#[cfg(feature = "dvr")]
fn dvr_route(config: &Config, head: &RequestHead) -> Option<Route> {
    let vhost = config.resolve_vhost(&requested_vhost(head))?;
    let mount = vhost.dvr.http_mount.as_str();
    let below = mount.strip_suffix('/').filter(|m| !m.is_empty())?;
    let rest = head.target.strip_prefix(below)?;
    if !rest.starts_with('/') {
        return None;
    }
    Some(Route::Dvr {
        root: vhost.dvr.path.root.clone(),
        rest: rest.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::http::decode_request_head;

    fn head(request: &str) -> RequestHead {
        decode_request_head(request.as_bytes()).unwrap().unwrap().0
    }

    fn key(vhost: &str, app: &str, stream: &str) -> StreamKey {
        StreamKey {
            vhost: vhost.into(),
            app: app.into(),
            stream: stream.into(),
        }
    }

    fn go(config: &Config, target: &str, host: &str) -> Route {
        let h = head(&format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n"));
        route(config, &h, |k| k.stream == "cam")
    }

    #[test]
    fn stream_paths() {
        let c = Config::embedded();
        let d = DEFAULT_VHOST;
        assert_eq!(
            go(&c, "/live/cam.flv", "127.0.0.1:8080"),
            Route::Flv(key(d, "live", "cam"))
        );
        assert_eq!(
            go(&c, "/live/cam.ts", "127.0.0.1"),
            Route::Ts(key(d, "live", "cam"))
        );
        assert_eq!(
            go(&c, "/live/cam.m3u8", "[::1]:8080"),
            Route::Playlist(key(d, "live", "cam"))
        );
        assert_eq!(
            go(&c, "/live/cam-12.ts", "x"),
            Route::Segment(key(d, "live", "cam"), 12)
        );
        // Not an HLS stream: the live TS of a stream named "other-12".
        assert_eq!(
            go(&c, "/live/other-12.ts", "x"),
            Route::Ts(key(d, "live", "other-12"))
        );
        assert_eq!(
            go(&c, "/live/sub/cam.flv", "x"),
            Route::Flv(key(d, "live/sub", "cam"))
        );
        assert_eq!(
            go(&c, "/api/v1/versions", "x"),
            Route::Api("/api/v1/versions".into())
        );
        assert_eq!(go(&c, "/index.html", "x"), Route::Static);
        assert_eq!(go(&c, "/cam.flv", "x"), Route::Static);
        assert_eq!(go(&c, "/live/..%2fcam.flv", "x"), Route::Static);
    }

    #[cfg(feature = "dvr")]
    #[test]
    fn recordings_below_the_mount() {
        use std::path::PathBuf;
        let c = Config::from_toml_str(
            "[vhost.\"cam.local\".dvr]\nhttp_mount = \"/rec/\"\ndvr_path = \"/mnt/d/[app]/[stream].[timestamp].mp4\"\n\
             [vhost.\"off.local\".dvr]\nhttp_mount = \"\"\n",
            "t",
        )
        .unwrap();
        let dvr = |root: &str, rest: &str| Route::Dvr {
            root: PathBuf::from(root),
            rest: rest.into(),
        };
        assert_eq!(
            go(&c, "/dvr/live/cam.1.flv", "x"),
            dvr("./dvr", "/live/cam.1.flv")
        );
        assert_eq!(go(&c, "/dvr/", "x"), dvr("./dvr", "/"));
        assert_eq!(go(&c, "/dvr/../x", "x"), dvr("./dvr", "/../x"));
        assert_eq!(
            go(&c, "/rec/live/a.mp4", "cam.local"),
            dvr("/mnt/d", "/live/a.mp4")
        );
        assert_eq!(go(&c, "/dvr", "x"), Route::Static);
        assert_eq!(go(&c, "/dvrx/a.mp4", "x"), Route::Static);
        assert_eq!(go(&c, "/%64vr/live/a.mp4", "x"), Route::Static);
        assert_eq!(
            go(&c, "/dvr/live/a.flv", "off.local"),
            Route::Flv(key("off.local", "dvr/live", "a"))
        );
    }

    #[test]
    fn host_and_port_of_a_host_header() {
        assert_eq!(host_and_port("box:8080"), ("box", Some("8080")));
        assert_eq!(host_and_port("box"), ("box", None));
        assert_eq!(host_and_port("[::1]:8080"), ("::1", Some("8080")));
        assert_eq!(host_and_port("[::1]"), ("::1", None));
        assert_eq!(host_and_port("[::1"), ("::1", None));
        assert_eq!(host_and_port(""), ("", None));
    }

    #[test]
    fn vhost_from_host_or_parameter() {
        let c = Config::from_toml_str(
            "[vhost.\"cam.local\"]\n[vhost.\"off.local\"]\nenabled = false\n",
            "t",
        )
        .unwrap();
        assert_eq!(
            go(&c, "/live/a.flv", "Cam.Local:8080"),
            Route::Flv(key("cam.local", "live", "a"))
        );
        assert_eq!(
            go(&c, "/live/a.flv?vhost=cam.local", "127.0.0.1:8080"),
            Route::Flv(key("cam.local", "live", "a"))
        );
        assert_eq!(go(&c, "/live/a.flv", "off.local"), Route::NotFound);
        // Unknown host names fall back to the default vhost (SRS).
        assert_eq!(
            go(&c, "/live/a.flv", "other.example"),
            Route::Flv(key(DEFAULT_VHOST, "live", "a"))
        );
    }

    #[test]
    fn disabled_outputs_are_not_found() {
        let c = Config::from_toml_str(
            "[vhost.__defaultVhost__.hls]\nenabled = false\n[vhost.__defaultVhost__.http_remux]\nenabled = false\n",
            "t",
        )
        .unwrap();
        assert_eq!(go(&c, "/live/a.flv", "x"), Route::NotFound);
        assert_eq!(go(&c, "/live/a.m3u8", "x"), Route::NotFound);
        assert_eq!(go(&c, "/live/cam-1.ts", "x"), Route::NotFound);
    }
}
