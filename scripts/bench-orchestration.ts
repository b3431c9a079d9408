/**
 * Microbenchmark of the orchestration step on the fast path (`DeliveryService.prepareFirstAttempt`, pure, no
 * I/O): the cost per command without orchestration configured (the default), and with routing rules and
 * a merchant agreement table. Prints p50/p99 in microseconds and the difference to the default; asserts
 * nothing. `npm run bench:orchestration` (builds first), or `node dist/scripts/bench-orchestration.js`.
 */
import { buildConfig } from '../src/config/load-config';
import { Config } from '../src/config/config';
import { DeliveryService } from '../src/delivery/delivery-service';
import { OutcomeRecorder } from '../src/delivery/outcome-recorder';
import { EventStore } from '../src/events/event-store';
import { createGatewayClients } from '../src/gateways/gateway-registry';
import { Ledger } from '../src/ledger/ledger';
import { draftRecord } from '../src/ledger/record-fields';
import { silentLogger } from '../src/logging/logger';
import { ConfiguredGatewayRouter } from '../src/routing/configured-gateway-router';
import { PaymentCommand } from '../src/contracts/payment-command';
import { Queue } from 'bullmq';
import { OmsEventJobData } from '../src/events/oms-events-queue';
import { createRedis } from '../src/redis/redis-connection';

const ITERATIONS = Number(process.env.PB_BENCH_ITERATIONS ?? 50000);

function config(overrides: Record<string, unknown>): Config {
  const sim = (key: string) => ({
    type: 'simulator',
    base_url: 'http://127.0.0.1:9',
    api_key: `sim-bench-${key}-0123456789`,
    webhook_secret: `whsec-bench-${key}-0123456789`,
  });
  return buildConfig({
    'service_bus.url': 'http://127.0.0.1:1',
    'service_bus.endpoint_name': 'bench',
    'service_bus.secret': 'bench-bus-secret-0123456789',
    'service_bus.public_url': 'http://127.0.0.1:1/bus',
    'mom_client.client_id': 'bench',
    'mom_client.client_secret': 'bench-secret',
    'mom_client.oauth_server_url': 'http://127.0.0.1:1',
    'amqp.url': 'amqp://127.0.0.1',
    'redis.url': 'redis://127.0.0.1:6379',
    'security.allow_insecure_http': true,
    'log.level': 'error',
    gateways: { simulator: sim('a'), backup: sim('b'), eu: sim('c') },
    ...overrides,
  });
}

/** A delivery service whose Redis never connects: `prepareFirstAttempt` does no I/O. */
function service(c: Config): DeliveryService {
  const redis = createRedis(c.redis, 'commands');
  const ledger = new Ledger(redis, 'bench:');
  const logger = silentLogger();
  const recorder = new OutcomeRecorder({ config: c, ledger, events: new EventStore(redis, 'bench:'), eventsQueue: {} as Queue<OmsEventJobData>, logger });
  return new DeliveryService({ config: c, ledger, router: new ConfiguredGatewayRouter(createGatewayClients(c)), recorder, logger });
}

function command(i: number): PaymentCommand {
  return {
    version: 1,
    command: 'authorize',
    channel: i % 3 === 0 ? 'pos' : 'web',
    received_at: new Date().toISOString(),
    payment: {
      gateway: 'simulator',
      gateway_account: `acct-${i % 5}`,
      gateway_key: 'pm_card_visa',
      amount: 1000 + (i % 1000) * 37,
      currency: i % 2 === 0 ? 'EUR' : 'USD',
      operation_reference: `bench-${i}`,
      method_details: { method: 'card' },
      custom_attributes: { country: i % 4 === 0 ? 'DE' : 'US' },
    },
  };
}

function measure(name: string, s: DeliveryService): number[] {
  const samples: number[] = [];
  const drafts = Array.from({ length: 1000 }, (_, i) => draftRecord(`bench-${i}`, command(i), Date.now()));
  for (let i = 0; i < 5000; i++) s.prepareFirstAttempt(drafts[i % drafts.length]); // warm-up
  for (let i = 0; i < ITERATIONS; i++) {
    const draft = drafts[i % drafts.length];
    const t0 = process.hrtime.bigint();
    const prepared = s.prepareFirstAttempt(draft);
    samples.push(Number(process.hrtime.bigint() - t0) / 1000);
    if (!prepared) throw new Error(`${name}: no fast path for ${draft.id}`);
  }
  return samples.sort((a, b) => a - b);
}

const pct = (s: number[], p: number) => s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))];

function main(): void {
  const rules = [
    { name: 'pos', when: { channels: ['pos'] }, gateways: ['backup'] },
    { name: 'big-usd', when: { currencies: ['USD'], min_amount: 30000 }, gateways: ['backup', 'simulator'] },
    { name: 'eu-cards', when: { currencies: ['EUR'], methods: ['card'], countries: ['DE', 'FR'] }, gateways: ['eu', 'simulator'] },
  ];
  const agreements = [
    { merchant: '*', gateway: 'simulator', status: 'active' },
    { merchant: 'acct-1', gateway: 'eu', status: 'active', valid_from: '2020-01-01', valid_until: '2099-01-01' },
  ];
  const cases: Array<[string, Config]> = [
    ['default (no orchestration configured)', config({})],
    ['3 routing rules + agreement table', config({ 'routing.rules': rules, 'routing.agreements': agreements, 'routing.failover.enabled': true })],
  ];
  const results = cases.map(([name, c]) => ({ name, samples: measure(name, service(c)) }));
  const base = pct(results[0].samples, 50);
  console.log(`orchestration on the fast path (prepareFirstAttempt), ${ITERATIONS} commands each, microseconds per command`);
  for (const { name, samples } of results) {
    const p50 = pct(samples, 50);
    console.log(
      `  ${name.padEnd(40)} p50 ${p50.toFixed(1).padStart(6)} µs  p99 ${pct(samples, 99).toFixed(1).padStart(6)} µs  added p50 ${(p50 - base).toFixed(1).padStart(6)} µs (${((p50 - base) / 1000).toFixed(4)} ms; budget 0.5 ms)`,
    );
  }
  process.exit(0);
}

main();
