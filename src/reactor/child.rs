//! A running child's control block, shared by the reactor thread (which
//! reaps it) and callers of `Reactor::kill` (which signal it).
//!
//! # Signalling and reaping
//!
//! Signals go through the pidfd, which can never reach a process that
//! reused the pid. Signalling a whole process group (`kill(-pgid)`) has no
//! pidfd form; it is done while holding `reaped` and only if the leader is
//! not reaped yet, and the reactor thread holds the same lock while
//! reaping. An unreaped leader keeps its pid, hence the group id, from
//! being reused.

use std::os::fd::OwnedFd;
use std::sync::Mutex;

use super::sys;
use crate::lock::lock;

/// A child's identity. The pidfd stays open as long as anyone holds this.
pub struct ChildCtl {
    pub pid: libc::pid_t,
    pub pidfd: OwnedFd,
    /// The child leads its own process group (detached or `new_group`).
    pub own_group: bool,
    /// Set when the child is reaped, under this lock.
    pub reaped: Mutex<bool>,
}

impl ChildCtl {
    pub fn new(pid: libc::pid_t, pidfd: OwnedFd, own_group: bool) -> ChildCtl {
        ChildCtl {
            pid,
            pidfd,
            own_group,
            reaped: Mutex::new(false),
        }
    }

    /// Signals the child, or its whole group when `group` is set and it
    /// leads one. Returns the errno on failure (ESRCH once it is gone).
    pub fn signal(&self, signal: i32, group: bool) -> Result<(), i32> {
        let res = if group && self.own_group {
            let reaped = lock(&self.reaped);
            if *reaped {
                return Err(libc::ESRCH);
            }
            sys::kill_group(self.pid, signal)
        } else {
            sys::pidfd_send_signal(&self.pidfd, signal)
        };
        res.map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))
    }

    /// Waits for the child to end and reaps it (it must be ending: killed,
    /// or failed before its exec).
    pub fn reap_now(&self) {
        let _ = sys::reap_blocking(&self.pidfd);
        *lock(&self.reaped) = true;
    }
}
