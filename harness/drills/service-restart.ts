import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot } from '../twins/local-stack/local-stack';
import { onLocalRedisCluster } from '../twins/local-stack/local-redis';
import { preciseNow } from '../workload/precise-clock';

/**
 * Restarts the local RabbitMQ or Redis with `scripts/services.sh restart-<service>` (which returns once the
 * server answers again). Resolves with the epoch ms at which it was back and how long it was down.
 * With `PB_REDIS_CLUSTER=1` (the stacks on the local Redis Cluster), 'redis' restarts every node of that
 * cluster (`restart-redis-cluster`: all stopped, then all started, each from the data directory the node
 * itself reports, so a cluster started from another checkout is restarted too; back once CLUSTER INFO says
 * ok), never the single Redis; a cluster named by `PB_REDIS_CLUSTER_NODES` is not ours to restart: refused.
 *
 * @param timeoutMs fail if the restart takes longer. Default 120 000 ms.
 */
export function restartService(service: 'rabbitmq' | 'redis', timeoutMs = 120_000): Promise<{ upAt: number; downMs: number }> {
  const started = preciseNow();
  const script = join(projectRoot(), 'scripts', 'services.sh');
  const cluster = service === 'redis' && onLocalRedisCluster();
  if (cluster && process.env.PB_REDIS_CLUSTER_NODES) {
    return Promise.reject(new Error('PB_REDIS_CLUSTER_NODES names a cluster this script did not start: not restarting it'));
  }
  const command = cluster ? 'restart-redis-cluster' : `restart-${service}`;
  return new Promise((resolve, reject) => {
    execFile('bash', [script, command], { timeout: timeoutMs }, (err, _stdout, stderr) => {
      if (err) return reject(new Error(`${command} failed: ${err.message} ${stderr.trim()}`));
      const upAt = preciseNow();
      resolve({ upAt, downMs: Math.round(upAt - started) });
    });
  });
}
