//! RTCP (stub).
