//! RTMP wire formats (Adobe RTMP specification 1.0, December 2012).

pub mod chunk;
pub mod handshake;
pub mod message;
