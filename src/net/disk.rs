//! The disk thread: file work leaves the event loop. One dedicated thread ("tinysrs-disk")
//! performs [`FileOp`]s and reads files, fed by two bounded queues; tokio stays on its one
//! thread for all network work. A disk slower than the streams (an SD card that stalls for
//! 100 ms, or for good) makes the file work fall behind and drop, counted; it never stalls a
//! network task.
//!
//! # What a caller must know
//! * Writes are fire-and-forget: [`Disk::try_submit`] takes the queue's lock (held by the
//!   thread only to pop a job, never during I/O) and returns at once; past [`WRITE_JOBS`] the
//!   op comes back in [`Dropped`]. Outcomes come back in order through [`Completions`]
//!   (bounded: the thread waits for room there, never the event loop).
//! * Reads ([`Disk::read`]) are served before queued writes, wait for one of [`READ_JOBS`]
//!   slots asynchronously, and give up after [`READ_TIMEOUT`] (a dead disk answers
//!   `TimedOut`, it does not hang the request for ever). A read whose caller went away is
//!   skipped.
//! * Plans ([`Disk::plan`]: a closure that looks at the file system, e.g. an HTTP request's
//!   path resolution) share the reads' queue, slots, priority and timeout.
//! * The thread is detached: it is not joined at shutdown, so a thread stuck in the kernel
//!   (a dead card, a FIFO nobody opens) does not keep the process from exiting. When every
//!   [`Disk`] handle is gone it finishes the queued work and ends.
//!
//! RAM: [`WRITE_JOBS`] queued ops, each holding references to one segment's TS packets (at
//! most the segment cap of its vhost, `hls_max_bytes / (hls_window / hls_fragment + 4)`,
//! usually the same bytes its stream still holds) or a recording's batch (counted in its
//! recorder's `dvr_queue_bytes`), the recordings open (a handle each), [`DONE_SLOTS`] outcomes (a path each), the
//! thread's stack ([`STACK_BYTES`]) and one read buffer of at most [`MAX_READ_LEN`], owned by
//! the caller once read. `limits::Limits` counts them.

use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};

use crate::server::disk::{read_file, DiskState, Dropped, FileDone, FileOp, FileSink};
use crate::server::ServerCtx;

/// File ops queued for the thread at most; the next is dropped (counted). A stream closing a
/// segment queues two or three (segment, old segment's removal, playlist), each taking a few
/// ms on a healthy card, so 16 absorb several streams cutting at once and a stall of a few
/// segments. RAM: 16 × the largest segment cap (references, see the module doc).
pub const WRITE_JOBS: usize = 16;

/// Reads and plans queued at most; more callers wait (asynchronously) for a slot. A queued
/// read holds its path only, a plan its closure (a request's path and settings).
pub const READ_JOBS: usize = 8;

/// Outcomes of ops waiting for the event loop; past it the thread waits. About 64 bytes + a
/// path each.
pub const DONE_SLOTS: usize = 32;

/// Longest read: its buffer is allocated before reading (at most the bytes left in the file).
pub const MAX_READ_LEN: usize = 1024 * 1024;

/// How long a read waits for a slot and the disk before it answers `TimedOut`.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The thread's stack: file calls and small buffers only (virtual; touched pages count).
pub const STACK_BYTES: usize = 128 * 1024;

/// What performs the file work on the thread: the real file system ([`StdFs`]) or, in
/// tests, one that is slow or fails.
pub trait Backend: Send + 'static {
    fn perform(&mut self, op: FileOp) -> FileDone;
    fn read(&mut self, path: &Path, offset: u64, len: usize) -> io::Result<Bytes>;
}

/// Blocking `std::fs` calls, and the recordings open between them.
#[derive(Default)]
pub struct StdFs(DiskState);

impl Backend for StdFs {
    fn perform(&mut self, op: FileOp) -> FileDone {
        self.0.perform(op)
    }

    fn read(&mut self, path: &Path, offset: u64, len: usize) -> io::Result<Bytes> {
        read_file(path, offset, len)
    }
}

/// What a [`Query`] does on the thread.
type QueryFn = Box<dyn FnOnce(&mut dyn Backend) + Send>;

/// A read or a plan: runs on the thread, answers through the oneshot it captured (and skips
/// itself when that caller went away).
struct Query {
    run: QueryFn,
    /// The query's slot, given back when the job is done.
    _slot: OwnedSemaphorePermit,
}

#[derive(Default)]
struct State {
    writes: VecDeque<FileOp>,
    reads: VecDeque<Query>,
    closed: bool,
}

#[derive(Default)]
struct Queue {
    state: Mutex<State>,
    ready: Condvar,
}

impl Queue {
    /// A poisoned lock (a panic on the other side) still holds consistent queues.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Closes the queue when the last [`Disk`] handle goes.
struct Handle {
    queue: Arc<Queue>,
    read_slots: Arc<Semaphore>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.queue.lock().closed = true;
        self.queue.ready.notify_one();
    }
}

/// The event loop's handle on the disk thread. Cloning shares it.
#[derive(Clone)]
pub struct Disk(Rc<Handle>);

/// Outcomes of accepted ops, in order, for the event loop.
pub struct Completions(mpsc::Receiver<FileDone>);

impl Completions {
    pub async fn recv(&mut self) -> Option<FileDone> {
        self.0.recv().await
    }

    /// Hands every outcome to the server layer, until the thread is gone.
    pub async fn run(mut self, ctx: ServerCtx) {
        while let Some(done) = self.recv().await {
            crate::server::disk::handle_done(&ctx, done);
        }
    }
}

impl Disk {
    /// Starts the thread on the real file system.
    pub fn start() -> io::Result<(Disk, Completions)> {
        Self::start_with(StdFs::default())
    }

    pub fn start_with(backend: impl Backend) -> io::Result<(Disk, Completions)> {
        let queue = Arc::new(Queue::default());
        let (done_tx, done_rx) = mpsc::channel(DONE_SLOTS);
        let q = queue.clone();
        std::thread::Builder::new()
            .name("tinysrs-disk".into())
            .stack_size(STACK_BYTES)
            .spawn(move || work(&q, backend, &done_tx))?;
        let handle = Handle {
            queue,
            read_slots: Arc::new(Semaphore::new(READ_JOBS)),
        };
        Ok((Disk(Rc::new(handle)), Completions(done_rx)))
    }

    /// Queues `op` for the thread, or gives it back at once when [`WRITE_JOBS`] are queued.
    pub fn try_submit(&self, op: FileOp) -> Result<(), Dropped> {
        let mut s = self.0.queue.lock();
        if s.closed || s.writes.len() >= WRITE_JOBS {
            return Err(Dropped(op));
        }
        s.writes.push_back(op);
        drop(s);
        self.0.queue.ready.notify_one();
        Ok(())
    }

    /// Reads up to `len` bytes of the regular file `path` from `offset` on the disk thread:
    /// fewer only at the end of the file. The last component must not be a symlink
    /// (`O_NOFOLLOW`: the caller resolved the path). Errors: the file's (`NotFound`, ...),
    /// `InvalidInput` for anything but a regular file or `len` over [`MAX_READ_LEN`],
    /// `TimedOut` after [`READ_TIMEOUT`].
    pub async fn read(&self, path: PathBuf, offset: u64, len: usize) -> io::Result<Bytes> {
        if len > MAX_READ_LEN {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("read of {len} bytes over MAX_READ_LEN"),
            ));
        }
        self.query(move |backend| backend.read(&path, offset, len))
            .await?
    }

    /// Runs `work` on the disk thread, queued and prioritised like a read (one of
    /// [`READ_JOBS`] slots, [`READ_TIMEOUT`], skipped if the caller went away). For work
    /// that looks at the file system (metadata, canonical paths, a scan of a few KB),
    /// which must not run on the event loop. Errors: `TimedOut`, or `Other` when the thread
    /// is gone.
    pub async fn plan<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> io::Result<T> {
        self.query(move |_| work()).await
    }

    /// Queues `run` for the thread's read queue and waits for its answer.
    async fn query<T: Send + 'static>(
        &self,
        run: impl FnOnce(&mut dyn Backend) -> T + Send + 'static,
    ) -> io::Result<T> {
        let slots = self.0.read_slots.clone();
        let queue = self.0.queue.clone();
        let query = async move {
            let slot = slots
                .acquire_owned()
                .await
                .map_err(|_| io::Error::other("disk thread gone"))?;
            let (reply, answer) = oneshot::channel();
            let run = move |backend: &mut dyn Backend| {
                if !reply.is_closed() {
                    let _ = reply.send(run(backend));
                }
            };
            {
                let mut s = queue.lock();
                if s.closed {
                    return Err(io::Error::other("disk thread gone"));
                }
                s.reads.push_back(Query {
                    run: Box::new(run),
                    _slot: slot,
                });
            }
            queue.ready.notify_one();
            answer
                .await
                .map_err(|_| io::Error::other("disk thread gone"))
        };
        match tokio::time::timeout(READ_TIMEOUT, query).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the disk did not answer",
            )),
        }
    }
}

impl FileSink for Disk {
    fn submit(&self, op: FileOp) -> Result<(), Dropped> {
        self.try_submit(op)
    }
}

enum Job {
    Read(Query),
    Write(FileOp),
}

/// The thread: reads and plans first, then writes, one at a time, until closed and empty.
fn work(queue: &Queue, mut backend: impl Backend, done: &mpsc::Sender<FileDone>) {
    loop {
        let job = {
            let mut s = queue.lock();
            loop {
                if let Some(r) = s.reads.pop_front() {
                    break Job::Read(r);
                }
                if let Some(w) = s.writes.pop_front() {
                    break Job::Write(w);
                }
                if s.closed {
                    return;
                }
                s = queue.ready.wait(s).unwrap_or_else(|p| p.into_inner());
            }
        };
        match job {
            Job::Read(query) => (query.run)(&mut backend),
            Job::Write(op) => {
                let outcome = backend.perform(op);
                // The event loop gone (shutdown): outcomes no longer matter.
                let _ = done.blocking_send(outcome);
            }
        }
    }
}

#[cfg(test)]
mod tests;
