import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot } from '../twins/local-stack/local-stack';
import { preciseNow } from '../workload/precise-clock';

/**
 * Restarts the local RabbitMQ or Redis with `scripts/services.sh restart-<service>` (which returns once the
 * server answers again). Resolves with the epoch ms at which it was back and how long it was down.
 *
 * @param timeoutMs fail if the restart takes longer. Default 120 000 ms.
 */
export function restartService(service: 'rabbitmq' | 'redis', timeoutMs = 120_000): Promise<{ upAt: number; downMs: number }> {
  const started = preciseNow();
  const script = join(projectRoot(), 'scripts', 'services.sh');
  return new Promise((resolve, reject) => {
    execFile('bash', [script, `restart-${service}`], { timeout: timeoutMs }, (err, _stdout, stderr) => {
      if (err) return reject(new Error(`restart-${service} failed: ${err.message} ${stderr.trim()}`));
      const upAt = preciseNow();
      resolve({ upAt, downMs: Math.round(upAt - started) });
    });
  });
}
