//! One camera channel's media: RTP packets (any transport) → reorder → PS demux → access units
//! → frames published straight into the hub as `{app}/{channel}` (or `{app}/{device}`).
//! No I/O: the driver hands packets in with the time.
//!
//! Each session is a client of the registry from its first packet on (the API's
//! `/api/v1/clients`, and its stream's `recv_bytes`/`kbps` as an RTMP publisher's): its
//! record counts every RTP packet's bytes, and lists it as `gb28181-publish` once it
//! publishes. The record goes with the session.
//!
//! With `on_publish` hooks (`super::hooks`) a session is held from the offer until the hook
//! allows it: its packets are counted, then dropped before the reorder window.

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;

use bytes::Bytes;

use super::assemble::{Assembler, AudioEs, VideoEs};
use crate::config::Config;
use crate::live::{ClientId, Source, StreamKey};
use crate::media::{Frame, FrameKind};
use crate::server::stats::{ClientKind, ClientRecord, Registration};
use crate::server::{ConnLog, RateLimit, ServerCtx};
use crate::session::gb28181::Agent;
use crate::sorted_map::SortedMap;
use crate::wire::mpegps::{Demuxer, StreamType};
use crate::wire::rtp::{self, Popped, Reorder, RtpPacket, MAX_WINDOW, MIN_WINDOW};

/// Quiet time after which packets held behind a gap are released.
pub const FLUSH_AFTER_MS: u64 = 500;

/// Media TCP connections remembered per session. A call has one; a device that reconnects
/// may overlap its old connection with the new one for a moment. Past this the oldest is
/// forgotten (it then no longer keeps the session alive when the others close). RAM: 16 bytes
/// a session.
pub const MAX_CONNS_PER_SESSION: usize = 4;

/// A media TCP connection, by the driver's id for it.
pub type ConnId = u32;

/// The caps of the media path, from `gb28181.*`; a session keeps those in force when it
/// started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaLimits {
    /// `gb28181.max_media_sessions`.
    pub max_sessions: usize,
    /// `gb28181.max_pes_bytes`: the PS demuxer's PES cap.
    pub max_pes_bytes: usize,
    /// `gb28181.max_frame_bytes`: the access unit cap.
    pub max_frame_bytes: usize,
    /// RTP packets the reorder window holds: `gb28181.max_reorder_bytes` / 64 KiB (the
    /// longest RTP packet over TCP), within `MIN_WINDOW..=MAX_WINDOW`.
    pub reorder_window: usize,
}

impl MediaLimits {
    pub fn of(config: &Config) -> MediaLimits {
        let g = &config.gb28181;
        MediaLimits {
            max_sessions: g.max_media_sessions,
            max_pes_bytes: g.max_pes_bytes,
            max_frame_bytes: g.max_frame_bytes,
            reorder_window: (g.max_reorder_bytes / rtp::MAX_FRAME_LEN)
                .clamp(MIN_WINDOW, MAX_WINDOW),
        }
    }

    /// RAM of one session's reorder window at worst: its packets at their longest.
    pub fn reorder_bytes(&self) -> usize {
        self.reorder_window * rtp::MAX_FRAME_LEN
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct MediaStats {
    pub packets: u64,
    pub lost: u64,
    pub frames: u64,
    /// Video frames dropped before the call's first keyframe (a camera that starts
    /// mid-GOP): players waiting for the stream start on a picture they can decode.
    pub before_keyframe: u64,
    /// RTP packets dropped unread while the `on_publish` hook had not allowed the call.
    pub held: u64,
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
    /// A video keyframe has been published in this call.
    keyframe_seen: bool,
    pub stats: MediaStats,
    pub last_packet_ms: u64,
    /// In the client registry from the first packet on (its address is the peer's).
    registration: Option<Registration>,
    /// The media TCP connections that carry this session (at most
    /// [`MAX_CONNS_PER_SESSION`]); none for UDP.
    conns: Vec<ConnId>,
    /// PES and access units over the caps so far (demuxer, assembler), as last logged.
    oversized_seen: (u64, u64),
    /// Warnings about the caps, at most a few per window.
    warn_limit: RateLimit,
    /// Packets are dropped before the reorder window (counted, nothing buffered) until the
    /// `on_publish` hook allows the call: set from the offer when the vhost has such hooks.
    held: bool,
    /// The hook was asked for this call (once).
    asked: bool,
    /// The device's SIP address, for the hooks' `ip` (known once asked).
    pub device_ip: Option<IpAddr>,
}

impl MediaSession {
    pub fn new(
        ssrc: u32,
        key: StreamKey,
        client: ClientId,
        now_ms: u64,
        limits: &MediaLimits,
    ) -> MediaSession {
        MediaSession {
            ssrc,
            key,
            client,
            reorder: Reorder::new(limits.reorder_window),
            ps: Demuxer::with_max_pes_len(limits.max_pes_bytes),
            asm: Assembler::with_max_access_unit(limits.max_frame_bytes),
            source: None,
            frames: Vec::new(),
            keyframe_seen: false,
            stats: MediaStats::default(),
            last_packet_ms: now_ms,
            registration: None,
            conns: Vec::new(),
            oversized_seen: (0, 0),
            warn_limit: RateLimit::new(),
            held: false,
            asked: false,
            device_ip: None,
        }
    }

    /// The session's client id (in the registry once a packet came; the hooks' `client_id`).
    pub fn client(&self) -> ClientId {
        self.client
    }

    /// Its context id: the API's and the hooks' `client_id`, fixed by the client id (media
    /// sessions have no log context of their own).
    pub fn cid(&self) -> heapless::String<8> {
        ConnLog::new(u64::from(self.client).wrapping_mul(0x9e37_79b9_7f4a_7c15)).cid
    }

    /// Whether its media waits for the `on_publish` hook.
    pub fn is_held(&self) -> bool {
        self.held
    }

    /// Whether it is published in the hub.
    pub fn is_published(&self) -> bool {
        self.source.is_some()
    }

    /// Access units dropped for being over `gb28181.max_frame_bytes`, and PES packets (or
    /// program stream maps) dropped for being over `gb28181.max_pes_bytes`.
    pub fn oversized(&self) -> (u64, u64) {
        (self.asm.oversized, self.ps.stats().oversized)
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
        let (client, cid) = (self.client, self.cid());
        let registration = self.registration.get_or_insert_with(|| {
            let record = ClientRecord::new(client, &cid, from, now_ms);
            Registration::new(ctx.clients.clone(), record)
        });
        registration.record.recv.add(len as u64);
        self.stats.packets += 1;
        self.last_packet_ms = now_ms;
        if self.held {
            self.stats.held += 1;
            return;
        }
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
        self.report_oversized(now_ms);
        self.publish_frames(ctx, now_ms);
    }

    /// Warns (rate-limited) when frames or PES went over the caps since the last call: the
    /// camera sends more than the config allows, and the key to raise is named.
    fn report_oversized(&mut self, now_ms: u64) {
        let (frames, pes) = self.oversized();
        let (seen_frames, seen_pes) = std::mem::replace(&mut self.oversized_seen, (frames, pes));
        if (frames, pes) == (seen_frames, seen_pes) || !self.warn_limit.allow(now_ms) {
            return;
        }
        let counts = [
            (frames, seen_frames, "frames", "gb28181.max_frame_bytes"),
            (pes, seen_pes, "PES packets", "gb28181.max_pes_bytes"),
        ];
        for (all, seen, what, key) in counts {
            if all > seen {
                log::warn!(
                    "GB28181 {} (ssrc {}): {} {what} over {key} dropped ({all} in all); raise \
                     {key} for this camera",
                    self.key,
                    self.ssrc,
                    all - seen,
                );
            }
        }
    }

    fn publish_frames(&mut self, ctx: &ServerCtx, now_ms: u64) {
        self.skip_to_keyframe();
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
                    #[cfg(feature = "hooks")]
                    ctx.hooks.published(&super::hooks::client(self));
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

    /// Drops the video frames before the call's first keyframe (sequence headers and audio
    /// pass): players that waited for the stream (on-demand invites) get it from the first
    /// picture they can decode, as players joining later start at the cached keyframe. A
    /// camera that sends no keyframe within [`MAX_BEFORE_KEYFRAME`] frames (intra refresh
    /// without IDR) is let through from then on, with a warning.
    fn skip_to_keyframe(&mut self) {
        if self.keyframe_seen {
            return;
        }
        let (seen, skipped) = (&mut self.keyframe_seen, &mut self.stats.before_keyframe);
        let mut gave_up = false;
        self.frames.retain(|f| {
            if *seen || f.kind != FrameKind::Video || f.sequence_header {
                return true;
            }
            gave_up = !f.keyframe && *skipped >= MAX_BEFORE_KEYFRAME;
            *seen = f.keyframe || gave_up;
            if !*seen {
                *skipped += 1;
            }
            *seen
        });
        if gave_up {
            log::warn!(
                "GB28181 {} (ssrc {}): no keyframe in the first {MAX_BEFORE_KEYFRAME} video                  frames; passing frames on without one",
                self.key,
                self.ssrc
            );
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
            #[cfg(feature = "hooks")]
            super::hooks::on_unpublish(ctx, self);
        }
        self.registration = None;
    }
}

/// Video frames a call may send before its first keyframe that are dropped (see
/// `MediaSession::skip_to_keyframe`): 12 s at 25 fps, longer than cameras' GOPs.
pub const MAX_BEFORE_KEYFRAME: u64 = 300;

/// GB28181 media sessions get client ids from here up, apart from connection ids.
const MEDIA_CLIENT_BASE: u32 = 0x8000_0000;

/// Media sessions by SSRC, at most `gb28181.max_media_sessions`. RAM: each holds an RTP
/// reorder window (`gb28181.max_reorder_bytes`: packets of up to 64 KiB), a PS buffer (up to
/// `gb28181.max_pes_bytes`) and one access unit (up to `gb28181.max_frame_bytes`).
pub struct MediaRouter {
    pub sessions: SortedMap<u32, MediaSession>,
    last_client: ClientId,
    /// Sessions whose `on_publish` hook is to be asked, by client id (the driver takes them:
    /// [`MediaRouter::take_asks`]). One per session at most, so at most
    /// `gb28181.max_media_sessions`.
    asks: Vec<ClientId>,
}

impl Default for MediaRouter {
    fn default() -> MediaRouter {
        MediaRouter {
            sessions: SortedMap::new(),
            last_client: MEDIA_CLIENT_BASE,
            asks: Vec::new(),
        }
    }
}

impl MediaRouter {
    /// Starts (or keeps) the session of `ssrc`, publishing as `key`, with `limits`; false
    /// when `limits.max_sessions` sessions are running.
    pub fn start(&mut self, ssrc: u32, key: StreamKey, now_ms: u64, limits: &MediaLimits) -> bool {
        if self.sessions.len() >= limits.max_sessions && !self.sessions.contains_key(&ssrc) {
            return false;
        }
        self.last_client = self.last_client.wrapping_add(1).max(MEDIA_CLIENT_BASE);
        let client = self.last_client;
        self.sessions.get_or_insert_with(ssrc, || {
            MediaSession::new(ssrc, key, client, now_ms, limits)
        });
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

    /// The media of `ssrc` waits for the `on_publish` hook (dropped until it allows): from
    /// the offer, when the vhost has such hooks.
    pub fn hold(&mut self, ssrc: u32) {
        if let Some(s) = self.sessions.get_mut(&ssrc) {
            s.held = true;
        }
    }

    /// The call of `ssrc` is answered: its `on_publish` hook is to be asked (once), its media
    /// held until then.
    pub fn ask(&mut self, ssrc: u32) {
        if let Some(s) = self.sessions.get_mut(&ssrc).filter(|s| !s.asked) {
            s.asked = true;
            s.held = true;
            self.asks.push(s.client);
        }
    }

    /// The sessions to ask the hook for, by client id (see [`MediaRouter::ask`]).
    pub fn take_asks(&mut self) -> Vec<ClientId> {
        std::mem::take(&mut self.asks)
    }

    /// The session of client `id` (it keeps its id when the camera changes its SSRC).
    pub fn by_client(&mut self, id: ClientId) -> Option<&mut MediaSession> {
        self.sessions.values_mut().find(|s| s.client == id)
    }

    /// The hook allowed the session of client `id`: its media goes to the hub from now on
    /// (the demuxer starts at the next pack header, the stream at the next keyframe).
    pub fn allow(&mut self, id: ClientId) -> bool {
        match self.by_client(id) {
            Some(s) => {
                s.held = false;
                true
            }
            None => false,
        }
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
        for (ssrc, s) in self.sessions.iter_mut() {
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

    fn limits() -> MediaLimits {
        MediaLimits::of(&Config::from_toml_str("", "test.toml").unwrap())
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

    /// `gb28181.max_frame_bytes` lowered to 100 KB and `max_reorder_bytes` to 256 KiB: a
    /// session started under that config has a 4-packet reorder window, and a 150 KB keyframe
    /// from the camera is dropped and counted while the 50 KB one before it and the frames
    /// after it reach the stream.
    #[test]
    fn a_frame_over_gb28181_max_frame_bytes_is_dropped_and_counted() {
        use crate::wire::mpegps::Muxer;
        let config = Config::from_toml_str(
            "[gb28181]\nmax_frame_bytes = 100000\nmax_reorder_bytes = 262144\n",
            "test.toml",
        )
        .unwrap();
        let limits = MediaLimits::of(&config);
        assert_eq!(
            (limits.max_frame_bytes, limits.reorder_window),
            (100_000, 4)
        );
        assert_eq!(limits.max_pes_bytes, crate::wire::mpegps::MAX_PES_LEN);
        let mut agent = Agent::new(super::super::agent_config(&config), 1);
        let ctx = ServerCtx::new(config, Hub::new(8));
        let key = StreamKey {
            vhost: "__defaultVhost__".into(),
            app: "live".into(),
            stream: "cam".into(),
        };
        let mut router = MediaRouter::default();
        assert!(router.start(7, key.clone(), 0, &limits));
        let camera: SocketAddr = "192.0.2.7:15060".parse().unwrap();
        let mut mux = Muxer::new(Some(StreamType::H264), None);
        let mut sequence = 0u16;
        let idr = |len: usize| {
            let mut au = vec![0, 0, 0, 1, 0x67, 0x64, 0x00, 0x1F, 0xAC, 0xD9];
            au.extend_from_slice(&[0, 0, 0, 1, 0x68, 0xEE, 0x3C, 0x80, 0, 0, 0, 1, 0x65]);
            au.resize(len, 0x88);
            au
        };
        let frames = [
            (idr(50_000), true),
            (idr(150_000), true),
            (vec![0, 0, 0, 1, 0x41, 0x9A], false),
            (vec![0, 0, 0, 1, 0x41, 0x9B], false),
        ];
        for (i, (au, keyframe)) in frames.iter().enumerate() {
            let mut ps = Vec::new();
            let pts = 3_600 * (i as u64 + 1);
            mux.write_frame(true, pts, None, *keyframe, au, true, &mut ps);
            let packets = ps.chunks(1_400).count();
            for (n, payload) in ps.chunks(1_400).enumerate() {
                let packet = RtpPacket {
                    marker: n + 1 == packets,
                    payload_type: 96,
                    sequence,
                    timestamp: pts as u32,
                    ssrc: 7,
                    payload: Bytes::copy_from_slice(payload),
                };
                sequence = sequence.wrapping_add(1);
                let mut out = Vec::new();
                packet.encode(&mut out);
                router.handle_packet(
                    &mut agent,
                    &ctx,
                    i as u64 * 40,
                    camera,
                    None,
                    Bytes::from(out),
                );
            }
        }
        // (frames over max_frame_bytes, PES over max_pes_bytes)
        assert_eq!(router.sessions[&7].oversized(), (1, 0));
        router.stop(&ctx, 7, 200);
        let source = ctx.hub.borrow().source(&key).expect("published");
        let stats = source.borrow().stats();
        // The sequence header, the 50 KB keyframe and the two P frames; not the 150 KB one.
        assert_eq!((stats.keyframes, stats.video_frames), (1, 4), "{stats:?}");
        assert!(stats.bytes < 60_000, "{stats:?}");
    }

    /// A player attached before the call, a session for ssrc 7 fed `aus` (H.264 access
    /// units, keyframe or not) one RTP packet each, then stopped: what the player got
    /// ("header", "key", "p" and the control items), and the frames dropped before the first
    /// keyframe.
    fn play_a_call(aus: &[(Vec<u8>, bool)]) -> (Vec<String>, u64) {
        use crate::live::{QueueItem, QueueLimits};
        use crate::wire::mpegps::Muxer;
        let config = Config::from_toml_str("", "test.toml").unwrap();
        let mut agent = Agent::new(super::super::agent_config(&config), 1);
        let settings = crate::server::source_settings(config.default_vhost());
        let ctx = ServerCtx::new(config, Hub::new(8));
        let limits = QueueLimits {
            max_bytes: 1 << 20,
            max_duration_ms: 100_000,
        };
        let player = ctx
            .hub
            .borrow_mut()
            .play(&key("cam"), 1, settings, limits, 0)
            .unwrap();
        let mut router = MediaRouter::default();
        assert!(router.start(7, key("cam"), 0, &MediaLimits::of(&ctx.config())));
        let mut mux = Muxer::new(Some(StreamType::H264), None);
        for (i, (au, keyframe)) in aus.iter().enumerate() {
            let mut ps = Vec::new();
            let pts = 3_600 * (i as u64 + 1);
            mux.write_frame(true, pts, None, *keyframe, au, true, &mut ps);
            let packet = RtpPacket {
                marker: true,
                payload_type: 96,
                sequence: i as u16,
                timestamp: pts as u32,
                ssrc: 7,
                payload: Bytes::from(ps),
            };
            let mut out = Vec::new();
            packet.encode(&mut out);
            let at = i as u64 * 40;
            router.handle_packet(&mut agent, &ctx, at, CAMERA, None, Bytes::from(out));
        }
        let skipped = router.sessions[&7].stats.before_keyframe;
        router.stop(&ctx, 7, aus.len() as u64 * 40);
        let mut items = Vec::new();
        player
            .borrow_mut()
            .drain_into(&mut items, usize::MAX, usize::MAX);
        let got = items
            .iter()
            .map(|i| match i {
                QueueItem::Frame(f) if f.sequence_header => "header".to_owned(),
                QueueItem::Frame(f) if f.keyframe => "key".to_owned(),
                QueueItem::Frame(_) => "p".to_owned(),
                other => format!("{other:?}"),
            })
            .collect();
        (got, skipped)
    }

    /// An H.264 IDR access unit with its SPS and PPS.
    const IDR: &[u8] = &[
        0, 0, 0, 1, 0x67, 0x64, 0x00, 0x1F, 0xAC, 0xD9, 0, 0, 0, 1, 0x68, 0xEE, 0x3C, 0x80, 0, 0,
        0, 1, 0x65, 0x88, 0x84,
    ];
    /// A P slice.
    const P: &[u8] = &[0, 0, 0, 1, 0x41, 0x9A];

    /// A P slice after the SPS and PPS (a camera that repeats them before every frame).
    fn params_p() -> Vec<u8> {
        [&IDR[..22], P].concat()
    }

    /// Issue 17 item 14: a player waiting for an on-demand camera gets the stream from its
    /// first keyframe. A camera that starts mid-GOP and repeats its parameter sets before
    /// every frame sends decodable-looking P frames first (the assembler only holds back
    /// frames before the first SPS/PPS): they are dropped and counted, the sequence header
    /// and the keyframe come first.
    #[test]
    fn a_call_starts_at_its_first_keyframe() {
        let aus = [
            (params_p(), false),
            (params_p(), false),
            (IDR.to_vec(), true),
            (P.to_vec(), false),
            (P.to_vec(), false),
        ];
        let (got, skipped) = play_a_call(&aus);
        // The last P frame is flushed by the stop (an access unit ends when the next begins).
        assert_eq!(got, ["Published", "header", "key", "p", "p", "Unpublished"]);
        assert_eq!(skipped, 2);
    }

    /// A camera that never sends a keyframe (intra refresh) is let through after
    /// MAX_BEFORE_KEYFRAME frames rather than never.
    #[test]
    fn a_call_without_keyframes_is_let_through_after_a_while() {
        let n = MAX_BEFORE_KEYFRAME as usize + 5;
        let aus = vec![(params_p(), false); n];
        let (got, skipped) = play_a_call(&aus);
        assert_eq!(skipped, MAX_BEFORE_KEYFRAME);
        let frames = got.iter().filter(|g| *g == "p").count();
        assert_eq!(frames, n - MAX_BEFORE_KEYFRAME as usize, "{got:?}");
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
        assert!(router.start(7, key, 0, &MediaLimits::of(&ctx.config())));
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
        assert!(router.start(7, key("a"), 0, &limits()));
        assert!(router.start(8, key("b"), 0, &limits()));
        assert!(router.start(9, key("c"), 0, &limits()));
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
        router.start(7, key("a"), 0, &limits());
        router.start(8, key("b"), 0, &limits());
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
        router.start(7, key("a"), 0, &limits());
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
