/** The chunked-body decoder used for upgrade refusals passed on over HTTP/2 (RFC 9112 §7.1 framing). */
import { describe, expect, it } from 'vitest';
import { ChunkedDecoder } from '../../../gateway/http/chunked-decoder.js';

const BODY = '4;name=value\r\nWiki\r\n6\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\nx-t: 1\r\n\r\nIGNORED';

function decodeIn(pieces: number): { text: string; done: boolean } {
  const d = new ChunkedDecoder();
  const buf = Buffer.from(BODY, 'latin1');
  const size = Math.ceil(buf.length / pieces);
  let text = '';
  for (let i = 0; i < buf.length; i += size) {
    for (const p of d.feed(buf.subarray(i, i + size))) text += p.toString('latin1');
  }
  return { text, done: d.done };
}

describe('ChunkedDecoder', () => {
  it('decodes sizes, extensions and trailers whole and split at every byte; ignores what follows the end', () => {
    for (const pieces of [1, 2, 7, BODY.length]) {
      expect(decodeIn(pieces)).toEqual({ text: 'Wikipedia in \r\n\r\nchunks.', done: true });
    }
  });

  it('is not done before the last chunk and its trailer section', () => {
    const d = new ChunkedDecoder();
    expect(d.feed(Buffer.from('3\r\nabc\r\n0\r\n')).map(String)).toEqual(['abc']);
    expect(d.done).toBe(false);
    d.feed(Buffer.from('\r\n'));
    expect(d.done).toBe(true);
  });

  it('throws on a bad size or a missing CRLF after the data', () => {
    expect(() => new ChunkedDecoder().feed(Buffer.from('zz\r\n'))).toThrow('bad chunk size');
    expect(() => new ChunkedDecoder().feed(Buffer.from('2\r\nabX\r\n'))).toThrow('missing CRLF');
  });
});
