// Runs as the "build" script during the build: proves npm scripts run with the app's files.
require('node:fs').writeFileSync('built.txt', `built at ${new Date().toISOString()}\n`);
console.log('build script wrote built.txt');
