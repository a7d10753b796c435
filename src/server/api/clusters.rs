//! `GET /api/v1/clusters?vhost=&ip=&app=&stream=&coworker=` (SRS 3.0's origin cluster,
//! `SrsGoApiClusters`): where a stream is published. An SRS origin with `origin_cluster` asks
//! each of its `coworkers` this before it redirects a player (RTMP 302), so a tinysrs origin
//! can be one of those coworkers. The answer is SRS's: `data.query` repeats the query, and
//! `data.origin` is `null` when the stream is not published here, else `{ip, port, vhost,
//! api, routers}`: our RTMP address (the listen address, or the host the asker used for us,
//! `coworker`, when we listen on every address or loopback), our API address, and `routers`
//! with that API address alone.
//!
//! A tinysrs origin with `cluster.origin_cluster` asks its coworkers the same question
//! (`server::origin_cluster`) and redirects the play (RTMP 302) to the one that answers an
//! origin. Players that follow a 302: SRS and tinysrs edges; neither ffmpeg (5.1, native RTMP)
//! nor librtmp (2.4, rtmpdump) does.

use std::net::SocketAddr;

use serde::Serialize;

use super::{query_get, Api, Reply};
use crate::live::StreamKey;
use crate::wire::http::percent_decode;

#[derive(Serialize)]
struct Query {
    ip: String,
    vhost: String,
    app: String,
    stream: String,
}

#[derive(Serialize)]
struct Origin {
    ip: String,
    port: u16,
    vhost: String,
    api: String,
    routers: [String; 1],
}

#[derive(Serialize)]
struct Clusters {
    query: Query,
    origin: Option<Origin>,
}

#[derive(Serialize)]
struct Data {
    data: Clusters,
}

pub(super) fn handle(api: &Api<'_>, query: &str) -> Reply {
    let param = |k| {
        query_get(query, k)
            .and_then(|v| percent_decode(v).ok())
            .unwrap_or_default()
    };
    let q = Query {
        ip: param("ip"),
        vhost: param("vhost"),
        app: param("app"),
        stream: param("stream"),
    };
    let coworker = param("coworker");
    let origin = origin(api, &q, &coworker);
    api.ok(Data {
        data: Clusters { query: q, origin },
    })
}

/// Our place for the stream of `q`, if it is published here.
fn origin(api: &Api<'_>, q: &Query, coworker: &str) -> Option<Origin> {
    let config = api.ctx.config();
    // As SRS: an unknown vhost is the default vhost (if enabled).
    let vhost = config.resolve_vhost(&q.vhost)?;
    let key = StreamKey {
        vhost: vhost.name.clone(),
        app: q.app.clone(),
        stream: q.stream.clone(),
    };
    let source = api.ctx.hub.borrow().source(&key)?;
    source.borrow().publisher()?;
    let listens = &api.settings.listens;
    let rtmp = listens.rtmp?;
    let ip = service_ip(rtmp, coworker);
    let backend = match listens.api {
        Some(a) if !a.ip().is_unspecified() && !a.ip().is_loopback() => a.to_string(),
        Some(a) => format!("{ip}:{}", a.port()),
        None => String::new(),
    };
    Some(Origin {
        ip,
        port: rtmp.port(),
        vhost: vhost.name.clone(),
        api: backend.clone(),
        routers: [backend],
    })
}

/// SRS's rule: the listen address, unless it is loopback or every address; then the host the
/// asker reached our API at (`coworker`, `host[:port]`).
fn service_ip(listen: SocketAddr, coworker: &str) -> String {
    let ip = listen.ip();
    if !ip.is_unspecified() && !ip.is_loopback() {
        return ip.to_string();
    }
    match coworker.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or(v6, |(h, _)| h).to_owned(),
        None => coworker
            .rsplit_once(':')
            .map_or(coworker, |(h, _)| h)
            .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_ip_follows_srs() {
        let any: SocketAddr = "0.0.0.0:1935".parse().unwrap();
        let lo: SocketAddr = "127.0.0.1:1935".parse().unwrap();
        let lan: SocketAddr = "10.0.0.2:1935".parse().unwrap();
        assert_eq!(service_ip(any, "192.168.1.5:1985"), "192.168.1.5");
        assert_eq!(service_ip(lo, "origin.example"), "origin.example");
        assert_eq!(service_ip(lo, "[::1]:1985"), "::1");
        assert_eq!(service_ip(lan, "192.168.1.5:1985"), "10.0.0.2");
    }
}
