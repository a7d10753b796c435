//! Playback of recordings (`dvr.http_mount`): no path below the mount, however encoded,
//! plans a file outside the DVR root, a hidden file or a `.part` being written (a small tree
//! with a symlink out of it is built in a temporary directory); the FLV seek on arbitrary
//! bytes (written as a recording and planned with `?start=`) stays within the file, starts
//! after the leading tags, and the pure resync scanner's answers are tag boundaries it can
//! stand behind. Input: the path below the mount, a newline, the `start` offset in decimal,
//! a newline, then the recording's bytes.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tinysrs::server::dvr::vod::{self, Vod};
use tinysrs::server::static_files::Plan;
use tinysrs::wire::flv::seek::{self, Candidate, CLASSIFY_LEN};
use tinysrs::wire::http::{decode_request_head, RequestHead};

/// `<tmp>/rec` (the DVR root) and `<tmp>/outside`, kept for the whole run; the canonical root.
fn dvr_root() -> &'static (PathBuf, PathBuf) {
    static ROOT: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    ROOT.get_or_init(|| {
        let base = std::env::temp_dir().join(format!("tinysrs-fuzz-dvr-{}", std::process::id()));
        let root = base.join("rec");
        let outside = base.join("outside");
        for dir in [root.join("live"), outside.clone()] {
            std::fs::create_dir_all(&dir).expect("create the fuzz DVR root");
        }
        for (path, bytes) in [
            (root.join("live/cam.1.mp4"), &b"0123456789"[..]),
            (root.join("live/cam.2.flv.part"), b"FLV"),
            (root.join("live/.hidden.mp4"), b"hidden"),
            (outside.join("secret.mp4"), b"secret"),
        ] {
            std::fs::write(path, bytes).expect("write the fuzz DVR root");
        }
        let _ = std::os::unix::fs::symlink(&outside, root.join("link_out"));
        let _ = std::os::unix::fs::symlink(
            outside.join("secret.mp4"),
            root.join("live/secret.mp4"),
        );
        let canonical = std::fs::canonicalize(&root).expect("canonical fuzz DVR root");
        (root, canonical)
    })
}

fn get() -> RequestHead {
    let request = b"GET /dvr/ HTTP/1.1\r\nHost: h\r\n\r\n";
    decode_request_head(request).ok().flatten().expect("a valid head").0
}

fuzz_target!(|data: &[u8]| {
    let mut lines = data.splitn(3, |&b| b == b'\n');
    let target = String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
    let start = std::str::from_utf8(lines.next().unwrap_or_default())
        .ok()
        .and_then(|s| s.parse::<u64>().ok());
    let flv = lines.next().unwrap_or_default();

    // The pure scanner on the bytes.
    if let Some(head) = seek::head_len(flv) {
        assert!((13..=flv.len() as u64).contains(&head));
    }
    if let Some(at) = seek::resync(flv) {
        assert_eq!(seek::candidate(flv, at), Candidate::Yes);
        assert!(at + 11 <= flv.len());
    }
    for at in 0..flv.len().min(256) {
        if let Candidate::Check { trailer_at, size } = seek::candidate(flv, at) {
            assert!(trailer_at + 4 > flv.len() && size >= 11);
        }
        if let Some(bytes) = flv.get(at..at + CLASSIFY_LEN) {
            if let Some((_, next)) = seek::keyframe(at as u64, bytes) {
                assert!(next >= at as u64 + 15);
            }
        }
    }

    let (root, canonical) = dvr_root();
    let head = get();
    // The bytes as a recording, planned from `start`.
    std::fs::write(root.join("live/fuzz.flv"), flv).expect("write the fuzz recording");
    match vod::plan(root, &head, "/live/fuzz.flv", Some(start.unwrap_or(0))) {
        Vod::FlvFrom {
            head_len,
            key_at,
            total,
            ..
        } => {
            assert_eq!(total, flv.len() as u64);
            assert!(13 <= head_len && head_len <= key_at && key_at <= total);
            if key_at < total {
                let bytes = &flv[key_at as usize..];
                assert!(matches!(seek::keyframe(key_at, bytes), Some((true, _))));
            }
        }
        Vod::File(Plan::File { len, total, .. }) => assert_eq!(len, total),
        Vod::File(other) => panic!("a readable recording planned as {other:?}"),
    }

    // Any path below the mount.
    match vod::plan(root, &head, &target, start) {
        Vod::File(Plan::File { path, .. }) | Vod::FlvFrom { path, .. } => {
            assert!(
                path.starts_with(canonical),
                "{target:?} escaped the root: {path:?}"
            );
            let name = path.file_name().unwrap().to_string_lossy();
            assert!(!name.starts_with('.') && !name.ends_with(".part"), "{path:?}");
            assert!(name.ends_with(".mp4") || name.ends_with(".flv"), "{path:?}");
        }
        Vod::File(Plan::Error { status, .. }) => assert!((400..500).contains(&status)),
        Vod::File(Plan::NotModified { .. }) => panic!("304 without a condition"),
        // Only a web root's "/" redirects (to the console); a recordings root lists no folder.
        Vod::File(Plan::Redirect { location }) => panic!("{target:?} redirected to {location}"),
    }
});
