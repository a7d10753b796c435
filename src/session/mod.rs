//! Protocol state machines: bytes and the current time in, events and bytes to send out. No
//! I/O, no clock. Each protocol's session is compiled in with its Cargo feature.

#[cfg(feature = "edge")]
pub mod flv_client;
#[cfg(feature = "gb28181")]
pub mod gb28181;
#[cfg(feature = "rtmp")]
pub mod rtmp;
#[cfg(feature = "rtsp")]
pub mod rtsp;
#[cfg(feature = "rtsp")]
pub mod rtsp_server;
