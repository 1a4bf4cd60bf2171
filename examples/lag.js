'use strict'
// Shared by the demos: how late does the event loop run while work happens?

/** Starts a 10 ms ticker; returns a function that stops it and reports the worst lag in ms. */
function lagMonitor() {
  let worst = 0
  let last = performance.now()
  const timer = setInterval(() => {
    const now = performance.now()
    worst = Math.max(worst, now - last - 10)
    last = now
  }, 10)
  return () => {
    clearInterval(timer)
    return Math.max(0, worst)
  }
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 30))

/** Runs `fn` under a lag monitor and prints one line: time and worst lag. */
async function measure(label, fn) {
  await tick()
  const stop = lagMonitor()
  await tick()
  const t0 = performance.now()
  await fn()
  const ms = performance.now() - t0
  await tick()
  const lag = stop()
  console.log(`  ${label.padEnd(38)} ${ms.toFixed(0).padStart(6)} ms   worst event-loop lag ${lag.toFixed(1).padStart(7)} ms`)
  return { ms, lag }
}

module.exports = { lagMonitor, measure }
