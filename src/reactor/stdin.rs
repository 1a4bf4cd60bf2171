//! A child's stdin, written the way libuv writes a pipe: when nothing is
//! queued on the reactor for that pipe, the caller writes the chunk itself,
//! straight from JavaScript's memory, as far as the (non-blocking) pipe takes
//! it (`uv_try_write`); the rest is queued for the reactor — copied when it
//! is small, or *borrowed* when it is large: the reactor then writes from
//! the caller's memory, which JavaScript keeps alive (and the stream's
//! callback waits) until the reactor reports it written (`uv_write`). A
//! 1 GiB stream through `cat` is then never copied in user space.
//!
//! # Borrowed memory
//!
//! A borrowed chunk points into a JavaScript Buffer. JavaScript keeps that
//! Buffer referenced until the chunk's WRITTEN or WRITE_FAILED event, or until
//! it releases the child; the environment's teardown frees it. Both release
//! and teardown call [`StdinLink::revoke`], which takes the link's mutex:
//! the reactor writes queued chunks only while holding that mutex and only
//! when the link is not revoked, so once `revoke` returns no write is running
//! and none will touch the memory again.
//!
//! # States (all under the link's mutex)
//!
//! * `fd: None` — not spawned yet, stdin not piped, or stdin closed: every
//!   write is queued (and fails on the reactor if stdin is gone).
//! * `fd: Some`, `pending > 0` — earlier writes wait on the reactor: a new
//!   write must queue behind them, or bytes would reach the child out of
//!   order.
//! * `fd: Some`, `pending == 0` — the caller may write directly.
//!
//! `pending` counts writes handed to the reactor and not yet finished: the
//! caller adds one *before* it submits the command, the reactor subtracts it
//! when the write is flushed (or dropped). The descriptor belongs to the
//! reactor's `Child`; the reactor clears `fd` under the mutex before it
//! closes or drops it, and the caller uses `fd` only while holding the
//! mutex, so a direct write never reaches a closed (or reused) descriptor.
//! The mutex is held by the reactor only around its own non-blocking writes
//! (at most one pipe buffer, a megabyte) and by the caller around its own.

use std::os::fd::RawFd;
use std::sync::{Arc, Mutex};

use super::sys;
use crate::lock::lock;

#[derive(Default)]
struct LinkState {
    fd: Option<RawFd>,
    pending: usize,
    revoked: bool,
}

/// A queued stdin write.
pub enum Chunk {
    /// A copy, owned by the queue.
    Owned(Vec<u8>),
    /// `len` bytes at `ptr` in JavaScript memory (see "Borrowed memory").
    Borrowed(Borrowed),
}

/// A pointer into a JavaScript Buffer, valid until its link is revoked.
pub struct Borrowed {
    ptr: *const u8,
    len: usize,
}

// SAFETY: the pointer is only dereferenced by the reactor thread, under the
// link's mutex and only while the link is not revoked (see "Borrowed
// memory"); the bytes behind it are not mutated by spindle.
unsafe impl Send for Borrowed {}

impl Borrowed {
    /// # Safety
    /// `data` must stay valid and unmoved until the chunk is reported written
    /// or failed, or until its link is revoked, whichever comes first.
    pub unsafe fn new(data: &[u8]) -> Borrowed {
        Borrowed {
            ptr: data.as_ptr(),
            len: data.len(),
        }
    }
}

impl Chunk {
    pub fn len(&self) -> usize {
        match self {
            Chunk::Owned(v) => v.len(),
            Chunk::Borrowed(b) => b.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The stdin handshake of one child, shared by the caller and the reactor.
#[derive(Default)]
pub struct StdinLink {
    state: Mutex<LinkState>,
}

/// What [`StdinLink::try_write`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryWrite {
    /// The first `n` bytes went into the pipe (possibly all of them); the
    /// rest, if any, must be queued — it has been counted as pending.
    Wrote(usize),
    /// The pipe refused: `errno` (EPIPE when the child closed its stdin).
    Failed(i32),
}

impl StdinLink {
    pub fn new() -> Arc<StdinLink> {
        Arc::new(StdinLink::default())
    }

    /// Caller's thread: writes as much of `data` as the pipe takes now, if
    /// nothing waits before it. Whatever is not written must then be queued.
    pub fn try_write(&self, data: &[u8]) -> TryWrite {
        let mut s = lock(&self.state);
        let Some(fd) = s.fd.filter(|_| s.pending == 0 && !s.revoked) else {
            s.pending += 1;
            return TryWrite::Wrote(0);
        };
        let mut done = 0;
        while done < data.len() {
            match sys::write_raw(fd, &data[done..]) {
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => return TryWrite::Failed(e.raw_os_error().unwrap_or(libc::EIO)),
            }
        }
        if done < data.len() {
            s.pending += 1;
        }
        TryWrite::Wrote(done)
    }

    /// Reactor: writes `chunk[offset..]` once to `fd`, holding the mutex so
    /// that a revocation waits for it. `None`: the link was revoked (the
    /// owner let go of borrowed memory); the queue must be dropped unwritten.
    pub fn write_queued(
        &self,
        fd: &std::os::fd::OwnedFd,
        chunk: &Chunk,
        offset: usize,
    ) -> Option<std::io::Result<usize>> {
        let s = lock(&self.state);
        if s.revoked {
            return None;
        }
        let bytes: &[u8] = match chunk {
            Chunk::Owned(v) => &v[offset..],
            // SAFETY: not revoked, and we hold the mutex that `revoke` takes:
            // the owner still keeps the memory alive (see "Borrowed memory").
            Chunk::Borrowed(b) => unsafe {
                std::slice::from_raw_parts(b.ptr.add(offset), b.len - offset)
            },
        };
        Some(sys::write(fd, bytes))
    }

    /// Caller's thread (release) or teardown: no queued write may touch the
    /// owner's memory from now on; waits for a write in progress.
    pub fn revoke(&self) {
        let mut s = lock(&self.state);
        s.revoked = true;
        s.fd = None;
    }

    /// Reactor: stdin is open at `fd`, which the reactor owns.
    pub fn open(&self, fd: RawFd) {
        let mut s = lock(&self.state);
        if !s.revoked {
            s.fd = Some(fd);
        }
    }

    /// Reactor: `n` queued writes were flushed or dropped.
    pub fn finished(&self, n: usize) {
        let mut s = lock(&self.state);
        s.pending = s.pending.saturating_sub(n);
    }

    /// Reactor: about to close (or drop) the descriptor; no direct write
    /// can start after this returns, and none is running.
    pub fn close(&self) {
        lock(&self.state).fd = None;
    }
}

impl crate::bridge::sink::Teardown for StdinLink {
    fn teardown(&self) {
        self.revoke();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    /// A stdio channel and a link open on its writing end.
    fn open_link() -> (std::os::fd::OwnedFd, std::os::fd::OwnedFd, Arc<StdinLink>) {
        let (read, write) = sys::channel_nonblocking().expect("socketpair");
        let link = StdinLink::new();
        link.open(write.as_raw_fd());
        (read, write, link)
    }

    #[test]
    fn without_a_descriptor_every_write_queues() {
        let link = StdinLink::new();
        assert_eq!(link.try_write(b"abc"), TryWrite::Wrote(0));
        assert_eq!(link.try_write(b"def"), TryWrite::Wrote(0));
        assert_eq!(lock(&link.state).pending, 2);
    }

    #[test]
    fn writes_directly_only_while_nothing_is_pending() {
        let (read, _write, link) = open_link();
        assert_eq!(link.try_write(b"one "), TryWrite::Wrote(4));
        // Something queued on the reactor: the next write must queue behind it.
        lock(&link.state).pending = 1;
        assert_eq!(link.try_write(b"two "), TryWrite::Wrote(0));
        link.finished(2);
        assert_eq!(link.try_write(b"three"), TryWrite::Wrote(5));
        let mut buf = [0u8; 64];
        let n = sys::read(&read, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"one three");
        link.close();
        assert_eq!(link.try_write(b"x"), TryWrite::Wrote(0));
    }

    #[test]
    fn a_full_channel_takes_part_and_counts_the_rest_as_pending() {
        let (_read, _write, link) = open_link();
        let big = vec![7u8; 8 * 1024 * 1024];
        match link.try_write(&big) {
            TryWrite::Wrote(n) => assert!(n > 0 && n < big.len(), "wrote {n}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(lock(&link.state).pending, 1);
    }

    #[test]
    fn a_revoked_link_writes_nothing_more() {
        let (read, write, link) = open_link();
        let data = b"borrowed".to_vec();
        // SAFETY: `data` outlives every use below.
        let chunk = Chunk::Borrowed(unsafe { Borrowed::new(&data) });
        assert_eq!(link.write_queued(&write, &chunk, 2).unwrap().unwrap(), 6);
        link.revoke();
        assert!(link.write_queued(&write, &chunk, 0).is_none());
        assert_eq!(link.try_write(b"late"), TryWrite::Wrote(0));
        link.open(write.as_raw_fd()); // a late open does not undo it
        assert_eq!(link.try_write(b"late"), TryWrite::Wrote(0));
        let mut buf = [0u8; 64];
        let n = sys::read(&read, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"rrowed");
    }

    #[test]
    fn a_closed_reader_fails_with_epipe() {
        let (read, _write, link) = open_link();
        drop(read);
        assert_eq!(link.try_write(b"x"), TryWrite::Failed(libc::EPIPE));
    }
}
