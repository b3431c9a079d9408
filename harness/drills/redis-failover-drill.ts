import { Redis } from 'ioredis';
import { createRedis } from '../../src/redis/redis-connection';
import { DrillContext, DrillDefinition } from './drill-runner';
import { localRedisClusterNodes, localRedisClusterParameters } from '../twins/local-stack/local-redis';
import { preciseNow } from '../workload/precise-clock';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join, resolve } from 'node:path';
import { repositoryRoot } from '../twins/local-stack/local-redis';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * `parameters:` keys putting a drill's stack on the local Redis Cluster (whatever PB_REDIS_CLUSTER says), each new
 * operation's record acknowledged by its replica before it is acted on (`redis.replica_acks`, as a cluster with
 * replicas should run; PB_REDIS_REPLICA_ACKS=0 plays without).
 */
export function redisClusterParameters(): Record<string, unknown> {
  return localRedisClusterParameters({ replicaAcks: Number(process.env.PB_REDIS_REPLICA_ACKS ?? 1) });
}

/** One node of CLUSTER NODES: id, host:port, role, whether it is failing, the slot ranges it serves. */
export interface ClusterNode {
  id: string;
  address: string;
  primary: boolean;
  /** A replica's primary's id ('-' for a primary). */
  primaryId: string;
  failing: boolean;
  slots: Array<[number, number]>;
}

function parseClusterNodes(text: string): ClusterNode[] {
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const f = line.trim().split(' ');
      const flags = f[2].split(',');
      const slots = f
        .slice(8)
        .filter((s) => /^\d/.test(s))
        .map((s): [number, number] => {
          const [a, b] = s.split('-').map(Number);
          return [a, b ?? a];
        });
      return {
        id: f[0],
        address: f[1].split('@')[0],
        primary: flags.includes('master'),
        primaryId: f[3],
        failing: flags.some((x) => x === 'fail' || x === 'fail?'),
        slots,
      };
    });
}

/** The primary serving `slot` (not failing), if any. */
export function owner(nodes: readonly ClusterNode[], slot: number): ClusterNode | undefined {
  return nodes.find((n) => n.primary && !n.failing && n.slots.some(([a, b]) => slot >= a && slot <= b));
}

/** CLUSTER NODES from the first seed that answers (not `except`). */
export async function clusterNodes(seeds: readonly string[], except?: string): Promise<ClusterNode[]> {
  for (const seed of seeds) {
    if (seed === except) continue;
    const node = createRedis(`redis://${seed}`, 'probe', undefined, { timeoutMs: 1000 }) as Redis;
    node.on('error', () => undefined);
    try {
      await node.connect();
      return parseClusterNodes(String(await node.cluster('NODES')));
    } catch {
      // try the next seed
    } finally {
      node.disconnect();
    }
  }
  throw new Error('no cluster node answers');
}

/**
 * Drill 10: a Redis Cluster primary fails over under load. The stack runs on the local Redis Cluster
 * (scripts/redis-cluster.sh, started if needed); once 30 % of the commands are in, the primary holding the
 * delivery queue's slot (the hottest keys) is SIGKILLed; its replica is promoted by the cluster
 * (cluster-node-timeout 2 s). Printed: the cluster's failover time (kill to a new primary serving the slot)
 * and, as the recovery, the time from the promotion to the first success after it. The killed node is started
 * again afterwards and rejoins as a replica. `PB_REDIS_FAILOVER_MODE=failover` promotes the replica with
 * `CLUSTER FAILOVER` (a planned switch, nothing killed) instead.
 */
export function redisFailoverDrill(): DrillDefinition {
  return {
    name: 'Redis Cluster primary fails over under load',
    faults: { latencyMs: { min: 2, max: 20 } },
    parameters: redisClusterParameters(),
    async disrupt(ctx: DrillContext) {
      const seeds = localRedisClusterNodes({ ...process.env, PB_REDIS_CLUSTER: '1' });
      const probe = createRedis(`redis://${seeds[0]}`, 'probe', undefined, { timeoutMs: 2000 }) as Redis;
      probe.on('error', () => undefined);
      await probe.connect();
      const prefix = ctx.stack.config.redis.keyPrefix;
      const slot = Number(await probe.cluster('KEYSLOT', `${prefix}{bull:gateway-delivery}:gateway-delivery:wait`));
      probe.disconnect();
      await ctx.progress(0.3);
      const mode = process.env.PB_REDIS_FAILOVER_MODE === 'failover' ? 'failover' : 'kill';
      const failover = await failOverSlot({ seeds, slot, mode, note: (line) => ctx.note(line) });
      if (failover.promotedAt === null) return [];
      // A failure here is noted, not fatal: the failover under load has been measured already.
      await failover.restarted;
      return [failover.promotedAt];
    },
  };
}

/** What `failOverSlot` did: the primary it took away, when, and when (whether) a replica took over. */
export interface SlotFailover {
  /** host:port of the primary that served the slot before. */
  before: string;
  /** The kill or the CLUSTER FAILOVER (`preciseNow()`, epoch ms). */
  startedAt: number;
  /** When a replica first served the slot (`preciseNow()`), or null when none did within 60 s. */
  promotedAt: number | null;
  /** host:port of the new primary, when promoted. */
  after?: string;
  /**
   * Resolves once a killed primary was started again from its own data directory and the cluster is ok with a
   * replica beside every primary (`scripts/redis-cluster.sh start`), or at once when nothing was killed. Never
   * rejects: a failure is noted.
   */
  restarted: Promise<void>;
}

/**
 * How a primary is taken away: `kill` (SIGKILL), `failover` (CLUSTER FAILOVER to its replica: planned, nothing
 * lost) or `pause` (SIGSTOP until its replica is promoted, then SIGCONT: a frozen VM or a partition that heals; the
 * old primary serves what its clients had sent meanwhile before it learns it was replaced, the classic window
 * where Redis Cluster loses acknowledged writes).
 */
export type FailoverMode = 'kill' | 'failover' | 'pause';

/**
 * Takes the primary serving `slot` of the cluster seeded by `seeds` away and waits (up to 60 s, polling every
 * 100 ms) until a replica serves the slot (see `FailoverMode`; the replica of a killed or paused primary is
 * promoted after cluster-node-timeout, 2 s locally). A killed primary is started again in the background and
 * rejoins as a replica; a paused one is resumed at once and turns replica by itself. Each step is reported
 * through `note`.
 */
export async function failOverSlot(options: {
  seeds: readonly string[];
  slot: number;
  mode: FailoverMode;
  note: (line: string) => void;
}): Promise<SlotFailover> {
  const { seeds, slot, mode, note } = options;
  const before = owner(await clusterNodes(seeds), slot);
  if (!before) throw new Error(`no primary serves slot ${slot}`);
  const victim = createRedis(`redis://${before.address}`, 'probe', undefined, { timeoutMs: 2000 }) as Redis;
  victim.on('error', () => undefined);
  await victim.connect();
  let startedAt: number;
  // Where the victim keeps its data (<services dir>/redis-cluster/<port>): it must come back from there, with
  // its nodes.conf, to rejoin as a replica. The checkout that started the cluster may not be this one.
  const victimDir = String(((await victim.config('GET', 'dir')) as string[])[1] ?? '');
  let pausedPid: number | null = null;
  if (mode === 'kill' || mode === 'pause') {
    const pid = Number(/process_id:(\d+)/.exec(await victim.info('server'))?.[1]);
    victim.disconnect();
    startedAt = preciseNow();
    process.kill(pid, mode === 'kill' ? 'SIGKILL' : 'SIGSTOP');
    if (mode === 'pause') pausedPid = pid;
    note(`primary ${before.address} (slot ${slot}, pid ${pid}) ${mode === 'kill' ? 'SIGKILLed' : 'SIGSTOPped'}`);
  } else {
    victim.disconnect();
    const replicaOf = (await clusterNodes(seeds)).find((n) => !n.primary && !n.failing && n.primaryId === before.id);
    if (!replicaOf) throw new Error(`no replica of ${before.address} to promote`);
    startedAt = preciseNow();
    const r = createRedis(`redis://${replicaOf.address}`, 'probe') as Redis;
    await r.connect();
    await r.cluster('FAILOVER');
    r.disconnect();
    note(`CLUSTER FAILOVER sent to replica ${replicaOf.address}`);
  }
  let promotedAt: number | null = null;
  let after: ClusterNode | undefined;
  while (preciseNow() - startedAt < 60_000) {
    try {
      after = owner(await clusterNodes(seeds, before.address), slot);
      if (after && after.address !== before.address) {
        promotedAt = preciseNow();
        break;
      }
    } catch {
      // the cluster is settling
    }
    await sleep(100);
  }
  const what = { kill: 'kill', pause: 'SIGSTOP', failover: 'FAILOVER' }[mode];
  if (promotedAt === null) note('no replica took over the slot within 60 s');
  else note(`cluster failover: ${after?.address} serves slot ${slot} ${Math.round(promotedAt - startedAt)} ms after the ${what}`);
  if (pausedPid !== null) {
    process.kill(pausedPid, 'SIGCONT');
    note(`${before.address} resumed (SIGCONT) ${Math.round(preciseNow() - startedAt)} ms after its SIGSTOP`);
  }
  // Start the killed node again from its own data directory: it rejoins as a replica of the new primary.
  // Asynchronous: the bus twin and the PSP simulator live in this process, and a synchronous wait (the script
  // takes seconds) froze them, so the drill measured its own pause as the bridge's recovery.
  const servicesDir = victimDir ? resolve(victimDir, '..', '..') : (process.env.PB_SERVICES_DIR ?? '');
  // `start` also waits until every primary has a synced replica again (a resumed primary turning replica too).
  const restarted =
    mode !== 'failover'
      ? promisify(execFile)('bash', [join(repositoryRoot(), 'scripts/redis-cluster.sh'), 'start'], {
          env: { ...process.env, ...(servicesDir ? { PB_SERVICES_DIR: servicesDir } : {}) },
        }).then(
          () => note(`${before.address} ${mode === 'kill' ? `started again from ${victimDir}` : 'back'} (a replica now)`),
          (err: Error) =>
            note(
              `${before.address} did not come back (${err.message.split('\n')[0]}): start it with PB_SERVICES_DIR=${servicesDir} bash scripts/redis-cluster.sh start`,
            ),
        )
      : Promise.resolve();
  return { before: before.address, startedAt, promotedAt, ...(after ? { after: after.address } : {}), restarted };
}
