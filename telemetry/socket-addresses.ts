/**
 * A connection's downstream addresses as the access log and the tracer print them (`ip:port`),
 * built once per connection and kept on the socket, not rebuilt per request.
 */
import type { Socket } from 'node:net';

/** `remote` / `local` as `ip:port`; undefined when the socket no longer knows them (closed). */
interface SocketAddresses {
  readonly remote: string | undefined;
  readonly local: string | undefined;
}

const ADDRESSES = Symbol('meshgate.addresses');
type AddressedSocket = Socket & { [ADDRESSES]?: SocketAddresses };

/** The addresses of `sock` (cached on it once both are known). */
export function socketAddresses(sock: Socket): SocketAddresses {
  const s = sock as AddressedSocket;
  let a = s[ADDRESSES];
  if (a === undefined) {
    a = {
      remote: sock.remoteAddress === undefined ? undefined : `${sock.remoteAddress}:${sock.remotePort}`,
      local: sock.localAddress === undefined ? undefined : `${sock.localAddress}:${sock.localPort}`,
    };
    // Addresses are unreadable once the socket is closed: only a complete answer is kept.
    if (a.remote !== undefined && a.local !== undefined) s[ADDRESSES] = a;
  }
  return a;
}
