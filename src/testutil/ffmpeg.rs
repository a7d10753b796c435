//! Scratch directories and ffmpeg runs for the MPEG-TS and MPEG-PS interop tests.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

static NEXT_DIR: AtomicUsize = AtomicUsize::new(0);

/// A scratch directory for one test, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let n = NEXT_DIR.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("tinysrs-unit-{}-{n}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    // The PS interop tests read ffmpeg's output; a build without GB28181 has none of them.
    #[cfg_attr(not(feature = "gb28181"), allow(dead_code))]
    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.file(name)).expect("read ffmpeg output")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

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
