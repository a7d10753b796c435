//! HLS from the hub (`/{app}/{stream}.m3u8`, `/{app}/{stream}-{seq}.ts`): the playlist from
//! RAM, segments as shared RAM buffers or as a file plan (disk storage). Each request counts
//! as a viewer of its stream for three target durations (`Hub::view`).

use bytes::Bytes;

use super::{Answer, Body, FileBody, HttpConn, Response, Route};
use crate::live::StreamKey;
use crate::server::hls::{self, SegmentData};
use crate::wire::http::{Method, RequestHead};

pub fn handle(conn: &mut HttpConn, head: &RequestHead, route: &Route, now: u64) -> Option<Answer> {
    let response = match route {
        Route::Playlist(key) => {
            view(conn, key, now);
            playlist(conn, head, key)
        }
        Route::Segment(key, seq) => {
            view(conn, key, now);
            segment(conn, head, key, *seq)
        }
        _ => return None,
    };
    Some(Answer::Response(response))
}

/// An HLS player is not a session: its requests count as a viewer of the stream for a while
/// (three target durations), so that an on-demand camera starts for it (the playlist is 404
/// until its first segment) and stops once it has gone.
fn view(conn: &HttpConn, key: &StreamKey, now: u64) {
    let server = &conn.ctx.server;
    let hold = hls::viewer_hold_ms(server, key);
    server.hub.borrow_mut().view(key, now, hold);
}

fn playlist(conn: &HttpConn, head: &RequestHead, key: &StreamKey) -> Response {
    let text = conn
        .ctx
        .server
        .hls
        .borrow()
        .get(key)
        .and_then(|h| h.borrow().playlist());
    let Some(text) = text else {
        return conn.text(head, 404, "no such HLS stream");
    };
    let len = text.len().to_string();
    conn.respond(
        head,
        200,
        &[
            ("Content-Type", "application/vnd.apple.mpegurl"),
            ("Cache-Control", "no-cache"),
            ("Content-Length", &len),
        ],
        Some(Bytes::from(text)),
    )
}

fn segment(conn: &HttpConn, head: &RequestHead, key: &StreamKey, seq: u64) -> Response {
    let data = conn.ctx.server.hls.borrow().get(key).and_then(|h| {
        let h = h.borrow();
        Some((h.segment(seq)?, h.segment_len(seq)?))
    });
    let (body, len) = match data {
        Some((SegmentData::Ram(chunks, bytes), _)) => (Body::Shared(chunks), bytes as u64),
        Some((SegmentData::File(path), len)) => {
            // The segmenter knows the length (the file is written once, then only removed);
            // the driver reads the file through the disk thread.
            let fallback = conn.text(head, 404, "segment gone").to_bytes();
            let len = len as u64;
            let file = FileBody {
                path,
                start: 0,
                len,
                fallback,
            };
            (Body::File(file), len)
        }
        None => return conn.text(head, 404, "no such segment"),
    };
    let len_s = len.to_string();
    let mut response = conn.respond(
        head,
        200,
        &[("Content-Type", "video/mp2t"), ("Content-Length", &len_s)],
        None,
    );
    if head.method != Method::Head {
        response.body = body;
    }
    response
}
