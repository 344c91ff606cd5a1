/**
 * msgpackr codecs for etcd values. Each value is `[kind, version, body]`, so a
 * reader can tell a value of the wrong kind, a newer schema, or a corrupt body
 * apart, and say which key it was.
 */
import { Packr } from 'msgpackr';
import { DecodeError } from './errors.ts';
import { SCHEMAS, mismatch, type RecordKind, type RecordOf } from './records.ts';

// Plain maps, no shared record structures: values must be readable by any process version.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });

export function encode<K extends RecordKind>(kind: K, value: RecordOf[K]): Buffer {
  return packr.pack([kind, SCHEMAS[kind].version, value]);
}

export function decode<K extends RecordKind>(kind: K, key: string, bytes: Uint8Array): RecordOf[K] {
  let envelope: unknown;
  try {
    envelope = packr.unpack(bytes);
  } catch (err) {
    throw new DecodeError(key, `corrupt body (${(err as Error).message})`);
  }
  if (!Array.isArray(envelope) || envelope.length !== 3) throw new DecodeError(key, 'not a dynomesh value');
  const [k, version, body] = envelope as [unknown, unknown, unknown];
  if (k !== kind) throw new DecodeError(key, `holds a ${String(k)} value, expected ${kind}`);
  if (version !== SCHEMAS[kind].version) {
    throw new DecodeError(key, `schema version ${String(version)} of ${kind} is unknown (this build reads v${SCHEMAS[kind].version}); upgrade dynomesh`);
  }
  const bad = mismatch(kind, body);
  if (bad) throw new DecodeError(key, `${kind} v${version}: ${bad}`);
  return body as RecordOf[K];
}
