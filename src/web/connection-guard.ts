import { Socket } from 'node:net';
import { Logger } from '../logging/logger';
import { LogThrottle } from '../logging/log-throttle';
import { counter, gauge } from '../metrics/metrics-registry';
import { IpRanges, clientKey, normalizeAddress } from '../net/ip-ranges';

const connectionsOpen = gauge('pb_http_connections_open', 'Connections the web process holds open now');
const connectionsRefused = counter('pb_http_connections_refused_total', 'Connections closed on arrival because a cap was reached, by cap (total, per_ip)', [
  'cap',
]);

/** Connection caps of one server. */
export interface ConnectionCaps {
  /** Open connections held at most. */
  maxConnections: number;
  /** Open connections one peer address (IPv6: one /64) holds at most; trusted proxies are exempt. */
  maxConnectionsPerIp: number;
  /** Peers exempt from the per-address cap (the proxies in front of us carry many clients each). */
  trustedProxies: IpRanges;
}

/**
 * Counts the open connections of a server, in total and per peer address, and closes a new one at once
 * when either cap is reached (before TLS or any HTTP parsing: a flood costs us an accept and a close).
 * Counts and refusals are metrics; the log line is one per cap per minute.
 */
export class ConnectionGuard {
  private readonly perAddress = new Map<string, number>();
  private open = 0;
  private readonly sockets = new Set<Socket>();
  private readonly refusals: LogThrottle;

  constructor(
    private readonly caps: ConnectionCaps,
    logger: Logger,
  ) {
    this.refusals = new LogThrottle(logger);
  }

  /** Open connections now. */
  get openConnections(): number {
    return this.open;
  }

  /** The server's `connection` listener. */
  readonly onConnection = (socket: Socket): void => {
    const peer = socket.remoteAddress ?? '';
    const address = normalizeAddress(peer) ?? 'unknown';
    const exempt = this.caps.trustedProxies.contains(address);
    // IPv6 peers are counted by their /64: one host usually holds all of it.
    const key = clientKey(peer) ?? 'unknown';
    const mine = this.perAddress.get(key) ?? 0;
    if (this.open >= this.caps.maxConnections) {
      this.refuse(socket, 'total', address);
      return;
    }
    if (!exempt && mine >= this.caps.maxConnectionsPerIp) {
      this.refuse(socket, 'per_ip', address);
      return;
    }
    this.open += 1;
    this.sockets.add(socket);
    connectionsOpen.inc();
    if (!exempt) this.perAddress.set(key, mine + 1);
    socket.once('close', () => {
      this.open -= 1;
      this.sockets.delete(socket);
      connectionsOpen.dec();
      if (exempt) return;
      const left = (this.perAddress.get(key) ?? 1) - 1;
      if (left <= 0) this.perAddress.delete(key);
      else this.perAddress.set(key, left);
    });
  };

  /** Closes every connection (shutdown: including TLS handshakes and others HTTP does not track yet). */
  destroyAll(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  private refuse(socket: Socket, cap: 'total' | 'per_ip', address: string): void {
    connectionsRefused.inc({ cap });
    // The first refused address of the window is named: that is the one to look at.
    this.refusals.warn(
      cap,
      `edge: connection refused, ${cap === 'total' ? 'edge.max_connections' : 'edge.max_connections_per_ip'} reached (rate-limited: one line per cap per minute)`,
      {
        cap,
        peer: address,
        limit: cap === 'total' ? this.caps.maxConnections : this.caps.maxConnectionsPerIp,
      },
    );
    socket.destroy();
  }
}
