/**
 * A small authoritative DNS server over UDP (RFC 1035 wire format) that answers A and AAAA queries
 * from a table: the local stand-in for the public DNS that resolves `httpbin.org` and
 * `www.google.com` in the egress sample, so `meshgate run --dns-server 127.0.0.1:15353` exercises
 * `resolution: DNS` without leaving the machine:
 *
 *   node dist/samples/egress/dns-server.js --port 15353 --record httpbin.org=127.0.0.1 --ttl 30
 *
 * Unknown names get NXDOMAIN; a known name without records of the asked type gets an empty NOERROR
 * answer (NODATA); queries other than A/AAAA get NOTIMP. Every query is counted and logged, so a
 * test can see when a resolver used its cache. Dependency-free on purpose (samples run on bare Node).
 */
import dgram from 'node:dgram';
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { exitWithParent, isMainModule } from '../common/process-util.js';

/** Options of {@link startDnsServer}. */
interface DnsServerOptions {
  /** Address to bind (default 127.0.0.1). */
  readonly host?: string;
  /** UDP port; 0 (default) picks a free one. */
  readonly port?: number;
  /** Name → IPv4/IPv6 addresses; names are matched case-insensitively, without a trailing dot. */
  readonly records?: Readonly<Record<string, readonly string[]>>;
  /** TTL of every answer, in seconds (default 30). */
  readonly ttlSeconds?: number;
  /** Receives one line per query (default: silent). */
  readonly log?: (line: string) => void;
}

/** A running {@link startDnsServer}. */
export interface RunningDnsServer {
  readonly host: string;
  readonly port: number;
  /** Queries received so far, `<name> <A|AAAA|type n>` in arrival order. */
  readonly queries: string[];
  /** Replaces the addresses of a name (empty list: the name becomes unknown). */
  set(name: string, addresses: readonly string[]): void;
  close(): Promise<void>;
}

const TYPE_A = 1;
const TYPE_AAAA = 28;
const CLASS_IN = 1;
const RCODE_NXDOMAIN = 3;
const RCODE_NOTIMP = 4;
const RCODE_FORMERR = 1;

/** Reads the question name starting at `offset`; returns the lowercase name and the offset after it. */
function readName(msg: Buffer, offset: number): { name: string; end: number } | undefined {
  const labels: string[] = [];
  let i = offset;
  for (;;) {
    if (i >= msg.length) return undefined;
    const len = msg[i]!;
    if (len === 0) return { name: labels.join('.').toLowerCase(), end: i + 1 };
    // Compression pointers never appear in a question a resolver sends first.
    if (len > 63 || i + 1 + len > msg.length) return undefined;
    labels.push(msg.toString('latin1', i + 1, i + 1 + len));
    i += 1 + len;
  }
}

function ipv6Bytes(address: string): Buffer {
  const [head = '', tail] = address.split('::');
  const parse = (s: string) => (s === '' ? [] : s.split(':').map((h) => parseInt(h, 16)));
  const a = parse(head);
  const b = tail === undefined ? [] : parse(tail);
  const groups = [...a, ...new Array<number>(8 - a.length - b.length).fill(0), ...b];
  const out = Buffer.alloc(16);
  groups.forEach((g, k) => out.writeUInt16BE(g, k * 2));
  return out;
}

/**
 * Builds the answer to one query message, or undefined when it is not worth answering (too short).
 * Exported for unit tests.
 */
function answerQuery(
  query: Buffer,
  lookup: (name: string) => readonly string[] | undefined,
  ttlSeconds: number,
): { response: Buffer; name: string; type: number } | undefined {
  if (query.length < 12) return undefined;
  const id = query.readUInt16BE(0);
  const flags = query.readUInt16BE(2);
  const qdcount = query.readUInt16BE(4);
  const header = (rcode: number, ancount: number) => {
    const h = Buffer.alloc(12);
    h.writeUInt16BE(id, 0);
    // QR=1, opcode copied, AA=1, RD copied, RA=0, rcode.
    h.writeUInt16BE(0x8000 | (flags & 0x7800) | 0x0400 | (flags & 0x0100) | rcode, 2);
    h.writeUInt16BE(qdcount === 1 ? 1 : 0, 4);
    h.writeUInt16BE(ancount, 6);
    return h;
  };
  const q = qdcount === 1 ? readName(query, 12) : undefined;
  if (!q || q.end + 4 > query.length)
    return { response: header(RCODE_FORMERR, 0).subarray(0, 12), name: '', type: 0 };
  const type = query.readUInt16BE(q.end);
  const qclass = query.readUInt16BE(q.end + 2);
  const question = query.subarray(12, q.end + 4);
  const name = q.name.endsWith('.') ? q.name.slice(0, -1) : q.name;
  if (qclass !== CLASS_IN || (type !== TYPE_A && type !== TYPE_AAAA)) {
    return { response: Buffer.concat([header(RCODE_NOTIMP, 0), question]), name, type };
  }
  const addresses = lookup(name);
  if (!addresses || addresses.length === 0) {
    return { response: Buffer.concat([header(RCODE_NXDOMAIN, 0), question]), name, type };
  }
  const wanted = addresses.filter((a) => isIP(a) === (type === TYPE_A ? 4 : 6));
  const answers = wanted.map((a) => {
    const rdata = type === TYPE_A ? Buffer.from(a.split('.').map(Number)) : ipv6Bytes(a);
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(0xc00c, 0); // pointer to the question name at offset 12
    rr.writeUInt16BE(type, 2);
    rr.writeUInt16BE(CLASS_IN, 4);
    rr.writeUInt32BE(ttlSeconds, 6);
    rr.writeUInt16BE(rdata.length, 10);
    return Buffer.concat([rr, rdata]);
  });
  return { response: Buffer.concat([header(0, answers.length), question, ...answers]), name, type };
}

/**
 * Starts the server and resolves once it is bound.
 * @throws Error from `bind` (EADDRINUSE...) or for a record that is not an IP address.
 */
export async function startDnsServer(options: DnsServerOptions = {}): Promise<RunningDnsServer> {
  const host = options.host ?? '127.0.0.1';
  const ttl = options.ttlSeconds ?? 30;
  const table = new Map<string, readonly string[]>();
  const set = (name: string, addresses: readonly string[]) => {
    for (const a of addresses)
      if (isIP(a) === 0) throw new Error(`DNS record ${name}=${a}: not an IP address`);
    const key = name.toLowerCase().replace(/\.$/, '');
    if (addresses.length === 0) table.delete(key);
    else table.set(key, [...addresses]);
  };
  for (const [name, addresses] of Object.entries(options.records ?? {})) set(name, addresses);
  const queries: string[] = [];
  const socket = dgram.createSocket(isIP(host) === 6 ? 'udp6' : 'udp4');
  socket.on('message', (msg, rinfo) => {
    const a = answerQuery(msg, (n) => table.get(n), ttl);
    if (!a) return;
    const line = `${a.name} ${a.type === TYPE_A ? 'A' : a.type === TYPE_AAAA ? 'AAAA' : `type ${a.type}`}`;
    queries.push(line);
    options.log?.(`dns query ${line} from ${rinfo.address}:${rinfo.port}`);
    socket.send(a.response, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(options.port ?? 0, host, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  socket.on('error', (err) => options.log?.(`dns server error: ${err.message}`));
  return {
    host,
    port: socket.address().port,
    queries,
    set,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '15353' },
      record: { type: 'string', multiple: true },
      ttl: { type: 'string', default: '30' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(
      'usage: dns-server.js [--host 127.0.0.1] [--port 15353] [--ttl 30] --record name=ip[,ip] ...\n',
    );
    return;
  }
  const records: Record<string, string[]> = {};
  for (const r of values.record ?? []) {
    const eq = r.indexOf('=');
    if (eq <= 0) throw new Error(`--record "${r}" must be name=ip[,ip...]`);
    records[r.slice(0, eq)] = r.slice(eq + 1).split(',');
  }
  const running = await startDnsServer({
    host: values.host,
    port: Number(values.port),
    records,
    ttlSeconds: Number(values.ttl),
    log: (line) => process.stdout.write(`${line}\n`),
  });
  process.stdout.write(`dns server on ${running.host}:${running.port} (udp): ${JSON.stringify(records)}\n`);
  const stop = () => void running.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  exitWithParent();
}

if (isMainModule(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`dns-server: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
