/**
 * The primary's reader of the workers' access-log sockets (`WorkerLogReader`), over a real loopback TCP
 * connection: whatever the chunks, it hands over whole lines only, in order, and drops (and counts)
 * a last line the worker never finished.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WorkerLogReader } from '../../cli/access-log-channel.js';

/** A connected pair: `writer` (the worker's end) and `reader` (the primary's). */
async function socketPair(): Promise<{ writer: net.Socket; reader: net.Socket; close: () => void }> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const writer = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  writer.setNoDelay(true);
  const reader = await accepted;
  return { writer, reader, close: () => server.close() };
}

/** Writes `parts` one at a time, each after the reader has seen the one before. */
async function writeApart(
  writer: net.Socket,
  reader: net.Socket,
  parts: readonly (string | Uint8Array)[],
): Promise<void> {
  for (const p of parts) {
    const seen = new Promise((r) => reader.once('data', r));
    writer.write(p);
    await seen;
  }
}

/** A reader whose output and drops the test sees. */
function reader(): { r: WorkerLogReader; written: string[]; dropped: () => number } {
  const written: string[] = [];
  let dropped = 0;
  const r = new WorkerLogReader(
    { write: (b) => written.push(Buffer.from(b).toString('utf8')) },
    (n) => (dropped += n),
  );
  return { r, written, dropped: () => dropped };
}

describe('WorkerLogReader', () => {
  let close: (() => void) | undefined;
  afterEach(() => close?.());

  it('hands over whole lines only, whatever the chunk boundaries, and drops an unfinished last line', async () => {
    const pair = await socketPair();
    close = pair.close;
    const { r, written, dropped } = reader();
    const done = r.add(pair.reader);
    // A multi-byte character cut between chunks is kept whole too.
    const euro = Buffer.from('€', 'utf8');
    await writeApart(pair.writer, pair.reader, [
      'a\nbb',
      'b',
      '\nc€\nd',
      Buffer.concat([Buffer.from('d'), euro.subarray(0, 1)]),
      euro.subarray(1),
      '\ne\nunfinished',
    ]);
    pair.writer.end();
    await done;
    // One write per read burst.
    expect(written).toEqual(['a\n', 'bbb\nc€\n', 'dd€\ne\n']);
    expect(written.join('')).toBe('a\nbbb\nc€\ndd€\ne\n');
    expect(dropped()).toBe(1);
  });

  it('drops nothing when the stream ends after a whole line', async () => {
    const pair = await socketPair();
    close = pair.close;
    const { r, written, dropped } = reader();
    const done = r.add(pair.reader);
    pair.writer.end('x\ny\n');
    await done;
    expect(written.join('')).toBe('x\ny\n');
    expect(dropped()).toBe(0);
  });

  it("keeps each worker's lines whole and in order when several sockets are read together", async () => {
    const pairs = [await socketPair(), await socketPair()];
    close = () => pairs.forEach((p) => p.close());
    const { r, written, dropped } = reader();
    const done = Promise.all(pairs.map((p) => r.add(p.reader)));
    const line = (w: number, i: number): string => `{"w":${w},"i":${i},"pad":"${'x'.repeat(3000 + i)}"}\n`;
    const text = (w: number): string => Array.from({ length: 200 }, (_, i) => line(w, i)).join('');
    // Written in odd pieces, so that reads end inside lines.
    pairs.forEach((p, w) => {
      const t = text(w);
      for (let at = 0; at < t.length; at += 7919) p.writer.write(t.slice(at, at + 7919));
      p.writer.end();
    });
    await done;
    for (const part of written) expect(part.endsWith('\n')).toBe(true);
    const lines = written.join('').split('\n').slice(0, -1);
    expect(lines).toHaveLength(400);
    for (const w of [0, 1]) {
      const mine = lines.map((l) => JSON.parse(l) as { w: number; i: number }).filter((x) => x.w === w);
      expect(mine.map((x) => x.i)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    }
    expect(dropped()).toBe(0);
  });
});
