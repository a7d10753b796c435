//! Derived outputs of a Source (MPEG-TS muxing, HLS segmenting, DVR recording, later fMP4): each runs
//! once per frame, in publish order, before players see the frame, so that what it builds
//! (for example `Encoding::TsPackets` on the frame) is there for every player. An output is
//! attached only while something consumes it.

use crate::media::SharedFrame;

/// Which output, so a Source runs at most one of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    Ts,
    Hls,
    /// Recording to files (`server::dvr`).
    Dvr,
    /// The queues of a stream's forward destinations (`server::forward`).
    Forward,
}

pub trait Output: std::fmt::Debug {
    fn kind(&self) -> OutputKind;
    /// A publisher started (or restarted) the stream.
    fn on_publish(&mut self);
    /// One frame, sequence headers and metadata included.
    fn on_frame(&mut self, frame: &SharedFrame);
    /// The publisher left.
    fn on_unpublish(&mut self);
}
