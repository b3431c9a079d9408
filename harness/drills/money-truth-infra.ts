/**
 * Infrastructure failures during the money-truth drill (harness/drills/money-truth-drill.ts): Redis Cluster
 * primaries failed over and RabbitMQ cluster nodes stopped, one after the other, while the payments play. The
 * failover and the node stop themselves are the failover drills' (redis-failover-drill.ts, rabbit-node-drill.ts).
 */
import { ensureLocalRedisCluster, localRedisClusterNodes } from '../twins/local-stack/local-redis';
import { preciseNow } from '../workload/precise-clock';
import { portClosed, rabbitCluster, rabbitClusterParameters, rabbitClusterUrls } from './rabbit-node-drill';
import { FailoverMode, clusterNodes, failOverSlot, redisClusterParameters } from './redis-failover-drill';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What a disruption did, once stopped. */
export interface DisruptionSummary {
  /** Disruptions played (failovers, node stops, kills). */
  count: number;
  /** Moments (`preciseNow()`, epoch ms) each disruption began: the OMS event gaps are measured around them. */
  startedAt: number[];
  /** One line each: what was done and how long the dependency took to come back. */
  notes: string[];
}

/** A disruption running during the play; `stop()` ends it and resolves once everything it took away is back. */
export interface Disruption {
  stop(): Promise<DisruptionSummary>;
}

/**
 * Calls `act(turn)` every `everyMs` to 1.5 × `everyMs` (drawn from `random`), one turn at a time (the pause starts
 * once the previous turn is done), until `stop()`; `stop()` wakes a pause at once and resolves after the turn
 * under way, if any.
 */
export function everyWhile(everyMs: number, random: () => number, act: (turn: number) => Promise<void>): { stop(): Promise<void> } {
  let stopped = false;
  let wake: () => void = () => undefined;
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  const loop = (async () => {
    for (let turn = 0; !stopped; turn += 1) {
      await pause(everyMs * (1 + 0.5 * random()));
      if (stopped) return;
      await act(turn);
    }
  })();
  return {
    async stop() {
      stopped = true;
      wake();
      await loop;
    },
  };
}

const span = (ms: readonly number[]) => (ms.length === 0 ? '-' : `${(Math.min(...ms) / 1000).toFixed(1)}-${(Math.max(...ms) / 1000).toFixed(1)} s`);

/** `parameters:` keys for the drill's stack on the local Redis Cluster and/or the local RabbitMQ cluster. */
export function infraParameters(options: { redisCluster: boolean; rabbitCluster: boolean }): Record<string, unknown> {
  return {
    ...(options.redisCluster ? redisClusterParameters() : {}),
    ...(options.rabbitCluster ? rabbitClusterParameters() : {}),
  };
}

/** Starts the local clusters the options ask for (no-ops when they run): before the stack starts. */
export async function prepareInfra(options: { redisCluster: boolean; rabbitCluster: boolean }): Promise<void> {
  if (options.redisCluster) ensureLocalRedisCluster({ ...process.env, PB_REDIS_CLUSTER: '1' });
  if (options.rabbitCluster) await rabbitCluster(['start']);
}

/**
 * Fails over the local Redis Cluster's primaries in turn (each shard in turn, by the first slot it served at the
 * start) every `everyMs` to 1.5 × `everyMs`: `kill` SIGKILLs the primary (its replica takes over after the
 * cluster-node-timeout; the killed node is started again and rejoins as a replica before the next turn), `failover`
 * sends CLUSTER FAILOVER to its replica (planned, nothing lost), `pause` SIGSTOPs it until its replica took over,
 * then resumes it (see `FailoverMode`).
 */
export function startRedisFailovers(options: { everyMs: number; mode: FailoverMode; random: () => number; log: (line: string) => void }): Disruption {
  const seeds = localRedisClusterNodes({ ...process.env, PB_REDIS_CLUSTER: '1' });
  const promotedMs: number[] = [];
  const restartMs: number[] = [];
  const startedAt: number[] = [];
  const notes: string[] = [];
  let slots: number[] | null = null;
  const rounds = everyWhile(options.everyMs, options.random, async (turn) => {
    try {
      slots ??= (await clusterNodes(seeds))
        .filter((n) => n.primary && n.slots.length > 0)
        .map((n) => n.slots[0][0])
        .sort((a, b) => a - b);
      const slot = slots[turn % slots.length];
      const failover = await failOverSlot({ seeds, slot, mode: options.mode, note: (line) => options.log(`  redis: ${line}`) });
      startedAt.push(failover.startedAt);
      if (failover.promotedAt === null) notes.push(`slot ${slot}: no replica took over within 60 s`);
      else promotedMs.push(failover.promotedAt - failover.startedAt);
      // The next turn may take this shard's primary again: its replica must be back first.
      await failover.restarted;
      if (options.mode !== 'failover') restartMs.push(preciseNow() - failover.startedAt);
    } catch (err) {
      notes.push(`turn ${turn + 1}: ${(err as Error).message}`);
      options.log(`  redis: failover ${turn + 1} not played: ${(err as Error).message}`);
    }
  });
  return {
    async stop() {
      await rounds.stop();
      const how = { kill: 'primary SIGKILLed', pause: 'primary SIGSTOPped until replaced', failover: 'CLUSTER FAILOVER' }[options.mode];
      const lines = [
        `Redis Cluster: ${startedAt.length} failover(s) (${how}), a replica serving the slot ${span(promotedMs)} after${options.mode !== 'failover' ? `, the old primary a synced replica again ${span(restartMs)} after` : ''}`,
        ...notes,
      ];
      return { count: startedAt.length, startedAt, notes: lines };
    },
  };
}

/**
 * Stops the local RabbitMQ cluster's nodes in turn (pb-r1, pb-r2, pb-r3, …) every `everyMs` to 1.5 × `everyMs`:
 * `kill` SIGKILLs the node's Erlang VM, `stop_app` stops its application; after `downMs` it is started again
 * (awaited, so one node at most is away and the quorum queues keep their majority).
 */
export function startRabbitNodeStops(options: {
  everyMs: number;
  downMs: number;
  mode: 'kill' | 'stop_app';
  random: () => number;
  log: (line: string) => void;
}): Disruption {
  const urls = rabbitClusterUrls();
  const startedAt: number[] = [];
  const awayMs: number[] = [];
  const restartMs: number[] = [];
  const notes: string[] = [];
  const rounds = everyWhile(options.everyMs, options.random, async (turn) => {
    const n = (turn % urls.length) + 1;
    try {
      const closed = portClosed(Number(new URL(urls[n - 1]).port));
      await rabbitCluster([options.mode === 'kill' ? 'kill-node' : 'stop-node', String(n)]);
      const stoppedAt = await closed;
      startedAt.push(stoppedAt);
      options.log(`  rabbit: node pb-r${n} ${options.mode === 'kill' ? 'killed' : 'stopped'}`);
      await sleep(options.downMs);
      const restart = preciseNow();
      await rabbitCluster(['start-node', String(n)]);
      awayMs.push(preciseNow() - stoppedAt);
      restartMs.push(preciseNow() - restart);
      options.log(`  rabbit: node pb-r${n} back after ${((preciseNow() - stoppedAt) / 1000).toFixed(1)} s`);
    } catch (err) {
      notes.push(`node pb-r${n}: ${(err as Error).message.split('\n')[0]}`);
      options.log(`  rabbit: node pb-r${n} stop/start failed: ${(err as Error).message}`);
      // Whatever happened, the node must be up before the next one goes.
      await rabbitCluster(['start-node', String(n)]).catch((e: Error) => notes.push(`node pb-r${n} not restarted: ${e.message.split('\n')[0]}`));
    }
  });
  return {
    async stop() {
      await rounds.stop();
      const lines = [
        `RabbitMQ cluster: ${startedAt.length} node stop(s) (${options.mode === 'kill' ? 'SIGKILL' : 'stop_app'}), each node away ${span(awayMs)} (its restart ${span(restartMs)})`,
        ...notes,
      ];
      return { count: startedAt.length, startedAt, notes: lines };
    },
  };
}

/**
 * The OMS event stream's stalls: the longest gap between two consecutive events received in `[from, to]`
 * overall, and the longest gap that contains or follows (within 30 s) each disruption moment, ms.
 */
export function eventGaps(
  receivedAt: readonly number[],
  moments: readonly number[],
  from: number,
  to: number,
): { longestMs: number; perDisruptionMs: number[] } {
  const times = receivedAt.filter((t) => t >= from && t <= to).sort((a, b) => a - b);
  let longestMs = 0;
  for (let i = 1; i < times.length; i += 1) longestMs = Math.max(longestMs, times[i] - times[i - 1]);
  const perDisruptionMs = moments.map((at) => {
    let worst = 0;
    for (let i = 1; i < times.length; i += 1) {
      if (times[i] < at || times[i - 1] > at + 30_000) continue;
      worst = Math.max(worst, times[i] - Math.max(times[i - 1], at));
    }
    return worst;
  });
  return { longestMs, perDisruptionMs };
}
