//! The napi face of the reactor (internal functions; the public API is
//! `spawn`/`exec` in `lib/spawn/`).
//!
//! `reactorSpawn` registers nothing on the port's job table: a child is not
//! a cancellable job but a stream of events. Each event becomes a
//! completion `{ id, Ok([kind, ...]) }` on the operation id JavaScript opened
//! with `native.open`, many times, until JavaScript calls `native.close(id)`
//! and `reactorRelease(key)`.

use std::ffi::CString;

use napi::bindgen_prelude::*;
use napi_derive::napi;

use super::api::Reactor;
use super::event::Stream;
use super::request::SpawnRequest;
use super::stdin::TryWrite;
use crate::bridge::port::Port;
use crate::bridge::sink::{Sink, Teardown};
use crate::bridge::value::{Completion, Outcome};
use crate::protocol::StdioMode;
use std::sync::Arc;

/// What to spawn (validated by `lib/spawn/options.js`).
#[napi(object)]
pub struct NativeSpawnOptions {
    /// The program: searched in the PATH of `env` unless it contains `/`.
    pub file: String,
    /// The full argv, `argv[0]` included.
    pub argv: Vec<String>,
    /// `KEY=VALUE` entries; absent: this process's environment as it is now
    /// (read here, on the calling thread, which is the thread that changes
    /// it: `process.env` of the main thread is the real environment).
    pub env: Option<Vec<String>>,
    pub cwd: Option<String>,
    /// stdin, stdout, stderr.
    pub stdio: Vec<StdioMode>,
    /// New session (Node's `detached`).
    pub detached: bool,
    /// New process group (so the group can be signalled).
    pub new_group: bool,
    /// Unacknowledged output bytes allowed per stream (see `reactorAck`).
    pub output_credit: Option<f64>,
}

fn cstr(s: String, what: &str) -> Result<CString> {
    CString::new(s).map_err(|_| {
        Error::new(
            Status::InvalidArg,
            format!("{what} must not contain null bytes"),
        )
    })
}

fn request(o: NativeSpawnOptions) -> Result<SpawnRequest> {
    // Entries past the third never reach here (lib/spawn/ delegates them);
    // missing ones are pipes, as in child_process.
    let mut stdio = [StdioMode::Pipe; 3];
    for (entry, mode) in stdio.iter_mut().zip(o.stdio) {
        *entry = mode;
    }
    Ok(SpawnRequest {
        file: cstr(o.file, "file")?,
        argv: o
            .argv
            .into_iter()
            .map(|a| cstr(a, "args"))
            .collect::<Result<_>>()?,
        env: Some(match o.env {
            Some(env) => env
                .into_iter()
                .map(|e| cstr(e, "env"))
                .collect::<Result<_>>()?,
            None => super::spawner::current_env(),
        }),
        cwd: o.cwd.map(|c| cstr(c, "cwd")).transpose()?,
        stdio,
        detached: o.detached,
        new_group: o.new_group,
        output_credit: o.output_credit.map(|c| c.max(1.0) as usize),
        pipes: None,
    })
}

/// stdout or stderr; stdin is refused.
fn output(stream: Stream) -> Result<Stream> {
    if stream == Stream::Stdin {
        return Err(Error::new(Status::InvalidArg, "not an output stream"));
    }
    Ok(stream)
}

/// Keys cross to JavaScript as doubles (exact up to 2^53).
fn key_of(key: f64) -> u64 {
    key as u64
}

/// What `reactorSpawn` returns: the child's key and pid, or the errno of a
/// spawn that failed before `spawn()` returns.
#[napi(object)]
pub struct SpawnStarted {
    /// The child's key for the other reactor functions; 0 when it failed.
    pub key: f64,
    /// The child's pid; 0 when it failed.
    pub pid: i32,
    /// 0, or why the spawn failed (ENOENT, EACCES, ENOTDIR, EMFILE, EAGAIN,
    /// ...): `lib/spawn/child-process.js` reports each as child_process does (some as an
    /// `'error'` event, some thrown).
    pub errno: i32,
}

/// Starts a child on this thread and hands it to the reactor, whose events
/// complete operation `id` of `port`. The child is cloned here
/// (`launch.rs`: no page tables copied and no waiting for its exec, so
/// tens of microseconds at any heap size), so the pid is known when this
/// returns, as with child_process; `'spawn'` follows once it has exec'd.
#[napi(js_name = "reactorSpawn")]
pub fn reactor_spawn(port: &Port, id: u32, options: NativeSpawnOptions) -> Result<SpawnStarted> {
    let mut req = request(options)?;
    let failed = |errno: i32| SpawnStarted {
        key: 0.0,
        pid: 0,
        errno,
    };
    if let Some(cwd) = &req.cwd {
        // Checked before the stdio sockets, as child_process's chdir fails
        // before anything else.
        if let Err(errno) = super::sys::check_dir(cwd) {
            return Ok(failed(errno));
        }
    }
    // The stdio sockets are made here: out of descriptors (EMFILE, ENFILE)
    // must be known before spawn() returns, as child_process knows it.
    match super::spawner::make_pipes(&req.stdio) {
        Ok(pipes) => req.pipes = Some(pipes),
        Err(e) => return Ok(failed(e.raw_os_error().unwrap_or(libc::EIO))),
    }
    let started = match super::spawner::start_child(&mut req) {
        Ok(started) => started,
        Err(errno) => return Ok(failed(errno)),
    };
    let pid = started.ctl.pid;
    // The reactor sees the environment only as a completion sink.
    let sink: Arc<dyn Sink> = port.inner().clone();
    let events = sink.clone();
    let reactor = Reactor::global();
    let key = reactor.adopt(
        started,
        req.output_credit,
        Box::new(move |ev| {
            if events.is_closed() {
                return false;
            }
            events.complete(Completion {
                id,
                outcome: Outcome::Ok(ev.into_value()),
            });
            true
        }),
    );
    if let Some(link) = reactor.stdin_link(key) {
        // Borrowed stdin chunks point into this environment's memory.
        let link: Arc<dyn Teardown> = link;
        sink.on_teardown(Arc::downgrade(&link));
    }
    Ok(SpawnStarted {
        key: key as f64,
        pid,
        errno: 0,
    })
}

/// Writes `data` to the child's stdin: as much as the pipe takes at once
/// goes straight from `data` on this thread (when nothing is queued before
/// it); the rest is queued, and a WRITTEN (or WRITE_FAILED) event follows
/// for it. The rest is copied, unless `borrow`: then the reactor writes it
/// from `data` itself, and JavaScript must keep `data` referenced (and
/// unchanged) until that event or until `reactorRelease`. Returns the bytes
/// written at once, or `-errno` when the pipe refused (EPIPE: the child
/// closed its stdin).
#[napi(js_name = "reactorWrite")]
pub fn reactor_write(key: f64, data: &[u8], borrow: bool) -> i64 {
    let reactor = Reactor::global();
    let key = key_of(key);
    match reactor.try_write(key, data) {
        TryWrite::Failed(errno) => -(errno as i64),
        TryWrite::Wrote(n) => {
            let rest = &data[n..];
            if borrow && !rest.is_empty() {
                // SAFETY: lib/spawn/stdin.js keeps the Buffer behind `data` in its
                // FIFO of writes until WRITTEN/WRITE_FAILED or release, and
                // release and this environment's teardown revoke the link.
                unsafe { reactor.write_borrowed(key, rest) };
            } else if !rest.is_empty() {
                reactor.write(key, rest.to_vec());
            }
            n as i64
        }
    }
}

/// Closes the child's stdin after the queued writes.
#[napi(js_name = "reactorEnd")]
pub fn reactor_end(key: f64) {
    Reactor::global().close_stdin(key_of(key));
}

/// Pauses or resumes reading stdout or stderr.
#[napi(js_name = "reactorPause")]
pub fn reactor_pause(key: f64, stream: Stream, paused: bool) -> Result<()> {
    let stream = output(stream)?;
    Reactor::global().set_paused(key_of(key), stream, paused);
    Ok(())
}

/// Closes our end of stdout or stderr before EOF.
#[napi(js_name = "reactorCloseOutput")]
pub fn reactor_close_output(key: f64, stream: Stream) -> Result<()> {
    let stream = output(stream)?;
    Reactor::global().close_output(key_of(key), stream);
    Ok(())
}

/// Acknowledges `bytes` of stdout or stderr as consumed (flow control).
#[napi(js_name = "reactorAck")]
pub fn reactor_ack(key: f64, stream: Stream, bytes: f64) -> Result<()> {
    let stream = output(stream)?;
    Reactor::global().ack(key_of(key), stream, bytes as usize);
    Ok(())
}

/// Sends `signal` to the child (its process group when `group`); returns 0
/// or `-errno` (`-ESRCH` once it has been reaped).
#[napi(js_name = "reactorKill")]
pub fn reactor_kill(key: f64, signal: i32, group: bool) -> i32 {
    match Reactor::global().kill(key_of(key), signal, group) {
        Ok(()) => 0,
        Err(errno) => -errno,
    }
}

/// No more events for this child; its pipes close. It is still reaped.
#[napi(js_name = "reactorRelease")]
pub fn reactor_release(key: f64) {
    Reactor::global().release(key_of(key));
}

/// The reactor's state, for tests.
#[napi(object)]
pub struct ReactorStats {
    /// Whether the reactor thread is running.
    pub running: bool,
    /// Children not yet fully finished.
    pub children: u32,
    /// Reactor threads started so far (it stops when idle).
    pub threads_started: f64,
}

#[napi(js_name = "reactorStats")]
pub fn reactor_stats() -> ReactorStats {
    let r = Reactor::global();
    ReactorStats {
        running: r.is_running(),
        children: r.live_children() as u32,
        threads_started: r.threads_started() as f64,
    }
}
