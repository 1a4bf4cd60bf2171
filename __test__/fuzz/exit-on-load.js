'use strict'
// A worker module that ends its thread while loading (issue 10 item 5): a
// Pool given it must reject its tasks with a code, not respawn it forever.
process.exit(0)
