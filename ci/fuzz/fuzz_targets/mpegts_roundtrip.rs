//! MPEG-TS muxer round trip: frames described by the input are muxed, the transport stream
//! is demuxed (fed in random pieces) by the crate's demuxer, and every frame comes back on
//! its PID, in order, with its bytes, PTS, DTS (only when it differs from PTS), random
//! access flag and PCR; the muxer's `*_encoded_len` match what it wrote; no faults.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinysrs::wire::mpegts::{
    Demuxer, Muxer, Pes, StreamType, AUDIO_PID, PACKET_LEN, TIMESTAMP_MASK, VIDEO_PID,
};
use tinysrs_fuzz::{split, take_bytes, take_uint, SPLIT_CONTROL_LEN};

/// Frames per input at most, and bytes per frame at most: enough to cross packet and PES
/// length boundaries without slowing the fuzzer down.
const MAX_FRAMES: usize = 64;
const MAX_FRAME_LEN: usize = 70_000;

fuzz_target!(|data: &[u8]| {
    let mut input = data;
    let tracks = take_uint(&mut input, 1) as u8;
    let video = [None, Some(StreamType::H264), Some(StreamType::H265)]
        .get(usize::from(tracks & 3))
        .copied()
        .flatten();
    let audio = [None, Some(StreamType::Aac), Some(StreamType::Mp3)]
        .get(usize::from((tracks >> 2) & 3))
        .copied()
        .flatten();
    if video.is_none() && audio.is_none() {
        return;
    }
    let control = take_bytes(&mut input, SPLIT_CONTROL_LEN).to_vec();

    let mut mux = Muxer::new(video, audio);
    let mut ts = Vec::new();
    mux.write_tables(&mut ts);
    let mut expected_video = Vec::new();
    let mut expected_audio = Vec::new();
    for _ in 0..MAX_FRAMES {
        if input.is_empty() {
            break;
        }
        let flags = take_uint(&mut input, 1);
        let len = (take_uint(&mut input, 3) as usize) % MAX_FRAME_LEN + 1;
        let pts = take_uint(&mut input, 5);
        let delay = take_uint(&mut input, 2);
        let body = take_bytes(&mut input, len);
        if body.is_empty() {
            break;
        }
        let is_video = flags & 1 != 0;
        let keyframe = flags & 2 != 0;
        if flags & 4 != 0 {
            mux.write_tables(&mut ts);
        }
        let before = ts.len();
        if is_video {
            let dts = pts.wrapping_sub(delay);
            let n = mux.video_encoded_len(pts, dts, keyframe, body.len());
            mux.write_video(pts, dts, keyframe, body, &mut ts);
            assert_eq!(ts.len() - before, n, "video_encoded_len");
            if let Some(t) = video {
                let (pts, dts) = (pts & TIMESTAMP_MASK, dts & TIMESTAMP_MASK);
                expected_video.push(Pes {
                    pid: VIDEO_PID,
                    stream_type: t.code(),
                    pts: Some(pts),
                    dts: (dts != pts).then_some(dts),
                    random_access: keyframe,
                    pcr: Some(dts * 300),
                    data: body.to_vec().into(),
                });
            }
        } else {
            let n = mux.audio_encoded_len(body.len());
            mux.write_audio(pts, body, &mut ts);
            assert_eq!(ts.len() - before, n, "audio_encoded_len");
            if let Some(t) = audio {
                let carries_pcr = video.is_none();
                let pts = pts & TIMESTAMP_MASK;
                expected_audio.push(Pes {
                    pid: AUDIO_PID,
                    stream_type: t.code(),
                    pts: Some(pts),
                    dts: None,
                    random_access: carries_pcr,
                    pcr: carries_pcr.then_some(pts * 300),
                    data: body.to_vec().into(),
                });
            }
        }
    }
    assert_eq!(ts.len() % PACKET_LEN, 0);
    assert_eq!(
        mux.pcr_pid(),
        if video.is_some() {
            VIDEO_PID
        } else {
            AUDIO_PID
        }
    );

    let mut split_input = control;
    split_input.resize(SPLIT_CONTROL_LEN, 0);
    split_input.extend_from_slice(&ts);
    let (_, pieces) = split(&split_input);
    let mut demux = Demuxer::new();
    let mut got = Vec::new();
    for piece in pieces {
        demux
            .push(piece)
            .expect("muxer output demuxes without faults");
        got.extend(std::iter::from_fn(|| demux.poll()));
    }
    demux.flush().expect("clean flush");
    got.extend(std::iter::from_fn(|| demux.poll()));
    assert_eq!(demux.cc_errors(), 0);

    let (got_video, got_audio): (Vec<Pes>, Vec<Pes>) =
        got.into_iter().partition(|p| p.pid == VIDEO_PID);
    assert_eq!(got_video, expected_video);
    assert_eq!(got_audio, expected_audio);
});
