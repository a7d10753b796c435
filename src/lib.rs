//! tinysrs: a low-memory, single-threaded live-streaming server.
//!
//! Layers, one direction (see `../shared/STYLE.md`):
//! `wire` (pure byte formats) → `session` (state machines, no I/O) → `server`/`net` (tokio).
//! `media` holds the protocol-neutral frame model and `live` the hub that fans frames out.
//! Only `net` (and `main`) touch tokio or read the clock.

pub mod config;
pub mod limits;
pub mod live;
pub mod media;
pub mod net;
pub mod server;
pub mod session;
pub mod wire;

#[cfg(test)]
mod testutil;
