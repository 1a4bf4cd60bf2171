//! The reactor: child processes spawned, fed and drained off the JavaScript
//! thread, on one reactor thread per process (mio).
//!
//! # Pieces, from the bottom up
//!
//! Dependencies run one way: each module uses only those listed above it.
//!
//! * `request`, `event`, `resolve` — what to spawn, what is reported about
//!   a child, finding the program in the *child's* PATH (napi-free data).
//! * `sys`     — OS calls: stdio sockets, pidfds, `waitid`, signals.
//! * `launch`  — starting a child: `clone(CLONE_VM)` without waiting, its
//!   setup in raw system calls, the exec status pipe.
//! * `child`   — a started child's control block (pid, pidfd, reaped).
//! * `stdin`   — writing to a child's stdin straight from the caller's thread
//!   while nothing is queued (the handshake with the reactor is there).
//! * `spawner` — program search, starting a child, and the body of the
//!   spawner threads that wait for each child's exec.
//! * `command` — what callers ask the reactor thread to do.
//! * `shared`  — the command queue and the per-key registry and stdin links.
//! * `driver`  — one turn of the reactor thread's mio loop, and each
//!   child's phase (`Spawning`, `Running`, `Exited`).
//! * `lifecycle` — starting and stopping the reactor and spawner threads;
//!   the only place that sets or clears the waker.
//! * `api`     — [`Reactor`]: what callers use.
//! * `exports` — the napi functions (the only file that sees JavaScript).
//!
//! # Threads and their states
//!
//! * **JavaScript threads** start each child in place and never wait for
//!   it: `spawn()` makes the stdio sockets, checks the cwd, resolves the
//!   program and clones the child (`launch.rs`: `CLONE_VM` without
//!   `CLONE_VFORK`, so tens of microseconds at any heap size and the pid
//!   known at once, as with child_process). They push commands
//!   onto the reactor's queue (a `Mutex<Vec>` held for a push) and wake it;
//!   two more things run in place: `kill` (one `pidfd_send_signal`) and a stdin
//!   write while nothing is queued for that pipe (one non-blocking
//!   `write(2)`, as libuv does; see `stdin.rs`).
//! * **The reactor thread** is *stopped* until the first command, *running*
//!   while it has children or commands, and stops again after
//!   [`IDLE_TIMEOUT`] with neither. The start/stop handshake is done
//!   under the queue's mutex (see `lifecycle.rs`): a command is never stranded.
//! * **The spawner threads** (two) live as long as the reactor thread. Each
//!   waits for one child's exec at a time (reading its status pipe to EOF),
//!   then frees what the child read and reports `Spawned`; a child started
//!   through the Rust API ([`Reactor::spawn`]) is also cloned there.
//!
//! The reactor and spawner threads start with every signal blocked: they never run a
//! signal handler (libuv owns SIGCHLD). Writes to stdin sockets pass
//! `MSG_NOSIGNAL`, so a reader that is gone gives `EPIPE`, never SIGPIPE,
//! on any thread. Children start with an empty signal
//! mask and default dispositions for every signal (set in the child before
//! `execve`), so Node's ignored SIGPIPE/SIGXFSZ do not leak.
//!
//! # Memory ordering
//!
//! All cross-thread state is behind mutexes (command queue, child registry,
//! each child's `reaped` flag) or channels (requests to the spawner); their
//! lock/unlock pairs order everything. The only atomics are a key counter
//! and a statistics counter, both `Relaxed` because nothing is ordered by
//! them. Events reach JavaScript through the completion queue of the
//! environment that spawned the child (`bridge/queue.rs`), in the order the
//! reactor thread produced them.
//!
//! # Exits and reaping
//!
//! Each child gets a pidfd right after its clone, registered with mio once
//! it has exec'd;
//! it becomes readable when the child ends, and the child is reaped with
//! `waitid(P_PIDFD, fd, WEXITED|WNOHANG)` — only that child. Nothing here
//! calls `waitpid(-1)`, so `child_process` keeps working beside it, and
//! libuv's SIGCHLD handler only waits for its own pids. Every child is
//! reaped whether or not JavaScript still listens. Signals go through the
//! pidfd, so a reaped child's recycled pid is never signalled.
//!
//! # Shutdown order
//!
//! 1. JavaScript releases a child after its `close`; the reactor closes its
//!    pipes (stdin last) and forgets it once it is reaped.
//! 2. When an environment is torn down its port closes; the child's sink
//!    then reports the owner gone and the child is treated as released: its
//!    pipes close at once and it is reaped when it exits.
//! 3. With no children and no commands for the idle timeout, the reactor
//!    thread clears the waker under the queue lock and returns; dropping its
//!    channel ends the spawner threads.
//! 4. At process exit the threads simply end with the process; children
//!    still running are inherited by init (or a subreaper), as with Node.
//!
//! # Other platforms
//!
//! Only Linux (5.3+ for `pidfd_open`, 5.4+ for `waitid(P_PIDFD)`) is
//! implemented. The intended macOS fallback keeps the same structure with
//! `kqueue` `EVFILT_PROC`/`NOTE_EXIT` per pid in place of the pidfd (mio
//! does not expose it, so a raw kqueue registered in the mio loop), reaping
//! with `waitpid(pid)` for that pid only, and `posix_spawn` (macOS has no
//! `clone`). Until then the napi exports are not built on other platforms
//! (nor on Linux other than x86_64 and aarch64: `launch.rs` makes its
//! system calls in inline assembly; `cfg(reactor)`, set by `build.rs`) and
//! `lib/spawn/` hands every spawn to `node:child_process` (as it does
//! everywhere for `'ipc'`, descriptor numbers, streams and `uid`/`gid`).
//!
//! # Why the clone is not a `posix_spawn`
//!
//! `posix_spawn` on the JavaScript thread would also make `child.pid`
//! synchronous, but it sleeps until the child has exec'd, and when every
//! core is busy the child waits for one: tried (spawn benchmark, 2 cores at
//! load 9–12), the worst event-loop delay was 847 ms. `launch.rs` returns
//! as soon as the child exists; the wait moved to the spawner threads.

#[cfg(reactor)]
mod api;
#[cfg(reactor)]
mod child;
#[cfg(reactor)]
mod command;
#[cfg(reactor)]
mod driver;
pub(crate) mod event;
#[cfg(reactor)]
pub(crate) mod exports;
#[cfg(reactor)]
mod launch;
#[cfg(reactor)]
mod lifecycle;
pub(crate) mod request;
#[cfg(unix)]
pub(crate) mod resolve;
#[cfg(reactor)]
mod shared;
#[cfg(reactor)]
mod spawner;
#[cfg(reactor)]
pub(crate) mod stdin;
#[cfg(reactor)]
pub(crate) mod sys;

#[cfg(reactor)]
pub use api::{Reactor, IDLE_TIMEOUT};
#[cfg(reactor)]
pub use child::ChildCtl;
pub use event::{Event, Sink, Stream};
pub use request::{SpawnRequest, StdioMode};
#[cfg(reactor)]
pub use stdin::{StdinLink, TryWrite};
