/**
 * The issued-token index (`S issued-token:<hmac>`) through the data lifecycle, on the real Redis (namespaces of the
 * file's own): erasing the order that stored a card-like token drops its entry (the OMS can no longer charge it through
 * the bridge), and an export imported into an empty namespace notes them again only as the export vouched for them
 * (issued-token-export.test.ts has the rest).
 */
import { PassThrough, Readable, Writable } from 'node:stream';
import { eraseOrder } from '../../../src/data-lifecycle/erasure';
import { exportOperations } from '../../../src/data-lifecycle/export';
import { importOperations } from '../../../src/data-lifecycle/import';
import { IssuedTokens } from '../../../src/ledger/issued-tokens';
import { Ledger } from '../../../src/ledger/ledger';
import { silentLogger } from '../../../src/logging/logger';
import { OpsContext, openOps } from '../../../src/ops/ops-context';
import { unlinkMatching } from '../../../src/redis/key-scan';
import { channelCommand } from '../../support/fixtures';
import { testConfig, testNamespace } from '../../support/test-config';

/** An Adyen stored token whose storedPaymentMethodId passes the Luhn check. */
const TOKEN = 'shopper-lifecycle-0042:5300912374650184';

let ctx: OpsContext;
const prefixes: string[] = [];
let order = '';

/** The issued-token index of namespace `prefix`, keyed as the configuration keys it. */
const indexOf = (prefix: string) => new IssuedTokens(new Ledger(ctx.redis, prefix), ctx.config.serviceBus);

/** An Adyen authorization of `orderId` that stored its card as TOKEN, as the outcome recorder leaves it: noted, then kept. */
async function storing(orderId: string): Promise<string> {
  const cmd = channelCommand('authorize', {}, { gateway: 'adyen', order_id: orderId, payment_method: { type: 'card', store: true } });
  const id = cmd.payment.operation_reference!;
  await ctx.ledger.create(id, cmd);
  expect(await indexOf(ctx.config.redis.keyPrefix).record(TOKEN, 'adyen')).toBe(true);
  await ctx.ledger.setFieldOnceAndGet(id, 'stored_token', TOKEN);
  return id;
}

beforeAll(async () => {
  ctx = openOps(testConfig(), silentLogger(), { service: 'ops', auditStream: new PassThrough() });
  prefixes.push(ctx.config.redis.keyPrefix);
  order = `order-lifecycle-${process.pid}`;
  await storing(order);
});

afterAll(async () => {
  for (const p of prefixes) await unlinkMatching(ctx.redis, `${p}*`);
  await ctx.close();
});

describe('the issued-token index through the data lifecycle', () => {
  it('an export imported into an empty namespace notes the records’ card-like tokens as issued again, only as the export vouched for them', async () => {
    const exported = async (issuedTokens?: { secrets: typeof ctx.config.serviceBus }) => {
      const chunks: Buffer[] = [];
      const out = new Writable({ write: (c: Buffer, _e, done) => (chunks.push(c), done()) });
      await exportOperations(ctx.redis, ctx.config.redis.keyPrefix, out, { from: 0, to: Date.now() + 60_000, issuedTokens });
      return Buffer.concat(chunks).toString('utf8');
    };
    const options = { issuedTokens: { secrets: ctx.config.serviceBus, gateways: ctx.config.gateways } };

    // Exported with the index: the line carries the token's keyed digest, and the import notes the token again.
    const target = `${testNamespace()}:`;
    prefixes.push(target);
    const summary = await importOperations(ctx.redis, target, Readable.from([await exported({ secrets: ctx.config.serviceBus })]), options);
    expect(summary).toMatchObject({ operations: 1, cardDataFound: 0, issuedTokensIndexed: 1 });
    expect(await indexOf(target).gatewayOf(TOKEN)).toBe('adyen');

    // Exported without it: nothing vouches for the card-like stored token, which the import masks and notes nowhere.
    const bare = `${testNamespace()}:`;
    prefixes.push(bare);
    expect(await importOperations(ctx.redis, bare, Readable.from([await exported()]), options)).toMatchObject({ cardDataFound: 1, issuedTokensIndexed: 0 });
    expect(await indexOf(bare).gatewayOf(TOKEN)).toBeNull();
  });

  it('erasing the order that stored the token drops its entry; a repeat drops nothing', async () => {
    expect(await indexOf(ctx.config.redis.keyPrefix).gatewayOf(TOKEN)).toBe('adyen');
    expect(await eraseOrder(ctx.redis, ctx.config.redis.keyPrefix, order, Date.now(), ctx.config.serviceBus)).toMatchObject({ operations: 1, issuedTokens: 1 });
    expect(await indexOf(ctx.config.redis.keyPrefix).gatewayOf(TOKEN)).toBeNull();
    expect(await eraseOrder(ctx.redis, ctx.config.redis.keyPrefix, order, Date.now(), ctx.config.serviceBus)).toMatchObject({ issuedTokens: 0 });
  });
});
