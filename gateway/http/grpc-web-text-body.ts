/**
 * The body of a gRPC-Web `-text` request as it goes upstream: the client's base64 decoded chunk by
 * chunk (gateway/http/grpc-web-codec.ts `Base64BodyDecoder`). A body that is not base64 stops here:
 * the failure is reported once and nothing more is passed on (the filter answers the client and
 * abandons the upstream try).
 */
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import type { Base64BodyDecoder, Base64Failure } from './grpc-web-codec.js';

/** A decoding stream over one request body. */
export class Base64RequestBody extends Transform {
  private failed = false;

  /**
   * @param source the downstream request body (base64 text); piped into this stream.
   * @param onFailure told once when the body is not valid base64.
   */
  constructor(
    source: Readable,
    private readonly decoder: Base64BodyDecoder,
    private readonly onFailure: (why: Base64Failure) => void,
  ) {
    super();
    source.once('error', (err) => this.destroy(err));
    source.pipe(this);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    if (this.failed) return done();
    const out = this.decoder.write(chunk);
    if (typeof out === 'string') return this.fail(out, done);
    if (out.length > 0) this.push(out);
    done();
  }

  override _flush(done: TransformCallback): void {
    if (this.failed) return done();
    const why = this.decoder.end();
    if (why !== undefined) return this.fail(why, done);
    done();
  }

  private fail(why: Base64Failure, done: TransformCallback): void {
    this.failed = true;
    done();
    this.onFailure(why);
  }
}
