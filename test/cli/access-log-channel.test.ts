/**
 * The primary's reader of a worker's access-log socket (`readWorkerLog`), over a real loopback TCP
 * connection: whatever the chunks, it hands over whole lines only, in order, and drops (and counts)
 * a last line the worker never finished.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { readWorkerLog } from '../../cli/access-log-channel.js';

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

describe('readWorkerLog', () => {
  let close: (() => void) | undefined;
  afterEach(() => close?.());

  it('hands over whole lines only, whatever the chunk boundaries, and drops an unfinished last line', async () => {
    const pair = await socketPair();
    close = pair.close;
    const written: string[] = [];
    let dropped = 0;
    const done = readWorkerLog(
      pair.reader,
      { write: (b) => written.push(Buffer.from(b).toString('utf8')) },
      (n) => (dropped += n),
    );
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
    expect(written).toEqual(['a\n', 'bbb\n', 'c€\n', 'dd€\n', 'e\n']);
    expect(written.join('')).toBe('a\nbbb\nc€\ndd€\ne\n');
    expect(dropped).toBe(1);
  });

  it('drops nothing when the stream ends after a whole line', async () => {
    const pair = await socketPair();
    close = pair.close;
    const written: string[] = [];
    let dropped = 0;
    const done = readWorkerLog(
      pair.reader,
      { write: (b) => written.push(Buffer.from(b).toString('utf8')) },
      (n) => (dropped += n),
    );
    pair.writer.end('x\ny\n');
    await done;
    expect(written.join('')).toBe('x\ny\n');
    expect(dropped).toBe(0);
  });
});
