/** Real clients for tests: undici over a keep-alive agent, curl, and raw sockets. */
import { execFile } from 'node:child_process';
import net from 'node:net';
import { Agent, request } from 'undici';

export const agent = new Agent({ keepAliveTimeout: 10_000, connections: 64 });

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** GET (or another method) through the gateway with undici. */
export async function httpGet(
  port: number,
  path: string,
  headers: Record<string, string> = {},
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH' | 'HEAD' | 'OPTIONS' = 'GET',
  body?: string,
): Promise<Reply> {
  const r = await request(`http://127.0.0.1:${port}${path}`, { method, headers, body, dispatcher: agent });
  return { status: r.statusCode, headers: r.headers, body: await r.body.text() };
}

/** Runs curl and returns stdout. */
export function curl(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('curl', ['-sS', ...args], { timeout: 20_000 }, (err, stdout, stderr) => {
      if (err && !stdout) reject(new Error(`${err.message} ${stderr}`));
      else resolve(stdout);
    });
  });
}

/** Writes raw bytes on a fresh connection and resolves with everything read until the server closes. */
export function rawExchange(port: number, bytes: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(bytes));
    const chunks: Buffer[] = [];
    s.on('data', (c) => chunks.push(c));
    s.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    s.on('error', reject);
    s.setTimeout(10_000, () => s.destroy(new Error('raw exchange timed out')));
  });
}
