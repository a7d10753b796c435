//! One camera channel's media: RTP packets (any transport) → reorder → PS demux → access units
//! → frames published straight into the hub as `{app}/{channel}` (or `{app}/{device}`).
//! No I/O: the driver hands packets in with the time.
//!
//! Each session is a client of the registry from its first packet on (the API's
//! `/api/v1/clients`, and its stream's `recv_bytes`/`kbps` as an RTMP publisher's): its
//! record counts every RTP packet's bytes, and lists it as `gb28181-publish` once it
//! publishes. The record goes with the session.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;

use bytes::Bytes;

use super::assemble::{Assembler, AudioEs, VideoEs};
use crate::live::{ClientId, Source, StreamKey};
use crate::media::Frame;
use crate::server::stats::{ClientKind, ClientRecord, Registration};
use crate::server::{ConnLog, ServerCtx};
use crate::session::gb28181::Agent;
use crate::wire::mpegps::{Demuxer, StreamType};
use crate::wire::rtp::{self, Popped, Reorder, RtpPacket, DEFAULT_WINDOW};

/// Quiet time after which packets held behind a gap are released.
pub const FLUSH_AFTER_MS: u64 = 500;

/// Media TCP connections remembered per session. A call has one; a device that reconnects
/// may overlap its old connection with the new one for a moment. Past this the oldest is
/// forgotten (it then no longer keeps the session alive when the others close). RAM: 16 bytes
/// a session.
pub const MAX_CONNS_PER_SESSION: usize = 4;

/// A media TCP connection, by the driver's id for it.
pub type ConnId = u32;

#[derive(Debug, Default, Clone, Copy)]
pub struct MediaStats {
    pub packets: u64,
    pub lost: u64,
    pub frames: u64,
}

/// Where a packet came from: its source address, its length as received (for the byte
/// counts) and the media TCP connection it came on (none for UDP).
struct Origin {
    from: SocketAddr,
    len: usize,
    conn: Option<ConnId>,
}

pub struct MediaSession {
    pub ssrc: u32,
    pub key: StreamKey,
    client: ClientId,
    reorder: Reorder,
    ps: Demuxer,
    asm: Assembler,
    source: Option<Rc<RefCell<Source>>>,
    frames: Vec<Frame>,
    pub stats: MediaStats,
    pub last_packet_ms: u64,
    /// In the client registry from the first packet on (its address is the peer's).
    registration: Option<Registration>,
    /// The media TCP connections that carry this session (at most
    /// [`MAX_CONNS_PER_SESSION`]); none for UDP.
    conns: Vec<ConnId>,
}

impl MediaSession {
    pub fn new(ssrc: u32, key: StreamKey, client: ClientId, now_ms: u64) -> MediaSession {
        MediaSession {
            ssrc,
            key,
            client,
            reorder: Reorder::new(DEFAULT_WINDOW),
            ps: Demuxer::new(),
            asm: Assembler::new(),
            source: None,
            frames: Vec::new(),
            stats: MediaStats::default(),
            last_packet_ms: now_ms,
            registration: None,
            conns: Vec::new(),
        }
    }

    /// The session's client record, once a packet came.
    pub fn record(&self) -> Option<&Rc<ClientRecord>> {
        self.registration.as_ref().map(|r| &r.record)
    }

    /// `conn` carries this session's media.
    fn attach(&mut self, conn: ConnId) {
        if self.conns.contains(&conn) {
            return;
        }
        if self.conns.len() >= MAX_CONNS_PER_SESSION {
            self.conns.remove(0);
        }
        self.conns.push(conn);
    }

    /// One RTP packet of this channel, `len` bytes as received from `from`.
    pub fn handle_rtp(
        &mut self,
        ctx: &ServerCtx,
        now_ms: u64,
        from: SocketAddr,
        len: usize,
        packet: RtpPacket,
    ) {
        let client = self.client;
        let registration = self.registration.get_or_insert_with(|| {
            // A context id for the API, fixed by the client id (media sessions have no log
            // context of their own).
            let log = ConnLog::new(u64::from(client).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let record = ClientRecord::new(client, &log.cid, from, now_ms);
            Registration::new(ctx.clients.clone(), record)
        });
        registration.record.recv.add(len as u64);
        self.stats.packets += 1;
        self.last_packet_ms = now_ms;
        self.reorder.push(packet);
        self.drain(ctx, now_ms);
    }

    /// Gives up on gaps the reorder window still waits for once no packet came for
    /// `FLUSH_AFTER_MS` (called once a second), so a stream that pauses is not held back by
    /// one lost packet. A flowing stream resolves its gaps through the window itself; flushing
    /// it would drop reordered packets that are merely a little late.
    pub fn flush(&mut self, ctx: &ServerCtx, now_ms: u64) {
        if now_ms.saturating_sub(self.last_packet_ms) >= FLUSH_AFTER_MS && self.reorder.flush() > 0
        {
            self.drain(ctx, now_ms);
        }
    }

    fn drain(&mut self, ctx: &ServerCtx, now_ms: u64) {
        while let Some(p) = self.reorder.pop() {
            match p {
                Popped::Packet(p) => {
                    self.ps.push(&p.payload);
                    // The marker ends a frame: an unbounded video PES is complete now.
                    if p.marker {
                        self.ps.flush();
                    }
                }
                Popped::Lost { count } => {
                    self.stats.lost += u64::from(count);
                    // The partial PES is broken: resync on the next pack header.
                    self.ps.reset();
                }
            }
        }
        while let Some(es) = self.ps.poll() {
            match es.stream_type {
                StreamType::H264 | StreamType::H265 => {
                    let codec = if es.stream_type == StreamType::H264 {
                        VideoEs::H264
                    } else {
                        VideoEs::H265
                    };
                    self.asm
                        .push_video(codec, es.pts, es.dts, &es.data, &mut self.frames);
                }
                StreamType::Aac => {
                    self.asm
                        .push_audio(AudioEs::Aac, es.pts, &es.data, &mut self.frames)
                }
                StreamType::G711A => {
                    self.asm
                        .push_audio(AudioEs::G711A, es.pts, &es.data, &mut self.frames)
                }
                StreamType::G711U => {
                    self.asm
                        .push_audio(AudioEs::G711U, es.pts, &es.data, &mut self.frames)
                }
                StreamType::Unknown(_) => {}
            }
        }
        self.publish_frames(ctx, now_ms);
    }

    fn publish_frames(&mut self, ctx: &ServerCtx, now_ms: u64) {
        if self.frames.is_empty() {
            return;
        }
        if self.source.is_none() {
            let config = ctx.config();
            let vhost = config.default_vhost().clone();
            let settings = crate::server::source_settings(&vhost);
            match ctx
                .hub
                .borrow_mut()
                .publish(&self.key, self.client, settings, now_ms)
            {
                Ok(source) => {
                    log::info!("GB28181 publish {} (ssrc {})", self.key, self.ssrc);
                    crate::server::on_publish(ctx, &source, &vhost);
                    self.source = Some(source);
                    if let Some(record) = self.record() {
                        record.kind.set(ClientKind::GbPublish);
                        *record.stream.borrow_mut() = Some(self.key.clone());
                    }
                }
                Err(e) => {
                    log::warn!("GB28181 ssrc {}: {e}", self.ssrc);
                    self.frames.clear();
                    return;
                }
            }
        }
        if let Some(source) = &self.source {
            let mut s = source.borrow_mut();
            for f in self.frames.drain(..) {
                self.stats.frames += 1;
                s.on_frame(f);
            }
        }
    }

    /// The call ended: the last access unit goes out and the stream is unpublished (players
    /// stay attached for a new call).
    pub fn stop(&mut self, ctx: &ServerCtx, now_ms: u64) {
        self.asm.flush(&mut self.frames);
        self.publish_frames(ctx, now_ms);
        if self.source.take().is_some() {
            log::info!("GB28181 unpublish {} (ssrc {})", self.key, self.ssrc);
            ctx.hub
                .borrow_mut()
                .unpublish(&self.key, self.client, now_ms);
        }
        self.registration = None;
    }
}

/// GB28181 media sessions get client ids from here up, apart from connection ids.
const MEDIA_CLIENT_BASE: u32 = 0x8000_0000;

/// Media sessions by SSRC, at most `gb28181.max_media_sessions`. RAM: each holds an RTP
/// reorder window (`DEFAULT_WINDOW` packets of up to 64 KiB), a PS buffer (up to
/// `MAX_PES_LEN`) and one access unit (up to `MAX_ACCESS_UNIT`).
pub struct MediaRouter {
    pub sessions: HashMap<u32, MediaSession>,
    last_client: ClientId,
}

impl Default for MediaRouter {
    fn default() -> MediaRouter {
        MediaRouter {
            sessions: HashMap::new(),
            last_client: MEDIA_CLIENT_BASE,
        }
    }
}

impl MediaRouter {
    /// Starts (or keeps) the session of `ssrc`, publishing as `key`; false when `max` sessions
    /// are running.
    pub fn start(&mut self, ssrc: u32, key: StreamKey, now_ms: u64, max: usize) -> bool {
        if self.sessions.len() >= max && !self.sessions.contains_key(&ssrc) {
            return false;
        }
        self.last_client = self.last_client.wrapping_add(1).max(MEDIA_CLIENT_BASE);
        let client = self.last_client;
        self.sessions
            .entry(ssrc)
            .or_insert_with(|| MediaSession::new(ssrc, key, client, now_ms));
        true
    }

    /// One datagram or RFC 4571 frame of media from `from`, over any transport (`conn`: the
    /// media TCP connection it came on): RTCP is ignored, RTP goes to its call's session by
    /// SSRC, or for a camera that ignores our `y=` to the one call with a device at that
    /// address (the agent then follows the new SSRC). The agent learns that the call's media
    /// flows.
    pub fn handle_packet(
        &mut self,
        agent: &mut Agent,
        ctx: &ServerCtx,
        now_ms: u64,
        from: SocketAddr,
        conn: Option<ConnId>,
        packet: Bytes,
    ) {
        if rtp::is_rtcp(&packet) {
            return;
        }
        let len = packet.len();
        let packet = match RtpPacket::decode(packet) {
            Ok(p) => p,
            Err(e) => {
                log::debug!("GB28181 media from {from}: {e}");
                return;
            }
        };
        let fallback = agent.only_call_from(from.ip());
        if let Some(ssrc) = self.route(ctx, now_ms, packet, fallback, Origin { from, len, conn }) {
            if let Some(old) = fallback.filter(|old| *old != ssrc) {
                agent.rename_ssrc(old, ssrc);
            }
            agent.media_activity(now_ms, ssrc);
        }
    }

    /// Ends the session of `ssrc` (the stream unpublishes). Returns the media TCP
    /// connections that carried it and no other session: the driver closes them, so a device
    /// that goes on sending after its call ended is cut off, not ignored.
    pub fn stop(&mut self, ctx: &ServerCtx, ssrc: u32, now_ms: u64) -> Vec<ConnId> {
        let Some(mut s) = self.sessions.remove(&ssrc) else {
            return Vec::new();
        };
        s.stop(ctx, now_ms);
        let mut conns = std::mem::take(&mut s.conns);
        conns.retain(|c| !self.sessions.values().any(|o| o.conns.contains(c)));
        conns
    }

    /// A media TCP connection made for the call of `ssrc` (tcp_active) carries it, even
    /// before its first packet.
    pub fn attach(&mut self, ssrc: u32, conn: ConnId) -> bool {
        let Some(s) = self.sessions.get_mut(&ssrc) else {
            return false;
        };
        s.attach(conn);
        true
    }

    /// A media TCP connection closed: the SSRCs of the sessions it was the only connection
    /// of. Their calls are over (the stream must not wait out the media timeout).
    pub fn conn_closed(&mut self, conn: ConnId) -> Vec<u32> {
        let mut orphans = Vec::new();
        for (ssrc, s) in &mut self.sessions {
            let before = s.conns.len();
            s.conns.retain(|c| *c != conn);
            if s.conns.len() < before && s.conns.is_empty() {
                orphans.push(*ssrc);
            }
        }
        orphans
    }

    /// Once a second: releases packets held behind gaps.
    pub fn flush(&mut self, ctx: &ServerCtx, now_ms: u64) {
        for s in self.sessions.values_mut() {
            s.flush(ctx, now_ms);
        }
    }

    /// Routes a packet (`len` bytes from `from`) by its SSRC, or to `fallback` (the one call
    /// from the packet's source address) when its SSRC matches no session, and notes the
    /// connection it came on. Returns the SSRC it went to.
    fn route(
        &mut self,
        ctx: &ServerCtx,
        now_ms: u64,
        packet: RtpPacket,
        fallback: Option<u32>,
        origin: Origin,
    ) -> Option<u32> {
        let Origin { from, len, conn } = origin;
        let ssrc = if self.sessions.contains_key(&packet.ssrc) {
            packet.ssrc
        } else {
            let alias = fallback.filter(|f| self.sessions.contains_key(f))?;
            // The camera uses another SSRC than agreed: follow it from now on.
            if let Some(mut s) = self.sessions.remove(&alias) {
                log::info!(
                    "GB28181 {}: media SSRC {} instead of {alias}",
                    s.key,
                    packet.ssrc
                );
                s.ssrc = packet.ssrc;
                self.sessions.insert(packet.ssrc, s);
            }
            packet.ssrc
        };
        let session = self.sessions.get_mut(&ssrc)?;
        if let Some(conn) = conn {
            session.attach(conn);
        }
        session.handle_rtp(ctx, now_ms, from, len, packet);
        Some(ssrc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::live::Hub;

    fn ctx() -> ServerCtx {
        let config = Config::from_toml_str("", "test.toml").unwrap();
        let hub = Hub::new(config.max_streams);
        ServerCtx::new(config, hub)
    }

    fn key(stream: &str) -> StreamKey {
        StreamKey {
            vhost: "__defaultVhost__".into(),
            app: "live".into(),
            stream: stream.into(),
        }
    }

    fn rtp(ssrc: u32, sequence: u16, payload_len: usize) -> Bytes {
        let packet = RtpPacket {
            marker: false,
            payload_type: 96,
            sequence,
            timestamp: 0,
            ssrc,
            payload: Bytes::from(vec![0xff; payload_len]),
        };
        let mut out = Vec::with_capacity(packet.encoded_len());
        packet.encode(&mut out);
        Bytes::from(out)
    }

    /// Issue 17 item 6: a session is a client from its first packet, counting every RTP
    /// packet's bytes; the sweep's samples (a simulated clock here) give its rate.
    #[test]
    fn a_session_counts_its_bytes_and_rate_as_a_client() {
        let config = Config::from_toml_str("", "test.toml").unwrap();
        let mut agent = Agent::new(super::super::agent_config(&config), 1);
        let ctx = ServerCtx::new(config, Hub::new(8));
        let key = StreamKey {
            vhost: "__defaultVhost__".into(),
            app: "live".into(),
            stream: "cam".into(),
        };
        let mut router = MediaRouter::default();
        assert!(router.start(7, key, 0, 8));
        let camera: SocketAddr = "192.0.2.7:15060".parse().unwrap();
        // 1000-byte packets every 8 ms for 6 s: 1 Mbit/s. The sweep samples once a second.
        let mut sequence = 0u16;
        for ms in (0..=6_000).step_by(8) {
            router.handle_packet(&mut agent, &ctx, ms, camera, None, rtp(7, sequence, 988));
            sequence = sequence.wrapping_add(1);
            if ms % 1_000 == 0 {
                ctx.clients.sample(ms);
            }
        }
        // Neither RTCP nor a packet of no session counts.
        let rtcp = Bytes::from_static(&[0x80, 200, 0, 6, 0, 0, 0, 7, 0, 0, 0, 0]);
        router.handle_packet(&mut agent, &ctx, 6_001, camera, None, rtcp);
        router.handle_packet(&mut agent, &ctx, 6_001, camera, None, rtp(9, 0, 988));
        let record = router.sessions[&7].record().unwrap().clone();
        assert_eq!(record.recv.total(), 751 * 1_000);
        assert_eq!(record.recv.kbps(), 1_000);
        assert_eq!(record.peer, camera);
        assert_eq!(ctx.clients.get(record.id).unwrap().cid, record.cid);
        assert_eq!(ctx.clients.len(), 1);
        // Garbage PS published nothing: not listed as a publisher yet.
        assert_eq!(record.kind.get(), ClientKind::Unknown);
        assert!(record.stream.borrow().is_none());
        router.stop(&ctx, 7, 6_002);
        assert!(ctx.clients.is_empty(), "the record goes with the session");
    }

    const CAMERA: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
        std::net::Ipv4Addr::new(192, 0, 2, 7),
        15060,
    ));

    fn origin(conn: Option<ConnId>) -> Origin {
        Origin {
            from: CAMERA,
            len: 16,
            conn,
        }
    }

    fn rtp_packet(ssrc: u32, sequence: u16) -> RtpPacket {
        RtpPacket {
            marker: false,
            payload_type: 96,
            sequence,
            timestamp: 0,
            ssrc,
            payload: Bytes::from_static(&[0, 0, 1, 0xBA]),
        }
    }

    /// Issue 17 item 10: the session learns the connections that carry it, and the close of
    /// its only one is reported, so the stream ends at once rather than at the media timeout.
    #[test]
    fn a_session_is_orphaned_when_its_only_media_connection_closes() {
        let ctx = ctx();
        let mut router = MediaRouter::default();
        assert!(router.start(7, key("a"), 0, 4));
        assert!(router.start(8, key("b"), 0, 4));
        assert!(router.start(9, key("c"), 0, 4));
        router.route(&ctx, 0, rtp_packet(7, 1), None, origin(Some(100)));
        router.route(&ctx, 0, rtp_packet(8, 1), None, origin(Some(100)));
        router.route(&ctx, 0, rtp_packet(8, 2), None, origin(Some(101)));
        router.route(&ctx, 0, rtp_packet(9, 1), None, origin(None));
        assert_eq!(
            router.conn_closed(555),
            Vec::<u32>::new(),
            "not a media one"
        );
        // 8 has another connection; 9 came over UDP.
        assert_eq!(router.conn_closed(100), vec![7]);
        assert_eq!(router.conn_closed(100), Vec::<u32>::new(), "reported once");
        assert_eq!(router.conn_closed(101), vec![8]);
        // tcp_active: the connection we made counts before its first packet.
        assert!(router.attach(9, 102));
        assert!(!router.attach(10, 102), "no such session");
        assert_eq!(router.conn_closed(102), vec![9]);
    }

    /// Issue 17 item 11: the connections of a stopped session are closed (unless another
    /// session still uses them), so its device cannot feed media that goes nowhere.
    #[test]
    fn stopping_a_session_names_the_connections_to_close() {
        let ctx = ctx();
        let mut router = MediaRouter::default();
        router.start(7, key("a"), 0, 4);
        router.start(8, key("b"), 0, 4);
        router.route(&ctx, 0, rtp_packet(7, 1), None, origin(Some(100)));
        router.route(&ctx, 0, rtp_packet(7, 2), None, origin(Some(101)));
        router.route(&ctx, 0, rtp_packet(8, 1), None, origin(Some(101)));
        assert_eq!(router.stop(&ctx, 7, 0), vec![100], "101 still carries 8");
        assert_eq!(router.stop(&ctx, 7, 0), Vec::<ConnId>::new());
        assert_eq!(router.stop(&ctx, 8, 0), vec![101]);
    }

    #[test]
    fn a_session_remembers_a_bounded_number_of_connections() {
        let ctx = ctx();
        let mut router = MediaRouter::default();
        router.start(7, key("a"), 0, 4);
        for conn in 0..=MAX_CONNS_PER_SESSION as u32 {
            router.route(
                &ctx,
                0,
                rtp_packet(7, conn as u16),
                None,
                origin(Some(conn)),
            );
        }
        assert_eq!(router.sessions[&7].conns.len(), MAX_CONNS_PER_SESSION);
        assert_eq!(router.conn_closed(0), Vec::<u32>::new(), "forgotten");
        for conn in 1..MAX_CONNS_PER_SESSION as u32 {
            assert!(router.conn_closed(conn).is_empty());
        }
        assert_eq!(router.conn_closed(MAX_CONNS_PER_SESSION as u32), vec![7]);
    }
}
