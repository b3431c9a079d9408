/**
 * Standalone PSP simulator. Settings from argv (`--port 8080`, `--api-key …`, `--webhook-url …`,
 * `--webhook-secret …`, `--faults '{…}'`, `--seed 7`, `--async-rate 0.1`) or env (`PB_SIM_PORT`,
 * `PB_SIM_API_KEY`, `PB_SIM_WEBHOOK_URL`, `PB_SIM_WEBHOOK_SECRET`, `PB_SIM_FAULTS` as JSON, `PB_SIM_SEED`,
 * `PB_SIM_ASYNC_RATE`); argv wins. Prints `{"url":"http://…"}` as one JSON line once listening; stops on
 * SIGTERM or SIGINT. The api key and secret are never printed.
 */
import { parseFaults } from './simulator-faults';
import { startPspSimulator } from './psp-simulator';

function argValue(argv: readonly string[], name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  if (i !== -1 && i + 1 < argv.length) return argv[i + 1];
  const prefixed = argv.find((a) => a.startsWith(`--${name}=`));
  return prefixed?.slice(name.length + 3);
}

function numberOf(text: string | undefined, name: string): number | undefined {
  if (text === undefined || text === '') return undefined;
  const n = Number(text);
  if (!Number.isFinite(n)) throw new Error(`${name} must be a number`);
  return n;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const env = process.env;
  const setting = (arg: string, envName: string): string | undefined => argValue(argv, arg) ?? env[envName];
  const apiKey = setting('api-key', 'PB_SIM_API_KEY');
  if (!apiKey) throw new Error('PB_SIM_API_KEY (or --api-key) is required');
  const faultsText = setting('faults', 'PB_SIM_FAULTS');
  const simulator = await startPspSimulator({
    port: numberOf(setting('port', 'PB_SIM_PORT'), 'PB_SIM_PORT') ?? 0,
    host: setting('host', 'PB_SIM_HOST') ?? '127.0.0.1',
    apiKey,
    webhookUrl: setting('webhook-url', 'PB_SIM_WEBHOOK_URL') || undefined,
    webhookSecret: setting('webhook-secret', 'PB_SIM_WEBHOOK_SECRET'),
    faults: faultsText ? parseFaults(JSON.parse(faultsText) as unknown) : undefined,
    seed: numberOf(setting('seed', 'PB_SIM_SEED'), 'PB_SIM_SEED'),
    asyncRate: numberOf(setting('async-rate', 'PB_SIM_ASYNC_RATE'), 'PB_SIM_ASYNC_RATE'),
  });
  process.stdout.write(`${JSON.stringify({ url: simulator.url })}\n`);
  const shutdown = (): void => {
    void simulator.stop().then(() => process.exit(0));
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

main().catch((err: unknown) => {
  process.stderr.write(`${JSON.stringify({ error: err instanceof Error ? err.message : String(err) })}\n`);
  process.exit(1);
});
