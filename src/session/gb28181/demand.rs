//! On-demand invites (`gb28181.invite = "on_demand"`, [`InvitePolicy::OnDemand`]): a camera
//! channel sends only while its stream is watched, so a camera on a metered or weak uplink
//! costs nothing while nobody looks.
//!
//! The live hub says, through the server, when a stream gets its first viewer and when it
//! loses its last ([`Agent::handle_viewers`]), and about once a second which streams are
//! watched ([`Agent::sync_viewers`], which mends an edge lost on the way). A viewer is a player
//! of any protocol or a recent HLS request; which counts is the hub's business. Streams are
//! named as [`StreamNaming`] says: by the channel's id or by the device's.
//!
//! ```text
//! stream       event               next        the agent then
//! unwatched    a viewer            watched     INVITE each channel of the stream with no
//! grace        a viewer            watched     call set up or up, whatever stopped it
//!                                              before (a viewer's arrival is a request, as
//!                                              the API's is); a call still up goes on
//! watched      the last one left   grace       BYE due at now + grace
//! grace        grace over          unwatched   BYE to each call of the stream (set up or up):
//!                                              media stopped, stream unpublished
//! watched      (timer)             watched     channels due again (failed INVITE, media
//!                                              timeout, device registered again) invited
//! ```
//!
//! A device that comes online while its stream is watched is invited once its catalog
//! arrives. Under device naming a device's stream is fed by one channel: the one with a call
//! set up or up, else the first (by id) whose catalog status is not "OFF". A channel nobody
//! watches is never invited by the agent; one hung up while watched by the API (or by the
//! device's own BYE) stays idle until a viewer comes after everyone has left (or the device
//! registers again), as under `invite = "always"`. The API may invite any channel any time;
//! such a call has no viewers to wait for and is not hung up by this module until viewers
//! have come and gone.

use super::call::Resume;
use super::device::Device;
use super::{Agent, InvitePolicy, StreamNaming};
use crate::sorted_map::SortedMap;

/// Streams with viewers, or in their grace, that the agent tracks at once. As many as media
/// sessions can ever run (`gb28181.max_media_sessions` is at most 1024); the hub counts other
/// streams of the app too (RTMP publishers' players), which take room here. A stream with
/// viewers past this is not invited (logged). RAM: about 128 bytes each (its name and state
/// in a sorted vector), 128 KiB at most.
pub const MAX_WATCHED: usize = 1024;

/// Whether a stream has viewers, as the agent knows it; a stream not tracked has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watch {
    /// At least one viewer.
    Watched,
    /// The last viewer left: the stream's calls are hung up at `bye_at` (ms, the caller's
    /// clock) unless one comes back.
    Grace { bye_at: u64 },
}

/// The tracked streams, by name (at most [`MAX_WATCHED`]).
#[derive(Debug, Default)]
pub struct Demand {
    streams: SortedMap<String, Watch>,
}

impl Demand {
    pub fn get(&self, stream: &str) -> Option<Watch> {
        self.streams.get(stream).copied()
    }

    pub fn is_watched(&self, stream: &str) -> bool {
        self.get(stream) == Some(Watch::Watched)
    }

    /// The earliest end of a grace.
    pub fn next_bye(&self) -> Option<u64> {
        self.streams
            .values()
            .filter_map(|w| match w {
                Watch::Grace { bye_at } => Some(*bye_at),
                Watch::Watched => None,
            })
            .min()
    }
}

/// The stream a channel feeds under `naming`.
pub fn stream_of<'a>(naming: StreamNaming, device: &'a str, channel: &'a str) -> &'a str {
    match naming {
        StreamNaming::Channel => channel,
        StreamNaming::Device => device,
    }
}

/// Under device naming, the channel of `d` that feeds its stream: the one with a call set up
/// or up, else the first (by id) not "OFF".
fn device_feed(d: &Device) -> Option<&str> {
    let busy = d.channels.iter().find(|(_, c)| !c.call.is_free());
    busy.or_else(|| {
        d.channels
            .iter()
            .find(|(_, c)| !c.status.eq_ignore_ascii_case("OFF"))
    })
    .map(|(id, _)| id.as_str())
}

impl Agent {
    /// The hub says `stream` got its first viewer (`watched`) or lost its last one, at `now`.
    /// With `invite = "on_demand"`: a first viewer invites the stream's channels, the last
    /// one leaving starts the grace, after which they are hung up. Ignored otherwise.
    pub fn handle_viewers(&mut self, now: u64, stream: &str, watched: bool) {
        let InvitePolicy::OnDemand { grace_ms } = self.config.invite else {
            return;
        };
        let before = self.demand.get(stream);
        match (before, watched) {
            (None | Some(Watch::Grace { .. }), true) => {
                if before.is_none() && self.demand.streams.len() >= MAX_WATCHED {
                    log::warn!(
                        "GB28181: {stream} has viewers, but {MAX_WATCHED} streams are watched \
                         already: not invited"
                    );
                    return;
                }
                self.demand
                    .streams
                    .insert(stream.to_owned(), Watch::Watched);
                if before.is_some() {
                    log::info!("GB28181 {stream}: a viewer is back within the grace, no BYE");
                }
                self.invite_for_viewers(now, stream);
            }
            (Some(Watch::Watched), false) => {
                let bye_at = now.saturating_add(grace_ms);
                if !self.feeds(stream).is_empty() {
                    log::info!(
                        "GB28181 {stream}: the last viewer left, BYE in {} s unless one comes \
                         back",
                        grace_ms / 1000
                    );
                }
                self.demand
                    .streams
                    .insert(stream.to_owned(), Watch::Grace { bye_at });
                if grace_ms == 0 {
                    self.end_graces(now);
                }
            }
            _ => {}
        }
    }

    /// The streams that have viewers now (the hub's whole list, about once a second): a
    /// stream the agent thinks watched but missing here loses its viewers, one listed but
    /// not watched gains them, as [`Agent::handle_viewers`] does. Mends an event the hub
    /// dropped. Ignored unless `invite = "on_demand"`.
    pub fn sync_viewers<'a>(&mut self, now: u64, watched: impl IntoIterator<Item = &'a str>) {
        if !matches!(self.config.invite, InvitePolicy::OnDemand { .. }) {
            return;
        }
        // Sorted, without duplicates, as a BTreeSet would hold them (without its code).
        let mut watched: Vec<&str> = watched.into_iter().collect();
        watched.sort_unstable();
        watched.dedup();
        let left: Vec<String> = self
            .demand
            .streams
            .iter()
            .filter(|(s, w)| **w == Watch::Watched && watched.binary_search(&s.as_str()).is_err())
            .map(|(s, _)| s.clone())
            .collect();
        for stream in left {
            self.handle_viewers(now, &stream, false);
        }
        for stream in watched {
            if !self.demand.is_watched(stream) {
                self.handle_viewers(now, stream, true);
            }
        }
    }

    /// What the agent knows of `stream`'s viewers (on demand): None when it has none.
    pub fn viewers(&self, stream: &str) -> Option<Watch> {
        self.demand.get(stream)
    }

    /// A viewer arrived while nobody watched `stream`: each of its channels without a call
    /// set up or up is invited.
    fn invite_for_viewers(&mut self, now: u64, stream: &str) {
        for (dev, ch) in self.feeds(stream) {
            let free = self
                .devices
                .channel(&dev, &ch)
                .is_some_and(|c| c.call.is_free());
            if free {
                log::info!("GB28181 {dev}/{ch}: a viewer for {stream}, inviting (on demand)");
                self.invite(now, &dev, &ch);
            }
        }
    }

    /// The channels that feed `stream`: under channel naming each device's channel of that
    /// id (one, unless two devices share channel ids), under device naming the device's
    /// [`device_feed`].
    fn feeds(&self, stream: &str) -> Vec<(String, String)> {
        match self.config.naming {
            StreamNaming::Channel => self
                .devices
                .map
                .iter()
                .filter(|(_, d)| d.channels.contains_key(stream))
                .map(|(id, _)| (id.clone(), stream.to_owned()))
                .collect(),
            StreamNaming::Device => self
                .devices
                .map
                .get(stream)
                .and_then(device_feed)
                .map(|ch| vec![(stream.to_owned(), ch.to_owned())])
                .unwrap_or_default(),
        }
    }

    /// Whether the agent invites channel `ch` of device `dev` by itself once its retry is
    /// due: never (manual), always, or while its stream is watched and it feeds it (on
    /// demand).
    pub(super) fn invites_by_itself(&self, dev: &str, ch: &str) -> bool {
        match self.config.invite {
            InvitePolicy::Manual => false,
            InvitePolicy::Always => true,
            InvitePolicy::OnDemand { .. } => {
                let naming = self.config.naming;
                let feeds = match naming {
                    StreamNaming::Channel => true,
                    StreamNaming::Device => {
                        self.devices.map.get(dev).and_then(device_feed) == Some(ch)
                    }
                };
                feeds && self.demand.is_watched(stream_of(naming, dev, ch))
            }
        }
    }

    /// Hangs up the calls of the streams whose grace is over (BYE once up; their media
    /// stops), and forgets those streams. Their channels wait for a viewer.
    pub(super) fn end_graces(&mut self, now: u64) {
        let over: Vec<String> = self
            .demand
            .streams
            .iter()
            .filter(|(_, w)| matches!(w, Watch::Grace { bye_at } if *bye_at <= now))
            .map(|(s, _)| s.clone())
            .collect();
        let naming = self.config.naming;
        for stream in over {
            self.demand.streams.remove(&stream);
            let calls: Vec<(String, String)> = self
                .devices
                .map
                .iter()
                .flat_map(|(dev, d)| {
                    d.channels
                        .iter()
                        .filter(|(ch, c)| !c.call.is_free() && stream_of(naming, dev, ch) == stream)
                        .map(|(ch, _)| (dev.clone(), ch.clone()))
                })
                .collect();
            for (dev, ch) in calls {
                log::info!("GB28181 {dev}/{ch}: nobody watches {stream}, hanging up (on demand)");
                self.hangup(now, &dev, &ch, Resume::OnRequest);
            }
        }
    }
}

#[cfg(test)]
mod tests;
