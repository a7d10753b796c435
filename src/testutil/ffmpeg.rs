//! ffmpeg runs for the MPEG-TS and MPEG-PS interop tests.

use super::TempDir;
use std::process::Command;

/// Whether ffmpeg and ffprobe are installed (ci/install-deps installs them); interop unit
/// tests return early with a note when they are not.
pub fn have_tools() -> bool {
    let ok = ["ffmpeg", "ffprobe"].iter().all(|tool| {
        Command::new(tool)
            .arg("-version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if !ok {
        eprintln!("ffmpeg/ffprobe not installed: interop test skipped");
    }
    ok
}

/// Runs `ffmpeg -v error -y -nostdin ARGS` in `dir`, requiring success and silence.
pub fn ffmpeg(dir: &TempDir, args: &[&str]) {
    let out = Command::new("ffmpeg")
        .current_dir(&dir.0)
        .args(["-v", "error", "-y", "-nostdin"])
        .args(args)
        .output()
        .expect("run ffmpeg");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.is_empty(),
        "ffmpeg {args:?}: {stderr}"
    );
}
