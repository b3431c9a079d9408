import { Config } from '../config/config';
import { CommandType, Payment } from '../contracts/payment-command';
import { isMerchantInitiatedCharge } from '../contracts/payment-method';
import { AuthorizationValidity } from '../gateways/gateway-definition';
import { gatewayDefinition } from '../gateways/gateway-registry';
import { RoutingRecord, gatewayOf } from '../ledger/routing-record';

const DAY_MS = 24 * 3600 * 1000;

/**
 * How long an authorization stays capturable, by PSP and payment method, milliseconds, as each PSP documents
 * it: its definition's `authorizationValidityMs` (`src/gateways/<name>/<name>-gateway.ts`, with the source).
 * `default` applies to any method not listed. Where a PSP gives a range, the short end is taken: a warning a
 * day early costs nothing, a capture after the issuer dropped the hold fails. A gateway that is not
 * configured (an operation whose gateway left the configuration): 7 days, like a card at Stripe.
 */
const UNCONFIGURED_VALIDITY: AuthorizationValidity = { default: 7 * DAY_MS };

/** Commands whose success leaves an authorization to capture (a sale is captured already; validate only checks one). */
export const TRACKED_AUTHORIZATIONS: ReadonlySet<CommandType> = new Set(['authorize', 'revalidate']);

/**
 * Commands whose success closes the authorization they name: it is captured, voided, or replaced by a
 * re-authorization (which is tracked itself), so it is neither warned about nor voided any more.
 */
export const CLOSING_COMMANDS: ReadonlySet<CommandType> = new Set(['capture', 'cancel', 'revalidate']);

/**
 * Whether an authorization is merchant-initiated (the customer is not there): a re-authorization, or a
 * recurring charge on a stored method (not the agreement's first payment, which stores a one-time method). Card schemes give some of those a shorter window (Visa). Pure.
 */
export function isMerchantInitiated(command: CommandType, payment: Payment): boolean {
  return command === 'revalidate' || isMerchantInitiatedCharge(payment);
}

/**
 * The method names a payment is looked up by, most specific first: card brand, submethod, method (lower
 * case); a merchant-initiated one is looked up by each name with `_mit` first (`visa_mit`, then `visa`).
 */
export function methodKeysOf(payment: Payment, merchantInitiated = false): string[] {
  const d = payment.method_details;
  const keys = [
    ...new Set([d?.card?.brand, d?.submethod, d?.method].filter((k): k is string => typeof k === 'string' && k !== '').map((k) => k.toLowerCase())),
  ];
  return merchantInitiated ? keys.flatMap((k) => [`${k}_mit`, k]) : keys;
}

/**
 * The validity of an authorization made through `gatewayName` for `payment`, milliseconds. Lookup order:
 * `authorizations.validity_ms` by gateway name then type, each by method then alone; then the PSP's
 * documented default by method, then its default. Pure.
 * @param merchantInitiated whether the customer was not there (`isMerchantInitiated`): `<method>_mit` first.
 */
export function authorizationValidityMs(config: Config, gatewayName: string, payment: Payment, merchantInitiated = false): number {
  const type = config.gateways[gatewayName]?.type;
  const methods = methodKeysOf(payment, merchantInitiated);
  const overrides = config.authorizations.validityMs;
  for (const scope of type && type !== gatewayName ? [gatewayName, type] : [gatewayName]) {
    for (const m of methods) {
      const v = overrides[`${scope}.${m}`];
      if (v !== undefined) return v;
    }
    const v = overrides[scope];
    if (v !== undefined) return v;
  }
  const defaults: Readonly<Record<string, number>> = type ? gatewayDefinition(type).authorizationValidityMs : UNCONFIGURED_VALIDITY;
  for (const m of methods) {
    const v = defaults[m];
    if (v !== undefined) return v;
  }
  return defaults.default;
}

/**
 * When an authorization expires (epoch ms), or `undefined` for a command that leaves none: what the PSP said
 * for it (`captureBefore`, epoch ms) when it did, else the documented window from `start`, when it was
 * authorized ({@link authorizationStart}). Pure.
 */
export function expiresAtFor(config: Config, command: CommandType, payment: Payment, start: number, captureBefore?: number): number | undefined {
  if (!TRACKED_AUTHORIZATIONS.has(command)) return undefined;
  if (captureBefore !== undefined) return captureBefore;
  return start + authorizationValidityMs(config, payment.gateway, payment, isMerchantInitiated(command, payment));
}

/**
 * Which time an authorization's validity is counted from (the history's `expiry_from`, a metric label):
 * `psp` the PSP's own time of the authorization; `first_attempt` the operation's first gateway call;
 * `created` its creation (a record from before first calls were kept); `recorded` when the bridge recorded
 * the success.
 */
export type AuthorizationStartSource = 'psp' | 'first_attempt' | 'created' | 'recorded';

/** When an authorization was made, as far as the bridge can tell, and from what. */
export interface AuthorizationStart {
  /** Epoch ms. */
  at: number;
  from: AuthorizationStartSource;
}

/**
 * When an authorization recorded at `now` was made: the PSP's time of it (`authorizedAt`) when its answer
 * gave one, else the operation's first gateway call (no authorization of it can be older), else its
 * creation; never later than `now`. A success recorded late (a review accepted days after, an inquiry or a
 * reconciliation settling it, a webhook delivered late) is as old as the authorization, not as the record:
 * counted from the record, it would look capturable past the issuer's hold. The earlier bound is the safe
 * one: an authorization taken to expire sooner only warns early. Pure.
 */
export function authorizationStart(op: { firstAttemptAt?: number; createdAt?: number }, now: number, authorizedAt?: number): AuthorizationStart {
  const start: AuthorizationStart =
    authorizedAt !== undefined
      ? { at: authorizedAt, from: 'psp' }
      : op.firstAttemptAt !== undefined
        ? { at: op.firstAttemptAt, from: 'first_attempt' }
        : op.createdAt !== undefined
          ? { at: op.createdAt, from: 'created' }
          : { at: now, from: 'recorded' };
  return start.at <= now ? start : { at: now, from: 'recorded' };
}

/** Whether an expiring authorization is due for its warning at `now`: within `expiry_warning_ms` of its expiry and not expired. Pure. */
export function isExpiryWarningDue(config: Config, expiresAt: number, now: number): boolean {
  return expiresAt > now && expiresAt - now <= config.authorizations.expiryWarningMs;
}

/** How long an authorization may stay uncaptured before it is an orphan, ms (0 = never): by merchant account, else global. Pure. */
export function orphanAgeMs(config: Config, payment: Payment): number {
  const { orphanVoidAfterMs, orphanVoidAfterMsByAccount } = config.authorizations;
  return orphanVoidAfterMsByAccount[`${payment.gateway}:${payment.gateway_account}`] ?? orphanVoidAfterMs;
}

/** The lifecycle fields of a transition (the ledger's `TransitionFields.expiresAt` / `closesAuthorization`). */
export interface LifecycleFields {
  expiresAt?: number;
  orphanAt?: number;
  closesAuthorization?: { gateway: string; key: string; id?: string };
}

/**
 * The lifecycle fields an operation's move to SUCCEEDED carries (recorded in the same atomic step, see
 * `src/ledger/authorization-index.ts`): an authorization gets its `expiresAt` (the validity at the gateway
 * that holds it, where it was routed, counted from when it was made ({@link authorizationStart}); the PSP's
 * own `captureBefore` when the outcome named one) and `orphanAt` (counted from `now`, when the OMS is told); a capture,
 * cancel or revalidate closes the authorization its `gateway_key` names, a PSP reference being looked up at
 * the gateway the command was sent to (the authorization's, wherever routing or failover put it; the id
 * delivery resolved it to, on the record as `authorizationId`, goes along). Nothing for any other move. Pure.
 * @param psp what the PSP said of the authorization: its `captureBefore` and `authorizedAt` (epoch ms).
 */
export function lifecycleFields(
  config: Config,
  op: {
    id: string;
    command: CommandType;
    payment: Payment;
    routing?: RoutingRecord;
    authorizationId?: string;
    firstAttemptAt?: number;
    createdAt?: number;
  },
  succeeded: boolean,
  now: number,
  psp: { captureBefore?: number; authorizedAt?: number } = {},
): LifecycleFields {
  if (!succeeded) return {};
  const fields: LifecycleFields = {};
  const holder = gatewayOf(op);
  const payment = holder === op.payment.gateway ? op.payment : { ...op.payment, gateway: holder };
  const start = TRACKED_AUTHORIZATIONS.has(op.command) ? authorizationStart(op, now, psp.authorizedAt).at : now;
  const expiresAt = expiresAtFor(config, op.command, payment, start, psp.captureBefore);
  if (expiresAt !== undefined) {
    fields.expiresAt = expiresAt;
    // The orphan age counts from when the OMS was told (this record): a success recorded late (a review
    // accepted days after) is never voided the moment the OMS hears of it. Past its expiry it is never voided.
    const age = orphanAgeMs(config, op.payment);
    if (age > 0) fields.orphanAt = now + age;
  }
  if (CLOSING_COMMANDS.has(op.command) && op.payment.gateway_key !== op.id) {
    const id = op.authorizationId !== undefined ? { id: op.authorizationId } : {};
    fields.closesAuthorization = { gateway: holder, key: op.payment.gateway_key, ...id };
  }
  return fields;
}
