/**
 * `nodes`, `nodes:drain <node>`, `nodes:uncordon <node>` (admin): the dyno hosts.
 * `nodes:enroll <node> --out FILE` issues a node its own credential (the file its
 * dyno-node reads; the cluster key never leaves the control hosts);
 * `nodes:revoke <node>` refuses it from the next request and cordons it.
 * Draining cordons the node (the scheduler places nothing new there) and waits
 * until its dynos have moved to other hosts, web ones new-first (preboot), so
 * the host can be stopped or upgraded without a failed request.
 */
import { Option, type Command } from 'commander';
import { parseDuration } from '../../lib/options.ts';
import { writeNodeCredential } from '../../cluster/node-credential.ts';
import { CliError } from '../errors.ts';
import { json, print, table } from '../output.ts';
import { api, ProgressLine, step, withJson, type JsonFlags } from '../shared.ts';
import type { NodeJson } from '../../control/api/routes/nodes.ts';

const nodePath = (id: string) => `/nodes/${encodeURIComponent(id)}`;
const stateOf = (n: NodeJson) => (n.cordon || n.labels.drain === 'true' ? `${n.state}, cordoned` : n.state);

export function registerNodes(program: Command): void {
  withJson(program.command('nodes').alias('nodes:list').description('list the dyno hosts (admin): address, memory, dynos, cordon'))
    .action(async (flags: JsonFlags) => {
      const list = await api().get<NodeJson[]>('/nodes');
      if (flags.json) return print(json(list));
      if (list.length === 0) return print('No dyno nodes are running. Start `dynomesh dyno-node` on a host (see deploy/README.md).\n');
      print(table(list, [
        { header: 'Node', get: (n) => n.id },
        { header: 'State', get: stateOf },
        { header: 'Address', get: (n) => n.address ?? '' },
        { header: 'Memory', get: (n) => (n.memory_mb === null ? '' : `${n.memory_mb} MB`) },
        { header: 'Dynos', get: (n) => String(n.dynos.length) },
        { header: 'Version', get: (n) => n.agent_version ?? '' },
      ]));
    });

  withJson(program.command('nodes:drain <node>').description('cordon a node and wait until its dynos run on other hosts (admin)'))
    .option('--reason <text>', 'why, shown by `dynomesh nodes`', 'drain')
    .option('--no-wait', 'return once cordoned, without waiting for the dynos to move')
    .addOption(new Option('--wait-timeout <duration>', 'how long to wait for the dynos to move (e.g. 90s, 10m)').argParser(parseDuration).default(300_000, '5m'))
    .action(async (node: string, flags: JsonFlags & { reason: string; wait: boolean; waitTimeout: number }) => {
      const client = api();
      let n = await step(`Cordoning node ${node}`, () => client.post<NodeJson>(`${nodePath(node)}/cordon`, { reason: flags.reason }));
      if (flags.wait) {
        const line = new ProgressLine();
        const deadline = Date.now() + flags.waitTimeout;
        for (;;) {
          // One-off dynos are never moved: they finish where they run (as `run` users expect).
          if (n.dynos.length === 0 || n.state === 'gone') break;
          line.update(`Moving ${n.dynos.length} dyno${n.dynos.length === 1 ? '' : 's'} off ${node}: ${n.dynos.join(', ')}`);
          if (Date.now() > deadline) {
            line.done(`Still on ${node}: ${n.dynos.join(', ')}`);
            throw new CliError(`${node} still runs ${n.dynos.length} dyno(s) after ${Math.round(flags.waitTimeout / 1000)}s; the other nodes may lack memory (see \`dynomesh nodes\`), or one-off dynos are still running`);
          }
          await new Promise((r) => setTimeout(r, 500));
          n = await client.get<NodeJson>(nodePath(node));
        }
        line.done(`${node} is drained: no dynos left on it. Stop its dyno-node now (systemctl stop dynomesh-dyno-node).`);
      }
      if (flags.json) print(json(n));
    });

  program.command('nodes:enroll <node>').description('issue a dyno host its own credential file (admin); enrolling again replaces it')
    .requiredOption('--out <file>', 'where to write it (mode 0600); copy it to the node as <data-dir>/node.credential')
    .action(async (node: string, flags: { out: string }) => {
      const c = await step(`Enrolling node ${node}`, () => api().post<{ node: string; secret: string; log: string }>(`${nodePath(node)}/credential`, {}));
      writeNodeCredential(flags.out, { node: c.node, secret: Buffer.from(c.secret, 'hex'), log: Buffer.from(c.log, 'hex') });
      print(`Wrote ${flags.out}. Install it on ${node} as /var/lib/dynomesh/node/node.credential (owner root, mode 0600), or point DYNOMESH_NODE_CREDENTIAL at it.\n`);
    });

  withJson(program.command('nodes:revoke <node>').description('refuse a node\'s credential from now on and move its dynos off it (admin)'))
    .action(async (node: string, flags: JsonFlags) => {
      const r = await step(`Revoking node ${node}`, () => api().delete<{ node: string; revoked: boolean; was_enrolled: boolean }>(`${nodePath(node)}/credential`));
      if (flags.json) return print(json(r));
      print(`${node} is refused by every control and cordoned. Delete its etcd user too (deploy/README.md); enrol and uncordon it to bring it back.\n`);
    });

  withJson(program.command('nodes:uncordon <node>').description('let the scheduler place dynos on a node again (admin)'))
    .action(async (node: string, flags: JsonFlags) => {
      const n = await step(`Uncordoning node ${node}`, () => api().delete<NodeJson | null>(`${nodePath(node)}/cordon`));
      if (flags.json) print(json(n));
    });
}
