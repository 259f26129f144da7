/**
 * The upstream 100 Continue filter on its own: every way a response can be cut into reads gives the
 * same bytes to the HTTP client, minus the 100 heads (Envoy drops upstream 100s when
 * `proxy_100_continue` is off). The stream here stands for the socket; the filter only sees `write`
 * and `push`, which is what a TCP or TLS socket calls.
 */
import { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { absorbInterimContinue } from '../../upstream/interim-response-filter.js';

/** A socket stand-in: writes are discarded, pushed bytes are collected as latin1 text. */
function filtered(): { sock: Duplex; received: () => string } {
  const sock = new Duplex({ read() {}, write: (_c, _e, cb) => cb() });
  let got = '';
  sock.on('data', (c: Buffer) => (got += c.toString('latin1')));
  absorbInterimContinue(sock);
  return { sock, received: () => got };
}

/** Sends a request head, pushes `response` cut at `cuts`, then ends the stream. */
async function roundTrip(response: string, cuts: readonly number[]): Promise<string> {
  const { sock, received } = filtered();
  sock.write('GET / HTTP/1.1\r\nhost: a\r\n\r\n', 'latin1');
  let at = 0;
  for (const cut of [...cuts, response.length]) {
    sock.push(Buffer.from(response.slice(at, cut), 'latin1'));
    at = cut;
  }
  sock.push(null);
  await new Promise((r) => sock.once('end', r));
  return received();
}

const FINAL = 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello';
const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';
const HINTS = 'HTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\n';

describe('absorbInterimContinue', () => {
  it('drops a 100 head wherever the reads are cut (every single cut point)', async () => {
    const response = CONTINUE + FINAL;
    for (let cut = 1; cut < response.length; cut++) expect(await roundTrip(response, [cut])).toBe(FINAL);
  });

  it('drops two 100 heads and keeps a 103 between them, cut at every point', async () => {
    const response = CONTINUE + HINTS + CONTINUE + FINAL;
    for (let cut = 1; cut < response.length; cut += 3)
      expect(await roundTrip(response, [cut, Math.min(cut + 7, response.length)])).toBe(HINTS + FINAL);
  });

  it('leaves a final response alone, also when its body starts like a 100 head', async () => {
    const lookalike = `HTTP/1.1 200 OK\r\ncontent-length: ${CONTINUE.length}\r\n\r\n${CONTINUE}`;
    expect(await roundTrip(lookalike, [])).toBe(lookalike);
    expect(await roundTrip(lookalike, [lookalike.length - CONTINUE.length])).toBe(lookalike);
    expect(await roundTrip(CONTINUE + lookalike, [CONTINUE.length + 10])).toBe(lookalike);
  });

  it('leaves 101 Switching Protocols and what follows alone', async () => {
    const upgrade = `HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n${CONTINUE}`;
    expect(await roundTrip(upgrade, [5])).toBe(upgrade);
  });

  it('passes bytes through untouched when no request head was written', async () => {
    const { sock, received } = filtered();
    sock.push(Buffer.from(CONTINUE, 'latin1'));
    sock.push(null);
    await new Promise((r) => sock.once('end', r));
    expect(received()).toBe(CONTINUE);
  });

  it('a body write (Buffer) or chunked framing (CR first) does not re-arm it', async () => {
    const { sock, received } = filtered();
    sock.write('POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n', 'latin1');
    sock.push(Buffer.from(FINAL, 'latin1'));
    sock.write('\r\n5\r\n', 'latin1');
    sock.write(Buffer.from('hello'));
    sock.push(Buffer.from(CONTINUE, 'latin1'));
    sock.push(null);
    await new Promise((r) => sock.once('end', r));
    expect(received()).toBe(FINAL + CONTINUE);
  });

  it('hands over a held partial head when the upstream closes mid-head', async () => {
    expect(await roundTrip('HTTP/1.1 100 Conti', [])).toBe('HTTP/1.1 100 Conti');
  });
});
