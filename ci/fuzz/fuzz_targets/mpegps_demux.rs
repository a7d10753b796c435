//! MPEG-PS demuxer (GB28181 media) on arbitrary bytes: fed in random pieces it gives the
//! same frames and statistics as fed at once; frames stay under the PES size limit and the
//! buffered bytes stay bounded. A second pass muxes the frames it found with the crate's PS
//! muxer and demuxes them again: the payloads and timestamps come back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinysrs::wire::mpegps::{Demuxer, EsFrame, Muxer, StreamType, MAX_PES_LEN, TIMESTAMP_MASK};

fn demux_pieces(pieces: &[&[u8]]) -> (Vec<EsFrame>, tinysrs::wire::mpegps::PsStats) {
    let mut demux = Demuxer::new();
    let mut frames = Vec::new();
    for piece in pieces {
        demux.push(piece);
        while let Some(frame) = demux.poll() {
            assert!(frame.data.len() <= MAX_PES_LEN);
            frames.push(frame);
        }
        let _ = demux.take_fault();
    }
    demux.flush();
    frames.extend(std::iter::from_fn(|| demux.poll()));
    (frames, demux.stats())
}

fuzz_target!(|data: &[u8]| {
    let (payload, pieces) = tinysrs_fuzz::split(data);
    let whole = demux_pieces(&[payload]);
    let cut = demux_pieces(&pieces);
    assert_eq!(whole, cut, "cut input demuxes differently");

    let (frames, _) = whole;
    let mut mux = Muxer::new(Some(StreamType::H264), Some(StreamType::Aac));
    let mut ps = Vec::new();
    let mut expected = Vec::new();
    for (i, frame) in frames.iter().enumerate() {
        let (Some(pts), false) = (frame.pts, frame.data.is_empty()) else {
            continue;
        };
        let video = (0xE0..=0xEF).contains(&frame.stream_id);
        let before = ps.len();
        mux.write_frame(video, pts, frame.dts, true, &frame.data, i == 0, &mut ps);
        let n = mux.encoded_len(video, pts, frame.dts, true, frame.data.len(), i == 0);
        assert_eq!(ps.len() - before, n, "encoded_len");
        // The muxer writes a DTS only when it differs from the PTS (mod 2^33).
        let dts = frame.dts.filter(|&d| (d ^ pts) & TIMESTAMP_MASK != 0);
        expected.push((video, pts, dts, frame.data.clone()));
    }
    let (again, _) = demux_pieces(&[&ps]);
    let mut again = again.iter();
    for (video, pts, dts, data) in expected {
        // The muxer cuts payloads over 65400 bytes into several PES packets.
        let mut got = Vec::new();
        let first = again.next().expect("a muxed frame is lost");
        assert_eq!((0xE0..=0xEF).contains(&first.stream_id), video);
        assert_eq!(first.pts, Some(pts));
        assert_eq!(first.dts, dts);
        got.extend_from_slice(&first.data);
        while got.len() < data.len() {
            let next = again.next().expect("a PES of a long frame is lost");
            got.extend_from_slice(&next.data);
        }
        assert_eq!(got, &data[..]);
    }
});
