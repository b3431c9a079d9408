/**
 * `payment-bridge ops` masks card data as it prints, a second line after the writers' redaction, as the
 * console does at render: what Redis holds from before a redaction rule existed (an archived dead letter
 * whose reason header carried a card number), or what an import wrote as its file had it, must not reach the
 * operator's terminal, its scrollback or a ticket it is pasted into. The CLI printed such records as stored.
 */
import { PassThrough } from 'node:stream';
import { opsDeadLetterList, opsDeadLetterShow, opsShow } from '../../../src/cli/ops-commands';
import { Config } from '../../../src/config/config';
import { silentLogger } from '../../../src/logging/logger';
import { DeadLetterRecord } from '../../../src/ops/dead-letter-store';
import { OpsContext, openOps } from '../../../src/ops/ops-context';
import { shardKeysOf } from '../../../src/redis/key-layout';
import { TEST_PANS, channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';

const CVV = '7391';

/** What one `ops` command printed, text or `--json`. */
async function printed<A>(
  fn: (ctx: OpsContext, io: { out: PassThrough; err: PassThrough; actor: string }, args: A) => Promise<number>,
  ctx: OpsContext,
  args: A,
) {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const code = await fn(ctx, { out, err: new PassThrough(), actor: 'tester@ci' }, args);
  return { code, text: Buffer.concat(chunks).toString('utf8') };
}

function expectNoCardData(text: string): void {
  for (const pan of TEST_PANS) expect(text).not.toContain(pan);
  // As a number of its own: a timestamp (epoch ms 1796510739121) may hold the same four digits.
  expect(text).not.toMatch(new RegExp(`(?<!\\d)${CVV}(?!\\d)`));
}

describe('ops CLI: no card data printed, even from records written before redaction', () => {
  let config: Config;
  let ctx: OpsContext;

  beforeAll(() => {
    config = testConfig();
    ctx = openOps(config, silentLogger(), { service: 'ops', auditStream: new PassThrough() });
  });

  afterAll(() => ctx.close());

  it('masks a card number in an archived dead letter (reason, field, order, body) in dead-letters show and list, as text and JSON', async () => {
    const record: DeadLetterRecord = {
      id: `dl-${'ef'.repeat(12)}`,
      deadLetteredAt: Date.now(),
      archivedAt: Date.now(),
      code: 'INVALID_PARAMS',
      field: `payment.note ${TEST_PANS[1]}`,
      reason: `declined for card ${TEST_PANS[0]}`,
      source: 'amqp:commands',
      orderId: `ORD ${TEST_PANS[2]}`,
      command: 'authorize',
      replayable: false,
      category: 'hard',
      impact: 1,
      body: JSON.stringify({ payment: { order_id: 'ORD-CLI-DL-1', method_details: { card: { number: TEST_PANS[3], cvv: CVV } } } }),
      replays: 0,
    };
    // As the archive held it before it redacted every header: written as it came.
    expect(await ctx.deadLetters.archive(record)).toBe(true);
    for (const json of [false, true]) {
      const show = await printed(opsDeadLetterShow, ctx, { id: record.id, json });
      expect(show.code).toBe(0);
      expect(show.text).toContain('ORD-CLI-DL-1');
      expectNoCardData(show.text);
      const list = await printed(opsDeadLetterList, ctx, { import: false, json });
      expect(list.text).toContain(record.id);
      expectNoCardData(list.text);
    }
  });

  it('masks a card number in an operation history entry in ops show, by operation and by order, as text and JSON', async () => {
    const order = `ORD-CLI-CARD-${Date.now()}`;
    const command = channelCommand('authorize', {}, { order_id: order });
    const id = command.payment.operation_reference as string;
    await ctx.ledger.create(id, command);
    // As an import writes what its file holds: the history list as it is.
    const shard = (await ctx.ledger.shardOf(id)) as number;
    await ctx.redis.rpush(
      shardKeysOf(config.redis.keyPrefix)[shard].history(id),
      JSON.stringify({
        event: 'gateway_response',
        excerpt: `card ${TEST_PANS[4]} declined`,
        request: { card: { number: TEST_PANS[0], cvc: CVV } },
        at: Date.now(),
      }),
    );
    for (const json of [false, true]) {
      for (const args of [{ id }, { order }]) {
        const shown = await printed(opsShow, ctx, { ...args, json });
        expect(shown.code).toBe(0);
        expect(shown.text).toContain('gateway_response');
        expectNoCardData(shown.text);
      }
    }
  });
});
