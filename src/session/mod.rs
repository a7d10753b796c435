#[cfg(feature = "gb28181")]
pub mod gb28181;
pub mod rtmp;
