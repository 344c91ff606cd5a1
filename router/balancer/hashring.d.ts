/** The parts of the `hashring` package (ketama, md5) the balancer uses. */
declare module 'hashring' {
  interface RingNode {
    value: number;
    server: string;
  }
  class HashRing {
    constructor(servers: string[] | Record<string, unknown>, algorithm?: string, options?: Record<string, unknown>);
    ring: RingNode[];
    size: number;
    get(key: string): string | undefined;
    find(hashValue: number): number;
    hashValue(key: string): number;
    range(key: string, size?: number, unique?: boolean): string[];
  }
  export default HashRing;
}
