//! tinysrs: a low-memory, single-threaded live-streaming server.
//!
//! Layers, one direction (see `../shared/STYLE.md`):
//! `wire` (pure byte formats) → `session` (state machines, no I/O) → `server`/`net` (tokio).
//! `media` holds the protocol-neutral frame model and `live` the hub that fans frames out.
//! Only `net` (and `main`) touch tokio or read the clock.
//!
//! Cargo features switch on whole module trees at their `mod` lines (Cargo.toml lists which):
//! `rtmp`, `http-flv`, `http-ts`, `hls`, `api`, `gb28181`, `dvr` and `rtsp`, with the internal
//! `http`, `mpegts`, `codec`, `rtp` and `textmsg` they share. The library builds with any of them alone, or none; the
//! server binary needs one that listens. `ci/clippy-features` lints each alone.

pub mod config;
pub mod limits;
pub mod live;
pub mod media;
pub mod net;
pub mod server;
pub mod session;
pub mod sorted_map;
pub mod wire;

#[cfg(test)]
mod testutil;
