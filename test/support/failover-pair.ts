import { Config } from '../../src/config/config';
import { NotificationSender } from '../../src/events/event-send';
import { createGatewayClients } from '../../src/gateways/gateway-registry';
import { Logger } from '../../src/logging/logger';
import { WebProcess, startWebProcess } from '../../src/processes/web-process';
import { WorkerProcess, startWorkerProcess } from '../../src/processes/worker-process';
import { purgeNamespace } from '../../harness/twins/local-stack/local-stack';
import { channelCommand } from './fixtures';
import { testConfig } from './test-config';

/** Failures that open a gateway's breaker in {@link failoverPairConfig} (`delivery.breaker_failure_threshold`). */
const BREAKER_THRESHOLD = 3;

/** Gateway entries of the configuration (`gateways.<name>`: type, base_url, credentials, timeout_ms…). */
export interface FailoverPairGateways {
  readonly sima: Record<string, unknown>;
  readonly simb: Record<string, unknown>;
}

/**
 * `testConfig()` (a key prefix and queue names of its own) for a failover from gateway `sima` to `simb`: EUR
 * authorizations are routed to sima then simb (rule `a-then-b`, failover on), a breaker opens after 3 failures for 60 s,
 * and orphan reversal is on (a failover's late success is voided at the gateway failed over from).
 */
export function failoverPairConfig(gateways: FailoverPairGateways): Config {
  return testConfig({
    'delivery.breaker_failure_threshold': BREAKER_THRESHOLD,
    'delivery.breaker_open_ms': 60_000,
    'routing.rules': [{ name: 'a-then-b', when: { commands: ['authorize'], currencies: ['EUR'] }, gateways: ['sima', 'simb'] }],
    'routing.failover.enabled': true,
    'authorizations.orphan_reversal': 'on',
    gateways: { sima: gateways.sima, simb: gateways.simb },
  });
}

/** How {@link useFailoverPair} sets up. */
export interface FailoverPairOptions {
  /** Starts what the gateways are (simulators, a relay…), before the processes; resolves to sima's and simb's entries. */
  start(): Promise<FailoverPairGateways>;
  /** Stops what `start` started, once the processes have stopped (also after a `start` that failed half way). */
  stop(): Promise<void>;
  /** The processes' logger. */
  logger: Logger;
  /** Whether a web process takes the gateways' webhooks at `/webhooks/<name>`. Default true. */
  web?: boolean;
  /** The worker's notifications to the OMS. Default: dropped. */
  notify?: NotificationSender['notify'];
}

/** The processes of a failover test file, there from its `beforeAll` on (see {@link useFailoverPair}). */
export interface FailoverPair {
  /** {@link failoverPairConfig} of the entries `start` gave. */
  readonly config: Config;
  /** The web process; throws when the options said `web: false`. */
  readonly web: WebProcess;
  readonly worker: WorkerProcess;
  /** The web process's URL; '' until it listens (a webhook relay started before it reads this per request). */
  readonly webUrl: string;
  /**
   * An authorization of `orderId` (EUR, the fixtures' amount) named to sima with `gatewayKey`, delivered while sima's
   * breaker is open: asserts it failed over to simb and ended in `state` there, closes the breaker again; its id.
   */
  failedOver(orderId: string, gatewayKey: string, state: 'SUCCEEDED' | 'FAILED'): Promise<string>;
}

/**
 * Registers (at a test file's top level) the set-up the failover webhook tests share. `beforeAll`: `options.start()`,
 * then {@link failoverPairConfig} of its entries (a namespace of its own: key prefix, queue names), a web process taking
 * both gateways' webhooks (unless `web: false`) and the real worker process, on the real RabbitMQ and Redis. `afterAll`:
 * the web and worker processes stopped, `options.stop()`, the namespace purged. Hooks a file registers after this call
 * run after these (Jest runs hooks in the order they were registered).
 */
export function useFailoverPair(options: FailoverPairOptions): FailoverPair {
  let config: Config | undefined;
  let web: WebProcess | undefined;
  let worker: WorkerProcess | undefined;
  let webUrl = '';

  beforeAll(async () => {
    config = failoverPairConfig(await options.start());
    const routes = createGatewayClients(config);
    if (options.web ?? true) {
      web = await startWebProcess(config, options.logger, { webhooks: routes });
      webUrl = web.server.url;
    }
    const notify = options.notify ?? (async () => undefined);
    worker = await startWorkerProcess(config, options.logger, { routes, notifier: { notify } });
  });
  afterAll(async () => {
    await web?.stop();
    await worker?.stop();
    await options.stop();
    if (config) await purgeNamespace(config).catch(() => undefined);
  });

  const started = <T>(value: T | undefined, name: string): T => {
    if (value === undefined) throw new Error(`useFailoverPair: no ${name} (read before its beforeAll, or not asked for)`);
    return value;
  };
  return {
    get config() {
      return started(config, 'config');
    },
    get web() {
      return started(web, 'web process');
    },
    get worker() {
      return started(worker, 'worker process');
    },
    get webUrl() {
      return webUrl;
    },
    async failedOver(orderId, gatewayKey, state) {
      const { delivery, ledger } = started(worker, 'worker process');
      const breaker = delivery.breaker('sima');
      for (let i = 0; i < BREAKER_THRESHOLD; i++) breaker.failure();
      const command = channelCommand('authorize', {}, { gateway: 'sima', gateway_key: gatewayKey, currency: 'EUR', order_id: orderId });
      const id = command.payment.operation_reference!;
      await ledger.create(id, command);
      expect(await delivery.deliver(id)).toEqual({ kind: 'done', state });
      breaker.success();
      expect((await ledger.get(id))?.routing).toMatchObject({ gateway: 'simb', failovers: [{ from: 'sima', to: 'simb' }] });
      return id;
    },
  };
}
