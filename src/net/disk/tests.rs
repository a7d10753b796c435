//! The disk thread with real and injected slow backends.

use super::*;
use crate::server::disk::{Files, OpKind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// A disk that takes `delay` per op and counts what it did.
struct Slow {
    delay: Duration,
    done: Arc<AtomicUsize>,
}

impl Backend for Slow {
    fn perform(&mut self, _op: &FileOp) -> io::Result<()> {
        std::thread::sleep(self.delay);
        self.done.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn read(&mut self, _path: &Path, _offset: u64, len: usize) -> io::Result<Bytes> {
        std::thread::sleep(self.delay);
        Ok(Bytes::from(vec![7; len]))
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn segment(n: usize) -> FileOp {
    FileOp::WriteAtomic {
        path: format!("/x/cam-{n}.ts").into(),
        chunks: vec![Bytes::from(vec![0x47; 188])],
    }
}

#[test]
fn a_slow_disk_drops_and_counts_and_submit_returns_at_once() {
    let done = Arc::new(AtomicUsize::new(0));
    let slow = Slow {
        delay: Duration::from_millis(100),
        done: done.clone(),
    };
    let (disk, mut completions) = Disk::start_with(slow).unwrap();
    let files = Files::new(Rc::new(disk.clone()));
    let extra = 10;
    let start = Instant::now();
    let mut accepted = 0;
    for n in 0..WRITE_JOBS + 1 + extra {
        let t = Instant::now();
        if files.submit(segment(n)).is_ok() {
            accepted += 1;
        }
        // Waiting for the disk would take 100 ms per op ahead.
        assert!(t.elapsed() < Duration::from_millis(50), "submit waited");
    }
    assert!(start.elapsed() < Duration::from_millis(500));
    // The thread may have taken the first op out of the queue already.
    assert!(
        (WRITE_JOBS..=WRITE_JOBS + 1).contains(&accepted),
        "{accepted}"
    );
    let dropped = (WRITE_JOBS + 1 + extra - accepted) as u64;
    assert_eq!(files.counts().dropped, dropped);
    assert!(dropped >= extra as u64);
    // Every accepted op is performed, in order, and reported.
    let rt = runtime();
    let outcomes: Vec<FileDone> = rt.block_on(async {
        let mut v = Vec::new();
        while v.len() < accepted {
            v.push(completions.recv().await.unwrap());
        }
        v
    });
    assert_eq!(done.load(Ordering::Relaxed), accepted);
    for (n, d) in outcomes.iter().enumerate() {
        assert_eq!(d.kind, OpKind::Write);
        assert_eq!(d.path, PathBuf::from(format!("/x/cam-{n}.ts")));
        assert!(d.result.is_ok());
    }
    // Room again.
    assert!(disk.try_submit(segment(99)).is_ok());
}

/// Reads go before queued writes, and a dead disk answers within READ_TIMEOUT.
#[test]
fn reads_pass_queued_writes() {
    let slow = Slow {
        delay: Duration::from_millis(50),
        done: Arc::default(),
    };
    let (disk, _completions) = Disk::start_with(slow).unwrap();
    for n in 0..WRITE_JOBS {
        disk.try_submit(segment(n)).unwrap();
    }
    let rt = runtime();
    let start = Instant::now();
    let got = rt.block_on(disk.read("/x/a".into(), 0, 3)).unwrap();
    assert_eq!(&got[..], [7, 7, 7]);
    // At most the op in progress and the read itself.
    assert!(
        start.elapsed() < Duration::from_millis(500),
        "{:?}",
        start.elapsed()
    );
    let too_long = rt.block_on(disk.read("/x/a".into(), 0, MAX_READ_LEN + 1));
    assert_eq!(too_long.unwrap_err().kind(), io::ErrorKind::InvalidInput);
}

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tinysrs-disk-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn read_at_offset_short_at_eof_no_symlinks_no_fifos() {
    let dir = scratch("read");
    let file = dir.join("index.html");
    std::fs::write(&file, b"0123456789").unwrap();
    std::os::unix::fs::symlink(&file, dir.join("link.html")).unwrap();
    nix::unistd::mkfifo(&dir.join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    let (disk, _completions) = Disk::start().unwrap();
    let rt = runtime();
    let read = |name: &str, offset, len| rt.block_on(disk.read(dir.join(name), offset, len));
    assert_eq!(&read("index.html", 0, 4).unwrap()[..], b"0123");
    assert_eq!(&read("index.html", 3, 4).unwrap()[..], b"3456");
    assert_eq!(&read("index.html", 7, 100).unwrap()[..], b"789");
    assert!(read("index.html", 10, 100).unwrap().is_empty());
    assert!(read("index.html", 99, 100).unwrap().is_empty());
    assert_eq!(
        read("missing", 0, 1).unwrap_err().kind(),
        io::ErrorKind::NotFound
    );
    // O_NOFOLLOW: ELOOP.
    let e = read("link.html", 0, 1).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(nix::libc::ELOOP), "{e}");
    assert_eq!(
        read("fifo", 0, 1).unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );
    assert_eq!(
        read("", 0, 1).unwrap_err().kind(),
        io::ErrorKind::InvalidInput,
        "a directory"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_real_file_system_writes_and_removes_and_reports() {
    let dir = scratch("write");
    let (disk, mut completions) = Disk::start().unwrap();
    let path = dir.join("live/cam-0.ts");
    disk.try_submit(FileOp::WriteAtomic {
        path: path.clone(),
        chunks: vec![Bytes::from_static(b"abc"), Bytes::from_static(b"de")],
    })
    .unwrap();
    let rt = runtime();
    let d = rt.block_on(completions.recv()).unwrap();
    assert!(d.result.is_ok() && d.path == path);
    assert_eq!(std::fs::read(&path).unwrap(), b"abcde");
    disk.try_submit(FileOp::Remove(path.clone())).unwrap();
    let d = rt.block_on(completions.recv()).unwrap();
    assert!(d.result.is_ok() && d.kind == OpKind::Remove);
    assert!(!path.exists());
    // The last handle gone: the thread finishes and the completions end.
    drop(disk);
    assert!(rt.block_on(completions.recv()).is_none());
    let _ = std::fs::remove_dir_all(&dir);
}
