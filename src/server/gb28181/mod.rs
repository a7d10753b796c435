//! GB/T 28181 camera gateway: the SIP agent's glue and the media path from PS-over-RTP into
//! the live hub.

#[cfg(feature = "api")]
pub mod api;
pub mod assemble;
pub mod media;
