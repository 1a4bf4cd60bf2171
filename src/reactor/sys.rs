//! Every operating-system call the reactor makes (Linux). The rest of the
//! reactor sees only safe wrappers returning `io::Result` or an errno.
//!
//! All descriptors created here are close-on-exec from birth (`socketpair`
//! with `SOCK_CLOEXEC`, `pidfd_open` sets it by default, `F_DUPFD_CLOEXEC`), so a
//! child spawned concurrently — by the reactor or by `child_process` on the
//! main thread — never inherits one.

use std::ffi::CStr;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// The channel behind one piped stdio stream: a connected pair of Unix
/// stream sockets, both close-on-exec and blocking — what libuv gives
/// `child_process` too, so a child sees the same kind of descriptor.
///
/// A socket rather than a pipe because a pipe serialises its reader and
/// writer on one mutex held for a whole read or write: while the reactor
/// copies a megabyte out, `cat` spins waiting to put the next 128 KiB in
/// (perf: 40% of cat's time in `mutex_spin_on_owner`). A stream socket's
/// sender and receiver only meet briefly on the queue lock.
pub fn socketpair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` is a valid array of two ints for socketpair to fill.
    cvt(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })?;
    // SAFETY: socketpair succeeded, so both descriptors are fresh and ours alone.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Sets `O_NONBLOCK` on `fd` (the parent's end of a stdio socket only: the
/// flag lives on the open file description, and each end has its own).
pub fn set_nonblocking(fd: &OwnedFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor we own; no pointers involved.
    let flags = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    // SAFETY: as above.
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) })?;
    Ok(())
}

/// Returns `fd` moved above the standard descriptors (0–2), close-on-exec.
/// A child end numbered 0–2 would make `dup2(fd, fd)` a no-op that leaves
/// close-on-exec set; this only happens when the parent closed its stdio.
pub fn above_stdio(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    // SAFETY: fcntl on a descriptor we own; the result is a fresh descriptor.
    let new = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) })?;
    // SAFETY: F_DUPFD_CLOEXEC returned a descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// A close-on-exec duplicate of `fd` numbered 3 or above, or `None` if `fd`
/// is not open. Used for `'inherit'`: the parent's own 0–2 may carry
/// close-on-exec (Node sets it on a piped stdout), and `dup2` onto a
/// different number is the portable way to hand the child a copy without it.
pub fn dup_cloexec(fd: RawFd) -> Option<OwnedFd> {
    // SAFETY: fcntl with integer arguments; the result is a fresh descriptor.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    if new < 0 {
        return None;
    }
    // SAFETY: F_DUPFD_CLOEXEC returned a descriptor nobody else owns.
    Some(unsafe { OwnedFd::from_raw_fd(new) })
}

/// `pidfd_open(pid, 0)`: a descriptor that refers to this process for as
/// long as it is open, whatever happens to the pid number. Close-on-exec.
pub fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with integer arguments.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0 as libc::c_uint) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `pidfd_send_signal`: signals the process the pidfd refers to. Once that
/// process has been reaped this fails with `ESRCH`; it can never reach a
/// process that reused the pid.
pub fn pidfd_send_signal(pidfd: &OwnedFd, signal: i32) -> io::Result<()> {
    // SAFETY: syscall with a descriptor we own, a null siginfo and no flags.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            ptr::null::<libc::siginfo_t>(),
            0 as libc::c_uint,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `kill(-pgid, signal)`: signals a whole process group. The caller must know
/// that the group's leader has not been reaped (see `child.rs`).
pub fn kill_group(pgid: libc::pid_t, signal: i32) -> io::Result<()> {
    // SAFETY: plain syscall with integer arguments.
    cvt(unsafe { libc::kill(-pgid, signal) })?;
    Ok(())
}

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Exited normally with this code.
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
}

/// Reaps the child behind `pidfd` if it has exited (`waitid(P_PIDFD, …,
/// WEXITED | WNOHANG)`): only that child, never `waitpid(-1)`.
pub fn try_reap(pidfd: &OwnedFd) -> io::Result<Option<ExitStatus>> {
    let mut info = MaybeUninit::<libc::siginfo_t>::zeroed();
    loop {
        // SAFETY: `info` is a valid, zeroed siginfo_t for waitid to fill.
        let ret = unsafe {
            libc::waitid(
                libc::P_PIDFD,
                pidfd.as_raw_fd() as libc::id_t,
                info.as_mut_ptr(),
                libc::WEXITED | libc::WNOHANG,
            )
        };
        if ret == 0 {
            break;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    // SAFETY: zero-initialised and possibly filled by waitid: valid either way.
    let info = unsafe { info.assume_init() };
    // SAFETY: for a WEXITED waitid result the pid/status fields are the
    // active union members; si_pid stays 0 when nothing was ready (WNOHANG).
    let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
    if pid == 0 {
        return Ok(None);
    }
    Ok(Some(match info.si_code {
        libc::CLD_EXITED => ExitStatus::Code(status),
        _ => ExitStatus::Signal(status),
    }))
}

/// Kills and reaps a child we cannot watch (its pidfd could not be opened).
/// `pid` is our own unreaped child, so signalling and waiting on it is safe.
pub fn kill_and_reap(pid: libc::pid_t) {
    // SAFETY: plain syscalls on our own unreaped child; status is a local.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        let mut status = 0;
        while libc::waitpid(pid, &mut status, 0) == -1
            && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted
        {}
    }
}

/// Runs `f` with every signal blocked in the calling thread, so that a thread
/// it starts inherits a full mask and never runs a signal handler (and never
/// gets SIGPIPE: writes to a closed channel return `EPIPE`).
pub fn with_signals_blocked<T>(f: impl FnOnce() -> T) -> T {
    let mut all = MaybeUninit::<libc::sigset_t>::uninit();
    let mut old = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigfillset initialises `all`; pthread_sigmask fills `old`.
    unsafe {
        libc::sigfillset(all.as_mut_ptr());
        libc::pthread_sigmask(libc::SIG_SETMASK, all.as_ptr(), old.as_mut_ptr());
    }
    let out = f();
    // SAFETY: `old` was filled by the first pthread_sigmask.
    unsafe {
        libc::pthread_sigmask(libc::SIG_SETMASK, old.as_ptr(), ptr::null_mut());
    }
    out
}

/// `access(path, X_OK)`: `Ok` if it may be executed, else the errno.
pub fn access_exec(path: &CStr) -> Result<(), i32> {
    // SAFETY: `path` is a valid NUL-terminated string.
    if unsafe { libc::access(path.as_ptr(), libc::X_OK) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO))
    }
}

/// Whether `path` can be a child's working directory: `Ok`, or the errno
/// that `chdir(path)` would give (`ENOENT`, `ENOTDIR`, `EACCES`, ...).
pub fn check_dir(path: &CStr) -> Result<(), i32> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `path` is NUL-terminated; `st` is written by a successful stat.
    if unsafe { libc::stat(path.as_ptr(), st.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO));
    }
    // SAFETY: stat succeeded, so `st` is initialised.
    let mode = unsafe { st.assume_init() }.st_mode;
    if mode & libc::S_IFMT != libc::S_IFDIR {
        return Err(libc::ENOTDIR);
    }
    access_exec(path)
}

/// Where a child's standard descriptor comes from.
#[derive(Debug, Clone, Copy)]
pub enum ChildFd {
    /// The parent's own descriptor of the same number.
    Inherit,
    /// `/dev/null` (read-only for stdin, write-only for stdout/stderr).
    Null,
    /// `dup2` of this descriptor (the child's end of a stdio socket).
    Dup(RawFd),
}

/// The process group a child starts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// The parent's group.
    Inherit,
    /// A new group led by the child (`setpgid(0, 0)`).
    New,
    /// A new session and group led by the child (`setsid()`), as
    /// Node's `detached` does with `setsid()`.
    Session,
}

/// Reads once from `fd` into `buf`; returns how many bytes came (0: EOF).
pub fn read(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is a valid, writable slice of `buf.len()` bytes.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Reads once from `fd` into the spare capacity of `buf` (which must have
/// some), at most `max` bytes, and extends its length by what came; returns
/// that count (0: EOF).
pub fn read_spare(fd: &OwnedFd, buf: &mut Vec<u8>, max: usize) -> io::Result<usize> {
    let spare = (buf.capacity() - buf.len()).min(max);
    // SAFETY: the destination is the vector's allocated, unused capacity of
    // `spare` bytes; read writes at most that many.
    let n = unsafe {
        libc::read(
            fd.as_raw_fd(),
            buf.as_mut_ptr().add(buf.len()).cast(),
            spare,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: read initialised exactly `n` bytes past the old length.
    unsafe { buf.set_len(buf.len() + n as usize) };
    Ok(n as usize)
}

/// Asks for a larger send buffer (`SO_SNDBUF`) on one end of a stdio
/// socket: how much its writer may have sent that the reader has not read.
/// Best effort: the kernel caps the request at `net.core.wmem_max` (and
/// doubles it for its bookkeeping), so failure is ignored and the socket
/// keeps its size.
pub fn grow_send_buffer(fd: &OwnedFd, size: usize) {
    let size = size.min(libc::c_int::MAX as usize) as libc::c_int;
    // SAFETY: `size` outlives the call and its length is passed exactly.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
}

/// Writes once to `fd`; returns how many bytes were taken.
pub fn write(fd: &OwnedFd, data: &[u8]) -> io::Result<usize> {
    write_raw(fd.as_raw_fd(), data)
}

/// Writes once to a stdio socket that the caller keeps open for the call
/// (see `stdin.rs`: used only under the lock that guards it against
/// closing). `MSG_NOSIGNAL`: a reader that is gone gives `EPIPE`, never a
/// SIGPIPE, whatever the calling thread's signal mask and the host's
/// disposition.
pub fn write_raw(fd: RawFd, data: &[u8]) -> io::Result<usize> {
    // SAFETY: `data` is a valid slice for the duration of the call; a stale
    // descriptor would only make send(2) fail, and the caller rules that out.
    let n = unsafe { libc::send(fd, data.as_ptr().cast(), data.len(), libc::MSG_NOSIGNAL) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// A stdio channel whose two ends are non-blocking and close-on-exec (tests).
#[cfg(test)]
pub fn channel_nonblocking() -> io::Result<(OwnedFd, OwnedFd)> {
    let (r, w) = socketpair()?;
    set_nonblocking(&r)?;
    set_nonblocking(&w)?;
    Ok((r, w))
}

/// Waits for and reaps the child behind `pidfd` (after SIGKILL, so briefly).
pub fn reap_blocking(pidfd: &OwnedFd) -> io::Result<ExitStatus> {
    let mut info = MaybeUninit::<libc::siginfo_t>::zeroed();
    loop {
        // SAFETY: `info` is a valid siginfo_t for waitid to fill.
        let ret = unsafe {
            libc::waitid(
                libc::P_PIDFD,
                pidfd.as_raw_fd() as libc::id_t,
                info.as_mut_ptr(),
                libc::WEXITED,
            )
        };
        if ret == 0 {
            break;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    // SAFETY: filled by a successful waitid.
    let info = unsafe { info.assume_init() };
    // SAFETY: WEXITED result: pid/status are the active union members.
    let status = unsafe { info.si_status() };
    Ok(match info.si_code {
        libc::CLD_EXITED => ExitStatus::Code(status),
        _ => ExitStatus::Signal(status),
    })
}
