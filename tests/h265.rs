//! An H.265 stream passes through to a player byte-for-byte in the frame payloads, both as
//! legacy FLV codec id 12 (the Chinese-CDN extension) and as Enhanced RTMP `hvc1`.
//!
//! Debian's ffmpeg 5.1 cannot put HEVC into FLV, so ffmpeg (libx265) only makes an elementary
//! stream; our client publishes it (decoder configuration record + length-prefixed access
//! units), our client plays it, and ffprobe decodes what the player received, written back as
//! Annex B.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::client::{Client, MediaKind};
use common::hevc::{frame_body, hvcc_nals, sequence_header, Clip, Packaging, FRAMES, FRAME_MS};
use common::{ffprobe, Server, TempDir};
use tinysrs::wire::flv;

/// Frames sent before the late player joins (three GOPs and a bit).
const LATE_JOIN_AFTER: usize = 33;

#[test]
fn hevc_legacy_codec_id_12_passes_through_byte_for_byte() {
    pass_through(Packaging::Legacy);
}

#[test]
fn hevc_enhanced_rtmp_hvc1_passes_through_byte_for_byte() {
    pass_through(Packaging::Enhanced);
}

fn pass_through(packaging: Packaging) {
    let dir = TempDir::new("h265");
    let clip = Clip::encode(&dir);
    assert_eq!(
        clip.access_units.len(),
        FRAMES,
        "x265 made {FRAMES} pictures"
    );
    let header = sequence_header(packaging, &clip.config_record);
    let frames: Vec<Vec<u8>> = clip
        .access_units
        .iter()
        .map(|au| frame_body(packaging, au))
        .collect();

    let server = Server::start("");
    let addr = server.addr.to_string();
    let stream = format!("hevc-{packaging:?}");

    // The first player is attached before anything is published.
    let mut player = Client::connect(&addr, "live").unwrap();
    player.create_stream().unwrap();
    assert_eq!(player.play(&stream).unwrap(), "NetStream.Play.Start");

    let mut publisher = Client::connect(&addr, "live").unwrap();
    publisher.create_stream().unwrap();
    assert_eq!(
        publisher.publish(&stream).unwrap(),
        "NetStream.Publish.Start"
    );
    publisher
        .send_metadata(vec![
            ("width", 160.0.into()),
            ("height", 120.0.into()),
            ("framerate", 25.0.into()),
            ("videocodecid", 12.0.into()),
        ])
        .unwrap();
    publisher.send_video(0, &header).unwrap();
    // About four times real time: the server does not pace, the player keeps up.
    for (i, body) in frames.iter().enumerate().take(LATE_JOIN_AFTER) {
        publisher.send_video(i as u32 * FRAME_MS, body).unwrap();
        std::thread::sleep(Duration::from_millis(10));
    }

    // Wait until the server has fanned out those frames, so the late joiner's start is known.
    let mut received = recv_video(&mut player, 1 + LATE_JOIN_AFTER);

    let mut late = Client::connect(&addr, "live").unwrap();
    late.create_stream().unwrap();
    assert_eq!(late.play(&stream).unwrap(), "NetStream.Play.Start");

    for (i, body) in frames.iter().enumerate().skip(LATE_JOIN_AFTER) {
        publisher.send_video(i as u32 * FRAME_MS, body).unwrap();
        std::thread::sleep(Duration::from_millis(10));
    }
    received.extend(recv_video(&mut player, FRAMES - LATE_JOIN_AFTER));

    // Sequence header first, then every access unit in order, byte for byte.
    assert_eq!(received[0].1, header, "the sequence header arrives first");
    assert_eq!(received.len(), 1 + FRAMES);
    for (i, ((_, got), sent)) in received[1..].iter().zip(&frames).enumerate() {
        assert!(
            got[..] == sent[..],
            "frame {i} differs: sent {} bytes, got {}",
            sent.len(),
            got.len()
        );
    }
    let timestamps: Vec<u32> = received[1..].iter().map(|(ts, _)| *ts).collect();
    assert!(
        timestamps.windows(2).all(|w| w[0] < w[1]),
        "timestamps increase: {timestamps:?}"
    );

    // The late joiner: sequence header, then the cached GOP from its keyframe, then live.
    let gop_start = (0..LATE_JOIN_AFTER)
        .rev()
        .find(|&i| clip.access_units[i].keyframe)
        .unwrap();
    assert!(gop_start > 0, "the late joiner must skip at least one GOP");
    println!(
        "{packaging:?}: {} access units ({} keyframes), {} bytes sent; late joiner starts at {gop_start}",
        frames.len(),
        clip.access_units.iter().filter(|au| au.keyframe).count(),
        frames.iter().map(Vec::len).sum::<usize>(),
    );
    let late_received = recv_video(&mut late, 1 + FRAMES - gop_start);
    assert_eq!(
        late_received[0].1, header,
        "late joiner: sequence header first"
    );
    let first = flv::parse_video(&late_received[1].1).unwrap();
    assert!(
        first.keyframe && !first.sequence_header,
        "late joiner: then a keyframe"
    );
    for (i, (_, got)) in late_received[1..].iter().enumerate() {
        assert!(
            got[..] == frames[gop_start + i][..],
            "late joiner frame {} differs",
            gop_start + i
        );
    }

    // What the players received decodes as HEVC, every picture, without errors.
    for (name, got, pictures) in [
        ("player", &received, FRAMES),
        ("late", &late_received, FRAMES - gop_start),
    ] {
        let path = dir.path(&format!("{name}.hevc"));
        std::fs::write(&path, to_annexb(got)).unwrap();
        let probe = ffprobe(&dir, path.to_str().unwrap(), Duration::from_secs(30));
        println!("{packaging:?} {name}: ffprobe {probe:?}");
        assert!(probe.success, "{name}: ffprobe failed: {}", probe.errors);
        assert_eq!(probe.codecs, vec!["hevc"], "{name}");
        assert_eq!(probe.video_frames, pictures, "{name}: decoded pictures");
        assert!(
            probe.errors.trim().is_empty(),
            "{name}: decode errors:\n{}",
            probe.errors
        );
        assert_eq!(
            probe.first_video.as_ref().map(|f| f.0),
            Some(true),
            "{name}"
        );
    }
}

/// Receives `n` video messages (timestamp, FLV tag body), skipping everything else.
fn recv_video(client: &mut Client, n: usize) -> Vec<(u32, Bytes)> {
    let end = Instant::now() + Duration::from_secs(15);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let left = end.saturating_duration_since(Instant::now());
        match client.recv_media(left) {
            Ok((MediaKind::Video, ts, body)) => out.push((ts, body)),
            Ok(_) => {}
            Err(e) => panic!("got {} of {n} video messages: {e}", out.len()),
        }
    }
    out
}

/// What a player received, as an Annex B stream: the configuration record's parameter sets,
/// then each frame's length-prefixed NAL units behind start codes.
fn to_annexb(received: &[(u32, Bytes)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (_, body) in received {
        let tag = flv::parse_video(body).unwrap();
        assert_eq!(tag.codec, flv::VideoCodec::Hevc);
        let payload = &body[tag.payload_offset..];
        let nals = if tag.sequence_header {
            hvcc_nals(payload)
        } else {
            let mut nals = Vec::new();
            let mut rest = payload;
            while let Some((len, tail)) = rest.split_first_chunk::<4>() {
                let len = u32::from_be_bytes(*len) as usize;
                nals.push(&tail[..len]);
                rest = &tail[len..];
            }
            nals
        };
        for nal in nals {
            out.extend_from_slice(&[0, 0, 0, 1]);
            out.extend_from_slice(nal);
        }
    }
    out
}
