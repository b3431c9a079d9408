import { PspSimulator, startPspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { Payment } from '../../../src/contracts/payment-command';
import { isCluster } from '../../../src/redis/redis-connection';
import { channelCommand } from '../../support/fixtures';
import { monitorCommands } from '../../support/redis-monitor';
import { testConfig } from '../../support/test-config';
import { DeliveryStack, useDeliveryStacks } from '../../support/delivery-stack';

/**
 * What the caps stage costs an authorization in Redis round trips (docs/LIMITS.md, "Transaction caps"): its one
 * reservation, and what `settled` adds (one MGET per currency a reservation of the operation could be in besides its
 * plan's, and one for the candidates before its own): nothing for a command of one gateway in one currency.
 */
const API_KEY = 'sim-rt-key-0123456789';
let sim: PspSimulator;
const stacks = useDeliveryStacks();

beforeAll(async () => {
  sim = await startPspSimulator({ apiKey: API_KEY });
});
afterAll(async () => sim.stop());

function gateway(): Record<string, unknown> {
  return { type: 'simulator', base_url: sim.url, api_key: API_KEY, webhook_secret: 'whsec-rt-0123456789', timeout_ms: 30000 };
}

/**
 * A new authorization's delivery, as the consumer delivers the record it just created (`byId`: as a job delivers it, by
 * id: a later pass than the one that created it), then a later delivery of it.
 */
async function deliverTwice(
  stack: DeliveryStack,
  payment: Partial<Payment>,
  between: () => Promise<void> = async () => undefined,
  byId = false,
): Promise<void> {
  const command = channelCommand('authorize', {}, { gateway_key: 'pm_card_visa', amount: 1000, currency: 'USD', ...payment });
  const id = command.payment.operation_reference!;
  const { record } = await stack.ledger.create(id, command);
  expect(await stack.service.deliver(byId ? id : (record ?? id))).toEqual({ kind: 'done', state: 'SUCCEEDED' });
  await between();
  await stack.service.deliver(id);
}

/**
 * The commands on `{caps:` keys (scripts' own calls aside: each command awaited alone, one round trip each) of a new
 * authorization's delivery on the plain path, as the consumer delivers the record it just created, then of a later
 * delivery of it (a redelivered job). The steady state: one authorization of the same shape goes first, uncounted, so
 * that Redis holds every script it runs (a server's first EVALSHA of a script is a NOSCRIPT and an EVAL, as on a fresh
 * server when this file runs before any other that loads them).
 */
async function capsRoundTrips(stack: DeliveryStack, payment: Partial<Payment>, byId = false): Promise<{ first: number; again: number }> {
  await deliverTwice(stack, payment, undefined, byId);
  let seen = 0;
  const monitor = await monitorCommands(stack.redis, (args, source) => {
    if (!source.includes('lua') && args.some((a) => a.startsWith(`${stack.config.redis.keyPrefix}{caps:`))) seen++;
  });
  try {
    let first = 0;
    await deliverTwice(
      stack,
      payment,
      async () => {
        await monitor.settle();
        first = seen;
      },
      byId,
    );
    await monitor.settle();
    return { first, again: seen - first };
  } finally {
    monitor.stop();
  }
}

const rates = () => [{ from: 'USD', to: 'EUR', rate: '0.9137', as_of: new Date().toISOString() }];
const capped = [
  { scope: 'gateway', name: 'sima', currency: 'USD', daily_count: 100 },
  { scope: 'gateway', name: 'sima', currency: 'EUR', daily_count: 100 },
];

test('caps cost a new authorization its reservation alone, FX configured or not, fallbacks or not; a later delivery of one, with FX configured, one MGET', async () => {
  const single = stacks.build(testConfig({ gateways: { sima: gateway() }, 'caps.rules': capped }));
  if (isCluster(single.redis)) return; // MONITOR watches one node
  const withFx = (settle: Record<string, string[]>, two: boolean) =>
    stacks.build(
      testConfig({
        gateways: two ? { sima: gateway(), simb: gateway() } : { sima: gateway(), other: gateway() },
        ...(two ? { 'routing.rules': [{ name: 'ab', gateways: ['sima', 'simb'] }] } : {}),
        'caps.rules': capped,
        'fx.settlement_currencies': settle,
        'fx.rates': rates(),
      }),
    );
  // One gateway, one currency, no FX: the reservation, nothing else; a redelivery nothing.
  expect(await capsRoundTrips(single, { gateway: 'sima' })).toEqual({ first: 1, again: 0 });
  // Planned by a later pass than the one that created it (a job, after a wait): another plan may have been decided
  // before it (under the configuration before a reload), so once its attempt is on record the operation's mark is read:
  // one MGET.
  expect(await capsRoundTrips(single, { gateway: 'sima' }, true)).toEqual({ first: 2, again: 0 });
  // The same with a candidate after the plan's: one MGET more, for the claims a plan decided on the record before it (a
  // worker killed between its reservation and its move) left there (reclaim); none for the consumer's own pass.
  const two = stacks.build(
    testConfig({ gateways: { sima: gateway(), simb: gateway() }, 'routing.rules': [{ name: 'ab', gateways: ['sima', 'simb'] }], 'caps.rules': capped }),
  );
  expect(await capsRoundTrips(two, { gateway: 'sima' })).toEqual({ first: 1, again: 0 });
  expect(await capsRoundTrips(two, { gateway: 'sima' }, true)).toEqual({ first: 3, again: 0 });
  // FX configured for another gateway: the consumer's pass that created it planned it first, so no reservation of
  // another plan can stand; a later delivery looks in EUR (a plan decided before a wait under another configuration,
  // a worker killed before its release): one MGET.
  expect(await capsRoundTrips(withFx({ other: ['EUR'] }, false), { gateway: 'sima' })).toEqual({ first: 1, again: 1 });
  // A route with a fallback, FX converting its second candidate's payments: the same.
  expect(await capsRoundTrips(withFx({ simb: ['EUR'] }, true), { gateway: 'sima' })).toEqual({ first: 1, again: 1 });
  // Converted at the first candidate (EUR): a later delivery looks in the command's own currency.
  expect(await capsRoundTrips(withFx({ sima: ['EUR'] }, true), { gateway: 'sima' })).toEqual({ first: 1, again: 1 });
}, 60_000);
