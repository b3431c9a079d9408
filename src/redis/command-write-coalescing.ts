import type { Redis } from 'ioredis';
import { RedisClient, isCluster } from './redis-connection';

const coalesced = new WeakSet<Redis>();

/**
 * Makes a connection hand every command it sends in one turn of the event loop to the kernel in one socket
 * write: the first command of the turn corks the socket and an immediate uncorks it, so the writes leave
 * together (one `writev`) instead of one system call each. Commands, their order, their replies and ioredis'
 * timeouts and offline queue are unchanged; only writes to a ready connection's own socket are held, and
 * only until the turn ends. On a Redis Cluster this applies to every primary's connection, including the
 * ones opened later.
 *
 * Why not ioredis' auto-pipelining, which batches the same way: it wraps each turn's commands in a
 * `Pipeline`, and V8 promotes those (with the commands, their RESP strings and their replies) out of the young
 * generation although they die within a millisecond. In a worker at 250 commands/s that was ~15 KB a
 * command, a mark-compact every 2.5 s; a client sending an EVALSHA and an HGETALL per call at 2 000 calls/s
 * promoted 4.8 KB a call and spent 83 µs of CPU a call with it, against 154 B and 54 µs with this
 * (docs/BENCHMARKS.md).
 */
export function coalesceCommandWrites(redis: RedisClient): void {
  if (isCluster(redis)) {
    for (const node of redis.nodes('all')) coalesceNode(node);
    redis.on('+node', (node: Redis) => coalesceNode(node));
    return;
  }
  coalesceNode(redis);
}

function coalesceNode(redis: Redis): void {
  if (coalesced.has(redis)) return;
  coalesced.add(redis);
  const send = redis.sendCommand.bind(redis);
  let corked: Redis['stream'] | null = null;
  const coalescing: typeof redis.sendCommand = (command, stream) => {
    // ioredis writes a command to `redis.stream` itself only when the connection is ready and no pipeline
    // stream is given; anything else (the offline queue, a pipeline) is left to it as it was.
    const socket = redis.stream;
    if (stream === undefined && redis.status === 'ready' && socket !== corked && socket.writable) {
      corked = socket;
      socket.cork();
      setImmediate(() => {
        if (corked === socket) corked = null;
        socket.uncork();
      });
    }
    return send(command, stream);
  };
  redis.sendCommand = coalescing;
}
