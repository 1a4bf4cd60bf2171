'use strict'
// The task module the remote example serves (examples/remote-serve.js).
// Plain functions: the same module works in a local spindle.Pool.

/**
 * A grayscale image ({ pixels: Uint8Array, width, height }) scaled down to
 * `width` by averaging boxes of pixels; reports its progress per row band.
 */
function resize({ image, width }, ctx) {
  if (!Number.isInteger(width) || width <= 0) {
    const err = new RangeError(`width must be a positive integer, got ${width}`)
    err.code = 'E_BAD_WIDTH'
    throw err
  }
  const scale = image.width / width
  const height = Math.max(1, Math.round(image.height / scale))
  const out = new Uint8Array(width * height)
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let sum = 0
      let n = 0
      for (let sy = Math.floor(y * scale); sy < Math.min(image.height, Math.floor((y + 1) * scale)); sy++) {
        for (let sx = Math.floor(x * scale); sx < Math.min(image.width, Math.floor((x + 1) * scale)); sx++) {
          sum += image.pixels[sy * image.width + sx]
          n++
        }
      }
      out[y * width + x] = n ? Math.round(sum / n) : 0
    }
    if (y % Math.ceil(height / 4) === 0) ctx.postMessage({ rows: y, of: height })
  }
  return { pixels: out, width, height, servedBy: process.pid }
}

function fib(n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2)
}

/** Blocks for `ms`: long enough to be cancelled. */
function slow(ms, ctx) {
  ctx.postMessage('started')
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
  return 'finished'
}

module.exports = { resize, fib, slow }
