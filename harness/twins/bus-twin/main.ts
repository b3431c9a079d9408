import { startBusTwin } from './bus-twin';

/**
 * Runs the bus twin as its own process: `node main.js [port] [clientId] [clientSecret]`, or the env vars
 * PB_TWIN_PORT, PB_TWIN_CLIENT_ID, PB_TWIN_CLIENT_SECRET (argv wins). Prints `{"url": …}` as one JSON
 * line on stdout once listening; stops on SIGTERM or SIGINT.
 */
async function main(): Promise<void> {
  const [portArg, idArg, secretArg] = process.argv.slice(2);
  const port = Number(portArg ?? process.env.PB_TWIN_PORT ?? 0);
  const clientId = idArg ?? process.env.PB_TWIN_CLIENT_ID;
  const clientSecret = secretArg ?? process.env.PB_TWIN_CLIENT_SECRET;
  if (!Number.isInteger(port) || port < 0 || port > 65535 || !clientId || !clientSecret) {
    process.stderr.write('usage: bus-twin [port] [client-id] [client-secret] (or PB_TWIN_PORT, PB_TWIN_CLIENT_ID, PB_TWIN_CLIENT_SECRET)\n');
    process.exitCode = 2;
    return;
  }
  const twin = await startBusTwin({ clientId, clientSecret, port });
  process.stdout.write(`${JSON.stringify({ url: twin.url })}\n`);
  const stop = (): void => {
    void twin.stop().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

void main().catch((err: unknown) => {
  process.stderr.write(`bus twin failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
