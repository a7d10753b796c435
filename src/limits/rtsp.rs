//! RTSP ingest's terms: each `[[ingest]]` is a camera connection we open (not counted under
//! `max_connections`, which limits accepted connections), on its own line (none without
//! `[[ingest]]` entries).

use super::{kib, BudgetLine, Term, CONNECTION_BYTES};
use crate::config::{Config, IngestTransport};
use crate::net::rtsp::READ_BUFFER;
use crate::server::rtsp::pull::{MAX_DATAGRAM, RTCP_RECV_BUFFER, UDP_RECV_BUFFER};
use crate::server::rtsp::status::{IngestStatus, MAX_ERROR_LEN};
use crate::session::rtsp::decode_time::HOLD_BYTES;
use crate::session::rtsp::{MAX_INPUT, MAX_TRACKS, REORDER_WINDOW};

/// Per pulled camera: its read buffer, the session's input buffer (one RTSP message or
/// interleaved frame being received, plus one read), one access unit being assembled per
/// track (at most `rtmp.max_message_bytes`, the largest frame the hub takes from any
/// publisher), the video pictures held for their decode times once B-frames are seen (at
/// most `HOLD_BYTES`) and the connection's state. The frame an access unit becomes is the stream's,
/// counted in the streams line. And its status for the API (`/api/v1/ingests`) with its last
/// error.
pub(super) fn term(config: &Config) -> Option<Term> {
    let ingests = config.ingests.len();
    if ingests == 0 {
        return None;
    }
    let frame = config.rtmp_max_message_bytes;
    let status = std::mem::size_of::<IngestStatus>() + MAX_ERROR_LEN;
    let per_camera = (MAX_TRACKS.saturating_mul(frame))
        .saturating_add(CONNECTION_BYTES + READ_BUFFER + MAX_INPUT + HOLD_BYTES + status);
    let mut lines = vec![BudgetLine {
        what: "ingests",
        formula: format!(
            "{ingests} [[ingest]] x {} (read buffer {} + RTSP input {} + {MAX_TRACKS} \
             tracks x access unit {} (rtmp.max_message_bytes) + B-frames held {} + state {} \
             + API status {})",
            kib(per_camera),
            kib(READ_BUFFER),
            kib(MAX_INPUT),
            kib(frame),
            kib(HOLD_BYTES),
            kib(CONNECTION_BYTES),
            kib(status),
        ),
        // In u64: ingests x per camera pass 4 GiB on a 32-bit target.
        bytes: (ingests as u64).saturating_mul(per_camera as u64),
    }];
    lines.extend(udp_line(config));
    Some(Term {
        protocol: "rtsp ingest",
        connection_bytes: 0,
        connection_parts: String::new(),
        shared_bytes: 0,
        publisher_pending_bytes: 0,
        frame_bytes: frame,
        send_buffer_bytes: 0,
        lines,
    })
}

/// Per camera pulled over UDP (`transport = "udp"` or `"auto"`): the datagram buffer and a
/// reorder window per track of datagrams at their largest. Its sockets' kernel receive
/// buffers (RTP and RTCP per track, doubled by Linux) are kernel memory, named in the
/// formula and not in the total.
fn udp_line(config: &Config) -> Option<BudgetLine> {
    let cameras = config
        .ingests
        .iter()
        .filter(|i| i.transport != IngestTransport::Tcp)
        .count();
    if cameras == 0 {
        return None;
    }
    let reorder = REORDER_WINDOW * MAX_DATAGRAM;
    let per_camera = MAX_DATAGRAM + 1 + MAX_TRACKS * reorder;
    // Linux books twice what is asked for.
    let kernel = 2 * MAX_TRACKS * 2 * (UDP_RECV_BUFFER + RTCP_RECV_BUFFER);
    Some(BudgetLine {
        what: "ingest udp",
        formula: format!(
            "{cameras} [[ingest]] over UDP x {} (datagram buffer {} + {MAX_TRACKS} tracks x \
             reorder window {REORDER_WINDOW} datagrams {}); kernel receive buffers {} a \
             camera, not in the total",
            kib(per_camera),
            kib(MAX_DATAGRAM + 1),
            kib(reorder),
            kib(kernel),
        ),
        bytes: (cameras * per_camera) as u64,
    })
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::limits::Limits;

    #[test]
    fn each_ingest_costs_its_buffers_and_access_units() {
        let line = |text: &str| {
            let config = Config::from_toml_str(text, "t").unwrap();
            Limits::of(&config)
                .budget()
                .lines
                .into_iter()
                .find(|l| l.what == "ingests")
        };
        assert_eq!(line(""), None);
        let one = "[[ingest]]\nurl = \"rtsp://10.0.0.2/a\"\nstream = \"live/a\"\n";
        let two = format!("{one}[[ingest]]\nurl = \"rtsp://10.0.0.3/b\"\nstream = \"live/b\"\n");
        let (a, b) = (line(one).unwrap(), line(&two).unwrap());
        assert_eq!(b.bytes, 2 * a.bytes);
        // Two 4 MiB access units (rtmp.max_message_bytes), 256 KiB of B-frames held and
        // about 100 KiB of buffers.
        assert!(
            (8 << 20) + (256 << 10) < a.bytes && a.bytes < (8 << 20) + (384 << 10),
            "{a:?}"
        );
        assert!(a.formula.contains("rtmp.max_message_bytes"), "{a:?}");
    }

    #[test]
    fn a_camera_over_udp_costs_its_datagrams() {
        let line = |transport: &str| {
            let text = format!(
                "[[ingest]]\nurl = \"rtsp://10.0.0.2/a\"\nstream = \"live/a\"\n\
                 transport = \"{transport}\"\n"
            );
            let config = Config::from_toml_str(&text, "t").unwrap();
            Limits::of(&config)
                .budget()
                .lines
                .into_iter()
                .find(|l| l.what == "ingest udp")
        };
        assert_eq!(line("tcp"), None);
        let udp = line("udp").unwrap();
        assert_eq!(Some(&udp), line("auto").as_ref());
        // 2 KiB + 2 tracks x 32 x 2 KiB.
        assert_eq!(udp.bytes, 2049 + 2 * 32 * 2048, "{udp:?}");
        assert!(
            udp.formula.contains("kernel receive buffers 1056 KiB"),
            "{udp:?}"
        );
    }
}
