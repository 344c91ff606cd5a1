/** What drains get: RFC 5424 with octet counting, logplex-1 messages, and which drain URLs are taken. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { octetFrame, syslogMessage, logplexMessage } from '../../control/logs/drains/rfc5424.ts';
import { checkDrainUrl } from '../../control/logs/routes.ts';
import { ControlError } from '../../control/errors.ts';

const T = Date.UTC(2026, 10, 26, 10, 0, 0) * 1000 + 123456;

describe('drain formats', () => {
  const r = { app: 'a', source: 'app' as const, dyno: 'web.1', ts: T, line: 'héllo' };
  test('RFC 5424 with octet counting in bytes; logplex-1 messages', () => {
    const m = syslogMessage(r, 'd.0f0e');
    assert.equal(m, '<190>1 2026-11-26T10:00:00.123456+00:00 d.0f0e app web.1 - - héllo');
    assert.equal(octetFrame(m), `${Buffer.byteLength(m)} ${m}`);
    assert.equal(logplexMessage(r), '<190>1 2026-11-26T10:00:00.123456+00:00 host app web.1 - héllo');
  });
  test('drain URLs', () => {
    assert.equal(checkDrainUrl('syslog://logs.example.com:514'), 'syslog://logs.example.com:514');
    assert.equal(checkDrainUrl('syslog+tls://logs.example.com:6514/'), 'syslog+tls://logs.example.com:6514');
    assert.equal(checkDrainUrl('https://u:p@h.example.com/x?y=1'), 'https://u:p@h.example.com/x?y=1');
    for (const bad of ['ftp://h/x', 'syslog://h', 'nope', 42]) assert.throws(() => checkDrainUrl(bad), ControlError);
  });
});
