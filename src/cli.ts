#!/usr/bin/env node
import { Command } from 'commander';
import { BusClient } from './bus/bus-client';
import { OAuthTokenProvider } from './bus/oauth-token-provider';
import { runRegisterCommand } from './bus/registration';
import { runCheckConfig } from './cli/check-config';
import { configOrExit, processLogger, runUntilSignal } from './cli/run-process';
import { parsePort } from './cli/parse-port';
import { processActor } from './audit/actor';
import { addOpsCommands } from './cli/ops-commands';
import { addDataCommands } from './cli/data-commands';
import { addPaymentMethodsCommand } from './cli/payment-methods-command';
import { addRecurringCommands } from './cli/recurring-commands';
import { addReconcileCommand } from './cli/reconcile-command';
import { addConsolePasswordHashCommand } from './cli/console-password-hash-command';
import { createLogger } from './logging/logger';
import { openOps } from './ops/ops-context';
import { createGatewayClients } from './gateways/gateway-registry';

// Each role and the doctor and certify commands load their own modules when they run (dynamic imports):
// a worker has no use for the web console or the doctor's axios, and every module loaded is resident memory.

/**
 * `payment-bridge <command>`: one binary for every Procfile role and operator task. The configuration
 * comes from `--config` (default `$PB_CONFIG` or `config/parameters.yml`).
 */
const program = new Command();
program
  .name('payment-bridge')
  .description('OMS payment integration worker for a MIB-style service bus')
  .option('-c, --config <path>', 'configuration file (default: $PB_CONFIG or config/parameters.yml)');

const configPath = (): string | undefined => program.opts<{ config?: string }>().config;

program
  .command('check-config')
  .description('validate the configuration: every problem at once, with the key to fix (exit 0 when valid, 78 when not)')
  .option('--show', 'print the configuration as the processes see it (defaults applied, secrets masked)')
  .option('--json', 'print the result as JSON')
  .action((opts: { show?: boolean; json?: boolean }) => {
    process.exitCode = runCheckConfig(configPath(), opts, process.stdout);
  });

program
  .command('web')
  .description('serve bus intake, PSP webhooks, health and metrics')
  .action(async () => {
    const config = configOrExit(configPath(), processLogger('web'), { role: 'web', stream: true });
    const logger = processLogger('web', config.log.level);
    const webhooks = createGatewayClients(config, { logger });
    const { startWebProcess } = await import('./processes/web-process');
    await runUntilSignal('web', logger, () => startWebProcess(config, logger, { webhooks }), config.shutdown.deadlineMs);
  });

program
  .command('worker')
  .description('consume commands, deliver them to gateways, send events to the bus')
  .option('--monitoring-port <port>', 'serve /metrics, /healthz, /readyz on this port (default: monitoring.worker_port; 0 = none)', parsePort)
  .action(async (opts: { monitoringPort?: number }) => {
    const config = configOrExit(configPath(), processLogger('worker'), { role: 'worker', stream: true });
    const logger = processLogger('worker', config.log.level);
    const routes = createGatewayClients(config, { logger });
    const notifier = new BusClient(config, new OAuthTokenProvider(config, logger), logger);
    const { startWorkerProcess } = await import('./processes/worker-process');
    await runUntilSignal(
      'worker',
      logger,
      (signal) => startWorkerProcess(config, logger, { routes, notifier, signal, monitoringPort: opts.monitoringPort }),
      config.shutdown.deadlineMs,
    );
  });

program
  .command('register')
  .description('announce our intake URL to the bus (safe to repeat; the Procfile release step)')
  .action(async () => {
    const config = configOrExit(configPath(), processLogger('register'), { role: 'register' });
    process.exitCode = await runRegisterCommand(config, processLogger('register', config.log.level), 'register');
  });

program
  .command('unregister')
  .description('withdraw our endpoint from the bus')
  .action(async () => {
    const config = configOrExit(configPath(), processLogger('register'), { role: 'register' });
    process.exitCode = await runRegisterCommand(config, processLogger('register', config.log.level), 'unregister');
  });

program
  .command('poll')
  .description(
    'the poller: status inquiries for PENDING and UNKNOWN operations that are due, authorization expiry and orphans, every poller.interval_ms (--once: one pass, for cron)',
  )
  .option('--once', 'run one pass and exit (what cron runs)')
  .option('--monitoring-port <port>', 'serve /metrics, /healthz, /readyz on this port (default: monitoring.poller_port; 0 = none)', parsePort)
  .action(async (opts: { once?: boolean; monitoringPort?: number }) => {
    const config = configOrExit(configPath(), processLogger('poller'), { role: 'poller', stream: true });
    const logger = processLogger('poller', config.log.level);
    const routes = createGatewayClients(config, { logger });
    const { runPollProcess, startPollerProcess } = await import('./processes/poll-process');
    if (opts.once) {
      const report = await runPollProcess(config, logger, routes);
      process.stdout.write(report ? `${JSON.stringify(report)}\n` : 'another poll run is in progress\n');
      return;
    }
    await runUntilSignal(
      'poller',
      logger,
      (signal) => startPollerProcess(config, logger, routes, { signal, monitoringPort: opts.monitoringPort }),
      config.shutdown.deadlineMs,
    );
  });

program
  .command('doctor')
  .description('check configuration, RabbitMQ, Redis, the public intake URL, and DNS, TCP, TLS and credentials for the bus and every gateway')
  .option('--json', 'print the results as JSON')
  .action(async (opts: { json?: boolean }) => {
    const config = configOrExit(configPath(), processLogger('doctor'), { role: 'doctor' });
    const { runDoctor } = await import('./doctor/doctor');
    process.exitCode = await runDoctor(config, { logger: processLogger('doctor', 'error'), out: process.stdout, format: opts.json ? 'json' : 'text' });
  });

program
  .command('certify')
  .description("go-live check: run the key flows against a gateway's sandbox and a webhook round trip, with a pass/fail report")
  .requiredOption('--gateway <name>', 'the gateway to certify (a key of gateways)')
  .option('--token <key>', "payment method that authorizes (default: the PSP's documented test token, if it has one)")
  .option('--decline-token <key>', "payment method that is declined (default: the PSP's documented one, if any)")
  .option('--amount <minor>', 'amount in minor units (default 2000)', (v) => Number.parseInt(v, 10))
  .option('--currency <code>', 'ISO 4217 currency (default EUR, USD for Stripe and Cybersource)')
  .option('--no-webhook', 'skip the webhook round trip')
  .option('--json', 'print the report as JSON')
  .action(async (opts: { gateway: string; token?: string; declineToken?: string; amount?: number; currency?: string; webhook: boolean; json?: boolean }) => {
    const config = configOrExit(configPath(), processLogger('certify'), { role: 'certify' });
    const logger = processLogger('certify', 'error');
    const route = createGatewayClients(config, { logger }).get(opts.gateway);
    if (!route) {
      process.stderr.write(
        `payment-bridge: no gateway "${opts.gateway}" in the configuration (gateways: ${Object.keys(config.gateways).join(', ') || 'none'})\n`,
      );
      process.exitCode = 2;
      return;
    }
    const [{ runCertify }, { formatCertifyReport }] = await Promise.all([import('./certify/certify'), import('./certify/format-certify')]);
    const report = await runCertify(
      config,
      route,
      { token: opts.token, declineToken: opts.declineToken, amount: opts.amount, currency: opts.currency, webhook: opts.webhook },
      { logger },
    );
    process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : formatCertifyReport(report));
    process.exitCode = report.passed ? 0 : 1;
  });

const withOpsContext = async (run: Parameters<Parameters<typeof addOpsCommands>[1]>[0]): Promise<void> => {
  const config = configOrExit(configPath(), processLogger('ops'), { role: 'ops' });
  // Log lines and audit lines go to stderr: stdout is the command's output (`--json` stays parseable).
  const ctx = openOps(config, createLogger({ service: 'ops', level: 'warn', stream: process.stderr }), { service: 'ops', auditStream: process.stderr });
  try {
    process.exitCode = await run(ctx, { out: process.stdout, err: process.stderr, actor: processActor() });
  } finally {
    await ctx.close();
  }
};
addOpsCommands(program, withOpsContext);
addDataCommands(program, withOpsContext);
addPaymentMethodsCommand(program, () => ({ config: configOrExit(configPath(), processLogger('ops'), { role: 'ops' }), logger: processLogger('ops', 'error') }));
addReconcileCommand(program, withOpsContext);
addRecurringCommands(program, withOpsContext);
addConsolePasswordHashCommand(program);

program.parseAsync(process.argv).catch((err: Error) => {
  process.stderr.write(`payment-bridge: ${err.message}\n`);
  process.exit(1);
});
