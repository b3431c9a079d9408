import { createHash } from 'node:crypto';
import { GIFT_CARD_METHOD } from '../contracts/stored-value';
import { Channel, CommandType, MethodDetails, Payment, PaymentCommand } from '../contracts/payment-command';
import { tendersOf } from '../contracts/split-tender-command';
import { BRIDGE_ID_PREFIX, bridgeOperationId } from '../ledger/operation-id';

/**
 * A split tender's plan: one order paid partly by a gift card and partly by a card, read from the command
 * that started it (`authorize` / `sale` with `payment.tenders`). Pure.
 */

/** One order's split. Amounts are integers of minor units of `currency`. */
export interface SplitTenderPlan {
  /** The split's id: the root of every step's operation reference (letters, digits, `.`, `_`, `-`). */
  id: string;
  channel: Exclude<Channel, 'bridge'>;
  order_id: string;
  currency: string;
  /** The order's total. */
  total: number;
  /** `sale` (redeem and charge at once) or `authorize` (capture later). Default `authorize`. */
  capture?: boolean;
  gift_card: { gateway: string; gateway_account: string; gateway_key: string; brand?: string; amount: number };
  card: { gateway: string; gateway_account: string; gateway_key: string; method_details?: MethodDetails };
  /** The starting command's custom attributes (an object), echoed on every step. */
  custom_attributes?: Record<string, unknown>;
  /** How its steps are named (`stepReferences`): `namespaced` for every split begun since; absent on older ones. */
  step_ids?: StepIds;
}

/**
 * How a split's steps and a split refund's parts are named. `namespaced`: ids of the bridge's own
 * (`bridgeOperationId`: `_<id>.gc`, `_<refund id>.refund-card`…), so a command sent with the reference
 * `<split id>.gc` neither takes the step's place (the split would follow that command's state as its
 * redemption's) nor collides with it. Refund parts have suffixes of their own (`.refund-card`), so a refund
 * whose id is a split's id takes none of that split's steps. Absent (splits and refunds stored before):
 * `<id>.gc`, `<refund id>.card`, as their steps were recorded, so they are found again under those ids.
 */
export type StepIds = 'namespaced';

/** Which tender an operation pays: the custom attribute every step carries, with the split's id. */
export type TenderPart = 'gift_card' | 'card';

/**
 * The references (operation ids) of a split's steps, each an operation of its own with its own idempotency
 * key: `_<id>.gc`, `_<id>.card`, the rollback's `_<id>.gc-void`, `_<id>.gc-refund` (the redemption's reversal)
 * and `_<id>.card-void`, `_<id>.card-refund` (the release of a card part approved for less than asked); without
 * the `_` for a split stored before `step_ids`: see {@link StepIds}.
 */
export function stepReferences(plan: Pick<SplitTenderPlan, 'id' | 'step_ids'>): {
  giftCard: string;
  card: string;
  giftCardVoid: string;
  giftCardRefund: string;
  cardVoid: string;
  cardRefund: string;
} {
  const root = plan.step_ids === 'namespaced' ? bridgeOperationId(plan.id) : plan.id;
  return {
    giftCard: `${root}.gc`,
    card: `${root}.card`,
    giftCardVoid: `${root}.gc-void`,
    giftCardRefund: `${root}.gc-refund`,
    cardVoid: `${root}.card-void`,
    cardRefund: `${root}.card-refund`,
  };
}

/**
 * The references of a split refund's parts: `_<refund id>.refund-card`, `_<refund id>.refund-gc`
 * (`<refund id>.card`, `<refund id>.gc` for a refund stored before `step_ids`: see {@link StepIds}).
 */
export function refundReferences(refund: { refundId: string; stepIds?: StepIds }): Record<TenderPart, string> {
  if (refund.stepIds !== 'namespaced') return { card: `${refund.refundId}.card`, gift_card: `${refund.refundId}.gc` };
  return { card: bridgeOperationId(`${refund.refundId}.refund-card`), gift_card: bridgeOperationId(`${refund.refundId}.refund-gc`) };
}

/** The split a step's reference names (either naming), or null when it names none (a refund part, another operation). */
export function splitIdOfStep(operationId: string): string | null {
  const namespaced = operationId.startsWith(BRIDGE_ID_PREFIX);
  const root = namespaced ? operationId.slice(BRIDGE_ID_PREFIX.length) : operationId;
  const suffix = Object.values(stepReferences({ id: '' })).find((s) => root.endsWith(s) && root.length > s.length);
  return suffix ? root.slice(0, -suffix.length) : null;
}

/**
 * The split refund a refund part's reference names (either naming: `_<refund id>.refund-card`, `<refund id>.card`…),
 * or null when it names none. A `<id>.card` may as well be a split's step (`splitIdOfStep`) or another operation:
 * only the refund's own records can tell.
 */
export function refundIdOfPart(operationId: string): string | null {
  const namespaced = operationId.startsWith(BRIDGE_ID_PREFIX);
  const root = namespaced ? operationId.slice(BRIDGE_ID_PREFIX.length) : operationId;
  const suffixes = Object.values(refundReferences({ refundId: '', stepIds: namespaced ? 'namespaced' : undefined })).map((r) =>
    namespaced ? r.slice(BRIDGE_ID_PREFIX.length) : r,
  );
  const suffix = suffixes.find((s) => root.endsWith(s) && root.length > s.length);
  return suffix ? root.slice(0, -suffix.length) : null;
}

/** The card part: the total less the gift card part. Refuses a plan whose parts cannot add up. */
export function cardAmount(plan: Pick<SplitTenderPlan, 'total' | 'gift_card'>): number {
  const { total, gift_card } = plan;
  if (!Number.isSafeInteger(total) || !Number.isSafeInteger(gift_card.amount) || gift_card.amount <= 0 || gift_card.amount > total) {
    throw new RangeError('split tender: gift_card.amount must be an integer between 1 and total');
  }
  return total - gift_card.amount;
}

/** The plan of a (validated) split tender command, under the split's id (its operation id). */
export function planOf(id: string, command: PaymentCommand): SplitTenderPlan {
  const tenders = tendersOf(command);
  if (!tenders || command.channel === 'bridge') throw new RangeError('split tender: the command has no gift card and card tenders');
  const p = command.payment;
  const attributes = p.custom_attributes && !Array.isArray(p.custom_attributes) ? p.custom_attributes : undefined;
  return {
    id,
    step_ids: 'namespaced',
    channel: command.channel,
    order_id: p.order_id ?? id,
    currency: p.currency,
    total: p.amount,
    capture: command.command === 'sale',
    gift_card: {
      gateway: tenders.giftCard.gateway,
      gateway_account: tenders.giftCard.gateway_account,
      gateway_key: tenders.giftCard.gateway_key,
      ...(tenders.giftCard.brand ? { brand: tenders.giftCard.brand } : {}),
      amount: tenders.giftCard.amount ?? 0,
    },
    card: {
      gateway: tenders.card.gateway,
      gateway_account: tenders.card.gateway_account,
      gateway_key: tenders.card.gateway_key,
      ...(p.method_details ? { method_details: p.method_details } : {}),
    },
    ...(attributes ? { custom_attributes: attributes } : {}),
  };
}

/**
 * The field of a split refund's command that names a split outside its scope, or null when it is in scope: the
 * refund must name the gateway and account of one of the split's tenders (the card's, which the split's command and
 * its events name, or the gift card's), and its order when both have one (a split started without an order id has
 * its own id as `order_id`). The parts are sent with the split's own gateways and accounts, so a refund naming
 * another merchant's account or another order would otherwise give back money of a payment it does not own, which an
 * ordinary refund of an authorization is refused for (`authorization_scope_mismatch`, `scopeRefusal`). Pure.
 */
export function refundScopeField(
  plan: SplitTenderPlan,
  payment: Pick<Payment, 'gateway' | 'gateway_account' | 'order_id'>,
  /** The gateway each tender's step was routed to, where known: the OMS may name it, as its step's event did (`payment.routing`). */
  routed: Partial<Record<TenderPart, string>> = {},
): string | null {
  const tenders = [
    { ...plan.card, routed: routed.card },
    { ...plan.gift_card, routed: routed.gift_card },
  ];
  const named = (t: (typeof tenders)[number]) => t.gateway === payment.gateway || t.routed === payment.gateway;
  if (!tenders.some(named)) return 'payment.gateway';
  if (!tenders.some((t) => named(t) && t.gateway_account === payment.gateway_account)) return 'payment.gateway_account';
  const splitHasOrder = plan.order_id !== plan.id;
  if (payment.order_id !== undefined && splitHasOrder && payment.order_id !== plan.order_id) return 'payment.order_id';
  return null;
}

/** What must be identical for a second command under the same split id (else an idempotency conflict). */
export function planDigest(plan: SplitTenderPlan): string {
  const material = JSON.stringify([
    plan.capture === true,
    plan.order_id,
    plan.currency,
    plan.total,
    [plan.gift_card.gateway, plan.gift_card.gateway_account, plan.gift_card.gateway_key, plan.gift_card.amount],
    [plan.card.gateway, plan.card.gateway_account, plan.card.gateway_key],
  ]);
  return createHash('sha256').update(material).digest('hex').slice(0, 32);
}

/**
 * A step's canonical command: `type` on the tender `part`, under `reference`. A cancel or refund names the
 * redemption or charge it undoes by our operation id (`key`); a redemption carries `method_details.method:
 * giftcard` and the brand. Every step carries `custom_attributes.split_tender_id` and `.tender`.
 */
export function stepCommand(
  plan: SplitTenderPlan,
  type: CommandType,
  reference: string,
  part: TenderPart,
  amount: number,
  opts: { key?: string; channel?: Exclude<Channel, 'bridge'>; receivedAt?: string } = {},
): PaymentCommand {
  const p = part === 'gift_card' ? plan.gift_card : plan.card;
  const creating = type === 'authorize' || type === 'sale';
  const method: MethodDetails | undefined =
    part === 'gift_card'
      ? creating
        ? { method: GIFT_CARD_METHOD, ...(plan.gift_card.brand ? { submethod: plan.gift_card.brand } : {}) }
        : undefined
      : creating
        ? plan.card.method_details
        : undefined;
  return {
    version: 1,
    command: type,
    channel: opts.channel ?? plan.channel,
    received_at: opts.receivedAt ?? new Date().toISOString(),
    payment: {
      gateway: p.gateway,
      gateway_account: p.gateway_account,
      gateway_key: opts.key ?? p.gateway_key,
      amount,
      currency: plan.currency,
      order_id: plan.order_id,
      operation_reference: reference,
      ...(method ? { method_details: method } : {}),
      custom_attributes: { ...plan.custom_attributes, split_tender_id: plan.id, tender: part },
    },
  };
}
