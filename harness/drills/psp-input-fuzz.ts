import { PaymentBridgeError } from '../../src/errors/payment-bridge-error';
import { GatewayError } from '../../src/errors/gateway-error';
import { GATEWAY_TYPES, GatewayType, gatewayDefinition, transformerFor } from '../../src/gateways/gateway-registry';
import { GatewayOutcome, GatewayResponse, SkippedWebhookItem } from '../../src/gateways/gateway-adapter';
import { withSafeReason } from '../../src/gateways/outcome-text';
import { MAX_MINOR_AMOUNT } from '../../src/money/minor-units';
import { PspRecordPage, ReconciliationHttp } from '../../src/reconciliation/psp-record';
import { checkWebhookItem } from '../../src/webhooks/webhook-item-check';
import { webhookDigestKeys } from '../../src/webhooks/webhook-event-key';
import { seededRandom } from '../workload/payment-scenarios';
import { HostileCase, HostileJson, Json, MAX_HOSTILE_BODY_BYTES } from './hostile-json';
import {
  ADYEN_REPORT_SEED,
  ANSWER_SEEDS,
  CYBERSOURCE_DETAILS_SEED,
  CYBERSOURCE_PARTIAL_SEARCH,
  FUZZ_GATEWAYS,
  RECONCILIATION_PAGE_SEEDS,
  RECONCILIATION_WINDOW,
  WEBHOOK_SEEDS,
  fuzzContext,
} from './psp-fuzz-seeds';
import { TEST_PANS, panNeedles } from './test-card-numbers';

/**
 * The PSP input fuzz: seeded hostile variants of what PSPs send the bridge (answers to its requests and status
 * inquiries, verified webhooks, reconciliation pages and report lines), fed to the pure code that reads them, in
 * process: each gateway's `parseResponse`, `parseStatusResponse` (and its inquiry's follow-up), `parseWebhook`
 * followed by the webhook route's item check, and its reconciliation reader over a stub HTTP. Every case must
 * end in a value or an error of the taxonomy (`src/errors/`), never another throw; no planted card number may
 * come out in an outcome as the recorder stores it, a queued webhook item, a reconciliation record or set-aside
 * line, or an error's text; an error's text stays short (it is logged and, as a gateway code, recorded); money
 * read stays integer minor units; and one hostile line of a reconciliation page, or one hostile field of a
 * webhook batch's item, never stops the lines or items beside it. Bounded by construction: no body above
 * `MAX_HOSTILE_BODY_BYTES`, no await on anything but the stubs.
 */

/** The PSP inputs the fuzz reads. */
export const PSP_SURFACES = ['answer', 'inquiry', 'webhook', 'reconciliation'] as const;
export type PspSurface = (typeof PSP_SURFACES)[number];

/** Longest error text (message, gateway code) a hostile input may produce: a PSP's text is never echoed whole. */
export const MAX_ERROR_TEXT = 1024;

export interface PspFuzzRow {
  surface: PspSurface;
  gateway: GatewayType;
  cases: number;
  /** Read into a value (an outcome, events, records): possibly with items or lines set aside. */
  read: number;
  /** Refused with an error of the taxonomy. */
  refused: number;
}

export interface PspFuzzViolation {
  /** The case's number: the seed and this replay it. */
  n: number;
  surface: PspSurface;
  gateway: GatewayType;
  /** The mutation and where it was made. */
  kind: string;
  path: string;
  problem: string;
}

export interface PspFuzzReport {
  cases: number;
  elapsedMs: number;
  /** The slowest case (a bound on what one hostile input costs, not an assertion). */
  slowest: { ms: number; what: string };
  rows: PspFuzzRow[];
  violations: PspFuzzViolation[];
}

/** Gateways whose definition reads reconciliation, in registry order. */
const RECONCILABLE: readonly GatewayType[] = GATEWAY_TYPES.filter((t) => gatewayDefinition(t).reconciliation !== undefined);

const NEEDLES = panNeedles();
/** A string holding a planted number holds the first four digits of one, ASCII or full-width: a cheap first test. */
const PREFIXES = [...new Set(TEST_PANS.map((p) => p.slice(0, 4)))].flatMap((p) => [p, p.replace(/[0-9]/g, (d) => String.fromCharCode(0xff10 + Number(d)))]);

function holdsPan(text: string): boolean {
  return PREFIXES.some((p) => text.includes(p)) && NEEDLES.some((n) => text.includes(n));
}

/**
 * The first place in `value` (keys, strings and numbers, walked without recursion: a card number sent as a number
 * is kept as its digits) holding a planted card number, or null.
 * `exempt`: paths left out (a PSP's own identifiers, kept whatever they look like: see `checkWebhookItem`).
 */
export function panIn(value: unknown, exempt: ReadonlySet<string> = new Set()): string | null {
  const stack: Array<[unknown, string]> = [[value, '']];
  while (stack.length > 0) {
    const [v, path] = stack.pop() as [unknown, string];
    if (typeof v === 'string' || typeof v === 'number') {
      if (holdsPan(String(v))) return path === '' ? '(the value)' : path;
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    for (const [k, x] of Object.entries(v)) {
      const at = path === '' ? k : `${path}.${k}`;
      if (holdsPan(k)) return `${at} (a name)`;
      if (!exempt.has(at)) stack.push([x, at]);
    }
  }
  return null;
}

/** What is wrong with a thrown value: not of the taxonomy, a card number or an unbounded text in it; null when nothing. */
export function errorProblem(err: unknown): string | null {
  if (!(err instanceof PaymentBridgeError)) {
    const what = err instanceof Error ? `${err.constructor.name}: ${err.message.slice(0, 120)}` : typeof err;
    return `threw outside the taxonomy (${holdsPan(what) ? 'a message holding a card number' : what})`;
  }
  const details = err instanceof GatewayError ? { ...err.details, cause: undefined } : {};
  const texts: Record<string, unknown> = { message: err.message, ...details };
  const pan = panIn(texts);
  if (pan !== null) return `${err.constructor.name} holds a card number in ${pan}`;
  if (err.message.length > MAX_ERROR_TEXT) return `${err.constructor.name} message of ${err.message.length} characters`;
  const code = err instanceof GatewayError ? err.details.gatewayCode : undefined;
  if (code !== undefined && code.length > MAX_ERROR_TEXT) return `${err.constructor.name} gateway code of ${code.length} characters`;
  return null;
}

/**
 * Left out of an outcome's scan: the PSP's own identifiers (ours by construction in an answer to our request,
 * kept as they are, as `checkWebhookItem` keeps one naming our operation), and the customer action the PSP
 * hands the storefront (its object and URL go as sent: masking digit runs in them would corrupt a voucher's or
 * a bank transfer's numbers; see docs/BENCHMARKS.md, "Fuzz").
 */
const OUTCOME_IDENTIFIERS: ReadonlySet<string> = new Set([
  'gatewayReference',
  'newGatewayKey',
  'storedToken',
  'action.psp_action',
  'action.url',
  'action.client_secret',
]);
/** The PSP's own identifiers of a reconciliation record (its line id, its references), never scanned by the readers. */
const RECORD_IDENTIFIERS: ReadonlySet<string> = new Set(['lineId', 'pspReference', 'modificationReference']);

/** Whether `value` is absent or an amount the bridge handles: integer minor units, 0 to `MAX_MINOR_AMOUNT`. */
function isMinorUnits(value: unknown): boolean {
  return value === undefined || (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= MAX_MINOR_AMOUNT);
}

/** The latest time a JavaScript Date holds: a time past it throws wherever it is written (`toISOString`). */
const LATEST_DATE_MS = 8.64e15;

/** Whether `value` is absent or a time a Date can hold (after 1970 with `positive`). */
function isTime(value: unknown, positive: boolean): boolean {
  return value === undefined || (typeof value === 'number' && Number.isSafeInteger(value) && Math.abs(value) <= LATEST_DATE_MS && (!positive || value > 0));
}

/** What is wrong with an outcome as the recorder would store it; null when nothing. */
function outcomeProblem(outcome: GatewayOutcome | null): string | null {
  if (outcome === null) return null;
  const stored = withSafeReason(outcome);
  const pan = panIn(stored, OUTCOME_IDENTIFIERS);
  if (pan !== null) return `outcome holds a card number in ${pan}`;
  // The PSP's text an outcome carries is recorded and sent to the OMS: none of it whole when it is megabytes.
  for (const key of ['gatewayStatus', 'reason'] as const) {
    const text = stored[key];
    if (text !== undefined && text.length > MAX_ERROR_TEXT) return `outcome ${key} of ${text.length} characters`;
  }
  if (!isMinorUnits(stored.amount)) return `outcome amount ${String(stored.amount)} is no integer of minor units`;
  for (const key of ['authorizedAt', 'captureBefore', 'actionExpiresAt'] as const) {
    if (!isTime(stored[key], true)) return `outcome ${key} ${String(stored[key])} is no time a Date holds`;
  }
  return null;
}

/** A seeded PSP input fuzz over the surfaces asked (all by default). */
export async function runPspInputFuzz(options: {
  seed: number;
  cases: number;
  surfaces?: readonly PspSurface[];
  log?: (line: string) => void;
}): Promise<PspFuzzReport> {
  const random = seededRandom(options.seed);
  const hostile = new HostileJson(random);
  const surfaces = options.surfaces ?? PSP_SURFACES;
  const rows = new Map<string, PspFuzzRow>();
  const violations: PspFuzzViolation[] = [];
  const slowest = { ms: 0, what: '' };
  const started = performance.now();
  for (let n = 0; n < options.cases; n += 1) {
    if (n > 0 && n % 2000 === 0) options.log?.(`  ${n}/${options.cases} PSP inputs read`);
    const surface = hostile.pick(surfaces);
    const gateway = hostile.pick(surface === 'reconciliation' ? RECONCILABLE : GATEWAY_TYPES);
    const row = rows.get(`${surface} ${gateway}`) ?? { surface, gateway, cases: 0, read: 0, refused: 0 };
    rows.set(`${surface} ${gateway}`, row);
    row.cases += 1;
    const t0 = performance.now();
    const result = await oneCase(hostile, surface, gateway);
    const ms = performance.now() - t0;
    if (ms > slowest.ms) Object.assign(slowest, { ms, what: `#${n} ${surface} ${gateway} ${result.hostile.kind} at ${result.hostile.path || 'the body'}` });
    if (result.refused) row.refused += 1;
    else row.read += 1;
    for (const problem of result.problems) violations.push({ n, surface, gateway, kind: result.hostile.kind, path: result.hostile.path, problem });
  }
  return {
    cases: options.cases,
    elapsedMs: performance.now() - started,
    slowest,
    rows: [...rows.values()].sort((a, b) => a.surface.localeCompare(b.surface) || a.gateway.localeCompare(b.gateway)),
    violations,
  };
}

interface CaseResult {
  hostile: HostileCase;
  refused: boolean;
  problems: string[];
}

function oneCase(hostile: HostileJson, surface: PspSurface, gateway: GatewayType): Promise<CaseResult> {
  switch (surface) {
    case 'answer':
    case 'inquiry':
      return Promise.resolve(answerCase(hostile, surface, gateway));
    case 'webhook':
      return webhookCase(hostile, gateway);
    case 'reconciliation':
      return gateway === 'adyen' ? adyenReportCase(hostile) : reconciliationPageCase(hostile, gateway);
  }
}

const ODD_STATUSES = [0, 100, 200, 201, 202, 204, 301, 400, 401, 402, 403, 404, 409, 410, 422, 424, 429, 500, 502, 503, 504, 599, 999];

/** Headers as a PSP (or a proxy in front of it) may send them: odd retry advice, odd flags, a card number. */
function oddHeaders(hostile: HostileJson): Record<string, string> {
  const value = hostile.pick([
    '99999999999999999999',
    '-1',
    '1e400',
    'Wed, 21 Oct 2015 07:28:00 GMT',
    'x'.repeat(10_000),
    '',
    'TRUE ',
    'true, false',
    hostile.pan(),
  ]);
  const name = hostile.pick(['retry-after', 'stripe-should-retry', 'transient-error', 'content-type', 'request-id', 'idempotency-key']);
  return { [name]: value };
}

function answerCase(hostile: HostileJson, surface: 'answer' | 'inquiry', gateway: GatewayType): CaseResult {
  const config = FUZZ_GATEWAYS[gateway];
  const transformer = transformerFor(gateway);
  const command = hostile.pick(transformer.supports);
  const ctx = fuzzContext(gateway, command, hostile.random() < 0.3);
  const seed = hostile.pick(ANSWER_SEEDS[gateway]);
  const followUp = surface === 'inquiry' && transformer.statusFollowUp !== undefined && hostile.random() < 0.4;
  const made = hostile.variant(followUp ? CYBERSOURCE_DETAILS_SEED : seed.body);
  const response: GatewayResponse = {
    status: hostile.random() < 0.85 ? (followUp ? 200 : seed.status) : hostile.pick(ODD_STATUSES),
    headers: { 'content-type': 'application/json', ...(seed.headers ?? {}), ...(hostile.random() < 0.2 ? oddHeaders(hostile) : {}) },
    body: made.body.toString('utf8'),
    elapsedMs: 1,
  };
  try {
    let outcome: GatewayOutcome | null;
    if (surface === 'answer') outcome = transformer.parseResponse(ctx, response, config);
    else if (followUp && transformer.statusFollowUp) {
      // The search found a partial approval without its amount: the hostile answer is the transaction's details.
      const authorizing = fuzzContext(gateway, hostile.pick(['authorize', 'sale', 'revalidate'] as const), false);
      const firstResponse: GatewayResponse = { status: 201, headers: {}, body: JSON.stringify(CYBERSOURCE_PARTIAL_SEARCH), elapsedMs: 1 };
      const firstOutcome = transformer.parseStatusResponse(authorizing, firstResponse, config);
      if (firstOutcome === null) throw new Error('the partial search seed found nothing');
      const first = { outcome: firstOutcome, response: firstResponse };
      const request = transformer.statusFollowUp.buildRequest(authorizing, first, config);
      outcome = request === null ? firstOutcome : transformer.statusFollowUp.parseResponse(authorizing, first, response, config);
    } else outcome = transformer.parseStatusResponse(ctx, response, config);
    const problem = outcomeProblem(outcome);
    return { hostile: made, refused: false, problems: problem === null ? [] : [problem] };
  } catch (err) {
    const problem = errorProblem(err);
    return { hostile: made, refused: true, problems: problem === null ? [] : [problem] };
  }
}

/** Where a webhook's items are, per gateway: a hostile field inside one must leave the others read. */
function webhookItems(gateway: GatewayType, seed: Json): Array<readonly string[]> {
  const body = seed as { notificationItems?: unknown[]; payload?: unknown[] };
  if (gateway === 'adyen' || gateway === 'adyen-stored-value')
    return (body.notificationItems ?? []).map((_item, k) => ['notificationItems', String(k), 'NotificationRequestItem']);
  if (gateway === 'cybersource') return (body.payload ?? []).map((_entry, k) => ['payload', String(k)]);
  return [];
}

/** Nothing is ours: an item holding a card number as an identifier must then be skipped, never queued. */
const NOTHING_OURS = { hasOperation: () => Promise.resolve(false), operationOfReference: () => Promise.resolve(null) };
/** The digests' keys of a fuzz run: any secret does; what is checked is that no card number is queued. */
const FUZZ_DIGEST_KEYS = webhookDigestKeys('psp-input-fuzz');

async function webhookCase(hostile: HostileJson, gateway: GatewayType): Promise<CaseResult> {
  const config = FUZZ_GATEWAYS[gateway];
  const transformer = transformerFor(gateway);
  const seed = hostile.pick(WEBHOOK_SEEDS[gateway]);
  const items = webhookItems(gateway, seed);
  const item = items.length > 0 && hostile.random() < 0.6 ? hostile.pick(items) : undefined;
  const made = item ? hostile.mutate(seed, item) : hostile.variant(seed);
  const skipped: SkippedWebhookItem[] = [];
  let events;
  try {
    events = transformer.parseWebhook(made.body, config, (s) => skipped.push(s));
  } catch (err) {
    const problems: string[] = [];
    const problem = errorProblem(err);
    if (problem !== null) problems.push(problem);
    // One hostile field of one item refused the whole batch: the PSP sends it again, items beside it held back.
    if (item !== undefined && made.path !== '')
      problems.push(`a hostile field of one item refused the whole notification (${(err as Error).constructor.name})`);
    return { hostile: made, refused: true, problems };
  }
  const problems: string[] = [];
  for (const event of events) {
    try {
      const verdict = await checkWebhookItem(event, config.name, config, NOTHING_OURS, FUZZ_DIGEST_KEYS);
      if (verdict.kind === 'queue') {
        const pan = panIn(verdict.data);
        if (pan !== null) problems.push(`queued webhook item holds a card number in ${pan}`);
        if (!isMinorUnits(verdict.data.outcome.amount) || !isMinorUnits(verdict.data.adjustment?.amount))
          problems.push('queued webhook item holds an amount that is no integer of minor units');
        const times = [verdict.data.outcome.authorizedAt, verdict.data.adjustment?.occurredAt, verdict.data.recapture?.occurredAt];
        if (!times.every((at) => isTime(at, true))) problems.push(`queued webhook item holds a time no Date holds (${times.map(String).join(', ')})`);
      }
    } catch (err) {
      problems.push(`the route's item check threw: ${errorProblem(err) ?? (err as Error).message.slice(0, 120)}`);
    }
  }
  return { hostile: made, refused: false, problems };
}

/** What a reader yielded over a stub HTTP, and whether it stopped. */
async function readAll(pages: AsyncIterable<PspRecordPage>): Promise<{ pages: PspRecordPage[]; error?: unknown }> {
  const read: PspRecordPage[] = [];
  try {
    for await (const page of pages) {
      read.push(page);
      // A reader that pages on forever over a stub answer is a defect of its own: bounded here.
      if (read.length > 50) return { pages: read, error: new Error('the reader asked for more than 50 pages of a one-page answer') };
    }
    return { pages: read };
  } catch (err) {
    return { pages: read, error: err };
  }
}

function recordsProblems(pages: readonly PspRecordPage[]): string[] {
  const problems: string[] = [];
  for (const page of pages) {
    for (const record of page.records) {
      const pan = panIn(record, RECORD_IDENTIFIERS);
      if (pan !== null) problems.push(`reconciliation record holds a card number in ${pan}`);
      if (!isMinorUnits(record.amount)) problems.push('reconciliation record amount is no integer of minor units');
      if (record.fee !== undefined && !Number.isSafeInteger(record.fee)) problems.push('reconciliation record fee is no integer');
      if (record.net !== undefined && !Number.isSafeInteger(record.net)) problems.push('reconciliation record net is no integer');
      if (!isTime(record.occurredAt, false)) problems.push(`reconciliation record time ${String(record.occurredAt)} is no time a Date holds`);
    }
    for (const line of page.unreadable ?? []) {
      const pan = panIn(line);
      if (pan !== null) problems.push(`set-aside line holds a card number in ${pan}`);
      const size = line.line.length + line.field.length + line.problem.length;
      if (size > MAX_ERROR_TEXT) problems.push(`set-aside line described in ${size} characters`);
    }
  }
  return problems;
}

/** An empty page of each JSON reader: what a stub answers to every request but the hostile one. */
const EMPTY_PAGE: Readonly<Partial<Record<GatewayType, Json>>> = {
  stripe: { object: 'list', data: [], has_more: false },
  cybersource: { totalCount: 0, _embedded: { transactionSummaries: [] } },
  simulator: { data: [], has_more: false, next_cursor: null },
};

async function reconciliationPageCase(hostile: HostileJson, gateway: GatewayType): Promise<CaseResult> {
  const config = FUZZ_GATEWAYS[gateway];
  const seeds = RECONCILIATION_PAGE_SEEDS[gateway] ?? [];
  const seed = hostile.pick(seeds);
  const line = hostile.random() < 0.6;
  const made = line ? hostile.mutate(seed.body, seed.lines) : hostile.variant(seed.body);
  // A mutation of one line's content (below the line itself): that line is set aside, the page read on.
  const inLine = made.path.split('.').length > seed.lines.length + 1 && made.path.startsWith(seed.lines.join('.'));
  const status = hostile.random() < 0.9 ? 200 : hostile.pick(ODD_STATUSES);
  let answered = false;
  const http: ReconciliationHttp = {
    send: (request) => {
      if (!answered && request.path.startsWith(seed.answers)) {
        answered = true;
        return Promise.resolve({ status, body: made.body.toString('utf8') });
      }
      return Promise.resolve({ status: 200, body: JSON.stringify(EMPTY_PAGE[gateway] ?? {}) });
    },
    lines: () => {
      throw new Error('a JSON reader asked for a report file');
    },
  };
  const support = gatewayDefinition(gateway).reconciliation;
  if (support === undefined) throw new Error(`${gateway} reads no reconciliation`);
  const { pages, error } = await readAll(support.reader(config, http).read(RECONCILIATION_WINDOW));
  const problems = recordsProblems(pages);
  if (error !== undefined) {
    const problem = errorProblem(error);
    if (problem !== null) problems.push(problem);
    if (inLine && status === 200) problems.push(`one line's hostile ${made.kind} stopped its page (${(error as Error).message.slice(0, 160)})`);
  }
  return { hostile: made, refused: error !== undefined, problems };
}

/** A CSV field as Adyen writes it: quoted when it holds a comma, a quote or a line break. */
function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** Field values a report line may hold by mistake or malice. */
function oddCsvValue(hostile: HostileJson): string {
  return hostile.pick([
    hostile.pan(),
    'x'.repeat(hostile.pick([300, 50_000, 500_000])),
    '',
    ' ',
    '1e400',
    '-0',
    '12.345',
    '1,000.00',
    '99999999999999999999.99',
    'NaN',
    '٢٥٫٠٠',
    '2026-02-30 25:61:61',
    '2026-11-02T10:15:00Z',
    'GMT+99',
    'Europe/Paris',
    'eur',
    'E€R',
    '\u0000',
    '"quoted, with comma"',
    'line\nbreak',
    '=HYPERLINK("x")',
  ]);
}

/** One hostile variant of Adyen's report: one field of a line, a line's shape, or the report as a whole. */
function hostileReport(hostile: HostileJson): { lines: string[]; kind: string; path: string; inLine: boolean } {
  const rows = ADYEN_REPORT_SEED.map((l, i) => (i === 0 ? [l] : parseCsv(l)));
  const r = hostile.random();
  if (r < 0.7) {
    const at = hostile.int(1, rows.length - 1);
    const fields = rows[at];
    const column = hostile.int(0, fields.length - 1);
    const kind = hostile.pick(['odd value', 'odd value', 'fields missing', 'fields added']);
    if (kind === 'odd value') fields[column] = oddCsvValue(hostile);
    else if (kind === 'fields missing') fields.splice(column);
    else {
      // Up to the bound every case keeps (`MAX_HOSTILE_BODY_BYTES`): a line of 10 000 fields, or a few huge ones.
      let size = fields.join(',').length;
      for (let k = hostile.pick([1, 100, 10_000]); k > 0 && size < MAX_HOSTILE_BODY_BYTES; k -= 1) {
        const value = oddCsvValue(hostile);
        fields.push(value);
        size += value.length + 1;
      }
    }
    const lines = rows.map((f, i) => (i === 0 ? f[0] : f.map(csvField).join(',')));
    // A record longer than the reader holds (`CsvRecordJoiner`) is refused with its report: no line of its own.
    const inLine = lines[at].length < 1_000_000;
    return { lines: lines.flatMap((l) => l.split('\n')), kind: `report line: ${kind}`, path: `line ${at + 1} column ${column + 1}`, inLine };
  }
  const text = ADYEN_REPORT_SEED.join('\n');
  const kinds: Array<[string, () => string[]]> = [
    ['report: unbalanced quote', () => [...ADYEN_REPORT_SEED.slice(0, 2), `${ADYEN_REPORT_SEED[2]},"open`, ...ADYEN_REPORT_SEED.slice(3)]],
    ['report: header missing a column', () => [ADYEN_REPORT_SEED[0].replace('Gross Currency', 'Gross Curr'), ...ADYEN_REPORT_SEED.slice(1)]],
    ['report: empty', () => []],
    ['report: a line of 2 MB', () => [...ADYEN_REPORT_SEED, 'x'.repeat(2 * 1024 * 1024)]],
    ['report: JSON instead of CSV', () => ['{"error":"not found"}']],
    ['report: byte order mark and CRLF', () => `\ufeff${text}`.split('\n').map((l) => `${l}\r`)],
    [
      'report: card numbers in every field',
      () => [
        ADYEN_REPORT_SEED[0],
        ...ADYEN_REPORT_SEED.slice(1).map((l) =>
          l
            .split(',')
            .map(() => csvField(hostile.pan()))
            .join(','),
        ),
      ],
    ],
  ];
  const [kind, make] = hostile.pick(kinds);
  return { lines: make(), kind, path: '', inLine: false };
}

function parseCsv(line: string): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i += 1) {
    const c = line[i];
    if (quoted && c === '"' && line[i + 1] === '"') {
      field += '"';
      i += 1;
    } else if (c === '"') quoted = !quoted;
    else if (c === ',' && !quoted) {
      fields.push(field);
      field = '';
    } else field += c;
  }
  fields.push(field);
  return fields;
}

async function adyenReportCase(hostile: HostileJson): Promise<CaseResult> {
  const config = FUZZ_GATEWAYS.adyen;
  const report = hostileReport(hostile);
  const made: HostileCase = { kind: report.kind, path: report.path, body: Buffer.alloc(0) };
  const http: ReconciliationHttp = {
    send: () => Promise.reject(new Error('the Adyen reader sent a request other than a report download')),
    lines: (request) => {
      // Batch 1 exists and is the hostile report; no later batch does.
      if (!request.path.endsWith('_batch_1.csv')) throw new GatewayError('not_found', config.name, 'report download answered HTTP 404', { httpStatus: 404 });
      return (async function* () {
        for (const l of report.lines) yield await Promise.resolve(l);
      })();
    },
  };
  const support = gatewayDefinition('adyen').reconciliation;
  if (support === undefined) throw new Error('adyen reads no reconciliation');
  const { pages, error } = await readAll(support.reader(config, http).read(RECONCILIATION_WINDOW));
  const problems = recordsProblems(pages);
  if (error !== undefined) {
    const problem = errorProblem(error);
    if (problem !== null) problems.push(problem);
    if (report.inLine) problems.push(`one line's ${report.kind} stopped its report (${(error as Error).message.slice(0, 160)})`);
  }
  return { hostile: made, refused: error !== undefined, problems };
}
