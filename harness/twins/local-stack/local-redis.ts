import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * Which Redis the local stacks (tests, demo, `npm run chaos`) use: the single local Redis
 * (`PB_REDIS_URL`, default 127.0.0.1:6379), or with `PB_REDIS_CLUSTER=1` the local Redis Cluster of
 * `scripts/services.sh start-redis-cluster`, seeded with `PB_REDIS_CLUSTER_NODES` (comma-separated host:port,
 * default 127.0.0.1:7001-7003).
 */
export function onLocalRedisCluster(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.PB_REDIS_CLUSTER === '1';
}

/** The cluster's seed nodes (`PB_REDIS_CLUSTER_NODES`, default the local cluster's three primaries' ports). */
export function localRedisClusterNodes(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.PB_REDIS_CLUSTER_NODES ?? '127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003').split(',').map((n) => n.trim());
}

/**
 * `parameters:` keys for the local Redis: `redis.url`, plus `redis.cluster.nodes` on the cluster (whose
 * `redis.url` then only carries credentials: none locally). `singleUrl` is the single Redis's URL.
 */
export function localRedisParameters(singleUrl: string, env: NodeJS.ProcessEnv = process.env): Record<string, unknown> {
  return onLocalRedisCluster(env) ? localRedisClusterParameters({}, env) : { 'redis.url': singleUrl };
}

/**
 * `parameters:` keys putting a stack on the local Redis Cluster whatever `PB_REDIS_CLUSTER` says (the drills, the
 * bench): `redis.url` (credentials only: none locally) and `redis.cluster.nodes` (`PB_REDIS_CLUSTER_NODES`, default
 * the local cluster's primaries), plus `redis.replica_acks` when `replicaAcks` is given (unset: the configuration's
 * default, 0).
 */
export function localRedisClusterParameters(options: { replicaAcks?: number }, env: NodeJS.ProcessEnv = process.env): Record<string, unknown> {
  const nodes = localRedisClusterNodes(env);
  return {
    'redis.url': `redis://${nodes[0]}`,
    'redis.cluster.nodes': nodes,
    ...(options.replicaAcks === undefined ? {} : { 'redis.replica_acks': options.replicaAcks }),
  };
}

/**
 * Starts the local Redis Cluster (a no-op when it runs) when `PB_REDIS_CLUSTER=1` and no other cluster is
 * named (`PB_REDIS_CLUSTER_NODES`). Synchronous: `scripts/services.sh start-redis-cluster` returns once
 * CLUSTER INFO says ok on every node.
 */
export function ensureLocalRedisCluster(env: NodeJS.ProcessEnv = process.env): void {
  if (!onLocalRedisCluster(env) || env.PB_REDIS_CLUSTER_NODES) return;
  execFileSync('bash', [join(repositoryRoot(), 'scripts/services.sh'), 'start-redis-cluster'], { stdio: ['ignore', 'inherit', 'inherit'] });
}

/** The checkout's root (where package.json is), from the sources or from dist/. */
export function repositoryRoot(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'scripts', 'services.sh'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`no checkout root above ${__dirname}`);
    dir = up;
  }
  return dir;
}
