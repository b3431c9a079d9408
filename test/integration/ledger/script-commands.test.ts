import { monitorCommands } from '../../support/redis-monitor';
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { useLedgerRedis } from '../../support/ledger-redis';

/**
 * The Redis commands the ledger's steps of a payment command run, scripts included (docs/BENCHMARKS.md, "Redis
 * commands a payment command runs, by script, and the cuts (2026-12-06)"): what was cut stays cut, and what the
 * steps leave in Redis is what they left before.
 */
describe('the Redis commands of a payment command’s ledger steps', () => {
  const bed = useLedgerRedis();
  let seq = 0;
  const nextId = (kind: string) => `op-cmds-${kind}-${++seq}`;

  const command = (kind: 'authorize' | 'capture', order: string, gatewayKey: string): PaymentCommand => ({
    version: 1,
    command: kind,
    channel: 'bus',
    received_at: '2024-06-01T10:00:00.000Z',
    payment: { gateway: 'simulator', gateway_account: 'acme-eu', gateway_key: gatewayKey, amount: 1000, currency: 'EUR', order_id: order },
  });

  /** The commands `run` makes Redis execute whose arguments include `needle`, each as `<source>:<name>` (source `lua` or `client`). */
  const commandsOf = async (needle: string, run: () => Promise<unknown>): Promise<string[]> => {
    const seen: string[] = [];
    const monitor = await monitorCommands(bed.redis, (args, source) => {
      const name = String(args[0]).toLowerCase();
      // An EVAL follows an EVALSHA only when this Redis did not hold the script yet.
      if (name === 'eval') return;
      if (args.slice(1).some((a) => String(a).includes(needle))) seen.push(`${source === 'lua' ? 'lua' : 'client'}:${name}`);
    });
    try {
      await run();
      await monitor.settle();
    } finally {
      monitor.stop();
    }
    return seen;
  };

  it('claims a new operation id with one SET NX, no script; a held claim is still read and reported', async () => {
    const id = nextId('claim');
    const seen = await commandsOf(`:claim:${id}`, () => bed.ledger.create(id, command('authorize', `ORD-${id}`, 'pm_card_visa'), 1_000));
    // Before: an EVALSHA running a GET and a SET.
    expect(seen).toEqual(['client:set']);
    expect(await bed.ledger.get(id)).toMatchObject({ id, state: 'RECEIVED' });
    // The same id again: the claim is held (by this shard), the creation finds its own record.
    const again = await commandsOf(`:claim:${id}`, () => bed.ledger.create(id, command('authorize', `ORD-${id}`, 'pm_card_visa'), 2_000));
    expect(again).toEqual(['client:set', 'client:evalsha', 'lua:get']);
  });
});
