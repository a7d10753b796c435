//! Recording work the disk thread performs ([`DiskOp`]), with the files it keeps open between
//! ops ([`OpenFiles`]): open, append, sync and close a recording, repair what a power cut left
//! behind, delete the oldest recordings for loop recording. Blocking `std::fs` code: only the
//! disk thread (`net::disk`) and tests call [`OpenFiles::perform`], never the event loop.
//!
//! # What a caller must know
//! * A recording is written as `PATH.part` and renamed to `PATH` when it closes. Ops on one
//!   file arrive in order (the disk thread performs one op at a time, in the order accepted).
//! * An append that fails (disk full, read-only, I/O error, the file or its directory removed)
//!   ends the file at once: it is cut back to what the earlier appends wrote (whole tags),
//!   renamed to `PATH` when that holds media, removed otherwise, and the error is reported;
//!   later ops on that file answer [`io::ErrorKind::NotFound`] without touching the disk.
//! * [`DiskOp::Repair`] and [`DiskOp::Quota`] walk a DVR root at most [`MAX_DEPTH`] deep,
//!   without following symbolic links, and never touch a file open here.
//!
//! RAM on the thread: one entry per open recording (a file handle and two paths), one
//! [`SCAN_WINDOW`] buffer while repairing, and [`QUOTA_CANDIDATES`] paths while deleting.

use std::collections::{BinaryHeap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, IoSlice, Write as _};
use std::os::unix::fs::{FileExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use bytes::Bytes;

use super::format::Patch;
use crate::wire::flv::scan::TagScan;
use crate::wire::mp4::{Scanner, SCAN_READ_LEN};

/// The suffix of a recording being written.
pub const PART_SUFFIX: &str = ".part";

/// A leftover FLV recording: what the repair cuts after its last complete tag.
const FLV_PART: &str = ".flv.part";
/// A leftover MP4 recording: what the repair cuts after its last complete fragment.
const MP4_PART: &str = ".mp4.part";

/// Extensions of closed recordings, the only files loop recording deletes.
pub const RECORDING_EXTENSIONS: &[&str] = &[".flv", ".mp4"];

/// Directory levels walked below a DVR root (`[app]/[stream]/[2006]/[01]/[02]` is 5).
pub const MAX_DEPTH: usize = 8;

/// Bytes read at once when repairing: the scan needs tag headers only, so a window holds
/// several tags and a keyframe's body is skipped.
pub const SCAN_WINDOW: usize = 64 * 1024;

/// The oldest recordings kept in mind per quota pass; more are deleted by the next pass.
pub const QUOTA_CANDIDATES: usize = 256;

/// Leftovers repaired per repair op (its report lists each); more are left for the next op,
/// which the report asks for.
pub const MAX_REPAIRS: usize = 256;

/// Slices per `writev` (Linux IOV_MAX is 1024; a batch holds far fewer).
const MAX_IOVECS: usize = 1024;

/// One piece of recording work.
#[derive(Debug)]
pub enum DiskOp {
    /// Creates the directories and `path.part` for file `id`; a file already at `path` or
    /// `path.part` is an error (SRS: "DVR can't append to exists path").
    Open { id: u32, path: PathBuf },
    /// Appends `chunks` (`len` bytes of whole tags) to file `id`.
    Append {
        id: u32,
        chunks: Vec<Bytes>,
        len: usize,
    },
    /// `fdatasync` of file `id` (and its directory, the first time).
    Sync { id: u32 },
    /// Writes `patches`, syncs when `sync`, closes file `id` and renames it to its path.
    Close {
        id: u32,
        patches: Vec<Patch>,
        sync: bool,
    },
    /// Repairs the leftovers (`*.part`) under `root`.
    Repair { root: PathBuf },
    /// Loop recording: deletes the oldest closed recordings under `root` while they hold
    /// more than `max_bytes` (0: no cap) or its file system has less than `min_free_bytes`
    /// free (0: not checked).
    Quota {
        root: PathBuf,
        max_bytes: u64,
        min_free_bytes: u64,
    },
}

impl DiskOp {
    /// The file the op is about: the recording's path, or the root; empty for the ops on
    /// an open recording (its id names it).
    pub fn path(&self) -> &Path {
        match self {
            DiskOp::Open { path, .. } => path,
            DiskOp::Repair { root } | DiskOp::Quota { root, .. } => root,
            DiskOp::Append { .. } | DiskOp::Sync { .. } | DiskOp::Close { .. } => Path::new(""),
        }
    }

    /// The recording the op is about (0 for the root ops).
    pub fn id(&self) -> u32 {
        match self {
            DiskOp::Open { id, .. }
            | DiskOp::Append { id, .. }
            | DiskOp::Sync { id }
            | DiskOp::Close { id, .. } => *id,
            DiskOp::Repair { .. } | DiskOp::Quota { .. } => 0,
        }
    }

    /// Bytes of frames the op holds until it is performed.
    pub fn bytes(&self) -> usize {
        match self {
            DiskOp::Append { len, .. } => *len,
            _ => 0,
        }
    }

    /// What the op is, for the log.
    pub fn verb(&self) -> &'static str {
        match self {
            DiskOp::Open { .. } => "open",
            DiskOp::Append { .. } => "write",
            DiskOp::Sync { .. } => "sync",
            DiskOp::Close { .. } => "close",
            DiskOp::Repair { .. } => "repair",
            DiskOp::Quota { .. } => "quota",
        }
    }
}

/// A leftover recording found at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repaired {
    /// The name it has now (`None`: removed, it held no media).
    pub path: Option<PathBuf>,
    /// The `.part` file it was.
    pub part: PathBuf,
    /// Bytes before and after the cut.
    pub found_bytes: u64,
    pub kept_bytes: u64,
    pub duration_ms: u32,
    /// Its modification time, ms since the epoch: when it was last written.
    pub modified_ms: u64,
}

/// What a DVR root holds, as a quota pass found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Bytes of recordings (closed and being written).
    pub bytes: u64,
    /// Free bytes of its file system for us, when `statvfs` answers.
    pub free: Option<u64>,
}

/// What a performed op found, besides its result.
#[derive(Debug, Default)]
pub struct DiskReport {
    /// The recording the op was about (0 for the root ops).
    pub id: u32,
    /// Bytes of frames the op held (an append's), given back to the recorder's queue.
    pub bytes: usize,
    pub verb: &'static str,
    /// Close: the name and size of the file. A failed append: what was kept of the file,
    /// if anything.
    pub closed: Option<(PathBuf, u64)>,
    /// Repair: each leftover (at most [`MAX_REPAIRS`]), and whether more are left.
    pub repaired: Vec<Repaired>,
    pub more: bool,
    /// Quota: the recordings deleted and what the root holds after.
    pub deleted: Vec<(PathBuf, u64)>,
    pub usage: Option<Usage>,
}

#[derive(Debug)]
struct OpenFile {
    file: File,
    path: PathBuf,
    part: PathBuf,
    /// Bytes written by the appends that succeeded: whole tags.
    len: u64,
    appends: u64,
    dir_synced: bool,
}

/// The recordings the disk thread has open, by id.
#[derive(Debug, Default)]
pub struct OpenFiles {
    files: HashMap<u32, OpenFile>,
}

/// `path` + `.part`.
pub fn part_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(PART_SUFFIX);
    PathBuf::from(name)
}

fn not_open(id: u32) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("recording #{id} is not open (it failed before)"),
    )
}

impl OpenFiles {
    /// Performs `op` (blocking).
    pub fn perform(&mut self, op: DiskOp) -> (io::Result<()>, DiskReport) {
        let mut report = DiskReport {
            id: op.id(),
            bytes: op.bytes(),
            verb: op.verb(),
            ..DiskReport::default()
        };
        let result = match op {
            DiskOp::Open { id, path } => self.open(id, path),
            DiskOp::Append { id, chunks, .. } => self.append(id, &chunks, &mut report),
            DiskOp::Sync { id } => self.sync(id),
            DiskOp::Close { id, patches, sync } => self.close(id, &patches, sync, &mut report),
            DiskOp::Repair { root } => {
                (report.repaired, report.more) = self.repair(&root);
                Ok(())
            }
            DiskOp::Quota {
                root,
                max_bytes,
                min_free_bytes,
            } => self.quota(&root, max_bytes, min_free_bytes, &mut report),
        };
        (result, report)
    }

    /// Files open now.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    fn open(&mut self, id: u32, path: PathBuf) -> io::Result<()> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        if path.symlink_metadata().is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "a file of that name exists (a dvr_path without [timestamp] or [999]?)",
            ));
        }
        let part = part_path(&path);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&part)?;
        self.files.insert(
            id,
            OpenFile {
                file,
                path,
                part,
                len: 0,
                appends: 0,
                dir_synced: false,
            },
        );
        Ok(())
    }

    fn append(&mut self, id: u32, chunks: &[Bytes], report: &mut DiskReport) -> io::Result<()> {
        let f = self.files.get_mut(&id).ok_or_else(|| not_open(id))?;
        let result = check_linked(&f.file).and_then(|()| write_all(&f.file, chunks));
        match result {
            Ok(n) => {
                f.len += n as u64;
                f.appends += 1;
                Ok(())
            }
            Err(e) => {
                if let Some(f) = self.files.remove(&id) {
                    report.closed = salvage(f);
                }
                Err(e)
            }
        }
    }

    fn sync(&mut self, id: u32) -> io::Result<()> {
        let f = self.files.get_mut(&id).ok_or_else(|| not_open(id))?;
        f.file.sync_data()?;
        if !std::mem::replace(&mut f.dir_synced, true) {
            sync_dir(&f.part)?;
        }
        Ok(())
    }

    fn close(
        &mut self,
        id: u32,
        patches: &[Patch],
        sync: bool,
        report: &mut DiskReport,
    ) -> io::Result<()> {
        let f = self.files.remove(&id).ok_or_else(|| not_open(id))?;
        let len = f.len;
        let path = f.path.clone();
        let finished = (|| {
            for p in patches.iter().filter(|p| p.offset + 8 <= f.len) {
                f.file.write_all_at(&p.bytes, p.offset)?;
            }
            if sync {
                f.file.sync_data()?;
            }
            Ok(())
        })();
        if f.appends == 0 {
            // Nothing of the file reached the disk: nothing to keep.
            drop(f.file);
            let _ = fs::remove_file(&f.part);
            return finished;
        }
        drop(f.file);
        finished?;
        fs::rename(&f.part, &path)?;
        if sync {
            sync_dir(&path)?;
        }
        report.closed = Some((path, len));
        Ok(())
    }

    /// Cuts and renames (or removes) the leftovers under `root` that are not open here, at
    /// most [`MAX_REPAIRS`]; true when more are left.
    fn repair(&self, root: &Path) -> (Vec<Repaired>, bool) {
        let open: Vec<&Path> = self.files.values().map(|f| f.part.as_path()).collect();
        let mut found = Vec::new();
        let mut more = false;
        walk(root, 0, &mut |path, meta| {
            let name = path.to_string_lossy();
            // The formats this build knows how to cut; another's leftovers wait.
            if (name.ends_with(FLV_PART) || name.ends_with(MP4_PART)) && !open.contains(&path) {
                if found.len() < MAX_REPAIRS {
                    found.push((path.to_path_buf(), meta.len(), modified_ms(meta)));
                } else {
                    more = true;
                }
            }
        });
        let repaired = found
            .into_iter()
            .filter_map(|(part, size, modified_ms)| repair_one(&part, size, modified_ms).ok())
            .collect();
        (repaired, more)
    }

    fn quota(
        &self,
        root: &Path,
        max_bytes: u64,
        min_free_bytes: u64,
        report: &mut DiskReport,
    ) -> io::Result<()> {
        if !root.is_dir() {
            report.usage = Some(Usage {
                bytes: 0,
                free: None,
            });
            return Ok(());
        }
        // The oldest QUOTA_CANDIDATES closed recordings (a max-heap on age keeps the
        // youngest of them on top), and the bytes of all recordings, open ones too.
        let mut oldest: BinaryHeap<(u64, PathBuf, u64)> = BinaryHeap::new();
        let mut total = 0u64;
        walk(root, 0, &mut |path, meta| {
            let name = path.to_string_lossy();
            let closed = RECORDING_EXTENSIONS.iter().any(|e| name.ends_with(e));
            if !closed && !name.ends_with(PART_SUFFIX) {
                return;
            }
            total = total.saturating_add(meta.len());
            if closed {
                oldest.push((modified_ms(meta), path.to_path_buf(), meta.len()));
                if oldest.len() > QUOTA_CANDIDATES {
                    oldest.pop();
                }
            }
        });
        let mut candidates = oldest.into_sorted_vec().into_iter();
        let mut free = free_bytes(root);
        loop {
            let over = max_bytes > 0 && total > max_bytes;
            let short = min_free_bytes > 0 && free.is_some_and(|f| f < min_free_bytes);
            if !over && !short {
                break;
            }
            let Some((_, path, size)) = candidates.next() else {
                break;
            };
            if fs::remove_file(&path).is_ok() {
                total = total.saturating_sub(size);
                remove_empty_dirs(&path, root);
                report.deleted.push((path, size));
                if short {
                    free = free_bytes(root);
                }
            }
        }
        report.usage = Some(Usage { bytes: total, free });
        Ok(())
    }
}

/// An append to a file someone removed (or whose directory was removed) would go to an inode
/// nobody can reach: refused, so the recording starts again in a new file.
fn check_linked(file: &File) -> io::Result<()> {
    if file.metadata()?.nlink() == 0 {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "the recording file was removed",
        ));
    }
    Ok(())
}

/// Writes every chunk with as few `writev` calls as the kernel allows; the bytes written.
fn write_all(mut file: &File, chunks: &[Bytes]) -> io::Result<usize> {
    let mut slices: Vec<IoSlice<'_>> = chunks
        .iter()
        .filter(|c| !c.is_empty())
        .map(|c| IoSlice::new(c))
        .collect();
    let mut rest = &mut slices[..];
    let mut written = 0;
    while !rest.is_empty() {
        let n = rest.len().min(MAX_IOVECS);
        match file.write_vectored(&rest[..n]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(k) => {
                written += k;
                IoSlice::advance_slices(&mut rest, k);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(written)
}

/// A failed file: cut back to its last whole append, renamed when it holds media, removed
/// otherwise. Its name and length if it was kept.
fn salvage(f: OpenFile) -> Option<(PathBuf, u64)> {
    let kept = f.appends > 0 && f.file.set_len(f.len).is_ok();
    drop(f.file);
    if kept && fs::rename(&f.part, &f.path).is_ok() {
        return Some((f.path, f.len));
    }
    if !kept {
        let _ = fs::remove_file(&f.part);
    }
    None
}

fn sync_dir(file: &Path) -> io::Result<()> {
    match file.parent() {
        Some(dir) => File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

fn modified_ms(meta: &fs::Metadata) -> u64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as u64)
}

/// Calls `visit` for every regular file under `dir`, `depth` levels down already, without
/// following symbolic links; unreadable directories are skipped.
fn walk(dir: &Path, depth: usize, visit: &mut dyn FnMut(&Path, &fs::Metadata)) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() && depth < MAX_DEPTH {
            walk(&path, depth + 1, visit);
        } else if meta.is_file() {
            visit(&path, &meta);
        }
    }
}

/// Removes the directories `file` was in while they are empty, up to (not including) `root`.
fn remove_empty_dirs(file: &Path, root: &Path) {
    let mut dir = file.parent();
    while let Some(d) = dir {
        if d == root || !d.starts_with(root) || fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}

/// Free bytes for an unprivileged writer on the file system of `path`.
fn free_bytes(path: &Path) -> Option<u64> {
    let s = nix::sys::statvfs::statvfs(path).ok()?;
    Some((s.blocks_available() as u64).saturating_mul(s.fragment_size() as u64))
}

/// Repairs one leftover: the length of its complete tags, cut there, renamed to the name
/// without `.part` (or removed when it holds no media).
fn repair_one(part: &Path, size: u64, modified_ms: u64) -> io::Result<Repaired> {
    let file = OpenOptions::new().read(true).write(true).open(part)?;
    let scan = if part.to_string_lossy().ends_with(MP4_PART) {
        scan_mp4(&file, size)?
    } else {
        Cut::from(scan_file(&file)?)
    };
    let path = PathBuf::from(part.to_string_lossy().trim_end_matches(PART_SUFFIX));
    let mut repaired = Repaired {
        path: None,
        part: part.to_path_buf(),
        found_bytes: size,
        kept_bytes: 0,
        duration_ms: scan.duration_ms,
        modified_ms,
    };
    let keep = scan.has_media && path.symlink_metadata().is_err();
    if keep {
        file.set_len(scan.len)?;
        file.sync_data()?;
        drop(file);
        fs::rename(part, &path)?;
        repaired.kept_bytes = scan.len;
        repaired.path = Some(path);
    } else if !scan.has_media {
        drop(file);
        fs::remove_file(part)?;
    } else {
        // Its name is taken: left as it is, reported as found.
        repaired.kept_bytes = size;
        repaired.path = Some(part.to_path_buf());
    }
    Ok(repaired)
}

/// Where a leftover is cut, whatever its format.
#[derive(Debug, Clone, Copy)]
struct Cut {
    /// Bytes kept: complete FLV tags, or complete MP4 fragments.
    len: u64,
    /// Whether those hold media (else the file is removed).
    has_media: bool,
    /// What they last, when the format says it cheaply (FLV: from the tag times; MP4: 0, the
    /// scan reads box headers only).
    duration_ms: u32,
}

impl From<TagScan> for Cut {
    fn from(scan: TagScan) -> Cut {
        Cut {
            len: scan.complete_len(),
            has_media: scan.media_tags() > 0,
            duration_ms: scan.duration_ms(),
        }
    }
}

/// The MP4 scan of a whole file of `size` bytes: its complete fragments, by box headers read
/// at the offsets the scanner asks for. A file without an init segment holds no media.
fn scan_mp4(file: &File, size: u64) -> io::Result<Cut> {
    let mut scanner = Scanner::new(size);
    let mut buf = [0u8; SCAN_READ_LEN];
    let scan = loop {
        let n = read_full_at(file, &mut buf, scanner.position())?;
        match scanner.feed(&buf[..n]) {
            Ok(Some(scan)) => break Some(scan),
            Ok(None) if n > 0 => {}
            Ok(None) | Err(_) => break None,
        }
    };
    Ok(match scan {
        Some(scan) => Cut {
            len: scan.end,
            has_media: scan.fragments > 0,
            duration_ms: 0,
        },
        None => Cut {
            len: 0,
            has_media: false,
            duration_ms: 0,
        },
    })
}

/// The FLV scan of a whole file, in [`SCAN_WINDOW`] reads at the offsets it asks for.
pub fn scan_file(file: &File) -> io::Result<TagScan> {
    let mut scan = TagScan::default();
    let mut buf = vec![0u8; SCAN_WINDOW];
    while let Some(at) = scan.want() {
        let n = read_full_at(file, &mut buf, at)?;
        if n == 0 || !matches!(scan.feed(&buf[..n]), Ok(true)) {
            break;
        }
    }
    Ok(scan)
}

/// Reads at `offset` until `buf` is full or the file ends.
pub(crate) fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], offset + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;
    use crate::wire::flv::{encode_file_header, Tag, TagType};

    /// A small FLV: header, a video tag and an audio tag, and the offsets of its tag ends.
    fn flv() -> (Vec<u8>, Vec<usize>) {
        let mut out = Vec::new();
        encode_file_header(true, true, &mut out);
        let mut ends = vec![out.len()];
        for (t, ts, body) in [
            (TagType::Video, 0, vec![0x17u8, 1, 0, 0, 0, 9, 9, 9]),
            (TagType::Audio, 40, vec![0xaf, 1, 7]),
        ] {
            Tag {
                tag_type: t,
                timestamp: ts,
                body: body.into(),
            }
            .encode(&mut out);
            ends.push(out.len());
        }
        (out, ends)
    }

    fn append(files: &mut OpenFiles, id: u32, bytes: &[u8]) -> io::Result<()> {
        let op = DiskOp::Append {
            id,
            chunks: vec![Bytes::copy_from_slice(bytes)],
            len: bytes.len(),
        };
        files.perform(op).0
    }

    #[test]
    fn a_recording_is_written_as_part_and_renamed_with_its_patches() {
        let dir = TempDir::new("dvr-disk");
        let path = dir.file("live/cam/1.flv");
        let mut files = OpenFiles::default();
        let (r, _) = files.perform(DiskOp::Open {
            id: 1,
            path: path.clone(),
        });
        r.unwrap();
        assert!(part_path(&path).exists());
        let (bytes, _) = flv();
        append(&mut files, 1, &bytes[..20]).unwrap();
        append(&mut files, 1, &bytes[20..]).unwrap();
        files.perform(DiskOp::Sync { id: 1 }).0.unwrap();
        let (r, report) = files.perform(DiskOp::Close {
            id: 1,
            patches: vec![Patch {
                offset: 5,
                bytes: *b"ABCDEFGH",
            }],
            sync: true,
        });
        r.unwrap();
        assert_eq!(report.closed, Some((path.clone(), bytes.len() as u64)));
        assert!(!part_path(&path).exists());
        let written = fs::read(&path).unwrap();
        assert_eq!(&written[5..13], b"ABCDEFGH");
        assert_eq!(written.len(), bytes.len());
        // A second file of the same name is refused; later ops on an unknown id too.
        let (r, _) = files.perform(DiskOp::Open {
            id: 2,
            path: path.clone(),
        });
        assert_eq!(r.unwrap_err().kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(
            append(&mut files, 2, b"x").unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        assert!(files.is_empty());
    }

    #[test]
    fn a_removed_file_fails_the_next_append_and_what_was_written_is_kept() {
        let dir = TempDir::new("dvr-removed");
        let path = dir.file("live/2.flv");
        let mut files = OpenFiles::default();
        files
            .perform(DiskOp::Open {
                id: 7,
                path: path.clone(),
            })
            .0
            .unwrap();
        let (bytes, _) = flv();
        append(&mut files, 7, &bytes).unwrap();
        fs::remove_dir_all(dir.file("live")).unwrap();
        let op = DiskOp::Append {
            id: 7,
            chunks: vec![Bytes::from_static(b"more")],
            len: 4,
        };
        let (r, report) = files.perform(op);
        assert_eq!(r.unwrap_err().kind(), io::ErrorKind::NotFound);
        assert_eq!(report.bytes, 4, "the queue gets its bytes back");
        assert_eq!(report.closed, None, "its directory is gone");
        assert!(files.is_empty());
        // A file that failed before any append is removed, not renamed.
        files
            .perform(DiskOp::Open {
                id: 8,
                path: path.clone(),
            })
            .0
            .unwrap();
        let (r, _) = files.perform(DiskOp::Close {
            id: 8,
            patches: vec![],
            sync: false,
        });
        r.unwrap();
        assert!(!path.exists() && !part_path(&path).exists());
    }

    #[test]
    fn leftovers_are_cut_after_their_last_tag_and_renamed() {
        let dir = TempDir::new("dvr-repair");
        let (bytes, ends) = flv();
        let root = dir.file("dvr");
        fs::create_dir_all(root.join("live/a")).unwrap();
        // Cut inside the second tag, then zeros as after a power cut.
        let mut cut = bytes[..ends[2] - 3].to_vec();
        cut.extend_from_slice(&[0; 100]);
        fs::write(root.join("live/a/1.flv.part"), &cut).unwrap();
        // Only the file header: removed.
        fs::write(root.join("live/a/2.flv.part"), &bytes[..ends[0]]).unwrap();
        // Not ours, left alone; nor a leftover of a format this build cannot cut.
        fs::write(root.join("live/a/notes.txt"), b"x").unwrap();
        fs::write(root.join("live/a/4.mkv.part"), b"x").unwrap();
        // An MP4 cut in its second fragment: kept up to the end of the first.
        let bx = |kind: &[u8; 4], body: &[u8]| {
            let mut b = ((8 + body.len()) as u32).to_be_bytes().to_vec();
            b.extend_from_slice(kind);
            b.extend_from_slice(body);
            b
        };
        let moof = |seq: u32| {
            let mut mfhd = vec![0u8; 4];
            mfhd.extend_from_slice(&seq.to_be_bytes());
            bx(b"moof", &bx(b"mfhd", &mfhd))
        };
        let mp4 = [
            bx(b"ftyp", b"isom\0\0\0\0"),
            bx(b"moov", &[0; 16]),
            moof(1),
            bx(b"mdat", &[7; 100]),
            moof(2),
            bx(b"mdat", &[7; 100]),
        ]
        .concat();
        let whole = mp4.len() - 108 - 24;
        fs::write(root.join("live/a/5.mp4.part"), &mp4[..mp4.len() - 30]).unwrap();
        let mut files = OpenFiles::default();
        // One being written now is not touched.
        files
            .perform(DiskOp::Open {
                id: 1,
                path: root.join("live/a/3.flv"),
            })
            .0
            .unwrap();
        let (r, report) = files.perform(DiskOp::Repair { root: root.clone() });
        r.unwrap();
        assert!(!report.more);
        let mut repaired = report.repaired;
        repaired.sort_by(|a, b| a.part.cmp(&b.part));
        assert_eq!(repaired.len(), 3, "{repaired:?}");
        assert_eq!(repaired[2].path, Some(root.join("live/a/5.mp4")));
        assert_eq!(repaired[2].kept_bytes, whole as u64);
        assert_eq!(fs::read(root.join("live/a/5.mp4")).unwrap(), &mp4[..whole]);
        assert_eq!(repaired[0].path, Some(root.join("live/a/1.flv")));
        assert_eq!(repaired[0].kept_bytes, ends[1] as u64);
        assert_eq!(repaired[0].found_bytes, cut.len() as u64);
        assert_eq!(repaired[1].path, None);
        assert_eq!(
            fs::read(root.join("live/a/1.flv")).unwrap(),
            &bytes[..ends[1]]
        );
        assert!(!root.join("live/a/2.flv.part").exists());
        assert!(root.join("live/a/3.flv.part").exists());
        assert!(root.join("live/a/notes.txt").exists());
        assert!(root.join("live/a/4.mkv.part").exists());
    }

    #[test]
    fn quota_deletes_the_oldest_closed_recordings() {
        let dir = TempDir::new("dvr-quota");
        let root = dir.file("dvr");
        // Fixed ages, oldest first (the tests read no clock either).
        let t0 = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        for (i, name) in [
            "live/a/1.flv",
            "live/a/2.flv",
            "live/b/3.flv",
            "live/b/4.flv",
        ]
        .iter()
        .enumerate()
        {
            let p = root.join(name);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, vec![0u8; 1000]).unwrap();
            let t = t0 + std::time::Duration::from_secs(i as u64 * 10);
            File::options()
                .write(true)
                .open(&p)
                .unwrap()
                .set_modified(t)
                .unwrap();
        }
        fs::write(root.join("live/b/5.flv.part"), vec![0u8; 1500]).unwrap();
        fs::write(root.join("live/b/keep.txt"), vec![0u8; 5000]).unwrap();
        let files = OpenFiles::default();
        let mut report = DiskReport::default();
        files.quota(&root, 3000, 0, &mut report).unwrap();
        let deleted: Vec<PathBuf> = report.deleted.iter().map(|(p, _)| p.clone()).collect();
        // 5500 bytes (the open one counts, but is not deleted): the three oldest go.
        assert_eq!(
            deleted,
            [
                root.join("live/a/1.flv"),
                root.join("live/a/2.flv"),
                root.join("live/b/3.flv")
            ]
        );
        assert_eq!(report.usage.unwrap().bytes, 2500);
        assert!(
            !root.join("live/a").exists(),
            "its empty directory went too"
        );
        assert!(root.join("live/b/keep.txt").exists());
        // Under quota: nothing more.
        let mut report = DiskReport::default();
        files.quota(&root, 3000, 0, &mut report).unwrap();
        assert!(report.deleted.is_empty());
        // Free space asked for that no deletion can give: every closed recording goes.
        let mut report = DiskReport::default();
        files.quota(&root, 0, u64::MAX, &mut report).unwrap();
        assert_eq!(report.deleted, [(root.join("live/b/4.flv"), 1000)]);
        assert!(root.join("live/b/5.flv.part").exists());
    }
}
