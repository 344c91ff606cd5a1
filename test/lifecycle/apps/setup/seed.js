// The postdeploy script: runs once, after the first release is live.
const fs = require('node:fs');
fs.appendFileSync(`${process.env.MARKER_DIR}/seeds`, `${process.env.GREETING}\n`);
console.log('seeded the database');
