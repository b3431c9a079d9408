import { createHash, randomBytes } from 'node:crypto';
import { isKnownCurrency } from '../../../src/money/currencies';
import { MAX_MINOR_AMOUNT } from '../../../src/money/minor-units';
import { GiftCardView, GiftCards, isGiftCardToken } from './simulator-gift-cards';

/** Statuses of an authorization object. */
export const AUTHORIZATION_STATUSES = ['authorized', 'captured', 'declined', 'pending', 'requires_action', 'cancelled', 'refunded'] as const;
export type AuthorizationStatus = (typeof AUTHORIZATION_STATUSES)[number];
/** Statuses of a capture, refund or cancellation object. */
export const MOVEMENT_STATUSES = ['captured', 'refunded', 'cancelled'] as const;
/** Statuses of a token object. */
export const TOKEN_STATUSES = ['active'] as const;
/** Statuses of a gift card result (`simulator-gift-cards.ts`). */
export const GIFT_CARD_STATUSES = ['succeeded', 'active', 'inactive'] as const;
/** Every status a result object of the API carries: what the bridge's status map must cover. */
export const RESULT_STATUSES: readonly string[] = [
  ...new Set<string>([...AUTHORIZATION_STATUSES, ...MOVEMENT_STATUSES, ...TOKEN_STATUSES, ...GIFT_CARD_STATUSES]),
];

/** Webhook event types the simulator sends. */
export type SimulatorEventType =
  | 'authorization.succeeded'
  | 'authorization.failed'
  | 'authorization.cancelled'
  | 'capture.succeeded'
  | 'refund.succeeded'
  | 'token.created'
  /** Injected by the control API: late facts about money that already moved. */
  | 'chargeback.created'
  | 'chargeback.reversed'
  | 'refund.failed';

/** A chargeback (or its reversal) of a captured authorization, as injected through the control API. */
export interface ChargebackView {
  id: string;
  object: 'chargeback';
  status: 'charged_back' | 'reversed';
  /** Disputed amount, minor units. */
  amount: number;
  currency: string;
  /** The reference of the operation it names (the capture, sale or authorization). */
  reference: string;
  authorization: string;
  reason: string;
  created: number;
}

/** A refund that failed after it succeeded, as injected through the control API. */
export interface RefundFailureView {
  id: string;
  object: 'refund';
  status: 'failed';
  amount: number;
  currency: string;
  reference: string;
  authorization: string;
  failure_reason: string;
  created: number;
}

/** An authorization as the API shows it. Amounts are integers of minor units. */
export interface AuthorizationView {
  id: string;
  object: 'authorization';
  status: AuthorizationStatus;
  amount: number;
  amount_captured: number;
  amount_refunded: number;
  currency: string;
  reference: string;
  created: number;
  decline_code?: string;
  /** `requires_action`: the 3-D Secure challenge the customer must complete (see `CHALLENGE_PAYMENT_METHODS`). */
  next_action?: NextActionView;
  /**
   * A card authorization approved once: the card network's id of the payment, under Stripe's name for it (a
   * Charge's `payment_method_details.card.network_transaction_id`), 15 digits as Visa's (`networkTransactionIdOf`).
   */
  network_transaction_id?: string;
}

/** What the storefront needs for the simulator's 3-D Secure challenge. */
export interface NextActionView {
  type: 'three_ds_challenge';
  /** The challenge page the customer's browser opens (`GET`); the page posts the result to the same URL. */
  url: string;
}

/** A capture, refund or cancellation of an authorization. `amount` is this operation's amount. */
export interface MovementView {
  id: string;
  object: 'capture' | 'refund' | 'cancellation';
  status: (typeof MOVEMENT_STATUSES)[number];
  amount: number;
  currency: string;
  reference: string;
  authorization: string;
  created: number;
}

export interface TokenView {
  id: string;
  object: 'token';
  status: (typeof TOKEN_STATUSES)[number];
  reference: string;
  created: number;
  /** The card the token stands for, as Stripe describes a PaymentMethod's (`cardOfPaymentMethod`); no card number. */
  card: CardView;
}

/** A stored card's description: brand, last four digits and expiry. */
export interface CardView {
  brand: string;
  last4: string;
  exp_month: number;
  exp_year: number;
}

/** The test card every payment method stands for unless `CARDS` names another. */
const DEFAULT_CARD: CardView = { brand: 'visa', last4: '4242', exp_month: 12, exp_year: 2030 };

/** Payment methods that stand for another test card than the default. */
const CARDS: Readonly<Record<string, CardView>> = {
  pm_card_mastercard: { brand: 'mastercard', last4: '4444', exp_month: 3, exp_year: 2031 },
  pm_card_amex: { brand: 'amex', last4: '8431', exp_month: 7, exp_year: 2029 },
};

/** The card a (resolved) payment method stands for: `CARDS`' entry, else the default Visa ending 4242, 12/2030. */
export function cardOfPaymentMethod(paymentMethod: string): CardView {
  return { ...(CARDS[paymentMethod] ?? DEFAULT_CARD) };
}

export interface ErrorBody {
  /** `authorization`: a cancel refused `authorization_captured` names the authorization as it stands (its `amount_captured`). */
  error: { code: string; message: string; param?: string; authorization?: AuthorizationView };
}

export type ResultBody = AuthorizationView | MovementView | TokenView | GiftCardView | ErrorBody;

/**
 * The outcome of one API call on the state.
 * `landed`: the operation ran (a result or a business refusal): stored for idempotent replay and the
 * status inquiry. `effect`: state changed (counted per idempotency key). `event`: the webhook to send
 * when webhooks for synchronous operations are on. `pendingAuthorization`: an async authorization to
 * settle later.
 */
export interface ApiResult {
  status: number;
  body: ResultBody;
  landed: boolean;
  effect: boolean;
  event?: SimulatorEventType;
  pendingAuthorization?: string;
}

/** Magic payment methods: how the simulator decides. Anything else (`pm_card_visa`…) succeeds. */
export const DECLINING_PAYMENT_METHODS: Readonly<Record<string, string>> = Object.freeze({
  pm_card_declined: 'card_declined',
  pm_insufficient_funds: 'insufficient_funds',
  pm_expired_card: 'expired_card',
  pm_fraudulent: 'fraudulent',
  pm_async_declined: 'card_declined',
});
/**
 * `pm_insufficient_funds_once…` (any suffix): the first authorization with that exact payment method is
 * declined `insufficient_funds`, later ones succeed: a soft decline the customer's bank lifts (recurring
 * billing's dunning retries in the demo and tests).
 */
export const DECLINE_ONCE_PREFIX = 'pm_insufficient_funds_once';
/**
 * 3-D Secure test cards: the authorization answers `requires_action` with a `next_action` (the challenge
 * page), and waits until the customer completes the challenge (`POST /3ds/:authorization {result}`, see
 * `completeChallenge`): `authenticated` settles it as any card (authorized, or captured for a sale),
 * `failed` declines it `authentication_failed`. Never completed, it stays `requires_action` (cancellable).
 */
export const CHALLENGE_PAYMENT_METHODS: ReadonlySet<string> = new Set(['pm_card_3ds', 'pm_card_3ds_required']);
/** The decline code of a failed (or refused) 3-D Secure challenge. */
export const AUTHENTICATION_FAILED = 'authentication_failed';
/**
 * A partial approval (a prepaid or debit card whose balance covers part of the amount, as Cybersource's
 * PARTIAL_AUTHORIZED): the authorization holds half the amount asked, rounded down, and answers with that
 * amount, so captures and refunds above it are refused as for any authorization.
 */
export const PARTIAL_APPROVAL_PAYMENT_METHOD = 'pm_card_partial_half';
/** These always answer `pending` and settle by webhook (`pm_async_declined` settles as declined). */
export const ASYNC_PAYMENT_METHODS: ReadonlySet<string> = new Set(['pm_async', 'pm_async_declined']);

interface Authorization {
  id: string;
  status: AuthorizationStatus;
  amount: number;
  captured: number;
  refunded: number;
  currency: string;
  reference: string;
  created: number;
  paymentMethod: string;
  capture: boolean;
  declineCode?: string;
  /** Set while it waits for the customer's 3-D Secure challenge. */
  challengeUrl?: string;
  /** It was approved once (authorized or captured), whatever it became since: a void does not unsay it. */
  approved: boolean;
}

/** An authorization as a drill reads the PSP's books: its view, and whether it was ever approved. */
export interface AuthorizationRecord extends AuthorizationView {
  /** Approved once (authorized or captured); a `cancelled` one may have been voided while it awaited 3-D Secure. */
  approved: boolean;
}

/** Every authorization and every landed operation's stored result: the PSP's books, for a drill to check reports against. */
export interface SimulatorSnapshot {
  authorizations: AuthorizationRecord[];
  /** By operation reference (our operation id): the result of the operation, or the stored 422 refusal. */
  operations: Map<string, ResultBody>;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function fail(status: number, code: string, message: string, param?: string, landed = false): ApiResult {
  const error: ErrorBody['error'] = param === undefined ? { code, message } : { code, message, param };
  return { status, body: { error }, landed, effect: false };
}

/** A business refusal of a well-formed request: it landed (replayable, visible to the status inquiry). */
function refuse(code: string, message: string): ApiResult {
  return fail(422, code, message, undefined, true);
}

class Invalid extends Error {
  constructor(
    readonly param: string,
    message: string,
  ) {
    super(message);
  }
}

function amountOf(body: Record<string, unknown>): number {
  const amount = body.amount;
  if (typeof amount !== 'number' || !Number.isSafeInteger(amount) || amount <= 0 || amount > MAX_MINOR_AMOUNT) {
    throw new Invalid('amount', 'amount must be a positive integer of minor units');
  }
  return amount;
}

function stringOf(body: Record<string, unknown>, param: string): string {
  const value = body[param];
  if (typeof value !== 'string' || value.length === 0 || value.length > 255) throw new Invalid(param, `${param} must be a non-empty string`);
  return value;
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/**
 * The simulator's in-memory PSP: authorizations, captures, refunds, tokens and the results of operations
 * by reference. Pure state transitions (no I/O, no faults); every map lookup is O(1).
 */
export class SimulatorState {
  private readonly authorizations = new Map<string, Authorization>();
  /** Token id → the payment method it stands for (decides declines of later authorizations). */
  private readonly tokens = new Map<string, string>();
  /** Stored value cards by token (`gc_…`). */
  readonly giftCards = new GiftCards();
  /** Operation reference → stored HTTP status and JSON body of its result. */
  private readonly operations = new Map<string, { status: number; body: string }>();
  // Seven hex digits and a letter: the letter ends every digit run of the tag (see `newId`).
  private readonly tag = `${randomBytes(4).toString('hex').slice(0, 7)}${'abcdef'[randomBytes(1)[0] % 6]}`;
  private sequence = 0;
  /** Payment methods of `DECLINE_ONCE_PREFIX` already declined once. */
  private readonly declinedOnce = new Set<string>();
  /** The simulator's own URL (the challenge pages live there); set once it listens. */
  baseUrl = 'http://127.0.0.1';

  /**
   * `<prefix>_<tag>_<sequence>`, the tag ending in a letter. The card-number scan reads `_`, `-`, `.` and
   * spaces as separators inside a number (people write "4111-1111…"), so an all-digit tag (one simulator in
   * ~40) and a numeric sequence would read as one 12–19 digit number, Luhn-valid one time in ten, which the
   * intake rightly refuses as card data. The letter keeps every digit run under 12.
   */
  private newId(prefix: string): string {
    this.sequence += 1;
    return `${prefix}_${this.tag}_${this.sequence.toString(36).padStart(6, '0')}`;
  }

  /** Runs one API call; a malformed body is a 400 that did not land. */
  run(fn: (body: Record<string, unknown>) => ApiResult, body: unknown): ApiResult {
    if (!isRecord(body)) return fail(400, 'invalid_request', 'body must be a JSON object');
    try {
      return fn(body);
    } catch (err) {
      if (err instanceof Invalid) return fail(400, 'invalid_request', err.message, err.param);
      throw err;
    }
  }

  /** `POST /v1/authorizations`. `forceAsync` comes from the async rate draw. */
  authorize(body: Record<string, unknown>, forceAsync = false): ApiResult {
    const amount = amountOf(body);
    const currency = stringOf(body, 'currency');
    if (!isKnownCurrency(currency)) throw new Invalid('currency', 'currency must be an ISO 4217 code');
    const paymentMethod = stringOf(body, 'payment_method');
    const reference = stringOf(body, 'reference');
    if (body.capture !== undefined && typeof body.capture !== 'boolean') throw new Invalid('capture', 'capture must be a boolean');
    if (body.async !== undefined && typeof body.async !== 'boolean') throw new Invalid('async', 'async must be a boolean');
    const resolved = this.resolvePaymentMethod(paymentMethod);
    if (resolved === undefined) return refuse('invalid_payment_method', 'unknown token');
    const isAsync = forceAsync || body.async === true || ASYNC_PAYMENT_METHODS.has(resolved);
    return this.createAuthorization(amount, currency, resolved, reference, body.capture === true, isAsync);
  }

  /** `GET /v1/authorizations/:id`. */
  getAuthorization(id: string): ApiResult {
    const auth = this.authorizations.get(id);
    if (!auth) return fail(404, 'not_found', 'no such authorization');
    return { status: 200, body: view(auth), landed: false, effect: false };
  }

  /** `POST /v1/authorizations/:id/reauthorize`: a new authorization; the old one is cancelled. */
  reauthorize(id: string, body: Record<string, unknown>): ApiResult {
    const amount = amountOf(body);
    const reference = stringOf(body, 'reference');
    const old = this.authorizations.get(id);
    if (!old) return fail(404, 'not_found', 'no such authorization');
    const refusal = this.refuseUnlessAuthorized(old);
    if (refusal) return refusal;
    old.status = 'cancelled';
    return this.createAuthorization(amount, old.currency, old.paymentMethod, reference, false, false);
  }

  /** `POST /v1/authorizations/:id/captures`: partial captures allowed up to the authorized amount. */
  capture(id: string, body: Record<string, unknown>): ApiResult {
    const amount = amountOf(body);
    const reference = stringOf(body, 'reference');
    const auth = this.authorizations.get(id);
    if (!auth) return fail(404, 'not_found', 'no such authorization');
    if (auth.status !== 'captured') {
      const refusal = this.refuseUnlessAuthorized(auth);
      if (refusal) return refusal;
    }
    if (amount > auth.amount - auth.captured) return refuse('amount_exceeds_authorized', 'amount exceeds the authorized amount not yet captured');
    auth.captured += amount;
    auth.status = 'captured';
    return this.movement('capture', 'captured', amount, auth, reference, 'capture.succeeded');
  }

  /** `POST /v1/authorizations/:id/cancel`: a void; refused once anything is captured. */
  cancel(id: string, body: Record<string, unknown>): ApiResult {
    const reference = stringOf(body, 'reference');
    const auth = this.authorizations.get(id);
    if (!auth) return fail(404, 'not_found', 'no such authorization');
    // Captured already (by us, an operator in the dashboard, an automatic capture): refused as Stripe refuses it, the payment
    // in the error with what was captured of it (`error.payment_intent.amount_received` there), so a refund can be sized.
    if (auth.status === 'captured' || auth.status === 'refunded') {
      const refused = refuse('authorization_captured', 'the authorization is already captured');
      return { ...refused, body: { error: { ...(refused.body as ErrorBody).error, authorization: view(auth) } } };
    }
    // An authorization still waiting for its 3-D Secure challenge can be voided too (the challenge then fails).
    const refusal = auth.status === 'requires_action' ? undefined : this.refuseUnlessAuthorized(auth);
    if (refusal) return refusal;
    auth.status = 'cancelled';
    auth.challengeUrl = undefined;
    if (isGiftCardToken(auth.paymentMethod)) this.giftCards.credit(auth.paymentMethod, auth.amount);
    return this.movement('cancellation', 'cancelled', auth.amount, auth, reference, 'authorization.cancelled');
  }

  /** `POST /v1/authorizations/:id/refunds`: partial refunds allowed up to the captured amount. */
  refund(id: string, body: Record<string, unknown>): ApiResult {
    const amount = amountOf(body);
    const reference = stringOf(body, 'reference');
    const auth = this.authorizations.get(id);
    if (!auth) return fail(404, 'not_found', 'no such authorization');
    if (amount > auth.captured - auth.refunded) return refuse('amount_exceeds_captured', 'amount exceeds the captured amount not yet refunded');
    auth.refunded += amount;
    if (auth.refunded === auth.amount) auth.status = 'refunded';
    if (isGiftCardToken(auth.paymentMethod)) this.giftCards.credit(auth.paymentMethod, amount);
    return this.movement('refund', 'refunded', amount, auth, reference, 'refund.succeeded');
  }

  /** `POST /v1/tokens`. */
  tokenize(body: Record<string, unknown>): ApiResult {
    const paymentMethod = stringOf(body, 'payment_method');
    const reference = stringOf(body, 'reference');
    const resolved = this.resolvePaymentMethod(paymentMethod);
    if (resolved === undefined) return refuse('invalid_payment_method', 'unknown token');
    const token: TokenView = {
      id: this.newId('tok'),
      object: 'token',
      status: 'active',
      reference,
      created: nowSeconds(),
      card: cardOfPaymentMethod(resolved),
    };
    this.tokens.set(token.id, resolved);
    return { status: 201, body: token, landed: true, effect: true, event: 'token.created' };
  }

  /** `POST /v1/gift_cards/:token/balance {currency, reference, amount?}`: the balance; an `amount` the card does not cover is refused `insufficient_balance`. */
  giftCardBalance(token: string, body: Record<string, unknown>): ApiResult {
    const { currency, reference } = this.giftCardParams(body);
    const card = this.giftCards.card(token, currency);
    if (body.amount !== undefined && amountOf(body) > card.balance) return refuse('insufficient_balance', 'the card holds less than amount');
    return this.giftCardResult('gift_card_balance', 'succeeded', card.token, 0, card.balance, card.currency, reference);
  }

  /** `POST /v1/gift_cards/:token/loads {amount, currency, reference}`: a reload (or a refund to the card). */
  giftCardLoad(token: string, body: Record<string, unknown>): ApiResult {
    const amount = amountOf(body);
    const { currency, reference } = this.giftCardParams(body);
    const card = this.giftCards.card(token, currency);
    if (!card.active) return refuse('gift_card_inactive', 'the card is inactive');
    if (card.currency !== currency) return refuse('currency_mismatch', 'the card holds another currency');
    card.balance += amount;
    return this.giftCardResult('gift_card_load', 'succeeded', card.token, amount, card.balance, card.currency, reference);
  }

  /** `POST /v1/gift_cards {currency, reference, amount?}`: a new card (`gift_card` is its token). */
  giftCardIssue(body: Record<string, unknown>): ApiResult {
    const { currency, reference } = this.giftCardParams(body);
    const amount = body.amount === undefined || body.amount === 0 ? 0 : amountOf(body);
    const card = this.giftCards.set(this.newId('gc'), amount, currency);
    return this.giftCardResult('gift_card_issue', 'succeeded', card.token, amount, card.balance, card.currency, reference);
  }

  /** `POST /v1/gift_cards/:token/status {status: active|inactive, currency, reference}`. */
  giftCardStatus(token: string, body: Record<string, unknown>): ApiResult {
    const { currency, reference } = this.giftCardParams(body);
    if (body.status !== 'active' && body.status !== 'inactive') throw new Invalid('status', 'status must be active or inactive');
    const card = this.giftCards.card(token, currency);
    card.active = body.status === 'active';
    return this.giftCardResult('gift_card_status', body.status, card.token, 0, card.balance, card.currency, reference);
  }

  /** `POST /v1/gift_cards/:token/merge {source, currency, reference}`: the source card's whole balance moves onto this one. */
  giftCardMerge(token: string, body: Record<string, unknown>): ApiResult {
    const { currency, reference } = this.giftCardParams(body);
    const sourceToken = stringOf(body, 'source');
    if (!isGiftCardToken(sourceToken)) throw new Invalid('source', 'source must be a gift card');
    const card = this.giftCards.card(token, currency);
    const source = this.giftCards.card(sourceToken, currency);
    if (source.currency !== card.currency) return refuse('currency_mismatch', 'the cards hold different currencies');
    const moved = source.balance;
    source.balance = 0;
    card.balance += moved;
    return this.giftCardResult('gift_card_merge', 'succeeded', card.token, moved, card.balance, card.currency, reference);
  }

  private giftCardParams(body: Record<string, unknown>): { currency: string; reference: string } {
    const currency = stringOf(body, 'currency');
    if (!isKnownCurrency(currency)) throw new Invalid('currency', 'currency must be an ISO 4217 code');
    return { currency, reference: stringOf(body, 'reference') };
  }

  private giftCardResult(
    object: GiftCardView['object'],
    status: GiftCardView['status'],
    token: string,
    amount: number,
    balance: number,
    currency: string,
    reference: string,
  ): ApiResult {
    const body: GiftCardView = { id: this.newId('gco'), object, status, gift_card: token, amount, balance, currency, reference, created: nowSeconds() };
    return { status: 201, body, landed: true, effect: true };
  }

  /**
   * Settles a pending authorization (the async mode's delayed answer): its final status, and the stored
   * result of its operation follows, so the status inquiry shows it. Undefined if nothing was pending.
   */
  settle(id: string): { view: AuthorizationView; event: SimulatorEventType } | undefined {
    const auth = this.authorizations.get(id);
    if (!auth || auth.status !== 'pending') return undefined;
    const declineCode = DECLINING_PAYMENT_METHODS[auth.paymentMethod];
    if (declineCode !== undefined) {
      auth.status = 'declined';
      auth.declineCode = declineCode;
    } else if (auth.capture) {
      auth.status = 'captured';
      auth.captured = auth.amount;
      auth.approved = true;
    } else {
      auth.status = 'authorized';
      auth.approved = true;
    }
    const settled = view(auth);
    this.recordOperation(auth.reference, 201, JSON.stringify(settled));
    return { view: settled, event: declineCode === undefined ? 'authorization.succeeded' : 'authorization.failed' };
  }

  /**
   * The customer's answer to the 3-D Secure challenge of authorization `id` (`POST /3ds/:id`):
   * `authenticated` settles it as any card would; `failed` declines it `authentication_failed`. The stored
   * result of its operation follows (the status inquiry shows it) and the webhook to send is returned.
   * A string error when the authorization is unknown or no longer waits for a challenge.
   */
  completeChallenge(id: string, result: 'authenticated' | 'failed'): { view: AuthorizationView; event: SimulatorEventType } | string {
    const auth = this.authorizations.get(id);
    if (!auth) return 'not_found';
    if (auth.status !== 'requires_action') return 'not_awaiting_authentication';
    auth.challengeUrl = undefined;
    let event: SimulatorEventType;
    if (result === 'failed') {
      auth.status = 'declined';
      auth.declineCode = AUTHENTICATION_FAILED;
      event = 'authorization.failed';
    } else {
      event = this.settleNow(auth);
    }
    const settled = view(auth);
    this.recordOperation(auth.reference, 201, JSON.stringify(settled));
    return { view: settled, event };
  }

  /**
   * A declined authorization approved after all (a PSP's late approval: the issuer's answer arriving after the
   * PSP had reported a decline on a timeout, a stand-in decision reversed): the card authorization with
   * `reference`, declined, becomes authorized (captured for a sale), and the stored result of its operation
   * follows, so the status inquiry shows the success. A string error when no declined card authorization has
   * that reference (`not_found`, `not_declined`, `gift_card`: a redemption's balance was never held).
   * `amount` (minor units, positive, at most what was asked): a partial approval, which holds (or charges) that
   * much instead of what was asked (`invalid_amount` out of that range).
   */
  approveDeclined(reference: string, amount?: number): AuthorizationView | 'not_found' | 'not_declined' | 'gift_card' | 'invalid_amount' {
    const found = this.authorizationOf(reference);
    if (!found || found.result.object !== 'authorization') return 'not_found';
    const { auth } = found;
    if (auth.status !== 'declined') return 'not_declined';
    if (isGiftCardToken(auth.paymentMethod)) return 'gift_card';
    if (amount !== undefined && (!Number.isSafeInteger(amount) || amount <= 0 || amount > auth.amount)) return 'invalid_amount';
    if (amount !== undefined) auth.amount = amount;
    auth.declineCode = undefined;
    auth.status = auth.capture ? 'captured' : 'authorized';
    auth.approved = true;
    if (auth.capture) auth.captured = auth.amount;
    const approved = view(auth);
    this.recordOperation(auth.reference, 201, JSON.stringify(approved));
    return approved;
  }

  /** Stores the result of a landed operation under its reference (for `GET /v1/operations/:reference`). */
  recordOperation(reference: string, status: number, body: string): void {
    this.operations.set(reference, { status, body });
  }

  /** The stored result of an operation by reference, or undefined if it never landed. */
  operation(reference: string): { status: number; body: string } | undefined {
    return this.operations.get(reference);
  }

  /**
   * A chargeback of the captured money behind the operation with `reference` (a capture, a sale or a
   * captured authorization): `amount` (default: what is captured and not refunded) leaves the merchant.
   * Undefined when there is no such operation or nothing captured; a string error when the amount is wrong.
   */
  chargeback(reference: string, amount: number | undefined, reason: string, reversed = false): ChargebackView | string | undefined {
    const found = this.authorizationOf(reference);
    if (!found) return undefined;
    const { auth } = found;
    const available = auth.captured - auth.refunded;
    const disputed = amount ?? available;
    if (!Number.isSafeInteger(disputed) || disputed <= 0 || disputed > auth.captured)
      return 'amount must be a positive integer no larger than the captured amount';
    return {
      id: this.newId(reversed ? 'cbr' : 'cb'),
      object: 'chargeback',
      status: reversed ? 'reversed' : 'charged_back',
      amount: disputed,
      currency: auth.currency,
      reference,
      authorization: auth.id,
      reason,
      created: nowSeconds(),
    };
  }

  /**
   * The refund with `reference` fails after it succeeded (the card is closed, the bank refuses it): its
   * amount is no longer refunded. Undefined when there is no such refund.
   */
  refundFailure(reference: string, reason: string): RefundFailureView | undefined {
    const found = this.authorizationOf(reference);
    if (!found || found.result.object !== 'refund' || typeof found.result.id !== 'string' || typeof found.result.amount !== 'number') return undefined;
    const { auth, result } = found;
    const amount = result.amount as number;
    auth.refunded = Math.max(0, auth.refunded - amount);
    if (auth.status === 'refunded' && auth.refunded < auth.amount) auth.status = 'captured';
    return {
      id: result.id as string,
      object: 'refund',
      status: 'failed',
      amount,
      currency: auth.currency,
      reference,
      authorization: auth.id,
      failure_reason: reason,
      created: nowSeconds(),
    };
  }

  /** The authorization behind the stored result of the operation with `reference`, and that result. */
  private authorizationOf(reference: string): { auth: Authorization; result: Record<string, unknown> } | undefined {
    const stored = this.operations.get(reference);
    if (!stored) return undefined;
    let result: unknown;
    try {
      result = JSON.parse(stored.body) as unknown;
    } catch {
      return undefined;
    }
    if (!isRecord(result)) return undefined;
    const authId = result.object === 'authorization' ? result.id : result.authorization;
    const auth = typeof authId === 'string' ? this.authorizations.get(authId) : undefined;
    return auth ? { auth, result } : undefined;
  }

  /**
   * The PSP's books now: every authorization (with whether it was ever approved) and every landed operation's
   * stored result by reference. Read on demand (parses the stored bodies), never on the request path.
   */
  snapshot(): SimulatorSnapshot {
    const authorizations = [...this.authorizations.values()].map((a) => ({ ...view(a), approved: a.approved }));
    const operations = new Map<string, ResultBody>();
    for (const [reference, stored] of this.operations) operations.set(reference, JSON.parse(stored.body) as ResultBody);
    return { authorizations, operations };
  }

  clear(): void {
    this.authorizations.clear();
    this.tokens.clear();
    this.operations.clear();
    this.giftCards.clear();
  }

  private resolvePaymentMethod(paymentMethod: string): string | undefined {
    return paymentMethod.startsWith('tok_') ? this.tokens.get(paymentMethod) : paymentMethod;
  }

  private refuseUnlessAuthorized(auth: Authorization): ApiResult | undefined {
    switch (auth.status) {
      case 'authorized':
        return undefined;
      case 'captured':
      case 'refunded':
        return refuse('authorization_captured', 'the authorization is already captured');
      case 'cancelled':
        return refuse('authorization_cancelled', 'the authorization is cancelled');
      case 'declined':
        return refuse('authorization_declined', 'the authorization was declined');
      case 'pending':
        return refuse('authorization_pending', 'the authorization is still pending');
      case 'requires_action':
        return refuse('authorization_requires_action', 'the authorization waits for the customer (3-D Secure)');
    }
  }

  private createAuthorization(amount: number, currency: string, paymentMethod: string, reference: string, capture: boolean, isAsync: boolean): ApiResult {
    const auth: Authorization = {
      id: this.newId('auth'),
      status: 'pending',
      amount,
      captured: 0,
      refunded: 0,
      currency,
      reference,
      created: nowSeconds(),
      paymentMethod,
      capture,
      approved: false,
    };
    this.authorizations.set(auth.id, auth);
    if (isAsync) return { status: 201, body: view(auth), landed: true, effect: true, pendingAuthorization: auth.id };
    if (CHALLENGE_PAYMENT_METHODS.has(paymentMethod)) {
      auth.status = 'requires_action';
      auth.challengeUrl = `${this.baseUrl}/3ds/${auth.id}`;
      return { status: 201, body: view(auth), landed: true, effect: true };
    }
    const settled = this.settleNow(auth);
    return { status: 201, body: view(auth), landed: true, effect: true, event: settled };
  }

  private settleNow(auth: Authorization): SimulatorEventType {
    const once = auth.paymentMethod.startsWith(DECLINE_ONCE_PREFIX) && !this.declinedOnce.has(auth.paymentMethod);
    if (once) this.declinedOnce.add(auth.paymentMethod);
    const declineCode = once
      ? 'insufficient_funds'
      : isGiftCardToken(auth.paymentMethod)
        ? this.giftCards.hold(auth.paymentMethod, auth.amount, auth.currency)
        : DECLINING_PAYMENT_METHODS[auth.paymentMethod];
    if (declineCode !== undefined) {
      auth.status = 'declined';
      auth.declineCode = declineCode;
      return 'authorization.failed';
    }
    if (auth.paymentMethod === PARTIAL_APPROVAL_PAYMENT_METHOD) auth.amount = Math.floor(auth.amount / 2);
    auth.status = auth.capture ? 'captured' : 'authorized';
    auth.approved = true;
    if (auth.capture) auth.captured = auth.amount;
    return 'authorization.succeeded';
  }

  private movement(
    object: MovementView['object'],
    status: MovementView['status'],
    amount: number,
    auth: Authorization,
    reference: string,
    event: SimulatorEventType,
  ): ApiResult {
    const prefix = object === 'capture' ? 'cap' : object === 'refund' ? 're' : 'can';
    const body: MovementView = {
      id: this.newId(prefix),
      object,
      status,
      amount,
      currency: auth.currency,
      reference,
      authorization: auth.id,
      created: nowSeconds(),
    };
    return { status: 201, body, landed: true, effect: true, event };
  }
}

function view(auth: Authorization): AuthorizationView {
  const v: AuthorizationView = {
    id: auth.id,
    object: 'authorization',
    status: auth.status,
    amount: auth.amount,
    amount_captured: auth.captured,
    amount_refunded: auth.refunded,
    currency: auth.currency,
    reference: auth.reference,
    created: auth.created,
  };
  if (auth.declineCode !== undefined) v.decline_code = auth.declineCode;
  if (auth.approved && !isGiftCardToken(auth.paymentMethod)) {
    v.network_transaction_id = auth.paymentMethod === CARD_LIKE_NTI_PAYMENT_METHOD ? cardLikeNetworkTransactionIdOf(auth.id) : networkTransactionIdOf(auth.id);
  }
  if (auth.status === 'requires_action' && auth.challengeUrl !== undefined) v.next_action = { type: 'three_ds_challenge', url: auth.challengeUrl };
  return v;
}

/**
 * The network transaction id of authorization `id`: 15 digits as Visa's, starting with a 4, the same for every read
 * of it. Its digits are drawn from a hash, so about one in ten passes the Luhn check as real ones do (a card-like id
 * the bridge notes in its issued-token index): the bench's traffic pays that as a PSP's would, not on every command.
 */
export function networkTransactionIdOf(id: string): string {
  return `4${hashDigits(id, 14)}`;
}

/**
 * A payment method whose authorizations answer a card-like network transaction id (`cardLikeNetworkTransactionIdOf`),
 * for tests of the hardest case for the bridge's card scans.
 */
export const CARD_LIKE_NTI_PAYMENT_METHOD = 'pm_card_visa_card_like_nti';

/**
 * The network transaction id of authorization `id` paid with `CARD_LIKE_NTI_PAYMENT_METHOD`: 15 digits starting with
 * a 4 and passing the Luhn check, as a real one may: the bridge must keep it whole in its own field and nowhere else.
 */
export function cardLikeNetworkTransactionIdOf(id: string): string {
  const body = `4${hashDigits(id, 13)}`;
  return body + luhnCheckDigit(body);
}

/** `count` decimal digits drawn from `id`'s SHA-256, the same for every call. */
function hashDigits(id: string, count: number): string {
  const hex = createHash('sha256').update(id).digest('hex');
  let out = '';
  for (let i = 0; out.length < count; i += 1) out += String(parseInt(hex[i], 16) % 10);
  return out;
}

/** The digit that makes `body` + it pass the Luhn check. */
function luhnCheckDigit(body: string): string {
  let sum = 0;
  for (let i = 0; i < body.length; i += 1) {
    // Doubled from the right, the check digit itself (to come) being the first undoubled one.
    let d = body.charCodeAt(body.length - 1 - i) - 48;
    if (i % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return String((10 - (sum % 10)) % 10);
}
