//! The spawner thread: runs `posix_spawn` off both the JavaScript thread and
//! the reactor thread, so a slow spawn (a large binary on a slow disk, a
//! stalled `exec`) never delays other children's I/O.
//!
//! The spawner threads ([`THREADS`]) receive requests over one channel from
//! the reactor thread and answer through the reactor's command queue with a
//! [`Command::Spawned`]. They are started by the reactor thread (inheriting
//! its fully blocked signal mask) and end when the reactor thread drops the
//! sending half of the channel. Spawns of different children may complete
//! out of order; each child's own commands wait in its `Spawning` state.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};

use super::handle::{lock, ChildCtl, Command, Shared};
use super::request::{SpawnRequest, Stdio, StdioPipes};
use super::resolve::{self, Next};
use super::sys::{self, ChildFd, Group, SpawnSpec};

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
pub(crate) fn make_pipes(stdio: &[Stdio; 3]) -> std::io::Result<StdioPipes> {
    let mut pipes = StdioPipes::default();
    for (i, how) in stdio.iter().enumerate() {
        if *how == Stdio::Inherit {
            // Duplicated so that the child's copy loses close-on-exec.
            pipes.child[i] = sys::dup_cloexec(i as RawFd);
            continue;
        }
        if *how != Stdio::Pipe {
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

/// Finds the program and starts it. Returns the pid, or the errno that
/// `child_process` would report (ENOENT, EACCES, …).
fn start(req: &SpawnRequest, stdio: [ChildFd; 3]) -> Result<libc::pid_t, i32> {
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
    for candidate in &candidates {
        if searching {
            // Skip entries that plainly are not there without paying for a
            // spawn attempt; the spawn below still has the last word. A
            // relative entry (`.`, `bin`, an empty one) is looked up where
            // the child will resolve it, in its cwd, as libuv's execvp does
            // after its chdir: so a PATH full of relative entries costs one
            // access(2) each here, not one posix_spawn each.
            let probe = resolve::in_dir(req.cwd.as_deref(), candidate);
            if let Err(e) = sys::access_exec(probe.as_deref().unwrap_or(candidate)) {
                match resolve::classify(e) {
                    Next::Continue => continue,
                    Next::Denied => {
                        denied = true;
                        continue;
                    }
                    Next::Stop => return Err(e),
                }
            }
        }
        let spec = SpawnSpec {
            path: candidate,
            argv: &req.argv,
            envp: req.env.as_deref(),
            cwd: req.cwd.as_deref(),
            stdio,
            group,
        };
        match sys::spawn(&spec) {
            Ok(pid) => return Ok(pid),
            Err(e) if !searching => return Err(e),
            Err(e) => match resolve::classify(e) {
                Next::Continue => {}
                Next::Denied => denied = true,
                Next::Stop => return Err(e),
            },
        }
    }
    Err(if denied { libc::EACCES } else { libc::ENOENT })
}

/// Spawns one child: pipes (unless made already), posix_spawn, pidfd.
pub(crate) fn spawn_child(req: &mut SpawnRequest) -> Result<Spawned, i32> {
    let mut pipes = match req.pipes.take() {
        Some(pipes) => pipes,
        None => make_pipes(&req.stdio).map_err(errno_of)?,
    };
    let mut stdio = [ChildFd::Inherit; 3];
    for (i, how) in req.stdio.iter().enumerate() {
        stdio[i] = match how {
            Stdio::Inherit => match &pipes.child[i] {
                Some(fd) => ChildFd::Dup(fd.as_raw_fd()),
                // Closed in the parent: closed in the child too.
                None => ChildFd::Inherit,
            },
            Stdio::Ignore => ChildFd::Null,
            Stdio::Pipe => ChildFd::Dup(
                pipes.child[i]
                    .as_ref()
                    .map(|f| f.as_raw_fd())
                    .ok_or(libc::EBADF)?,
            ),
        };
    }
    let pid = start(req, stdio)?;
    // The child has its copies; ours must go so that EOF can happen.
    drop(std::mem::take(&mut pipes.child));
    let pidfd = match sys::pidfd_open(pid) {
        Ok(fd) => fd,
        Err(e) => {
            // Without a pidfd we could not learn of its exit without
            // waitpid-polling; do not leave it running unsupervised.
            sys::kill_and_reap(pid);
            return Err(errno_of(e));
        }
    };
    let [stdin, stdout, stderr] = pipes.parent;
    Ok(Spawned {
        ctl: Arc::new(ChildCtl::new(pid, pidfd, req.detached || req.new_group)),
        stdin,
        stdout,
        stderr,
    })
}

/// The spawn requests, shared by the spawner threads.
pub(crate) type Requests = Arc<Mutex<Receiver<(u64, Box<SpawnRequest>)>>>;

/// How many spawner threads run beside the reactor thread. Two let one
/// `posix_spawn` proceed while another waits for its child's `exec`.
pub(crate) const THREADS: usize = 2;

/// A spawner thread's body. The threads share one channel; the lock is held
/// only to receive, so a spawn in progress never blocks the other thread.
pub(crate) fn run(shared: Arc<Shared>, requests: Requests) {
    loop {
        let next = lock(&requests).recv();
        let Ok((key, mut req)) = next else {
            return;
        };
        let result = spawn_child(&mut req);
        if let Ok(spawned) = &result {
            shared.attach(key, &spawned.ctl);
        }
        shared.submit(Command::Spawned { key, result });
    }
}
