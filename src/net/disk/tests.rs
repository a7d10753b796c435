//! The disk thread with real and injected slow backends.

use super::*;
use crate::server::disk::{Files, OpKind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc as std_mpsc;

/// How long a gated op waits for its token before it goes on anyway (a broken test ends).
const GATE_TIMEOUT: Duration = Duration::from_secs(10);

/// A disk whose writes each wait for a token from the test: the thread is stuck in the
/// kernel, for as long as the test says. It reports each op it starts and counts what it
/// finished, so the tests do not depend on how fast the machine (or qemu) is.
struct Gated {
    tokens: std_mpsc::Receiver<()>,
    started: std_mpsc::Sender<String>,
    done: Arc<AtomicUsize>,
}

impl Backend for Gated {
    fn perform(&mut self, op: FileOp) -> FileDone {
        let path = op.path().to_path_buf();
        let _ = self.started.send(format!("write {}", path.display()));
        let _ = self.tokens.recv_timeout(GATE_TIMEOUT);
        self.done.fetch_add(1, Ordering::Relaxed);
        FileDone {
            kind: op.kind(),
            path,
            result: Ok(()),
            report: Default::default(),
        }
    }

    fn read(&mut self, path: &Path, _offset: u64, len: usize) -> io::Result<Bytes> {
        let _ = self.started.send(format!("read {}", path.display()));
        Ok(Bytes::from(vec![7; len]))
    }
}

struct Gate {
    tokens: std_mpsc::Sender<()>,
    started: std_mpsc::Receiver<String>,
    done: Arc<AtomicUsize>,
}

impl Gate {
    fn open(&self, ops: usize) {
        for _ in 0..ops {
            self.tokens.send(()).unwrap();
        }
    }

    fn next_started(&self) -> String {
        self.started.recv_timeout(GATE_TIMEOUT).unwrap()
    }
}

fn gated() -> (Disk, Completions, Gate) {
    let (tokens_tx, tokens) = std_mpsc::channel();
    let (started, started_rx) = std_mpsc::channel();
    let done = Arc::new(AtomicUsize::new(0));
    let backend = Gated {
        tokens,
        started,
        done: done.clone(),
    };
    let (disk, completions) = Disk::start_with(backend).unwrap();
    let gate = Gate {
        tokens: tokens_tx,
        started: started_rx,
        done,
    };
    (disk, completions, gate)
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
fn a_stuck_disk_drops_and_counts_and_submit_returns_at_once() {
    let (disk, mut completions, gate) = gated();
    let files = Files::new(Rc::new(disk.clone()));
    // The thread takes op 0 and sticks in it.
    assert!(files.submit(segment(0)).is_ok());
    assert_eq!(gate.next_started(), "write /x/cam-0.ts");
    let extra = 10;
    let accepted: Vec<usize> = (1..=WRITE_JOBS + extra)
        .filter(|&n| files.submit(segment(n)).is_ok())
        .collect();
    // Every submit came back while the disk had finished nothing: none waited for it.
    assert_eq!(gate.done.load(Ordering::Relaxed), 0);
    assert_eq!(accepted, (1..=WRITE_JOBS).collect::<Vec<_>>());
    assert_eq!(files.counts().dropped, extra as u64);
    // The disk comes back: every accepted op is performed, in order, and reported.
    gate.open(WRITE_JOBS + 1);
    let rt = runtime();
    let outcomes: Vec<FileDone> = rt.block_on(async {
        let mut v = Vec::new();
        while v.len() < WRITE_JOBS + 1 {
            v.push(completions.recv().await.unwrap());
        }
        v
    });
    assert_eq!(gate.done.load(Ordering::Relaxed), WRITE_JOBS + 1);
    for (n, d) in outcomes.iter().enumerate() {
        assert_eq!(d.kind, OpKind::Write);
        assert_eq!(d.path, PathBuf::from(format!("/x/cam-{n}.ts")));
        assert!(d.result.is_ok());
    }
    // Room again.
    assert!(disk.try_submit(segment(99)).is_ok());
    gate.open(1);
}

/// A read queued behind a full write queue is the next thing the thread does.
#[test]
fn reads_pass_queued_writes() {
    let (disk, _completions, gate) = gated();
    disk.try_submit(segment(0)).unwrap();
    assert_eq!(gate.next_started(), "write /x/cam-0.ts");
    for n in 1..=WRITE_JOBS {
        disk.try_submit(segment(n)).unwrap();
    }
    let rt = runtime();
    let got = rt.block_on(async {
        let read = disk.read("/x/a".into(), 0, 3);
        tokio::pin!(read);
        // Queued (first poll) while the thread is stuck in op 0.
        let early = tokio::time::timeout(Duration::from_millis(20), &mut read).await;
        assert!(early.is_err(), "answered while the disk was stuck");
        gate.open(1);
        read.await
    });
    assert_eq!(&got.unwrap()[..], [7, 7, 7]);
    assert_eq!(gate.next_started(), "read /x/a");
    assert_eq!(gate.next_started(), "write /x/cam-1.ts");
    let too_long = rt.block_on(disk.read("/x/a".into(), 0, MAX_READ_LEN + 1));
    assert_eq!(too_long.unwrap_err().kind(), io::ErrorKind::InvalidInput);
    gate.open(WRITE_JOBS);
}
/// A plan runs on the disk thread, ahead of queued writes, like a read; a plan whose caller
/// went away is skipped.
#[test]
fn plans_run_on_the_thread_and_pass_queued_writes() {
    let (disk, _completions, gate) = gated();
    disk.try_submit(segment(0)).unwrap();
    assert_eq!(gate.next_started(), "write /x/cam-0.ts");
    disk.try_submit(segment(1)).unwrap();
    let rt = runtime();
    let ran = Arc::new(AtomicUsize::new(0));
    let (r1, r2) = (ran.clone(), ran.clone());
    let got = rt.block_on(async {
        // A plan whose caller gives up while it is queued.
        let abandoned = disk.plan(move || r1.fetch_add(1, Ordering::Relaxed));
        let early = tokio::time::timeout(Duration::from_millis(20), abandoned).await;
        assert!(early.is_err(), "answered while the disk was stuck");
        let plan = disk.plan(move || {
            r2.fetch_add(10, Ordering::Relaxed);
            std::thread::current().name().map(str::to_owned)
        });
        tokio::pin!(plan);
        let early = tokio::time::timeout(Duration::from_millis(20), &mut plan).await;
        assert!(early.is_err(), "answered while the disk was stuck");
        gate.open(1);
        plan.await
    });
    assert_eq!(got.unwrap().as_deref(), Some("tinysrs-disk"));
    assert_eq!(
        ran.load(Ordering::Relaxed),
        10,
        "the abandoned plan was skipped"
    );
    // Both plans went before the queued write.
    assert_eq!(gate.next_started(), "write /x/cam-1.ts");
    gate.open(1);
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
