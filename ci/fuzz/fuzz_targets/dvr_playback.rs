//! What time-based playback reads from recordings and requests, on arbitrary bytes: the
//! `moov` and `moof` readers never panic; a `moof` that reads is rewritten in place to the
//! same length and reads back with the new sequence number and decode times; RFC 3339
//! times read back what they write; a recording's name is located or not, never a panic.
//! Input: two bytes of `moov` length, the `moov` body, then a `moof` box (or a string).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinysrs::config::DvrPath;
use tinysrs::wire::date::Rfc3339;
use tinysrs::wire::mp4::{read_moof, read_moov, rewrite_moof, TrackInfo};

fuzz_target!(|data: &[u8]| {
    let split = data
        .get(..2)
        .map_or(0, |b| usize::from(u16::from_be_bytes([b[0], b[1]])));
    let rest = data.get(2..).unwrap_or_default();
    let (moov, moof) = rest.split_at(split.min(rest.len()));
    let fallback = [
        TrackInfo { track_id: 1, timescale: 1000, video: true, default_duration: 0, default_flags: 0 },
        TrackInfo { track_id: 2, timescale: 44_100, video: false, default_duration: 1024, default_flags: 0 },
    ];
    let read = read_moov(moov);
    let tracks: &[TrackInfo] = match &read {
        Ok(t) => t,
        Err(_) => &fallback,
    };
    if let Ok(info) = read_moof(moof, tracks) {
        let mut copy = moof.to_vec();
        rewrite_moof(&mut copy, &info, 7, |id| u64::from(id) * 3);
        assert_eq!(copy.len(), moof.len());
        let again = read_moof(&copy, tracks).expect("a rewritten moof reads");
        assert_eq!(again.sequence_number, 7);
        assert_eq!(again.trafs.len(), info.trafs.len());
        for (a, b) in again.trafs.iter().zip(&info.trafs) {
            // Two trafs of one track share a tfdt position only if they are the same box.
            if info.trafs.iter().filter(|t| t.track_id == b.track_id).count() == 1 {
                assert_eq!(a.decode_time, u64::from(b.track_id) * 3);
            }
            assert_eq!((a.duration, a.samples, a.first_sync), (b.duration, b.samples, b.first_sync));
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(t) = Rfc3339::parse(text) {
            assert_eq!(Rfc3339::parse(&t.to_string()), Some(t), "{text:?}");
        }
        for template in [
            "./dvr/[app]/[stream].[timestamp].mp4",
            "/d/[vhost]/[app]/[stream]/[2006]/[01]/[02]/[15].[04].[05].[999].mp4",
        ] {
            let path = DvrPath::parse(template).expect("a good template");
            let _ = path.locate(text, "__defaultVhost__", "live", "cam", 8 * 3600);
        }
    }
});
