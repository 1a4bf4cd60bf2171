//! The reactor without Node: real processes, spawned and reaped on the
//! reactor thread, events collected through a channel sink.
#![cfg(reactor)]

use std::ffi::CString;
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use spindle::reactor::{Event, Reactor, SpawnRequest, StdioMode, Stream};

const WAIT: Duration = Duration::from_secs(30);

fn reactor() -> Reactor {
    Reactor::new(Duration::from_millis(100))
}

fn start(r: &Reactor, req: SpawnRequest) -> (u64, Receiver<Event>) {
    let (tx, rx) = channel();
    let key = r.spawn(req, Box::new(move |ev| tx.send(ev).is_ok()));
    (key, rx)
}

#[derive(Default, Debug)]
struct Outcome {
    pid: Option<i32>,
    spawn_errno: Option<i32>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    code: Option<i32>,
    signal: Option<i32>,
    /// Kinds in arrival order, data collapsed.
    order: Vec<&'static str>,
}

/// Collects events until exit and EOF on every piped output (or a spawn failure).
fn collect(rx: &Receiver<Event>, outputs: usize) -> Outcome {
    let mut o = Outcome::default();
    let mut ends = 0;
    let mut exited = false;
    while !(exited && ends == outputs) {
        let ev = rx.recv_timeout(WAIT).expect("reactor event");
        match ev {
            Event::Spawned { pid } => {
                o.pid = Some(pid);
                o.order.push("spawn");
            }
            Event::SpawnFailed { errno } => {
                o.spawn_errno = Some(errno);
                o.order.push("spawn-failed");
                return o;
            }
            Event::Data { stream, bytes } => match stream {
                Stream::Stdout => o.stdout.extend(bytes),
                _ => o.stderr.extend(bytes),
            },
            Event::End { stream } => {
                ends += 1;
                o.order.push(if stream == Stream::Stdout {
                    "stdout-end"
                } else {
                    "stderr-end"
                });
            }
            Event::Exit { code, signal } => {
                o.code = code;
                o.signal = signal;
                exited = true;
                o.order.push("exit");
            }
            Event::Written | Event::WriteFailed { .. } | Event::ReadFailed { .. } => {}
        }
    }
    o
}

fn req(file: &str, args: &[&str]) -> SpawnRequest {
    SpawnRequest::new(file, args).unwrap()
}

fn run(r: &Reactor, request: SpawnRequest) -> Outcome {
    let outputs = request.stdio[1..]
        .iter()
        .filter(|s| **s == StdioMode::Pipe)
        .count();
    let (key, rx) = start(r, request);
    let o = collect(&rx, outputs);
    r.release(key);
    o
}

fn tmpdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("spindle-reactor-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn echo_writes_stdout_and_exits_zero() {
    let r = reactor();
    let o = run(&r, req("echo", &["hello", "world"]));
    assert_eq!(o.stdout, b"hello world\n");
    assert_eq!(o.stderr, b"");
    assert_eq!((o.code, o.signal), (Some(0), None));
    assert_eq!(o.order[0], "spawn");
    assert!(o.pid.unwrap() > 0);
}

#[test]
fn non_zero_exit_and_stderr() {
    let r = reactor();
    let o = run(&r, req("sh", &["-c", "echo oops >&2; exit 3"]));
    assert_eq!(o.stderr, b"oops\n");
    assert_eq!((o.code, o.signal), (Some(3), None));
}

#[test]
fn missing_command_is_enoent() {
    let r = reactor();
    let o = run(&r, req("spindle-no-such-command-xyz", &[]));
    assert_eq!(o.spawn_errno, Some(libc::ENOENT));
    let o = run(&r, req("/nonexistent/dir/prog", &[]));
    assert_eq!(o.spawn_errno, Some(libc::ENOENT));
}

#[test]
fn non_executable_file_is_eacces() {
    let d = tmpdir("eacces");
    let f = d.join("plain");
    std::fs::write(&f, "echo hi\n").unwrap();
    let r = reactor();
    let o = run(&r, req(f.to_str().unwrap(), &[]));
    assert_eq!(o.spawn_errno, Some(libc::EACCES));
    // Found only as a non-executable file in PATH: EACCES too, as execvp says.
    let mut rq = req("plain", &[]);
    rq.env = Some(vec![CString::new(format!("PATH={}", d.display())).unwrap()]);
    let o = run(&r, rq);
    assert_eq!(o.spawn_errno, Some(libc::EACCES));
}

#[test]
fn program_is_found_in_the_childs_path_not_the_parents() {
    use std::os::unix::fs::PermissionsExt;
    let d = tmpdir("path");
    let f = d.join("spindle-hello");
    std::fs::write(&f, "#!/bin/sh\necho from-custom-path \"$FOO\"\n").unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
    let r = reactor();
    let mut rq = req("spindle-hello", &[]);
    rq.env = Some(vec![
        CString::new(format!("PATH=/nonexistent:{}", d.display())).unwrap(),
        CString::new("FOO=bar").unwrap(),
    ]);
    let o = run(&r, rq);
    assert_eq!(o.stdout, b"from-custom-path bar\n");
    // Without PATH in the child's env: /usr/bin:/bin.
    let mut rq = req("echo", &["default"]);
    rq.env = Some(vec![]);
    assert_eq!(run(&r, rq).stdout, b"default\n");
}

#[test]
fn cwd_is_applied_and_a_bad_cwd_fails() {
    let d = tmpdir("cwd");
    let r = reactor();
    let mut rq = req("pwd", &[]);
    rq.cwd = Some(CString::new(d.to_str().unwrap()).unwrap());
    let o = run(&r, rq);
    assert_eq!(o.stdout, format!("{}\n", d.display()).into_bytes());
    let mut rq = req("pwd", &[]);
    rq.cwd = Some(CString::new("/nonexistent/spindle").unwrap());
    assert_eq!(run(&r, rq).spawn_errno, Some(libc::ENOENT));
}

#[test]
fn children_start_with_empty_mask_and_default_dispositions() {
    // The Rust test harness ignores SIGPIPE, as Node does; the child must not.
    let r = reactor();
    let o = run(&r, req("cat", &["/proc/self/status"]));
    let text = String::from_utf8(o.stdout).unwrap();
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_string()
    };
    assert_eq!(u64::from_str_radix(&field("SigBlk:"), 16).unwrap(), 0);
    assert_eq!(u64::from_str_radix(&field("SigIgn:"), 16).unwrap(), 0);
}

/// This process's descriptors that lack close-on-exec.
fn inheritable_fds() -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fdinfo").unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let Ok(info) = std::fs::read_to_string(format!("/proc/self/fdinfo/{name}")) else {
            continue;
        };
        let flags = info
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .map(|f| u32::from_str_radix(f.trim(), 8).unwrap())
            .unwrap();
        if flags & libc::O_CLOEXEC as u32 == 0 {
            out.push(name.parse().unwrap());
        }
    }
    out
}

#[test]
fn no_descriptor_leaks_into_children() {
    let r = reactor();
    // Several children at once, so other children's pipes exist meanwhile.
    let mut rxs = Vec::new();
    for _ in 0..8 {
        rxs.push(start(&r, req("ls", &["/proc/self/fd"])));
    }
    for (key, rx) in rxs {
        let o = collect(&rx, 2);
        r.release(key);
        let fds: Vec<u32> = String::from_utf8(o.stdout)
            .unwrap()
            .split_whitespace()
            .map(|s| s.parse().unwrap())
            .collect();
        // 0-2, the directory ls itself has open, and whatever this test
        // process inherited without close-on-exec (from the test runner).
        let inherited = inheritable_fds();
        assert!(
            fds.iter().all(|fd| *fd <= 3 || inherited.contains(fd)),
            "leaked: {fds:?} (inheritable: {inherited:?})"
        );
    }
}

#[test]
fn large_input_through_cat_comes_back_intact() {
    let r = reactor();
    let (key, rx) = start(&r, req("cat", &[]));
    let data: Vec<u8> = (0..16 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    for chunk in data.chunks(1 << 20) {
        r.write(key, chunk.to_vec());
    }
    r.close_stdin(key);
    let mut out = Vec::new();
    let mut written = 0;
    let (mut ended, mut exited) = (0, false);
    while !(ended == 2 && exited) {
        match rx.recv_timeout(WAIT).unwrap() {
            Event::Data { stream, bytes } => {
                assert_eq!(stream, Stream::Stdout);
                out.extend(bytes)
            }
            Event::Written => written += 1,
            Event::End { .. } => ended += 1,
            Event::Exit { code, .. } => {
                assert_eq!(code, Some(0));
                exited = true
            }
            Event::WriteFailed { errno } => panic!("write failed {errno}"),
            _ => {}
        }
    }
    r.release(key);
    assert_eq!(written, 16);
    assert!(out == data, "bytes differ");
}

#[test]
fn writing_to_an_exited_child_reports_epipe() {
    let r = reactor();
    let (key, rx) = start(&r, req("true", &[]));
    collect(&rx, 2);
    r.write(key, b"late".to_vec());
    loop {
        match rx.recv_timeout(WAIT).unwrap() {
            Event::WriteFailed { errno } => {
                assert_eq!(errno, libc::EPIPE);
                break;
            }
            Event::Written => panic!("write to a dead child succeeded"),
            _ => {}
        }
    }
    r.release(key);
}

#[test]
fn kill_before_the_spawn_completes_is_delivered() {
    let r = reactor();
    let (key, rx) = start(&r, req("sleep", &["30"]));
    assert_eq!(r.kill(key, libc::SIGTERM, false), Ok(()));
    let o = collect(&rx, 2);
    assert_eq!((o.code, o.signal), (None, Some(libc::SIGTERM)));
    // Reaped: signalling again fails, and never reaches a reused pid.
    assert_eq!(r.kill(key, libc::SIGTERM, false), Err(libc::ESRCH));
    r.release(key);
}

#[test]
fn killing_the_group_reaches_grandchildren() {
    let r = reactor();
    let mut rq = req("sh", &["-c", "sleep 30 & echo $!; wait"]);
    rq.new_group = true;
    let (key, rx) = start(&r, rq);
    let mut line = Vec::new();
    while !line.ends_with(b"\n") {
        if let Event::Data { bytes, .. } = rx.recv_timeout(WAIT).unwrap() {
            line.extend(bytes);
        }
    }
    let grandchild: i32 = String::from_utf8(line).unwrap().trim().parse().unwrap();
    assert_eq!(r.kill(key, libc::SIGKILL, true), Ok(()));
    let o = collect(&rx, 2);
    assert_eq!(o.signal, Some(libc::SIGKILL));
    r.release(key);
    // The grandchild was killed too (it is reparented and reaped by init or
    // a subreaper; wait until it is gone or a zombie).
    let deadline = Instant::now() + WAIT;
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{grandchild}/stat"));
        match stat {
            Err(_) => break,
            Ok(s) if s.rsplit(')').next().unwrap().trim_start().starts_with('Z') => break,
            Ok(_) => {}
        }
        assert!(Instant::now() < deadline, "grandchild survived");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_grandchild_holding_stdout_does_not_delay_exit() {
    let r = reactor();
    // The background sleep keeps stdout open after sh exits.
    let (key, rx) = start(&r, req("sh", &["-c", "sleep 2 & echo started"]));
    let mut order = Vec::new();
    loop {
        match rx.recv_timeout(WAIT).unwrap() {
            Event::Exit { code, .. } => {
                assert_eq!(code, Some(0));
                order.push("exit");
                break;
            }
            Event::End { stream } => order.push(if stream == Stream::Stdout {
                "stdout-end"
            } else {
                "stderr-end"
            }),
            _ => {}
        }
    }
    assert!(!order.contains(&"stdout-end"), "{order:?}");
    // The owner may let go before EOF; the child is still accounted for.
    r.release(key);
}

#[test]
fn paused_output_is_not_read_until_resumed() {
    let r = reactor();
    let (tx, rx) = channel();
    let key = r.spawn(
        req("head", &["-c", "16777216", "/dev/zero"]),
        Box::new(move |ev| tx.send(ev).is_ok()),
    );
    r.set_paused(key, Stream::Stdout, true);
    // Until resumed, no stdout data may arrive (the child blocks on a full
    // channel: 16 MiB is more than any send buffer the kernel grants).
    let until = Instant::now() + Duration::from_millis(300);
    while let Ok(ev) = rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
        assert!(
            !matches!(
                ev,
                Event::Data {
                    stream: Stream::Stdout,
                    ..
                }
            ),
            "read while paused"
        );
        assert!(!matches!(ev, Event::Exit { .. }), "pipe did not fill");
    }
    r.set_paused(key, Stream::Stdout, false);
    let o = collect(&rx, 2);
    assert_eq!(o.stdout.len(), 16 << 20);
    r.release(key);
}

#[test]
fn a_child_whose_owner_is_gone_is_still_reaped() {
    let r = reactor();
    let (tx, rx) = channel();
    let mut first = true;
    let key = r.spawn(
        req("sh", &["-c", "echo x; sleep 0.2"]),
        Box::new(move |ev| {
            if first {
                first = false;
                tx.send(ev).is_ok()
            } else {
                false // the owner went away after the first event
            }
        }),
    );
    assert!(matches!(
        rx.recv_timeout(WAIT).unwrap(),
        Event::Spawned { .. }
    ));
    let pid = r.pid(key).unwrap();
    let deadline = Instant::now() + WAIT;
    while r.live_children() > 0 {
        assert!(Instant::now() < deadline, "never reaped");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        std::fs::metadata(format!("/proc/{pid}")).is_err(),
        "zombie left"
    );
}

#[test]
fn many_children_are_all_reaped_and_the_thread_stops_when_idle() {
    let r = reactor();
    let mut runs = Vec::new();
    for i in 0..200 {
        runs.push(start(&r, req("sh", &["-c", &format!("exit {}", i % 7)])));
    }
    let mut pids = Vec::new();
    for (i, (key, rx)) in runs.into_iter().enumerate() {
        let o = collect(&rx, 2);
        assert_eq!(o.code, Some((i % 7) as i32));
        pids.push(o.pid.unwrap());
        r.release(key);
    }
    let deadline = Instant::now() + WAIT;
    while r.live_children() > 0 || r.is_running() {
        assert!(Instant::now() < deadline, "reactor did not go idle");
        std::thread::sleep(Duration::from_millis(20));
    }
    for pid in pids {
        assert!(
            std::fs::metadata(format!("/proc/{pid}")).is_err(),
            "{pid} not reaped"
        );
    }
    let before = r.threads_started();
    assert_eq!(run(&r, req("true", &[])).code, Some(0));
    assert_eq!(r.threads_started(), before + 1, "restarted on demand");
}

#[test]
fn the_first_command_is_not_held_until_the_idle_timeout() {
    // Regression: the thread's first poll waited for the idle timeout
    // before reading the command that started it.
    let r = Reactor::new(Duration::from_secs(3600));
    let (tx, rx) = channel();
    let key = r.spawn(req("true", &[]), Box::new(move |ev| tx.send(ev).is_ok()));
    let o = collect(&rx, 2);
    assert_eq!(o.code, Some(0));
    r.release(key);
}

#[test]
fn relative_path_entries_are_resolved_in_the_childs_cwd() {
    use std::os::unix::fs::PermissionsExt;
    let d = tmpdir("relpath");
    std::fs::create_dir_all(d.join("bin")).unwrap();
    let f = d.join("bin").join("spindle-rel");
    std::fs::write(&f, "#!/bin/sh\necho relative\n").unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
    let r = reactor();
    let mut rq = req("spindle-rel", &[]);
    rq.env = Some(vec![CString::new("PATH=bin").unwrap()]);
    rq.cwd = Some(CString::new(d.to_str().unwrap()).unwrap());
    assert_eq!(run(&r, rq).stdout, b"relative\n");
}

#[test]
fn other_children_of_the_process_are_never_reaped_by_the_reactor() {
    // std::process::Command's child stands for libuv's: the reactor must
    // leave it alone (no waitpid(-1)), so its own wait() still succeeds.
    let mut foreign = std::process::Command::new("sh")
        .args(["-c", "sleep 0.3; exit 42"])
        .spawn()
        .unwrap();
    let r = reactor();
    let mut runs = Vec::new();
    for _ in 0..50 {
        runs.push(start(&r, req("true", &[])));
    }
    for (key, rx) in runs {
        assert_eq!(collect(&rx, 2).code, Some(0));
        r.release(key);
    }
    let status = foreign.wait().expect("the foreign child was stolen");
    assert_eq!(status.code(), Some(42));
}

#[test]
fn closing_stdout_early_stops_an_endless_producer() {
    let r = reactor();
    let (key, rx) = start(&r, req("yes", &[]));
    let mut closed = false;
    loop {
        match rx.recv_timeout(WAIT).unwrap() {
            Event::Data { .. } if !closed => {
                r.close_output(key, Stream::Stdout);
                closed = true;
            }
            Event::Exit { code, signal } => {
                // A stdio socket (as in libuv): the producer's next write
                // fails with ECONNRESET (bytes were unread when our end
                // closed) or EPIPE, and `yes` exits 1, or it dies of SIGPIPE,
                // depending on timing. Either way it stops.
                assert!(
                    matches!(
                        (code, signal),
                        (Some(1), None) | (None, Some(libc::SIGPIPE))
                    ),
                    "{code:?} {signal:?}"
                );
                break;
            }
            _ => {}
        }
    }
    r.release(key);
}

#[test]
fn output_credit_stops_reading_until_acknowledged() {
    let r = reactor();
    let mut rq = req("head", &["-c", "4194304", "/dev/zero"]);
    rq.output_credit = Some(1 << 20);
    let (key, rx) = start(&r, rq);
    let mut got = 0;
    // Without acks no more than the credit may arrive (the child blocks).
    let until = Instant::now() + Duration::from_millis(300);
    while let Ok(ev) = rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
        if let Event::Data { bytes, .. } = ev {
            got += bytes.len();
        }
        assert!(got <= 1 << 20, "read past the credit: {got}");
    }
    assert!(got > 0);
    // Acknowledge as it comes; everything arrives.
    r.ack(key, Stream::Stdout, got);
    loop {
        match rx.recv_timeout(WAIT).unwrap() {
            Event::Data { bytes, .. } => {
                got += bytes.len();
                r.ack(key, Stream::Stdout, bytes.len());
            }
            Event::End {
                stream: Stream::Stdout,
            } => break,
            _ => {}
        }
    }
    assert_eq!(got, 4 << 20);
    r.release(key);
}
