import { DependencyUnavailableError } from './dependency-unavailable-error';

/** Socket-level error codes: the dependency could not be reached, whatever the message was. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED']);

/**
 * Redis error replies that describe the server's state (loading, out of memory, failover), not the command.
 * MOVED and ASK: a Redis Cluster slot moved (a failover, a reshard) and the command did not run; ioredis follows
 * them itself, except in a pipeline mixing them with other replies (a batch of a `pipeline()` sent across a failover),
 * which hands them to the caller: retried once the client's slot map is current.
 */
const TRANSIENT_REDIS_REPLY = /^(?:LOADING|BUSY|OOM|READONLY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|MOVED|ASK|NOREPLICAS|MISCONF|NOAUTH|WRONGPASS)\b/;

/**
 * Client messages of ioredis and amqplib when the connection, not the request, is the problem. "Command timed
 * out" is ioredis' `commandTimeout`: the server did not answer in time (a Redis Cluster's nodes restarting hold
 * the client's commands until then), which says nothing about the command.
 */
const CONNECTION_MESSAGE =
  /connection is closed|stream isn't writeable|channel closed|channel ended|connection closed|socket closed|reached the max retries per request|broker not connected|too many cluster redirections|^command timed out$/i;

/**
 * Whether an error says a dependency (Redis, RabbitMQ) is down or unreachable, so holding the message and
 * retrying is right; anything else (a Redis error reply such as WRONGTYPE, a TypeError, a RangeError, a
 * library refusing an argument) comes from the message itself and retrying it cannot help.
 */
export function isDependencyOutage(err: unknown): boolean {
  if (err instanceof DependencyUnavailableError) return true;
  if (!(err instanceof Error)) return false;
  const { code } = err as { code?: unknown };
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
  if (err.name === 'MaxRetriesPerRequestError') return true;
  if (err.name === 'ReplyError') return TRANSIENT_REDIS_REPLY.test(err.message);
  return CONNECTION_MESSAGE.test(err.message);
}

/**
 * The class of an error as a bounded, log- and header-safe token (`ReplyError`, `RangeError`, …): never
 * its message, which may quote input.
 */
export function errorClassOf(err: unknown): string {
  const name = err instanceof Error ? err.constructor?.name || err.name : typeof err;
  return (name || 'Error').replace(/[^A-Za-z0-9_]/g, '').slice(0, 64) || 'Error';
}
