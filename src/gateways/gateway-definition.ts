import type { DeclineTable } from '../errors/decline';
import type { PspCurrencyTable } from '../money/psp-currency-table';
import type { GatewayOutcome, GatewayRequest, GatewayTransformer, VoidRefusedAsCaptured } from './gateway-adapter';
import type { GatewayBaseConfig, GatewayConfig, GatewayCredentialField, GatewayFlagField } from './gateway-config';
import type { FactRow } from './gateway-facts';
import type { ReconciliationSupport } from '../reconciliation/psp-record';
import type { Payment } from '../contracts/payment-command';
import type { BoundMethodField } from '../contracts/payment-method';

/**
 * Everything the rest of the bridge needs to know about one PSP, declared in the PSP's own folder
 * (`src/gateways/<name>/<name>-gateway.ts`) and registered by one line in `gateway-registry.ts`. The
 * configuration schema and loader, redaction, the doctor, webhook routing, the webhook counters' bounded
 * `gateway_status` label, the docs generator and the conformance suite read the registry; none of them names a gateway. Checklist: docs/ADDING-A-GATEWAY.md.
 */

/** One credential or account key of `gateways.<name>` (see `GatewayCredentials`). */
export interface GatewaySetting {
  /**
   * Whether the value is a secret: registered for redaction at start (scrubbed from every log line, dead
   * letter and error) and never printed by the doctor. Every key must say, so a new key cannot be
   * forgotten; a key whose name looks secret (secret, key, password, token) and is not one says why in
   * `notSecretBecause` (a test checks it).
   */
  readonly secret: boolean;
  /** Why a key whose name looks like a secret is not one (e.g. the public id of a key pair). */
  readonly notSecretBecause?: string;
  /** Whether a non-empty value is required at start (the PSP refuses every call without it). Default false: ''. */
  readonly required?: boolean;
  /**
   * The value's problem in this PSP's documented format (a weak webhook key), or null when it is fine.
   * Called at start for a non-empty value; the message names no part of the value. Default: no check.
   */
  readonly check?: (value: string) => string | null;
  /** One line for the docs: what the value is and where the PSP's dashboard shows it. */
  readonly description: string;
}

/** One boolean switch of `gateways.<name>` (see `GatewayFlags`): false unless the operator sets it. */
export interface GatewayFlag {
  /** One line for the docs: what setting it to true does, and when the PSP account supports it. */
  readonly description: string;
}

/** A gateway's switches, keyed by the `GatewayConfig` field they fill. */
export type GatewayFlagSettings = Readonly<Partial<Record<GatewayFlagField, GatewayFlag>>>;

/** A gateway's settings, keyed by the `GatewayConfig` field they fill: the compiler refuses an unknown field. */
export type GatewaySettings = Readonly<Partial<Record<GatewayCredentialField, GatewaySetting>>>;

/** The configuration a gateway with `settings` reads: the common keys and exactly the fields it declared. */
export type GatewayConfigFor<S extends GatewaySettings> = GatewayBaseConfig & { readonly [K in keyof S & GatewayCredentialField]: string };

/** The fields of `settings` declared secret (for redaction), typed by the configuration's own keys. */
export type SecretFieldOf<S extends GatewaySettings> = { [K in keyof S & GatewayCredentialField]: S[K] extends { secret: true } ? K : never }[keyof S &
  GatewayCredentialField];

/**
 * The doctor's harmless authenticated call to the PSP: read-only, changes nothing there (no payment, no
 * object created or modified), built to the PSP's documented API. The doctor authenticates it with the
 * transformer's `authenticate`, sends it, and reports 2xx OK, 401/403 FAIL (credentials refused), else WARN.
 */
export interface CredentialCheck {
  /** The call as the report names it, e.g. `GET /v1/balance`. */
  readonly describe: string;
  /** What a 2xx proves and a 401/403 refuses, e.g. `the API key`. */
  readonly credential: string;
  /**
   * The settings that call proves: the keys an operator fixes when the PSP refuses them (doctor fix
   * hints, the `credentials_refused` configuration problem); each one of its declared settings (a test checks).
   */
  readonly keys: readonly GatewayCredentialField[];
  /** The unauthenticated request. Pure. */
  request(gateway: GatewayConfig): GatewayRequest;
}

/** A webhook notification signed exactly as the gateway's PSP signs one, ready to POST. */
export interface CheckNotification {
  body: Buffer;
  headers: Record<string, string>;
}

/** What `payment-bridge certify` needs of a gateway (see `src/certify/`). */
export interface Certification {
  /**
   * The PSP's own documented test payment methods, when it has some that work without the merchant's own
   * test account (otherwise `--token` / `--decline-token`), and the currency certify uses.
   */
  readonly testTokens: { readonly token?: string; readonly declineToken?: string; readonly currency: string };
  /**
   * A harmless notification for the webhook round trip: signed with the configured webhook secret by the
   * PSP's documented scheme, of a kind the bridge acknowledges without touching any operation.
   * @param reference certify's operation id, echoed where the PSP's format has a merchant reference.
   */
  checkNotification(gateway: GatewayConfig, reference: string, now: Date): CheckNotification;
  /**
   * The settings under `gateways.<name>`, besides `webhook_secret`, that also authenticate the check notification and
   * whose mismatch our webhook route refuses alike (401 `invalid signature`), so that certify names them with it (Adyen's
   * Basic authentication when set: `key_id`, `shared_secret`). Default none.
   */
  alsoAuthenticatedBy?(gateway: GatewayConfig): readonly string[];
}

/** Documented authorization validity of a PSP, milliseconds: `default`, and by method (card brand, submethod, method; lower case). */
export type AuthorizationValidity = Readonly<{ default: number } & Record<string, number>>;

/** An extra decline table a gateway's docs page shows after its main one. */
export interface ExtraDeclineTable {
  readonly heading: string;
  readonly intro: string;
  readonly table: DeclineTable;
}

/**
 * Which configured entries of a PSP may use the method data it issued (src/routing/method-binding.ts): a
 * token lives in one PSP account's vault, and client-side data is encrypted for one account's key.
 */
export interface MethodBindingSpec {
  /**
   * The keys of `gateways.<name>` that together name the PSP account and the API credential acting for it:
   * two entries of this type with equal values are one vault (a token may move between them, e.g. on
   * failover); any difference and they are not, even where the PSP might share tokens (an Adyen company's
   * merchant accounts, a Cybersource vault's merchant ids): the configuration cannot prove that. Each is
   * `baseUrl` or one of its declared settings (a test checks). Never logged: it may name a secret.
   */
  readonly vaultKeys: readonly ('baseUrl' | GatewayCredentialField)[];
  /**
   * The command field holding data only this PSP's issuing account can use, or null when the payment's
   * method data is portable. Pure. Absent: `pspBoundMethodField` (what every real PSP's transformer reads).
   */
  boundField?(payment: Payment): BoundMethodField | null;
  /**
   * The custom attribute this gateway sends with `payment` that names an object of its PSP account (Stripe:
   * `stripe_customer`, a Customer `cus_…`), or null. At an entry of another vault that object does not
   * exist; at a gateway that does not read it, it is never sent, so it binds there only when the command saves
   * its method to it (`payment_method.store`). Pure. Absent: none. A reference the merchant chooses (Adyen's
   * `shopper_reference`) is no such object: it binds only with the stored token it goes with (`boundField`).
   */
  boundReference?(payment: Payment): BoundMethodField | null;
}

export interface GatewayDefinition<T extends string = string, S extends GatewaySettings = GatewaySettings> {
  /** `type:` of `gateways.<name>`, the folder name under `src/gateways/`, the docs page name. */
  readonly type: T;
  /** The PSP's name for people (docs titles), e.g. `Stripe`. */
  readonly title: string;
  /** The pure request/response/webhook mapping, its authentication and its webhook verifier (`verifyWebhook`). */
  readonly transformer: GatewayTransformer;
  /** Its keys of `gateways.<name>` beyond `type`, `base_url`, `timeout_ms` and `max_sockets`. */
  readonly settings: S;
  /** Its boolean keys of `gateways.<name>` (default false), beyond the common ones. Absent: none. */
  readonly flags?: GatewayFlagSettings;
  /**
   * A stand-in that moves no money (our simulator): its `base_url` may be plain http without
   * `security.allow_insecure_http`, and a production configuration naming it is warned about. A real PSP:
   * false (its credentials and payment data never travel in clear).
   */
  readonly testDouble: boolean;
  /**
   * The PSP account its webhooks must name to touch an operation of this gateway (Adyen
   * `merchantAccountCode`, Stripe Connect `account`, Cybersource `organizationId`); see
   * `webhooks/outcome-scope.ts`.
   */
  webhookAccount(gateway: GatewayConfigFor<S>): string;
  /**
   * What is allowed in its configuration but an operator should know (Adyen: webhooks verified by their HMAC
   * alone, no Basic auth), `[key under gateways.<name>, what]`: logged at every start, printed by check-config,
   * shown by the doctor (WARN). Absent: nothing.
   */
  configWarnings?(gateway: GatewayConfigFor<S>): Array<[string, string]>;
  /** Which of its entries share the method data it issued, and which fields of a command hold such data. */
  readonly methodBinding: MethodBindingSpec;
  /** The doctor's harmless credential check. */
  readonly credentialCheck: CredentialCheck;
  /** Its test tokens and signed check notification for `payment-bridge certify`. */
  readonly certification: Certification;
  /** How the PSP's API expresses each currency it accepts (ISO minor units ⇄ its amounts). */
  readonly currencies: PspCurrencyTable;
  /** PSP decline code → category → customer message → action (docs and FAIL events). */
  readonly declines: DeclineTable;
  /** Further decline tables its docs page shows (Adyen's raw acquirer responses). Default none. */
  readonly extraDeclineTables?: readonly ExtraDeclineTable[];
  /** Its fact table for `docs/gateways/<type>.md`, built by calling its status maps. */
  facts(): FactRow[];
  /**
   * Every status word its outcomes carry (`GatewayOutcome.gatewayStatus`) that its exhaustive status maps know, spelled
   * as the outcomes spell it: the lists those maps are typed by, spread here, never a second list kept by hand. It
   * bounds the `gateway_status` label of this gateway's metrics (`gatewayStatusLabel`): a status outside it, another
   * gateway's included, counts as `other`. The conformance suite checks the statuses its fixture's outcomes carry.
   */
  readonly pspStatuses: readonly string[];
  /** The PSP's documented authorization validity (`authorizations.validity_ms` overrides it). */
  readonly authorizationValidityMs: AuthorizationValidity;
  /** Its conformance fixture, relative to the repository root (`test/conformance/fixtures/<type>.ts`). */
  readonly conformanceFixture: string;
  /**
   * Whether a cancel's successful outcome voided what was captured (`OperationContext.captured`) at this PSP
   * (Cybersource: a void of the capture or sale, not an authorization reversal), so the ledger marks it undone
   * (unless the captures left part of the authorization: its cancel released that, `voidedByCancel`). Defined:
   * the cancel's event also says what it did (`cancelEffect`, docs/EVENTS.md), and, its cancel being built from
   * the captures standing, a cancel waits while a capture of its authorization is in flight (`capturesInFlight`),
   * a refund waits for a cancel registered before it that would void what it refunds (`voidsAhead`), and a
   * cancel's retries are built on what its first attempt was (`cancelBasis`). Absent: a cancel only releases a hold (a PSP that still answers success, Adyen releasing what a partial
   * capture left, undid no capture).
   */
  readonly cancelVoided?: (outcome: GatewayOutcome) => boolean;
  /**
   * Whether a cancel's FAIL `outcome` is the PSP's documented refusal of a void BECAUSE the payment is captured already
   * (an operator's capture in the PSP's dashboard, an account or a PaymentIntent capturing automatically), and what the
   * PSP stated captured (`GatewayOutcome.pspCaptured`, never a guess): a split tender's rollback then refunds what was
   * captured instead of ending REVERSAL_FAILED. Null for any other outcome, a refusal that does not say the payment is
   * captured included. Pure. Absent: the PSP's answers never say so (docs/ADDING-A-GATEWAY.md).
   */
  readonly voidRefusedAsCaptured?: (outcome: GatewayOutcome) => VoidRefusedAsCaptured | null;
  /**
   * How long after a stored value transaction (a load, an issue, a status change, a merge: `isStoredValueCommand`, or a
   * refund to a gift card) the PSP still voids it, in milliseconds from when it was done. A cancel naming one done
   * longer ago is refused before its first attempt (`VOID_WINDOW_PASSED`, `resolveOperationContext`). Absent: the PSP
   * documents no such window, and none is enforced.
   */
  readonly storedValueVoidWindowMs?: number;
  /**
   * The commands of ours whose own transaction a cancel naming it (by our operation id, or by that transaction's own
   * PSP reference within the cancel's gateway and account) voids at this PSP (Cybersource:
   * `POST /pts/v2/captures/{id}/voids`, `POST /pts/v2/refunds/{id}/voids`, until the batch settles): such a cancel is
   * sent as that void (`OperationContext.voidOf`), and its success marks the capture or refund undone, so it no longer
   * counts as captured or refunded. Absent (default): a cancel naming a capture or refund is refused
   * `UNSUPPORTED_COMMAND`, unsent.
   */
  readonly voidsOwnTransactions?: readonly ('capture' | 'refund')[];
  /** How `payment-bridge reconcile` reads the PSP's own records (src/reconciliation/). Absent: not reconcilable yet. */
  readonly reconciliation?: ReconciliationSupport;
  /**
   * What the PSP needs, beyond the command's schema, to charge a stored credential without the customer (a
   * merchant-initiated charge: `payment.recurring` on a stored card), the same rule its transformer applies
   * to such a charge. A recurring schedule is checked with it when it is created, so a schedule none of
   * whose cycles could be charged is refused then, not at every cycle. Pure. Absent: nothing more.
   * @throws CommandValidationError naming the `payment.` field to add or fix.
   */
  checkMerchantInitiatedCharge?(payment: Payment): void;
}
