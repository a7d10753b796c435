//! Pure byte formats: `decode(&[u8]) -> Result<Option<(T, usize)>, _>` / `encode(&self, &mut impl BufMut)`.
//! Nothing here does I/O, reads the clock or knows about sessions.

pub mod amf0;
pub mod base64;
pub mod codec;
pub mod cursor;
pub mod date;
pub mod flv;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "gb28181")]
pub mod manscdp;
#[cfg(feature = "gb28181")]
pub mod mpegps;
#[cfg(feature = "mpegts")]
pub mod mpegts;
pub mod pes;
pub mod rtmp;
#[cfg(feature = "gb28181")]
pub mod rtp;
#[cfg(feature = "gb28181")]
pub mod sdp;
#[cfg(feature = "gb28181")]
pub mod sip;
