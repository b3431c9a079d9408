import http from 'node:http';
import { AddressInfo } from 'node:net';
import { Queue } from 'bullmq';
import { Config } from '../../src/config/config';
import { DeliveryJobData, createDeliveryQueue } from '../../src/delivery/delivery-queue';
import { DeliveryService } from '../../src/delivery/delivery-service';
import { OutcomeRecorder } from '../../src/delivery/outcome-recorder';
import { EventStore } from '../../src/events/event-store';
import { OmsEventJobData, createOmsEventsQueue } from '../../src/events/oms-events-queue';
import { createGatewayClients } from '../../src/gateways/gateway-registry';
import { Ledger } from '../../src/ledger/ledger';
import { Logger } from '../../src/logging/logger';
import { OrphanReversal, orphanReleases } from '../../src/poller/orphan-reversal';
import { Poller } from '../../src/poller/poller';
import { RedisClient, createRedis } from '../../src/redis/redis-connection';
import { ConfiguredGatewayRouter } from '../../src/routing/configured-gateway-router';
import { purgeNamespace } from '../../harness/twins/local-stack/local-stack';
import { captureLogger } from './capture-logger';
import { requiredCredentials } from './gateway-credentials';
import { testConfig } from './test-config';

/** A request the stand-in received: its method, path and query (`url`), and its raw body. */
export interface CybersourceStandInRequest {
  readonly method: string;
  readonly url: string;
  readonly body: string;
}

/** The stand-in's answer: an HTTP status and a body it sends as `application/hal+json`, as Cybersource does. */
export interface CybersourceStandInAnswer {
  readonly status: number;
  readonly body: unknown;
}

/** What a test file's stand-in answers; `undefined` is Cybersource's 404 `{ reason: 'NOT_FOUND' }`. */
export type CybersourceStandInRoutes = (request: CybersourceStandInRequest) => CybersourceStandInAnswer | undefined;

/** The recorder's hooks that release held funds through orphan reversal (src/poller/orphan-reversal.ts). */
export type OrphanReleaseHooks = Partial<ReturnType<typeof orphanReleases>>;

/** What {@link CybersourceStandIn.stack} wires on the real Redis for one namespace of its own. */
export interface CybersourceStack {
  /** `testConfig()` (a key prefix of its own) with the gateway `cybs` pointed at the stand-in. */
  readonly config: Config;
  /** The file's one connection to the real Redis. */
  readonly redis: RedisClient;
  readonly ledger: Ledger;
  readonly events: EventStore;
  readonly eventsQueue: Queue<OmsEventJobData>;
  readonly deliveryQueue: Queue<DeliveryJobData>;
  /** Orphan reversal on `deliveryQueue`, in the configuration's `authorizations.orphan_reversal` mode. */
  readonly orphans: OrphanReversal;
  /** The recorder, with the release hooks asked for (none unless given). */
  readonly recorder: OutcomeRecorder;
  /** The configured gateways' router (`cybs`). */
  readonly router: ConfiguredGatewayRouter;
  /** A delivery service on `router` and `recorder`, as the worker's without orchestration. */
  readonly service: DeliveryService;
  /** A poller (status inquiries) on `router` and `recorder`. */
  readonly poller: Poller;
  /** The stack's logger (level debug): every line is kept in `lines`. */
  readonly logger: Logger;
  /** The JSON lines `logger` wrote, oldest first. */
  readonly lines: string[];
}

/** A local Cybersource stand-in for one test file, and the stacks that call it (see {@link useCybersourceStandIn}). */
export interface CybersourceStandIn {
  /**
   * A stack in a namespace of its own: `settings` are `testConfig()` overrides (e.g. `'authorizations.orphan_reversal'`),
   * `releases` gives the recorder its release hooks from the stack's orphan reversal (e.g. `orphanReleases`; none unless
   * given). Call it inside a test or a hook, once the stand-in listens.
   */
  stack(options?: { settings?: Record<string, unknown>; releases?: (orphans: OrphanReversal) => OrphanReleaseHooks }): CybersourceStack;
}

/**
 * Registers (at a test file's top level) the set-up the Cybersource delivery tests share. `beforeAll`: a local HTTP
 * server on 127.0.0.1 answering with `routes` (whatever they leave unanswered gets a 404). Each
 * {@link CybersourceStandIn.stack} then makes a configuration with a new key prefix (so the file's tests never share
 * keys or queues, nor collide with another file's) whose gateway `cybs` (type cybersource, 2 s timeout) calls the
 * stand-in, and wires a ledger, events, the events and delivery queues, orphan reversal, the outcome recorder, a
 * delivery service and a poller on the file's one Redis connection. `afterAll`: the queues are closed, the connection
 * dropped, the server closed, and every namespace a stack used purged.
 */
export function useCybersourceStandIn(routes: CybersourceStandInRoutes): CybersourceStandIn {
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const answer = routes({ method: req.method ?? '', url: req.url ?? '', body }) ?? { status: 404, body: { reason: 'NOT_FOUND' } };
      res.writeHead(answer.status, { 'content-type': 'application/hal+json' });
      res.end(JSON.stringify(answer.body));
    });
  });
  const configs: Config[] = [];
  const queues: Queue[] = [];
  let redis: RedisClient | undefined;

  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    for (const q of queues) await q.close();
    redis?.disconnect();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    for (const c of configs) await purgeNamespace(c).catch(() => undefined);
    // Purging several namespaces takes a while on a loaded machine.
  }, 60_000);

  return {
    stack(options = {}) {
      const config = testConfig({
        ...options.settings,
        gateways: {
          cybs: {
            type: 'cybersource',
            base_url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
            ...requiredCredentials('cybersource'),
            merchant_account: '93B32398-AD51-4CC2-A682-EA3E93614EB1',
            timeout_ms: 2000,
          },
        },
      });
      configs.push(config);
      redis ??= createRedis(config.redis, 'commands');
      const eventsQueue: Queue<OmsEventJobData> = createOmsEventsQueue(redis, config.redis.keyPrefix);
      const deliveryQueue: Queue<DeliveryJobData> = createDeliveryQueue(redis, config.redis.keyPrefix);
      queues.push(eventsQueue, deliveryQueue);
      const ledger = new Ledger(redis, config.redis.keyPrefix);
      const events = new EventStore(redis, config.redis.keyPrefix);
      const { logger, lines } = captureLogger();
      const orphans = new OrphanReversal({ config, redis, ledger, deliveryQueue, logger });
      const recorder = new OutcomeRecorder({ config, ledger, events, eventsQueue, logger, ...options.releases?.(orphans) });
      const router = new ConfiguredGatewayRouter(createGatewayClients(config));
      const service = new DeliveryService({ config, ledger, router, recorder, logger });
      const poller = new Poller({ config, ledger, router, recorder, logger });
      return { config, redis, ledger, events, eventsQueue, deliveryQueue, orphans, recorder, router, service, poller, logger, lines };
    },
  };
}
