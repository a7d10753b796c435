//! HTTP-TS live playback (`/{app}/{stream}.ts`): the Source's shared TS packets
//! (`server::ts`), whose output is attached on the first TS player.

use bytes::Bytes;

use super::live::{self, Format};
use super::{Answer, HttpConn, Route};
use crate::live::Source;
use crate::media::{Encoding, SharedFrame};
use crate::server::stats::ClientKind;
use crate::server::ts;
use crate::wire::http::{chunk_size_line, RequestHead, CRLF};

pub struct Ts;

impl Format for Ts {
    fn name(&self) -> &'static str {
        "HTTP-TS"
    }

    fn content_type(&self) -> &'static str {
        "video/mp2t"
    }

    fn client_kind(&self) -> ClientKind {
        ClientKind::TsPlay
    }

    fn attach(&self, source: &mut Source) {
        ts::attach(source);
    }

    fn frame(&self, frame: &SharedFrame, chunked: bool, out: &mut Vec<Bytes>) {
        let Some(packets) = ts::packets(frame) else {
            return;
        };
        if chunked {
            out.push(frame.encoded(Encoding::TsChunkLine, |_| {
                Bytes::copy_from_slice(&chunk_size_line(packets.len()))
            }));
            out.push(packets);
            out.push(Bytes::from_static(CRLF));
        } else {
            out.push(packets);
        }
    }
}

pub fn handle(conn: &mut HttpConn, head: &RequestHead, route: &Route, now: u64) -> Option<Answer> {
    let Route::Ts(key) = route else {
        return None;
    };
    Some(live::play(conn, head, key, &Ts, now))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{conn, head, text};
    use super::super::Answer;
    use crate::live::{OutputKind, StreamKey};

    #[test]
    fn a_ts_player_attaches_the_ts_output_and_answers_mp2t() {
        let mut c = conn("", 8);
        let key = StreamKey {
            vhost: "__defaultVhost__".into(),
            app: "live".into(),
            stream: "cam".into(),
        };
        let request = head("GET /live/cam.ts HTTP/1.1\r\nHost: h\r\n\r\n");
        let Answer::Live(mut p) = c.handle_request(&request, 0) else {
            panic!("not a live stream")
        };
        let source = c.ctx.server.hub.borrow().source(&key).unwrap();
        assert!(source.borrow().output(OutputKind::Ts).is_some());
        let config = c.ctx.server.config();
        let settings = crate::server::source_settings(config.vhost(&key.vhost).unwrap());
        let hub = c.ctx.server.hub.clone();
        hub.borrow_mut().publish(&key, 1, settings, 1).unwrap();
        let mut out = Vec::new();
        p.poll_transmit(1, &mut out);
        let h = text(&out[0]);
        assert!(h.starts_with("HTTP/1.1 200 "), "{h}");
        assert!(h.contains("Content-Type: video/mp2t\r\n"), "{h}");
        assert!(h.contains("Transfer-Encoding: chunked\r\n"), "{h}");
        p.close(2);
        assert_eq!(source.borrow().players(), 0);
    }
}
