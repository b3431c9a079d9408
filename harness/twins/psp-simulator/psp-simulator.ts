/**
 * PSP simulator: our own payment service provider twin, a real HTTP server with in-memory state, used by
 * the demo, integration tests, chaos drills and benchmarks. Amounts are always integers of minor units.
 *
 * API (JSON bodies; every `/v1` call needs `Authorization: Bearer <apiKey>`, else 401
 * `{error:{code:"unauthorized"}}`):
 *
 * - `POST /v1/authorizations {amount, currency, payment_method, reference, capture?, async?}` → 201
 *   `{id:"auth_…", object:"authorization", status, amount, amount_captured, amount_refunded, currency,
 *   reference, created, decline_code?}`. `status`: `authorized`, `captured` (`capture: true`, a sale),
 *   `declined` (with `decline_code`) or `pending` (async). Magic payment methods: `pm_card_declined` →
 *   `card_declined`, `pm_insufficient_funds` → `insufficient_funds`, `pm_expired_card` → `expired_card`,
 *   `pm_fraudulent` → `fraudulent`, `pm_async` → always async (settles authorized/captured),
 *   `pm_async_declined` → async, settles declined, `pm_card_partial_half` → approves half the amount asked
 *   (rounded down: a partial approval), `pm_card_visa_card_like_nti` → approved, its network transaction id
 *   Luhn-valid (other approved cards' ids are so about one in ten). A `tok_…` from `/v1/tokens` stands for its
 *   payment method.
 * - 3-D Secure: `pm_card_3ds` (or `pm_card_3ds_required`, or a token of one) answers `status: "requires_action"`
 *   with `next_action: {type: "three_ds_challenge", url}`; the customer's browser opens `url` (`GET /3ds/:id`,
 *   no API key) and posts `{result: "authenticated" | "failed"}` to it: the authorization settles (authorized,
 *   captured for a sale, or declined `authentication_failed`), the stored result of its operation follows and
 *   `authorization.succeeded` / `authorization.failed` is sent. Never completed it stays `requires_action`; a
 *   cancel voids it; a capture is refused `authorization_requires_action`.
 * - `GET /v1/authorizations/:id` → 200 the authorization now (`cancelled`, `refunded` once fully refunded).
 * - `POST /v1/authorizations/:id/reauthorize {amount, reference}` → 201 a NEW authorization; the old one
 *   is cancelled. Only an `authorized` one.
 * - `POST /v1/authorizations/:id/captures {amount, reference}` → 201 `{id:"cap_…", object:"capture",
 *   status:"captured", amount, currency, reference, authorization, created}`. Partial captures allowed;
 *   above authorized minus captured → 422 `amount_exceeds_authorized`.
 * - `POST /v1/authorizations/:id/cancel {reference}` → 201 `{id:"can_…", object:"cancellation",
 *   status:"cancelled", amount (released), …}`; after a capture (ours, or one made at the PSP with another reference, as
 *   an operator's in a dashboard) → 422 `authorization_captured` with the authorization in `error.authorization`
 *   (`amount_captured`: what was captured), as Stripe's refusal carries the PaymentIntent.
 * - `POST /v1/authorizations/:id/refunds {amount, reference}` → 201 `{id:"re_…", object:"refund",
 *   status:"refunded", …}`; above captured minus refunded → 422 `amount_exceeds_captured`.
 * - `POST /v1/tokens {payment_method, reference}` → 201 `{id:"tok_…", object:"token", status:"active", reference,
 *   card: {brand, last4, exp_month, exp_year}}`: the card the method stands for (`pm_card_mastercard`,
 *   `pm_card_amex`, else a Visa ending 4242 expiring 12/2030; see `cardOfPaymentMethod`).
 * - Stored value (gift) cards, `gc_…` tokens (`simulator-gift-cards.ts`): `POST /v1/gift_cards {currency, reference,
 *   amount?}` (issue), `POST /v1/gift_cards/:token/balance {currency, reference, amount?}`, `…/loads {amount,
 *   currency, reference}` (reload, refund to the card), `…/status {status: active|inactive, currency, reference}`,
 *   `…/merge {source, currency, reference}` → 201 `{id:"gco_…", object:"gift_card_…", status:"succeeded"
 *   (a status change: the new status), gift_card, amount, balance, currency, reference, created}`; refusals 422
 *   `insufficient_balance`, `gift_card_inactive`, `currency_mismatch`. A card redeems as an authorization's
 *   `payment_method` (held at once; declined `insufficient_funds`); cancel and refund give it back.
 *   Control: `POST /_control/gift-cards {token, balance, currency, active?}`.
 * - `GET /v1/operations/:reference` → 200 the stored result of the operation with that `reference` (the
 *   bridge's operation id, also its idempotency key): the result object, the settled state of an async
 *   authorization, or the stored `{error}` body of a 422 refusal; 404 `not_found` if it never landed.
 *
 * Other refusals (422, landed and replayable): `authorization_cancelled`, `authorization_declined`, `authorization_requires_action`,
 * `authorization_pending`, `invalid_payment_method`. Not landed: 400 `invalid_request` (with `param`),
 * `invalid_json`, `idempotency_key_required`; 404 `not_found` (unknown authorization or route).
 *
 * Idempotency (Stripe's): every POST needs `Idempotency-Key` (400 without). The same key with the same
 * method, path and body replays the stored answer with `Idempotent-Replayed: true` and no new effect; with
 * different parameters → 422 `idempotency_conflict`; while the first is still running → 409
 * `idempotency_in_flight`. Only landed answers are stored (201s and 422 refusals).
 *
 * Async: `pm_async`, `async: true` or the `asyncRate` draw answer `pending`; after `asyncDelayMs` the
 * authorization settles and a webhook goes to `webhookUrl`: `{id:"evt_…", type, created, data:{object}}`
 * with `type` one of `authorization.succeeded`, `authorization.failed`, `authorization.cancelled`,
 * `capture.succeeded`, `refund.succeeded`, `token.created` and `object` the operation's result (with its
 * `reference`), signed `Simulator-Signature: t=<unix s>,v1=<hex HMAC-SHA256("<t>.<raw body>")>` (see
 * `signSimulatorPayload`). Retried with backoff until a 2xx. Synchronous operations send webhooks too
 * when `syncWebhooks` is on.
 *
 * Late facts (control, no auth), each sent as a signed webhook like the others (answer: `{event_id, object}`;
 * `duplicate: true` delivers it twice): `POST /_control/chargeback {reference, amount?, reason?,
 * reversed?}` → `chargeback.created` (or `chargeback.reversed`) with a `chargeback` object naming the
 * operation `reference` (a capture, sale or captured authorization; `amount` defaults to the captured
 * amount not refunded, `reason` to `fraudulent`); `POST /_control/refund-failure {reference, reason?}` →
 * `refund.failed` with the refund of that reference, `status: "failed"` and `failure_reason` (default
 * `expired_or_canceled_card`). 404 `not_found` when the reference names no such operation.
 * `POST /_control/late-approval {reference, amount?}` → `authorization.succeeded`: the declined card authorization
 * of that reference is approved after all (authorized, captured for a sale; its stored result and report
 * line follow): a success after the failure the merchant was told (409 when it was not declined). `amount`
 * approves less than was asked (a partial approval: held, or charged, and reported at that amount).
 *
 * Report (reconciliation's source, `simulator-report.ts`): `GET /v1/reports/lines?from=<ms>&to=<ms>&limit=<≤1000>&cursor=<c>`
 * (Bearer) → `{object:"list", data:[{id, type, status, reference, payment, object_id, amount, currency, fee,
 * net, created_ms}], has_more, next_cursor}`: one line per money movement in time order; `type` one of
 * `authorization`, `capture` (a sale too), `refund`, `cancellation`, `chargeback`, `chargeback_reversal`,
 * `refund_failure`; `status` `succeeded`, `failed` or `pending`. `GET /v1/reports/lines.csv?from=&to=`
 * streams the same window as CSV. Control: `POST /_control/report/discrepancy {kind, reference?, amount?,
 * currency?}` (`amount_mismatch`, `currency_mismatch`, `state_mismatch`, `unknown_payment`, `missing_line`)
 * and `POST /_control/report/synthesize {count, prefix, amount, currency, from, to}` (the benchmark's lines).
 *
 * Held answers (per operation, for scenes and tests of giving up): `POST /_control/hold {reference}` makes
 * every call about that `reference` (our operation id) land as usual but never answer: the operation's
 * POSTs (first send and replays) and `GET /v1/operations/:reference`, so the bridge sees timeouts and an
 * UNKNOWN it cannot resolve. `POST /_control/release {reference}` answers normally again and sends the
 * held operation's webhook (its PSP fact arrives late, as after a PSP incident).
 *
 * Control (no auth): `POST /_control/faults` (a `SimulatorFaults`), `GET /_control/faults`,
 * `POST /_control/down {mode:"503"|"reset"|false}` (an outage of every `/v1` call), `POST /_control/reset`
 * (forget state, idempotency and counters; faults and down mode stay), `GET /_control/counters`
 * (`SimulatorCounters`).
 */
import http from 'node:http';
import { AddressInfo, Socket } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { createSeededRandom } from './seeded-random';
import { RequestFault, SimulatorFaults, hasRequestFaults, parseFaults, pickLatencyMs, pickRequestFault } from './simulator-faults';
import { ApiResult, SimulatorSnapshot, SimulatorState } from './simulator-state';
import { GiftCards } from './simulator-gift-cards';
import { Discrepancy, REPORT_CSV_COLUMNS, SimulatorReport, reportCsvRow } from './simulator-report';
import { WebhookDispatcher } from './webhook-dispatcher';

/** Options of `startPspSimulator`. */
export interface PspSimulatorOptions {
  /** Port to listen on. Default 0 (any free port). */
  port?: number;
  /** Interface. Default `127.0.0.1`. */
  host?: string;
  /** The bearer token every `/v1` call must carry. */
  apiKey: string;
  /** Where webhooks go; none are sent without it. */
  webhookUrl?: string;
  /** HMAC key for `Simulator-Signature`. Default "" (set one: receivers refuse an empty secret). */
  webhookSecret?: string;
  /** Initial faults. Default none. */
  faults?: SimulatorFaults;
  /** RNG seed for faults and the async draw, so drills are reproducible. Default 1. */
  seed?: number;
  /** Probability in [0, 1] that an authorization goes async. Default 0. */
  asyncRate?: number;
  /** Delay before a pending authorization settles, in ms. Default 100. */
  asyncDelayMs?: number;
  /** Also send webhooks for synchronous operations. Default false. */
  syncWebhooks?: boolean;
  /** Webhook delivery attempts per event. Default 4. */
  webhookAttempts?: number;
  /** First webhook retry delay in ms, doubled per retry. Default 100. */
  webhookRetryBaseMs?: number;
}

/** Outage mode: every `/v1` call answers 503, or has its socket destroyed. */
export type DownMode = '503' | 'reset';

/** What the simulator did, to prove nothing was charged twice. */
export interface SimulatorCounters {
  /** Money effects (authorizations, captures, cancels, refunds, reauthorizations, tokens) per idempotency key; replays never count. */
  effects: Record<string, number>;
  maxEffectsPerKey: number;
  totalEffects: number;
  /** `/v1` requests received. */
  requests: number;
  /** Idempotent replays answered. */
  replays: number;
  /** Status inquiries received (`GET /v1/operations/:reference`), answered or not. */
  inquiries: number;
  /** Operations that ran (their effect is real) whose answer was never sent: the `commitThenTimeoutRate` fault. */
  unansweredCommits: number;
  /** `/v1` requests refused by outage mode (`setDown`: 503 or a reset socket). */
  outageRefusals: number;
  /** Webhook deliveries answered 2xx (a duplicate counts twice). */
  webhooksSent: number;
  /** Webhook deliveries given up after every attempt. */
  webhooksFailed: number;
}

/** A running simulator. */
export interface PspSimulator {
  /** `http://host:port`, no trailing slash. */
  readonly url: string;
  stop(): Promise<void>;
  setFaults(faults: SimulatorFaults): void;
  setDown(mode: DownMode | false): void;
  counters(): SimulatorCounters;
  /**
   * Status inquiries received about `reference` (answered or not; forgotten by `reset`): a test waits on its own
   * operation's inquiry with it, where the global `inquiries` count is moved by any other operation's.
   */
  inquiriesOf(reference: string): number;
  /** Forgets state, idempotency keys and counters (faults and down mode stay). */
  reset(): void;
  /** Completes the 3-D Secure challenge of authorization `id` as the customer would (`POST /3ds/:id`). */
  completeChallenge(id: string, result: 'authenticated' | 'failed'): Promise<{ status: number; body: unknown }>;
  /** Resolves when no webhook delivery or async settlement is under way. */
  webhooksIdle(): Promise<void>;
  /** Holds every answer about the operation `reference` (it still lands): see the module comment. */
  hold(reference: string): void;
  /** Answers about `reference` again and sends the webhook of what it did while held. */
  release(reference: string): void;
  /** Injects a discrepancy into the report (see `POST /_control/report/discrepancy`); returns an error message or the lines touched. */
  injectDiscrepancy(discrepancy: Discrepancy): ReturnType<SimulatorReport['inject']>;
  /** Adds `count` synthetic succeeded captures to the report (references `<prefix><i>`), spread over [from, to). */
  synthesizeReport(count: number, prefix: string, amount: number, currency: string, from: number, to: number): void;
  /** Lines in the report (hidden ones included). */
  reportSize(): number;
  /** The PSP's books now: every authorization and every landed operation's result by reference (a drill's ground truth). */
  snapshot(): SimulatorSnapshot;
}

interface IdempotencyRecord {
  /** `<method> <path>` and the raw body as received: a replay byte for byte matches without parsing. */
  route: string;
  text: string;
  inFlight: boolean;
  status: number;
  body: string;
}

const MAX_BODY_BYTES = 1 << 20;
const JSON_TYPE = 'application/json';

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const record = value as Record<string, unknown>;
    return `{${Object.keys(record)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(record[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * Whether a request with a used idempotency key carries the same parameters as the first: the same method
 * and path and the same JSON value (key order aside). The raw bodies are compared first, so the usual
 * replay (the same bytes) costs no canonical form; only differing bytes are compared as canonical JSON.
 */
function sameParameters(record: IdempotencyRecord, route: string, text: string, body: unknown): boolean {
  if (record.route !== route) return false;
  if (record.text === text) return true;
  const first = parseJson(record.text);
  return first.ok && canonicalJson(first.value) === canonicalJson(body);
}

function errorJson(code: string, message: string): string {
  return JSON.stringify({ error: { code, message } });
}

function send(res: http.ServerResponse, status: number, body: string, extra?: Record<string, string>): void {
  if (res.destroyed) return;
  const headers: Record<string, string | number> = { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(body) };
  if (extra) Object.assign(headers, extra);
  res.writeHead(status, headers);
  res.end(body);
}

function readBody(req: http.IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () => resolve(size > MAX_BODY_BYTES ? undefined : (chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)).toString('utf8')));
    req.on('error', () => resolve(undefined));
  });
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  if (text.length === 0) return { ok: true, value: {} };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Starts the simulator; resolves once it listens. */
export async function startPspSimulator(options: PspSimulatorOptions): Promise<PspSimulator> {
  const state = new SimulatorState();
  const report = new SimulatorReport();
  const random = createSeededRandom(options.seed ?? 1);
  const expectedAuth = Buffer.from(`Bearer ${options.apiKey}`, 'utf8');
  const asyncRate = options.asyncRate ?? 0;
  const asyncDelayMs = options.asyncDelayMs ?? 100;
  const dispatcher = options.webhookUrl
    ? new WebhookDispatcher({
        url: options.webhookUrl,
        secret: options.webhookSecret ?? '',
        attempts: options.webhookAttempts,
        retryBaseMs: options.webhookRetryBaseMs,
      })
    : undefined;

  let faults: SimulatorFaults = parseFaults(options.faults ?? {});
  let down: DownMode | false = false;
  let idempotency = new Map<string, IdempotencyRecord>();
  let effects = new Map<string, number>();
  let counters = { maxEffectsPerKey: 0, totalEffects: 0, requests: 0, replays: 0, inquiries: 0, unansweredCommits: 0, outageRefusals: 0 };
  /** Status inquiries by reference (`inquiriesOf`). */
  const inquiriesByReference = new Map<string, number>();
  const held = new Set<http.ServerResponse>();
  /** References whose answers are held; the value is the landed result's webhook, once there is one. */
  const heldReferences = new Map<string, { event: string; body: unknown } | null>();
  const sockets = new Set<Socket>();
  const settleTimers = new Set<NodeJS.Timeout>();

  function countEffect(key: string): void {
    const n = (effects.get(key) ?? 0) + 1;
    effects.set(key, n);
    counters.totalEffects += 1;
    if (n > counters.maxEffectsPerKey) counters.maxEffectsPerKey = n;
  }

  function sendEvent(type: string, object: unknown, forceDuplicate = false): string | undefined {
    if (!dispatcher) return undefined;
    const duplicate = forceDuplicate || ((faults.duplicateWebhookRate ?? 0) > 0 && random() < (faults.duplicateWebhookRate ?? 0));
    const event = { id: dispatcher.newEventId(), type, created: Math.floor(Date.now() / 1000), data: { object } };
    dispatcher.dispatch(event, { duplicate, outOfOrder: faults.outOfOrderWebhooks === true });
    return event.id;
  }

  /** `POST /_control/chargeback` and `/_control/refund-failure`: a late fact, sent as a signed webhook. */
  function injectLateFact(path: string, body: unknown, res: http.ServerResponse): void {
    const b = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
    if (typeof b.reference !== 'string' || b.reference.length === 0)
      return send(res, 400, errorJson('invalid_request', 'reference must be a non-empty string'));
    if (b.amount !== undefined && (typeof b.amount !== 'number' || !Number.isSafeInteger(b.amount)))
      return send(res, 400, errorJson('invalid_request', 'amount must be an integer of minor units'));
    if (b.reason !== undefined && typeof b.reason !== 'string') return send(res, 400, errorJson('invalid_request', 'reason must be a string'));
    const duplicate = b.duplicate === true;
    if (path === '/_control/chargeback') {
      const reversed = b.reversed === true;
      const view = state.chargeback(b.reference, b.amount as number | undefined, (b.reason as string | undefined) ?? 'fraudulent', reversed);
      if (view === undefined) return send(res, 404, errorJson('not_found', 'no captured operation with this reference'));
      if (typeof view === 'string') return send(res, 400, errorJson('invalid_request', view));
      report.lateFact(reversed ? 'chargeback_reversal' : 'chargeback', {
        reference: view.reference,
        payment: view.authorization,
        objectId: view.id,
        amount: view.amount,
        currency: view.currency,
      });
      const id = sendEvent(reversed ? 'chargeback.reversed' : 'chargeback.created', view, duplicate);
      return send(res, 200, JSON.stringify({ event_id: id ?? null, object: view }));
    }
    const view = state.refundFailure(b.reference, (b.reason as string | undefined) ?? 'expired_or_canceled_card');
    if (view === undefined) return send(res, 404, errorJson('not_found', 'no refund with this reference'));
    report.lateFact('refund_failure', {
      reference: view.reference,
      payment: view.authorization,
      objectId: view.id,
      amount: view.amount,
      currency: view.currency,
    });
    const id = sendEvent('refund.failed', view, duplicate);
    return send(res, 200, JSON.stringify({ event_id: id ?? null, object: view }));
  }

  function scheduleSettlement(authorizationId: string): void {
    const timer = setTimeout(() => {
      settleTimers.delete(timer);
      const settled = state.settle(authorizationId);
      if (settled) report.settle(authorizationId, settled.view.status === 'declined' ? 'failed' : 'succeeded');
      if (settled) sendEvent(settled.event, settled.view);
    }, asyncDelayMs);
    settleTimers.add(timer);
  }

  /**
   * `GET /v1/reports/lines?from=&to=&cursor=&limit=` (JSON page) or `GET /v1/reports/lines.csv?from=&to=`
   * (the whole window as CSV, written page by page).
   */
  function serveReport(req: http.IncomingMessage, res: http.ServerResponse, csv: boolean): void {
    const query = new URL(req.url ?? '/', 'http://simulator').searchParams;
    const from = Number(query.get('from') ?? '0');
    const to = Number(query.get('to') ?? String(Number.MAX_SAFE_INTEGER));
    const limit = Math.min(1000, Math.max(1, Number(query.get('limit') ?? '100')));
    const cursorText = query.get('cursor');
    const cursor = cursorText ? Number(cursorText) : undefined;
    if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || !Number.isSafeInteger(limit) || (cursor !== undefined && !Number.isSafeInteger(cursor)))
      return send(res, 400, errorJson('invalid_request', 'from, to, limit and cursor must be integers'));
    if (!csv) {
      const page = report.page(from, to, cursor, limit);
      return send(res, 200, JSON.stringify({ object: 'list', data: page.data, has_more: page.hasMore, next_cursor: page.hasMore ? String(page.next) : null }));
    }
    res.writeHead(200, { 'content-type': 'text/csv' });
    res.write(`${REPORT_CSV_COLUMNS.join(',')}\n`);
    let next: number | undefined = cursor;
    const writePage = (): void => {
      const page = report.page(from, to, next, 1000);
      const text = page.data.map((l) => `${reportCsvRow(l)}\n`).join('');
      next = page.next;
      const more = res.write(text);
      if (!page.hasMore) return void res.end();
      if (more) setImmediate(writePage);
      else res.once('drain', writePage);
    };
    writePage();
  }

  /** Never answers; the client's timeout (or our stop) ends it. */
  function hold(res: http.ServerResponse): void {
    held.add(res);
    res.on('close', () => held.delete(res));
  }

  function authorized(req: http.IncomingMessage): boolean {
    const header = req.headers.authorization;
    if (typeof header !== 'string') return false;
    const given = Buffer.from(header, 'utf8');
    return given.length === expectedAuth.length && timingSafeEqual(given, expectedAuth);
  }

  function counterSnapshot(): SimulatorCounters {
    return {
      effects: Object.fromEntries(effects),
      maxEffectsPerKey: counters.maxEffectsPerKey,
      totalEffects: counters.totalEffects,
      requests: counters.requests,
      replays: counters.replays,
      inquiries: counters.inquiries,
      unansweredCommits: counters.unansweredCommits,
      outageRefusals: counters.outageRefusals,
      webhooksSent: dispatcher?.sent ?? 0,
      webhooksFailed: dispatcher?.failed ?? 0,
    };
  }

  /** `encoded`: the reference as it stands in the inquiry's path. */
  function countInquiry(encoded: string): void {
    let reference = encoded;
    try {
      reference = decodeURIComponent(encoded);
    } catch {
      // A malformed escape: counted under the path's text as it came.
    }
    inquiriesByReference.set(reference, (inquiriesByReference.get(reference) ?? 0) + 1);
  }

  function reset(): void {
    inquiriesByReference.clear();
    state.clear();
    report.clear();
    idempotency = new Map();
    effects = new Map();
    counters = { maxEffectsPerKey: 0, totalEffects: 0, requests: 0, replays: 0, inquiries: 0, unansweredCommits: 0, outageRefusals: 0 };
    if (dispatcher) {
      dispatcher.sent = 0;
      dispatcher.failed = 0;
    }
  }

  function holdReference(reference: string): void {
    if (!heldReferences.has(reference)) heldReferences.set(reference, null);
  }

  function releaseReference(reference: string): void {
    const landed = heldReferences.get(reference);
    heldReferences.delete(reference);
    if (landed) sendEvent(landed.event, landed.body);
  }

  function handleControl(method: string, path: string, text: string, res: http.ServerResponse): void {
    const parsed = parseJson(text);
    if (!parsed.ok) return send(res, 400, errorJson('invalid_json', 'body is not JSON'));
    const body = parsed.value;
    if (method === 'GET' && path === '/_control/counters') return send(res, 200, JSON.stringify(counterSnapshot()));
    if (method === 'GET' && path === '/_control/faults') return send(res, 200, JSON.stringify(faults));
    if (method === 'POST' && path === '/_control/faults') {
      try {
        faults = parseFaults(body);
      } catch (err) {
        return send(res, 400, errorJson('invalid_request', (err as Error).message));
      }
      return send(res, 200, JSON.stringify(faults));
    }
    if (method === 'POST' && path === '/_control/down') {
      const mode = typeof body === 'object' && body !== null ? (body as Record<string, unknown>).mode : undefined;
      if (mode !== '503' && mode !== 'reset' && mode !== false) return send(res, 400, errorJson('invalid_request', 'mode must be "503", "reset" or false'));
      down = mode;
      return send(res, 200, JSON.stringify({ mode: down }));
    }
    if (method === 'POST' && (path === '/_control/chargeback' || path === '/_control/refund-failure')) return injectLateFact(path, body, res);
    if (method === 'POST' && path === '/_control/late-approval') {
      const b = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
      if (typeof b.reference !== 'string' || b.reference.length === 0)
        return send(res, 400, errorJson('invalid_request', 'reference must be a non-empty string'));
      if (b.amount !== undefined && typeof b.amount !== 'number') return send(res, 400, errorJson('invalid_request', 'amount must be an integer'));
      const approved = state.approveDeclined(b.reference, b.amount);
      if (approved === 'not_found') return send(res, 404, errorJson('not_found', 'no authorization with this reference'));
      if (approved === 'invalid_amount')
        return send(res, 400, errorJson('invalid_request', 'amount must be a positive integer no larger than the amount asked'));
      if (typeof approved === 'string') return send(res, 409, errorJson(approved, 'only a declined card authorization can be approved late'));
      report.recordResult(approved, approved.status === 'captured');
      const id = sendEvent('authorization.succeeded', approved);
      return send(res, 200, JSON.stringify({ event_id: id ?? null, object: approved }));
    }
    if (method === 'POST' && (path === '/_control/hold' || path === '/_control/release')) {
      const reference = typeof body === 'object' && body !== null ? (body as Record<string, unknown>).reference : undefined;
      if (typeof reference !== 'string' || reference.length === 0) return send(res, 400, errorJson('invalid_request', 'reference must be a non-empty string'));
      if (path === '/_control/hold') holdReference(reference);
      else releaseReference(reference);
      return send(res, 200, JSON.stringify({ reference, held: heldReferences.has(reference) }));
    }
    if (method === 'POST' && path === '/_control/report/discrepancy') {
      const parsedDiscrepancy = parseDiscrepancy(body);
      if (typeof parsedDiscrepancy === 'string') return send(res, 400, errorJson('invalid_request', parsedDiscrepancy));
      const touched = report.inject(parsedDiscrepancy);
      if (typeof touched === 'string') return send(res, 404, errorJson('not_found', touched));
      return send(res, 200, JSON.stringify({ lines: touched }));
    }
    if (method === 'POST' && path === '/_control/report/synthesize') {
      const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
      const ints = ['count', 'amount', 'from', 'to'].every((k) => Number.isSafeInteger(b[k]));
      if (!ints || typeof b.prefix !== 'string' || typeof b.currency !== 'string')
        return send(res, 400, errorJson('invalid_request', 'count, amount, from, to (integers), prefix and currency (strings) are required'));
      report.synthesize(b.count as number, b.prefix, b.amount as number, b.currency, b.from as number, b.to as number);
      return send(res, 200, JSON.stringify({ lines: report.size }));
    }
    if (method === 'POST' && path === '/_control/gift-cards') {
      const card = GiftCards.control((typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>);
      if (typeof card === 'string') return send(res, 400, errorJson('invalid_request', card));
      state.giftCards.set(card.token, card.balance, card.currency, card.active);
      return send(res, 200, JSON.stringify(card));
    }
    if (method === 'POST' && path === '/_control/reset') {
      reset();
      return send(res, 200, '{"reset":true}');
    }
    return send(res, 404, errorJson('not_found', 'no such control route'));
  }

  /**
   * The 3-D Secure challenge page of an authorization in `requires_action` (the customer's browser, no API
   * key, as at a real issuer's ACS): `GET /3ds/:id` shows it; `POST /3ds/:id {result: authenticated|failed}`
   * (JSON, or the page's form) completes it, settles the authorization and sends its webhook.
   */
  function handleChallenge(method: string, path: string, text: string, res: http.ServerResponse): void {
    const id = decodeURIComponent(path.slice('/3ds/'.length));
    if (method === 'GET') {
      const page = `<!doctype html><title>3-D Secure</title><h1>Simulator 3-D Secure challenge</h1><form method="post"><button name="result" value="authenticated">Authenticate</button><button name="result" value="failed">Fail</button></form>`;
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      return void res.end(page);
    }
    if (method !== 'POST') return send(res, 405, errorJson('invalid_request', 'GET or POST'));
    const parsed = text.trim().startsWith('{') ? parseJson(text) : { ok: true as const, value: Object.fromEntries(new URLSearchParams(text)) };
    const result = parsed.ok && typeof parsed.value === 'object' && parsed.value !== null ? (parsed.value as Record<string, unknown>).result : undefined;
    if (result !== 'authenticated' && result !== 'failed') return send(res, 400, errorJson('invalid_request', 'result must be authenticated or failed'));
    const done = state.completeChallenge(id, result);
    if (done === 'not_found') return send(res, 404, errorJson('not_found', 'no such authorization'));
    if (typeof done === 'string') return send(res, 409, errorJson(done, 'the authorization does not wait for a 3-D Secure challenge'));
    report.settle(id, done.view.status === 'declined' ? 'failed' : 'succeeded');
    sendEvent(done.event, done.view);
    return send(res, 200, JSON.stringify(done.view));
  }

  /** Routes one `/v1` call to the state; undefined for an unknown route. */
  function route(method: string, segments: string[], body: unknown): ApiResult | undefined {
    // segments: ['v1', resource, id?, action?]
    const [, resource, id, action] = segments;
    if (resource === 'authorizations') {
      if (segments.length === 2 && method === 'POST') {
        const forceAsync = asyncRate > 0 && random() < asyncRate;
        return state.run((b) => state.authorize(b, forceAsync), body);
      }
      if (segments.length === 3 && method === 'GET') return state.getAuthorization(id);
      if (segments.length === 4 && method === 'POST') {
        switch (action) {
          case 'reauthorize':
            return state.run((b) => state.reauthorize(id, b), body);
          case 'captures':
            return state.run((b) => state.capture(id, b), body);
          case 'cancel':
            return state.run((b) => state.cancel(id, b), body);
          case 'refunds':
            return state.run((b) => state.refund(id, b), body);
          default:
            return undefined;
        }
      }
      return undefined;
    }
    if (resource === 'tokens' && segments.length === 2 && method === 'POST') return state.run((b) => state.tokenize(b), body);
    if (resource === 'gift_cards' && method === 'POST') {
      if (segments.length === 2) return state.run((b) => state.giftCardIssue(b), body);
      if (segments.length !== 4 || !id.startsWith('gc_')) return undefined;
      switch (action) {
        case 'balance':
          return state.run((b) => state.giftCardBalance(id, b), body);
        case 'loads':
          return state.run((b) => state.giftCardLoad(id, b), body);
        case 'status':
          return state.run((b) => state.giftCardStatus(id, b), body);
        case 'merge':
          return state.run((b) => state.giftCardMerge(id, b), body);
        default:
          return undefined;
      }
    }
    return undefined;
  }

  async function handleApi(req: http.IncomingMessage, res: http.ServerResponse, method: string, path: string, text: string): Promise<void> {
    counters.requests += 1;
    if (method === 'GET' && path.startsWith('/v1/operations/')) {
      counters.inquiries += 1;
      countInquiry(path.slice('/v1/operations/'.length));
    }
    if (down !== false) counters.outageRefusals += 1;
    if (down === '503') return send(res, 503, errorJson('service_unavailable', 'the PSP is down'));
    if (down === 'reset') {
      req.socket.destroy();
      return;
    }
    if (!authorized(req)) return send(res, 401, errorJson('unauthorized', 'missing or wrong api key'));
    if (method === 'GET' && (path === '/v1/reports/lines' || path === '/v1/reports/lines.csv')) return serveReport(req, res, path.endsWith('.csv'));

    let key: string | undefined;
    let body: unknown = undefined;
    if (method === 'POST') {
      const header = req.headers['idempotency-key'];
      key = typeof header === 'string' && header.length > 0 && header.length <= 255 ? header : undefined;
      if (key === undefined) return send(res, 400, errorJson('idempotency_key_required', 'every POST needs an Idempotency-Key header'));
      const parsed = parseJson(text);
      if (!parsed.ok) return send(res, 400, errorJson('invalid_json', 'body is not JSON'));
      body = parsed.value;
      const record = idempotency.get(key);
      const reference = (body as Record<string, unknown> | null)?.reference;
      if (record && typeof reference === 'string' && heldReferences.has(reference)) return hold(res);
      if (record) {
        if (record.inFlight) return send(res, 409, errorJson('idempotency_in_flight', 'a request with this key is in flight'));
        if (!sameParameters(record, `${method} ${path}`, text, body))
          return send(res, 422, errorJson('idempotency_conflict', 'this key was used with other parameters'));
        counters.replays += 1;
        return send(res, record.status, record.body, { 'idempotent-replayed': 'true' });
      }
      idempotency.set(key, { route: `${method} ${path}`, text, inFlight: true, status: 0, body: '' });
    }
    const release = (): void => {
      if (key !== undefined) idempotency.delete(key);
    };

    if (faults.latencyMs) {
      await sleep(pickLatencyMs(faults, random()));
      if (res.destroyed) return release();
    }
    let fault: RequestFault = 'none';
    if (hasRequestFaults(faults)) fault = pickRequestFault(faults, random());
    switch (fault) {
      case 'none':
      case 'commit_then_timeout':
        break;
      case '503':
        release();
        return send(res, 503, errorJson('service_unavailable', 'injected 503'));
      case '429':
        release();
        return send(res, 429, errorJson('rate_limited', 'injected 429'), { 'retry-after': '1' });
      case 'reset':
        release();
        req.socket.destroy();
        return;
      case 'timeout':
        release();
        return hold(res);
    }

    if (method === 'GET' && path.startsWith('/v1/operations/')) {
      const reference = decodeURIComponent(path.slice('/v1/operations/'.length));
      if (fault === 'commit_then_timeout' || heldReferences.has(reference)) return hold(res);
      const stored = state.operation(reference);
      if (!stored) return send(res, 404, errorJson('not_found', 'no operation with this reference'));
      return send(res, 200, stored.body);
    }
    const segments = path.slice(1).split('/').map(decodeURIComponent);
    const result = route(method, segments, body);
    if (!result) {
      release();
      return send(res, 404, errorJson('not_found', 'no such route'));
    }
    const json = JSON.stringify(result.body);
    if (key !== undefined) {
      if (result.landed) idempotency.set(key, { route: `${method} ${path}`, text, inFlight: false, status: result.status, body: json });
      else release();
    }
    if (result.landed && typeof (body as Record<string, unknown>).reference === 'string') {
      state.recordOperation((body as Record<string, string>).reference, result.status, json);
    }
    if (result.effect && key !== undefined) countEffect(key);
    if (result.effect) report.recordResult(result.body, (body as Record<string, unknown>).capture === true);
    if (result.pendingAuthorization !== undefined) scheduleSettlement(result.pendingAuthorization);
    else if (result.event !== undefined && options.syncWebhooks === true) sendEvent(result.event, result.body);
    const bodyReference = (body as Record<string, unknown> | undefined)?.reference;
    if (typeof bodyReference === 'string' && heldReferences.has(bodyReference)) {
      if (result.landed && result.event !== undefined) heldReferences.set(bodyReference, { event: result.event, body: result.body });
      return hold(res);
    }
    if (fault === 'commit_then_timeout') {
      if (result.landed) counters.unansweredCommits += 1;
      return hold(res);
    }
    send(res, result.status, json);
  }

  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const method = req.method ?? 'GET';
    void readBody(req)
      .then(async (text) => {
        if (text === undefined) return send(res, 413, errorJson('invalid_request', 'body too large'));
        if (path.startsWith('/_control/')) return handleControl(method, path, text, res);
        if (path.startsWith('/3ds/')) return handleChallenge(method, path, text, res);
        if (path.startsWith('/v1/')) return handleApi(req, res, method, path, text);
        return send(res, 404, errorJson('not_found', 'no such route'));
      })
      .catch(() => send(res, 500, errorJson('internal_error', 'simulator error')));
  });
  // Keep-alive friendly: clients (the bridge's pooled agent) keep sockets open between bursts.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  state.baseUrl = `http://${host}:${address.port}`;

  return {
    url: `http://${host}:${address.port}`,
    async stop() {
      for (const timer of settleTimers) clearTimeout(timer);
      settleTimers.clear();
      dispatcher?.stop();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
    setFaults(next: SimulatorFaults) {
      faults = parseFaults(next);
    },
    setDown(mode: DownMode | false) {
      down = mode;
    },
    counters: counterSnapshot,
    inquiriesOf: (reference: string) => inquiriesByReference.get(reference) ?? 0,
    reset,
    hold: holdReference,
    release: releaseReference,
    injectDiscrepancy: (d: Discrepancy) => report.inject(d),
    synthesizeReport: (count, prefix, amount, currency, from, to) => report.synthesize(count, prefix, amount, currency, from, to),
    reportSize: () => report.size,
    snapshot: () => state.snapshot(),
    async completeChallenge(id: string, result: 'authenticated' | 'failed') {
      const response = await fetch(`${state.baseUrl}/3ds/${encodeURIComponent(id)}`, {
        method: 'POST',
        headers: { 'content-type': JSON_TYPE },
        body: JSON.stringify({ result }),
      });
      return { status: response.status, body: (await response.json()) as unknown };
    },
    async webhooksIdle() {
      while (settleTimers.size > 0) await sleep(10);
      await dispatcher?.idle();
    },
  };
}

/** A `POST /_control/report/discrepancy` body, or what is wrong with it. */
function parseDiscrepancy(body: unknown): Discrepancy | string {
  const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const reference = typeof b.reference === 'string' && b.reference.length > 0 ? b.reference : undefined;
  const amount = Number.isSafeInteger(b.amount) && (b.amount as number) > 0 ? (b.amount as number) : undefined;
  const currency = typeof b.currency === 'string' && /^[A-Z]{3}$/.test(b.currency) ? b.currency : undefined;
  switch (b.kind) {
    case 'amount_mismatch':
      return reference && amount !== undefined ? { kind: b.kind, reference, amount } : 'amount_mismatch needs reference and amount (a positive integer)';
    case 'currency_mismatch':
      return reference && currency ? { kind: b.kind, reference, currency } : 'currency_mismatch needs reference and currency (ISO 4217)';
    case 'state_mismatch':
      return reference ? { kind: b.kind, reference, amount, currency } : 'state_mismatch needs reference';
    case 'unknown_payment':
      return amount !== undefined && currency ? { kind: b.kind, amount, currency } : 'unknown_payment needs amount and currency';
    case 'missing_line':
      return reference ? { kind: b.kind, reference } : 'missing_line needs reference';
    default:
      return 'kind must be amount_mismatch, currency_mismatch, state_mismatch, unknown_payment or missing_line';
  }
}
