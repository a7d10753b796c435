//! MP4 tracks from arbitrary codec configurations (the first byte picks the codec: H.264,
//! H.265, AV1, AAC, Opus, MP3): building a track never panics; an accepted one gives an init
//! segment of exactly `encoded_len` bytes, and with a fragment of samples cut from the input
//! a file whose every box the scanner walks to the end, one complete fragment.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use tinysrs::wire::flv::{AudioCodec, VideoCodec};
use tinysrs::wire::mp4::{scan, Fragment, InitSegment, Run, Sample, Stop, Track};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, config)) = data.split_first() else {
        return;
    };
    let bytes = Bytes::copy_from_slice(config);
    let track = match selector % 6 {
        0 => Track::video(VideoCodec::Avc, bytes.clone()),
        1 => Track::video(VideoCodec::Hevc, bytes.clone()),
        2 => Track::video(VideoCodec::Av1, bytes.clone()),
        3 => Track::audio(AudioCodec::Aac, bytes.clone()),
        4 => Track::audio(AudioCodec::Opus, bytes.clone()),
        _ => Track::audio(AudioCodec::Mp3, bytes.clone()),
    };
    let Ok(track) = track else {
        return;
    };
    if let Some((width, height)) = track.picture_size() {
        assert!(width > 0 && height > 0);
    }
    assert!(track.timescale() > 0);
    let init = InitSegment::new([track]).unwrap();
    let mut file = Vec::new();
    init.encode(&mut file);
    assert_eq!(file.len(), init.encoded_len());

    // Three samples from the input, with times and offsets from the selector's high bits.
    let third = (bytes.len() / 3).max(1);
    let samples: Vec<Sample> = (0..3)
        .filter_map(|i| {
            let data =
                bytes.slice((i * third).min(bytes.len())..((i + 1) * third).min(bytes.len()));
            (!data.is_empty()).then(|| Sample {
                dts: 1000 * i as u64,
                cts: if selector & 0x40 != 0 {
                    40 - 40 * i as i32
                } else {
                    0
                },
                keyframe: i == 0,
                data,
            })
        })
        .collect();
    let runs = [Run {
        track_id: 1,
        samples: &samples,
        end_dts: (selector & 0x80 != 0).then_some(3000),
    }];
    let Ok(fragment) = Fragment::new(&init, 1, &runs) else {
        return;
    };
    let before = file.len();
    fragment.encode_with_data(&mut file);
    assert_eq!((file.len() - before) as u64, fragment.len());
    let found = scan(&file).expect("our own file scans");
    assert_eq!(
        (
            found.end,
            found.fragments,
            found.last_sequence_number,
            found.stop
        ),
        (file.len() as u64, 1, Some(1), Stop::EndOfFile)
    );
});
