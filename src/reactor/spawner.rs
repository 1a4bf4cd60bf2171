//! Starting children: finding the program, cloning the child
//! ([`start_child`], cheap enough for the JavaScript thread), and the
//! spawner threads that wait for each child's exec ([`finish`]) so that
//! neither the JavaScript thread nor the reactor thread ever does.
//!
//! The spawner threads ([`THREADS`]) receive [`Job`]s over one channel from
//! the reactor thread and answer through the reactor's command queue with a
//! [`Command::Spawned`]. They are started by the reactor thread (inheriting
//! its fully blocked signal mask) and end when the reactor thread drops the
//! sending half of the channel. Execs of different children may complete
//! out of order; each child's own commands wait in the driver until its
//! `Spawned` arrives.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};

use super::child::ChildCtl;
use super::launch::{self, Launched, Plan};
use super::request::{SpawnRequest, StdioMode, StdioPipes};
use super::resolve::{self, Next};
use super::sys::{self, ChildFd, Group};
use crate::lock::lock;

/// A started child: its control block and the parent's ends of its pipes.
pub(crate) struct Spawned {
    pub ctl: Arc<ChildCtl>,
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

fn errno_of(e: std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

/// The send buffer asked for on the sending end of each piped stream
/// (`SO_SNDBUF`; the kernel caps a request at `net.core.wmem_max` and
/// doubles it). With the kernel's default, about 208 KiB, 1 GiB through
/// `cat` ran 15–20% slower: smaller batches and more wake-ups on both sides.
/// A buffer size is a limit, not an allocation: an idle child costs nothing
/// more. Kept at 1 MiB (4 MiB gained another 5–8% on `cat`) because it is
/// also what a slow reader can leave in kernel memory per stream: the same
/// large Buffer written to a thousand children that read nothing yet pins up
/// to a thousand times this, where a grown pipe pinned 1 MiB.
pub(crate) const SEND_BUFFER: usize = 1024 * 1024;

/// The parent's ends and the child's ends of the three standard streams
/// (for `Inherit`, `child` holds a close-on-exec duplicate of the parent's
/// own descriptor, dup2'd into place in the child). Made on the JavaScript
/// thread by `reactorSpawn` (a few microseconds), so that EMFILE is known
/// synchronously, as with child_process.
pub(crate) fn make_pipes(stdio: &[StdioMode; 3]) -> std::io::Result<StdioPipes> {
    let mut pipes = StdioPipes::default();
    for (i, how) in stdio.iter().enumerate() {
        if *how == StdioMode::Inherit {
            // Duplicated so that the child's copy loses close-on-exec.
            pipes.child[i] = sys::dup_cloexec(i as RawFd);
            continue;
        }
        if *how != StdioMode::Pipe {
            continue;
        }
        // A socket pair is symmetric: either end will do for either side.
        let (parent, child) = sys::socketpair()?;
        // Only the sending end's buffer counts: ours for stdin, the child's
        // for stdout and stderr.
        sys::grow_send_buffer(if i == 0 { &parent } else { &child }, SEND_BUFFER);
        sys::set_nonblocking(&parent)?;
        pipes.parent[i] = Some(parent);
        pipes.child[i] = Some(sys::above_stdio(child)?);
    }
    Ok(pipes)
}

/// Finds the program and launches it (see `launch.rs`): returns once the
/// child exists, or with the errno that `child_process` would report
/// (ENOENT, EACCES, a cwd it cannot enter, ...) when no candidate can run.
fn start(req: &mut SpawnRequest, stdio: [ChildFd; 3]) -> Result<Launched, i32> {
    let parent_path;
    let path: Option<&[u8]> = match &req.env {
        Some(env) => resolve::path_of_env(env),
        None => {
            parent_path = std::env::var_os("PATH");
            parent_path.as_ref().map(|p| p.as_bytes())
        }
    };
    let candidates = resolve::candidates(req.file.as_bytes(), path);
    let searching = !req.file.as_bytes().contains(&b'/');
    let group = if req.detached {
        Group::Session
    } else if req.new_group {
        Group::New
    } else {
        Group::Inherit
    };
    // A cwd the child cannot enter fails the spawn with chdir's own errno
    // (ENOTDIR for a file, as child_process reports), not with the ENOENT
    // of a PATH search that failed at every entry for that reason.
    if let Some(cwd) = &req.cwd {
        sys::check_dir(cwd)?;
    }
    let mut denied = false;
    let mut viable = Vec::new();
    for candidate in candidates {
        // Leave out entries that plainly are not there, so that the usual
        // failures (ENOENT, EACCES) are known before a child exists, as
        // child_process knows them. A relative entry (`.`, `bin`, an empty
        // one) is looked up where the child will resolve it, in its cwd, as
        // libuv's execvp does after its chdir. The child's execve still has
        // the last word.
        let probe = resolve::in_dir(req.cwd.as_deref(), &candidate);
        if let Err(e) = sys::access_exec(probe.as_deref().unwrap_or(&candidate)) {
            if !searching {
                return Err(e);
            }
            match resolve::classify(e) {
                Next::Continue => continue,
                Next::Denied => {
                    denied = true;
                    continue;
                }
                Next::Stop => return Err(e),
            }
        }
        viable.push(candidate);
    }
    if viable.is_empty() {
        return Err(if denied { libc::EACCES } else { libc::ENOENT });
    }
    let env = match req.env.take() {
        Some(env) => env,
        None => current_env(),
    };
    if launch::too_big(&viable[0], &req.argv, &env) {
        return Err(libc::E2BIG);
    }
    let plan = Plan::new(
        viable,
        searching,
        std::mem::take(&mut req.argv),
        env,
        req.cwd.clone(),
        stdio,
        group,
    );
    launch::launch(plan)
}

/// This process's environment as `KEY=VALUE` entries (for requests made
/// without one: the child never reads `environ` itself).
pub(crate) fn current_env() -> Vec<CString> {
    std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut entry = k.into_encoded_bytes();
            entry.push(b'=');
            entry.extend_from_slice(v.as_encoded_bytes());
            // The environment cannot hold a NUL; skip rather than fail.
            CString::new(entry).ok()
        })
        .collect()
}

/// A child that has been cloned (its pid known) and may not have exec'd
/// yet, with its control block and the parent's ends of its pipes.
pub(crate) struct Started {
    launched: Launched,
    pub ctl: Arc<ChildCtl>,
    pipes: [Option<OwnedFd>; 3],
}

/// Starts one child: pipes (unless made already), clone, pidfd. Cheap
/// enough for the JavaScript thread (no waiting on the child); the exec's
/// outcome is left to [`finish`].
pub(crate) fn start_child(req: &mut SpawnRequest) -> Result<Started, i32> {
    let mut pipes = match req.pipes.take() {
        Some(pipes) => pipes,
        None => make_pipes(&req.stdio).map_err(errno_of)?,
    };
    let mut stdio = [ChildFd::Inherit; 3];
    for (i, how) in req.stdio.iter().enumerate() {
        stdio[i] = match how {
            StdioMode::Inherit => match &pipes.child[i] {
                Some(fd) => ChildFd::Dup(fd.as_raw_fd()),
                // Closed in the parent: closed in the child too.
                None => ChildFd::Inherit,
            },
            StdioMode::Ignore => ChildFd::Null,
            StdioMode::Pipe => ChildFd::Dup(
                pipes.child[i]
                    .as_ref()
                    .map(|f| f.as_raw_fd())
                    .ok_or(libc::EBADF)?,
            ),
        };
    }
    let launched = start(req, stdio)?;
    // The child has its copies (its descriptor table was copied at clone);
    // ours must go so that EOF can happen.
    drop(std::mem::take(&mut pipes.child));
    let pidfd = match sys::pidfd_open(launched.pid) {
        Ok(fd) => fd,
        Err(e) => {
            // Without a pidfd we could not learn of its exit without
            // waitpid-polling; do not leave it running unsupervised.
            sys::kill_and_reap(launched.pid);
            return Err(errno_of(e));
        }
    };
    Ok(Started {
        ctl: Arc::new(ChildCtl::new(
            launched.pid,
            pidfd,
            req.detached || req.new_group,
        )),
        launched,
        pipes: pipes.parent,
    })
}

/// Waits until a started child has exec'd. On failure (an exec error the
/// probes could not foresee: ENOEXEC, E2BIG, ...) the child, which exits at
/// once, is reaped and the errno returned.
pub(crate) fn finish(mut started: Started) -> Result<Spawned, i32> {
    if let Err(errno) = started.launched.wait() {
        started.ctl.reap_now();
        return Err(errno);
    }
    let [stdin, stdout, stderr] = started.pipes;
    Ok(Spawned {
        ctl: started.ctl,
        stdin,
        stdout,
        stderr,
    })
}

/// What a spawner thread is asked to do.
pub(crate) enum Job {
    /// Start the child and wait for its exec (the Rust API's path).
    Spawn(Box<SpawnRequest>),
    /// Wait for the exec of a child started on the caller's thread.
    Finish(Started),
}

impl Job {
    /// Runs the job to the end: the child runs, or the spawn failed.
    pub fn run(self) -> Result<Spawned, i32> {
        match self {
            Job::Spawn(mut req) => finish(start_child(&mut req)?),
            Job::Finish(started) => finish(started),
        }
    }

    /// Gives the job up: a child already started is killed and reaped.
    pub fn abandon(self) {
        if let Job::Finish(mut started) = self {
            let _ = started.ctl.signal(libc::SIGKILL, false);
            let _ = started.launched.wait();
            started.ctl.reap_now();
        }
    }
}

/// The spawn jobs, shared by the spawner threads.
pub(crate) type Requests = Arc<Mutex<Receiver<(u64, Job)>>>;

/// How many spawner threads run beside the reactor thread. Two let one
/// slow exec (a large binary on a slow disk) not hold up every other.
pub(crate) const THREADS: usize = 2;

/// A spawner thread's body: runs jobs until the channel closes, handing
/// each outcome to `report`. The threads share one channel; the lock is
/// held only to receive, so a job in progress never blocks the other thread.
pub(crate) fn run(requests: Requests, report: impl Fn(u64, Result<Spawned, i32>)) {
    loop {
        let next = lock(&requests).recv();
        let Ok((key, job)) = next else {
            return;
        };
        report(key, job.run());
    }
}
