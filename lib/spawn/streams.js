'use strict'
// The piped streams of a native child. child_process gives them as
// `net.Socket`s; these give the same shape where it can be observed without
// a libuv handle: the direction flags (`stdin.readable === false`;
// `stdout.writable` is true while open, as on Node's socket), `ref`/`unref`
// (whether the open stream keeps the event loop alive),
// `setNoDelay`/`setKeepAlive` (no-ops on a Unix socket, as in Node) and
// `destroySoon`.

const { Readable, Writable } = require('node:stream')
const { stdinChunk } = require('./stdin')

/** Whether a stream keeps the event loop alive (its own ref()/unref()). */
const kLiveness = Symbol('spindle.liveness')

/**
 * Adds the socket-shaped methods both stream classes share. `owner` has
 * `updateRef()`, called whenever a stream's ref state changes.
 */
function socketShaped(Base) {
  return class extends Base {
    #owner
    #ref = true
    constructor(owner, options) {
      super(options)
      this.#owner = owner
    }
    get [kLiveness]() {
      return this.#ref
    }
    ref() {
      this.#ref = true
      this.#owner.updateRef()
      return this
    }
    unref() {
      this.#ref = false
      this.#owner.updateRef()
      return this
    }
    setNoDelay() {
      return this
    }
    setKeepAlive() {
      return this
    }
  }
}

class ChildStdin extends socketShaped(Writable) {
  write(chunk, encoding, cb) {
    return super.write(stdinChunk(chunk), encoding, cb)
  }
  end(chunk, encoding, cb) {
    if (chunk != null && typeof chunk !== 'function') chunk = stdinChunk(chunk)
    return super.end(chunk, encoding, cb)
  }
  get readable() {
    return false
  }
  /** Ends the stream, then destroys it once everything is written. */
  destroySoon() {
    if (this.writable) this.end()
    if (this.writableFinished) this.destroy()
    else this.once('finish', () => this.destroy())
  }
}

class ChildOutput extends socketShaped(Readable) {
  /** As on the socket child_process gives (a Duplex whose writable side stays open). */
  get writable() {
    return !this.destroyed
  }
  /** Nothing is written to an output stream: destroys it. */
  destroySoon() {
    this.destroy()
  }
}

module.exports = { ChildOutput, ChildStdin, kLiveness }
