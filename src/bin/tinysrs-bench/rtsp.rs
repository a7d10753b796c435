//! The RTSP player (with the `rtsp` feature): RTP over the RTSP connection (RFC 2326 §10.12),
//! read raw, not depacketized.
//!
//! Setup: OPTIONS, DESCRIBE, one SETUP per `m=` section of the SDP with
//! `Transport: RTP/AVP/TCP;unicast;interleaved=2k-2k+1`, PLAY. Then the player reads the
//! interleaved frames (`wire::rtsp::decode_buf`, which splits them off the read buffer without
//! copying), counts the bytes read, checks each RTP channel's sequence numbers for gaps, and
//! looks for the latency stamp at the front of each RTP payload of the first track: the
//! publisher's 40-byte SEI goes out as its own NAL unit, so it opens an RTP packet (a single
//! NAL unit packet, or the first NAL of a STAP-A). Within half the session timeout it sends a
//! GET_PARAMETER keepalive; when the bench stops, a TEARDOWN.
//!
//! Cost per player: the read buffer (8 KiB reserved per read, up to one interleaved frame of
//! 64 KiB) and one RTP sequence number per channel.

use std::cell::RefCell;
use std::io;
use std::time::Duration;

use bytes::BytesMut;
use tinysrs::wire::rtsp::header::{Session, Transport};
use tinysrs::wire::rtsp::{self, Item, Message, Method};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{sleep_until, timeout, Instant};

use crate::client::{protocol, SETUP_TIMEOUT};
use crate::play::{playing, Board};
use crate::url::Url;

/// Tracks set up at most (the SDP of a tinysrs stream has two: video and audio).
const MAX_TRACKS: usize = 4;
/// Bytes reserved in the read buffer before each read.
const READ_RESERVE: usize = 8 * 1024;
/// RTP fixed header (RFC 3550 §5.1): the sequence number is at bytes 2-3.
const RTP_HEADER_LEN: usize = 12;

/// The `a=control` of each `m=` section of an SDP, in order; a section without one gets "".
/// At most [`MAX_TRACKS`].
pub fn sdp_controls(sdp: &str) -> Vec<String> {
    let mut controls: Vec<String> = Vec::new();
    let mut in_media = false;
    for line in sdp.lines().map(str::trim_end) {
        if line.starts_with("m=") {
            if controls.len() == MAX_TRACKS {
                break;
            }
            controls.push(String::new());
            in_media = true;
        } else if let (true, Some(c)) = (in_media, line.strip_prefix("a=control:")) {
            if let Some(last) = controls.last_mut() {
                *last = c.trim().to_owned();
            }
        }
    }
    controls
}

/// The URL to SETUP a track: its control as is when absolute, else joined to `base`
/// (Content-Base, or the DESCRIBE URL) with one `/`. An empty control or `*` is the base.
pub fn track_url(base: &str, control: &str) -> String {
    if control.contains("://") {
        return control.to_owned();
    }
    if control.is_empty() || control == "*" {
        return base.to_owned();
    }
    format!("{}/{control}", base.trim_end_matches('/'))
}

/// One RTP channel's sequence check.
#[derive(Debug, Default, Clone, Copy)]
pub struct SeqCheck {
    last: Option<u16>,
}

impl SeqCheck {
    /// Packets missing before `packet` (0 for the first, a repeat or a reordered one).
    pub fn gap(&mut self, packet: &[u8]) -> u64 {
        let Some(seq) = packet.get(2..4).map(|b| u16::from_be_bytes([b[0], b[1]])) else {
            return 0;
        };
        // Forward by less than half the number space: a new last, `d - 1` missing before it.
        // Anything else is a repeat or late, and changes nothing.
        match self.last.map(|last| seq.wrapping_sub(last)) {
            None => {
                self.last = Some(seq);
                0
            }
            Some(d) if d != 0 && d < 0x8000 => {
                self.last = Some(seq);
                u64::from(d - 1)
            }
            Some(_) => 0,
        }
    }
}

/// A connection's request side: CSeq and the Session header.
struct Conn {
    stream: TcpStream,
    input: BytesMut,
    cseq: u32,
    session: Option<Session>,
}

impl Conn {
    async fn send(
        &mut self,
        method: Method,
        uri: &str,
        extra: &[(&str, String)],
    ) -> io::Result<()> {
        self.cseq += 1;
        let mut m = Message::request(method, uri)
            .with_header("CSeq", self.cseq.to_string())
            .with_header("User-Agent", "tinysrs-bench");
        if let Some(s) = &self.session {
            m.push_header("Session", s.id.clone());
        }
        for (name, value) in extra {
            m.push_header(name, value.clone());
        }
        self.stream.write_all(&m.to_bytes()).await
    }

    /// Reads until the response to the last request (frames before it are dropped); a status
    /// other than 200 is an error.
    async fn response(&mut self, what: &str) -> io::Result<Message> {
        loop {
            while let Some(item) =
                rtsp::decode_buf(&mut self.input).map_err(|e| protocol(format!("RTSP: {e}")))?
            {
                if let Item::Message(m) = item {
                    if m.cseq() != Some(self.cseq) {
                        continue;
                    }
                    return match m.status() {
                        Some(200) => Ok(m),
                        s => Err(protocol(format!("{what}: RTSP status {s:?}"))),
                    };
                }
            }
            self.input.reserve(READ_RESERVE);
            if self.stream.read_buf(&mut self.input).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }
}

/// Sets up and plays `url` as player `i` until the connection ends or the board stops.
pub async fn run(url: &Url, i: usize, board: &RefCell<Board>) -> io::Result<()> {
    let uri = url.to_string();
    let (mut conn, tracks) = timeout(SETUP_TIMEOUT, async {
        let stream = TcpStream::connect(&url.host_port).await?;
        let mut conn = Conn {
            stream,
            input: BytesMut::with_capacity(READ_RESERVE),
            cseq: 0,
            session: None,
        };
        conn.send(Method::Options, &uri, &[]).await?;
        conn.response("OPTIONS").await?;
        let accept = [("Accept", "application/sdp".to_owned())];
        conn.send(Method::Describe, &uri, &accept).await?;
        let describe = conn.response("DESCRIBE").await?;
        let base = describe.header("Content-Base").unwrap_or(&uri).to_owned();
        let controls = sdp_controls(&String::from_utf8_lossy(&describe.body));
        if controls.is_empty() {
            return Err(protocol("DESCRIBE: no media in the SDP"));
        }
        for (k, control) in controls.iter().enumerate() {
            let channels = rtsp::header::Pair::new(2 * k as u8, 2 * k as u8 + 1);
            let transport = [("Transport", Transport::tcp(channels).encode())];
            conn.send(Method::Setup, &track_url(&base, control), &transport)
                .await?;
            let setup = conn.response("SETUP").await?;
            if conn.session.is_none() {
                conn.session = Some(
                    setup
                        .session()
                        .ok_or_else(|| protocol("SETUP: no Session"))?,
                );
            }
        }
        let range = [("Range", "npt=0.000-".to_owned())];
        conn.send(Method::Play, &uri, &range).await?;
        conn.response("PLAY").await?;
        Ok::<_, io::Error>((conn, controls.len()))
    })
    .await
    .map_err(|_| io::Error::other("no PLAY response in time"))??;
    playing(board, i);
    board.borrow_mut().add_bytes(i, conn.input.len());
    let stop = board.borrow().stop.clone();
    let keepalive_every = Duration::from_secs(
        u64::from(
            conn.session
                .as_ref()
                .map_or(60, Session::timeout_or_default),
        )
        .max(2)
            / 2,
    );
    let mut keepalive_at = Instant::now() + keepalive_every;
    let mut seq = [SeqCheck::default(); 2 * MAX_TRACKS];
    loop {
        while let Some(item) =
            rtsp::decode_buf(&mut conn.input).map_err(|e| protocol(format!("RTSP: {e}")))?
        {
            // Odd channels are RTCP; responses are the keepalives'.
            let Item::Interleaved { channel, payload } = item else {
                continue;
            };
            if channel % 2 != 0 || usize::from(channel) >= 2 * tracks {
                continue;
            }
            let gap = seq[usize::from(channel)].gap(&payload);
            let mut b = board.borrow_mut();
            b.add_rtp_gap(i, gap);
            if channel == 0 {
                if let Some(rtp_payload) = payload.get(RTP_HEADER_LEN..) {
                    b.on_video(i, rtp_payload);
                }
            }
        }
        if board.borrow().stopping {
            conn.send(Method::Teardown, &uri, &[]).await?;
            return Ok(());
        }
        conn.input.reserve(READ_RESERVE);
        tokio::select! {
            n = conn.stream.read_buf(&mut conn.input) => {
                let n = n?;
                if n == 0 {
                    return Ok(());
                }
                board.borrow_mut().add_bytes(i, n);
            }
            () = sleep_until(keepalive_at) => {
                conn.send(Method::GetParameter, &uri, &[]).await?;
                keepalive_at = Instant::now() + keepalive_every;
            }
            () = stop.notified() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_of_each_media_section() {
        let sdp = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=bench\r\na=control:*\r\n\
                   m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:trackID=0\r\n\
                   m=audio 0 RTP/AVP 97\r\na=control:rtsp://h/live/s/trackID=1\r\n\
                   m=application 0 RTP/AVP 98\r\n";
        assert_eq!(
            sdp_controls(sdp),
            ["trackID=0", "rtsp://h/live/s/trackID=1", ""]
        );
        assert!(sdp_controls("v=0\na=control:*\n").is_empty());
        let many = "m=video 0 RTP/AVP 96\n".repeat(10);
        assert_eq!(sdp_controls(&many).len(), MAX_TRACKS);
    }

    #[test]
    fn track_urls() {
        let base = "rtsp://h:1/live/s/";
        assert_eq!(track_url(base, "trackID=0"), "rtsp://h:1/live/s/trackID=0");
        assert_eq!(
            track_url("rtsp://h:1/live/s", "trackID=0"),
            "rtsp://h:1/live/s/trackID=0"
        );
        assert_eq!(track_url(base, "rtsp://x/y"), "rtsp://x/y");
        assert_eq!(track_url(base, "*"), base);
        assert_eq!(track_url(base, ""), base);
    }

    fn rtp(seq: u16) -> [u8; 12] {
        let [hi, lo] = seq.to_be_bytes();
        [0x80, 96, hi, lo, 0, 0, 0, 0, 0, 0, 0, 1]
    }

    #[test]
    fn sequence_gaps_across_the_wrap() {
        let mut c = SeqCheck::default();
        assert_eq!(c.gap(&rtp(65533)), 0);
        assert_eq!(c.gap(&rtp(65534)), 0);
        assert_eq!(c.gap(&rtp(1)), 2, "65535 and 0 missing");
        assert_eq!(c.gap(&rtp(1)), 0, "a repeat");
        assert_eq!(c.gap(&rtp(0)), 0, "late: not a gap, not a new last");
        assert_eq!(c.gap(&rtp(2)), 0);
        assert_eq!(c.gap(&[0x80, 96]), 0, "too short");
        assert_eq!(c.gap(&rtp(5)), 2);
    }
}
