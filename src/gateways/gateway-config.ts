import type { GatewayType } from './gateway-registry';

/**
 * The configuration of one gateway (`gateways.<name>` in `parameters.yml`), as every gateway receives it.
 * The keys a gateway reads beyond the common ones are declared in its own folder (its `GatewayDefinition`'s
 * `settings`): which exist for it, which are required, which are secrets. See docs/ADDING-A-GATEWAY.md.
 */

/** Keys every gateway has, whatever its PSP. */
export interface GatewayBaseConfig {
  /** Name of the gateway as the bus spells it in `payment.gateway`. */
  readonly name: string;
  readonly type: GatewayType;
  /** `base_url`, without a trailing slash. */
  readonly baseUrl: string;
  /** Per-call timeout, milliseconds. Default 10000. */
  readonly timeoutMs: number;
  /** Keep-alive pool size per gateway (at most this many calls at once; sized for `inflight.max`). Default 512. */
  readonly maxSockets: number;
  /**
   * `connect_timeout_ms`: how long establishing a new connection (TCP connect, then the TLS handshake) may
   * take, milliseconds, separate from and shorter than `timeoutMs`; a connect that misses it is `not_sent`
   * (the request never left), so a black-holed address fails fast and is safe to retry or fail over.
   * Through a proxy it bounds the connect to the proxy, its CONNECT answer and the tunnelled TLS handshake.
   * Default 2000; absent: `timeoutMs` alone bounds the call.
   */
  readonly connectTimeoutMs?: number;
  /**
   * `warm_sockets`: keep-alive connections opened when a worker starts and topped up every
   * `keepWarmIntervalMs`, so the first commands (and those after an idle spell) do not pay a TCP and TLS
   * handshake. Capped by `maxSockets`. Default 16; 0: no warming.
   */
  readonly warmSockets?: number;
  /** `keep_warm_interval_ms`: how often the warm pool is checked and topped up, milliseconds. Default 30000. */
  readonly keepWarmIntervalMs?: number;
  /**
   * `store_payment_methods`: token on first use is allowed on this gateway (a command asks for it with
   * `payment.payment_method.store`). Default false; absent counts as false.
   */
  readonly storePaymentMethods?: boolean;
  /**
   * `payer_authentication`: every authorize/sale of this gateway asks for 3-D Secure (Cybersource: Payer
   * Authentication, `actionList: ["CONSUMER_AUTHENTICATION"]`); a command asks for it alone with
   * `payment.three_ds: required`. Default false; absent counts as false. Other gateways ignore it.
   */
  readonly payerAuthentication?: boolean;
  /**
   * `vault`: the operator's name for the PSP vault this entry reaches, when the configuration cannot show it
   * (another API key of the same account, another merchant account sharing stored tokens): entries of one
   * type with the same name may use each other's method data on a route or a failover
   * (src/gateways/gateway-vaults.ts). Absent: the vault its account and key values show.
   */
  readonly vault?: string;
}

/**
 * Credential and account values a gateway may declare in its `settings` (camelCase here, snake_case in
 * `parameters.yml`: `apiKey` is `api_key`). A key a gateway does not declare is refused in its
 * configuration and is '' here. A PSP that needs a value none of these names fits adds one field here.
 */
export interface GatewayCredentials {
  readonly apiKey: string;
  readonly webhookSecret: string;
  /** The previous webhook secret, still accepted while secrets rotate. */
  readonly webhookSecretPrevious: string;
  /**
   * The id of the key `webhookSecret` holds, for PSPs whose webhook signature names its key (Cybersource: the
   * digital signature key's `keyId`, named in `v-c-signature`): a webhook is checked with the key it names only.
   */
  readonly webhookKeyId: string;
  /** The id of the key `webhookSecretPrevious` holds (see `webhookKeyId`). */
  readonly webhookKeyIdPrevious: string;
  readonly merchantAccount: string;
  readonly merchantId: string;
  readonly keyId: string;
  readonly sharedSecret: string;
  /** The report user's name, for PSPs whose reports are downloaded with their own credentials (Adyen `report@Company.…`). */
  readonly reportUsername: string;
  /** The report user's password (Basic auth on report downloads). */
  readonly reportPassword: string;
  /** Base URL of the PSP's report downloads when it is not `base_url` (Adyen: `https://ca-test.adyen.com`), no trailing slash. */
  readonly reportBaseUrl: string;
  /** The authorization type a PSP is asked for when it offers a choice (Adyen `PreAuth` or `FinalAuth`); '' leaves it to the PSP. */
  readonly authorisationType: string;
  /** The private key (PEM) webhook payloads encrypted for us are decrypted with (Cybersource message-level encryption). */
  readonly webhookPrivateKey: string;
}

/** A credential or account field of {@link GatewayCredentials}. */
export type GatewayCredentialField = keyof GatewayCredentials;

// Exactly the fields of GatewayCredentials: the compiler refuses a missing or an extra one.
const FIELDS: Readonly<Record<GatewayCredentialField, true>> = {
  apiKey: true,
  webhookSecret: true,
  webhookSecretPrevious: true,
  webhookKeyId: true,
  webhookKeyIdPrevious: true,
  merchantAccount: true,
  merchantId: true,
  keyId: true,
  sharedSecret: true,
  reportUsername: true,
  reportPassword: true,
  reportBaseUrl: true,
  authorisationType: true,
  webhookPrivateKey: true,
};

/** Every credential field, in the order of {@link GatewayCredentials}. */
export const GATEWAY_CREDENTIAL_FIELDS: readonly GatewayCredentialField[] = Object.freeze(Object.keys(FIELDS) as GatewayCredentialField[]);

/**
 * Boolean switches a gateway may declare in its definition's `flags` (camelCase here, snake_case in
 * `parameters.yml`), each false by default. A switch a gateway does not declare is refused in its
 * configuration and absent here.
 */
export interface GatewayFlags {
  /**
   * `reverse_after_void`: the entry's processor supports authorization reversal after void (Cybersource ARAV),
   * so the hold a cancel's void of a capture (or sale) leaves on the authorization is released by a reversal of
   * it (src/delivery/hold-after-void.ts). Default false: the hold stays until the issuer lets it expire.
   */
  readonly reverseAfterVoid?: boolean;
  /**
   * `issue_svs`: the merchant account's Adyen Stored Value API integration issued SVS cards before Adyen stopped
   * offering it to new integrations, so an `issue` of an `svs` card is sent. Default false: refused unsent, naming
   * `payment.method_details.submethod` (https://docs.adyen.com/payment-methods/gift-cards/stored-value-api/issue).
   */
  readonly issueSvs?: boolean;
}

/** A switch of {@link GatewayFlags}. */
export type GatewayFlagField = keyof GatewayFlags;

// Exactly the fields of GatewayFlags: the compiler refuses a missing or an extra one.
const FLAGS: Readonly<Record<GatewayFlagField, true>> = { reverseAfterVoid: true, issueSvs: true };

/** Every switch field, in the order of {@link GatewayFlags}. */
export const GATEWAY_FLAG_FIELDS: readonly GatewayFlagField[] = Object.freeze(Object.keys(FLAGS) as GatewayFlagField[]);

/** What every gateway's code is handed: the common keys, every credential field ('' when not declared), its declared switches. */
export type GatewayConfig = GatewayBaseConfig & GatewayCredentials & GatewayFlags;

/** `apiKey` → `api_key`: the `parameters.yml` key of a credential field or switch. */
export function settingKey(field: GatewayCredentialField | GatewayFlagField): string {
  return field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}
