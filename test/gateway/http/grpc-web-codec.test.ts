/**
 * The gRPC-Web wire pieces (gateway/http/grpc-web-codec.ts) and Envoy's gRPC content-type rule
 * (gateway/http/grpc-status.ts). Cases carry facts from Envoy: test/common/grpc/common_test.cc
 * `HasGrpcContentType`, and the grpc_web filter's content types, Accept rule and base64 handling
 * (source/extensions/filters/http/grpc_web/grpc_web_filter.cc).
 */
import { describe, expect, it } from 'vitest';
import {
  Base64BodyDecoder,
  Base64FrameEncoder,
  grpcWebMode,
  grpcWebRequestMode,
  grpcWebResponseType,
  trailerFrame,
} from '../../../gateway/http/grpc-web-codec.js';
import { isGrpcContentType } from '../../../gateway/http/grpc-status.js';

function frame(payload: string, flags = 0): Buffer {
  const b = Buffer.from(payload);
  const f = Buffer.alloc(5 + b.length);
  f[0] = flags;
  f.writeUInt32BE(b.length, 1);
  b.copy(f, 5);
  return f;
}

describe('isGrpcContentType (Envoy HasGrpcContentType)', () => {
  it.each([
    ['', false],
    ['application/text', false],
    ['application/grpc', true],
    ['application/grpc+', true],
    ['application/grpc+foo', true],
    ['application/grpc;charset=utf-8', true],
    ['application/grpc-', false],
    ['application/grpc-web', false],
    ['application/grpc-web+foo', false],
  ])('%j → %s', (ct, want) => expect(isGrpcContentType(ct)).toBe(want));
});

describe('grpcWebMode', () => {
  it.each([
    ['application/grpc-web', undefined, { textRequest: false, textResponse: false }],
    ['application/grpc-web+proto', 'application/grpc-web-text', { textRequest: false, textResponse: true }],
    ['application/grpc-web-text', undefined, { textRequest: true, textResponse: false }],
    [
      'application/grpc-web-text+proto',
      'application/grpc-web-text+proto',
      { textRequest: true, textResponse: true },
    ],
    // Exact values only, as Envoy: parameters or other subtypes are not gRPC-Web.
    ['application/grpc-web; charset=utf-8', undefined, undefined],
    ['application/grpc-web+json', undefined, undefined],
    ['application/grpc', undefined, undefined],
  ])('%j (accept %j)', (ct, accept, want) => expect(grpcWebMode(ct, accept)).toEqual(want));

  it('response content types are the +proto forms', () => {
    expect(grpcWebResponseType(grpcWebMode('application/grpc-web', undefined)!)).toBe(
      'application/grpc-web+proto',
    );
    expect(grpcWebResponseType(grpcWebMode('application/grpc-web', 'application/grpc-web-text')!)).toBe(
      'application/grpc-web-text+proto',
    );
  });

  it('only listeners of a GRPC-WEB server run the filter', () => {
    const h = { 'content-type': 'application/grpc-web' };
    expect(grpcWebRequestMode('HTTP', h)).toBeUndefined();
    expect(grpcWebRequestMode('GRPC-WEB', h)).toEqual({ textRequest: false, textResponse: false });
  });
});

describe('trailerFrame', () => {
  it('flag 0x80, big-endian length, name:value CRLF lines in order, one per value', () => {
    const f = trailerFrame({
      'grpc-status': '0',
      'grpc-message': 'OK',
      'x-multi': ['a', 'b'],
      skipped: undefined,
    });
    const body = 'grpc-status:0\r\ngrpc-message:OK\r\nx-multi:a\r\nx-multi:b\r\n';
    expect(f[0]).toBe(0x80);
    expect(f.readUInt32BE(1)).toBe(body.length);
    expect(f.subarray(5).toString('latin1')).toBe(body);
  });
});

describe('Base64BodyDecoder', () => {
  const text = frame('{"name":"split"}').toString('base64');

  it('decodes a body cut anywhere, holding partial quanta', () => {
    for (let cut = 0; cut <= text.length; cut++) {
      const d = new Base64BodyDecoder();
      const a = d.write(Buffer.from(text.slice(0, cut)));
      const b = d.write(Buffer.from(text.slice(cut)));
      expect(d.end()).toBeUndefined();
      expect(Buffer.concat([a as Buffer, b as Buffer])).toEqual(frame('{"name":"split"}'));
    }
  });

  it('a body ending mid-quantum fails as bad size', () => {
    const d = new Base64BodyDecoder();
    expect(Buffer.isBuffer(d.write(Buffer.from('AAAAA')))).toBe(true);
    expect(d.end()).toBe('grpc_base_64_decode_failed_bad_size');
  });

  it('characters outside base64, or padding before the end of a block, fail', () => {
    expect(new Base64BodyDecoder().write(Buffer.from('AA*A'))).toBe('grpc_base_64_decode_failed');
    expect(new Base64BodyDecoder().write(Buffer.from('AA==AAAA'))).toBe('grpc_base_64_decode_failed');
  });
});

describe('Base64FrameEncoder', () => {
  it('encodes each whole frame on its own and holds a partial frame', () => {
    const a = frame('first');
    const b = frame('second, longer');
    const e = new Base64FrameEncoder();
    const both = Buffer.concat([a, b]);
    const out1 = e.write(both.subarray(0, a.length + 3)).toString('latin1');
    expect(out1).toBe(a.toString('base64'));
    const out2 = e.write(both.subarray(a.length + 3)).toString('latin1');
    expect(out2).toBe(b.toString('base64'));
    expect(e.write(Buffer.alloc(0)).length).toBe(0);
  });
});
