//! Glue between one RTMP session and the live hub: turns session events into hub calls
//! (publish, play, frames) and player queue items into chunked bytes. No I/O, no clock: the
//! driver in `net::rtmp` owns the socket and passes the time in.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;

use bytes::{Bytes, BytesMut};

use super::stats::{ClientKind, ClientRecord, Registration};
use super::{ConnLog, ServerCtx};
use crate::config::{Method, Vhost};
use crate::live::{
    ClientId, PlayerQueue, QueueItem, QueueLimits, Source, SourceSettings, StreamKey,
};
use crate::media::{Encoding, Frame, FrameKind, SharedFrame};
use crate::session::rtmp::{
    Event, MediaKind, Request, ServerSession, SessionError, CSID_AUDIO, CSID_STREAM, CSID_VIDEO,
};
use crate::wire::flv;
use crate::wire::rtmp::chunk;
use crate::wire::rtmp::message::{MessageHeader, MessageType};

use super::{MAX_BATCH_BYTES, MAX_BATCH_ITEMS};

/// What this connection is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Unknown,
    Publisher,
    Player,
}

pub struct RtmpConn {
    pub id: ClientId,
    pub log: ConnLog,
    pub peer: SocketAddr,
    ctx: ServerCtx,
    pub session: ServerSession,
    /// This connection in the API's client list (removed on drop).
    pub registration: Registration,
    vhost: Option<Vhost>,
    publishing: Option<(u32, StreamKey, Rc<RefCell<Source>>)>,
    playing: Option<(u32, StreamKey, Rc<RefCell<PlayerQueue>>)>,
    /// Frames refused because their tag body did not parse.
    pub bad_frames: u64,
    batch: Vec<QueueItem>,
}

impl RtmpConn {
    pub fn new(
        id: ClientId,
        log: ConnLog,
        peer: SocketAddr,
        ctx: ServerCtx,
        session: ServerSession,
        now_ms: u64,
    ) -> RtmpConn {
        let record = ClientRecord::new(id, &log.cid, peer, now_ms);
        let registration = Registration::new(ctx.clients.clone(), record);
        RtmpConn {
            registration,
            id,
            log,
            peer,
            ctx,
            session,
            vhost: None,
            publishing: None,
            playing: None,
            bad_frames: 0,
            batch: Vec::new(),
        }
    }

    pub fn kind(&self) -> Kind {
        if self.publishing.is_some() {
            Kind::Publisher
        } else if self.playing.is_some() {
            Kind::Player
        } else {
            Kind::Unknown
        }
    }

    /// The vhost this connection was accepted on (after connect).
    pub fn vhost(&self) -> Option<&Vhost> {
        self.vhost.as_ref()
    }

    /// The player's queue, when playing.
    pub fn queue(&self) -> Option<Rc<RefCell<PlayerQueue>>> {
        self.playing.as_ref().map(|(_, _, q)| q.clone())
    }

    pub fn handle_bytes(&mut self, now_ms: u64, data: &[u8]) -> Result<(), SessionError> {
        self.registration.record.recv.add(data.len() as u64);
        self.session.handle_bytes(now_ms, data)?;
        self.drain_events(now_ms)
    }

    fn drain_events(&mut self, now_ms: u64) -> Result<(), SessionError> {
        loop {
            while let Some(event) = self.session.poll_event() {
                self.on_event(now_ms, event);
            }
            // Decoding may have paused on a full event queue.
            self.session.process(now_ms)?;
            if !self.session.has_events() {
                return Ok(());
            }
        }
    }

    fn on_event(&mut self, now_ms: u64, event: Event) {
        match event {
            Event::Connect { request, .. } => self.on_connect(request),
            Event::Publish { stream_id, request } => self.on_publish(now_ms, stream_id, request),
            Event::Play { stream_id, request } => self.on_play(now_ms, stream_id, request),
            Event::Media {
                stream_id,
                kind,
                timestamp,
                payload,
            } => self.on_media(now_ms, stream_id, kind, timestamp, payload),
            Event::Unpublish { stream_id } => {
                if matches!(&self.publishing, Some((id, _, _)) if *id == stream_id) {
                    self.stop_publishing(now_ms);
                }
            }
            Event::StopPlay { stream_id } => {
                if matches!(&self.playing, Some((id, _, _)) if *id == stream_id) {
                    self.stop_playing(now_ms);
                }
            }
        }
    }

    fn on_connect(&mut self, request: Request) {
        let config = self.ctx.config();
        match config.resolve_vhost(&request.vhost) {
            Some(vhost) => {
                log::info!(
                    "[{}] connect vhost={} app={} tcUrl={} from {}",
                    self.log.cid,
                    vhost.name,
                    request.app,
                    request.tc_url,
                    self.peer
                );
                self.vhost = Some(vhost.clone());
                *self.registration.record.tc_url.borrow_mut() = request.tc_url.clone();
                self.session.accept_connect();
            }
            None => {
                log::warn!(
                    "[{}] connect refused: no vhost {:?} (and the default vhost is disabled)",
                    self.log.cid,
                    request.vhost
                );
                self.session.reject_connect("vhost not found");
            }
        }
    }

    fn key(&self, request: &Request, vhost: &Vhost) -> StreamKey {
        StreamKey {
            vhost: vhost.name.clone(),
            app: request.app.clone(),
            stream: request.stream.clone(),
        }
    }

    fn settings(vhost: &Vhost) -> SourceSettings {
        super::source_settings(vhost)
    }

    /// The vhost named by a stream request (a `?vhost=` on the stream name may pick another).
    fn stream_vhost(&self, request: &Request) -> Option<Vhost> {
        let current = self.vhost.as_ref()?;
        if request.vhost == current.name {
            return Some(current.clone());
        }
        self.ctx.config().resolve_vhost(&request.vhost).cloned()
    }

    fn on_publish(&mut self, now_ms: u64, stream_id: u32, request: Request) {
        let Some(vhost) = self.stream_vhost(&request) else {
            self.session
                .reject_publish(stream_id, "NetStream.Publish.Rejected", "vhost not found");
            return;
        };
        let key = self.key(&request, &vhost);
        if self.publishing.is_some() || self.playing.is_some() {
            log::warn!(
                "[{}] publish {key} refused: connection already busy",
                self.log.cid
            );
            self.session
                .reject_publish(stream_id, "NetStream.Publish.Rejected", "connection busy");
            return;
        }
        if !vhost.security.allows(Method::Publish, self.peer.ip()) {
            log::warn!(
                "[{}] publish {key} denied by security rules for {}",
                self.log.cid,
                self.peer.ip()
            );
            self.session.reject_publish(
                stream_id,
                "NetStream.Publish.Rejected",
                "denied by security rules",
            );
            return;
        }
        let result =
            self.ctx
                .hub
                .borrow_mut()
                .publish(&key, self.id, Self::settings(&vhost), now_ms);
        match result {
            Ok(source) => {
                log::info!(
                    "[{}] publish {key} params={:?}",
                    self.log.cid,
                    request.params
                );
                self.session.accept_publish(
                    stream_id,
                    now_ms,
                    u64::from(vhost.firstpkt_timeout_ms),
                    u64::from(vhost.normal_timeout_ms),
                );
                super::on_publish(&self.ctx, &source, &vhost);
                let record = &self.registration.record;
                record.kind.set(ClientKind::RtmpPublish);
                *record.stream.borrow_mut() = Some(key.clone());
                self.publishing = Some((stream_id, key, source));
            }
            Err(e) => {
                log::warn!("[{}] publish refused: {e}", self.log.cid);
                let code = match e {
                    crate::live::HubError::AlreadyPublishing { .. } => "NetStream.Publish.BadName",
                    crate::live::HubError::TooManyStreams { .. } => "NetStream.Publish.Rejected",
                };
                self.session.reject_publish(stream_id, code, &e.to_string());
            }
        }
    }

    fn on_play(&mut self, now_ms: u64, stream_id: u32, request: Request) {
        let Some(vhost) = self.stream_vhost(&request) else {
            self.session
                .reject_play(stream_id, "NetStream.Play.Failed", "vhost not found");
            return;
        };
        let key = self.key(&request, &vhost);
        if self.publishing.is_some() || self.playing.is_some() {
            log::warn!(
                "[{}] play {key} refused: connection already busy",
                self.log.cid
            );
            self.session
                .reject_play(stream_id, "NetStream.Play.Failed", "connection busy");
            return;
        }
        if !vhost.security.allows(Method::Play, self.peer.ip()) {
            log::warn!(
                "[{}] play {key} denied by security rules for {}",
                self.log.cid,
                self.peer.ip()
            );
            self.session.reject_play(
                stream_id,
                "NetStream.Play.Failed",
                "denied by security rules",
            );
            return;
        }
        let limits = QueueLimits {
            max_bytes: vhost.queue_max_bytes,
            max_duration_ms: i64::from(vhost.queue_length_ms),
        };
        let result =
            self.ctx
                .hub
                .borrow_mut()
                .play(&key, self.id, Self::settings(&vhost), limits, now_ms);
        match result {
            Ok(queue) => {
                log::info!(
                    "[{}] play {key} as client {} params={:?}",
                    self.log.cid,
                    self.id,
                    request.params
                );
                self.session.accept_play(stream_id);
                let record = &self.registration.record;
                record.kind.set(ClientKind::RtmpPlay);
                *record.stream.borrow_mut() = Some(key.clone());
                self.playing = Some((stream_id, key, queue));
            }
            Err(e) => {
                log::warn!("[{}] play refused: {e}", self.log.cid);
                self.session
                    .reject_play(stream_id, "NetStream.Play.Failed", &e.to_string());
            }
        }
    }

    fn on_media(&mut self, now_ms: u64, stream_id: u32, kind: MediaKind, ts: u32, data: Bytes) {
        let Some((id, _, source)) = &self.publishing else {
            return;
        };
        if *id != stream_id || data.is_empty() {
            return;
        }
        let frame = match classify(kind, ts, data) {
            Ok(frame) => frame,
            // Well-formed messages without a frame (video command frames, audio silence,
            // enhanced metadata/sequence end): nothing for players.
            Err(flv::FlvError::NotMedia(what)) => {
                log::trace!(
                    "[{}] {kind:?} message without a frame: {what:?}",
                    self.log.cid
                );
                return;
            }
            Err(e) => {
                self.bad_frames += 1;
                if self.log.limit.allow(now_ms) {
                    log::warn!(
                        "[{}] dropped a {kind:?} message that does not parse ({e}); {} so far",
                        self.log.cid,
                        self.bad_frames
                    );
                }
                return;
            }
        };
        source.borrow_mut().on_frame(frame);
    }

    fn stop_publishing(&mut self, now_ms: u64) {
        if let Some((_, key, _)) = self.publishing.take() {
            log::info!("[{}] unpublish {key}", self.log.cid);
            self.ctx.hub.borrow_mut().unpublish(&key, self.id, now_ms);
        }
    }

    fn stop_playing(&mut self, now_ms: u64) {
        if let Some((_, key, queue)) = self.playing.take() {
            let stats = queue.borrow().stats();
            log::info!(
                "[{}] stop playing {key}: {} frames queued, {} dropped",
                self.log.cid,
                stats.queued_frames,
                stats.dropped_frames
            );
            self.ctx.hub.borrow_mut().stop(&key, self.id, now_ms);
        }
    }

    /// The connection ends: the hub forgets its publish or play.
    pub fn close(&mut self, now_ms: u64) {
        self.stop_publishing(now_ms);
        self.stop_playing(now_ms);
    }

    /// Collects what to send next, in order: session replies, then up to `MAX_BATCH_ITEMS`
    /// queued media (each frame's chunks built once and shared with every player).
    pub fn take_output(&mut self, out: &mut Vec<Bytes>) {
        if let Some(b) = self.session.poll_transmit() {
            out.push(b);
        }
        let Some((stream_id, _, queue)) = &self.playing else {
            return;
        };
        let stream_id = *stream_id;
        self.batch.clear();
        queue
            .borrow_mut()
            .drain_into(&mut self.batch, MAX_BATCH_ITEMS, MAX_BATCH_BYTES);
        let chunk_size = self.session.out_chunk_size();
        for item in self.batch.drain(..) {
            match item {
                QueueItem::Frame(frame) => out.push(chunks(&frame, chunk_size, stream_id)),
                QueueItem::Unpublished => {
                    self.session.notify_unpublished(stream_id);
                    out.extend(self.session.poll_transmit());
                }
                QueueItem::Published => {
                    self.session.notify_published(stream_id);
                    out.extend(self.session.poll_transmit());
                }
            }
        }
    }
}

/// The RTMP chunks of `frame` for a player, shared by every player with the same chunk size
/// and message stream id.
fn chunks(frame: &SharedFrame, chunk_size: u32, stream_id: u32) -> Bytes {
    frame.encoded(
        Encoding::RtmpChunks {
            chunk_size,
            stream_id,
        },
        |f| {
            let (csid, type_id) = match f.kind {
                FrameKind::Audio => (CSID_AUDIO, MessageType::Audio),
                FrameKind::Video => (CSID_VIDEO, MessageType::Video),
                FrameKind::Metadata => (CSID_STREAM, MessageType::DataAmf0),
            };
            let header = MessageHeader {
                csid,
                timestamp: f.timestamp32(),
                type_id,
                stream_id,
            };
            let mut buf =
                BytesMut::with_capacity(chunk::encoded_len(chunk_size, &header, f.data.len()));
            chunk::encode_message(chunk_size, &header, &f.data, &mut buf);
            buf.freeze()
        },
    )
}

/// Builds a hub frame from an RTMP media message (the timestamp is the publisher's raw one;
/// the Source corrects it).
pub fn classify(kind: MediaKind, ts: u32, data: Bytes) -> Result<Frame, flv::FlvError> {
    let dts = i64::from(ts);
    Ok(match kind {
        MediaKind::Video => {
            let tag = flv::parse_video(&data)?;
            Frame::video(
                tag.codec,
                dts,
                tag.composition_time,
                // FrameType 1 on a sequence header or end-of-sequence is not a picture.
                tag.keyframe && !tag.sequence_header && !tag.end_of_sequence,
                tag.sequence_header,
                data,
                tag.payload_offset,
            )
        }
        MediaKind::Audio => {
            let tag = flv::parse_audio(&data)?;
            Frame::audio(
                tag.codec,
                dts,
                tag.sequence_header,
                data,
                tag.payload_offset,
            )
        }
        MediaKind::Metadata => Frame::metadata(dts, data),
    })
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use super::*;
    use crate::wire::rtmp::chunk::{ChunkDecoder, ChunkLimits};

    fn keyframe(len: usize) -> SharedFrame {
        let mut body = vec![0x17, 1, 0, 0, 0];
        body.extend((0..len).map(|i| i as u8));
        Rc::new(classify(MediaKind::Video, 0x0100_0000, Bytes::from(body)).unwrap())
    }

    #[test]
    fn chunks_are_built_once_per_chunk_size_and_decode_back() {
        let frame = keyframe(10_000);
        let a = chunks(&frame, 4096, 1);
        let b = chunks(&frame, 4096, 1);
        assert_eq!(
            a.as_ptr(),
            b.as_ptr(),
            "second player shares the first's bytes"
        );
        let c = chunks(&frame, 128, 1);
        assert_ne!(a.as_ptr(), c.as_ptr());
        for (size, bytes) in [(4096, a), (128, c)] {
            let mut d = ChunkDecoder::new(ChunkLimits::default());
            d.set_chunk_size(size).unwrap();
            let mut input = bytes::BytesMut::from(&bytes[..]);
            let m = d.decode(&mut input).unwrap().unwrap();
            assert!(input.is_empty());
            assert_eq!(m.header.type_id, MessageType::Video);
            assert_eq!(m.header.csid, CSID_VIDEO);
            // The timestamp needs the extended field (>= 0xFFFFFF) and survives it.
            assert_eq!(m.header.timestamp, 0x0100_0000);
            assert_eq!(m.payload, frame.data);
        }
    }

    #[test]
    fn classify_reads_codec_and_flags() {
        let f = keyframe(4);
        assert!(f.is_video_keyframe());
        let sh = classify(
            MediaKind::Video,
            0,
            Bytes::from_static(&[0x17, 0, 0, 0, 0, 1]),
        )
        .unwrap();
        assert!(sh.sequence_header && !sh.keyframe);
        let eos = classify(MediaKind::Video, 0, Bytes::from_static(&[0x17, 2, 0, 0, 0])).unwrap();
        assert!(!eos.keyframe, "end of sequence is not a picture");
        let aac = classify(
            MediaKind::Audio,
            0,
            Bytes::from_static(&[0xAF, 0, 0x12, 0x10]),
        )
        .unwrap();
        assert!(aac.sequence_header);
        assert!(classify(MediaKind::Video, 0, Bytes::from_static(&[0x17])).is_err());
    }
}
