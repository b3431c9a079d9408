import { IncomingMessage, ServerResponse } from 'node:http';
import { Config } from '../config/config';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import { OpsContext } from '../ops/ops-context';
import { OperationDetail } from '../ops/operation-detail';
import { BodyTooLargeError } from '../errors/body-too-large-error';
import { BodyReader } from '../web/read-body';
import { EdgeAccess } from '../web/edge-access';
import { clientKey } from '../net/ip-ranges';
import { WebRoute, sendError } from '../web/web-server';
import { CONSOLE_CSS, CONSOLE_JS } from './console-assets';
import {
  PageContext,
  dashboardPage,
  HELD_RELEASE_REASON_MAX,
  deadLetterPage,
  eventDismissResultPage,
  eventResendResultPage,
  heldRetryReleaseResultPage,
  lookupPage,
  loginPage,
  messagePage,
  operationPage,
  operationPath,
  recaptureDismissResultPage,
  recheckResultPage,
  replayResultPage,
  reviewDecisionResultPage,
  splitResumeResultPage,
  webhookRetryResultPage,
} from './console-pages';
import { resendSetAsideEvents } from '../ops/event-resend';
import { EVENT_DISMISS_REASON_MAX, dismissReasonRefusal, dismissSetAsideEvents } from '../ops/event-dismiss';
import { WebhookRef, retryFailedWebhooks } from '../ops/failed-webhooks';
import { decideHeldReview } from '../ops/risk-reviews';
import { resumeParkedSplitTender } from '../ops/parked-split-tenders';
import { dismissHeldRecaptures } from '../ops/held-recaptures';
import { heldForPspRetryOf, releaseHeldForPspRetry } from '../ops/held-for-psp-retry';
import { recheckOperations } from '../ops/recheck';
import type { ReviewDecisionResult } from '../poller/risk-review-expiry';
import { containsCardNumber } from '../logging/redact';
import { LogThrottle } from '../logging/log-throttle';
import { ConsoleHosts, consoleAllowedHosts, loggableHeader } from './console-hosts';
import { ConsoleSession, ConsoleSessions, constantTimeEqual } from './console-sessions';
import { consoleAccountsInForce } from '../config/console-accounts';
import { ConsoleAccount, ConsoleRole } from '../config/config';
import { ConsolePasswordHash, loginDecoy, parseConsolePasswordHash, verifyConsolePasswordHash } from '../config/console-password-hash';
import { DEAD_LETTERS_PER_PAGE, DEAD_LETTERS_PER_PAGE_MAX, DeadLetterPageRequest, consoleSnapshot } from './console-snapshot';
import { DeadLetterCursor } from '../ops/dead-letter-store';
import { parseDeadLetterCursor } from '../ops/dead-letter-cursor';

/**
 * The session cookie's name over plain http (local use: tests, a demo on 127.0.0.1), with `Path` = `console.path`.
 * Browsers refuse a prefixed cookie that is not `Secure`, and a browser on plain http keeps no `Secure` cookie.
 */
const COOKIE = 'pb_console';
/**
 * Its name over https (RFC 6265bis §4.1.3.2, `__Host-`): the browser keeps it only if it is `Secure`, has no
 * `Domain` and `Path=/`, so no other host of the domain (a sibling subdomain, a plain http page) can set or
 * overwrite it (OWASP Session Management Cheat Sheet: cookie prefixes).
 */
const HOST_COOKIE = '__Host-pb_console';
/** Largest form the console accepts (a replay of many ids), bytes; its listener's `bodyLimitBytes`. */
export const CONSOLE_FORM_LIMIT_BYTES = 64 * 1024;
/** Longest lookup query (`q`, after trimming) the console accepts; the page's form allows as many (`maxlength`). */
const MAX_LOOKUP_CHARS = 200;
/** Most dead letters one replay form may name. */
const MAX_REPLAY_IDS = 200;
/** Most rows one list action's form (resend, retry, release or decline, resume) may name. */
const MAX_SELECTED = 200;
/** A failed webhook outcome as the dashboard's form names it: `<gateway>/<PSP event id>`. */
const WEBHOOK_REF = /^([A-Za-z0-9_-]{1,64})\/([\x21-\x7e]{1,300})$/;
/** A parked split tender as the dashboard's form names it: `<split id>` or `<split id>/<refund id>`. */
const PARKED_SPLIT = /^([A-Za-z0-9][A-Za-z0-9._-]{0,127})(?:\/([A-Za-z0-9][A-Za-z0-9._-]{0,127}))?$/;
/** A dead letter's id as the archive names them (`DeadLetterRecord.id`). */
const DEAD_LETTER_ID = /^dl-[0-9a-f]{24}$/;
/** An event id as the outbox names them (`<operation id>.<state>`, `adj.<adjustment id>`…) or an operation id: printable, no spaces. */
const PRINTABLE_ID = /^[\x21-\x7e]{1,300}$/;

const deadLetterPages = counter(
  'pb_console_dead_letter_pages_total',
  "Pages of the console's dead-letter list past the first (its Older and Newer links), by order (time, impact)",
  ['order'],
);

/**
 * The dashboard's dead-letter page from its query: `per` (1 to {@link DEAD_LETTERS_PER_PAGE_MAX}, default
 * {@link DEAD_LETTERS_PER_PAGE}) and at most one of `before` and `after`; else the message of the 400, naming
 * the parameter (never echoing it: the dashboard's own links only send what it rendered).
 */
function deadLetterPaging(query: URLSearchParams): DeadLetterPageRequest | string {
  const perText = query.get('per');
  const per = perText === null ? DEAD_LETTERS_PER_PAGE : /^\d{1,3}$/.test(perText) ? Number(perText) : NaN;
  if (!(per >= 1 && per <= DEAD_LETTERS_PER_PAGE_MAX)) return `The parameter per must be a whole number from 1 to ${DEAD_LETTERS_PER_PAGE_MAX}.`;
  const cursors: { before?: DeadLetterCursor; after?: DeadLetterCursor } = {};
  for (const name of ['before', 'after'] as const) {
    const text = query.get(name);
    if (text === null) continue;
    const cursor = parseDeadLetterCursor(text);
    if (!cursor)
      return `The parameter ${name} must be a place in the list as the dashboard's links give it: a score, optionally followed by : and a dead letter's id.`;
    cursors[name] = cursor;
  }
  if (cursors.before && cursors.after) return 'Give one of the parameters before and after, not both.';
  return { per, ...cursors };
}

const logins = counter('pb_console_logins_total', 'Operator console logins, by outcome (ok, refused, throttled, cross_origin)', ['outcome']);

const lookups = counter(
  'pb_console_lookups_total',
  "Console lookups (its search form), by result (one: to the operation's page, listed: none or several shown, card_number: refused unsearched, what was typed looks like a card number)",
  ['result'],
);

const hostsRefused = counter(
  'pb_console_hosts_refused_total',
  'Console requests refused because they name a host the console does not answer (console.allowed_hosts): 421, by reason (not_allowed, missing); or more than one Host field: 400, reason duplicate',
  ['reason'],
);

const actionsRefused = counter(
  'pb_console_actions_refused_total',
  "Console forms that change state refused for the account's role, by reason (viewer: a viewer account, which only reads)",
  ['reason'],
);

/** What a viewer may still post: the search box (a read, posted so what is typed stays out of URLs) and its logout. */
const VIEWER_POSTS: ReadonlySet<string> = new Set(['/lookup', '/logout']);

/** An account in force, with its password's hash parsed once (null: a clear password). */
interface LoginAccount extends ConsoleAccount {
  readonly hash: ConsolePasswordHash | null;
}

const idleEnded = counter(
  'pb_console_sessions_idle_ended_total',
  'Console sessions ended because they were unused for console.session_idle_ms (noticed at their next request)',
);

/**
 * Login attempts one client (an IPv4 address, an IPv6 /64) may make in {@link LOGIN_WINDOW_MS} without
 * succeeding; past it, 429 until the window ends.
 */
export const LOGIN_ATTEMPTS_MAX = 10;
/** The window of {@link LOGIN_ATTEMPTS_MAX}, ms (from the client's first attempt in it). */
export const LOGIN_WINDOW_MS = 15 * 60_000;

/**
 * Browser features the console never uses, each allowed to no origin (`Permissions-Policy`: the OWASP
 * Secure Headers Project's list, with the newer credential, font, window and topics features): a script
 * that got onto the page could not use the camera, the microphone, the location, payment handlers, USB...
 * of the operator's browser. A browser that does not know a feature ignores it (and says so in its console).
 */
const DENIED_FEATURES = [
  'accelerometer',
  'autoplay',
  'browsing-topics',
  'camera',
  'clipboard-read',
  'clipboard-write',
  'cross-origin-isolated',
  'display-capture',
  'encrypted-media',
  'fullscreen',
  'gamepad',
  'geolocation',
  'gyroscope',
  'hid',
  'identity-credentials-get',
  'idle-detection',
  'interest-cohort',
  'keyboard-map',
  'local-fonts',
  'magnetometer',
  'microphone',
  'midi',
  'otp-credentials',
  'payment',
  'picture-in-picture',
  'publickey-credentials-create',
  'publickey-credentials-get',
  'screen-wake-lock',
  'serial',
  'storage-access',
  'sync-xhr',
  'unload',
  'usb',
  'web-share',
  'window-management',
  'xr-spatial-tracking',
] as const;

/**
 * Headers on every answer of the console's listener (OWASP Secure Headers Project): no caching (payment
 * data on every page), no framing, no inline script, nothing sniffed, no referrer to other sites, no
 * browser feature, a browsing context and resources of its own (no other site's window keeps a handle on
 * the console's, no other site may embed its answers, and it embeds nothing from elsewhere). The listener
 * sets them (`WebServerOptions.headers`), so the web server's own 404 and 500 and the allowlist's 403 carry
 * them as the console's pages do. Not taken from that list: `Referrer-Policy: no-referrer` (see below),
 * HSTS's `includeSubDomains` (see `ConsoleRoute.handle`) and the CSP's `upgrade-insecure-requests` (a
 * console reached over plain http on loopback would ask for its own script and style over https).
 */
export const CONSOLE_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'cache-control': 'no-store',
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  // same-origin, not no-referrer: with no-referrer a browser sends `Origin: null` on its own form posts.
  'referrer-policy': 'same-origin',
  'permissions-policy': DENIED_FEATURES.map((f) => `${f}=()`).join(', '),
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  // Everything the pages load is the console's own, so requiring it changes nothing but what an injected
  // tag could pull in.
  'cross-origin-embedder-policy': 'require-corp',
  'x-permitted-cross-domain-policies': 'none',
};

/**
 * On the logout's answer: the browser drops what it holds of the console's origin (W3C Clear Site Data).
 * Not `"cookies"`: a browser clears those for the whole registrable domain, which would log the
 * operator out of every other site under it; the session cookie itself is expired by the same answer.
 */
const LOGOUT_CLEAR_SITE_DATA = '"cache", "storage"';

/** `Strict-Transport-Security` max-age of the console's https answers: one year, in seconds. */
const HSTS_MAX_AGE_S = 31_536_000;

function send(res: ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': type, 'content-length': String(Buffer.byteLength(body)), ...headers });
  res.end(body);
}

function redirect(res: ServerResponse, to: string, headers: Record<string, string> = {}): void {
  res.writeHead(303, { location: to, 'content-length': '0', ...headers });
  res.end();
}

function cookieOf(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return undefined;
}

/**
 * The operator console, on its own listener of the `web` role (`console.*`), under `console.path`:
 * a login with its own credentials (compared in constant time; every attempt audit-logged), sessions in
 * Redis, and then the dashboard (KPIs, stuck operations, dead letters with triage, gateway health and
 * breakers, the audit log), a lookup by order or operation id, dead-letter details and replay (dry run or
 * execute, through the same `DeadLetterReplay` as the CLI, audit-logged). Every POST needs the session's
 * CSRF token and a same-origin `Origin` when the browser sends one; everything rendered is escaped
 * (`html`); no card data is ever rendered (operations show brand and last four digits only, dead letters
 * their redacted body; stored text is masked again at render, see `console-pages.ts`). Clients outside `edge.allow.admin` get 403 before anything else.
 * Its listener must be started with `headers: CONSOLE_SECURITY_HEADERS` (the route does not repeat them).
 */
export class ConsoleRoute implements WebRoute {
  private readonly base: string;
  private readonly sessions: ConsoleSessions;
  /** Forms up to {@link CONSOLE_FORM_LIMIT_BYTES}; a larger one is discarded within the `http.discard_*` bounds. */
  private readonly forms: BodyReader;
  private readonly hosts: ConsoleHosts;
  /** One warning a minute for the refused hosts (anyone on the network can send any Host). */
  private readonly hostRefusals: LogThrottle;
  /** One warning a minute for logins posted from another origin (any page the operator opens can post them, without end). */
  private readonly crossOriginLogins: LogThrottle;
  /** The accounts in force (`console.accounts`, or the single one of `console.username` / `console.password`). */
  private readonly accounts: readonly LoginAccount[];
  /** Whether any account's password is a hash: every login then costs one scrypt, whichever account it names. */
  private readonly anyHashed: boolean;
  /**
   * What a login for no account, or for a clear-password one, is checked against when any account is hashed: a
   * hash of no password with the accounts' own scrypt parameters (the defaults would cost more or less than a
   * hash made with others, and the time would tell whether the user exists).
   */
  private readonly decoy: ConsolePasswordHash;

  constructor(
    private readonly deps: {
      config: Config;
      ops: OpsContext;
      logger: Logger;
      access?: EdgeAccess;
      /** Whether the listener is https (the cookie is then `Secure` and answers carry HSTS; see {@link ConsoleRoute.reachedOverHttps} for the rest). */
      secure?: boolean;
    },
  ) {
    this.base = deps.config.console.path;
    this.sessions = new ConsoleSessions(deps.ops.redis, deps.config.redis.keyPrefix, deps.config.console.sessionTtlMs, deps.config.console.sessionIdleMs);
    this.forms = new BodyReader({ ...deps.config.http, bodyLimitBytes: CONSOLE_FORM_LIMIT_BYTES }, deps.logger);
    this.hosts = new ConsoleHosts(consoleAllowedHosts(deps.config));
    this.hostRefusals = new LogThrottle(deps.logger);
    this.crossOriginLogins = new LogThrottle(deps.logger);
    this.accounts = consoleAccountsInForce(deps.config.console).map((a) => ({ ...a, hash: parseConsolePasswordHash(a.password) }));
    this.anyHashed = this.accounts.some((a) => a.hash !== null);
    this.decoy = loginDecoy(this.accounts.flatMap((a) => (a.hash ? [a.hash] : [])));
  }

  /** The account in force named `username`, if any: its role is read at every request, so a change applies at the next. */
  private accountOf(username: string): LoginAccount | undefined {
    return this.accounts.find((a) => a.username === username);
  }

  /**
   * Every path: the console's listener has no other route, and the admin allowlist and the Host check come
   * before its 404 too (a rebound page learns nothing, not even which paths are not the console's).
   */
  matches(): boolean {
    return true;
  }

  async handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (this.deps.access && !this.deps.access.admit(req, res, { surface: 'admin' })) return;
    if (!this.hostAllowed(req, res)) return;
    // Reached over https: the browser is told to use nothing else for this host for a year (RFC 6797;
    // OWASP HTTP Strict Transport Security Cheat Sheet), so a later plain http link cannot carry the session.
    // Not includeSubDomains: the console does not speak for the rest of the domain.
    if (this.reachedOverHttps(req)) res.setHeader('strict-transport-security', `max-age=${HSTS_MAX_AGE_S}`);
    if (path === '/') return redirect(res, this.base);
    if (path !== this.base && !path.startsWith(`${this.base}/`)) return sendError(res, 404, 'not found');
    const sub = path.slice(this.base.length) || '/';
    const method = req.method ?? 'GET';
    if (sub === '/static/console.css') return send(res, 200, 'text/css; charset=utf-8', CONSOLE_CSS);
    if (sub === '/static/console.js') return send(res, 200, 'text/javascript; charset=utf-8', CONSOLE_JS);
    if (sub === '/login') return method === 'POST' ? this.login(req, res) : send(res, 200, 'text/html; charset=utf-8', loginPage({ base: this.base }));

    const sessionId = cookieOf(req, this.cookieName(req));
    const { session, stale, removed, idle } = await this.sessions.get(sessionId, (user) => this.accountOf(user));
    if (stale) {
      const why = removed ? 'of a removed console account' : 'opened with an earlier console password';
      this.deps.logger.info(`console: session ${why} ended`, {
        user: String(stale.user ?? '?'),
        ...(typeof stale.createdAt === 'number' ? { created_at: new Date(stale.createdAt).toISOString() } : {}),
      });
    }
    if (idle) {
      idleEnded.inc();
      this.deps.logger.info('console: session ended after idling', {
        user: idle.user,
        last_used_at: new Date(idle.lastUsedAt).toISOString(),
        idle_ms: this.deps.config.console.sessionIdleMs,
      });
    }
    const account = session ? this.accountOf(session.user) : undefined;
    if (!session || !sessionId || !account) {
      if (sub === '/api/summary') return send(res, 401, 'application/json', JSON.stringify({ error: 'log in first' }));
      return redirect(res, `${this.base}/login`);
    }
    // The dashboard's own refresh of its figures is no use by the operator: it would keep an open dashboard
    // on an unattended screen logged in until the lifetime ends.
    if (sub !== '/api/summary') await this.sessions.touch(sessionId, session);
    const page: PageContext = { base: this.base, user: session.user, role: account.role, csrf: session.csrf };
    const url = new URL(req.url ?? '/', 'http://console.invalid');

    if (method === 'POST') {
      const form = await this.form(req, res);
      if (!form) return;
      if (!this.sameOrigin(req) || !constantTimeEqual(form.get('csrf') ?? '', session.csrf)) {
        await this.audit(req, session, 'console.csrf_refused', 'refused', sub);
        return send(
          res,
          403,
          'text/html; charset=utf-8',
          messagePage(page, 'Refused', 'This form is stale or did not come from the console. Reload the page and try again.'),
        );
      }
      if (account.role !== 'operator' && !VIEWER_POSTS.has(sub)) return this.refuseForRole(req, res, page, session, account.role, sub);
      if (sub === '/lookup') return this.lookup(req, res, page, session, form);
      if (sub === '/logout') {
        await this.sessions.destroy(sessionId);
        await this.audit(req, session, 'console.logout', 'ok');
        return redirect(res, `${this.base}/login`, { 'set-cookie': this.cookie(req, '', 0), 'clear-site-data': LOGOUT_CLEAR_SITE_DATA });
      }
      if (sub === '/dead-letters/replay') return this.replay(req, res, page, session, form);
      if (sub === '/dead-letters/archive') return this.archive(req, res, page, session);
      if (sub === '/events/resend') return this.resendEvents(req, res, page, session, form);
      if (sub === '/events/dismiss') return this.dismissEvents(req, res, page, session, form);
      if (sub === '/webhooks/retry') return this.retryWebhooks(req, res, page, session, form);
      if (sub === '/risk-reviews/decide') return this.decideReviews(req, res, page, session, form);
      if (sub === '/split-tenders/resume') return this.resumeSplits(req, res, page, session, form);
      if (sub === '/operations/recheck') return this.recheck(req, res, page, session, form);
      if (sub === '/recaptures/dismiss') return this.dismissRecaptures(req, res, page, session, form);
      if (sub === '/held-retries/release') return this.releaseHeldRetry(req, res, page, session, form);
      return send(res, 404, 'text/html; charset=utf-8', messagePage(page, 'Not found', 'No such action.'));
    }
    if (method !== 'GET' && method !== 'HEAD') return send(res, 405, 'text/plain', 'GET or POST only', { allow: 'GET, POST' });

    if (sub === '/' || sub === '') {
      const sort = url.searchParams.get('dl') ?? 'time';
      // Not echoed: the dashboard's own links only send these two.
      if (sort !== 'time' && sort !== 'impact')
        return send(res, 400, 'text/html; charset=utf-8', messagePage(page, 'Not a sort order', 'The parameter dl must be time or impact.'));
      const order = sort;
      const paging = deadLetterPaging(url.searchParams);
      if (typeof paging === 'string') return send(res, 400, 'text/html; charset=utf-8', messagePage(page, 'Not a dead-letter page', paging));
      if (paging.before || paging.after) deadLetterPages.inc({ order });
      const snapshot = await consoleSnapshot(this.deps.ops, { deadLetterOrder: order, deadLetterPage: paging });
      return send(res, 200, 'text/html; charset=utf-8', dashboardPage(page, snapshot, order, this.deps.config.console.stuckAfterMs, paging.per));
    }
    if (sub === '/api/summary') return this.summary(res);
    if (sub === '/lookup') {
      // Never searched, never echoed: what is typed in the search box goes in a form's body, never in a URL
      // (browser history, proxies' logs, Referer), so a card number pasted there by mistake stays out of them.
      return send(
        res,
        405,
        'text/html; charset=utf-8',
        messagePage(page, 'Use the search box', "The lookup takes what it searches for from the search box's form only, never from the address."),
        { allow: 'POST' },
      );
    }
    const op = /^\/operations\/([^/]+)$/.exec(sub);
    if (op) return this.operation(req, res, page, session, op[1]);
    const dl = /^\/dead-letters\/(dl-[0-9a-f]{24})$/.exec(sub);
    if (dl) {
      const record = await this.deps.ops.deadLetters.get(dl[1]);
      await this.audit(req, session, 'ops.dead_letter', 'ok', dl[1], { by: 'console', found: record ? 1 : 0 });
      if (!record) return send(res, 404, 'text/html; charset=utf-8', messagePage(page, 'Not found', 'No such dead letter in the archive.'));
      return send(res, 200, 'text/html; charset=utf-8', deadLetterPage(page, record, await this.deps.ops.replay.plan(record.id)));
    }
    return send(res, 404, 'text/html; charset=utf-8', messagePage(page, 'Not found', 'No such page.'));
  }

  /** The session cookie's name for `req`: {@link HOST_COOKIE} when the browser came over https, else {@link COOKIE}. */
  private cookieName(req: IncomingMessage): string {
    return this.reachedOverHttps(req) ? HOST_COOKIE : COOKIE;
  }

  /**
   * The session cookie for `req`. Over https `__Host-` with `Secure` and `Path=/` (the prefix demands both, and no
   * `Domain`): the cookie then goes to every path of this host, on every port (cookies know no ports), where only
   * the console reads it; the intake and the webhooks never read a cookie, and SameSite=Strict keeps other sites'
   * pages from sending it. Over plain http (local use) unprefixed and scoped to `console.path`.
   */
  private cookie(req: IncomingMessage, value: string, maxAgeS: number): string {
    return this.reachedOverHttps(req)
      ? `${HOST_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeS}; Secure`
      : `${COOKIE}=${value}; Path=${this.base}; HttpOnly; SameSite=Strict; Max-Age=${maxAgeS}`;
  }

  /**
   * Whether `req` names a host the console answers (`Host`, or from a trusted proxy that rewrites it,
   * `X-Forwarded-Host`: every host it lists, since a proxy that appends keeps the client's own value in front of
   * the one it saw); else answers itself and false: 400 to a request with more than one `Host` field (RFC 9112
   * §3.2: Node would keep the first, a proxy in front may have routed by another), 421 Misdirected Request
   * (RFC 9110 §15.5.20) to any other host; counted, with one warning a minute naming the host (masked, bounded).
   * A page of another site whose name resolves to the console's address (DNS rebinding) is refused so, before
   * anything is read or rendered.
   */
  private hostAllowed(req: IncomingMessage, res: ServerResponse): boolean {
    const duplicate = req.rawHeaders.filter((v, i) => i % 2 === 0 && v.toLowerCase() === 'host').length > 1;
    const forwarded = this.deps.access?.forwardedHosts(req) ?? [];
    const asked = forwarded.length > 0 ? forwarded : [req.headers.host];
    const refusedHost = duplicate ? req.headers.host : asked.find((h) => !this.hosts.allows(h));
    if (!duplicate && asked.every((h) => this.hosts.allows(h))) return true;
    const reason = duplicate ? 'duplicate' : refusedHost === undefined || refusedHost === '' ? 'missing' : 'not_allowed';
    hostsRefused.inc({ reason });
    this.hostRefusals.warn('console:host', 'console: request for a host not in console.allowed_hosts refused (rate-limited: one line per minute)', {
      host: refusedHost === undefined ? '(none)' : loggableHeader(refusedHost),
      header: forwarded.length > 0 ? 'x-forwarded-host' : 'host',
      reason,
      client: this.deps.access?.clientOf(req) ?? req.socket.remoteAddress ?? 'unknown',
      setting: 'console.allowed_hosts',
    });
    if (duplicate) send(res, 400, 'text/plain; charset=utf-8', 'bad request: more than one Host header field', { connection: 'close' });
    else send(res, 421, 'text/plain; charset=utf-8', 'misdirected request: this console does not answer for that host', { connection: 'close' });
    return false;
  }

  /**
   * Whether the browser reached the console over https, which makes the session cookie of an answer to `req`
   * `Secure` (RFC 6265 §4.1.2.5: the browser then sends it back over https only; OWASP Session Management
   * Cheat Sheet) and the answer carry HSTS: always with `console.secure_cookie: always`, else when this
   * listener is https or a trusted proxy in front says the browser's side is https (where TLS usually ends in
   * a deployment, so the listener itself is plain http).
   */
  private reachedOverHttps(req: IncomingMessage): boolean {
    if (this.deps.config.console.secureCookie === 'always' || this.deps.secure) return true;
    return this.deps.access?.forwardedHttps(req) ?? false;
  }

  /**
   * A form that changes state posted by an account whose role only reads: 403, nothing done, audited as refused
   * (`console.action`, target the form's path), counted and logged with the user.
   */
  private async refuseForRole(
    req: IncomingMessage,
    res: ServerResponse,
    page: PageContext,
    session: ConsoleSession,
    role: ConsoleRole,
    sub: string,
  ): Promise<void> {
    actionsRefused.inc({ reason: role });
    await this.audit(req, session, 'console.action', 'refused', sub, { role, reason: 'role' });
    this.deps.logger.info('console: action refused to a viewer account', { user: session.user, role, action: sub });
    send(res, 403, 'text/html; charset=utf-8', messagePage(page, 'Refused', 'Your console account is a viewer: it reads, it takes no action.'));
  }

  /** Who, for the audit log: the console user and the client address as the edge believes it. */
  private actor(req: IncomingMessage, user: string): string {
    const client = this.deps.access?.clientOf(req) ?? req.socket.remoteAddress ?? 'unknown';
    return `console:${user}@${client}`;
  }

  private async audit(
    req: IncomingMessage,
    session: ConsoleSession,
    action: string,
    outcome: 'ok' | 'refused',
    target?: string,
    detail?: Record<string, string | number | boolean>,
  ): Promise<void> {
    await this.deps.ops.audit.record({ action, actor: this.actor(req, session.user), outcome, ...(target ? { target } : {}), ...(detail ? { detail } : {}) });
  }

  /** A POSTed form, or null after answering 413/400 itself. */
  private async form(req: IncomingMessage, res: ServerResponse): Promise<URLSearchParams | null> {
    const type = String(req.headers['content-type'] ?? '')
      .split(';')[0]
      .trim()
      .toLowerCase();
    if (type !== 'application/x-www-form-urlencoded') {
      send(res, 400, 'text/plain', 'a form (application/x-www-form-urlencoded) is expected');
      return null;
    }
    try {
      return new URLSearchParams((await this.forms.read(req)).toString('utf8'));
    } catch (err) {
      if (err instanceof BodyTooLargeError) {
        send(res, 413, 'text/plain', `form larger than ${CONSOLE_FORM_LIMIT_BYTES} bytes`, { connection: 'close' });
        return null;
      }
      throw err;
    }
  }

  /**
   * A browser's `Origin` (or, without one, `Referer`) must name this very host, or the host a trusted proxy
   * says the browser asked for (`X-Forwarded-Host`, for a proxy that rewrites `Host`); a request with
   * neither header (curl) passes on its token alone.
   */
  private sameOrigin(req: IncomingMessage): boolean {
    const claimed = req.headers.origin ?? req.headers.referer;
    if (claimed === undefined) return true;
    let host: string;
    try {
      host = new URL(claimed).host;
    } catch {
      return false;
    }
    // Our own Host, or the one a trusted proxy that rewrites Host says the browser asked for.
    return host === req.headers.host?.toLowerCase() || host === this.deps.access?.forwardedHost(req);
  }

  /**
   * What {@link sameOrigin} compared, for the log line of a refused login: the origin the browser claimed
   * (`Origin`, or only the scheme, host and port of `Referer`: its path and query may hold anything), our
   * `Host`, and an `X-Forwarded-Host` with whether its peer is a trusted proxy (an untrusted one is ignored: a
   * proxy missing from `edge.trusted_proxies` that rewrites Host shows here). Each masked and bounded.
   */
  private originDetail(req: IncomingMessage): Record<string, string | boolean> {
    const { origin, referer } = req.headers;
    let claimed: string;
    if (origin !== undefined) claimed = origin;
    else {
      try {
        claimed = new URL(referer ?? '').origin;
      } catch {
        claimed = 'unparseable Referer';
      }
    }
    const forwarded = req.headers['x-forwarded-host'];
    const trustedForwarded = this.deps.access?.forwardedHost(req);
    return {
      origin: loggableHeader(claimed),
      origin_header: origin !== undefined ? 'origin' : 'referer',
      host: loggableHeader(req.headers.host ?? '(none)'),
      ...(forwarded !== undefined ? { x_forwarded_host: loggableHeader(String(forwarded)), x_forwarded_host_trusted: trustedForwarded !== undefined } : {}),
    };
  }

  private async login(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = await this.form(req, res);
    if (!form) return;
    const client = this.deps.access?.clientOf(req) ?? req.socket.remoteAddress ?? 'unknown';
    // Refused before the attempt is counted: a page on another site that the operator opens posts from the
    // operator's own address, and counted, its posts would lock the operator out for the window. Such a post
    // can never log in, so not counting it gives a guesser nothing.
    if (!this.sameOrigin(req)) {
      logins.inc({ outcome: 'cross_origin' });
      this.crossOriginLogins.warn('console:cross-origin-login', 'console: login form posted from another origin refused (rate-limited: one line per minute)', {
        client,
        ...this.originDetail(req),
      });
      return send(res, 403, 'text/html; charset=utf-8', loginPage({ base: this.base }, 'This form did not come from the console: log in from its own page.'));
    }
    // Counted before the check, so a flood of concurrent guesses is counted too; a success clears it. Counted
    // per client as the connection cap counts (an IPv6 client by its /64): one host holds a whole /64, and
    // counting its single addresses would let it guess without end by changing address.
    const attemptsKey = `${this.deps.config.redis.keyPrefix}console:login-attempts:${clientKey(client) ?? 'unknown'}`;
    const replies = await this.deps.ops.redis.multi().set(attemptsKey, '0', 'PX', LOGIN_WINDOW_MS, 'NX').incr(attemptsKey).exec();
    const attempts = Number(replies?.[1]?.[1] ?? 0);
    if (attempts > LOGIN_ATTEMPTS_MAX) {
      logins.inc({ outcome: 'throttled' });
      return send(res, 429, 'text/html; charset=utf-8', loginPage({ base: this.base }, 'Too many failed logins from here: try again later.'));
    }
    const account = await this.checkLogin(form.get('username') ?? '', form.get('password') ?? '');
    if (!account) {
      logins.inc({ outcome: 'refused' });
      // The first refusal of a window and the one that locks the client out are audited, not every guess (a flood
      // would push the operators' entries out of the audit stream); never the user typed (it may be a password).
      if (attempts === 1 || attempts === LOGIN_ATTEMPTS_MAX) {
        await this.deps.ops.audit.record({
          action: 'console.login',
          actor: `console:(refused)@${client}`,
          outcome: 'refused',
          detail: { attempts, ...(attempts === LOGIN_ATTEMPTS_MAX ? { locked_for_ms: LOGIN_WINDOW_MS } : {}) },
        });
      }
      // A pause makes guessing slow without locking the real operator out.
      await new Promise((r) => setTimeout(r, 400));
      return send(res, 401, 'text/html; charset=utf-8', loginPage({ base: this.base }, 'Wrong user or password.'));
    }
    await this.deps.ops.redis.del(attemptsKey);
    // The session this browser held, if any, ends: the new cookie replaces it there, and left live it would be
    // one more usable id until its idle timeout (OWASP Session Management Cheat Sheet: renew the id at login,
    // invalidating the previous one).
    await this.sessions.destroy(cookieOf(req, COOKIE));
    await this.sessions.destroy(cookieOf(req, HOST_COOKIE));
    const { id } = await this.sessions.create(account);
    logins.inc({ outcome: 'ok' });
    await this.deps.ops.audit.record({ action: 'console.login', actor: `console:${account.username}@${client}`, outcome: 'ok' });
    this.deps.logger.info('console: login', { user: account.username, role: account.role, client });
    redirect(res, this.base, { 'set-cookie': this.cookie(req, id, Math.floor(this.deps.config.console.sessionTtlMs / 1000)) });
  }

  /**
   * The account `user` and `password` log in to, or undefined. Takes the same time whether the user exists or
   * not and whichever was wrong: every account's name is compared (whole, never cut: a cut would let a longer
   * name that begins with a configured one in; both are hashed before the comparison, so any length compares in
   * the same time), and then one password check of the same cost, against the account's password or, for no
   * account, a decoy: when any account's password is a hash, one scrypt for a clear-password account or none
   * too, against {@link decoy}, with the parameters the accounts' hashes use.
   */
  private async checkLogin(user: string, password: string): Promise<LoginAccount | undefined> {
    let account: LoginAccount | undefined;
    for (const a of this.accounts) if (constantTimeEqual(user, a.username) && account === undefined) account = a;
    // Against the decoy, false (its hash is of no password); only an account's own hash logs in, below.
    const hashOk = this.anyHashed ? await verifyConsolePasswordHash(account?.hash ?? this.decoy, password) : false;
    // Compared always, for no account against a value no password equals (16+ characters are required).
    const clearOk = constantTimeEqual(password, account && !account.hash ? account.password : '\0');
    if (!account) return undefined;
    return (account.hash ? hashOk : clearOk) ? account : undefined;
  }

  private async summary(res: ServerResponse): Promise<void> {
    const { operations } = this.deps.ops;
    const [m1, m15, latency] = await Promise.all([operations.counts(60_000), operations.counts(15 * 60_000), operations.latency(200)]);
    const rate = (r: number | null) => (r === null ? 'n/a' : `${(r * 100).toFixed(2)} %`);
    send(
      res,
      200,
      'application/json',
      JSON.stringify({
        at: new Date().toISOString().replace('T', ' ').slice(0, 19),
        success1m: rate(m1.successRate),
        success15m: rate(m15.successRate),
        received1m: m1.received,
        succeeded1m: m1.succeeded,
        failed1m: m1.failed,
        p50: latency ? `${latency.p50} ms` : 'n/a',
        p99: latency ? `${latency.p99} ms` : 'n/a',
        unresolved: m1.byState.UNRESOLVED,
        unknown: m1.byState.UNKNOWN,
        pending: m1.byState.PENDING,
      }),
    );
  }

  /**
   * The search box (a POST: what is typed never lands in a URL). One operation found: 303 to its page, whose URL
   * names only its id (a reload repeats nothing). None or several (an order's operations): listed in the answer.
   * What looks like a card number is not searched, not echoed and not audited: the operator is told so.
   */
  private async lookup(req: IncomingMessage, res: ServerResponse, page: PageContext, session: ConsoleSession, form: URLSearchParams): Promise<void> {
    const query = (form.get('q') ?? '').trim();
    if (query === '') return redirect(res, this.base);
    // Refused, not cut: a cut query is a lookup (and an audit entry) of something nobody typed. Not echoed
    // back: the form never sends this much, so it is not an operator's typo.
    if (query.length > MAX_LOOKUP_CHARS)
      return send(
        res,
        400,
        'text/html; charset=utf-8',
        messagePage(page, 'Query too long', `The lookup field q is longer than ${MAX_LOOKUP_CHARS} characters: an order or operation id is shorter.`),
      );
    if (containsCardNumber(query)) {
      lookups.inc({ result: 'card_number' });
      // Audited without what was typed (the audit log is redacted anyway): who tried, and that it was refused.
      await this.audit(req, session, 'ops.lookup', 'refused', undefined, { by: 'console', reason: 'card_number' });
      return send(
        res,
        400,
        'text/html; charset=utf-8',
        messagePage(
          page,
          'Not searched: a card number?',
          'What you typed looks like a card number. The console never searches by card number, and it was neither kept nor logged. Search by order id or operation id.',
        ),
      );
    }
    const { operations } = this.deps.ops;
    const found: OperationDetail[] = [];
    const byId = await operations.show(query);
    if (byId) found.push(byId);
    for (const detail of await operations.showOrder(query)) {
      if (!found.some((f) => f.operation.id === detail.operation.id)) found.push(detail);
    }
    await this.audit(req, session, 'ops.lookup', 'ok', query, { by: 'console', found: found.length });
    if (found.length === 1) {
      lookups.inc({ result: 'one' });
      return redirect(res, operationPath(this.base, found[0].operation.id));
    }
    lookups.inc({ result: 'listed' });
    send(res, 200, 'text/html; charset=utf-8', lookupPage(page, query, found));
  }

  /** An operation's own page (`<console>/operations/<id>`, as a lookup's redirect and the lists' links name it). */
  private async operation(req: IncomingMessage, res: ServerResponse, page: PageContext, session: ConsoleSession, escaped: string): Promise<void> {
    let id: string;
    try {
      id = decodeURIComponent(escaped);
    } catch {
      id = '';
    }
    // Never echoed, never searched: the console's own links only name operation ids, which hold no card number.
    if (!PRINTABLE_ID.test(id) || containsCardNumber(id))
      return send(res, 404, 'text/html; charset=utf-8', messagePage(page, 'Not found', 'No such operation.'));
    const detail = await this.deps.ops.operations.show(id);
    await this.audit(req, session, 'ops.operation', 'ok', id, { by: 'console', found: detail ? 1 : 0 });
    if (!detail) return send(res, 404, 'text/html; charset=utf-8', messagePage(page, 'Not found', 'No such operation.'));
    send(res, 200, 'text/html; charset=utf-8', operationPage(page, detail, await heldForPspRetryOf(this.deps.ops, id)));
  }

  /**
   * "Archive now": moves what the dead-letter queue holds into the archive at once instead of at the
   * workers' next pass (`amqp.dead_letter_archive_interval_ms`), then back to the dashboard. A POST, as it
   * changes state (the queue's messages are acked); the dashboard itself only reads.
   */
  private async archive(req: IncomingMessage, res: ServerResponse, page: PageContext, session: ConsoleSession): Promise<void> {
    let imported: { moved: number; created: number };
    try {
      imported = await this.deps.ops.importDeadLetters();
    } catch (err) {
      const message = (err as Error).message;
      await this.audit(req, session, 'ops.dead_letters_archive', 'refused', undefined, { error: message });
      return send(
        res,
        503,
        'text/html; charset=utf-8',
        messagePage(page, 'Dead-letter queue unreachable', `The dead-letter queue could not be read: ${message}. The archive is as the last pass left it.`),
      );
    }
    await this.audit(req, session, 'ops.dead_letters_archive', 'ok', undefined, { moved: imported.moved, new: imported.created });
    this.deps.logger.info('console: dead letters archived', { user: session.user, moved: imported.moved, new: imported.created });
    redirect(res, this.base);
  }

  /**
   * The rows a list action's form selected (`id`), each parsed by `parse` (null: not a row the dashboard
   * lists). Refused whole with 400, never cut and never echoed (the dashboard's form only sends what it
   * listed), when none is selected, more than {@link MAX_SELECTED}, or one does not parse or holds a card
   * number: `null` then, the answer sent.
   */
  private selected<T>(res: ServerResponse, page: PageContext, form: URLSearchParams, noun: string, parse: (id: string) => T | null): T[] | null {
    const ids = [...new Set(form.getAll('id'))];
    if (ids.length === 0) {
      send(res, 400, 'text/html; charset=utf-8', messagePage(page, 'Nothing selected', `Select at least one ${noun}.`));
      return null;
    }
    const rows: T[] = [];
    for (const id of ids.length > MAX_SELECTED ? [] : ids) {
      const row = containsCardNumber(id) ? null : parse(id);
      if (row === null) break;
      rows.push(row);
    }
    if (rows.length === ids.length) return rows;
    send(
      res,
      400,
      'text/html; charset=utf-8',
      messagePage(
        page,
        'Not what the dashboard lists',
        `The parameter id must name at most ${MAX_SELECTED} of the dashboard's rows (${noun}s), as it lists them.`,
      ),
    );
    return null;
  }

  /**
   * One list action: the selected rows (`selected`), `act` on them with the console user as the actor, an info
   * line `console: <done>` with how many were selected and how many `took`, then the result page.
   */
  private async listAction<T, R>(
    req: IncomingMessage,
    res: ServerResponse,
    page: PageContext,
    session: ConsoleSession,
    form: URLSearchParams,
    action: {
      noun: string;
      parse: (id: string) => T | null;
      act: (rows: T[], actor: string) => Promise<R[]>;
      took: (result: R) => boolean;
      done: string;
      render: (page: PageContext, results: R[]) => string;
    },
  ): Promise<void> {
    const rows = this.selected(res, page, form, action.noun, action.parse);
    if (!rows) return;
    const results = await action.act(rows, this.actor(req, session.user));
    this.deps.logger.info(`console: ${action.done}`, { user: session.user, count: rows.length, done: results.filter(action.took).length });
    send(res, 200, 'text/html; charset=utf-8', action.render(page, results));
  }

  /** Makes the selected PENDING, UNKNOWN or UNRESOLVED operations due at once for the poller (`recheckOperations`: each audit-logged). */
  private recheck(req: IncomingMessage, res: ServerResponse, page: PageContext, session: ConsoleSession, form: URLSearchParams): Promise<void> {
    return this.listAction(req, res, page, session, form, {
      noun: 'operation',
      parse: (id) => (PRINTABLE_ID.test(id) ? id : null),
      act: (ids, actor) => recheckOperations(this.deps.ops, ids, actor, 'console'),
      took: (r) => r.result === 'due_now',
      done: 'operations made due for the poller',
      render: recheckResultPage,
    });
  }

  /**
   * Sends the selected set-aside events again (`resendSetAsideEvents`: each audit-logged). A form carrying a dismissal
   * reason is refused with 400, nothing resent or echoed: Enter in the reason field submits through the form's first
   * button, Resend, where the operator meant Dismiss.
   */
  private async resendEvents(req: IncomingMessage, res: ServerResponse, page: PageContext, session: ConsoleSession, form: URLSearchParams): Promise<void> {
    if ((form.get('reason') ?? '').trim() !== '')
      return send(
        res,
        400,
        'text/html; charset=utf-8',
        messagePage(
          page,
          'Not resent: a reason was given',
          'A reason goes with Dismiss: press Dismiss to dismiss the selected events, or clear the field to resend them.',
        ),
      );
    return this.listAction(req, res, page, session, form, {
      noun: 'event',
      parse: (id) => (PRINTABLE_ID.test(id) ? id : null),
      act: (ids, actor) => resendSetAsideEvents(this.deps.ops, ids, actor, 'console'),
      took: (r) => r.result === 'queued',
      done: 'set-aside events resent',
      render: eventResendResultPage,
    });
  }

  /**
   * Dismisses the selected set-aside events the bus will never take (`dismissSetAsideEvents`, as `ops events dismiss`:
   * each audit-logged as `event.dismiss` with the console user and the reason, counted, logged). `reason` required, at
   * most {@link EVENT_DISMISS_REASON_MAX} characters, never a card number: refused with 400, nothing done and nothing
   * echoed, as the held-retry release's.
   */
  private async dismissEvents(req: IncomingMessage, res: ServerResponse, page: PageContext, session: ConsoleSession, form: URLSearchParams): Promise<void> {
    const refuse = (title: string, message: string) => send(res, 400, 'text/html; charset=utf-8', messagePage(page, title, message));
    const reason = form.get('reason') ?? '';
    const refused = dismissReasonRefusal(reason);
    if (refused === 'missing') return refuse('Reason required', 'The field reason is required: why the bus will never take these events.');
    if (refused === 'too_long') return refuse('Reason too long', `The field reason is longer than ${EVENT_DISMISS_REASON_MAX} characters.`);
    // Kept on the event and in the audit log: a card number has no place there (refused, never echoed or logged).
    if (containsCardNumber(reason))
      return refuse('Not dismissed: a card number?', 'The field reason looks like it holds a card number. Describe the case without it.');
    return this.listAction(req, res, page, session, form, {
      noun: 'event',
      parse: (id) => (PRINTABLE_ID.test(id) ? id : null),
      act: (ids, actor) => dismissSetAsideEvents(this.deps.ops, ids, { actor, reason, by: 'console' }),
      took: (r) => r.result === 'dismissed',
      done: 'set-aside events dismissed',
      render: eventDismissResultPage,
    });
  }

  /** Applies the selected failed webhook outcomes again (`retryFailedWebhooks`: each audit-logged). */
  private retryWebhooks(req: IncomingMessage, res: ServerResponse, page: PageContext, session: ConsoleSession, form: URLSearchParams): Promise<void> {
    return this.listAction(req, res, page, session, form, {
      noun: 'webhook outcome',
      parse: (id): WebhookRef | null => {
        const m = WEBHOOK_REF.exec(id);
        return m && Object.prototype.hasOwnProperty.call(this.deps.config.gateways, m[1]) ? { gateway: m[1], eventId: m[2] } : null;
      },
      act: (refs, actor) => retryFailedWebhooks(this.deps.ops, refs, actor),
      took: (r) => r.result === 'retried',
      done: 'failed webhook outcomes retried',
      render: webhookRetryResultPage,
    });
  }

  /**
   * Dismisses the selected held re-captures the operator settled with the PSP (`dismissHeldRecaptures`, as
   * `ops recaptures dismiss`: each audit-logged, counted, with a history entry naming the console user).
   */
  private dismissRecaptures(req: IncomingMessage, res: ServerResponse, page: PageContext, session: ConsoleSession, form: URLSearchParams): Promise<void> {
    return this.listAction(req, res, page, session, form, {
      noun: 'held re-capture',
      parse: (id) => (PRINTABLE_ID.test(id) ? id : null),
      act: (ids, actor) => dismissHeldRecaptures(this.deps.ops, ids, actor),
      took: (r) => r.result === 'dismissed',
      done: 'held re-captures dismissed',
      render: recaptureDismissResultPage,
    });
  }

  /**
   * Releases one capture or refund from its hold for its PSP's own retry, from its operation page's form, through the
   * same `releaseHeldForPspRetry` as `ops held-retries release` (one script; audit-logged `ops.held_retry_release` with
   * the console user, counted in `pb_held_for_psp_retry_released_total`, logged): `mode` `dry_run` (the default: says
   * what it would do, changes nothing) or `execute`; `reason` required (what the PSP confirmed), at most
   * {@link HELD_RELEASE_REASON_MAX} characters, never a card number. Refused with 400, nothing done and nothing echoed,
   * without one id of the shape the page sends, without a reason, or with a mode the form does not offer.
   */
  private async releaseHeldRetry(req: IncomingMessage, res: ServerResponse, page: PageContext, session: ConsoleSession, form: URLSearchParams): Promise<void> {
    const refuse = (title: string, message: string) => send(res, 400, 'text/html; charset=utf-8', messagePage(page, title, message));
    const ids = [...new Set(form.getAll('id'))];
    if (ids.length !== 1 || !PRINTABLE_ID.test(ids[0]) || containsCardNumber(ids[0]))
      return refuse('Not an operation', 'The parameter id must name one operation, as its page names it.');
    const reason = (form.get('reason') ?? '').trim();
    if (reason === '') return refuse('Reason required', 'The field reason is required: what the PSP confirmed (e.g. the support case).');
    if (reason.length > HELD_RELEASE_REASON_MAX) return refuse('Reason too long', `The field reason is longer than ${HELD_RELEASE_REASON_MAX} characters.`);
    // Kept on the record and in the audit log: a card number has no place there (refused, never echoed or logged).
    if (containsCardNumber(reason))
      return refuse('Not released: a card number?', 'The field reason looks like it holds a card number. Describe the case without it.');
    // Absent: a dry run, the default everywhere; anything else is not a choice the form offers.
    const mode = form.get('mode') ?? 'dry_run';
    if (mode !== 'dry_run' && mode !== 'execute') return refuse('Not a release mode', 'The parameter mode must be dry_run or execute.');
    const execute = mode === 'execute';
    const id = ids[0];
    const deps = { ledger: this.deps.ops.ledger, audit: this.deps.ops.audit, logger: this.deps.logger };
    const result = await releaseHeldForPspRetry(deps, id, { reason, execute, actor: this.actor(req, session.user) });
    this.deps.logger.info(`console: held retry release ${execute ? 'executed' : 'dry run'}`, { user: session.user, operation_id: id, result: result.result });
    send(res, 200, 'text/html; charset=utf-8', heldRetryReleaseResultPage(page, result));
  }

  /** Releases or declines the selected review holds (`decideHeldReview`: each audit-logged). */
  private async decideReviews(req: IncomingMessage, res: ServerResponse, page: PageContext, session: ConsoleSession, form: URLSearchParams): Promise<void> {
    const decision = form.get('decision');
    if (decision !== 'release' && decision !== 'decline') {
      return send(res, 400, 'text/html; charset=utf-8', messagePage(page, 'Not a decision', 'The parameter decision must be release or decline.'));
    }
    const deps = { ...this.deps.ops, logger: this.deps.logger };
    return this.listAction(req, res, page, session, form, {
      noun: 'held authorization',
      parse: (id) => (PRINTABLE_ID.test(id) ? id : null),
      act: async (ids, actor) => {
        const results: Array<{ id: string; result: ReviewDecisionResult }> = [];
        for (const id of ids) results.push({ id, result: await decideHeldReview(deps, id, actor, decision) });
        return results;
      },
      took: (r) => r.result === 'released' || r.result === 'declined',
      done: `review holds ${decision === 'release' ? 'released' : 'declined'}`,
      render: (p, results) => reviewDecisionResultPage(p, decision, results),
    });
  }

  /** Puts the selected parked split tenders (or refunds) back on the sweep (`resumeParkedSplitTender`: each audit-logged). */
  private resumeSplits(req: IncomingMessage, res: ServerResponse, page: PageContext, session: ConsoleSession, form: URLSearchParams): Promise<void> {
    return this.listAction(req, res, page, session, form, {
      noun: 'parked split tender',
      parse: (id) => {
        const m = PARKED_SPLIT.exec(id);
        return m ? { name: m[0], split: m[1], refund: m[2] } : null;
      },
      act: async (splits, actor) => {
        const results: Array<{ name: string; result: 'resumed' | 'not_open' }> = [];
        for (const s of splits) results.push({ name: s.name, result: await resumeParkedSplitTender(this.deps.ops, s.split, s.refund, actor) });
        return results;
      },
      took: (r) => r.result === 'resumed',
      done: 'parked split tenders resumed',
      render: splitResumeResultPage,
    });
  }

  private async replay(req: IncomingMessage, res: ServerResponse, page: PageContext, session: ConsoleSession, form: URLSearchParams): Promise<void> {
    const ids = [...new Set(form.getAll('id'))];
    if (ids.length === 0)
      return send(res, 400, 'text/html; charset=utf-8', messagePage(page, 'Nothing selected', 'Select at least one dead letter to replay.'));
    // Refused, never cut: a cut would replay some of what was selected and say nothing of the rest.
    if (ids.length > MAX_REPLAY_IDS) {
      return send(
        res,
        400,
        'text/html; charset=utf-8',
        messagePage(page, 'Too many selected', `One replay takes at most ${MAX_REPLAY_IDS} dead letters (the parameter id names ${ids.length}).`),
      );
    }
    // Refused whole, never skipped (the rest would be replayed as if that were all) and never echoed: the
    // dashboard's form only sends the ids it listed.
    if (!ids.every((id) => DEAD_LETTER_ID.test(id))) {
      return send(
        res,
        400,
        'text/html; charset=utf-8',
        messagePage(page, 'Not what the dashboard lists', 'The parameter id must name dead letters as the dashboard lists them (dl- and 24 hex digits).'),
      );
    }
    // Absent: a dry run, the default everywhere; anything else is not a choice the form offers.
    const mode = form.get('mode') ?? 'dry_run';
    if (mode !== 'dry_run' && mode !== 'execute')
      return send(res, 400, 'text/html; charset=utf-8', messagePage(page, 'Not a replay mode', 'The parameter mode must be dry_run or execute.'));
    const execute = mode === 'execute';
    const plans = await this.deps.ops.replay.run(ids, { execute, actor: this.actor(req, session.user) });
    this.deps.logger.info(`console: dead-letter replay ${execute ? 'executed' : 'dry run'}`, {
      user: session.user,
      count: ids.length,
      published: plans.filter((p) => p.published).length,
    });
    send(res, 200, 'text/html; charset=utf-8', replayResultPage(page, execute, plans));
  }
}
