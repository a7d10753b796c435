//! File work the server layer asks for, described as plain values ([`FileOp`]) and handed to a
//! [`FileSink`]; the `net` layer's disk thread (`net::disk`) performs them off the event loop
//! and reports each outcome back as a [`FileDone`].
//!
//! # What a caller must know
//! * [`FileSink::submit`] never blocks and never waits for the disk: when the sink's queue is
//!   full the op comes back in [`Dropped`]. [`Files`] counts the drops (and failures) for the
//!   API and logs them at a limited rate ([`Files::log_report`]); the caller decides what a
//!   dropped op costs (HLS keeps a segment in RAM, retries a removal later).
//! * Ops are performed one at a time, in the order they were accepted: a playlist submitted
//!   after a segment is written after it, a removal submitted after a write removes the file
//!   written, a recording's appends land in order.
//! * Recording ops ([`FileOp::Dvr`], `server::dvr::disk`) need files kept open between ops:
//!   the thread performs every op through a [`DiskState`]. Their refusals are not counted as
//!   drops ([`Files::offer`]): a recorder keeps the op and offers it again.
//! * [`FileOp::perform`] is blocking file I/O. Only the disk thread (and tests) call it,
//!   never the event loop.
//!
//! Not supported: cancelling an accepted op, ops on anything but regular files and their
//! directories.

use std::cell::RefCell;
use std::fmt;
use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use bytes::Bytes;

use super::RateLimit;

/// One piece of file work.
#[derive(Debug)]
pub enum FileOp {
    /// Creates the parent directories, writes the chunks to `path` + `.tmp`, then renames it
    /// to `path`, so a reader sees the whole file or none of it.
    WriteAtomic { path: PathBuf, chunks: Vec<Bytes> },
    /// Removes the file `path`; one already gone is not an error.
    Remove(PathBuf),
    /// Recording work (`server::dvr`), done with the files the thread keeps open
    /// ([`DiskState`]).
    #[cfg(feature = "dvr")]
    Dvr(super::dvr::DiskOp),
}

impl FileOp {
    /// The file the op is about (a recording's path or root; empty for an op on a recording
    /// already open, which its id names).
    pub fn path(&self) -> &Path {
        match self {
            FileOp::WriteAtomic { path, .. } | FileOp::Remove(path) => path,
            #[cfg(feature = "dvr")]
            FileOp::Dvr(op) => op.path(),
        }
    }

    pub fn kind(&self) -> OpKind {
        match self {
            FileOp::WriteAtomic { .. } => OpKind::Write,
            FileOp::Remove(_) => OpKind::Remove,
            #[cfg(feature = "dvr")]
            FileOp::Dvr(_) => OpKind::Record,
        }
    }

    /// Performs a stateless op with blocking `std::fs` calls (the disk thread's job; see
    /// [`DiskState::perform`] for every op).
    pub fn perform(&self) -> io::Result<()> {
        match self {
            FileOp::WriteAtomic { path, chunks } => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                let tmp = tmp_path(path);
                let mut f = std::fs::File::create(&tmp)?;
                for c in chunks {
                    f.write_all(c)?;
                }
                drop(f);
                std::fs::rename(&tmp, path)
            }
            FileOp::Remove(path) => match std::fs::remove_file(path) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                r => r,
            },
            #[cfg(feature = "dvr")]
            FileOp::Dvr(_) => Err(io::Error::other("a recording op needs the disk state")),
        }
    }
}

/// What the disk thread keeps between ops: the recordings it has open.
#[derive(Debug, Default)]
pub struct DiskState {
    #[cfg(feature = "dvr")]
    dvr: super::dvr::disk::OpenFiles,
}

impl DiskState {
    /// Performs any op (blocking: the disk thread's job) and says how it went.
    pub fn perform(&mut self, op: FileOp) -> FileDone {
        let (kind, path) = (op.kind(), op.path().to_path_buf());
        let (result, report) = match op {
            #[cfg(feature = "dvr")]
            FileOp::Dvr(op) => {
                let (result, report) = self.dvr.perform(op);
                (result, OpReport::Dvr(Box::new(report)))
            }
            op => (op.perform(), OpReport::None),
        };
        FileDone {
            kind,
            path,
            result,
            report,
        }
    }
}

/// Where [`FileOp::WriteAtomic`] writes before the rename: `path` + `.tmp`.
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

/// What an op did, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Write,
    Remove,
    /// Recording work (its report says which).
    Record,
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OpKind::Write => "write",
            OpKind::Remove => "remove",
            OpKind::Record => "recording op",
        })
    }
}

/// An op the sink refused because its queue was full (or its thread is gone); the op comes
/// back to the caller, unperformed.
#[derive(Debug)]
pub struct Dropped(pub FileOp);

/// The outcome of one accepted op, reported back on the event loop.
#[derive(Debug)]
pub struct FileDone {
    pub kind: OpKind,
    pub path: PathBuf,
    pub result: io::Result<()>,
    pub report: OpReport,
}

/// What an op found besides its result.
#[derive(Debug, Default)]
pub enum OpReport {
    #[default]
    None,
    /// A recording op's: the file, bytes, repairs, deletions (`server::dvr`).
    #[cfg(feature = "dvr")]
    Dvr(Box<super::dvr::DiskReport>),
}

/// Where the server layer sends file work. Implemented by `net::disk::Disk` (a thread);
/// tests use a recording fake.
pub trait FileSink {
    /// Queues `op` without blocking, or gives it back when the queue is full.
    fn submit(&self, op: FileOp) -> Result<(), Dropped>;
}

/// A sink that refuses everything: a server without a disk thread (builds without HTTP,
/// unit tests of other layers). Every op counts as dropped.
pub struct NoDisk;

impl FileSink for NoDisk {
    fn submit(&self, op: FileOp) -> Result<(), Dropped> {
        Err(Dropped(op))
    }
}

/// Counts of file work, for `/api/v1/summaries`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileCounts {
    /// Ops refused because the disk queue was full (the disk is slower than the streams).
    pub dropped: u64,
    /// Ops performed with an error.
    pub failed: u64,
}

#[derive(Default)]
struct Report {
    counts: FileCounts,
    /// The counts when the last report line was logged.
    logged: FileCounts,
    last_dropped: Option<(OpKind, PathBuf)>,
    last_failed: Option<(OpKind, PathBuf, String)>,
    limit: RateLimit,
}

/// The sink every stream shares, with the drop and failure counts. Cloning shares both.
#[derive(Clone)]
pub struct Files {
    sink: Rc<dyn FileSink>,
    report: Rc<RefCell<Report>>,
}

impl fmt::Debug for Files {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Files").field(&self.counts()).finish()
    }
}

impl Files {
    pub fn new(sink: Rc<dyn FileSink>) -> Files {
        Files {
            sink,
            report: Rc::default(),
        }
    }

    /// Submits `op` without counting a refusal: the caller keeps the op and offers it again
    /// (recordings, whose every byte matters, wait in their own bounded queue).
    pub fn offer(&self, op: FileOp) -> Result<(), Dropped> {
        self.sink.submit(op)
    }

    /// Submits `op`; a drop is counted (and logged later by [`Self::log_report`]).
    pub fn submit(&self, op: FileOp) -> Result<(), Dropped> {
        self.sink.submit(op).inspect_err(|Dropped(op)| {
            let mut r = self.report.borrow_mut();
            r.counts.dropped += 1;
            r.last_dropped = Some((op.kind(), op.path().to_path_buf()));
        })
    }

    /// Counts a failed op; the caller acts on the outcome itself.
    pub fn note_done(&self, done: &FileDone) {
        if let Err(e) = &done.result {
            let mut r = self.report.borrow_mut();
            r.counts.failed += 1;
            r.last_failed = Some((done.kind, done.path.clone(), e.to_string()));
        }
    }

    pub fn counts(&self) -> FileCounts {
        self.report.borrow().counts
    }

    /// The drops and failures since the last line, as warn lines, at most
    /// `RateLimit::BURST` lines per `RateLimit::WINDOW_MS`. The driver calls it once a second.
    pub fn log_report(&self, now_ms: u64) {
        let mut r = self.report.borrow_mut();
        if r.counts == r.logged {
            return;
        }
        if !r.limit.allow(now_ms) {
            return;
        }
        let new_dropped = r.counts.dropped - r.logged.dropped;
        if new_dropped > 0 {
            if let Some((kind, path)) = &r.last_dropped {
                log::warn!(
                    "disk too slow: dropped {new_dropped} file ops ({} in all; queue full), \
                     the last a {kind} of {}",
                    r.counts.dropped,
                    path.display()
                );
            }
        }
        let new_failed = r.counts.failed - r.logged.failed;
        if new_failed > 0 {
            if let Some((kind, path, e)) = &r.last_failed {
                log::warn!(
                    "disk: {new_failed} file ops failed ({} in all), the last a {kind} of {}: {e}",
                    r.counts.failed,
                    path.display()
                );
            }
        }
        r.logged = r.counts;
    }
}

/// What the disk thread reported, delivered on the event loop: counted, then handed to the
/// HLS stream that wrote the file or to the recorder.
pub fn handle_done(ctx: &super::ServerCtx, done: FileDone) {
    #[cfg(feature = "dvr")]
    if done.kind == OpKind::Record {
        // Recording failures are the recorder's to report (once per failure, not per op).
        return super::dvr::handle_done(ctx, &done);
    }
    ctx.files.note_done(&done);
    #[cfg(feature = "hls")]
    if done.kind == OpKind::Write {
        let ok = done.result.is_ok();
        // Clone the streams out so no registry borrow is held while a stream submits.
        let streams: Vec<_> = ctx.hls.borrow().values().cloned().collect();
        for s in streams {
            if s.borrow_mut().handle_written(&done.path, ok) {
                break;
            }
        }
    }
}

/// Blocking: for the disk thread only (`net::disk`). Opens `path` without following a symlink in its last component (and without blocking on
/// a FIFO), checks it is a regular file, and reads up to `len` bytes from `offset`: fewer only
/// at the end of the file.
pub fn read_file(path: &Path, offset: u64, len: usize) -> io::Result<Bytes> {
    use nix::fcntl::OFlag;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags((OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK).bits())
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let left = meta.len().saturating_sub(offset);
    let want = len.min(usize::try_from(left).unwrap_or(usize::MAX));
    file.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::with_capacity(want);
    // `take` stops at `len` even if the file grew since the fstat.
    (&mut file).take(want as u64).read_to_end(&mut buf)?;
    Ok(Bytes::from(buf))
}

#[cfg(test)]
pub mod testing {
    //! Sinks for tests of the server layer: no thread, the test decides when ops run.

    use super::*;
    use std::collections::VecDeque;

    /// Records ops; `capacity` of them at most are pending, the rest are dropped.
    pub struct Recorder {
        pub pending: RefCell<VecDeque<FileOp>>,
        pub capacity: usize,
    }

    impl Recorder {
        pub fn new(capacity: usize) -> Rc<Recorder> {
            Rc::new(Recorder {
                pending: RefCell::default(),
                capacity,
            })
        }

        pub fn take(&self) -> Option<FileOp> {
            self.pending.borrow_mut().pop_front()
        }
    }

    impl FileSink for Recorder {
        fn submit(&self, op: FileOp) -> Result<(), Dropped> {
            let mut p = self.pending.borrow_mut();
            if p.len() >= self.capacity {
                return Err(Dropped(op));
            }
            p.push_back(op);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::Recorder;
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tinysrs-files-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn write_atomic_creates_dirs_and_renames_and_remove_forgives_missing_files() {
        let dir = scratch("atomic");
        let path = dir.join("a/b/cam-0.ts");
        let op = FileOp::WriteAtomic {
            path: path.clone(),
            chunks: vec![Bytes::from_static(b"\x47abc"), Bytes::from_static(b"def")],
        };
        op.perform().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"\x47abcdef");
        assert!(!tmp_path(&path).exists());
        assert_eq!(tmp_path(&path), dir.join("a/b/cam-0.ts.tmp"));
        FileOp::Remove(path.clone()).perform().unwrap();
        assert!(!path.exists());
        FileOp::Remove(path.clone()).perform().unwrap();
        // A directory where the file should go: the write fails, nothing panics.
        std::fs::create_dir_all(&path).unwrap();
        let op = FileOp::WriteAtomic {
            path: path.clone(),
            chunks: vec![],
        };
        assert!(op.perform().is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn drops_and_failures_are_counted() {
        let rec = Recorder::new(1);
        let files = Files::new(rec.clone());
        assert!(files.submit(FileOp::Remove("x".into())).is_ok());
        let Err(Dropped(back)) = files.submit(FileOp::Remove("y".into())) else {
            panic!("a full sink drops");
        };
        assert_eq!(back.path(), Path::new("y"));
        files.note_done(&FileDone {
            kind: OpKind::Write,
            path: "z".into(),
            result: Err(io::ErrorKind::PermissionDenied.into()),
            report: OpReport::None,
        });
        files.note_done(&FileDone {
            kind: OpKind::Remove,
            path: "x".into(),
            result: Ok(()),
            report: OpReport::None,
        });
        assert_eq!(
            files.counts(),
            FileCounts {
                dropped: 1,
                failed: 1
            }
        );
        files.log_report(0);
        assert_eq!(files.report.borrow().logged, files.counts());
        let none = Files::new(Rc::new(NoDisk));
        assert!(none.submit(FileOp::Remove("x".into())).is_err());
        assert_eq!(none.counts().dropped, 1);
    }
}
