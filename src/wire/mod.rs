//! Pure byte formats: `decode(&[u8]) -> Result<Option<(T, usize)>, _>` / `encode(&self, &mut impl BufMut)`.
//! Nothing here does I/O, reads the clock or knows about sessions.

pub mod amf0;
pub mod codec;
pub mod flv;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "mpegts")]
pub mod mpegts;
pub mod rtmp;
