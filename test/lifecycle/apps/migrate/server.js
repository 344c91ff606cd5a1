// Says which code it runs and whether that code's release command had finished when it booted.
const fs = require('node:fs');
const path = require('node:path');
const version = fs.readFileSync(path.join(__dirname, 'VERSION'), 'utf8').trim();
const marker = path.join(process.env.MARKER_DIR, `released-${version}`);
const markerAtBoot = fs.existsSync(marker);
require('node:http')
  .createServer((_req, res) => res.end(JSON.stringify({ version, markerAtBoot, marker: fs.existsSync(marker) })))
  .listen(process.env.PORT);
