'use strict'
// spawn(): a ChildProcess-compatible object whose process is spawned, fed and
// drained on spindle's reactor thread (src/reactor/), never on this thread.
//
// Every event of a child (spawned, a chunk of output, EOF, a flushed stdin
// write, exit) arrives through the batched completion path on one operation
// id, opened with `native.open` and closed when the child emits 'close'.
// The reactor's key for the child is a separate number used to send it
// commands (write, end stdin, pause/resume a stream, kill, release).
//
// Semantics follow lib/internal/child_process.js where they can be
// observed: 'spawn' first; 'error' + 'close' (code = -errno) when the spawn
// fails; 'exit' when the process ends; 'close' after 'exit' and after stdout
// and stderr have closed; stdin destroyed at exit; untouched output streams
// resumed at exit so that unread output never holds 'close' back. What the
// reactor cannot do is handed to node:child_process (delegate.js).
// The child is cloned on this thread (src/reactor/launch.rs), so `pid` is
// set when spawn() returns; its exec is awaited on a spawner thread, which
// then reports 'spawn' (or the exec's error).

const { EventEmitter } = require('node:events')
const { constants: osConstants } = require('node:os')
const native = require('../native')
const { AbortError, errnoException } = require('../errors')
const { convertToValidSignal, setLongTimeout, signalNames } = require('./options')
const { StdinWriter } = require('./stdin')
const { ChildOutput, ChildStdin, kLiveness } = require('./streams')

const { binding } = native

// Event kinds, streams and stdio modes: src/protocol.rs.
const { EventKind, Stream, StdioMode } = binding
// Null prototype: 'constructor' or '__proto__' is not a stdio mode.
const STDIO_MODES = { __proto__: null, pipe: StdioMode.Pipe, inherit: StdioMode.Inherit, ignore: StdioMode.Ignore }

/**
 * Output flow control: the reactor stops reading a stream once this many
 * bytes are on their way here unacknowledged, so a busy event loop cannot
 * make output pile up in memory without bound; this side acknowledges every
 * ACK_EVERY bytes it has taken in.
 */
const OUTPUT_CREDIT = 8 << 20
const ACK_EVERY = 1 << 20

const { ESRCH, EINVAL, ENOSYS, EMFILE, ENFILE, ENOENT, EACCES, EAGAIN } = osConstants.errno

const kSpawn = Symbol('spindle.spawn')
// Node 20.4+ defines Symbol.dispose; earlier ones get child_process's own polyfill symbol.
const SymbolDispose = Symbol.dispose ?? Symbol.for('nodejs.dispose')

class ChildProcess extends EventEmitter {
  #id = 0
  #key = null
  #exited = false
  #failed = false
  #released = false
  #closesNeeded = 1
  #closesGot = 0
  /** Per stream (indexed by binding.Stream), as the following two. */
  #paused = [false, false, false]
  /** Output bytes received and not yet acknowledged to the reactor. */
  #unacked = [0, 0, 0]
  /** END received from the reactor, per stream. */
  #ended = [false, false, false]
  /** Stdin writes the reactor has not flushed yet. */
  #stdinWriter = new StdinWriter(() => {
    if (!this.#childRef) this.#updateRef()
  })
  #timer = null
  #abort = null
  #abortOnSpawn = null
  /** ref()/unref() of the child itself; its streams have their own. */
  #childRef = true
  #watching = false
  #ownerHandle = null

  constructor() {
    super()
    this.pid = undefined
    this.exitCode = null
    this.signalCode = null
    this.killed = false
    this.connected = false
    this.spawnfile = null
    this.spawnargs = []
    this.stdin = null
    this.stdout = null
    this.stderr = null
    this.stdio = [null, null, null]
  }

  [kSpawn](opts, { newGroup = false } = {}) {
    this.spawnfile = opts.file
    this.spawnargs = opts.argv
    if (opts.stdio[0] === 'pipe') this.stdin = this.#makeStdin()
    if (opts.stdio[1] === 'pipe') this.stdout = this.#makeOutput(Stream.Stdout)
    if (opts.stdio[2] === 'pipe') this.stderr = this.#makeOutput(Stream.Stderr)
    this.stdio = [this.stdin, this.stdout, this.stderr]
    for (const stream of [this.stdout, this.stderr]) {
      if (stream !== null) {
        this.#closesNeeded++
        stream.on('close', () => this.#maybeClose())
      }
    }

    this.#id = native.open((status, value) => this.#onEvent(status, value))
    let started
    try {
      // The child is cloned here, on this thread (no page tables copied and
      // no waiting for its exec: tens of microseconds at any heap size), so
      // the pid is known when spawn() returns, as with child_process.
      started = binding.reactorSpawn(native.getPort(), this.#id, {
        file: opts.file,
        argv: opts.argv,
        env: opts.envPairs,
        cwd: opts.cwd,
        stdio: opts.stdio.map((s) => STDIO_MODES[s]),
        detached: opts.detached,
        newGroup,
        outputCredit: OUTPUT_CREDIT,
      })
    } catch (err) {
      native.close(this.#id)
      throw err
    }
    if (started.errno === 0) {
      this.#key = started.key
      this.pid = started.pid
    } else {
      // Reported as child_process reports each errno: ENOENT, EACCES and
      // EAGAIN as 'error' then 'close'; EMFILE and ENFILE the same but with
      // no streams at all (stdin, stdout, stderr, stdio undefined); anything
      // else (a cwd that is a file: ENOTDIR) thrown from spawn() itself.
      const { errno } = started
      if (errno !== ENOENT && errno !== EACCES && errno !== EAGAIN && errno !== EMFILE && errno !== ENFILE) {
        this.#released = true
        native.close(this.#id)
        throw errnoException(errno, 'spawn')
      }
      if (errno === EMFILE || errno === ENFILE) {
        this.stdin = this.stdout = this.stderr = this.stdio = undefined
        this.#closesNeeded = 1
      }
      process.nextTick(() => this.#spawnFailed(errno))
    }

    const { signal, killSignal, timeout } = opts
    if (signal) {
      const onAbort = () => this.#abortWith(killSignal, signal.reason)
      if (signal.aborted) {
        // As in Node, the abort is acted on after 'spawn' (or the spawn error).
        this.#abortOnSpawn = onAbort
      } else {
        signal.addEventListener('abort', onAbort, { once: true })
        this.#abort = () => signal.removeEventListener('abort', onAbort)
      }
    }
    if (timeout > 0) {
      this.#timer = setLongTimeout(() => {
        this.#timer = null
        try {
          this.kill(killSignal)
        } catch (err) {
          this.emit('error', err)
        }
      }, timeout)
    }
  }

  #abortWith(killSignal, reason) {
    try {
      if (this.kill(killSignal)) this.emit('error', new AbortError(undefined, { cause: reason }))
    } catch (err) {
      this.emit('error', err)
    }
  }

  #makeOutput(index) {
    // Null-prototype options: the stream must not pick up an inherited
    // `encoding` or `objectMode` (prototype pollution).
    const stream = new ChildOutput(this.#liveness(), {
      __proto__: null,
      read: () => {
        if (this.#paused[index]) {
          this.#paused[index] = false
          if (!this.#released) binding.reactorPause(this.#key, index, false)
        }
      },
    })
    // Destroyed before EOF: close our end of the socket, as Node does, so the
    // child's next write fails (ECONNRESET/EPIPE/SIGPIPE) instead of blocking forever.
    stream.on('close', () => {
      if (!stream.readableEnded && !this.#ended[index] && !this.#released && this.#key !== null) {
        binding.reactorCloseOutput(this.#key, index)
      }
    })
    return stream
  }

  #makeStdin() {
    return new ChildStdin(this.#liveness(), {
      __proto__: null,
      write: (chunk, _encoding, cb) => this.#write([chunk], cb),
      writev: (chunks, cb) => this.#write(chunks.map((c) => c.chunk), cb),
      final: (cb) => {
        if (!this.#released && this.#key !== null && this.#stdinWriter.error === null) {
          binding.reactorEnd(this.#key)
        }
        cb()
      },
      destroy: (err, cb) => {
        if (!this.#released && this.#key !== null) binding.reactorEnd(this.#key)
        cb(err)
      },
    })
  }

  #write(chunks, cb) {
    const open = !this.#released && !this.#failed && this.#key !== null
    this.#stdinWriter.write(open ? this.#key : null, chunks, cb)
  }

  #onEvent(_status, ev) {
    switch (ev[0]) {
      case EventKind.Spawned: {
        this.emit('spawn')
        const abort = this.#abortOnSpawn
        this.#abortOnSpawn = null
        if (abort !== null) abort()
        break
      }
      case EventKind.SpawnFailed:
        this.#spawnFailed(ev[1])
        break
      case EventKind.Data: {
        // Flow control: return credit to the reactor as chunks are taken in.
        this.#unacked[ev[1]] += ev[2].length
        if (this.#unacked[ev[1]] >= ACK_EVERY && !this.#released) {
          binding.reactorAck(this.#key, ev[1], this.#unacked[ev[1]])
          this.#unacked[ev[1]] = 0
        }
        const stream = ev[1] === Stream.Stdout ? this.stdout : this.stderr
        if (stream === null || stream.destroyed) break
        if (!stream.push(ev[2]) && !this.#paused[ev[1]] && !this.#released) {
          this.#paused[ev[1]] = true
          binding.reactorPause(this.#key, ev[1], true)
        }
        break
      }
      case EventKind.End: {
        this.#ended[ev[1]] = true
        if (!this.#childRef) this.#updateRef()
        const stream = ev[1] === Stream.Stdout ? this.stdout : this.stderr
        if (stream !== null && !stream.destroyed) stream.push(null)
        break
      }
      case EventKind.ReadFailed: {
        const stream = ev[1] === Stream.Stdout ? this.stdout : this.stderr
        if (stream !== null) stream.destroy(errnoException(ev[2], 'read'))
        break
      }
      case EventKind.Written:
        this.#stdinWriter.written()
        break
      case EventKind.WriteFailed:
        this.#stdinWriter.failed(ev[1], this.stdin)
        break
      case EventKind.Exit:
        this.#exit(ev[1], ev[2])
        break
    }
  }

  #spawnFailed(errno) {
    // As with child_process, a child that never ran has no pid (an exec
    // failure the checks before the clone could not foresee comes here
    // after spawn() returned one).
    this.pid = undefined
    this.#failed = true
    this.exitCode = -errno
    this.#cleanupTimers()
    if (this.stdin != null) this.stdin.destroy()
    for (const s of [this.stdout, this.stderr]) if (s != null && !s.destroyed) s.push(null)
    const syscall = `spawn ${this.spawnfile}`
    const err = errnoException(errno, syscall, { path: this.spawnfile, spawnargs: this.spawnargs.slice(1) })
    const abort = this.#abortOnSpawn
    this.#abortOnSpawn = null
    this.#exited = true
    process.nextTick(flushStdio, this)
    try {
      this.emit('error', err)
      if (abort !== null) abort() // kill() is false now: nothing more happens
    } finally {
      this.#maybeClose()
    }
  }

  #exit(code, signal) {
    this.#exited = true
    if (signal) this.signalCode = signalNames[signal] ?? signal
    else this.exitCode = code
    this.#cleanupTimers()
    if (this.stdin !== null) this.stdin.destroy()
    process.nextTick(flushStdio, this)
    try {
      this.emit('exit', this.exitCode, this.signalCode)
    } finally {
      this.#maybeClose()
    }
  }

  #cleanupTimers() {
    if (this.#timer !== null) {
      this.#timer.clear()
      this.#timer = null
    }
    if (this.#abort !== null) {
      this.#abort()
      this.#abort = null
    }
  }

  #maybeClose() {
    this.#closesGot++
    if (this.#closesGot !== this.#closesNeeded) return
    this.#released = true
    native.close(this.#id)
    if (this.#key !== null) binding.reactorRelease(this.#key)
    this.emit('close', this.exitCode, this.signalCode)
  }

  /**
   * Sends a signal (default SIGTERM) through the child's pidfd. Returns true
   * if it was sent; false once the child has exited.
   */
  kill(sig) {
    const signal = sig === 0 ? 0 : convertToValidSignal(sig === undefined ? 'SIGTERM' : sig)
    return this.#signal(signal, false)
  }

  /**
   * Signals the child's whole process group when it leads one (spawned with
   * `detached`, or by exec with `killTree`); otherwise the child alone.
   */
  killGroup(sig) {
    const signal = sig === 0 ? 0 : convertToValidSignal(sig === undefined ? 'SIGTERM' : sig)
    return this.#signal(signal, true)
  }

  #signal(signal, group) {
    if (this.#key === null || this.#exited || this.#failed) return false
    const err = -binding.reactorKill(this.#key, signal, group)
    if (err === 0) {
      this.killed = true
      return true
    }
    if (err === ESRCH) return false
    const ex = errnoException(err, 'kill')
    if (err === EINVAL || err === ENOSYS) throw ex
    this.emit('error', ex)
    return false
  }

  /** The child keeps the event loop alive (the default). */
  ref() {
    this.#childRef = true
    this.#updateRef()
  }

  /**
   * The event loop may exit while the child runs. As under child_process,
   * a piped output stream keeps it alive until it ends or is destroyed
   * (read or not), and so do stdin writes not yet flushed, unless that
   * stream is unref()'d itself: output is not lost.
   */
  unref() {
    this.#childRef = false
    if (!this.#watching) {
      this.#watching = true
      const update = () => this.#updateRef()
      for (const stream of [this.stdout, this.stderr]) if (stream != null) stream.on('close', update)
    }
    this.#updateRef()
  }

  /** As child_process: kills the child (SIGTERM) unless already killed. */
  [SymbolDispose]() {
    if (!this.killed) this.kill()
  }

  #liveness() {
    return this.#ownerHandle ??= { updateRef: () => this.#updateRef() }
  }

  /** Whether anything of this child keeps the event loop alive now. */
  #keepsAlive() {
    if (this.#childRef) return true
    for (const [i, stream] of [[Stream.Stdout, this.stdout], [Stream.Stderr, this.stderr]]) {
      if (stream != null && stream[kLiveness] && !stream.destroyed && !this.#ended[i]) return true
    }
    return this.stdin != null && this.stdin[kLiveness] && this.#stdinWriter.pending
  }

  #updateRef() {
    if (!this.#released) native.setRef(this.#id, this.#keepsAlive())
  }
}

/** Resumes output streams nobody touched, so unread output cannot hold 'close'. */
function flushStdio(child) {
  for (const stream of [child.stdout, child.stderr]) {
    if (stream == null || !stream.readable || stream.destroyed) continue
    if (stream.readableFlowing !== null || stream.listenerCount('readable') > 0) continue
    stream.resume()
  }
}


module.exports = { ChildProcess, kSpawn }
