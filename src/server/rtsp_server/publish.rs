//! RTSP publish (ANNOUNCE + SETUP `mode=record` + RECORD, as ffmpeg `-f rtsp` and
//! GStreamer's `rtspclientsink` send it): the same checks as an RTMP publish, in the same
//! order (the vhost's `publish` security rules, then the `on_publish` hooks with the URL's
//! query as `param` and an `rtsp://` tcUrl), then the hub's publish. Refusals: 404 for a URL
//! that names no `app/stream` or vhost, 403 for the rules, the hooks or a stream someone
//! else publishes, 503 past `max_streams`. The frames the session makes go to the Source as
//! they come; the connection's end unpublishes the stream and tells `on_unpublish`.

use super::RtspConn;
#[cfg(feature = "hooks")]
use super::{hooks, Action, Deciding};
use crate::live::{HubError, StreamKey};
use crate::server::stats::ClientKind;

impl RtspConn {
    /// ANNOUNCE of `path` (`/app/stream`) at `url`, with the tracks' `codecs`.
    pub(super) fn announce(
        &mut self,
        now_ms: u64,
        url: String,
        path: &str,
        query: String,
        codecs: &[&str],
    ) {
        let Some((vhost, key)) = self.stream_of(&url, path) else {
            return self.session.refuse(now_ms, 404);
        };
        let record = self.registration.record.clone();
        if !vhost
            .security
            .allows(crate::config::Method::Publish, record.peer.ip())
        {
            log::warn!(
                "[{}] RTSP publish {key} denied by security rules",
                record.cid
            );
            return self.session.refuse(now_ms, 403);
        }
        log::info!(
            "[{}] RTSP ANNOUNCE {key} ({}) from {}",
            record.cid,
            codecs.join(", "),
            self.peer
        );
        *record.stream.borrow_mut() = Some(key.clone());
        *record.tc_url.borrow_mut() = super::tc_url(&url, &key);
        self.key = Some(key.clone());
        self.vhost = Some(vhost.clone());
        #[cfg(feature = "hooks")]
        {
            let client = hooks::Client {
                vhost: key.vhost.clone(),
                app: key.app.clone(),
                stream: key.stream.clone(),
                tc_url: super::tc_url(&url, &key),
                query: query.chars().take(512).collect(),
                ..hooks::Client::new(&record.cid, record.peer.ip())
            };
            let call =
                self.ctx
                    .hooks
                    .call(&vhost, Action::Publish, &client, &hooks::Extra::default());
            self.hook_client = Some(client);
            if let Some(call) = call {
                self.call = Some(call);
                self.deciding = Some(Deciding::Publish);
                return;
            }
        }
        let _ = query;
        self.publish_now(now_ms);
    }

    /// The on_publish hooks answered.
    #[cfg(feature = "hooks")]
    pub(super) fn publish_decided(&mut self, now_ms: u64, answer: Result<(), String>) {
        if let Err(why) = answer {
            log::warn!(
                "[{}] RTSP publish {} refused by the on_publish hook: {why}",
                self.log.cid,
                self.key.as_ref().map(|k| k.to_string()).unwrap_or_default()
            );
            self.forget_hooks();
            return self.session.refuse(now_ms, 403);
        }
        self.publish_now(now_ms);
    }

    /// After the checks: the hub's publish.
    fn publish_now(&mut self, now_ms: u64) {
        let (Some(key), Some(vhost)) = (self.key.clone(), self.vhost.clone()) else {
            return;
        };
        let settings = crate::server::source_settings(&vhost);
        let id = self.registration.record.id;
        let result = self
            .ctx
            .hub
            .borrow_mut()
            .publish(&key, id, settings, now_ms);
        let source = match result {
            Ok(source) => source,
            Err(e) => {
                log::warn!("[{}] RTSP publish refused: {e}", self.log.cid);
                self.forget_hooks();
                let status = match e {
                    HubError::AlreadyPublishing { .. } => 403,
                    HubError::TooManyStreams { .. } => 503,
                };
                return self.session.refuse(now_ms, status);
            }
        };
        crate::server::on_publish(&self.ctx, &source, &vhost);
        #[cfg(feature = "hooks")]
        if let Some(client) = &self.hook_client {
            self.ctx.hooks.published(client);
        }
        self.registration.record.kind.set(ClientKind::RtspPublish);
        self.publishing = Some(source);
        log::info!(
            "[{}] RTSP publish {key} as client {}",
            self.log.cid,
            self.registration.record.id
        );
        self.session.announce_ok(now_ms);
    }

    /// The frames the publisher's RTP made, into its Source.
    pub(super) fn take_frames(&mut self) {
        let Some(source) = &self.publishing else {
            return;
        };
        while let Some(frame) = self.session.poll_frame() {
            source.borrow_mut().on_frame(frame);
        }
    }

    /// The publisher's connection ended: unpublish (players stay attached) and on_unpublish.
    pub(super) fn unpublish(&mut self, now_ms: u64, key: &StreamKey) {
        if self.publishing.take().is_none() {
            return;
        }
        let r = self.session.reorder_stats();
        log::info!(
            "[{}] RTSP unpublish {key}: {} frames dropped unread; UDP reordered {}, lost {}, \
             late {}, duplicates {}, resets {}",
            self.log.cid,
            self.session.dropped_frames(),
            r.reordered,
            r.lost,
            r.late,
            r.duplicates,
            r.resets
        );
        self.ctx
            .hub
            .borrow_mut()
            .unpublish(key, self.registration.record.id, now_ms);
        #[cfg(feature = "hooks")]
        if let (Some(client), Some(vhost)) = (self.hook_client.take(), self.vhost.as_ref()) {
            let extra = hooks::Extra::default();
            self.ctx
                .hooks
                .notify(vhost, Action::Unpublish, &client, &extra);
        }
    }
}
