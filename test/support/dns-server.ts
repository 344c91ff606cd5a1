/**
 * A tiny authoritative DNS server over UDP for tests: answers A queries from a
 * table (name -> IPv4), AAAA with no records, anything else NXDOMAIN. Enough
 * for "a hostname that resolves to a private address" through a real resolver.
 */
import { createSocket, type Socket } from 'node:dgram';

export class TestDns {
  private socket: Socket | undefined;
  address = '';

  constructor(readonly records: Map<string, string>) {}

  async start(host = '127.0.0.53'): Promise<string> {
    const s = (this.socket = createSocket('udp4'));
    s.on('message', (msg, peer) => {
      const reply = this.answer(msg);
      if (reply) s.send(reply, peer.port, peer.address);
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(0, host, () => resolve());
    });
    const a = s.address();
    this.address = `${a.address}:${a.port}`;
    return this.address;
  }

  private answer(q: Buffer): Buffer | undefined {
    if (q.length < 12) return undefined;
    let off = 12;
    const labels: string[] = [];
    while (off < q.length && q[off] !== 0) {
      const len = q[off]!;
      labels.push(q.subarray(off + 1, off + 1 + len).toString('ascii'));
      off += 1 + len;
    }
    off += 1;
    const qtype = q.readUInt16BE(off);
    const question = q.subarray(12, off + 4);
    const name = labels.join('.').toLowerCase();
    const ip = this.records.get(name);
    const answers: Buffer[] = [];
    if (ip && qtype === 1) {
      const rr = Buffer.alloc(16);
      rr.writeUInt16BE(0xc00c, 0); // pointer to the question's name
      rr.writeUInt16BE(1, 2);
      rr.writeUInt16BE(1, 4);
      rr.writeUInt32BE(5, 6);
      rr.writeUInt16BE(4, 10);
      ip.split('.').forEach((b, i) => rr.writeUInt8(Number(b), 12 + i));
      answers.push(rr);
    }
    const head = Buffer.alloc(12);
    q.copy(head, 0, 0, 2); // id
    head.writeUInt16BE(0x8400 | (ip ? 0 : 3), 2); // response, authoritative, NOERROR or NXDOMAIN
    head.writeUInt16BE(1, 4);
    head.writeUInt16BE(answers.length, 6);
    return Buffer.concat([head, question, ...answers]);
  }

  close(): void {
    this.socket?.close();
  }
}
