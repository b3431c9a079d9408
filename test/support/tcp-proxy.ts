import net, { AddressInfo, Socket } from 'node:net';

/**
 * A loopback TCP proxy in front of a real server (RabbitMQ, Redis). `cut()` drops every connection and
 * refuses new ones, as an outage would; `restore()` accepts again. Lets a test take "the broker" or
 * "Redis" down for one process without touching the shared servers other tests use.
 */
export interface TcpProxy {
  port: number;
  url(scheme: string, auth?: string): string;
  cut(): void;
  restore(): void;
  /** Stops forwarding what clients send (held in the sockets' buffers, never delivered): a node gone silent. */
  hold(): void;
  /** Forwards again what `hold()` kept back, and what comes next: a silent node answering late. */
  release(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const clients = new Map<Socket, Socket>();
  /** Clients whose forwarding hold() stopped, until release(). */
  const held = new Set<Socket>();
  let up = true;
  const server = net.createServer((client) => {
    if (!up) {
      client.destroy();
      return;
    }
    const upstream = net.connect(targetPort, targetHost);
    sockets.add(client);
    sockets.add(upstream);
    clients.set(client, upstream);
    const drop = () => {
      clients.delete(client);
      held.delete(client);
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    url: (scheme, auth) => `${scheme}://${auth ? `${auth}@` : ''}127.0.0.1:${port}`,
    cut: () => {
      // Stop listening too: a down server refuses connections (ECONNREFUSED). Accepting and then dropping
      // them instead looks like a flapping server to ioredis, which resets its retry count on every
      // connect and never fails the commands it holds.
      up = false;
      server.close();
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    hold: () => {
      for (const c of clients.keys()) {
        if (held.has(c)) continue;
        held.add(c);
        c.unpipe();
        c.pause();
      }
    },
    release: () => {
      // Only what hold() unpiped: piping a client twice would forward every byte twice.
      for (const [c, upstream] of clients) {
        if (!held.delete(c)) continue;
        c.pipe(upstream);
        c.resume();
      }
    },
    restore: () => {
      up = true;
      if (!server.listening) server.listen(port, '127.0.0.1');
    },
    close: () =>
      new Promise<void>((resolve) => {
        up = false;
        for (const s of sockets) s.destroy();
        if (server.listening) server.close(() => resolve());
        else resolve();
      }),
  };
}

/** Polls `check` until it returns true or `timeoutMs` passes. */
export async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 10000, stepMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
