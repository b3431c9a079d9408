import amqp from 'amqplib';
import { Config } from '../config/config';
import { transportErrorCode } from '../http/outbound-http';
import { CheckResult } from './check-result';
import { where } from './infrastructure-checks';

/**
 * The doctor's RabbitMQ checks, for every configured node (`amqp.url` then `amqp.urls`, the nodes a
 * process rotates through on reconnect): each node is logged in to (reachable, credentials, virtual
 * host) and its version read; the command and dead-letter queues are looked at (passively) through the
 * first node that answers. A node that does not answer is a FAIL when none answers, else a WARN naming it
 * (the bridge runs, but loses that node to fail over to). Every connection is short-lived; details never
 * carry a password.
 */

/** Quorum queues (the default `amqp.queue.type`), with their delivery limit, exist from RabbitMQ 3.8.0. */
export const MIN_RABBITMQ_VERSION = '3.8.0';
/** At-least-once dead-lettering of quorum queues (`amqp.queue.dead_letter_strategy: at-least-once`) exists from 3.10.0. */
export const MIN_RABBITMQ_AT_LEAST_ONCE_VERSION = '3.10.0';

const TARGET = 'rabbitmq';

function result(check: string, status: CheckResult['status'], detail: string, fix?: string): CheckResult {
  return { check, target: TARGET, status, detail, ...(fix ? { fix } : {}) };
}

/**
 * The amqplib / broker failure in words: the socket's code when the connection failed below AMQP (its message
 * names the address, whose port may hold the digits 403 or 530), else ACCESS_REFUSED for a wrong login (reply
 * `403 (ACCESS-REFUSED)`), NOT_ALLOWED for a refused virtual host (`530 (NOT-ALLOWED)`), else `UNKNOWN`.
 */
export function amqpFailure(err: unknown): string {
  const socket = transportErrorCode(err);
  if (socket !== 'UNKNOWN') return socket;
  const message = err instanceof Error ? err.message : String(err);
  if (/ACCESS[-_]REFUSED|\b403 \(/.test(message)) return 'ACCESS_REFUSED: the broker refused the user name or password';
  // amqplib reports the broker's 530 at connection.open only as an unexpected close: the virtual host is refused.
  if (/NOT[-_]ALLOWED|\b530 \(|Expected ConnectionOpenOk/.test(message)) return 'NOT_ALLOWED: the virtual host does not exist or the user may not use it';
  return socket;
}

/**
 * Whether a passive queue check failed because the queue does not exist: the broker's reply `404 (NOT-FOUND)`,
 * not the digits 404 in a queue name the message quotes (`ACCESS_REFUSED - access to queue 'orders-404'`).
 */
export function queueMissing(err: unknown): boolean {
  return /NOT[-_]FOUND|\b404 \(/.test(err instanceof Error ? err.message : '');
}

/** The virtual host an amqp URL names (its path; `/` when empty, as amqplib and the AMQP URI spec take it). */
export function vhostOf(url: string): string {
  try {
    const path = new URL(url).pathname;
    return path.length > 1 ? decodeURIComponent(path.slice(1)) : '/';
  } catch {
    return '/';
  }
}

/** `-1`, `0` or `1` as dotted version `a` is below, equal to or above `b` (missing parts count 0; a suffix is ignored). */
export function compareVersions(a: string, b: string): number {
  const parts = (v: string): number[] =>
    v
      .split(/[-+]/)[0]
      .split('.')
      .map((p) => Number.parseInt(p, 10) || 0);
  const x = parts(a);
  const y = parts(b);
  for (let i = 0; i < Math.max(x.length, y.length); i += 1) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

interface NodeProbe {
  url: string;
  node: string;
  vhost: string;
  connection?: amqp.ChannelModel;
  failure?: string;
  version?: string;
  cluster?: string;
}

async function probe(url: string, timeoutMs: number): Promise<NodeProbe> {
  const base = { url, node: where(url), vhost: vhostOf(url) };
  try {
    const connection = await amqp.connect(url, { timeout: timeoutMs });
    connection.on('error', () => undefined);
    const props = connection.connection.serverProperties;
    return { ...base, connection, version: props.version, cluster: props.cluster_name };
  } catch (err) {
    return { ...base, failure: amqpFailure(err) };
  }
}

function connectFix(failure: string, key: string): string {
  return failure.startsWith('ACCESS') || failure.startsWith('NOT_ALLOWED')
    ? `check the user, password and virtual host in ${key} (and the user's permissions: rabbitmqctl list_permissions)`
    : `check ${key} (host, port, amqps for TLS) and that the broker is running and reachable from here`;
}

/** Logs in to every RabbitMQ node, compares them, and looks at the command and dead-letter queues (declares nothing). */
export async function checkRabbitMq(config: Config, timeoutMs: number): Promise<CheckResult[]> {
  const urls = config.amqp.urls.length > 0 ? config.amqp.urls : [config.amqp.url];
  const several = urls.length > 1;
  const probes = await Promise.all(urls.map((url) => probe(url, timeoutMs)));
  const up = probes.filter((p) => p.connection !== undefined);
  const out: CheckResult[] = [];
  try {
    for (const p of probes) {
      const key = p.url === config.amqp.url ? 'amqp.url' : 'amqp.urls';
      if (p.failure === undefined) {
        const about = [`vhost ${p.vhost}`, `RabbitMQ ${p.version ?? 'version unknown'}`, ...(p.cluster ? [`cluster ${p.cluster}`] : [])].join(', ');
        out.push(result('connect', 'OK', `logged in to ${p.node} (${about})`));
      } else if (up.length > 0) {
        // The others answer: the bridge runs, but this node is no failover target until it answers.
        out.push(
          result(
            'connect',
            'WARN',
            `${p.node}: ${p.failure} (${up.length} of ${probes.length} nodes answer; a reconnect skips this one)`,
            connectFix(p.failure, key),
          ),
        );
      } else {
        out.push(result('connect', 'FAIL', `${p.node}: ${p.failure}`, connectFix(p.failure, key)));
      }
    }
    if (up.length === 0) return out;
    out.push(...versionChecks(config, up));
    if (several) out.push(...clusterChecks(up, probes.length));
    out.push(...(await queueChecks(config, up[0].connection!)));
    return out;
  } finally {
    await Promise.all(up.map((p) => p.connection!.close().catch(() => undefined)));
  }
}

/** Each answering node's version against what the configuration needs; different versions across nodes are a WARN. */
function versionChecks(config: Config, up: NodeProbe[]): CheckResult[] {
  const out: CheckResult[] = [];
  const quorum = config.amqp.queueType === 'quorum';
  const atLeastOnce = quorum && config.amqp.deadLetterStrategy === 'at-least-once';
  const needed = atLeastOnce ? MIN_RABBITMQ_AT_LEAST_ONCE_VERSION : quorum ? MIN_RABBITMQ_VERSION : undefined;
  const why = atLeastOnce ? 'amqp.queue.dead_letter_strategy: at-least-once' : 'amqp.queue.type: quorum';
  let low = false;
  for (const p of up) {
    if (needed && p.version && compareVersions(p.version, needed) < 0) {
      low = true;
      out.push(result('version', 'FAIL', `${p.node}: RabbitMQ ${p.version} is below ${needed}, which ${why} needs`, `upgrade RabbitMQ to ${needed} or newer`));
    }
  }
  const versions = [...new Set(up.map((p) => p.version ?? 'unknown'))];
  if (versions.length > 1) {
    out.push(
      result(
        'version',
        'WARN',
        `nodes run different versions: ${up.map((p) => `${p.node} ${p.version ?? 'unknown'}`).join(', ')}`,
        'finish the rolling upgrade: every node of a cluster on one version',
      ),
    );
  } else if (!low) {
    out.push(result('version', 'OK', `RabbitMQ ${versions[0]}${needed ? ` (${why} needs ${needed}+)` : ''}`));
  }
  return out;
}

/** With several nodes configured: one cluster, one virtual host. */
function clusterChecks(up: NodeProbe[], total: number): CheckResult[] {
  const clusters = [...new Set(up.map((p) => p.cluster ?? ''))];
  const vhosts = [...new Set(up.map((p) => p.vhost))];
  const out: CheckResult[] = [];
  if (clusters.length > 1)
    out.push(
      result(
        'cluster',
        'WARN',
        `the nodes report different clusters: ${up.map((p) => `${p.node} ${p.cluster || '(none)'}`).join(', ')}`,
        'list the nodes of ONE cluster in amqp.url and amqp.urls (a failover to another cluster finds other queues)',
      ),
    );
  if (vhosts.length > 1)
    out.push(
      result(
        'cluster',
        'WARN',
        `the URLs name different virtual hosts: ${up.map((p) => `${p.node} ${p.vhost}`).join(', ')}`,
        'give every URL in amqp.url and amqp.urls the same virtual host',
      ),
    );
  if (out.length === 0)
    out.push(result('cluster', up.length === total ? 'OK' : 'WARN', `${up.length} of ${total} nodes answer${clusters[0] ? `, cluster ${clusters[0]}` : ''}`));
  return out;
}

async function queueChecks(config: Config, connection: amqp.ChannelModel): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  for (const [role, queue] of [
    ['commands', config.amqp.commandsQueue],
    ['dead letters', config.amqp.deadLetterQueue],
  ] as const) {
    // A failed passive check closes the channel: one channel per queue.
    const channel = await connection.createChannel();
    channel.on('error', () => undefined);
    try {
      const q = await channel.checkQueue(queue);
      out.push(result('queue', 'OK', `${role} queue ${queue}: ${q.messageCount} message(s), ${q.consumerCount} consumer(s)`));
      await channel.close();
    } catch (err) {
      const missing = queueMissing(err);
      out.push(
        missing
          ? result(
              'queue',
              'WARN',
              `${role} queue ${queue} does not exist yet`,
              'start the worker once (it declares the topology), or check amqp.queue.* for a typo',
            )
          : result('queue', 'FAIL', `${role} queue ${queue}: ${amqpFailure(err)}`, 'give the user configure/read/write permissions on the queue'),
      );
    }
  }
  return out;
}
