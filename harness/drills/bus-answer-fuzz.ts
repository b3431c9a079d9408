import { createHash } from 'node:crypto';
import { BusAnswer, readNotifyAnswer, readRpcAnswer } from '../../src/bus/bus-answers';
import { BusAuthenticationError, BusRequestError, BusRpcError, PeerUnavailableError } from '../../src/bus/bus-errors';
import { MAX_ACCESS_TOKEN_CHARS, MAX_BUS_TEXT_CHARS } from '../../src/bus/bus-text';
import { MAX_TOKEN_LIFETIME_S, MIN_TOKEN_LIFETIME_S, readTokenAnswer } from '../../src/bus/oauth-token-provider';
import { contentRejection } from '../../src/events/event-rejection';
import { registerRecentToken } from '../../src/logging/redact';
import { seededRandom } from '../workload/payment-scenarios';
import { HostileCase, HostileJson, Json, paths } from './hostile-json';
import { errorProblem, panIn } from './psp-input-fuzz';

/**
 * The bus answer fuzz: seeded hostile variants of what the bus and its OAuth server answer our calls with (the
 * token answer, the JSON-RPC answer to `register`, the answer to an event notification), at any HTTP status, fed
 * in process to the pure readers the product uses (`readTokenAnswer`, `readRpcAnswer`, `readNotifyAnswer`).
 * The same checks as the PSP input fuzz: every case ends in a value or an error of the reader's own classes
 * (never another throw); no planted card number and no part of our access token (registered with the redactor,
 * as the token provider registers it, and planted in the answers: quoted in an error, a description, a result)
 * in an error's texts; those texts bounded; what is read bounded (a token a header can carry, a lifetime within
 * `MIN_TOKEN_LIFETIME_S` and `MAX_TOKEN_LIFETIME_S`, a `Retry-After` wait that is a number, a content-refusal reason from a small set).
 * Bounded by construction: no body above `MAX_HOSTILE_BODY_BYTES`, no I/O.
 */

/** The bus's answers the fuzz reads. */
export const BUS_ANSWERS = ['token', 'register', 'notification'] as const;
export type BusAnswerKind = (typeof BUS_ANSWERS)[number];

/** A reader as the fuzz calls it: the product's by default; a test passes a broken one to see it caught. */
export type BusAnswerReader = (answer: BusAnswer & { headers: Record<string, string> }) => unknown;

/** Longest error text a hostile answer may produce (as the PSP fuzz's `MAX_ERROR_TEXT`). */
const MAX_ERROR_TEXT = 1024;
/** Longest bus text an error may carry: `MAX_BUS_TEXT_CHARS` and its length note. */
const MAX_QUOTED_TEXT = MAX_BUS_TEXT_CHARS + 64;
/** A run of this many characters of our token in a text is a part of it. */
const TOKEN_PART = 24;

/**
 * Our access token in the fuzz: 1 000 characters of a JWT's alphabet, none repeating in a way that an innocent
 * text would share a {@link TOKEN_PART}-character run of it.
 */
export const FUZZ_ACCESS_TOKEN =
  `eyJ${Array.from({ length: 24 }, (_v, i) => createHash('sha256').update(`bus-fuzz-${i}`).digest('base64url')).join('.')}`.slice(0, 1000);
const TOKEN_PARTS: ReadonlySet<string> = new Set(
  Array.from({ length: FUZZ_ACCESS_TOKEN.length - TOKEN_PART + 1 }, (_v, i) => FUZZ_ACCESS_TOKEN.slice(i, i + TOKEN_PART)),
);

const URLS: Readonly<Record<BusAnswerKind, string>> = {
  token: 'https://oauth.bus.example/oauth/token',
  register: 'https://bus.example/rpc',
  notification: 'https://bus.example/delegate',
};

const PRODUCT_READERS: Readonly<Record<BusAnswerKind, BusAnswerReader>> = {
  token: (a) => readTokenAnswer(a, URLS.token),
  register: (a) => readRpcAnswer(a, URLS.register),
  notification: (a) => readNotifyAnswer(a, URLS.notification),
};

/** The error classes each reader may end in: anything else, even of the taxonomy, is a defect. */
const ALLOWED_ERRORS: Readonly<Record<BusAnswerKind, ReadonlyArray<new (...args: never[]) => Error>>> = {
  token: [BusRequestError, BusAuthenticationError, PeerUnavailableError],
  register: [BusRequestError, BusRpcError],
  notification: [BusRequestError, BusRpcError],
};

const ID = '6b1f4a52-7f0e-4d0c-9a51-0c1f2e3d4b5a';

/** Valid answers of each kind, with the status they come with; our token quoted where a hostile bus might. */
const SEEDS: Readonly<Record<BusAnswerKind, ReadonlyArray<{ status: number; body: Json }>>> = {
  token: [
    { status: 200, body: { access_token: 'tok-abc-123.def', token_type: 'Bearer', expires_in: 3600, scope: 'bus' } },
    { status: 200, body: { access_token: FUZZ_ACCESS_TOKEN, token_type: 'bearer', expires_in: '3599' } },
    { status: 400, body: { error: 'invalid_client', error_description: `client secret wrong; last token ${FUZZ_ACCESS_TOKEN}` } },
    { status: 401, body: { error: 'invalid_client', error_uri: 'https://oauth.bus.example/errors' } },
    { status: 400, body: { error: 'invalid_scope', error_description: 'scope bus.delegate unknown' } },
    { status: 503, body: { error: 'temporarily_unavailable' } },
  ],
  register: [
    { status: 200, body: { jsonrpc: '2.0', id: ID, result: {} } },
    { status: 200, body: { jsonrpc: '2.0', id: ID, result: { registered: true, url: 'https://pb.example/bus' } } },
    { status: 200, body: { jsonrpc: '2.0', id: ID, error: { code: -32602, message: `Invalid params: Bearer ${FUZZ_ACCESS_TOKEN}`, data: { field: 'url' } } } },
    { status: 400, body: { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'Invalid Request' } } },
  ],
  notification: [
    { status: 200, body: { jsonrpc: '2.0', id: null, result: { accepted: true } } },
    { status: 204, body: '' },
    { status: 200, body: { jsonrpc: '2.0', id: null, error: { code: -32602, message: `order locked for token ${FUZZ_ACCESS_TOKEN}` } } },
    { status: 200, body: { jsonrpc: '2.0', id: null, error: { code: -32000, message: 'delegate failed', data: { trace: 'x' } } } },
  ],
};

const ODD_STATUSES = [0, 100, 200, 201, 202, 204, 301, 302, 400, 401, 403, 404, 405, 409, 413, 422, 429, 431, 500, 502, 503, 504, 599, 999];
const ODD_RETRY_AFTER = [
  '99999999999999999999',
  '-1',
  '1e400',
  '0',
  '7',
  'Wed, 21 Oct 2015 07:28:00 GMT',
  'Fri, 31 Dec 9999 23:59:59 GMT',
  'x'.repeat(10_000),
  '',
];

export interface BusFuzzRow {
  answer: BusAnswerKind;
  cases: number;
  /** Read into a value (a token and its lifetime, a result, a notification taken). */
  read: number;
  /** Refused with an error of the reader's classes. */
  refused: number;
}

export interface BusFuzzViolation {
  /** The case's number: the seed and this replay it. */
  n: number;
  answer: BusAnswerKind;
  status: number;
  kind: string;
  path: string;
  problem: string;
}

export interface BusFuzzReport {
  cases: number;
  elapsedMs: number;
  /** The slowest case (a bound on what one hostile answer costs, not an assertion). */
  slowest: { ms: number; what: string };
  rows: BusFuzzRow[];
  violations: BusFuzzViolation[];
}

/** A seeded bus answer fuzz: `cases` hostile answers spread over the three readers. */
export function runBusAnswerFuzz(options: {
  seed: number;
  cases: number;
  /** Readers to use instead of the product's (a test's broken ones). */
  readers?: Partial<Record<BusAnswerKind, BusAnswerReader>>;
  log?: (line: string) => void;
}): BusFuzzReport {
  // As the token provider does with every token it gets: the redactor masks it wherever a text quotes it.
  registerRecentToken(FUZZ_ACCESS_TOKEN);
  const hostile = new HostileJson(seededRandom(options.seed));
  const readers = { ...PRODUCT_READERS, ...options.readers };
  const rows = new Map<BusAnswerKind, BusFuzzRow>();
  const violations: BusFuzzViolation[] = [];
  const slowest = { ms: 0, what: '' };
  const started = performance.now();
  for (let n = 0; n < options.cases; n += 1) {
    if (n > 0 && n % 2000 === 0) options.log?.(`  ${n}/${options.cases} bus answers read`);
    const answer = hostile.pick(BUS_ANSWERS);
    const seed = hostile.pick(SEEDS[answer]);
    const made = hostile.random() < 0.2 ? withOurToken(hostile, seed.body) : hostile.variant(seed.body);
    const status = hostile.random() < 0.8 ? seed.status : hostile.pick(ODD_STATUSES);
    const headers: Record<string, string> = answer === 'token' && hostile.random() < 0.3 ? { 'retry-after': hostile.pick(ODD_RETRY_AFTER) } : {};
    const row = rows.get(answer) ?? { answer, cases: 0, read: 0, refused: 0 };
    rows.set(answer, row);
    row.cases += 1;
    const t0 = performance.now();
    let value: unknown;
    let error: unknown;
    let threw = false;
    try {
      value = readers[answer]({ status, body: made.body.toString('utf8'), headers });
    } catch (err) {
      threw = true;
      error = err;
    }
    const ms = performance.now() - t0;
    if (ms > slowest.ms) Object.assign(slowest, { ms, what: `#${n} ${answer} ${made.kind} at ${made.path || 'the body'}, HTTP ${status}` });
    if (threw) row.refused += 1;
    else row.read += 1;
    // A byte that is no UTF-8 inserted into the token leaves parts no redactor can know: only the whole is looked for.
    const problems = threw ? refusalProblems(answer, error, made.kind !== 'not UTF-8') : readProblems(answer, value);
    for (const problem of problems) violations.push({ n, answer, status, kind: made.kind, path: made.path, problem });
  }
  return {
    cases: options.cases,
    elapsedMs: performance.now() - started,
    slowest,
    rows: BUS_ANSWERS.flatMap((a) => rows.get(a) ?? []),
    violations,
  };
}

/** `seed` with our access token (alone, as a bearer credential, in a sentence, past the cut) as one string value. */
function withOurToken(hostile: HostileJson, seed: Json): HostileCase {
  const doc = JSON.parse(JSON.stringify(seed)) as Json;
  const places = paths(doc).filter((p) => typeof valueAt(doc, p) === 'string');
  if (places.length === 0) return hostile.variant(seed);
  const path = hostile.pick(places);
  const text = hostile.pick([
    FUZZ_ACCESS_TOKEN,
    `Bearer ${FUZZ_ACCESS_TOKEN}`,
    `token ${FUZZ_ACCESS_TOKEN} refused for card ${hostile.pan()}`,
    `${'x'.repeat(MAX_BUS_TEXT_CHARS - 12)} ${FUZZ_ACCESS_TOKEN}`,
    `${FUZZ_ACCESS_TOKEN},${FUZZ_ACCESS_TOKEN}`,
  ]);
  const holder = valueAt(doc, path.slice(0, -1)) as Record<string, Json>;
  holder[path[path.length - 1]] = text;
  return { kind: 'our token', path: path.join('.'), body: Buffer.from(JSON.stringify(doc)) };
}

function valueAt(doc: Json, path: readonly string[]): Json | undefined {
  let v: Json | undefined = doc;
  for (const k of path) v = v !== null && typeof v === 'object' ? (v as Record<string, Json>)[k] : undefined;
  return v;
}

/** What in `text` is our token: the whole, or (`parts`) a run of {@link TOKEN_PART} characters of it; null when nothing. */
export function tokenIn(text: string, parts = true): string | null {
  if (text.includes(FUZZ_ACCESS_TOKEN)) return 'our access token';
  if (!parts) return null;
  for (let i = 0; i + TOKEN_PART <= text.length; i += 1) if (TOKEN_PARTS.has(text.slice(i, i + TOKEN_PART))) return 'a part of our access token';
  return null;
}

/** What is wrong with how a reader refused an answer; empty when nothing. */
function refusalProblems(answer: BusAnswerKind, err: unknown, tokenParts: boolean): string[] {
  const taxonomy = errorProblem(err);
  if (taxonomy !== null) return [taxonomy];
  const problems: string[] = [];
  const e = err as Error & { rpcMessage?: unknown; oauthError?: unknown; retryAfterMs?: unknown };
  if (!ALLOWED_ERRORS[answer].some((kind) => err instanceof kind)) problems.push(`${e.constructor.name} is none of the reader's errors`);
  const texts: Record<string, string> = { message: e.message };
  if (typeof e.rpcMessage === 'string') texts.rpcMessage = e.rpcMessage;
  if (typeof e.oauthError === 'string') texts.oauthError = e.oauthError;
  for (const [name, text] of Object.entries(texts)) {
    const token = tokenIn(text, tokenParts);
    if (token !== null) problems.push(`${e.constructor.name} ${name} holds ${token}`);
    if (name !== 'message' && text.length > MAX_QUOTED_TEXT) problems.push(`${e.constructor.name} ${name} of ${text.length} characters`);
  }
  const pan = panIn(texts);
  if (pan !== null) problems.push(`${e.constructor.name} holds a card number in ${pan}`);
  if (e.message.length > MAX_ERROR_TEXT) problems.push(`${e.constructor.name} message of ${e.message.length} characters`);
  if (err instanceof PeerUnavailableError && !(Number.isFinite(err.retryAfterMs) && err.retryAfterMs >= 0))
    problems.push(`Retry-After read as ${String(err.retryAfterMs)} ms`);
  if (answer === 'notification') {
    // The event sender labels a metric with it: a bounded set, whatever the bus sends.
    const reason = contentRejection(err);
    if (reason !== null && !/^(http_(400|413|422)|rpc_-(32700|32600|32602))$/.test(reason)) problems.push(`content refusal reason ${reason}`);
  }
  return problems;
}

/** What is wrong with what a reader read; empty when nothing. */
function readProblems(answer: BusAnswerKind, value: unknown): string[] {
  if (answer !== 'token') return [];
  const { token, lifetimeS } = value as { token: unknown; lifetimeS: unknown };
  const problems: string[] = [];
  if (typeof token !== 'string' || token === '' || token.length > MAX_ACCESS_TOKEN_CHARS || !/^[\x20-\x7E]+$/.test(token))
    problems.push(`read a token no header can carry (${typeof token === 'string' ? `${token.length} characters` : typeof token})`);
  if (typeof lifetimeS !== 'number' || !Number.isFinite(lifetimeS) || lifetimeS < MIN_TOKEN_LIFETIME_S || lifetimeS > MAX_TOKEN_LIFETIME_S)
    problems.push(`read a lifetime of ${String(lifetimeS)} s`);
  return problems;
}
