/**
 * The worker and poller as real processes of the built CLI (`npm run build` first): not "started" before
 * Redis answers, not ready meanwhile, and a SIGTERM ends them within `shutdown.deadline_ms` even then.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort, projectRoot } from '../../harness/twins/local-stack/local-stack';
import { RoleProcess, spawnRole } from '../../harness/twins/local-stack/role-process';
import { eventually } from '../support/tcp-proxy';
import { testNamespace } from '../support/test-config';

jest.setTimeout(60_000);

const DEADLINE_MS = 5000;
const spawned: RoleProcess[] = [];

afterAll(async () => {
  for (const p of spawned) await p.kill('SIGKILL');
});

/** A configuration whose Redis (or, with `deadBroker`, RabbitMQ) nobody answers at (a closed port on loopback). */
async function configWithDeadRedis(dir: string, deadBroker = false): Promise<string> {
  const ns = testNamespace();
  const parameters = {
    'service_bus.url': 'http://127.0.0.1:1',
    'service_bus.endpoint_name': 'payment-bridge-test',
    'service_bus.secret': 'test-bus-secret-0123456789',
    'service_bus.public_url': 'http://127.0.0.1:1/bus',
    'mom_client.client_id': 'mom-test-client',
    'mom_client.client_secret': 'mom-test-client-secret',
    'mom_client.oauth_server_url': 'http://127.0.0.1:1',
    'amqp.url': deadBroker ? `amqp://guest:guest@127.0.0.1:${await freePort()}` : (process.env.PB_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672'),
    'amqp.exchange.commands': `${ns}.commands`,
    'amqp.queue.commands': `${ns}:payment:command`,
    'amqp.exchange.dead_letter': `${ns}.dead-letter`,
    'amqp.queue.dead_letter': `${ns}:payment:dead-letter`,
    'amqp.queue.type': 'classic',
    'redis.url': deadBroker ? (process.env.PB_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379') : `redis://127.0.0.1:${await freePort()}`,
    'redis.key_prefix': `${ns}:`,
    'log.level': 'info',
    'security.allow_insecure_http': true,
    'shutdown.deadline_ms': DEADLINE_MS,
  };
  const path = join(dir, 'parameters.yml');
  writeFileSync(path, stringify({ parameters }), { mode: 0o600 });
  return path;
}

describe.each([
  ['worker', ['worker']],
  ['poller', ['poll']],
])('the %s with an unreachable Redis', (name, args) => {
  it('serves /healthz, is not ready, never says started, and exits 0 on SIGTERM within shutdown.deadline_ms', async () => {
    const dir = mkdtempSync(join(tmpdir(), `pb-lifecycle-${name}-`));
    const configPath = await configWithDeadRedis(dir);
    const port = await freePort();
    const logPath = join(dir, `${name}.log`);
    const role = spawnRole({
      name,
      cliPath: join(projectRoot(), 'dist', 'src', 'cli.js'),
      configPath,
      args: [...args, '--monitoring-port', String(port)],
      logPath,
    });
    spawned.push(role);
    const base = `http://127.0.0.1:${port}`;
    await eventually(async () => (await fetch(`${base}/healthz`).catch(() => null))?.status === 200, 15_000, 100);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(503);
    const body = (await ready.json()) as { checks: Record<string, string> };
    expect(body.checks.started).toBe('down');
    expect(body.checks.redis).toBe('down');
    // Its first PING goes unanswered for a second before the line is written, by another process through a pipe:
    // waited for, not given a fixed pause a loaded machine can outlast.
    await eventually(async () => readFileSync(logPath, 'utf8').includes('waiting for Redis before starting'), 15_000, 100);
    expect(readFileSync(logPath, 'utf8')).not.toContain(`${name} started`);

    const t0 = Date.now();
    const code = await role.kill('SIGTERM');
    expect(Date.now() - t0).toBeLessThan(DEADLINE_MS);
    expect(code).toBe(0);
  });
});

describe('the worker with Redis up and RabbitMQ unreachable', () => {
  it('is not ready while it waits for the broker, and a SIGTERM ends the wait at once with exit 0 (not at shutdown.deadline_ms)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pb-lifecycle-broker-'));
    const configPath = await configWithDeadRedis(dir, true);
    const port = await freePort();
    const logPath = join(dir, 'worker.log');
    const role = spawnRole({
      name: 'worker',
      cliPath: join(projectRoot(), 'dist', 'src', 'cli.js'),
      configPath,
      args: ['worker', '--monitoring-port', String(port)],
      logPath,
    });
    spawned.push(role);
    await eventually(async () => existsSync(logPath) && readFileSync(logPath, 'utf8').includes('amqp connect failed; retrying'), 20_000, 100);
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(ready.status).toBe(503);
    expect(readFileSync(logPath, 'utf8')).not.toContain('worker started');

    const t0 = Date.now();
    const code = await role.kill('SIGTERM');
    expect(Date.now() - t0).toBeLessThan(DEADLINE_MS);
    expect(code).toBe(0);
  });
});
