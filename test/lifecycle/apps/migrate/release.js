// A "migration": prints, takes a moment, then leaves a marker. FAIL in the slug fails it; SLOW hangs it.
const fs = require('node:fs');
const path = require('node:path');
const version = fs.readFileSync(path.join(__dirname, 'VERSION'), 'utf8').trim();
console.log(`migrating v${version}`);
if (process.env.SLOW) setInterval(() => console.log('still migrating'), 1000);
else if (fs.existsSync(path.join(__dirname, 'FAIL'))) {
  console.error('migration failed: boom');
  process.exit(3);
} else {
  setTimeout(() => {
    fs.appendFileSync(path.join(process.env.MARKER_DIR, 'runs'), `${version}\n`);
    fs.writeFileSync(path.join(process.env.MARKER_DIR, `released-${version}`), String(Date.now()));
    console.log('migrated');
  }, 1500);
}
