//! RTSP (stub).
