//! Finding the program to run, as `execvp` would, but against the PATH of the
//! child's environment (napi-free, no OS calls except in the caller).
//!
//! `execvp` and `posix_spawnp` search the *parent's* PATH, and
//! `std::process::Command` falls back to `fork` when a custom environment
//! meets a bare program name. Resolving here gives the child a list of
//! paths to `execve` in turn (see `launch.rs`), with the same rules as
//! libuv: a name containing `/` is used as is (relative to the
//! child's cwd, since the chdir happens before the exec); otherwise each PATH
//! entry is tried in order, an empty entry meaning the current directory, and
//! without a PATH the default `/usr/bin:/bin`.

use std::ffi::CString;

/// The search path used when the child's environment has no `PATH`.
pub const DEFAULT_PATH: &[u8] = b"/usr/bin:/bin";

/// The `PATH` value in a list of `KEY=VALUE` entries, if any.
pub fn path_of_env(env: &[CString]) -> Option<&[u8]> {
    env.iter()
        .map(|e| e.as_bytes())
        .find(|e| e.starts_with(b"PATH="))
        .map(|e| &e[5..])
}

/// The paths to try, in order, for `file` under `path`.
pub fn candidates(file: &[u8], path: Option<&[u8]>) -> Vec<CString> {
    if file.is_empty() {
        return Vec::new();
    }
    if file.contains(&b'/') {
        return CString::new(file).into_iter().collect();
    }
    let path = path.unwrap_or(DEFAULT_PATH);
    path.split(|&b| b == b':')
        .filter_map(|dir| {
            let mut full = Vec::with_capacity(dir.len() + 1 + file.len());
            if dir.is_empty() {
                full.extend_from_slice(b"./");
            } else {
                full.extend_from_slice(dir);
                if !dir.ends_with(b"/") {
                    full.push(b'/');
                }
            }
            full.extend_from_slice(file);
            CString::new(full).ok()
        })
        .collect()
}

/// Where a relative `candidate` is, seen from this process, for a child
/// started in `cwd` (itself absolute, or relative to this process's cwd):
/// `Some(cwd/candidate)`. `None` when the candidate is absolute or there is
/// no `cwd` (the child then inherits this process's cwd, so the candidate
/// means the same thing here).
pub fn in_dir(cwd: Option<&std::ffi::CStr>, candidate: &std::ffi::CStr) -> Option<CString> {
    let cwd = cwd?.to_bytes();
    let rel = candidate.to_bytes();
    if rel.starts_with(b"/") || cwd.is_empty() {
        return None;
    }
    let mut full = Vec::with_capacity(cwd.len() + 1 + rel.len());
    full.extend_from_slice(cwd);
    if !cwd.ends_with(b"/") {
        full.push(b'/');
    }
    full.extend_from_slice(rel);
    CString::new(full).ok()
}

/// What a failed attempt means for the search (the `execvp` rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Not there: try the next entry.
    Continue,
    /// There but not executable: remember EACCES, try the next entry.
    Denied,
    /// A real error: stop and report it.
    Stop,
}

pub fn classify(errno: i32) -> Next {
    match errno {
        libc::ENOENT | libc::ENOTDIR | libc::ENAMETOOLONG | libc::ELOOP => Next::Continue,
        libc::EACCES | libc::EPERM | libc::EISDIR => Next::Denied,
        _ => Next::Stop,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: Vec<CString>) -> Vec<String> {
        v.into_iter().map(|c| c.into_string().unwrap()).collect()
    }

    #[test]
    fn slash_means_no_search() {
        assert_eq!(strs(candidates(b"./x", Some(b"/a"))), ["./x"]);
        assert_eq!(strs(candidates(b"/bin/ls", None)), ["/bin/ls"]);
    }

    #[test]
    fn searches_the_given_path_in_order() {
        assert_eq!(
            strs(candidates(b"ls", Some(b"/a:/b/::/c"))),
            ["/a/ls", "/b/ls", "./ls", "/c/ls"]
        );
    }

    #[test]
    fn default_path_without_path() {
        assert_eq!(strs(candidates(b"ls", None)), ["/usr/bin/ls", "/bin/ls"]);
    }

    #[test]
    fn path_is_read_from_the_child_env() {
        let env = vec![
            CString::new("HOME=/h").unwrap(),
            CString::new("PATH=/x:/y").unwrap(),
        ];
        assert_eq!(path_of_env(&env), Some(&b"/x:/y"[..]));
        assert_eq!(path_of_env(&env[..1]), None);
    }

    #[test]
    fn relative_candidates_are_seen_from_the_child_cwd() {
        let c = |s: &str| CString::new(s).unwrap();
        let dir = c("/work/dir");
        assert_eq!(in_dir(Some(&dir), &c("./ls")), Some(c("/work/dir/./ls")));
        assert_eq!(
            in_dir(Some(&dir), &c("bin/ls")),
            Some(c("/work/dir/bin/ls"))
        );
        assert_eq!(in_dir(Some(&c("rel/")), &c("x")), Some(c("rel/x")));
        assert_eq!(in_dir(Some(&dir), &c("/usr/bin/ls")), None);
        assert_eq!(in_dir(None, &c("./ls")), None);
    }

    #[test]
    fn empty_name_has_no_candidates() {
        assert!(candidates(b"", None).is_empty());
    }
}
