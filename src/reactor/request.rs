//! What JavaScript asks the reactor to start (napi-free).

use std::ffi::CString;
use std::os::fd::OwnedFd;

pub use crate::protocol::StdioMode;

/// The descriptors of a child's standard streams, made before the spawn:
/// the parent's ends (piped streams) and what the child gets dup'd into
/// place (its ends, or a duplicate of an inherited descriptor).
#[derive(Debug, Default)]
pub struct StdioPipes {
    pub parent: [Option<OwnedFd>; 3],
    pub child: [Option<OwnedFd>; 3],
}

/// A child to spawn.
#[derive(Debug)]
pub struct SpawnRequest {
    /// The program as given: searched in the child's PATH unless it holds `/`.
    pub file: CString,
    /// The full argv, `argv[0]` included.
    pub argv: Vec<CString>,
    /// `KEY=VALUE` entries; `None` inherits the parent's environment.
    pub env: Option<Vec<CString>>,
    /// The child's working directory.
    pub cwd: Option<CString>,
    /// stdin, stdout, stderr.
    pub stdio: [StdioMode; 3],
    /// Start in a new session (Node's `detached`).
    pub detached: bool,
    /// Start in a new process group, so the whole group can be signalled.
    pub new_group: bool,
    /// Flow control for stdout/stderr: at most this many bytes delivered and
    /// not yet acknowledged ([`Reactor::ack`](super::Reactor::ack)) per
    /// stream; reading stops until acks arrive. `None`: unlimited.
    pub output_credit: Option<usize>,
    /// Descriptors already made on the calling thread (so that running out
    /// of them is known when `spawn()` returns, as with child_process);
    /// `None`: the spawner makes them.
    pub pipes: Option<StdioPipes>,
}

impl SpawnRequest {
    /// A request with piped stdio, the parent's environment and `argv[0] =
    /// file`. Fails if an argument contains a NUL byte.
    pub fn new<S: AsRef<str>>(file: &str, args: &[S]) -> Result<SpawnRequest, std::ffi::NulError> {
        let file = CString::new(file)?;
        let mut argv = vec![file.clone()];
        for a in args {
            argv.push(CString::new(a.as_ref())?);
        }
        Ok(SpawnRequest {
            file,
            argv,
            env: None,
            cwd: None,
            stdio: [StdioMode::Pipe; 3],
            detached: false,
            new_group: false,
            output_credit: None,
            pipes: None,
        })
    }
}
