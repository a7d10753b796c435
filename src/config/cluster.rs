//! A vhost's cluster settings (SRS: `vhost { cluster { mode remote; origin 10.0.0.2:1935; } }`):
//! with `mode = "remote"` the vhost is an edge of the origins (`server::edge`, `net::edge`):
//! a stream played here is pulled from an origin over RTMP while it has viewers, and a stream
//! published here is forwarded to an origin. Needs the Cargo feature `edge` (in `full`).
//! With `token_traverse`, an RTMP client's `connect` on the edge is first made at an origin,
//! which accepts or refuses it (its own hooks decide).
//! With `protocol = "flv"` the pull is an HTTP-FLV `GET` instead of an RTMP play.
//! With `origin_cluster = true` (an origin, SRS 3.0's origin cluster), an RTMP play of a stream
//! that is not published here asks each of `coworkers` (their HTTP API, `host:port`) where it
//! is, and answers the player with an RTMP 302 redirect to the coworker that has it
//! (`server::origin_cluster`).
//! Not supported: `protocol = "flvs"`; the origin cluster for HTTP players.

// Without the feature the section is read as a whole (`section::CompiledOut`): its rows' readers
// and checks are not used.
#![cfg_attr(not(feature = "edge"), allow(unused_imports, dead_code))]

use super::forward::Destination;
use super::schema::{words_or_list, FromToml, Invalid, Item, Keyword, Seconds, Value};
use super::section::{no_hook, Show};

/// Most origins one vhost may list. Why: each is tried in turn on failure; a list longer than
/// this is a cluster a board does not front.
pub const MAX_ORIGINS: usize = 8;

keywords! {
    /// `cluster.mode` (SRS: `cluster.mode`).
    pub enum ClusterMode {
        /// Streams are published here (an origin).
        Local = "local",
        /// An edge: streams come from `cluster.origin`.
        Remote = "remote",
    }
}

keywords! {
    /// `cluster.protocol` (SRS: `cluster.protocol`): how an edge pulls from its origins.
    pub enum ClusterProtocol {
        /// RTMP play (`rtmp://origin/app/stream`); an origin without a port is at 1935.
        Rtmp = "rtmp",
        /// HTTP-FLV (`GET http://origin/app/stream.flv`); an origin without a port is at 8080,
        /// as in SRS.
        Flv = "flv",
    }
}

/// `cluster.origin`: `host[:port]` (1935 by default), a list or one string of space-separated
/// origins as SRS writes them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origins(pub Vec<Destination>);

impl Value<Origins> for Origins {
    fn into_value(self) -> Origins {
        self
    }
}

impl FromToml for Origins {
    fn from_toml(item: &Item<'_>) -> Result<Self, Invalid> {
        let texts = words_or_list(item, "host:port or a list of them", MAX_ORIGINS, "origins")?;
        let refuse = |message: String| Invalid {
            span: item.span(),
            message,
        };
        let mut list = Vec::with_capacity(texts.len());
        for t in &texts {
            let d = Destination::parse(t).map_err(refuse)?;
            if d.app_stream.is_some() {
                return Err(refuse(format!(
                    "{t:?}: an origin is host[:port] (the stream keeps its app and name)"
                )));
            }
            list.push(d);
        }
        Ok(Origins(list))
    }
}

impl Show for Origins {
    fn show(&self) -> String {
        let texts: Vec<&str> = self.0.iter().map(|d| d.text.as_str()).collect();
        format!("{texts:?}")
    }
}

/// Most coworkers one vhost may list. Why: a play that finds no stream asks them one after
/// the other (each for up to `server::origin_cluster::QUERY_TIMEOUT_MS`).
pub const MAX_COWORKERS: usize = 8;

/// `cluster.coworkers`: the HTTP API addresses (`host:port`) of the other origins of the
/// cluster, a list or one string of space-separated addresses as SRS writes them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Coworkers(pub Vec<Destination>);

impl Value<Coworkers> for Coworkers {
    fn into_value(self) -> Coworkers {
        self
    }
}

impl FromToml for Coworkers {
    fn from_toml(item: &Item<'_>) -> Result<Self, Invalid> {
        let texts = words_or_list(
            item,
            "host:port or a list of them",
            MAX_COWORKERS,
            "coworkers",
        )?;
        let refuse = |message: String| Invalid {
            span: item.span(),
            message,
        };
        if !cfg!(feature = "edge") && !texts.is_empty() {
            return Err(refuse(
                "an origin cluster (cluster.coworkers): this build does not have it (Cargo \
                 feature edge); see boards/ or build with --features full"
                    .into(),
            ));
        }
        let mut list = Vec::with_capacity(texts.len());
        for t in &texts {
            let d = Destination::parse(t).map_err(refuse)?;
            let explicit_port = t
                .rsplit_once(':')
                .is_some_and(|(_, p)| p.parse::<u16>().is_ok());
            if d.app_stream.is_some() || !explicit_port {
                return Err(refuse(format!(
                    "{t:?}: a coworker is the host:port of its HTTP API"
                )));
            }
            list.push(d);
        }
        Ok(Coworkers(list))
    }
}

impl Show for Coworkers {
    fn show(&self) -> String {
        let texts: Vec<&str> = self.0.iter().map(|d| d.text.as_str()).collect();
        format!("{texts:?}")
    }
}

section! {
    /// Cluster of a vhost (SRS: `cluster { ... }`); see `server::edge`. Without the feature
    /// `edge` only what would switch it on is looked at (refused): a non-empty `origin` (an
    /// edge), `origin_cluster = true` or a non-empty `coworkers` (an origin cluster).
    @feature("edge", origin, origin_cluster, coworkers)
    pub struct Cluster: RawCluster, "a table of cluster settings" {
        /// `cluster.mode` (SRS: `cluster.mode`, default local).
        mode: ClusterMode = ClusterMode::Local => mode: Keyword<ClusterMode>;
        /// `cluster.origin` (SRS: `cluster.origin`): tried round-robin at each pull's start,
        /// the next one after a failure.
        origin: Origins = Origins::default() => origin: Origins;
        /// `cluster.token_traverse` (SRS: `token_traverse`, default off): an RTMP client's
        /// `connect` is made at an origin first (its tcUrl and app as the client sent them),
        /// and the client is refused when the origin refuses it.
        token_traverse: bool = false => token_traverse: bool;
        /// `cluster.protocol` (SRS: `protocol`, default rtmp): how a pull reads the origin.
        protocol: ClusterProtocol = ClusterProtocol::Rtmp => protocol: Keyword<ClusterProtocol>;
        /// `cluster.pull_timeout` (seconds, default 15; SRS has none for pulls): a pull whose
        /// origin sends no byte for this long (TCP open, nothing coming) fails over to the
        /// next origin, as on an error.
        pull_timeout_ms: u32 = 15_000 => pull_timeout: Seconds;
        /// `cluster.origin_cluster` (SRS: `origin_cluster`, default off): an RTMP play of a
        /// stream not published here is redirected (RTMP 302) to the coworker that has it.
        origin_cluster: bool = false => origin_cluster: bool;
        /// `cluster.coworkers` (SRS: `coworkers`): the other origins' HTTP APIs, asked in order.
        coworkers: Coworkers = Coworkers::default() => coworkers: Coworkers;
    }
    nested {}
    extra {}
    raw no_hook {}
}

impl Cluster {
    /// An edge with somewhere to pull from.
    pub fn is_edge(&self) -> bool {
        self.mode == ClusterMode::Remote && !self.origin.0.is_empty()
    }

    /// An origin of an origin cluster with coworkers to ask.
    pub fn is_origin_cluster(&self) -> bool {
        self.mode == ClusterMode::Local && self.origin_cluster && !self.coworkers.0.is_empty()
    }
}
