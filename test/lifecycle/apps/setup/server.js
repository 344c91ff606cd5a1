// Shows what app.json set up: its config vars (secrets by length only) and which dyno answered.
const e = process.env;
require('node:http')
  .createServer((_req, res) => res.end(JSON.stringify({
    dyno: e.DYNO, greeting: e.GREETING, apiToken: e.API_TOKEN, secretLength: (e.SECRET_KEY_BASE ?? '').length,
    redis: /^redis:\/\//.test(e.REDIS_URL ?? ''), optional: e.OPTIONAL ?? null,
  })))
  .listen(e.PORT);
