//! Pure byte formats: `decode(&[u8]) -> Result<Option<(T, usize)>, _>` / `encode(&self, &mut impl BufMut)`.
//! Nothing here does I/O, reads the clock or knows about sessions.
//!
//! Each Cargo feature switches on the formats only it uses, here at the `mod` line. `flv` is
//! always in: the hub's frame model (`media`) is the FLV tag body; so is `date`: the log's
//! timestamps, and `decimal`: the config's float keys.

#[cfg(any(feature = "rtmp", feature = "dvr"))]
pub mod amf0;
#[cfg(any(feature = "api", feature = "rtp", feature = "tls"))]
pub mod base64;
#[cfg(feature = "codec")]
pub mod codec;
pub mod cursor;
pub mod date;
pub mod decimal;
#[cfg(feature = "textmsg")]
pub mod digest;
pub mod flv;
#[cfg(feature = "http")]
pub mod http;
#[cfg(any(feature = "dvr", feature = "hooks"))]
pub mod json;
#[cfg(feature = "gb28181")]
pub mod manscdp;
#[cfg(feature = "dvr")]
pub mod mp4;
#[cfg(feature = "gb28181")]
pub mod mpegps;
#[cfg(feature = "mpegts")]
pub mod mpegts;
#[cfg(feature = "mpegts")]
pub mod pes;
#[cfg(feature = "metrics")]
pub mod prometheus;
#[cfg(feature = "rtp")]
pub mod rtcp;
#[cfg(feature = "rtmp")]
pub mod rtmp;
#[cfg(feature = "rtp")]
pub mod rtp;
#[cfg(feature = "rtsp")]
pub mod rtsp;
#[cfg(feature = "rtp")]
pub mod sdp;
#[cfg(feature = "gb28181")]
pub mod sip;
#[cfg(feature = "textmsg")]
pub mod textmsg;
#[cfg(any(feature = "rtc", feature = "tls"))]
pub mod x509;
