// The scheduled job: one line per run, with when it ran and in which dyno.
require('node:fs').appendFileSync(`${process.env.MARKER_DIR}/ticks`, `${new Date().toISOString()} ${process.env.DYNO}\n`);
console.log('tick done');
