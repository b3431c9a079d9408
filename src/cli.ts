#!/usr/bin/env node
import { Command } from 'commander';
import { configOrExit, processLogger, runUntilSignal } from './cli/run-process';
import { startWebProcess } from './processes/web-process';
import { startWorkerProcess } from './processes/worker-process';

/**
 * `payment-bridge <command>`: one binary for every Procfile role and operator task. The configuration
 * comes from `--config` (default `$PB_CONFIG` or `./parameters.yml`).
 */
const program = new Command();
program.name('payment-bridge').description('OMS payment integration worker for a MIB-style service bus').option('-c, --config <path>', 'parameters.yml to load');

const configPath = (): string | undefined => program.opts<{ config?: string }>().config;

program
  .command('check-config')
  .description('validate the configuration and exit (0 when valid)')
  .action(() => {
    const logger = processLogger('cli');
    configOrExit(configPath(), logger);
    process.stdout.write('configuration OK\n');
  });

program
  .command('web')
  .description('serve bus intake, PSP webhooks, health and metrics')
  .action(async () => {
    const config = configOrExit(configPath(), processLogger('web'));
    const logger = processLogger('web', config.log.level);
    await runUntilSignal('web', logger, () => startWebProcess(config, logger));
  });

program
  .command('worker')
  .description('consume commands, deliver them to gateways, send events to the bus')
  .action(async () => {
    const config = configOrExit(configPath(), processLogger('worker'));
    const logger = processLogger('worker', config.log.level);
    await runUntilSignal('worker', logger, () => startWorkerProcess(config, logger, { routes: new Map(), notifier: { notify: async () => undefined }, consumerOnly: true }));
  });

program.parseAsync(process.argv).catch((err: Error) => {
  process.stderr.write(`payment-bridge: ${err.message}\n`);
  process.exit(1);
});
