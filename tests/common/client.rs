//! Our own RTMP test client (placeholder until written).
