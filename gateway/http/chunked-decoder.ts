/**
 * An incremental decoder of an HTTP/1.1 chunked body (RFC 9112 §7.1), for a refusal an upgrade's
 * upstream sends chunked and the gateway passes on as an HTTP/2 response body, which has no chunk
 * framing. Chunk extensions are skipped, trailer fields dropped. Pure apart from its own state.
 */

/** Longest chunk-size line (size, extensions, CRLF) accepted, bytes. */
const MAX_SIZE_LINE_BYTES = 4096;

const enum State {
  Size,
  Data,
  DataEnd,
  Trailers,
  Done,
}

/** Decodes one chunked body fed in pieces. */
export class ChunkedDecoder {
  private state = State.Size;
  private left = 0;
  private line = '';

  /** The last chunk and the trailer section have been read. */
  get done(): boolean {
    return this.state === State.Done;
  }

  /**
   * Feeds the next bytes of the body.
   * @returns the body bytes they carried (slices of `buf`); bytes after the end are ignored.
   * @throws Error when the framing is malformed (the caller ends the response).
   */
  feed(buf: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let i = 0;
    while (i < buf.length && this.state !== State.Done) {
      if (this.state === State.Data) {
        const n = Math.min(this.left, buf.length - i);
        out.push(buf.subarray(i, i + n));
        i += n;
        this.left -= n;
        if (this.left === 0) this.state = State.DataEnd;
        continue;
      }
      const nl = buf.indexOf(0x0a, i);
      const end = nl < 0 ? buf.length : nl;
      this.line += buf.toString('latin1', i, end);
      if (this.line.length > MAX_SIZE_LINE_BYTES) throw new Error('chunk line too long');
      i = end;
      if (nl < 0) break;
      i++;
      const line = this.line.endsWith('\r') ? this.line.slice(0, -1) : this.line;
      this.line = '';
      this.onLine(line);
    }
    return out;
  }

  private onLine(line: string): void {
    switch (this.state) {
      case State.Size: {
        const semi = line.indexOf(';');
        const hex = (semi < 0 ? line : line.slice(0, semi)).trim();
        if (!/^[0-9a-fA-F]{1,8}$/.test(hex)) throw new Error('bad chunk size');
        this.left = parseInt(hex, 16);
        this.state = this.left === 0 ? State.Trailers : State.Data;
        return;
      }
      case State.DataEnd:
        if (line !== '') throw new Error('missing CRLF after chunk data');
        this.state = State.Size;
        return;
      case State.Trailers:
        if (line === '') this.state = State.Done;
        return;
      default:
        return;
    }
  }
}
