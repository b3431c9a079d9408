import { validateCommand } from '../../../src/contracts/command-validator';
import { OperationRecord } from '../../../src/ledger/ledger';
import { splitRefundEvent, splitSettledEvent } from '../../../src/split-tender/split-tender-event';
import { planOf, refundReferences, stepReferences } from '../../../src/split-tender/split-tender-plan';
import { testConfig } from '../../support/test-config';

describe('split tender events', () => {
  const command = validateCommand({
    version: 1,
    command: 'sale',
    channel: 'web',
    received_at: '2026-11-29T19:00:00Z',
    payment: {
      gateway: 'sim',
      gateway_account: 'acme',
      gateway_key: 'pm_card_visa',
      amount: 10000,
      currency: 'EUR',
      order_id: 'ORD-1',
      operation_reference: 'split-1',
      tenders: [
        { type: 'gift_card', gateway: 'sim', gateway_account: 'acme', gateway_key: 'gc_demo_5000', amount: 3000 },
        { type: 'card', gateway: 'sim', gateway_account: 'acme', gateway_key: 'pm_card_visa' },
      ],
    },
  });
  const plan = planOf('split-1', command);
  const refs = stepReferences(plan);
  const config = testConfig();
  /** A step's record: `asked` by its command, `confirmed` by the PSP (a SUCCEEDED one), or FAILED. */
  const step = (id: string, asked: number, confirmed: number | 'failed'): [string, OperationRecord] => [
    id,
    {
      id,
      state: confirmed === 'failed' ? 'FAILED' : 'SUCCEEDED',
      payment: { ...command.payment, amount: asked },
      ...(confirmed === 'failed' ? { reason: 'card_declined' } : { confirmedAmount: confirmed, confirmedCurrency: 'EUR', gatewayReference: `psp-${id}` }),
    } as OperationRecord,
  ];

  it('a split whose card part was approved for less reports FAIL with what the PSPs confirmed, never the total', () => {
    const ops = new Map([
      step(refs.giftCard, 3000, 3000),
      step(refs.card, 7000, 4000),
      step(refs.cardRefund, 4000, 4000),
      step(refs.giftCardRefund, 3000, 3000),
    ]);
    const payment = splitSettledEvent(plan, 'ROLLED_BACK', ops, config).params.payment as Record<string, unknown>;
    expect(payment).toMatchObject({
      status: 'FAIL',
      reason: 'card_part_short_rolled_back',
      amount: 7000,
      requested_amount: 10000,
      discrepancy: 'amount_mismatch',
      split_tender: { state: 'ROLLED_BACK', gift_card_amount: 3000, card_amount: 4000 },
    });
    const tenders = (payment.split_tender as { tenders: Array<{ role: string; status: string; amount: number }> }).tenders;
    expect(tenders.map((t) => [t.role, t.status, t.amount])).toEqual([
      ['redeem', 'SUCCESS', 3000],
      ['charge', 'SUCCESS', 4000],
      ['release', 'SUCCESS', 4000],
      ['reverse', 'SUCCESS', 3000],
    ]);
  });

  it('a completed split reports the parts the PSPs confirmed, without a discrepancy when they match the plan', () => {
    const ops = new Map([step(refs.giftCard, 3000, 3000), step(refs.card, 7000, 7000)]);
    const payment = splitSettledEvent(plan, 'DONE', ops, config).params.payment as Record<string, unknown>;
    expect(payment).toMatchObject({ status: 'SUCCESS', amount: 10000, requested_amount: 10000, split_tender: { gift_card_amount: 3000, card_amount: 7000 } });
    expect(payment.discrepancy).toBeUndefined();
    expect(payment.reason).toBeUndefined();
  });

  it('a card part declined counts nothing for the card, and no discrepancy: nothing was confirmed otherwise than asked', () => {
    const ops = new Map([step(refs.giftCard, 3000, 3000), step(refs.card, 7000, 'failed'), step(refs.giftCardRefund, 3000, 3000)]);
    const payment = splitSettledEvent(plan, 'ROLLED_BACK', ops, config).params.payment as Record<string, unknown>;
    expect(payment).toMatchObject({ status: 'FAIL', reason: 'card_part_failed_gift_card_reversed', amount: 3000, requested_amount: 10000 });
    expect(payment.discrepancy).toBeUndefined();
  });

  it('an authorization split whose captured redemption the rollback refunded names that refund (`_<id>.gc-refund`) as its reverse tender, not a void', () => {
    const authorized = planOf('split-2', { ...command, command: 'authorize', payment: { ...command.payment, operation_reference: 'split-2' } });
    const own = stepReferences(authorized);
    const ops = new Map([step(own.giftCard, 3000, 3000), step(own.card, 7000, 'failed'), step(own.giftCardRefund, 3000, 3000)]);
    const payment = splitSettledEvent(authorized, 'ROLLED_BACK', ops, config).params.payment as Record<string, unknown>;
    expect(payment).toMatchObject({ status: 'FAIL', reason: 'card_part_failed_gift_card_reversed', amount: 3000 });
    const tenders = (payment.split_tender as { tenders: Array<Record<string, unknown>> }).tenders;
    expect(tenders.find((t) => t.role === 'reverse')).toMatchObject({ status: 'SUCCESS', amount: 3000, operation_reference: own.giftCardRefund });
    // Voided as usual: the void is named.
    const voided = new Map([step(own.giftCard, 3000, 3000), step(own.card, 7000, 'failed'), step(own.giftCardVoid, 3000, 3000)]);
    const reverse = (
      splitSettledEvent(authorized, 'ROLLED_BACK', voided, config).params.payment as { split_tender: { tenders: Array<Record<string, unknown>> } }
    ).split_tender.tenders.find((t) => t.role === 'reverse');
    expect(reverse).toMatchObject({ status: 'SUCCESS', operation_reference: own.giftCardVoid });
  });

  it('an authorization split names the refund of a card part captured before the rollback as its release, and what the OMS refunded before it', () => {
    const authorized = planOf('split-3', { ...command, command: 'authorize', payment: { ...command.payment, operation_reference: 'split-3' } });
    const own = stepReferences(authorized);
    // The card part approved for less and captured (refunded by the rollback); the redemption refunded in full by the OMS.
    const ops = new Map([step(own.giftCard, 3000, 3000), step(own.card, 7000, 3500), step(own.cardRefund, 3500, 3500)]);
    const payment = splitSettledEvent(authorized, 'ROLLED_BACK', ops, config, { gift_card: 'none:3000', card: 'refund:3500' }).params.payment as {
      split_tender: { tenders: Array<Record<string, unknown>>; refunded_before_rollback?: Record<string, number> };
    };
    expect(payment.split_tender.tenders.find((t) => t.role === 'release')).toMatchObject({ status: 'SUCCESS', operation_reference: own.cardRefund });
    expect(payment.split_tender.tenders.find((t) => t.role === 'reverse')).toBeUndefined();
    expect(payment.split_tender.refunded_before_rollback).toEqual({ gift_card: 3000 });
    // Nothing decided, or voids: no such field.
    const plain = splitSettledEvent(authorized, 'ROLLED_BACK', ops, config, { gift_card: 'void', card: null }).params.payment as { split_tender: object };
    expect(plain.split_tender).not.toHaveProperty('refunded_before_rollback');
  });

  it('a split refund that failed after its card part went back reports what was refunded, beside what was asked', () => {
    const parts = refundReferences({ refundId: 'refund-1' });
    const refund = {
      refundId: 'refund-1',
      card: 7000,
      gift_card: 1000,
      order: 'card_first' as const,
      state: 'REFUND_FAILED' as const,
      command: JSON.stringify({ ...command, command: 'refund', payment: { ...command.payment, amount: 8000, operation_reference: 'refund-1' } }),
    };
    const ops = new Map([step(parts.card, 7000, 7000), step(parts.gift_card, 1000, 'failed')]);
    const payment = splitRefundEvent(plan, refund, ops, config).params.payment as Record<string, unknown>;
    expect(payment).toMatchObject({
      status: 'FAIL',
      reason: 'split_tender_refund_failed',
      amount: 7000,
      requested_amount: 8000,
      split_tender_refund: { card_amount: 7000, gift_card_amount: 0 },
    });
    const listed = (payment.split_tender_refund as { parts: Array<{ tender: string; status: string; amount: number }> }).parts;
    expect(listed.map((p) => [p.tender, p.status, p.amount])).toEqual([
      ['card', 'SUCCESS', 7000],
      ['gift_card', 'FAIL', 1000],
    ]);
  });
});
