import { AxiosInstance } from 'axios';
import { Cluster } from 'ioredis';
import { Config } from '../config/config';
import { transportErrorCode } from '../http/outbound-http';
import { answerTooLarge, callFailure } from './call-failure';
import { CheckResult } from './check-result';
import { createRedis, isCluster, nodeName, RedisClient } from '../redis/redis-connection';
import { UPGRADE_TOGETHER, describeRelease, runningProcesses, runningReleases } from '../fleet/running-processes';

/**
 * The doctor's checks of what the bridge runs on (RabbitMQ: `rabbitmq-checks.ts`): Redis (reachable, persistence on, eviction `noeviction`) and our own public intake URL (the bus's OPTIONS
 * probe). Each check opens its own short-lived connection and closes it (the probe goes through the doctor's
 * outbound client, closed with it); details never carry a password.
 */

function result(check: string, target: string, status: CheckResult['status'], detail: string, fix?: string): CheckResult {
  return { check, target, status, detail, ...(fix ? { fix } : {}) };
}

/** The broker host and port of an amqp URL, for details (never the user info). */
export function where(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || (u.protocol === 'amqps:' ? 5671 : u.protocol === 'rediss:' ? 6380 : u.protocol === 'redis:' ? 6379 : 5672)}`;
  } catch {
    return '(unparsable URL)';
  }
}

/** `field:value` lines of a Redis INFO section as a map. */
export function parseRedisInfo(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  return out;
}

/**
 * Reachability, persistence and eviction of Redis. The ledger and the queues live there: without
 * persistence a restart loses accepted commands' state; with any eviction policy but `noeviction` Redis
 * may silently drop an operation or a queued job under memory pressure (BullMQ requires noeviction).
 * On a Redis Cluster (`redis.cluster.nodes`): the cluster's state (`CLUSTER INFO` cluster_state:ok), a
 * replica behind every primary (else a primary's failure loses its slots), and persistence and eviction
 * on every primary.
 */
export async function checkRedis(config: Config, timeoutMs: number): Promise<CheckResult[]> {
  const target = 'redis';
  const cluster = config.redis.cluster;
  const seeds = cluster ? `cluster seeds ${cluster.nodes.join(', ')}` : where(config.redis.url);
  const redis = createRedis(config.redis, 'probe', undefined, { timeoutMs });
  // With retries off, connect() rejects with "Connection is closed"; the socket's own error says why.
  let socketError: unknown;
  redis.on('error', (err: Error) => {
    socketError = err;
  });
  try {
    await redis.connect();
    await redis.ping();
  } catch (caught) {
    redis.disconnect();
    const err = socketError ?? caught;
    const auth = /NOAUTH|WRONGPASS|invalid password/i.test(err instanceof Error ? err.message : '');
    return [
      result(
        'connect',
        target,
        'FAIL',
        `${seeds}: ${auth ? 'authentication refused' : transportErrorCode(err)}`,
        auth
          ? 'check the user and password in redis.url'
          : cluster
            ? 'check redis.cluster.nodes (host:port of cluster nodes) and that the cluster is running and reachable from here'
            : 'check redis.url (host, port, rediss for TLS) and that Redis is running and reachable from here',
      ),
    ];
  }
  const out: CheckResult[] = [result('connect', target, 'OK', `PING answered through ${seeds}`)];
  try {
    if (isCluster(redis)) {
      out.push(...(await clusterChecks(redis, target)));
      for (const node of redis.nodes('master')) out.push(...(await serverChecks(node, `${target} ${nodeName(node)}`)));
    } else {
      out.push(...(await serverChecks(redis, target)));
    }
  } catch (err) {
    out.push(result('persistence', target, 'WARN', `INFO not readable: ${transportErrorCode(err)}`));
  }
  try {
    out.push(await releasesCheck(redis, config.redis.keyPrefix));
  } finally {
    redis.disconnect();
  }
  return out;
}

/**
 * The releases the running web, worker and poller processes name in their heartbeats: one is a settled fleet; two
 * (WARN, not FAIL: a rolling deploy shows two for its minutes) mean a process left on another release, whose
 * workers create operations without what a later release adds.
 */
async function releasesCheck(redis: RedisClient, prefix: string): Promise<CheckResult> {
  try {
    const releases = runningReleases(await runningProcesses(redis, prefix));
    const list = releases.map(describeRelease).join('; ');
    if (releases.length === 0) return result('releases', 'processes', 'SKIP', 'no running process has a heartbeat under redis.key_prefix');
    if (releases.length === 1) return result('releases', 'processes', 'OK', `1 release running: ${list}`);
    return result('releases', 'processes', 'WARN', `${releases.length} releases running: ${list}; ${UPGRADE_TOGETHER} (payment-bridge ops processes)`);
  } catch (err) {
    return result('releases', 'processes', 'WARN', `heartbeats not readable: ${transportErrorCode(err)}`);
  }
}

/** `CLUSTER INFO` says ok, and every primary has a replica to fail over to. */
async function clusterChecks(redis: Cluster, target: string): Promise<CheckResult[]> {
  const info = parseRedisInfo(String(await redis.cluster('INFO')));
  const state = info.get('cluster_state') ?? 'unknown';
  const slots = info.get('cluster_slots_ok') ?? '?';
  const primaryCount = redis.nodes('master').length;
  const replicaCount = redis.nodes('slave').length;
  const out: CheckResult[] = [
    state === 'ok'
      ? result('cluster', target, 'OK', `cluster_state:ok, ${slots} of 16384 slots ok, ${primaryCount} primaries, ${replicaCount} replicas`)
      : result(
          'cluster',
          target,
          'FAIL',
          `cluster_state:${state} (${slots} of 16384 slots ok, ${info.get('cluster_slots_fail') ?? '?'} failing): the slots of a failed primary refuse commands`,
          'look at CLUSTER NODES: start the failed primary or its replica, or assign the uncovered slots',
        ),
  ];
  if (replicaCount < primaryCount) {
    out.push(
      result(
        'cluster replicas',
        target,
        'WARN',
        `${primaryCount} primaries, ${replicaCount} replicas: a primary without a replica cannot fail over, its slots stop with it`,
        'give every primary a replica (redis-cli --cluster add-node --cluster-slave)',
      ),
    );
  }
  return out;
}

/** A server setting (`CONFIG GET`), or null when CONFIG is disabled (managed Redis) or the setting unknown. */
async function configValue(redis: RedisClient, name: string): Promise<string | null> {
  try {
    const reply = (await redis.config('GET', name)) as string[];
    return reply[1] ?? null;
  } catch {
    return null;
  }
}

/** Persistence and eviction of one server (the single Redis, or one cluster primary). */
async function serverChecks(redis: RedisClient, target: string): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  const persistence = parseRedisInfo(await redis.info('persistence'));
  const memory = parseRedisInfo(await redis.info('memory'));
  if (persistence.get('aof_enabled') === '1') {
    // Without fsync by Redis, what it acknowledged (an operation, a queued job) sits in the page cache for as
    // long as the OS likes: the ack of a command would come before its write is on disk.
    if ((await configValue(redis, 'appendfsync')) === 'no') {
      out.push(
        result(
          'persistence',
          target,
          'WARN',
          'append-only file on, appendfsync no: the OS writes it to disk when it likes, so a machine crash loses the writes of the last ~30 s',
          'set appendfsync everysec in redis.conf',
        ),
      );
    } else out.push(result('persistence', target, 'OK', 'append-only file on'));
  } else {
    let snapshots: string;
    try {
      const save = (await redis.config('GET', 'save')) as string[];
      snapshots = save[1] ?? '';
    } catch {
      snapshots = '?';
    }
    out.push(
      snapshots === ''
        ? result(
            'persistence',
            target,
            'FAIL',
            'neither the append-only file nor snapshots are on: a restart loses every operation and queued job',
            'set appendonly yes (appendfsync everysec) in redis.conf',
          )
        : result(
            'persistence',
            target,
            'WARN',
            snapshots === '?'
              ? 'append-only file off, snapshot settings unreadable (CONFIG disabled)'
              : `snapshots only (save ${snapshots}): a crash loses the writes since the last one`,
            'set appendonly yes (appendfsync everysec) in redis.conf',
          ),
    );
  }
  const policy = memory.get('maxmemory_policy') ?? 'unknown';
  out.push(
    policy === 'noeviction'
      ? result('eviction', target, 'OK', 'maxmemory-policy noeviction')
      : result(
          'eviction',
          target,
          'FAIL',
          `maxmemory-policy ${policy}: Redis may evict operations and queued jobs under memory pressure`,
          'set maxmemory-policy noeviction in redis.conf (BullMQ requires it)',
        ),
  );
  return out;
}

/**
 * The bus's probe of our endpoint: OPTIONS on `service_bus.public_url` must answer 2xx. Carries no
 * credential, so it also runs over http. Sent with the doctor's outbound client (`http`), as every other
 * outbound call: the configured proxy, the TLS 1.2 floor and the timeout.
 */
export async function checkPublicIntake(config: Config, http: AxiosInstance): Promise<CheckResult> {
  const target = 'intake';
  const url = config.serviceBus.publicUrl;
  try {
    const res = await http.request<string>({ method: 'OPTIONS', url });
    if (res.status >= 200 && res.status < 300) return result('options-probe', target, 'OK', `OPTIONS ${url} → ${res.status}`);
    return result(
      'options-probe',
      target,
      'FAIL',
      `OPTIONS ${url} → HTTP ${res.status}`,
      "service_bus.public_url must reach the web role's intake path (http.intake_path) through your proxy; the bus probes it with OPTIONS",
    );
  } catch (err) {
    const code = transportErrorCode(err);
    return result(
      'options-probe',
      target,
      'FAIL',
      `OPTIONS ${url}: ${code === 'ECONNABORTED' ? 'ETIMEDOUT' : callFailure(err)}`,
      answerTooLarge(err)
        ? "service_bus.public_url must reach the web role's intake path (http.intake_path), whose OPTIONS answer is empty, not another server"
        : 'start the web role and make service_bus.public_url reachable from here (DNS, proxy, TLS certificate)',
    );
  }
}
