/** The upstream response head as the router forwards it (gateway/http/upstream-response-headers.ts). */
import { describe, expect, it } from 'vitest';
import {
  copyResponseHeaders,
  headerObjectOf,
  trailersObjectOf,
} from '../../../gateway/http/upstream-response-headers.js';

const raw = (...items: string[]): Buffer[] => items.map((s) => Buffer.from(s, 'latin1'));

describe('copyResponseHeaders', () => {
  it('lowercases names, keeps repeats in order, drops hop-by-hop and the headers the router sets', () => {
    const out: string[] = [];
    const grpc = copyResponseHeaders(
      raw(
        'Content-Type',
        'text/plain',
        'Connection',
        'keep-alive',
        'Keep-Alive',
        'timeout=5',
        'Transfer-Encoding',
        'chunked',
        'Server',
        'upstream/1.0',
        'X-Envoy-Upstream-Service-Time',
        '999',
        'Set-Cookie',
        'a=1',
        'set-cookie',
        'b=2',
      ),
      out,
    );
    expect(grpc).toBe(-1);
    expect(out).toEqual(['content-type', 'text/plain', 'set-cookie', 'a=1', 'set-cookie', 'b=2']);
  });

  it('reports where grpc-status is and keeps bytes as they were (latin1)', () => {
    const out: string[] = [];
    const value = Buffer.from('caf\u00c3\u00a9', 'latin1'); // "café" in UTF-8 bytes
    const grpc = copyResponseHeaders([...raw('grpc-status', '14', 'x-name'), value], out);
    expect(out[grpc]).toBe('14');
    expect(Buffer.from(out[3]!, 'latin1')).toEqual(value);
  });

  it('skips HTTP/2 pseudo-headers', () => {
    const out: string[] = [];
    copyResponseHeaders(raw(':status', '200', 'x-a', '1'), out);
    expect(out).toEqual(['x-a', '1']);
  });
});

describe('headerObjectOf', () => {
  it('gives repeated names an array in order', () => {
    expect(headerObjectOf(['a', '1', 'b', '2', 'a', '3', 'a', '4'])).toEqual({ a: ['1', '3', '4'], b: '2' });
  });
});

describe('trailersObjectOf', () => {
  it('reads an HTTP/1.1 raw list, an HTTP/2 trailers object, and nothing', () => {
    expect(trailersObjectOf(raw('Grpc-Status', '0', 'grpc-message', 'ok'))).toEqual({
      'grpc-status': '0',
      'grpc-message': 'ok',
    });
    expect(trailersObjectOf({ 'grpc-status': '0', ':status': '200', 'x-n': ['1', '2'] })).toEqual({
      'grpc-status': '0',
      'x-n': ['1', '2'],
    });
    expect(trailersObjectOf([])).toBeUndefined();
    expect(trailersObjectOf(null)).toBeUndefined();
    expect(trailersObjectOf({})).toBeUndefined();
  });
});
