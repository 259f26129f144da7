/**
 * A minimal HTTP/1.1 response-head reader and writer for upgrade connections, where the bytes after
 * the head belong to the upgraded protocol and node:http's client cannot pass a refusal through.
 * Pure.
 */
import type { HeaderObject } from '../header-ops.js';

/** Envoy's response header limit, bytes (the `max_request_headers_kb` default, 60 KiB). */
const MAX_RESPONSE_HEAD_BYTES = 60 * 1024;

/** A parsed response head; `length` is its size in bytes including the blank line. */
export interface ResponseHead {
  readonly status: number;
  readonly reason: string;
  readonly headers: HeaderObject;
  readonly length: number;
}

const END = Buffer.from('\r\n\r\n');
const STATUS_LINE = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/;

/**
 * Reads a response head from the start of `buf`.
 * @returns the head, `undefined` when more bytes are needed, or `null` when it is malformed or
 *   larger than {@link MAX_RESPONSE_HEAD_BYTES}.
 */
export function parseResponseHead(buf: Buffer): ResponseHead | undefined | null {
  const end = buf.indexOf(END);
  if (end < 0) return buf.length > MAX_RESPONSE_HEAD_BYTES ? null : undefined;
  if (end > MAX_RESPONSE_HEAD_BYTES) return null;
  const lines = buf.toString('latin1', 0, end).split('\r\n');
  const m = STATUS_LINE.exec(lines[0]!);
  if (!m) return null;
  const headers: HeaderObject = {};
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon <= 0) return null;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const prev = headers[name];
    headers[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return { status: Number(m[1]), reason: m[2] ?? '', headers, length: end + END.length };
}

/** Serialises a response head (`HTTP/1.1 <status> <reason>`, one line per header value, blank line). */
export function serializeResponseHead(status: number, reason: string, headers: HeaderObject): string {
  let out = `HTTP/1.1 ${status} ${reason}\r\n`;
  for (const name in headers) {
    const v = headers[name];
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) out += `${name}: ${x}\r\n`;
    else out += `${name}: ${v}\r\n`;
  }
  return `${out}\r\n`;
}

/** Serialises a request head from a flat `[name, value, …]` list. */
export function serializeRequestHead(method: string, path: string, headers: readonly string[]): string {
  let out = `${method} ${path} HTTP/1.1\r\n`;
  for (let i = 0; i < headers.length; i += 2) out += `${headers[i]}: ${headers[i + 1]}\r\n`;
  return `${out}\r\n`;
}
