//! HTTP-FLV live playback (`/{app}/{stream}.flv`): the FLV file header, then each frame's
//! shared tag framing around its payload (`server::flv`).

use bytes::Bytes;

use super::live::{self, Format};
use super::{Answer, HttpConn, Route};
use crate::live::Source;
use crate::media::SharedFrame;
use crate::server::flv;
use crate::server::stats::ClientKind;
use crate::wire::http::RequestHead;

pub struct Flv;

impl Format for Flv {
    fn name(&self) -> &'static str {
        "HTTP-FLV"
    }

    fn content_type(&self) -> &'static str {
        "video/x-flv"
    }

    fn client_kind(&self) -> ClientKind {
        ClientKind::FlvPlay
    }

    fn header(&self, source: Option<&Source>) -> Option<Bytes> {
        Some(flv::file_header(source))
    }

    fn frame(&self, frame: &SharedFrame, chunked: bool, out: &mut Vec<Bytes>) {
        let (head, tail) = flv::framing(frame).into_parts(chunked);
        out.push(head);
        out.push(frame.data.clone());
        out.push(tail);
    }
}

pub fn handle(conn: &mut HttpConn, head: &RequestHead, route: &Route, now: u64) -> Option<Answer> {
    let Route::Flv(key) = route else {
        return None;
    };
    Some(live::play(conn, head, key, &Flv, now))
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use bytes::Bytes;

    use super::super::live::MAX_CLIENT_URL;
    use super::super::tests::{conn, head, response, text};
    use super::super::{Answer, HttpConn, LivePlayer};
    use crate::live::{Source, StreamKey};
    use crate::media::{Frame, VideoCodec};

    const IDLE_MS: u64 = 30_000;
    const PUBLISHER: u32 = 1;

    fn key() -> StreamKey {
        StreamKey {
            vhost: "__defaultVhost__".into(),
            app: "live".into(),
            stream: "cam".into(),
        }
    }

    fn play(c: &mut HttpConn, request: &str, now: u64) -> Box<LivePlayer> {
        match c.handle_request(&head(request), now) {
            Answer::Live(p) => p,
            Answer::Response(r) => panic!("not a live stream: {}", text(&r.to_bytes())),
            Answer::Deferred(_) => panic!("not a live stream: disk work"),
            #[cfg(any(feature = "hooks", feature = "edge"))]
            Answer::Decide(_) => panic!("not a live stream: a hook decision"),
        }
    }

    fn publish(c: &HttpConn, now: u64) -> Rc<RefCell<Source>> {
        let config = c.ctx.server.config();
        let settings = crate::server::source_settings(config.vhost("__defaultVhost__").unwrap());
        let hub = &c.ctx.server.hub;
        let source = hub.borrow_mut().publish(&key(), PUBLISHER, settings, now);
        source.unwrap()
    }

    fn video(ts: i64, keyframe: bool, header: bool, pad: usize) -> Frame {
        let mut data = vec![
            if keyframe { 0x17 } else { 0x27 },
            u8::from(!header),
            0,
            0,
            0,
        ];
        data.resize(5 + pad.max(1), 9);
        Frame::video(
            VideoCodec::Avc,
            ts,
            0,
            keyframe,
            header,
            Bytes::from(data),
            5,
        )
    }

    fn concat(out: &mut Vec<Bytes>) -> Vec<u8> {
        out.drain(..).flat_map(|b| b.to_vec()).collect()
    }

    /// Splits a response into its head and its de-chunked body; `done` if the last chunk came.
    fn dechunk(bytes: &[u8]) -> (String, Vec<u8>, bool) {
        let end = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let (head, mut rest) = (text(&bytes[..end]), &bytes[end..]);
        let mut body = Vec::new();
        while !rest.is_empty() {
            let line = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let len = usize::from_str_radix(&text(&rest[..line]), 16).unwrap();
            if len == 0 {
                assert_eq!(&rest[line..], b"\r\n\r\n");
                return (head, body, true);
            }
            body.extend_from_slice(&rest[line + 2..line + 2 + len]);
            assert_eq!(&rest[line + 2 + len..line + 4 + len], b"\r\n");
            rest = &rest[line + 4 + len..];
        }
        (head, body, false)
    }

    /// The first byte of each FLV tag's data after the 13-byte file header.
    fn tag_firsts(flv: &[u8]) -> Vec<u8> {
        assert_eq!(&flv[..3], b"FLV");
        let mut at = 13;
        let mut firsts = Vec::new();
        while at < flv.len() {
            let len = usize::from(flv[at + 1]) << 16
                | usize::from(flv[at + 2]) << 8
                | usize::from(flv[at + 3]);
            firsts.push(flv[at + 11]);
            at += 11 + len + 4;
        }
        assert_eq!(at, flv.len());
        firsts
    }

    const GET: &str = "GET /live/cam.flv HTTP/1.1\r\nHost: h\r\n\r\n";

    #[test]
    fn waits_for_the_publisher_then_streams_and_ends_when_it_leaves() {
        let mut c = conn("", 8);
        let mut p = play(&mut c, GET, 1_000);
        let mut out = Vec::new();
        assert_eq!(p.poll_timeout(), Some(1_000 + IDLE_MS));
        p.poll_transmit(1_000, &mut out);
        assert!(out.is_empty(), "nothing before a publisher");
        assert_eq!(p.merge_latency_ms(), None);

        let source = publish(&c, 2_000);
        source.borrow_mut().on_frame(video(0, true, true, 1));
        source.borrow_mut().on_frame(video(0, true, false, 1));
        source.borrow_mut().on_frame(video(40, false, false, 1));
        p.poll_transmit(2_000, &mut out);
        let (h, body, done) = dechunk(&concat(&mut out));
        assert!(h.starts_with("HTTP/1.1 200 "), "{h}");
        assert!(h.contains("Content-Type: video/x-flv\r\n"), "{h}");
        assert!(h.contains("Transfer-Encoding: chunked\r\n"), "{h}");
        assert!(h.contains("Connection: close\r\n"), "{h}");
        assert!(!done);
        assert_eq!(tag_firsts(&body), [0x17, 0x17, 0x27]);
        assert_eq!(p.poll_timeout(), None);
        assert_eq!(p.merge_latency_ms(), Some(350));

        c.ctx
            .server
            .hub
            .borrow_mut()
            .unpublish(&key(), PUBLISHER, 3_000);
        p.poll_transmit(3_000, &mut out);
        assert_eq!(concat(&mut out), b"0\r\n\r\n");
        assert!(p.is_done());
        p.close(3_000);
        assert_eq!(source.borrow().players(), 0);
    }

    /// Issue 17 item 4: the client record of an HTTP player has SRS's tcUrl for it
    /// (`srs_generate_tc_url`, schema http) and the Referer as pageUrl, both capped.
    #[test]
    fn the_player_record_has_srs_tc_url_and_the_referer_as_page_url() {
        let cases = [
            (
                "/live/cam.flv HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nReferer: http://a.example/p.html?x=1",
                "http://127.0.0.1:8080/live",
                "http://a.example/p.html?x=1",
            ),
            // A named vhost gives its name; the Host header its port.
            (
                "/live/sub/cam.flv HTTP/1.1\r\nHost: Cam.Example:8080",
                "http://cam.example:8080/live/sub",
                "",
            ),
            // SRS leaves out RTMP's default port, whatever the schema.
            ("/live/cam.flv HTTP/1.1\r\nHost: box:1935", "http://box/live", ""),
            ("/live/cam.flv HTTP/1.1\r\nHost: [::1]:80", "http://[::1]:80/live", ""),
            ("/live/cam.flv HTTP/1.0", "http://__defaultVhost__/live", ""),
        ];
        for (request, tc_url, page_url) in cases {
            let mut c = conn("[vhost.\"cam.example\"]\n", 8);
            let mut p = play(&mut c, &format!("GET {request}\r\n\r\n"), 0);
            assert_eq!(*c.record.tc_url.borrow(), tc_url, "{request}");
            assert_eq!(*c.record.page_url.borrow(), page_url, "{request}");
            p.close(0);
        }
        // Longer than MAX_CLIENT_URL: cut, at a character boundary.
        let mut c = conn("", 8);
        let app = "a".repeat(2 * MAX_CLIENT_URL);
        let referer = format!("http://x/{}", "é".repeat(MAX_CLIENT_URL));
        let request =
            format!("GET /{app}/cam.flv HTTP/1.1\r\nHost: h\r\nReferer: {referer}\r\n\r\n");
        let mut p = play(&mut c, &request, 0);
        assert_eq!(c.record.tc_url.borrow().len(), MAX_CLIENT_URL);
        let page_url = c.record.page_url.borrow().clone();
        assert!(page_url.len() > MAX_CLIENT_URL - 2 && page_url.len() <= MAX_CLIENT_URL);
        assert!(referer.starts_with(&page_url));
        p.close(0);
    }

    #[test]
    fn no_publisher_by_the_deadline_is_404() {
        let mut c = conn("", 8);
        let mut p = play(&mut c, GET, 1_000);
        let mut out = Vec::new();
        let deadline = p.poll_timeout().unwrap();
        p.handle_timeout(deadline - 1, &mut out);
        assert!(out.is_empty() && !p.is_done());
        p.handle_timeout(deadline, &mut out);
        let bytes = text(&concat(&mut out));
        assert!(bytes.starts_with("HTTP/1.1 404 "), "{bytes}");
        assert!(bytes.ends_with("\r\n\r\nstream not published\n"), "{bytes}");
        assert!(p.is_done());
        p.close(deadline);
        let source = c.ctx.server.hub.borrow().source(&key()).unwrap();
        assert_eq!(source.borrow().players(), 0);
    }

    #[test]
    fn a_publisher_that_came_is_served_at_the_deadline_too() {
        let mut c = conn("", 8);
        let mut p = play(&mut c, GET, 0);
        let _source = publish(&c, 10);
        let mut out = Vec::new();
        p.handle_timeout(IDLE_MS, &mut out);
        p.poll_transmit(IDLE_MS, &mut out);
        let (h, body, _) = dechunk(&concat(&mut out));
        assert!(h.starts_with("HTTP/1.1 200 "), "{h}");
        assert_eq!(&body[..3], b"FLV");
    }

    #[test]
    fn a_slow_player_drops_to_a_keyframe_and_counts_it() {
        let mut c = conn("[vhost.__defaultVhost__.play]\nqueue_max_bytes = 9000\n", 8);
        let source = publish(&c, 0);
        source.borrow_mut().on_frame(video(0, true, true, 1));
        let mut p = play(&mut c, GET, 0);
        let mut out = Vec::new();
        p.poll_transmit(0, &mut out);
        out.clear();
        // The player does not read while 15 frames of 500 bytes (each costs 500 bytes plus
        // FRAME_OVERHEAD, about 1 KB, of queue) arrive, a keyframe every 5: the 9th overflows the queue, which then waits
        // for the keyframe of frame 10.
        for i in 0..15 {
            source
                .borrow_mut()
                .on_frame(video(i * 40, i % 5 == 0, false, 500));
        }
        let stats = p.queue().borrow().stats();
        assert!(stats.dropped_frames > 0, "{stats:?}");
        p.poll_transmit(1_000, &mut out);
        let (_, body, _) = dechunk(&[b"H\r\n\r\n".as_slice(), &concat(&mut out)].concat());
        let firsts = tag_firsts(&[&[b'F', b'L', b'V'][..], &[0; 10], &body].concat());
        // The stream resumes on a keyframe (after the kept sequence header, if any).
        let resumed: Vec<u8> = firsts.iter().copied().skip_while(|&b| b == 0x17).collect();
        assert!(firsts.len() > resumed.len(), "{firsts:x?}");
        assert_eq!(resumed, [0x27; 4], "{firsts:x?}");
    }

    /// Issue 16: each frame is its own chunk, framed once and shared; the body a player gets
    /// is still the FLV it got when a batch was one chunk, byte for byte (the golden FLV is
    /// written here with the FLV writer), chunked (HTTP/1.1) or raw (HTTP/1.0).
    #[test]
    fn the_body_is_the_flv_of_the_frames_chunked_or_not() {
        use crate::media::AudioCodec;
        use crate::wire::flv::{encode_prev_tag_size, encode_tag_header, TagType};
        let audio = |ts: i64, header: bool| {
            let data = Bytes::from(vec![0xAF, u8::from(!header), 0x12, 0x10, 7]);
            Frame::audio(AudioCodec::Aac, ts, header, data, 2)
        };
        let frames = || {
            vec![
                Frame::metadata(0, Bytes::from_static(b"\x02\x00\x0aonMetaData\x05")),
                video(0, true, true, 3),
                audio(0, true),
                video(0, true, false, 300),
                audio(23, false),
                video(40, false, false, 20),
                audio(46, false),
                video(80, false, false, 0x1_0000),
            ]
        };
        let mut golden = bytes::BytesMut::new();
        crate::wire::flv::encode_file_header(true, true, &mut golden);
        for f in frames() {
            let tag_type = match f.kind {
                crate::media::FrameKind::Audio => TagType::Audio,
                crate::media::FrameKind::Video => TagType::Video,
                crate::media::FrameKind::Metadata => TagType::Script,
            };
            encode_tag_header(tag_type, f.dts as u32, f.data.len() as u32, &mut golden);
            golden.extend_from_slice(&f.data);
            encode_prev_tag_size(f.data.len() as u32, &mut golden);
        }
        let config = "[vhost.__defaultVhost__.play]\ntime_jitter = \"off\"\n";
        for (version, chunked) in [("1.1", true), ("1.0", false)] {
            let mut c = conn(config, 8);
            let source = publish(&c, 0);
            let request = format!("GET /live/cam.flv HTTP/{version}\r\nHost: h\r\n\r\n");
            let mut p = play(&mut c, &request, 0);
            let mut out = Vec::new();
            let mut all = Vec::new();
            for (i, f) in frames().into_iter().enumerate() {
                source.borrow_mut().on_frame(f);
                // Batches of one, two and three frames.
                if [0, 2, 5, 7].contains(&i) {
                    p.poll_transmit(0, &mut out);
                    all.extend(concat(&mut out));
                }
            }
            let body = if chunked {
                let (_, body, done) = dechunk(&all);
                assert!(!done);
                body
            } else {
                let end = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                all[end..].to_vec()
            };
            assert_eq!(body, golden[..], "HTTP/{version}");
            p.close(0);
        }
    }

    #[test]
    fn security_rules_refuse_with_403() {
        let mut c = conn(
            "[vhost.__defaultVhost__.security]\nenabled = true\nrules = [\"deny play all\"]\n",
            8,
        );
        let r = response(c.handle_request(&head(GET), 0));
        assert!(text(&r.head).starts_with("HTTP/1.1 403 "));
        assert!(r.to_bytes().ends_with(b"denied by security rules\n"));
        assert!(c.ctx.server.hub.borrow().source(&key()).is_none());
    }

    #[test]
    fn a_full_hub_is_503_and_closes() {
        let mut c = conn("", 0);
        let r = response(c.handle_request(&head(GET), 0));
        assert!(text(&r.head).starts_with("HTTP/1.1 503 "));
        assert!(r.close);
    }

    #[test]
    fn http10_is_not_chunked_and_head_is_the_head_only() {
        let mut c = conn("", 8);
        let source = publish(&c, 0);
        source.borrow_mut().on_frame(video(0, true, true, 1));
        let mut p = play(&mut c, "GET /live/cam.flv HTTP/1.0\r\n\r\n", 0);
        let mut out = Vec::new();
        p.poll_transmit(0, &mut out);
        let bytes = concat(&mut out);
        let end = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        assert!(!text(&bytes[..end]).contains("chunked"));
        assert_eq!(tag_firsts(&bytes[end..]), [0x17]);
        c.ctx
            .server
            .hub
            .borrow_mut()
            .unpublish(&key(), PUBLISHER, 1);
        p.poll_transmit(1, &mut out);
        assert!(out.is_empty(), "no last chunk without chunking");
        assert!(p.is_done());
        p.close(1);

        let _again = publish(&c, 2);
        let mut h = play(&mut c, "HEAD /live/cam.flv HTTP/1.1\r\nHost: h\r\n\r\n", 2);
        h.poll_transmit(2, &mut out);
        let bytes = text(&concat(&mut out));
        assert!(bytes.starts_with("HTTP/1.1 200 ") && bytes.ends_with("\r\n\r\n"));
        assert!(h.is_done());
        h.close(2);
    }
}
