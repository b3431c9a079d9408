/** The validated, frozen configuration every process runs with. Built by `load-config.ts`. */
import type { ChannelsConfig } from './channels-config';
import type { LimitsConfig } from './limits-config';
import type { RoutingConfig } from './routing-config';
import type { RedisConfig } from '../redis/redis-config';

// The redis section is declared next to the client that reads it (src/redis/redis-config.ts).
export type { RedisConfig, RedisClusterConfig } from '../redis/redis-config';

// A gateway's configuration is declared by the gateway itself (src/gateways/<name>/<name>-gateway.ts).
export type { GatewayConfig } from '../gateways/gateway-config';
export type { GatewayType } from '../gateways/gateway-registry';
import type { GatewayConfig } from '../gateways/gateway-config';

export type BusCommandName =
  | 'validate'
  | 'revalidate'
  | 'capture'
  | 'cancel'
  | 'refund'
  /** Stored value (gift) card commands (src/contracts/stored-value.ts). */
  | 'balance_inquiry'
  | 'reload'
  | 'issue'
  | 'activate'
  | 'deactivate'
  | 'merge_balance';
export type BusNotificationName =
  | 'validated'
  | 'revalidated'
  | 'captured'
  | 'cancelled'
  | 'refunded'
  | 'authorized'
  | 'sold'
  | 'tokenized'
  | 'refund_updated'
  | 'authorization_expiring'
  /** A late PSP fact (chargeback, failed capture or refund…) recorded as an adjustment. */
  | 'adjusted'
  /** Stored value card outcomes; `balance_reported` carries the card's `balance`. */
  | 'balance_reported'
  | 'reloaded'
  | 'issued'
  | 'activated'
  | 'deactivated'
  | 'balance_merged'
  /** A recurring billing cycle that failed for good (a hard decline, or the last dunning retry). */
  | 'recurring_failed'
  /** Recurring billing cycles skipped, never charged (missed, or a schedule whose whole term passed): src/recurring/recurring-skip-notice.ts. */
  | 'recurring_cycles_skipped'
  /** A split tender order's overall result (gift card plus card): docs/payment-methods/stored-value.md. */
  | 'split_tender_settled';

export interface Config {
  readonly serviceBus: {
    readonly url: string;
    readonly rpcPath: string;
    readonly endpointName: string;
    readonly secret: string;
    /**
     * The bus secret before the current one, still accepted on X-Signature while a rotation is under way
     * (the bus signs with whichever secret it last registered). Empty: none. Default ''.
     */
    readonly secretPrevious: string;
    /**
     * The bus secret coming next, before it becomes `secret`: the dead-letter stamps (`x-pb-authenticated-channel`,
     * `x-pb-parked-stamp`) made with it are accepted, and nothing is ever signed or stamped with it. Deployed
     * everywhere first, so that no process still on the old `secret` refuses the stamps of one already switched.
     * Not accepted on X-Signature. Empty: none. Default ''.
     */
    readonly secretNext: string;
    readonly publicUrl: string;
    readonly delegatePath: string;
    readonly subscribes: readonly string[];
    /** Whether the bus sends amounts in minor units (default) or major units. */
    readonly amountUnits: 'minor' | 'major';
    /**
     * Whether a refund's `refund_management.updated` PENDINGRELEASE notice is sent before the PSP is asked (default
     * true, as the bus contract in docs/EVENTS.md "Refund pre-notice" has it). A bus that refuses it for good (a JSON-RPC error) has it set aside without
     * holding the refund's outcome back; false sends none (a bus whose OMS sends that message itself).
     */
    readonly refundPendingNotice: boolean;
    /** Timeout of each call to the bus, milliseconds. Default 10000. */
    readonly timeoutMs: number;
    /**
     * `connect_timeout_ms`: how long establishing a new connection to the bus or its OAuth server (TCP connect,
     * the TLS handshake; through `proxy`, the proxy's connect and CONNECT answer too) may take, milliseconds,
     * separate from and shorter than `timeoutMs`: a black-holed address fails in this time as not sent. At or
     * past `timeoutMs` it never fires first and `timeoutMs` alone bounds the call. Default 2000.
     */
    readonly connectTimeoutMs: number;
    readonly methods: {
      readonly register: string;
      readonly unregister: string;
      readonly commands: Readonly<Record<BusCommandName, string>>;
      readonly notifications: Readonly<Record<BusNotificationName, string>>;
    };
  };
  readonly momClient: {
    readonly clientId: string;
    readonly clientSecret: string;
    readonly oauthServerUrl: string;
    readonly tokenPath: string;
    readonly scope: string;
    /**
     * How the client authenticates to the token endpoint (RFC 6749 §2.3.1): `header`, HTTP Basic (which every
     * OAuth server must accept), or `body`, `client_id` and `client_secret` in the form, for servers that
     * read only that. Default `header`.
     */
    readonly clientAuth: 'header' | 'body';
    /** Refresh a cached token this many seconds before it expires. Default 60. */
    readonly refreshMarginS: number;
  };
  readonly amqp: {
    /** The first broker node (`amqp.url`). */
    readonly url: string;
    /**
     * Every broker node to connect to, in the order tried: `amqp.url` first, then `amqp.urls` (duplicates
     * dropped). A lost connection reconnects to the next one in rotation. Default: `[amqp.url]`.
     */
    readonly urls: readonly string[];
    /**
     * How quorum queues dead-letter (`amqp.queue.dead_letter_strategy`): `at-most-once` (RabbitMQ's default,
     * and what earlier versions declared) or `at-least-once` (declared with `x-dead-letter-strategy` and
     * `x-overflow: reject-publish`; quorum only). Default `at-most-once`.
     */
    readonly deadLetterStrategy: 'at-most-once' | 'at-least-once';
    readonly commandsExchange: string;
    readonly commandsQueue: string;
    readonly queueType: 'quorum' | 'classic';
    readonly deadLetterExchange: string;
    readonly deadLetterQueue: string;
    /** Unacked messages per consumer channel. Default 200. */
    readonly prefetch: number;
    /** How long a publish waits for the broker's confirm, milliseconds. Default 5000. */
    readonly publishTimeoutMs: number;
    /** Delay between reconnection attempts, milliseconds. Default 1000. */
    readonly reconnectMs: number;
    /**
     * How often each worker moves the dead-letter queue into the archive the console and `ops dead-letters`
     * read, milliseconds (`amqp.dead_letter_archive_interval_ms`); 0: never (only on an operator's request).
     * Default 10000.
     */
    readonly deadLetterArchiveIntervalMs: number;
  };
  readonly redis: RedisConfig;
  readonly http: {
    readonly host: string;
    readonly port: number;
    readonly intakePath: string;
    /** Largest accepted request body, bytes. Default 262144. */
    readonly bodyLimitBytes: number;
    /**
     * Most bytes of a body above `bodyLimitBytes` read and dropped after its 413 before the connection is
     * closed (a client still sending then reads its answer instead of a reset). Default 4194304.
     */
    readonly discardLimitBytes: number;
    /** Most time spent discarding such a body after its 413, milliseconds. Default 5000. */
    readonly discardTimeoutMs: number;
  };
  /** Optional outbound proxy; empty host means direct connections. */
  readonly proxy: { readonly host: string; readonly port: number };
  readonly delivery: {
    readonly concurrency: number;
    readonly backoffBaseMs: number;
    readonly backoffMaxMs: number;
    /**
     * 0: retry until delivered; otherwise give up delivering after this age, milliseconds: FAILED
     * (UNRESPONSIVE) when no attempt can have reached the PSP, else UNRESOLVED. Default 0.
     */
    readonly maxAgeMs: number;
    readonly breakerFailureThreshold: number;
    readonly breakerOpenMs: number;
    /**
     * How long an operation whose gateway is missing from the configuration is held (never sent, retried,
     * alerted) before it is parked as a replayable dead letter, milliseconds. 0: park at once. Default
     * 1800000 (30 min: long enough to fix `gateways.<name>` and restart the workers).
     */
    readonly configGraceMs: number;
    /**
     * The longest wait a gateway's `Retry-After` can impose before the next attempt, milliseconds. A PSP's
     * Retry-After is honoured even above `backoffMaxMs` (retrying sooner only earns another 429), but not
     * without bound: a broken or hostile value (days) would stall the operation. Default 300000 (5 min).
     */
    readonly retryAfterMaxMs: number;
    /**
     * How long after a webhook reports the failure of an operation the OMS was told SUCCEEDED the PSP is
     * asked to confirm it (status inquiry), milliseconds: a void in flight has settled by then, so the
     * cancellation it causes is recognised as the one asked for. Default 30000.
     */
    readonly lateFailureConfirmMs: number;
    /**
     * How long a PSP re-capture that arrived before the capture failure it follows (Adyen "Transaction Recaptured",
     * held on the capture) waits for that failure before it is surfaced to operators (a warn line, the
     * `recapture_awaiting_failure` history entry, `pb_recaptures_awaiting_failure`, `ops recaptures list`), milliseconds;
     * counted from when the capture first held one. Nothing is sent to the OMS for it. Default 86400000 (24 h).
     */
    readonly recaptureFailureWaitMs: number;
    /**
     * How long a webhook outcome of a modification (an Adyen CAPTURE, REFUND, CANCELLATION… naming the payment) that
     * came before any operation held its PSP reference is kept parked under that reference, milliseconds: the
     * operation whose answer indexes the reference later (a capture's `received` recorded after the webhook, or
     * after a crash and its resend) has it queued again then (`webhooks/parked-outcomes.ts`). One no operation ever
     * claims (a capture made in the Customer Area) stays history of the operation it named and lapses. Default
     * 2592000000 (30 days).
     */
    readonly parkedOutcomeTtlMs: number;
    /**
     * How long a dependent command waits, unsent, before it is refused with that wait's code, milliseconds: on a guard
     * between voids and refunds of its payment (a Cybersource void of a capture waiting for another void or refunds in
     * flight; a cancel waiting for refunds, for another void of the same transaction, for captures in flight or not yet
     * delivered, or for the capture or refund it voids; a refund waiting for a void) or on siblings of its own command
     * ahead of it (`BOUNDED_WAITS` in delivery/dependent-wait.ts); its wait for its authorization has its own bound,
     * {@link authorizationWaitMaxMs}. Counted from that wait's own start: its first wait of that kind, or its creation
     * for the capture or refund it voids; a positive integer. What it waits for may stay undecided for good, and
     * Cybersource voids only until its batch settles, usually the same day. Default 86400000 (24 h).
     */
    readonly voidWaitMaxMs: number;
    /**
     * How long a capture, cancel, refund, validate or revalidate waits, unsent, for its authorization to be decided
     * before it is refused `WAIT_FOR_AUTH_EXPIRED`, milliseconds, counted from its creation; a positive integer, at
     * least `authentication.max_action_wait_ms` (refused at start otherwise). An asynchronous method's authorization
     * (a voucher such as Boleto or Konbini, a bank transfer) waits for its customer for days, ACTION_REQUIRED and then
     * PENDING until the PSP confirms the payment: a capture sent in the meantime must outlast that, or the OMS is told
     * it FAILED while the payment goes through. Past it the authorization is one that may stay `UNRESOLVED` for good
     * (settled only by a later PSP fact), and no card authorization is valid that long. Default 5616000000 (65 days:
     * the longest customer action, 62 days, and its grace of 3).
     */
    readonly authorizationWaitMaxMs: number;
  };
  readonly events: { readonly concurrency: number; readonly backoffBaseMs: number; readonly backoffMaxMs: number };
  readonly queues: {
    /**
     * How often the worker checks that each BullMQ worker still takes ready jobs, milliseconds; a worker seen
     * with jobs waiting, a free slot and no job started on two checks in a row is closed and started again
     * (a blocking connection stuck after a Redis restart). 0 disables the watchdog. Default 15000.
     */
    readonly watchdogIntervalMs: number;
  };
  readonly leases: {
    /**
     * How long a worker's holder heartbeat (`<prefix>holder:<id>`, refreshed every quarter of it) outlives its
     * last refresh, milliseconds. An event send lease whose holder's heartbeat has expired (a killed worker)
     * is taken over by the next sender instead of waiting for the lease's own expiry (the bus timeout plus
     * 5 s). A live worker whose event loop stalls longer than this could see a lease taken (the event is then
     * sent twice, same event_id). Default 2000, minimum 200.
     */
    readonly holderTtlMs: number;
  };
  readonly poller: {
    readonly scheduleMs: readonly number[];
    readonly inProcessIntervalMs: number;
    /** UNRESOLVED operations (the schedule ran out) are asked about again at this interval, ms. Default 3 600 000 (1 h). */
    readonly unresolvedIntervalMs: number;
    /**
     * A PENDING operation that settles only by webhook (no status inquiry, e.g. Adyen modifications) older
     * than this raises one `payment_awaiting_webhook` alert, ms. Default 86 400 000 (24 h).
     */
    readonly webhookWaitAlertMs: number;
    /**
     * How long a customer action past its expiry may keep meeting an error asking the PSP about it (a timeout, a
     * 5xx, a refused read) before it is given up as UNRESOLVED, ms; until then it stays ACTION_REQUIRED and is asked
     * again along `scheduleMs`. It is never FAILED on an inquiry error: the customer may have completed it.
     * Default 3 600 000 (1 h).
     */
    readonly actionExpiryInquiryMaxMs: number;
  };
  readonly registration: { readonly attempts: number; readonly backoffBaseMs: number };
  readonly authorizations: AuthorizationsConfig;
  readonly reconciliation: ReconciliationConfig;
  readonly monitoring: MonitoringConfig;
  readonly shutdown: {
    /**
     * How long a stopping process (SIGTERM/SIGINT) may take to finish its in-flight work before it exits
     * anyway (code 1), milliseconds. Default 30000.
     */
    readonly deadlineMs: number;
  };
  /** The long-running poller (`payment-bridge poll`): one pass every `intervalMs`, milliseconds. Default 30000. */
  readonly pollerProcess: { readonly intervalMs: number };
  /** Split tender orders (gift card plus card): docs/payment-methods/stored-value.md. */
  readonly splitTender: {
    /**
     * Which tender a split tender order's refund goes back to first: `card_first` (default: the customer's
     * bank money returns before store credit) or `gift_card_first`.
     */
    readonly refundOrder: 'card_first' | 'gift_card_first';
    /** How often each worker advances the open split tenders (and looks again at one waiting for a step), ms. Default 500. */
    readonly sweepIntervalMs: number;
  };
  readonly log: { readonly level: 'error' | 'warn' | 'info' | 'debug' };
  /** The customer-action hand-off (3-D Secure, redirects, vouchers and QR codes). */
  readonly authentication: {
    /**
     * How long an operation waits in ACTION_REQUIRED for the customer before the poller asks the PSP once
     * more and, still waiting, fails it (reason `ACTION_EXPIRED`) and voids what the PSP holds, when the PSP
     * named no deadline and the action is one the customer completes at once (3-D Secure, a redirect, an
     * app's confirmation), ms. Default 900000 (15 min).
     */
    readonly actionTimeoutMs: number;
    /**
     * The same wait for a real-time payment's QR code the PSP names no expiry for (Stripe PayNow, PromptPay,
     * WeChat Pay; Adyen `qrCode`), ms. Default 86400000 (1 day).
     */
    readonly qrCodeTimeoutMs: number;
    /** The same wait for a voucher the PSP names no expiry for (an Adyen `voucher` without `expiresAt`), ms. Default 604800000 (7 days). */
    readonly voucherTimeoutMs: number;
    /**
     * The same wait for a bank transfer the customer makes (Stripe `display_bank_transfer_instructions`,
     * Adyen `bankTransfer`) or microdeposits to verify (Stripe `verify_with_microdeposits`), ms. Default
     * 1209600000 (14 days).
     */
    readonly bankTransferTimeoutMs: number;
    /**
     * Added to the deadline a PSP gave for the customer's action (a voucher's expiry) before the poller asks
     * once more and, still waiting, fails it: a payment made at the last minute may take the PSP a business
     * day or so to confirm, ms. Default 259200000 (3 days).
     */
    readonly actionDeadlineGraceMs: number;
    /**
     * The longest an operation waits in ACTION_REQUIRED on a PSP's deadline (plus the grace), counted from
     * when it entered it; a later deadline is cut to it, ms. Default 5356800000 (62 days).
     */
    readonly maxActionWaitMs: number;
  };
  /** Recurring billing: the poller's schedule runner and dunning. */
  readonly recurring: {
    /**
     * Waits before each retry of a cycle whose charge was softly declined, ms; after the last one the
     * cycle fails for good (`recurring.failed` event). Default [86400000, 259200000, 432000000] (1 d, 3 d, 5 d).
     */
    readonly retryScheduleMs: readonly number[];
    /** Most due cycles started per poller pass (and most ended schedules deleted per pass). Default 500. */
    readonly runLimit: number;
    /**
     * A schedule that ended (cancelled, completed, failed with its final event recorded) is deleted this many days
     * after it ended, with its entries in the order index and the list of schedules; an active one is kept for ever.
     * Default 400 (as `retention.expire_after_days`: its cycles' operations live about as long). 30 to 3650.
     */
    readonly endedRetentionDays: number;
    /**
     * The bus's JSON-RPC methods that create, list and cancel schedules (signed like commands, answered at
     * once by the intake, see docs/PAYMENT-METHODS.md). Defaults `magento.payments.recurring_management.create`,
     * `….list`, `….cancel`.
     */
    readonly rpcMethods: { readonly create: string; readonly list: string; readonly cancel: string };
  };
  readonly security: SecurityConfig;
  readonly edge: EdgeConfig;
  readonly audit: AuditConfig;
  readonly console: ConsoleConfig;
  readonly rateLimits: RateLimitsConfig;
  readonly backpressure: BackpressureConfig;
  /** Adaptive in-flight work of the worker's command consumer (`inflight.*`). */
  readonly inflight: InflightConfig;
  /** Channel credentials, validation profiles, card data in free text, dead-letter triage (`channels.*`). */
  readonly channels: ChannelsConfig;
  /** Orchestration limits: transaction caps (`caps.*`), risk rules (`risk.*`), currency conversion (`fx.*`). */
  readonly limits: LimitsConfig;
  /** Orchestration: routing rules, merchant agreements, failover, payment method options (`routing.*`). */
  readonly routing: RoutingConfig;
  readonly gateways: Readonly<Record<string, GatewayConfig>>;
  /** Retention of terminal operations (`retention.*`). */
  readonly retention: RetentionConfig;
}

/**
 * Retention (`retention.*`, docs/DATA.md): terminal operations are archived to a file, then expire from
 * Redis; nothing of a live operation, or of one awaiting reconciliation or held, ever does.
 */
export interface RetentionConfig {
  /** Whether the poller runs the retention sweep. Default true. */
  readonly enabled: boolean;
  /**
   * Days after an operation became terminal (its last update, or its last adjustment) before it expires.
   * Default 400: card schemes let a cardholder dispute for up to 120 days after the transaction or the
   * expected delivery (540 days at most), a year of records covers the annual audit and the PSPs' own
   * monthly/annual statements, plus a margin. The archive file keeps it longer (the operator's policy).
   */
  readonly expireAfterDays: number;
  /**
   * Directory the sweep writes each batch's archive file to (ndjson export, `<dir>/<YYYY-MM-DD>/…`) before it
   * expires the batch; relative to the working directory. `''`: no archive, so nothing expires. Default `var/archive`.
   */
  readonly archiveDir: string;
  /** Operations examined per sweep pass. Default 500. */
  readonly batch: number;
  /**
   * Expire only operations updated before their gateway's reconciled-through mark (the end of what finished,
   * applied reconciliation runs covered without a gap: `Ledger.recordReconciledWindow`). Default false.
   */
  readonly requireReconciliation: boolean;
}

/** What the poller's reconciliation schedule does: nothing, classify and report only, or apply. */
export type ReconciliationScheduleMode = 'off' | 'dry_run' | 'on';

/** Reconciliation against the PSPs' own records (`reconciliation.*`, src/reconciliation/). */
export interface ReconciliationConfig {
  /**
   * The poller's schedule: `off` (the default: reconciliation sends the OMS adjustment events, so a
   * deployment turns it on knowingly, after a dry run), `dry_run` (classify and report, apply nothing) or
   * `on`. `payment-bridge reconcile` works whatever this says.
   */
  readonly schedule: ReconciliationScheduleMode;
  /** How often the poller looks for a window to reconcile, milliseconds. Default 3600000 (1 h). */
  readonly intervalMs: number;
  /** Length of each scheduled window, milliseconds (windows are aligned on multiples of it). Default 3600000 (1 h). */
  readonly windowMs: number;
  /** How far behind now a scheduled window must end (PSP reports lag), milliseconds. Default 7200000 (2 h). */
  readonly lagMs: number;
  /** Gateway names the schedule reconciles. Default `[]`: every configured gateway whose PSP has a reader. */
  readonly gateways: readonly string[];
  /** Deadline of one report request (and of each chunk of a streamed report), milliseconds, at least the gateway's `timeout_ms`. Default 30000. */
  readonly requestTimeoutMs: number;
  /**
   * Whole deadline of one streamed report download (headers and every chunk), milliseconds: a host trickling chunks
   * each just inside `requestTimeoutMs` must not hold the run and its lock forever. Past it the download fails
   * retryable (`outcome_unknown`) and the run's next invocation resumes from its last committed page. Default 900000 (15 min).
   */
  readonly downloadDeadlineMs: number;
  /** How long a run's resumable state (cursor, totals, done mark) is kept, days. Default 35. */
  readonly stateTtlDays: number;
  /**
   * Most PSP objects a run reads by id to confirm an operation no line named before reporting it `missing_at_psp`
   * (a gateway whose reader can: Stripe), each with `requestTimeoutMs`; past it the rest are reported unconfirmed.
   * 0: never. Default 500.
   */
  readonly lookupsPerRun: number;
  /** Directory the schedule writes each run's report to (`<gateway>-<from>.md` + `.jsonl`); empty: none. Default ''. */
  readonly reportDir: string;
}

/** What the orphan reversal does with an orphaned authorization: nothing, report it only, or void it. */
export type OrphanReversalMode = 'off' | 'dry_run' | 'on';

/** Authorization lifecycle: expiry tracking, the expiring event, orphan reversal (`authorizations.*`). */
export interface AuthorizationsConfig {
  /**
   * Validity overrides, milliseconds, keyed `<gateway name or type>` or `<gateway name or type>.<method>`
   * (method = the card brand, submethod or method the command named, lower case). Unlisted pairs use the
   * PSP's documented default (`src/lifecycle/authorization-validity.ts`). Default `{}`.
   */
  readonly validityMs: Readonly<Record<string, number>>;
  /** How long before its expiry the OMS is told an authorization is expiring, milliseconds. Default 86400000 (24 h). */
  readonly expiryWarningMs: number;
  /** `off`, `dry_run` (log, metric and report only; the default) or `on` (void for real). */
  readonly orphanReversal: OrphanReversalMode;
  /** An authorization uncaptured this long after it succeeded is an orphan, milliseconds; 0 = never by age. Default 345600000 (4 days). */
  readonly orphanVoidAfterMs: number;
  /**
   * `orphanVoidAfterMs` for one merchant account, keyed `<gateway name>:<gateway_account>`, milliseconds
   * (0 = never). Default `{}`. Ages apply when the authorization succeeds.
   */
  readonly orphanVoidAfterMsByAccount: Readonly<Record<string, number>>;
  /** Most authorizations one sweep looks at, per sweep and kind. Default 1000. */
  readonly sweepLimit: number;
}

/** Transport security (`security.*`). */
export interface SecurityConfig {
  /**
   * Lets `http://` URLs through for the bus (`service_bus.url`, `service_bus.public_url`), its OAuth server
   * and real gateways (the simulator may always be http), with a warning at start naming the keys; the
   * doctor then also sends credentials over them. Development on loopback only. Default false.
   */
  readonly allowInsecureHttp: boolean;
}

/**
 * The edge of the `web` role (`edge.*`): connection caps, timeouts against slow clients, IP allowlists,
 * the proxies whose `X-Forwarded-For` is believed, optional TLS. See README, "The edge".
 */
export interface EdgeConfig {
  /** Open connections the web process holds at most; more are closed at once. Default 4000. */
  readonly maxConnections: number;
  /**
   * Open connections one client address (an IPv6 one by its /64) holds at most; more are closed at once. Connections from a
   * trusted proxy count only towards `maxConnections`. Default 512 (a keep-alive client pool of a few hundred sockets fits).
   */
  readonly maxConnectionsPerIp: number;
  /** Time a client has to send the complete request headers, milliseconds (then 408 and close). Default 10000. */
  readonly headersTimeoutMs: number;
  /** Time a client has to send the complete request, headers and body, milliseconds (then 408 and close). Default 30000. */
  readonly requestTimeoutMs: number;
  /**
   * How long an idle keep-alive connection stays open after a response, milliseconds. Behind a load
   * balancer, set it above the balancer's own idle timeout. Default 30000.
   */
  readonly keepAliveTimeoutMs: number;
  /**
   * CIDRs (IPv4 or IPv6; a bare address is a /32 or /128) of the proxies in front of the web role. Only a
   * connection from one of them has its `X-Forwarded-For` read, and the client is the rightmost address
   * in it that is not itself a trusted proxy. Default [] (the socket's peer is the client).
   */
  readonly trustedProxies: readonly string[];
  /** IP allowlists by surface; an empty list lets every address in. */
  readonly allow: {
    /** Who may call the intake (the bus). Default []. */
    readonly intake: readonly string[];
    /** Who may post to `/webhooks/<name>`, by gateway name; `*` applies to gateways not listed. Default {}. */
    readonly webhooks: Readonly<Record<string, readonly string[]>>;
    /** Who may read `/metrics` and use the operator console. Default []. */
    readonly admin: readonly string[];
  };
  /**
   * TLS on the web role itself, for deployments without a terminating proxy: PEM file paths. Empty
   * `certFile` and `keyFile`: plain http (the default). `caFile`: when set, clients must present a
   * certificate signed by one of its CAs (mutual TLS). TLS 1.2 is the minimum.
   */
  readonly tls: { readonly certFile: string; readonly keyFile: string; readonly caFile: string };
}

/** The audit log (`audit.*`): configuration loads and administrative actions, see `src/audit/`. */
export interface AuditConfig {
  /** Entries kept in the Redis stream `<prefix>audit` (approximate trim, `XADD MAXLEN ~`). Default 10000. */
  readonly streamMaxLen: number;
}

/**
 * What a console account may do: `operator` every action; `viewer` reads only (every form that changes state is
 * refused with 403, audited and counted).
 */
export type ConsoleRole = 'operator' | 'viewer';

/** One console login (`console.accounts[]`). */
export interface ConsoleAccount {
  /** Login name, unique among the accounts: `[A-Za-z0-9._@-]{1,64}`. */
  readonly username: string;
  /** The password in clear (16+ characters, never another secret of the bridge) or its hash `scrypt$N$r$p$salt$hash`. */
  readonly password: string;
  readonly role: ConsoleRole;
}

/** The operator console (`console.*`), served by the `web` role on its own port. */
export interface ConsoleConfig {
  /** Whether the `web` role serves the console. Default false. */
  readonly enabled: boolean;
  /** Address the console listens on. Default `127.0.0.1` (reach it through a tunnel or an allowlisted proxy). */
  readonly bind: string;
  /** Port of the console's own listener (0: any free port, for tests). Default 8081. */
  readonly port: number;
  /** Path the console lives under. Default `/console`. */
  readonly path: string;
  /** The console's login name. Default `operator`. */
  readonly username: string;
  /**
   * The console's own password (16+ characters, never a bus or gateway secret); required when enabled unless
   * `accounts` is given. With `username`, one `operator` account (see `consoleAccountsInForce`).
   */
  readonly password: string;
  /**
   * Named accounts (`console.accounts`), instead of `username`/`password` (both given: a configuration error).
   * Default [] (the single account of `username`/`password`).
   */
  readonly accounts: readonly ConsoleAccount[];
  /** How long a console session lasts from its login, milliseconds. Default 28800000 (8 h). */
  readonly sessionTtlMs: number;
  /**
   * A console session unused this long ends (a page or a form uses it; the dashboard's own refresh of its
   * figures does not), milliseconds, 60000 or more (longer than `sessionTtlMs` is warned of). Default 900000 (15 min).
   */
  readonly sessionIdleMs: number;
  /** An operation not terminal this long after it was created is listed as stuck, milliseconds. Default 300000 (5 min). */
  readonly stuckAfterMs: number;
  /**
   * When the session cookie is marked `Secure`. `auto` (default): when the console's listener serves TLS, or
   * a proxy of `edge.trusted_proxies` in front says the client came over https (`X-Forwarded-Proto: https`).
   * `always`: on every login, for a deployment reached over https only whatever its proxy forwards.
   */
  readonly secureCookie: 'auto' | 'always';
  /**
   * Hosts the console answers besides `localhost`, `127.0.0.1`, `[::1]`, the host of `service_bus.public_url`
   * and `console.bind` (when one address): names or addresses (IPv6 bracketed), each optionally with `:port`
   * (without, any port). A request naming another host (`Host`, or `X-Forwarded-Host` from a trusted proxy)
   * gets 421: a DNS-rebinding page never reaches the console. Default [].
   */
  readonly allowedHosts: readonly string[];
}

/**
 * The worker's and the poller's small HTTP port (`monitoring.*`), serving `/metrics`, `/healthz` and
 * `/readyz` (the `web` role serves them on its own port).
 */
export interface MonitoringConfig {
  /** Interface the port binds to. Default `127.0.0.1` (loopback: a scraper on the same host or a sidecar). */
  readonly host: string;
  /** The worker's port; 0 = no port (the default). Several workers on one host need `--monitoring-port`. */
  readonly workerPort: number;
  /** The long-running poller's port; 0 = no port (the default). */
  readonly pollerPort: number;
  /** `/readyz` answers not ready while the oldest unsent event is older than this, milliseconds. Default 60000. */
  readonly readyMaxEventLagMs: number;
}

/** One token bucket: it refills `perS` tokens per second up to `burst`; each command takes one. */
export interface RateLimit {
  /** Sustained rate, commands per second. */
  readonly perS: number;
  /** Bucket capacity: commands accepted at once after a quiet period. */
  readonly burst: number;
}

/**
 * Rate limits (`rate_limits.*`): one token bucket per channel and one per account (`<gateway>:<gateway_account>`),
 * in Redis, shared by every web and worker process. A command takes a token from both. Over the limit the
 * intake answers 429 with Retry-After; the worker holds the message (it stops consuming faster) until a
 * token is free: nothing is dropped.
 */
export interface RateLimitsConfig {
  /** Off: no bucket is read or written. Default true. */
  readonly enabled: boolean;
  /** Every channel's bucket unless `byChannel` names it. Default 10000/s, burst 20000. */
  readonly channel: RateLimit;
  /** Every account's bucket unless `byAccount` names it. Default 5000/s, burst 10000. */
  readonly account: RateLimit;
  /** Per channel (`bus`, `web`, `pos`, `marketplace`). Default `{}`. */
  readonly byChannel: Readonly<Record<string, RateLimit>>;
  /** Per account, keyed `<gateway name>:<gateway_account>`. Default `{}`. */
  readonly byAccount: Readonly<Record<string, RateLimit>>;
  /**
   * Tokens a worker takes from Redis at once and spends locally within 200 ms (fewer Redis round trips on
   * the consumer's hot path; 1 = one round trip per command, exact). The intake always takes one. Default 8.
   */
  readonly leaseTokens: number;
  /**
   * Longest one rate-limit take waits for Redis, ms (plus `redis.cluster.retry_delay_ms` on a Cluster), its
   * retries after error replies included (one not fitting is not started): past it Redis counts as not answering and the command goes on unlimited (`pb_rate_limit_unavailable_total{reason="deadline"}`);
   * a later answer is dropped. Default 500, 50 to 5000 (the Redis client's own command timeout); on a Cluster,
   * with the retry delay, at most 5000 too (src/config/take-deadline.ts).
   */
  readonly takeDeadlineMs: number;
}

/**
 * Backpressure (`backpressure.*`): past `maxBacklog` messages waiting in the commands queue the intake
 * refuses new authorizations (validate, revalidate; authorize, sale, tokenize) with 503 and Retry-After,
 * while captures, cancels and refunds are still accepted and ride the priority lane past the backlog.
 */
/**
 * Adaptive in-flight (`inflight.*`): how many commands of the commands queue a worker works on at once
 * follows PSP latency and the process's memory (src/admission/inflight-controller.ts) instead of the fixed
 * `amqp.prefetch`. The broker's prefetch of the commands queue is then `max`; messages beyond the current
 * limit wait, unacked, in the worker (a few hundred bytes each) until a slot frees. The priority lane keeps
 * `amqp.prefetch` and is never held by the limit.
 */
export interface InflightConfig {
  /** Whether the limit adapts. false: `amqp.prefetch` bounds the work in flight, as before. Default true. */
  readonly adaptive: boolean;
  /** Lowest limit, commands per worker. Default 16. */
  readonly min: number;
  /** Highest limit, commands per worker; also the commands queue's prefetch. Default 512. */
  readonly max: number;
  /** Limit at start, commands per worker. Default 64. */
  readonly initial: number;
  /**
   * Resident memory above which the limit, when in use, is cut (from 98 % of it, it stops growing), MiB.
   * Default 143 (150 MB, the per-process memory target). An idle worker holds ~105-112 MiB (Node, the loaded
   * modules, V8's 4 MiB semi-spaces), so the budget bounds growth under load; a cut is followed by a hold
   * while V8 returns pages (`memory_wait`), so one excess does not take the limit to `min`, and a cut that
   * did not lower RSS is not repeated (`memory_floor`: what is over the budget is not the work in flight).
   */
  readonly memoryBudgetMib: number;
  /** Event-loop delay (99th percentile of an interval) above which, two intervals in a row, the limit is cut (one interval over it: it holds), milliseconds. Default 100. */
  readonly lagLimitMs: number;
  /** How often the limit is reconsidered, milliseconds. Default 500. */
  readonly intervalMs: number;
}

export interface BackpressureConfig {
  /** Commands queue depth (messages ready) above which new authorizations are refused; 0 = never. Default 20000. */
  readonly maxBacklog: number;
  /** Retry-After of the 503, seconds. Default 5. */
  readonly retryAfterS: number;
  /** How long one read of the queue depth is reused, milliseconds (one passive declare per interval per process). Default 500. */
  readonly depthCacheMs: number;
  /**
   * Captures, cancels and refunds also go to the `<commands queue>.priority` queue, which workers consume on
   * a channel of their own: they never wait behind a backlog of authorizations. Default true.
   */
  readonly priorityLane: boolean;
}
