//! Recordings on disk, as the DVR tests read them: the files under a root, whether one is
//! still being written, and what ffprobe and ffmpeg say of a file.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Every regular file under `dir`, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// A recording being written (`.part`).
pub fn is_part(p: &Path) -> bool {
    p.to_string_lossy().ends_with(".part")
}

/// `ffprobe`'s format duration of a file, in seconds (-1 when it has none).
pub fn duration_s(file: &Path) -> f64 {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "format=duration"])
        .args(["-of", "csv=p=0"])
        .arg(file)
        .output()
        .expect("run ffprobe");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(-1.0)
}

/// What `ffmpeg -v error -i FILE -f null -` prints: nothing for a clean file.
pub fn decode_errors(file: &Path) -> String {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error", "-i"])
        .arg(file)
        .args(["-f", "null", "-"])
        .output()
        .expect("run ffmpeg");
    String::from_utf8_lossy(&out.stderr).into_owned()
}
