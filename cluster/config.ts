/**
 * How every daemon finds etcd: flags with environment fallbacks, validated at start.
 *   --etcd / DYNOMESH_ETCD              comma-separated client URLs
 *   --etcd-prefix / DYNOMESH_PREFIX     key prefix (default /dynomesh/)
 *   --etcd-ca, --etcd-cert, --etcd-key  TLS files (DYNOMESH_ETCD_CA, _CERT, _KEY)
 *   --etcd-user / DYNOMESH_ETCD_USER    etcd auth user; password only from DYNOMESH_ETCD_PASSWORD
 */
import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { parseUrlList } from '../lib/options.ts';
import type { ClusterOptions } from './client.ts';
import { ClusterError } from './errors.ts';

export interface ClusterFlags {
  etcd?: string[];
  etcdPrefix: string;
  etcdCa?: string;
  etcdCert?: string;
  etcdKey?: string;
  etcdUser?: string;
}

export function addClusterOptions(cmd: Command, opts: { required?: boolean } = {}): Command {
  const etcd = new Option('--etcd <urls>', 'etcd client URLs, comma-separated').env('DYNOMESH_ETCD').argParser(parseUrlList);
  if (opts.required !== false) etcd.makeOptionMandatory();
  return cmd
    .addOption(etcd)
    .addOption(
      new Option('--etcd-prefix <prefix>', 'key prefix in etcd').env('DYNOMESH_PREFIX').default('/dynomesh/').argParser((v) => {
        if (!/^\/[A-Za-z0-9_./-]*$/.test(v)) throw new Error(`"${v}" is not a key prefix; use something like /dynomesh/`);
        return v.endsWith('/') ? v : v + '/';
      }),
    )
    .addOption(new Option('--etcd-ca <file>', 'CA bundle for etcd TLS').env('DYNOMESH_ETCD_CA'))
    .addOption(new Option('--etcd-cert <file>', 'client certificate for etcd TLS').env('DYNOMESH_ETCD_CERT'))
    .addOption(new Option('--etcd-key <file>', 'client key for etcd TLS').env('DYNOMESH_ETCD_KEY'))
    .addOption(new Option('--etcd-user <name>', 'etcd auth user (password from DYNOMESH_ETCD_PASSWORD)').env('DYNOMESH_ETCD_USER'));
}

function readFile(what: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ClusterError('DM_CONFIG', `cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

export function clusterOptionsFrom(flags: ClusterFlags, endpoints = flags.etcd): ClusterOptions {
  if (!endpoints?.length) throw new ClusterError('DM_CONFIG', 'no etcd endpoints: pass --etcd http://host:2379 or set DYNOMESH_ETCD');
  const out: ClusterOptions = { endpoints, prefix: flags.etcdPrefix };
  if (flags.etcdCert && !flags.etcdKey) throw new ClusterError('DM_CONFIG', '--etcd-cert needs --etcd-key as well');
  if (flags.etcdCa || flags.etcdCert) {
    if (!flags.etcdCa) throw new ClusterError('DM_CONFIG', 'etcd TLS needs --etcd-ca (the CA that signed the etcd server certificate)');
    out.tls = {
      ca: readFile('etcd CA file', flags.etcdCa),
      ...(flags.etcdCert ? { cert: readFile('etcd client certificate', flags.etcdCert) } : {}),
      ...(flags.etcdKey ? { key: readFile('etcd client key', flags.etcdKey) } : {}),
    };
  }
  if (flags.etcdUser) {
    const password = process.env.DYNOMESH_ETCD_PASSWORD;
    if (!password) throw new ClusterError('DM_CONFIG', '--etcd-user is set but DYNOMESH_ETCD_PASSWORD is empty');
    out.auth = { username: flags.etcdUser, password };
  }
  return out;
}
