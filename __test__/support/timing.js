'use strict'
// Time bounds that follow the machine. "Exits promptly" and "did not hang"
// are checked against a fixed bound that a quiet machine meets with room to
// spare; a busy one (other test files, other processes beside them) takes
// several times as long for the same work. So such a bound is the larger of
// the fixed one and a generous multiple of a baseline measured at the time:
// a fresh node process that starts and exits at once. (Not a spec: jest only
// runs *.test.js.)
const { spawnSync } = require('node:child_process')

/** How long a fresh `node -e 0` takes now, start to exit (ms). */
function nodeRunMs() {
  const t0 = performance.now()
  const r = spawnSync(process.execPath, ['-e', '0'], { stdio: 'ignore', timeout: 120_000 })
  if (r.error) throw r.error
  return performance.now() - t0
}

/** `fixedMs`, or `factor` times the node baseline measured now when that is more. */
function hangBound(fixedMs, factor = 30) {
  return Math.max(fixedMs, factor * nodeRunMs())
}

module.exports = { hangBound, nodeRunMs }
