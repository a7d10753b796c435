//! HLS viewers as sessions, as SRS's `hls_ctx` makes them (`SrsHlsStream`): an HLS player has
//! no connection of its own, so a playlist request without a known `hls_ctx` query parameter
//! opens a session and is answered a one-line master playlist that points at the same URL with
//! `?hls_ctx=<id>`; the player then asks for that URL (and, with `hls_ts_ctx`, for segments
//! that carry the id too), and every such request is the session's.
//!
//! What a caller must know:
//! - A session is a client of kind `hls-play` in the API (`/api/v1/clients`), its id the
//!   `hls_ctx` value, also its `client_id` in the hooks. Its bytes are those of the requests
//!   that carry the id (playlists and segments).
//! - It ends (`on_stop`, gone from the API) after `2 × hls_window` without a request that
//!   carries it, as SRS times it out. A kick (`DELETE /api/v1/clients/{id}`) takes it out of
//!   the API at the next sweep; its requests are then refused (403; SRS answers 404 "EOF") until
//!   it times out.
//! - At most [`MAX_HLS_SESSIONS`] at once; a new one past it is refused (503). Requests without
//!   the parameter (a player that drops the query on segments) are served and not counted.
//! - No I/O and no clock: times are passed in; the sweep runs once a second.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;

use super::stats::{ClientKind, ClientRecord, Clients, Registration};
use super::{ConnLog, ServerCtx};
use crate::live::{ClientId, StreamKey};

/// HLS sessions open at once, over every stream: each holds its client record, its stream's
/// names and its hook payload fields. RAM: [`SESSION_BYTES`] each (`tinysrs -t`, "HLS
/// sessions", when a vhost turns `hls_ctx` on).
pub const MAX_HLS_SESSIONS: usize = 256;

/// Worst case of one session: the client record (about 300 bytes and its names), tcUrl and
/// pageUrl in the record and again for the `on_stop` payload with the query
/// (`MAX_CLIENT_URL` = 512 bytes each: 5 of them) and the map entry.
pub const SESSION_BYTES: usize = 4096;

/// The API ids of HLS sessions: a range of their own (connections count up from 1, RTSP ingests
/// down from `0x7FFF_FFFF`, GB28181 media from `0x8000_0000`).
const CLIENT_BASE: ClientId = 0x4000_0000;
const CLIENT_SPAN: ClientId = 0x1000_0000;

/// The query parameter that carries the session (SRS's `SRS_CONTEXT_IN_HLS`).
pub const CTX_PARAM: &str = "hls_ctx";

/// What a request's `hls_ctx` names.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// No such session (none given, made up, or timed out): a new one for a playlist.
    Unknown,
    /// Kicked through the API: refused until it times out.
    Kicked,
    Live(Rc<ClientRecord>),
}

/// Who the session is, for `on_stop` when it ends.
#[cfg(feature = "hooks")]
pub type StopHook = Option<crate::server::hooks::Client>;
#[cfg(not(feature = "hooks"))]
pub type StopHook = Option<()>;

struct Session {
    /// In the API until kicked.
    registration: Option<Registration>,
    record: Rc<ClientRecord>,
    key: StreamKey,
    last_ms: u64,
    idle_ms: u64,
    stop: StopHook,
}

/// Every HLS session, by its `hls_ctx`.
#[derive(Default)]
pub struct HlsSessions {
    map: RefCell<HashMap<String, Session>>,
    next: Cell<ClientId>,
}

/// A new session's identity, before it is opened (the `on_play` hooks may refuse it).
#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: ClientId,
    pub cid: String,
}

impl HlsSessions {
    pub fn len(&self) -> usize {
        self.map.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.borrow().is_empty()
    }

    /// The session `ctx` names; a live one's idle time starts again at `now_ms`.
    pub fn touch(&self, ctx: &str, now_ms: u64) -> Lookup {
        let mut map = self.map.borrow_mut();
        let Some(s) = map.get_mut(ctx) else {
            return Lookup::Unknown;
        };
        if s.record.is_kicked() {
            return Lookup::Kicked;
        }
        s.last_ms = now_ms;
        Lookup::Live(s.record.clone())
    }

    /// An id and `hls_ctx` for a new session, unused by any client or session; None when
    /// [`MAX_HLS_SESSIONS`] are open. `seed` mixes in something the peer cannot see (the
    /// clock), so that ids are not guessed from one another.
    pub fn reserve(&self, clients: &Clients, seed: u64) -> Option<NewSession> {
        let map = self.map.borrow();
        if map.len() >= MAX_HLS_SESSIONS {
            return None;
        }
        // At most MAX_HLS_SESSIONS ids are taken in the range: a free one comes soon.
        loop {
            let n = self.next.get().wrapping_add(1) % CLIENT_SPAN;
            self.next.set(n);
            let id = CLIENT_BASE + n;
            let mix = u64::from(id).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ seed.rotate_left(29);
            let cid = ConnLog::new(mix).cid.as_str().to_owned();
            if clients.get(id).is_none() && !map.contains_key(&cid) {
                return Some(NewSession { id, cid });
            }
        }
    }

    /// Opens `new` for a player at `peer` of `key` (after the `on_play` hooks allowed it):
    /// in the API from now, ended after `idle_ms` without requests. None when full (another
    /// session opened while the hooks were asked).
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        &self,
        clients: &Rc<Clients>,
        new: NewSession,
        peer: SocketAddr,
        key: &StreamKey,
        (tc_url, page_url): (String, String),
        idle_ms: u64,
        stop: StopHook,
        now_ms: u64,
    ) -> Option<Rc<ClientRecord>> {
        let mut map = self.map.borrow_mut();
        if map.len() >= MAX_HLS_SESSIONS || map.contains_key(&new.cid) {
            return None;
        }
        let record = ClientRecord::new(new.id, &new.cid, peer, now_ms);
        record.kind.set(ClientKind::HlsPlay);
        *record.stream.borrow_mut() = Some(key.clone());
        *record.tc_url.borrow_mut() = tc_url;
        *record.page_url.borrow_mut() = page_url;
        let registration = Registration::new(clients.clone(), record);
        let record = registration.record.clone();
        map.insert(
            new.cid,
            Session {
                registration: Some(registration),
                record: record.clone(),
                key: key.clone(),
                last_ms: now_ms,
                idle_ms,
                stop,
            },
        );
        Some(record)
    }

    /// Takes kicked sessions out of the API and ends those idle for their time, returning
    /// each ended one's stream and `on_stop` fields.
    fn expire(&self, now_ms: u64) -> Vec<(String, StreamKey, StopHook)> {
        let mut ended = Vec::new();
        self.map.borrow_mut().retain(|ctx, s| {
            if s.record.is_kicked() && s.registration.take().is_some() {
                log::info!("[{ctx}] HLS play {} kicked", s.key);
            }
            if now_ms.saturating_sub(s.last_ms) < s.idle_ms {
                return true;
            }
            let stop = s.stop.take();
            ended.push((ctx.clone(), s.key.clone(), stop));
            false
        });
        ended
    }
}

/// Once a second: kicked sessions leave the API, idle ones end with `on_stop`.
pub fn sweep(ctx: &ServerCtx, now_ms: u64) {
    let ended = ctx.hls_sessions.expire(now_ms);
    for (cid, key, _stop) in ended {
        log::info!("[{cid}] HLS play {key} ended (no request for 2 x hls_window)");
        #[cfg(feature = "hooks")]
        if let Some(client) = _stop {
            let config = ctx.config();
            if let Some(vhost) = config.vhost(&key.vhost) {
                use crate::server::hooks::{Action, Extra};
                ctx.hooks
                    .notify(vhost, Action::Stop, &client, &Extra::default());
            }
        }
    }
}

/// The value of `hls_ctx` in `query` (raw, without `?`), if any, and the query without it.
pub fn split_query(query: &str) -> (Option<&str>, String) {
    let mut ctx = None;
    let mut rest = String::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        match part
            .strip_prefix(CTX_PARAM)
            .and_then(|v| v.strip_prefix('='))
        {
            Some(v) if ctx.is_none() => ctx = Some(v),
            Some(_) => {}
            None => {
                if !rest.is_empty() {
                    rest.push('&');
                }
                rest.push_str(part);
            }
        }
    }
    (ctx, rest)
}

/// SRS's answer to a new session: a master playlist of one variant, the request's path with
/// `hls_ctx` first and the request's other parameters after it.
pub fn master_playlist(path: &str, ctx: &str, rest: &str) -> String {
    let mut m = format!(
        "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,AVERAGE-BANDWIDTH=1\n{path}?{CTX_PARAM}={ctx}"
    );
    if !rest.is_empty() {
        m.push('&');
        m.push_str(rest);
    }
    m.push('\n');
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> StreamKey {
        StreamKey {
            vhost: "__defaultVhost__".into(),
            app: "live".into(),
            stream: "cam".into(),
        }
    }

    fn open(s: &HlsSessions, clients: &Rc<Clients>, now: u64) -> Rc<ClientRecord> {
        let new = s.reserve(clients, now).expect("room");
        let peer = "127.0.0.1:9".parse().unwrap();
        let urls = (String::new(), String::new());
        s.open(
            clients,
            new,
            peer,
            &key(),
            urls,
            4_000,
            StopHook::default(),
            now,
        )
        .expect("opened")
    }

    #[test]
    fn the_query_gives_the_context_and_keeps_the_rest() {
        assert_eq!(split_query(""), (None, String::new()));
        assert_eq!(split_query("hls_ctx=ab12"), (Some("ab12"), String::new()));
        assert_eq!(
            split_query("token=x&hls_ctx=ab&hls_ctx=cd&a=b"),
            (Some("ab"), "token=x&a=b".to_owned())
        );
        assert_eq!(split_query("hls_ctxx=1"), (None, "hls_ctxx=1".to_owned()));
        assert_eq!(
            master_playlist("/live/cam.m3u8", "ab12", "token=x"),
            "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,AVERAGE-BANDWIDTH=1\n\
             /live/cam.m3u8?hls_ctx=ab12&token=x\n"
        );
    }

    #[test]
    fn a_session_lives_while_asked_and_ends_after_its_idle_time() {
        let clients = Rc::new(Clients::default());
        let s = HlsSessions::default();
        let rec = open(&s, &clients, 1_000);
        assert_eq!(rec.kind.get(), ClientKind::HlsPlay);
        assert!(clients.get(rec.id).is_some());
        assert!(matches!(s.touch(&rec.cid, 4_000), Lookup::Live(_)));
        assert!(s.expire(7_999).is_empty());
        let ended = s.expire(8_000);
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0].0, rec.cid);
        assert!(clients.get(rec.id).is_none() && s.is_empty());
        assert!(matches!(s.touch(&rec.cid, 8_001), Lookup::Unknown));
    }

    #[test]
    fn a_kicked_session_leaves_the_api_and_is_refused_until_it_times_out() {
        let clients = Rc::new(Clients::default());
        let s = HlsSessions::default();
        let rec = open(&s, &clients, 0);
        rec.kick();
        assert!(s.expire(1_000).is_empty());
        assert!(clients.get(rec.id).is_none());
        // Its requests do not keep it alive.
        assert!(matches!(s.touch(&rec.cid, 3_000), Lookup::Kicked));
        assert_eq!(s.expire(4_000).len(), 1);
    }

    #[test]
    fn sessions_are_bounded_and_ids_unique() {
        let clients = Rc::new(Clients::default());
        let s = HlsSessions::default();
        let mut cids = std::collections::HashSet::new();
        for i in 0..MAX_HLS_SESSIONS {
            let rec = open(&s, &clients, i as u64);
            assert!(rec.id >= CLIENT_BASE && rec.id < CLIENT_BASE + CLIENT_SPAN);
            assert!(cids.insert(rec.cid.clone()));
        }
        assert!(s.reserve(&clients, 0).is_none());
        assert_eq!(clients.len(), MAX_HLS_SESSIONS);
    }
}
