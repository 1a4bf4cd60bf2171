//! Starting a child without waiting for it: `clone(CLONE_VM)` on the calling
//! thread, so `spawn()` returns with the pid, as `child_process.spawn` does,
//! at a cost of tens of microseconds whatever the parent's heap size.
//!
//! # Why not `posix_spawn` here
//!
//! glibc's `posix_spawn` also shares the address space (no page tables are
//! copied) but adds `CLONE_VFORK`: the calling thread sleeps until the child
//! has exec'd, and when the cores are busy the child waits for one. Measured
//! on the JavaScript thread in the spawn benchmark (2 cores at load 9–12),
//! that made the worst event-loop delay 847 ms. Here the calling thread only
//! pays for the `clone` system call; the wait for `exec` happens on a
//! spawner thread ([`Launched::wait`]), which then reports `'spawn'`.
//!
//! # States of one launch
//!
//! 1. *Prepared* ([`Plan`]): every byte the child will read — program
//!    candidates, argv, envp, cwd, stdio, process group, the status pipe —
//!    made on the calling thread and never changed afterwards.
//! 2. *Cloned*: the child runs [`child_main`] on its own stack ([`Stack`])
//!    inside our address space, with every signal blocked (inherited from
//!    the calling thread, which blocks them around `clone`). It sets up its
//!    process group, working directory, descriptors, default signal
//!    dispositions and an empty mask, then `execve`s each candidate in turn.
//! 3. *Done*: the child's end of the status pipe (close-on-exec) closes,
//!    either at a successful `execve` — after the kernel has switched the
//!    child to its new address space — or when it exits after writing the
//!    errno of the last failure. Reading EOF ([`Launched::wait`]) is the only
//!    proof that the child no longer touches our memory; the stack and the
//!    plan are freed after it, never before (the `Drop` of [`Launched`]
//!    waits too).
//!
//! # Rules for the child's code
//!
//! The child shares memory with a parent that keeps running, and shares the
//! calling thread's thread-local storage (no `CLONE_SETTLS`). So between
//! `clone` and `execve` it calls no libc function (even a failing system
//! call wrapper writes the parent thread's `errno`), allocates nothing,
//! cannot panic (no indexing that may fail, no arithmetic that may
//! overflow), and only reads the plan. System calls are made with inline
//! assembly ([`raw`]), which is why the reactor is built for x86_64 and
//! aarch64 only.

use std::ffi::{c_void, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;

use super::resolve::{self, Next};
use super::sys::{ChildFd, Group};

/// The system calls the child makes, without libc.
mod raw {
    /// A system call with up to six arguments; returns the kernel's answer
    /// (`-errno` on failure). No `errno` is written.
    ///
    /// # Safety
    /// The arguments must be valid for system call `n`.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    pub unsafe fn syscall(n: libc::c_long, a: [usize; 6]) -> isize {
        let ret: isize;
        // SAFETY: the Linux x86_64 system call convention; rcx and r11 are
        // clobbered by `syscall`; no stack is used.
        unsafe {
            core::arch::asm!(
                "syscall",
                inlateout("rax") n as isize => ret,
                in("rdi") a[0], in("rsi") a[1], in("rdx") a[2],
                in("r10") a[3], in("r8") a[4], in("r9") a[5],
                lateout("rcx") _, lateout("r11") _,
                options(nostack),
            );
        }
        ret
    }

    /// See the x86_64 version.
    ///
    /// # Safety
    /// The arguments must be valid for system call `n`.
    #[cfg(target_arch = "aarch64")]
    #[inline(always)]
    pub unsafe fn syscall(n: libc::c_long, a: [usize; 6]) -> isize {
        let ret: isize;
        // SAFETY: the Linux aarch64 system call convention (number in x8,
        // arguments and result in x0–x5); no stack is used.
        unsafe {
            core::arch::asm!(
                "svc 0",
                in("x8") n,
                inlateout("x0") a[0] => ret,
                in("x1") a[1], in("x2") a[2], in("x3") a[3], in("x4") a[4], in("x5") a[5],
                options(nostack),
            );
        }
        ret
    }
}

/// Everything the child reads. Built on the calling thread, read-only from
/// `clone` until the launch is done.
pub(crate) struct Plan {
    /// Programs to try, in order (one unless the name is searched in PATH).
    /// The strings are only read through the pointer arrays below.
    _paths: Vec<CString>,
    path_ptrs: Vec<*const libc::c_char>,
    _argv: Vec<CString>,
    argv_ptrs: Vec<*const libc::c_char>,
    /// For each path, `/bin/sh path argv[1..]`: what `execvp` runs when the
    /// kernel does not recognise the file (ENOEXEC: a script without `#!`).
    sh_argv_ptrs: Vec<Vec<*const libc::c_char>>,
    _env: Vec<CString>,
    env_ptrs: Vec<*const libc::c_char>,
    cwd: Option<CString>,
    stdio: [ChildFd; 3],
    group: Group,
    /// Whether `paths` came from a PATH search (a failure then moves on to
    /// the next entry, as `execvp` does).
    searching: bool,
    /// The child's end of the status pipe (set by [`launch`]).
    status: RawFd,
}

/// The shell `execvp` falls back to.
const SH: &std::ffi::CStr = c"/bin/sh";

fn null_terminated(strings: &[CString]) -> Vec<*const libc::c_char> {
    let mut v: Vec<*const libc::c_char> = strings.iter().map(|s| s.as_ptr()).collect();
    v.push(ptr::null());
    v
}

impl Plan {
    /// A plan to run the first of `paths` that execs. `env` is the full
    /// environment (`KEY=VALUE`): the child never reads `environ`, which
    /// another thread may be changing.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        paths: Vec<CString>,
        searching: bool,
        argv: Vec<CString>,
        env: Vec<CString>,
        cwd: Option<CString>,
        stdio: [ChildFd; 3],
        group: Group,
    ) -> Box<Plan> {
        // The pointer arrays point into the strings' heap buffers, which do
        // not move when the vectors holding them move into the box.
        let sh_argv_ptrs = paths
            .iter()
            .map(|p| {
                let mut v = vec![SH.as_ptr(), p.as_ptr()];
                v.extend(argv.iter().skip(1).map(|a| a.as_ptr()));
                v.push(ptr::null());
                v
            })
            .collect();
        Box::new(Plan {
            path_ptrs: paths.iter().map(|p| p.as_ptr()).collect(),
            sh_argv_ptrs,
            argv_ptrs: null_terminated(&argv),
            env_ptrs: null_terminated(&env),
            _paths: paths,
            _argv: argv,
            _env: env,
            cwd,
            stdio,
            group,
            searching,
            status: -1,
        })
    }
}

/// The child's stack: an anonymous mapping with a guard page below it.
struct Stack {
    base: *mut c_void,
    len: usize,
}

impl Stack {
    /// The child's frames are small (no allocation, no recursion); 64 KiB
    /// leaves room for any kernel-interface structure on it many times over.
    const USABLE: usize = 64 * 1024;

    fn new() -> io::Result<Stack> {
        // SAFETY: sysconf has no preconditions.
        let page = match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
            p if p > 0 => p as usize,
            _ => 4096,
        };
        let len = Self::USABLE.max(4 * page) + page;
        // SAFETY: a fresh private anonymous mapping; no existing memory is
        // affected.
        let base = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let stack = Stack { base, len };
        // SAFETY: the lowest page of our own mapping becomes the guard: an
        // overflow faults instead of writing below the mapping.
        if unsafe { libc::mprotect(base, page, libc::PROT_NONE) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(stack)
    }

    /// The initial stack pointer (stacks grow down; the end of a mapping is
    /// page-aligned, so 16-byte aligned as both ABIs require).
    fn top(&self) -> *mut c_void {
        // SAFETY: one past the end of our mapping, the usual stack top.
        unsafe { self.base.cast::<u8>().add(self.len).cast() }
    }
}

/// Stacks of finished launches, kept for the next ones: a fresh mapping
/// per spawn took this process's `mmap_lock` for writing twice (map and
/// unmap), and its pages faulted in again in every child.
static SPARE_STACKS: std::sync::Mutex<Vec<Stack>> = std::sync::Mutex::new(Vec::new());

/// How many spare stacks are kept (64 KiB each).
const SPARE_STACKS_MAX: usize = 64;

impl Stack {
    fn take() -> io::Result<Stack> {
        let spare = crate::lock::lock(&SPARE_STACKS).pop();
        match spare {
            Some(stack) => Ok(stack),
            None => Stack::new(),
        }
    }

    fn give_back(self) {
        let mut spare = crate::lock::lock(&SPARE_STACKS);
        if spare.len() < SPARE_STACKS_MAX {
            spare.push(self);
        }
    }
}

// SAFETY: a Stack is an address range that only its owner uses; the raw
// pointer does not tie it to a thread.
unsafe impl Send for Stack {}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `new`, which nothing
        // uses any more (see `Launched`: dropped only after the child is
        // done with it).
        unsafe { libc::munmap(self.base, self.len) };
    }
}

/// A child that has been cloned and may not have exec'd yet. Holds the
/// memory the child reads until [`Launched::wait`] has seen it done.
pub(crate) struct Launched {
    pub pid: libc::pid_t,
    /// Our end of the status pipe; `None` once the launch is done.
    status: Option<OwnedFd>,
    result: Result<(), i32>,
    // Released after `Drop::drop` has waited (fields drop after it).
    stack: Option<Stack>,
    _plan: Box<Plan>,
}

// SAFETY: the raw pointers in the plan point into strings the plan owns;
// they are only read (by the child), so moving the whole launch to another
// thread (a spawner thread waits for it) is sound.
unsafe impl Send for Launched {}

impl Launched {
    /// Waits until the child has exec'd (`Ok`) or given up (`Err(errno)`:
    /// it then exits with status 127 and must still be reaped). Blocks for
    /// as long as the child takes to reach `execve`.
    pub fn wait(&mut self) -> Result<(), i32> {
        let Some(fd) = self.status.take() else {
            return self.result;
        };
        let mut errno = [0u8; 4];
        let mut got = 0;
        loop {
            // SAFETY: reads into the unfilled tail of `errno` (or a scratch
            // byte once it is full) from our end of the status pipe.
            let n = unsafe {
                let mut spare = 0u8;
                let (buf, len) = if got < errno.len() {
                    (errno.as_mut_ptr().add(got), errno.len() - got)
                } else {
                    (&mut spare as *mut u8, 1)
                };
                libc::read(fd.as_raw_fd(), buf.cast(), len)
            };
            if n > 0 {
                got = (got + n as usize).min(errno.len());
                continue;
            }
            if n == 0 {
                break;
            }
            if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                // Not expected from a blocking pipe read; waiting on would
                // be guesswork, so treat the child as failed and make sure
                // it is gone before our memory is (see `Drop`).
                // SAFETY: a signal to our own unreaped child.
                unsafe { libc::kill(self.pid, libc::SIGKILL) };
                // The pipe still closes when the child dies.
                wait_eof(&fd);
                self.result = Err(libc::EIO);
                return self.result;
            }
        }
        self.result = if got == errno.len() {
            Err(i32::from_ne_bytes(errno))
        } else {
            Ok(())
        };
        self.result
    }
}

/// Reads `fd` until EOF, ignoring what comes.
fn wait_eof(fd: &OwnedFd) {
    let mut buf = [0u8; 16];
    loop {
        // SAFETY: reads into a local buffer.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n == 0 || (n < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted) {
            return;
        }
    }
}

impl Drop for Launched {
    fn drop(&mut self) {
        // The stack and the plan must outlive the child's use of them.
        let _ = self.wait();
        if let Some(stack) = self.stack.take() {
            stack.give_back();
        }
    }
}

/// Whether `execve` would refuse these arguments with E2BIG, by the
/// kernel's own rule (`fs/exec.c`): no string longer than 32 pages, and all
/// strings plus the pointer arrays within a quarter of the stack limit
/// (at least 128 KiB, at most 6 MiB). Checked before the clone, so that
/// `spawn()` throws E2BIG as child_process does, rather than report it
/// after returning a pid.
pub(crate) fn too_big(file: &CString, argv: &[CString], env: &[CString]) -> bool {
    // SAFETY: sysconf has no preconditions.
    let page = match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        p if p > 0 => p as usize,
        _ => 4096,
    };
    let max_string = 32 * page;
    let mut rlimit = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: getrlimit fills a local struct.
    unsafe { libc::getrlimit(libc::RLIMIT_STACK, &mut rlimit) };
    let quarter = usize::try_from(rlimit.rlim_cur / 4).unwrap_or(usize::MAX);
    let limit = quarter.clamp(128 * 1024, 6 * 1024 * 1024);
    let pointers = (argv.len().max(1) + env.len()) * std::mem::size_of::<usize>();
    let mut total = file.as_bytes_with_nul().len();
    for s in argv.iter().chain(env) {
        let len = s.as_bytes_with_nul().len();
        if len > max_string {
            return true;
        }
        total += len;
    }
    total.saturating_add(pointers) > limit
}

/// Clones a child that carries out `plan`. Returns once the child exists
/// (not once it has exec'd): the pid is known, the exec result comes from
/// [`Launched::wait`]. Fails with the errno of `pipe2`, `mmap` or `clone`.
pub(crate) fn launch(mut plan: Box<Plan>) -> Result<Launched, i32> {
    let errno = |e: io::Error| e.raw_os_error().unwrap_or(libc::EIO);
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` is an array of two ints for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(errno(io::Error::last_os_error()));
    }
    // SAFETY: pipe2 succeeded: both descriptors are fresh and ours alone.
    let (read_end, write_end) =
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    plan.status = write_end.as_raw_fd();
    let stack = Stack::take().map_err(errno)?;

    // Every signal is blocked around the clone, so the child starts with
    // none deliverable: a handler of ours must never run in it.
    let arg: *const Plan = &*plan;
    let pid = super::sys::with_signals_blocked(|| {
        // SAFETY: `child_main` follows the rules in the module note; the
        // stack and the plan stay alive until the launch is done (they move
        // into `Launched`, whose `wait`/`Drop` waits for that); without
        // CLONE_VFORK this returns as soon as the child exists.
        unsafe {
            libc::clone(
                child_main,
                stack.top(),
                libc::CLONE_VM | libc::SIGCHLD,
                arg as *mut c_void,
            )
        }
    });
    let clone_error = io::Error::last_os_error();
    // The child has its own copy; ours must go so that EOF can happen.
    drop(write_end);
    if pid < 0 {
        return Err(errno(clone_error));
    }
    Ok(Launched {
        pid,
        status: Some(read_end),
        result: Ok(()),
        stack: Some(stack),
        _plan: plan,
    })
}

/// The child: set up, exec, or report why not. Never returns.
extern "C" fn child_main(arg: *mut c_void) -> libc::c_int {
    // SAFETY: `arg` is the plan `launch` passed, alive until we are done.
    let plan = unsafe { &*(arg as *const Plan) };
    // A new task is placed to run at once, ahead of the thread that cloned
    // it: without this yield the calling (JavaScript) thread waited for a
    // CPU behind the child's whole exec. Measured in the spawn benchmark (2
    // cores, /bin/true at concurrency 16): with it 1,400–1,800 spawns/s
    // and worst loop delays of 8–45 ms, without it 1,300–1,500/s and
    // 30–80 ms (posix_spawn on the spawner threads: 1,100–1,400/s and
    // 7–34 ms). The child runs on when the scheduler next picks it.
    // SAFETY: sched_yield takes no arguments.
    unsafe { raw::syscall(libc::SYS_sched_yield, [0; 6]) };
    // SAFETY: `prepare_and_exec` only makes raw system calls with pointers
    // into the plan and its own stack.
    let errno: i32 = unsafe { prepare_and_exec(plan) };
    let bytes = errno.to_ne_bytes();
    // SAFETY: write(2) from a local buffer to the status pipe, then
    // exit_group(2), which does not return.
    unsafe {
        raw::syscall(
            libc::SYS_write,
            [
                plan.status as usize,
                bytes.as_ptr() as usize,
                bytes.len(),
                0,
                0,
                0,
            ],
        );
        raw::syscall(libc::SYS_exit_group, [127, 0, 0, 0, 0, 0]);
    }
    127
}

/// Makes `fd` the child's descriptor `target`, without close-on-exec.
///
/// # Safety
/// Only raw system calls on descriptor numbers.
unsafe fn install(fd: usize, target: usize) -> isize {
    if fd == target {
        // SAFETY: fcntl(F_SETFD, 0) on a descriptor number.
        return unsafe { raw::syscall(libc::SYS_fcntl, [fd, libc::F_SETFD as usize, 0, 0, 0, 0]) };
    }
    // SAFETY: dup3 on descriptor numbers.
    unsafe { raw::syscall(libc::SYS_dup3, [fd, target, 0, 0, 0, 0]) }
}

/// The child's work before `execve`; returns the errno that stopped it.
///
/// # Safety
/// Must run in the cloned child only (see the module note).
unsafe fn prepare_and_exec(plan: &Plan) -> i32 {
    let fail = |ret: isize| -> Option<i32> { (ret < 0).then_some(ret.wrapping_neg() as i32) };
    // SAFETY: the whole body makes raw system calls whose pointer arguments
    // point into the plan (NUL-terminated strings, NULL-terminated arrays)
    // or into locals on this stack.
    unsafe {
        match plan.group {
            Group::Inherit => {}
            Group::New => {
                if let Some(e) = fail(raw::syscall(libc::SYS_setpgid, [0; 6])) {
                    return e;
                }
            }
            Group::Session => {
                if let Some(e) = fail(raw::syscall(libc::SYS_setsid, [0; 6])) {
                    return e;
                }
            }
        }
        if let Some(cwd) = &plan.cwd {
            let r = raw::syscall(libc::SYS_chdir, [cwd.as_ptr() as usize, 0, 0, 0, 0, 0]);
            if let Some(e) = fail(r) {
                return e;
            }
        }
        for (target, how) in plan.stdio.iter().enumerate() {
            let r = match *how {
                ChildFd::Inherit => 0,
                ChildFd::Dup(fd) => install(fd as usize, target),
                ChildFd::Null => {
                    let mode = if target == 0 {
                        libc::O_RDONLY
                    } else {
                        libc::O_WRONLY
                    };
                    let path = c"/dev/null".as_ptr() as usize;
                    let flags = (mode | libc::O_CLOEXEC) as usize;
                    let at = libc::AT_FDCWD as isize as usize;
                    let fd = raw::syscall(libc::SYS_openat, [at, path, flags, 0, 0, 0]);
                    if fd < 0 {
                        fd
                    } else {
                        // The opened descriptor itself is close-on-exec.
                        install(fd as usize, target)
                    }
                }
            };
            if let Some(e) = fail(r) {
                return e;
            }
        }
        // Default dispositions for every signal (Node ignores SIGPIPE and
        // SIGXFSZ; a child must not inherit that), then an empty mask. The
        // kernel's `struct sigaction` is at most 32 bytes on both
        // architectures; all zero means SIG_DFL, no flags, empty mask.
        let default = [0u64; 4];
        for signal in 1..=64usize {
            if signal == libc::SIGKILL as usize || signal == libc::SIGSTOP as usize {
                continue;
            }
            raw::syscall(
                libc::SYS_rt_sigaction,
                [signal, default.as_ptr() as usize, 0, 8, 0, 0],
            );
        }
        let empty = 0u64;
        raw::syscall(
            libc::SYS_rt_sigprocmask,
            [
                libc::SIG_SETMASK as usize,
                &empty as *const u64 as usize,
                0,
                8,
                0,
                0,
            ],
        );
        let argv = plan.argv_ptrs.as_ptr() as usize;
        let envp = plan.env_ptrs.as_ptr() as usize;
        let mut denied = false;
        for (path, sh_argv) in plan.path_ptrs.iter().zip(plan.sh_argv_ptrs.iter()) {
            let r = raw::syscall(libc::SYS_execve, [*path as usize, argv, envp, 0, 0, 0]);
            let mut e = r.wrapping_neg() as i32;
            if e == libc::ENOEXEC {
                // As execvp (and so libuv) does: run it with the shell.
                let sh = [
                    SH.as_ptr() as usize,
                    sh_argv.as_ptr() as usize,
                    envp,
                    0,
                    0,
                    0,
                ];
                e = raw::syscall(libc::SYS_execve, sh).wrapping_neg() as i32;
            }
            if !plan.searching {
                return e;
            }
            match resolve::classify(e) {
                Next::Continue => {}
                Next::Denied => denied = true,
                Next::Stop => return e,
            }
        }
        if denied {
            libc::EACCES
        } else {
            libc::ENOENT
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_of(paths: &[&str], argv: &[&str]) -> Box<Plan> {
        let c = |s: &&str| CString::new(*s).unwrap();
        Plan::new(
            paths.iter().map(c).collect(),
            paths.len() > 1,
            argv.iter().map(c).collect(),
            vec![CString::new("PATH=/usr/bin:/bin").unwrap()],
            None,
            [ChildFd::Null; 3],
            Group::Inherit,
        )
    }

    fn reap(pid: libc::pid_t) -> i32 {
        let mut status = 0;
        // SAFETY: waits for our own child.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        status
    }

    #[test]
    fn execs_and_exits() {
        let mut l = launch(plan_of(&["/bin/sh"], &["sh", "-c", "exit 7"])).unwrap();
        assert_eq!(l.wait(), Ok(()));
        let status = reap(l.pid);
        assert!(libc::WIFEXITED(status));
        assert_eq!(libc::WEXITSTATUS(status), 7);
    }

    #[test]
    fn reports_exec_failure_and_exits_127() {
        let mut l = launch(plan_of(&["/nonexistent/x"], &["x"])).unwrap();
        assert_eq!(l.wait(), Err(libc::ENOENT));
        let status = reap(l.pid);
        assert_eq!(libc::WEXITSTATUS(status), 127);
    }

    #[test]
    fn searching_moves_on_to_the_next_entry() {
        let mut l = launch(plan_of(&["/nonexistent/true", "/bin/true"], &["true"])).unwrap();
        assert_eq!(l.wait(), Ok(()));
        assert_eq!(libc::WEXITSTATUS(reap(l.pid)), 0);
    }

    #[test]
    fn a_bad_cwd_is_the_childs_error() {
        let mut plan = plan_of(&["/bin/true"], &["true"]);
        plan.cwd = Some(CString::new("/nonexistent-dir").unwrap());
        let mut l = launch(plan).unwrap();
        assert_eq!(l.wait(), Err(libc::ENOENT));
        reap(l.pid);
    }

    #[test]
    fn too_big_follows_the_kernel() {
        let c = |s: String| CString::new(s).unwrap();
        let file = c("/bin/true".into());
        assert!(!too_big(&file, &[c("true".into())], &[]));
        assert!(too_big(&file, &[c("x".repeat(200_000))], &[]));
        let many: Vec<_> = (0..10_000).map(|_| c("y".repeat(1000))).collect();
        assert!(too_big(&file, &many, &[]));
    }

    #[test]
    fn many_launches_dropped_without_waiting_are_safe() {
        // Drop waits for each child to be done with the plan and stack.
        let pids: Vec<_> = (0..64)
            .map(|_| {
                let l = launch(plan_of(&["/bin/true"], &["true"])).unwrap();
                let pid = l.pid;
                drop(l);
                pid
            })
            .collect();
        for pid in pids {
            assert_eq!(libc::WEXITSTATUS(reap(pid)), 0);
        }
    }
}
