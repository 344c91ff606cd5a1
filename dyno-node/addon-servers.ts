/**
 * The add-on servers control instances provision on (their member records carry
 * `host:port`, never credentials): the node's firewall lets dynos through to
 * them, and only to them, among private addresses. Sticky for the agent's life:
 * a control plane that goes down must not cut running dynos off their database.
 */
import { lookup } from 'node:dns/promises';
import type { Cluster } from '../cluster/client.ts';
import { watchPrefix, type PrefixWatch } from '../cluster/watch.ts';
import type { AllowRule } from '../container/firewall.ts';
import type { Isolation } from '../container/isolation.ts';
import type { Logger } from '../lib/log.ts';

/** `host:port` -> one rule per address the host resolves to. */
export async function addonRules(servers: Iterable<string>): Promise<AllowRule[]> {
  const rules: AllowRule[] = [];
  for (const s of servers) {
    const m = /^(.+):(\d+)$/.exec(s);
    if (!m) continue;
    const addrs = await lookup(m[1]!, { all: true, family: 4 }).catch(() => []);
    for (const a of addrs) rules.push({ cidr: a.address, port: Number(m[2]), proto: 'tcp', why: `add-on server ${s}` });
  }
  return rules;
}

export function watchAddonServers(cluster: Cluster, iso: Isolation, log: Logger): PrefixWatch {
  const seen = new Set<string>();
  let applying: Promise<void> = Promise.resolve();
  return watchPrefix(cluster, cluster.keys.members(), {
    onChanges: (changes) => {
      const before = seen.size;
      for (const c of changes) if (c.type === 'put' && c.entry.kind === 'member') for (const s of c.entry.value.addonServers ?? []) seen.add(s);
      if (seen.size === before) return;
      applying = applying.then(async () => {
        const rules = await addonRules(seen);
        await iso.setAllowed(rules);
        log.info({ servers: [...seen], rules: rules.length }, 'addon-servers-allowed');
      }).catch((err: Error) => log.error({ err: err.message }, 'addon-servers-allow-failed'));
    },
  }, log);
}
