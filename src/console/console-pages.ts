import { UNNAMED_RELEASE, UPGRADE_TOGETHER, describeRelease } from '../fleet/running-processes';
import { releaseName } from '../fleet/release-identity';
import { AuditRecord } from '../audit/audit-log';
import { redactText } from '../logging/redact';
import { shownDeadLetter, shownInteraction } from '../ops/shown-records';
import { formatMinor } from '../money/minor-units';
import { ReplayPlan } from '../ops/dead-letter-replay';
import { DeadLetterCursor, DeadLetterRecord } from '../ops/dead-letter-store';
import { formatDeadLetterCursor } from '../ops/dead-letter-cursor';
import { OperationDetail, OperationView, confirmedText } from '../ops/operation-detail';
import { ConsoleSnapshot, DEAD_LETTERS_PER_PAGE } from './console-snapshot';
import type { RejectedEvent, SetAsideMiss } from '../events/event-store';
import type { EventResendResult } from '../ops/event-resend';
import { EVENT_DISMISS_REASON_MAX, EventDismissResult } from '../ops/event-dismiss';
import type { FailedWebhook, WebhookRetryResult } from '../ops/failed-webhooks';
import type { ReviewDecisionResult } from '../poller/risk-review-expiry';
import type { ReviewHold } from '../risk/review-store';
import type { HeldRecaptureView, RecaptureDismissal } from '../ops/held-recaptures';
import { releasedEffect, type HeldForPspRetryView, type HeldRetryRelease } from '../ops/held-for-psp-retry';
import type { ParkedSplitTender } from '../ops/parked-split-tenders';
import type { RecheckResult } from '../ops/recheck';
import type { RecentRun } from '../reconciliation-run/reconciliation-history';
import type { GatewayReconciliation } from '../ops/reconciliation-status';
import { SafeHtml, html } from './html';

/** What every page needs: where the console lives, the logged-in user and the form token. */
export interface PageContext {
  base: string;
  user?: string;
  /** The logged-in account's role: a `viewer` is shown no action buttons (the route refuses its posts anyway). */
  role?: 'operator' | 'viewer';
  csrf?: string;
}

/** Whether the page's account may act (an operator, or a page without a login). */
const mayAct = (ctx: PageContext): boolean => ctx.role !== 'viewer';

const money = (amount: number | undefined, currency: string | undefined): string => {
  if (amount === undefined || !currency) return '';
  try {
    return `${formatMinor(amount, currency)} ${currency}`;
  } catch {
    // A currency with no exponent we know (or a fraction of a unit): the stored figure, said to be minor units, as
    // `ops show` says it, never read as major units.
    return `${amount} (minor units) ${currency}`;
  }
};
/** A stored time as shown; one no date can hold (a hand-edited or corrupt record) reads as such instead of failing the page. */
const time = (ms: number | undefined): string => {
  if (ms === undefined) return '';
  const d = new Date(typeof ms === 'number' ? ms : Number.NaN);
  return Number.isNaN(d.getTime()) ? 'time unreadable' : d.toISOString().replace('T', ' ').slice(0, 19);
};
const age = (ms: number): string =>
  ms < 60_000 ? `${Math.round(ms / 1000)} s` : ms < 3_600_000 ? `${Math.round(ms / 60_000)} min` : `${(ms / 3_600_000).toFixed(1)} h`;
const rate = (r: number | null): string => (r === null ? 'n/a' : `${(r * 100).toFixed(2)} %`);

/** The page frame: header, navigation, the lookup form, and the content. */
export function layout(ctx: PageContext, title: string, content: SafeHtml): string {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title} · payment-bridge console</title>
        <link rel="stylesheet" href="${ctx.base}/static/console.css" />
        <script src="${ctx.base}/static/console.js" defer></script>
      </head>
      <body>
        <header class="top">
          <a class="brand" href="${ctx.base}">payment-bridge console</a>
          ${
            ctx.user
              ? html`<form class="lookup" method="post" action="${ctx.base}/lookup" role="search">
                    <input type="hidden" name="csrf" value="${ctx.csrf}" />
                    <label for="q" class="sr">Order or operation id</label>
                    <input id="q" name="q" type="search" placeholder="order id or operation id" required maxlength="200" autocomplete="off" />
                    <button type="submit">Find</button>
                  </form>
                  <form method="post" action="${ctx.base}/logout" class="logout">
                    <input type="hidden" name="csrf" value="${ctx.csrf}" />
                    <span class="who" id="console-user">${ctx.user} (${ctx.role ?? 'operator'})</span>
                    <button type="submit">Log out ${ctx.user}</button>
                  </form>`
              : ''
          }
        </header>
        <main>${content}</main>
      </body>
    </html> `.text;
}

export function loginPage(ctx: PageContext, error?: string): string {
  return layout(
    ctx,
    'Log in',
    html`<section class="card narrow">
      <h1>Log in</h1>
      ${error ? html`<p class="error" role="alert">${error}</p>` : ''}
      <form method="post" action="${ctx.base}/login">
        <label for="username">User</label>
        <input id="username" name="username" autocomplete="username" required maxlength="64" />
        <label for="password">Password</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required maxlength="256" />
        <button type="submit">Log in</button>
      </form>
    </section>`,
  );
}

/**
 * Operations (stuck ones, a lookup's) as an action list: "Ask the PSP now" makes the selected PENDING,
 * UNKNOWN or UNRESOLVED ones due for the poller's next pass (`recheckOperations`).
 */
function operationsForm(ctx: PageContext, ops: OperationView[], id: string): SafeHtml {
  return actionForm(ctx, {
    id,
    action: '/operations/recheck',
    rowKey: 'operation',
    headers: ['operation', 'order', 'command', 'gateway', 'amount', 'state', 'attempts', 'age', 'reason'],
    rows: ops.map((o) => ({
      value: o.id,
      cells: [
        lookupLink(ctx, o.id),
        o.orderId,
        html`${o.command} <small>${o.channel}</small>`,
        o.gateway,
        { num: money(o.amount, o.currency) },
        stateCell(o),
        { num: o.attempts },
        age(o.ageMs),
        o.reason,
      ],
    })),
    buttons: html`<button type="submit">Ask the PSP now (PENDING, UNKNOWN, UNRESOLVED)</button>`,
  });
}

/** An operation's state, and what the bridge's marks say of it (done at the PSP after all, undone since) next to it. */
function stateCell(o: OperationView): SafeHtml {
  return html`<span class="state s-${o.state}">${o.state}</span>${o.stateNote ? html`<span class="state-note">${o.stateNote}</span>` : ''}`;
}

/** One cell of an action list: text (escaped), markup (`html`), or a figure shown right-aligned (`{ num }`). */
type Cell = SafeHtml | string | number | null | undefined | { num: string | number | SafeHtml };

function cell(c: Cell): SafeHtml {
  return typeof c === 'object' && c !== null && !(c instanceof SafeHtml) ? html`<td class="num">${c.num}</td>` : html`<td>${c}</td>`;
}

/** A scrolling table: `headers`, then one row per entry with its attributes (`data-*`, markup) and cells. */
function dataTable(id: string, headers: ReadonlyArray<string | SafeHtml>, rows: ReadonlyArray<{ attrs?: SafeHtml; cells: Cell[] }>): SafeHtml {
  return html`<div class="scroll">
    <table id="${id}">
      <thead>
        <tr>
          ${headers.map((h) => html`<th>${h}</th>`)}
        </tr>
      </thead>
      <tbody>
        ${rows.map((r) => html`<tr${r.attrs ?? ''}>${r.cells.map(cell)}</tr>`)}
      </tbody>
    </table>
  </div>`;
}

/**
 * A list the operator acts on: a table with a box per row (`name="id"`, the row's `value`), in a form that
 * posts the selected ids and the session's CSRF token to `action` with one of `buttons`. Every row carries
 * `data-<rowKey>="<value>"`. Empty: `none`.
 */
function actionForm(
  ctx: PageContext,
  list: {
    id: string;
    action: string;
    rowKey: string;
    headers: string[];
    rows: Array<{ value: string; cells: Cell[] }>;
    buttons: SafeHtml;
    selectAll?: boolean;
  },
): SafeHtml {
  if (list.rows.length === 0) return html`<p class="empty" id="${list.id}">none</p>`;
  if (!mayAct(ctx))
    return dataTable(
      list.id,
      list.headers,
      list.rows.map((r) => ({ attrs: html` data-${list.rowKey}="${r.value}"`, cells: r.cells })),
    );
  const selectAll = list.selectAll ? html`<input type="checkbox" data-select-all aria-label="select all" />` : '';
  return html`<form method="post" action="${ctx.base}${list.action}" id="${list.id}-form">
    <input type="hidden" name="csrf" value="${ctx.csrf}" />
    ${dataTable(
      list.id,
      [selectAll, ...list.headers],
      list.rows.map((r) => ({
        attrs: html` data-${list.rowKey}="${r.value}"`,
        cells: [html`<input type="checkbox" name="id" value="${r.value}" aria-label="select ${r.value}" />`, ...r.cells],
      })),
    )}
    <div class="actions">${list.buttons}</div>
  </form>`;
}

/** What an action from the console did with each selected row: a table of rows with `data-<rowKey>` and `data-result`. */
function actionResultPage(
  ctx: PageContext,
  title: string,
  list: { id: string; rowKey: string; headers: string[]; rows: Array<{ value: string; result: string; cells: Cell[] }> },
): string {
  return layout(
    ctx,
    title,
    html`<section>
      <h1>${title}</h1>
      ${dataTable(
        list.id,
        list.headers,
        list.rows.map((r) => ({ attrs: html` data-${list.rowKey}="${r.value}" data-result="${r.result}"`, cells: r.cells })),
      )}
      <p><a href="${ctx.base}">back to the dashboard</a></p>
    </section>`,
  );
}

/**
 * The path of an operation's own page: its id, escaped, is all its URL holds (a lookup's query never lands in a
 * URL: the search box posts it).
 */
export function operationPath(base: string, id: string): string {
  return `${base}/operations/${encodeURIComponent(id)}`;
}

/**
 * `row` with every string field masked (card numbers, bearer credentials, secrets), numbers as they are: what the
 * dashboard's lists show of a stored record, a second line after the writers' redaction, as a dead letter and an
 * operation are shown (`shownDeadLetter`, `operationView`). The row's key is masked too, in its box's value and
 * `data-*`: the actions refuse an id holding a card number anyway.
 */
function masked<T extends object>(row: T): T {
  return Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === 'string' ? redactText(v) : v])) as T;
}

/** A link to an operation's own page. */
function lookupLink(ctx: PageContext, id: string): SafeHtml {
  return html`<a href="${operationPath(ctx.base, id)}">${id}</a>`;
}

/**
 * The set-aside events: "Resend" posts the selected to the resend action (`ops events resend`); "Dismiss" posts them with
 * the reason field to the dismiss action (`formaction`; `ops events dismiss`: the reason is required there, so the field
 * is not `required` here, which would block a resend).
 */
function rejectedEventsForm(ctx: PageContext, events: RejectedEvent[]): SafeHtml {
  return actionForm(ctx, {
    id: 'rejected-events',
    action: '/events/resend',
    rowKey: 'event',
    headers: ['event', 'method', 'sequence', 'payment', 'reason', 'since'],
    rows: events.map(masked).map((e) => ({ value: e.eventId, cells: [e.eventId, e.method, { num: e.sequence }, e.paymentKey, e.reason, time(e.rejectedAt)] })),
    buttons: html`<button type="submit" class="danger">Resend</button>
      <label for="dismiss-reason">reason</label>
      <input
        type="text"
        id="dismiss-reason"
        name="reason"
        maxlength="${String(EVENT_DISMISS_REASON_MAX)}"
        placeholder="to dismiss: why the bus will never take them"
      />
      <button type="submit" formaction="${ctx.base}/events/dismiss" class="danger">Dismiss: the bus will never take them</button>`,
  });
}

function failedWebhooksForm(ctx: PageContext, webhooks: FailedWebhook[]): SafeHtml {
  return actionForm(ctx, {
    id: 'failed-webhooks',
    action: '/webhooks/retry',
    rowKey: 'webhook',
    headers: ['gateway', 'PSP event', 'operation', 'outcome', 'why it was given up', 'attempts', 'since'],
    rows: webhooks.map(masked).map((w) => ({
      value: `${w.gateway}/${w.event_id}`,
      cells: [
        w.gateway,
        w.event_id,
        w.operation_id ? lookupLink(ctx, w.operation_id) : `psp ${w.psp_reference ?? '?'}`,
        w.outcome,
        w.reason,
        { num: w.attempts },
        w.failed_at,
      ],
    })),
    buttons: html`<button type="submit" class="danger">Retry</button>`,
  });
}

function reviewsForm(ctx: PageContext, holds: ReviewHold[]): SafeHtml {
  return actionForm(ctx, {
    id: 'risk-reviews',
    action: '/risk-reviews/decide',
    rowKey: 'review',
    headers: ['operation', 'rule', 'signals', 'held since', 'voided at'],
    rows: holds
      .map(masked)
      .map((h) => ({ value: h.operationId, cells: [lookupLink(ctx, h.operationId), h.rule, h.signals, time(h.createdAt), time(h.deadline)] })),
    buttons: html`<button type="submit" name="decision" value="release">Release: send to the PSP</button>
      <button type="submit" name="decision" value="decline" class="danger">Decline: fail, never sent</button>`,
  });
}

/** A parked split (or split refund) as the console's form names it: `<split id>` or `<split id>/<refund id>`. */
function parkedSplitName(p: Pick<ParkedSplitTender, 'split' | 'refund'>): string {
  return p.refund ? `${p.split}/${p.refund}` : p.split;
}

function parkedSplitsForm(ctx: PageContext, parked: ParkedSplitTender[]): SafeHtml {
  return actionForm(ctx, {
    id: 'parked-splits',
    action: '/split-tenders/resume',
    rowKey: 'split',
    headers: ['split tender', 'refund', 'faults', 'last fault', 'parked since'],
    rows: parked.map(masked).map((p) => ({ value: parkedSplitName(p), cells: [p.split, p.refund, { num: p.faults }, p.error_class, p.parked_at] })),
    buttons: html`<button type="submit">Resume</button>`,
  });
}

function deadLettersForm(ctx: PageContext, records: DeadLetterRecord[]): SafeHtml {
  return actionForm(ctx, {
    id: 'dead-letters',
    action: '/dead-letters/replay',
    rowKey: 'dead-letter',
    selectAll: true,
    headers: ['dead letter', 'when', 'triage', 'impact', 'code', 'order', 'command', 'amount', 'replays', 'reason'],
    rows: records.map(shownDeadLetter).map((r) => ({
      value: r.id,
      cells: [
        html`<a href="${ctx.base}/dead-letters/${r.id}">${r.id}</a>`,
        time(r.deadLetteredAt),
        html`<span class="triage t-${r.category}">${r.category}</span>`,
        { num: r.impact },
        r.code,
        r.orderId,
        r.command,
        { num: money(r.amount, r.currency) },
        { num: r.replays },
        r.reason,
      ],
    })),
    buttons: html`<button type="submit" name="mode" value="dry_run">Dry run</button>
      <button type="submit" name="mode" value="execute" class="danger">Replay</button>`,
  });
}

/** A run's result as both reconciliation tables show it: `failed: HttpError`, `done (dry run)`. */
const runResult = (r: RecentRun): string => `${r.result}${r.dryRun ? ' (dry run)' : ''}${r.error ? `: ${r.error}` : ''}`;

/**
 * Re-captures held past their wait for the capture failure they follow: the PSP decides what happened, so each is
 * checked there first; once settled, "Dismiss" takes the selected out of the list and the gauge (`ops recaptures dismiss`).
 */
function heldRecapturesForm(ctx: PageContext, rows: HeldRecaptureView[]): SafeHtml {
  return actionForm(ctx, {
    id: 'held-recaptures',
    action: '/recaptures/dismiss',
    rowKey: 'operation',
    headers: ['operation', 'command', 'gateway', 'PSP reference', 're-captured', 'amount', 'waiting since', 'waited'],
    rows: rows.map((r) => ({
      value: r.operation_id,
      cells: [
        lookupLink(ctx, r.operation_id),
        r.command,
        r.gateway,
        r.psp_reference ?? '',
        r.recaptured_at ?? 'unknown',
        money(r.amount ?? undefined, r.currency ?? undefined),
        r.held_since,
        age(r.waited_ms),
      ],
    })),
    buttons: html`<button type="submit" class="danger">Dismiss: settled with the PSP</button>`,
  });
}

/**
 * What a run did to its gateway's reconciled-through mark (`RecentRun.mark`: moved, covered, gap, held), as both
 * reconciliation tables show it; a held window says what lets the mark pass it (as `ops reconciliation` does).
 * Empty for a run that did not finish applied, or an entry of an older release.
 */
const runMark = (r: RecentRun): string =>
  r.mark === 'held' ? 'held: its window is not reconciled; the mark stays at its start until it is reconciled again with --again' : (r.mark ?? '');

/**
 * Each gateway's reconciliation: how far it is reconciled without a gap (retention waits for that mark), the
 * complete windows due past it (0 when the schedule keeps up), and its latest run, kept per gateway so that a
 * gateway reconciled daily stays in sight when an hourly one fills the list of latest runs.
 */
function reconciliationGatewayTable(rows: GatewayReconciliation[]): SafeHtml {
  if (rows.length === 0) return html`<p class="empty" id="reconciliation-gateways">no gateway has a reconciliation reader</p>`;
  return dataTable(
    'reconciliation-gateways',
    ['gateway', 'reconciled through', 'windows due past it', 'latest run ended', 'latest result', 'differences', 'PSP lines not read', 'latest mark'],
    rows.map((r) => ({
      attrs: html` data-gateway="${r.gateway}" data-result="${r.latest?.result ?? 'none'}" data-windows-behind="${r.windowsBehind ?? ''}"`,
      cells: [
        r.gateway,
        r.reconciledThrough === null ? 'never' : time(r.reconciledThrough),
        { num: r.windowsBehind ?? '' },
        r.latest === null ? 'none recorded' : time(r.latest.at),
        r.latest === null ? '' : runResult(r.latest),
        { num: r.latest === null ? '' : r.latest.differences },
        { num: r.latest === null ? '' : (r.latest.unreadable ?? 0) },
        r.latest === null ? '' : runMark(r.latest),
      ],
    })),
  );
}

/**
 * The live processes and their releases: one release is a settled fleet; two for longer than a deploy takes is a
 * process left behind (alert `PaymentBridgeMixedReleases`).
 */
function fleetTable(fleet: ConsoleSnapshot['fleet']): SafeHtml {
  if (fleet.processes.length === 0) return html`<p class="empty" id="processes">no running process has a heartbeat under this prefix</p>`;
  const releases = fleet.releases.map(describeRelease).join('; ');
  const count = fleet.releases.length;
  return html`<p id="releases" data-releases="${count}" ${count > 1 ? html` class="error"` : html``}>
      ${count === 1 ? '1 release' : `${count} releases`}: ${releases}${count > 1 ? `: ${UPGRADE_TOGETHER}` : ''}
    </p>
    ${dataTable(
      'processes',
      ['role', 'release', 'host', 'pid', 'started'],
      fleet.processes.map(({ presence, holder }) => ({
        attrs: html` data-holder="${holder}" data-role="${presence?.role ?? 'unknown'}" data-release="${presence ? releaseName(presence) : UNNAMED_RELEASE}"`,
        cells: presence
          ? [presence.role, releaseName(presence), presence.host, { num: presence.pid }, time(presence.started_at)]
          : ['unknown', UNNAMED_RELEASE, '', '', ''],
      })),
    )}`;
}

/**
 * The latest reconciliation runs: each window's result, what differed, the PSP lines not read and what the run did to
 * the reconciled-through mark (read only: runs are the CLI's and the schedule's).
 */
function reconciliationTable(runs: RecentRun[]): SafeHtml {
  if (runs.length === 0) return html`<p class="empty" id="reconciliation-runs">none</p>`;
  const differing = (r: RecentRun) =>
    Object.entries(r.classes)
      .map(([c, n]) => `${c} ${n}`)
      .join(', ');
  return dataTable(
    'reconciliation-runs',
    ['ended', 'gateway', 'window', 'result', 'lines', 'differences', 'not read', 'mark', 'adjusted', 'settled'],
    runs.map((r) => ({
      attrs: html` data-run="${r.gateway}:${r.from}:${r.to}" data-result="${r.result}" data-mark="${r.mark ?? ''}"`,
      cells: [
        time(r.at),
        r.gateway,
        `${new Date(r.from).toISOString()} to ${new Date(r.to).toISOString()}`,
        runResult(r),
        { num: r.lines },
        { num: r.differences > 0 ? html`${r.differences} <small>${differing(r)}</small>` : 0 },
        { num: r.unreadable ?? 0 },
        runMark(r),
        { num: r.adjusted },
        { num: r.settled },
      ],
    })),
  );
}

function auditList(entries: AuditRecord[]): SafeHtml {
  if (entries.length === 0) return html`<p class="empty">none</p>`;
  return dataTable(
    'audit',
    ['when', 'who', 'what', 'target', 'outcome'],
    // Masked again: the stream may hold an entry another writer (an older release) put there as it came.
    entries.map(masked).map((e) => ({ cells: [time(e.at), e.actor, e.action, e.target, e.outcome] })),
  );
}

/** A link to the dashboard in `order`, with `per` when not the default and a dead-letter place; values URI-encoded (then escaped by `html`). */
function dashboardHref(ctx: PageContext, order: 'time' | 'impact', per: number, place?: { name: 'before' | 'after'; cursor: DeadLetterCursor }): string {
  const perPart = per === DEAD_LETTERS_PER_PAGE ? '' : `&per=${encodeURIComponent(String(per))}`;
  const placePart = place ? `&${place.name}=${encodeURIComponent(formatDeadLetterCursor(place.cursor))}` : '';
  return `${ctx.base}?dl=${encodeURIComponent(order)}${perPart}${placePart}`;
}

/** "Newer" and "Older" under the dead-letter list, each where there are such records. */
function deadLetterPager(ctx: PageContext, s: ConsoleSnapshot, order: 'time' | 'impact', per: number): SafeHtml {
  const { newer, older } = s.deadLetterPaging;
  if (!newer && !older) return html``;
  const [up, down] = order === 'time' ? ['Newer', 'Older'] : ['Higher impact', 'Lower impact'];
  return html`<nav class="pager" aria-label="dead-letter pages">
    ${newer ? html`<a rel="prev" data-page="newer" href="${dashboardHref(ctx, order, per, { name: 'after', cursor: newer })}">← ${up}</a>` : ''}
    ${older ? html`<a rel="next" data-page="older" href="${dashboardHref(ctx, order, per, { name: 'before', cursor: older })}">${down} →</a>` : ''}
  </nav>`;
}

export function dashboardPage(
  ctx: PageContext,
  s: ConsoleSnapshot,
  order: 'time' | 'impact',
  stuckAfterMs: number,
  per: number = DEAD_LETTERS_PER_PAGE,
): string {
  const k = s.kpis;
  const kpi = (name: string, label: string, value: string) =>
    html`<div class="kpi"><span class="label">${label}</span><span class="value" data-kpi="${name}">${value}</span></div>`;
  return layout(
    ctx,
    'Dashboard',
    html`<section>
        <h1>Now <small data-kpi="at">${time(s.at)}</small></h1>
        <div class="kpis">
          ${kpi('success1m', 'success rate, 1 min', rate(k.lastMinute.successRate))}
          ${kpi('success15m', 'success rate, 15 min', rate(k.last15Minutes.successRate))} ${kpi('received1m', 'received, 1 min', String(k.lastMinute.received))}
          ${kpi('succeeded1m', 'succeeded, 1 min', String(k.lastMinute.succeeded))} ${kpi('failed1m', 'failed, 1 min', String(k.lastMinute.failed))}
          ${kpi('p50', 'latency p50', k.latencyMs ? `${k.latencyMs.p50} ms` : 'n/a')}
          ${kpi('p99', 'latency p99', k.latencyMs ? `${k.latencyMs.p99} ms` : 'n/a')} ${kpi('unresolved', 'UNRESOLVED', String(k.byState.UNRESOLVED))}
          ${kpi('unknown', 'UNKNOWN', String(k.byState.UNKNOWN))} ${kpi('pending', 'PENDING', String(k.byState.PENDING))}
          ${kpi('intakeRejects', 'intake refusals (this web)', String(k.intakeRejects))}
        </div>
      </section>
      <section>
        <h2>Gateways</h2>
        <div class="scroll">
          <table id="gateways">
            <thead>
              <tr>
                <th>gateway</th>
                <th>breaker</th>
                <th>succeeded</th>
                <th>failed</th>
                <th>stuck</th>
                <th>configured</th>
              </tr>
            </thead>
            <tbody>
              ${s.gateways.map(
                (g) =>
                  html`<tr>
                    <td>${g.gateway}</td>
                    <td><span class="breaker b-${g.breaker ?? 'none'}">${g.breaker ?? 'no report'}</span></td>
                    <td class="num">${g.succeeded}</td>
                    <td class="num">${g.failed}</td>
                    <td class="num">${g.stuck}</td>
                    <td>${g.configured ? 'yes' : 'NO'}</td>
                  </tr>`,
              )}
            </tbody>
          </table>
        </div>
        ${
          s.breakers.length > 0
            ? html`<details>
                <summary>breakers by worker</summary>
                <ul>
                  ${s.breakers.map((b) => html`<li>${b.gateway} on ${b.worker}: ${b.state} since ${time(b.since)}</li>`)}
                </ul>
              </details>`
            : ''
        }
      </section>
      <section>
        <h2>Stuck operations <small>not settled ${age(stuckAfterMs)} after they arrived, oldest first</small></h2>
        ${operationsForm(ctx, s.stuck, 'stuck')}
      </section>
      <section>
        <h2>
          Dead letters
          <small
            >${(['hard', 'config', 'outage', 'unknown'] as const).map((c) => html`<span class="triage t-${c}">${c} ${s.deadLetterSummary[c].open}</span> `)}</small
          >
        </h2>
        ${
          mayAct(ctx)
            ? html`<form method="post" action="${ctx.base}/dead-letters/archive" class="archive" id="dead-letters-archive">
                <input type="hidden" name="csrf" value="${ctx.csrf}" />
                <small
                  >${
                    s.deadLetterArchiveIntervalMs > 0
                      ? `moved from the dead-letter queue by the workers every ${age(s.deadLetterArchiveIntervalMs)}`
                      : 'moved from the dead-letter queue only when asked (amqp.dead_letter_archive_interval_ms: 0)'
                  }</small
                >
                <button type="submit">archive the queue now</button>
              </form>`
            : ''
        }
        <p class="sort">
          sort: <a href="${dashboardHref(ctx, 'time', per)}" ${order === 'time' ? html` aria-current="true"` : ''}>newest</a> ·
          <a href="${dashboardHref(ctx, 'impact', per)}" ${order === 'impact' ? html` aria-current="true"` : ''}>impact</a>
        </p>
        ${deadLettersForm(ctx, s.deadLetters)} ${deadLetterPager(ctx, s, order, per)}
      </section>
      <section>
        <h2>
          Events the bus refused
          <small
            >set aside: the OMS has not heard them; resend the selected once the cause is fixed (or <code>payment-bridge ops events resend</code>), or dismiss
            those the bus will never take, saying why (or <code>payment-bridge ops events dismiss</code>)</small
          >
        </h2>
        ${rejectedEventsForm(ctx, s.rejectedEvents)}
      </section>
      <section>
        <h2>Held for review <small>authorizations the risk rules held before sending: voided at the deadline unless released</small></h2>
        ${reviewsForm(ctx, s.reviews)}
      </section>
      <section>
        <h2>
          Split tenders parked
          <small>their advance kept faulting: resume the selected once the fault is fixed (or <code>payment-bridge ops split-tender-resume</code>)</small>
        </h2>
        ${parkedSplitsForm(ctx, s.parkedSplits)}
      </section>
      <section>
        <h2>
          Webhook outcomes given up on
          <small>acknowledged to the PSP, not applied: retry the selected once the cause is fixed (or <code>payment-bridge ops webhooks retry</code>)</small>
        </h2>
        ${failedWebhooksForm(ctx, s.failedWebhooks)}
      </section>
      <section>
        <h2>
          Re-captures waiting for their capture failure
          <small
            >the PSP re-captured a capture, but the failure it follows never came: the OMS holds the capture as succeeded and was told nothing; check each at
            the PSP, and dismiss the selected once settled there (or <code>payment-bridge ops recaptures dismiss</code>)</small
          >
        </h2>
        ${heldRecapturesForm(ctx, s.heldRecaptures)}
      </section>
      <section>
        <h2>
          Reconciliation
          <small
            >each gateway's state, then the latest runs, the schedule's and <code>payment-bridge reconcile</code>'s; the details are in each run's report</small
          >
        </h2>
        ${reconciliationGatewayTable(s.reconciliationGateways)} ${reconciliationTable(s.reconciliation)}
      </section>
      <section>
        <h2>Processes <small>the live web, worker and poller processes, from their heartbeats, with the release each runs</small></h2>
        ${fleetTable(s.fleet)}
      </section>
      <section>
        <h2>Audit log</h2>
        ${auditList(s.audit)}
      </section>`,
  );
}

/**
 * One operation as the on-call operator reads it (`OperationsView.show`, as `ops show`): state, what the PSP
 * confirmed, every mark and adjustment with its time and source, then the history. Section
 * `data-operation-detail="<id>"`; marks `li[data-mark="<kind>"]`, adjustments `tr[data-adjustment="<id>"]`.
 */
function operationDetailSection(d: OperationDetail, n: number): SafeHtml {
  const o = d.operation;
  const p = d.psp;
  const field = (k: string, v: SafeHtml | string) =>
    html`<dt>${k}</dt>
      <dd>${v}</dd>`;
  const sameAsAsked = p.requested.amount === p.asked.amount && p.requested.currency === p.asked.currency;
  return html`<section class="operation" data-operation-detail="${o.id}">
    <h2>Operation ${o.id}</h2>
    <dl class="fields">
      ${field('state', stateCell(o))} ${field('command', `${o.command} (${o.channel})`)}
      ${field('gateway', `${o.gateway} / ${o.gatewayAccount}${p.requestedGateway ? ` (the command named ${p.requestedGateway})` : ''}`)}
      ${field('amount', money(o.amount, o.currency))} ${o.reason ? field('reason', o.reason) : ''} ${field('attempts', String(o.attempts))}
      ${field('created', time(o.createdAt))} ${field('updated', time(o.updatedAt))} ${o.nextCheckAt ? field('next check', time(o.nextCheckAt)) : ''}
    </dl>
    <h3>The PSP says</h3>
    <dl class="fields psp-says">
      ${field('latest', p.latest)} ${field('confirmed', confirmedText(p))} ${field('asked', money(p.asked.amount, p.asked.currency))}
      ${sameAsAsked ? '' : field('requested', money(p.requested.amount, p.requested.currency))} ${p.discrepancy ? field('discrepancy', p.discrepancy) : ''}
      ${p.succeededAt !== undefined ? field('succeeded at', time(p.succeededAt)) : ''} ${p.reference ? field('PSP reference', p.reference) : ''}
      ${p.status ? field('PSP status', p.status) : ''}
    </dl>
    <h3>Marks</h3>
    ${
      d.marks.length === 0
        ? html`<p class="empty">none</p>`
        : html`<ol class="marks">
            ${d.marks.map(
              (m) =>
                html`<li data-mark="${m.kind}">
                  <time>${m.at === undefined ? 'time unknown' : time(m.at)}</time> <b>${m.kind}</b> <span class="src">${m.source}</span> ${m.text}
                  ${m.ref ? html`<span class="kv">${m.ref}</span>` : ''}
                </li>`,
            )}
          </ol>`
    }
    <h3>Adjustments</h3>
    ${
      d.adjustments.length === 0
        ? html`<p class="empty">none</p>`
        : dataTable(
            `adjustments-${n}`,
            ['recorded', 'PSP time', 'kind', 'direction', 'amount', 'source', 'reason', 'PSP reference', 'adjustment'],
            d.adjustments.map((a) => ({
              attrs: html` data-adjustment="${a.id}" data-kind="${a.kind}"`,
              cells: [
                time(a.recordedAt),
                time(a.occurredAt),
                a.kind,
                a.direction,
                { num: money(a.amount, a.currency) },
                `${a.source} (${a.gateway})`,
                a.reason,
                a.pspReference,
                a.id,
              ],
            })),
          )
    }
  </section>`;
}

export function lookupPage(ctx: PageContext, typed: string, found: OperationDetail[]): string {
  // What the operator typed is shown back masked: a card number pasted into the search stays off the page.
  const query = redactText(typed);
  return layout(
    ctx,
    `Lookup ${query}`,
    html`<section>
        <h1>Lookup: <span id="query">${query}</span></h1>
        ${
          found.length === 0
            ? html`<p class="empty" id="lookup-empty">no operation for this order or operation id</p>`
            : operationsForm(
                ctx,
                found.map((f) => f.operation),
                'lookup-results',
              )
        }
      </section>
      ${operationDetails(found)}`,
  );
}

/** Each operation's detail and history, as a lookup and an operation's page show them. */
function operationDetails(found: OperationDetail[]): SafeHtml {
  return html`${found.map(
    (f, n) =>
      html`${operationDetailSection(f, n)}
        <section class="history">
          <h2>History of ${f.operation.id}</h2>
          <ol>
            ${f.history.map(shownInteraction).map(({ at, event, ...rest }) => {
              return html`<li>
                <time>${time(at)}</time>
                <b>${event}</b>
                ${Object.entries(rest).map(([key, v]) => html`<span class="kv">${key}=${typeof v === 'string' ? v : JSON.stringify(v)}</span> `)}
              </li>`;
            })}
          </ol>
        </section>`,
  )}`;
}

/** Longest release reason the console's form takes (`maxlength`; the route refuses a longer one). */
export const HELD_RELEASE_REASON_MAX = 500;

/**
 * A capture or refund held for its PSP's own retry (`heldForPspRetryOf`): since when, for how long, whether past the
 * PSP's 10 days, and the release form (`ops held-retries release`): a required reason, a dry run or the release itself.
 * Section `#held-for-psp-retry` with `data-held-since`, `data-held-ms` and `data-overdue`.
 */
function heldForPspRetrySection(ctx: PageContext, h: HeldForPspRetryView): SafeHtml {
  return html`<section
    id="held-for-psp-retry"
    data-operation="${h.operation_id}"
    data-held-since="${h.held_since}"
    data-held-ms="${String(h.held_ms)}"
    data-overdue="${String(h.overdue)}"
  >
    <h2>Held for the PSP's retry</h2>
    <dl class="fields">
      <dt>held since</dt>
      <dd>${time(Date.parse(h.held_since))}</dd>
      <dt>held for</dt>
      <dd class="held-age">${age(h.held_ms)}${h.overdue ? ' (past the PSP retry of 10 days: ask the PSP)' : ''}</dd>
      <dt>amount held</dt>
      <dd>${money(h.amount, h.currency)}</dd>
      <dt>PSP reason</dt>
      <dd>${h.psp_reason}</dd>
      <dt>of</dt>
      <dd>${h.authorization_id}${h.psp_reference ? ` (PSP reference ${h.psp_reference})` : ''}</dd>
    </dl>
    <p>
      Release it only once the PSP confirmed no retry will come: ${releasedEffect(h.command)} (as
      <code>payment-bridge ops held-retries release</code>).
    </p>
    ${
      mayAct(ctx)
        ? html`<form method="post" action="${ctx.base}/held-retries/release" class="actions" id="held-release-form">
            <input type="hidden" name="csrf" value="${ctx.csrf}" />
            <input type="hidden" name="id" value="${h.operation_id}" />
            <label for="held-release-reason">reason</label>
            <input
              type="text"
              id="held-release-reason"
              name="reason"
              required
              maxlength="${String(HELD_RELEASE_REASON_MAX)}"
              placeholder="what the PSP confirmed, e.g. the support case"
            />
            <button type="submit" name="mode" value="dry_run">Dry run</button>
            <button type="submit" name="mode" value="execute" class="danger">Release</button>
          </form>`
        : ''
    }
  </section>`;
}

/**
 * An operation's own page (`<console>/operations/<id>`): where a lookup that found one operation leads, and what
 * the lists link to. Its list (`#lookup-results`) carries the same actions as a lookup's; a capture or refund held for
 * its PSP's retry (`held`) shows since when, and its release form.
 */
export function operationPage(ctx: PageContext, detail: OperationDetail, held: HeldForPspRetryView | null = null): string {
  return layout(
    ctx,
    `Operation ${detail.operation.id}`,
    html`<section>
        <h1>Operation <span id="operation-id">${detail.operation.id}</span></h1>
        ${operationsForm(ctx, [detail.operation], 'lookup-results')}
      </section>
      ${held ? heldForPspRetrySection(ctx, held) : ''} ${operationDetails([detail])}`,
  );
}

export function deadLetterPage(ctx: PageContext, stored: DeadLetterRecord, plan: ReplayPlan): string {
  const r = shownDeadLetter(stored);
  const rows: [string, string][] = [
    ['dead-lettered', time(r.deadLetteredAt)],
    ['triage', r.category],
    ['impact', String(r.impact)],
    ['code', r.code],
    ['field', r.field],
    ['reason', r.reason],
    ['source', r.source],
    ['operation', r.operationId ?? ''],
    ['order', r.orderId ?? ''],
    ['amount', money(r.amount, r.currency)],
    ['replays', `${r.replays}${r.lastReplayAt ? ` (last ${time(r.lastReplayAt)} by ${r.lastReplayBy ?? '?'})` : ''}`],
    ['a replay would', `${plan.verdict}${plan.problem ? `: ${redactText(plan.problem)}` : ''}`],
  ];
  return layout(
    ctx,
    r.id,
    html`<section>
      <h1>Dead letter ${r.id}</h1>
      <dl class="fields">
        ${rows
          .filter(([, v]) => v !== '')
          .map(
            ([k, v]) =>
              html`<dt>${k}</dt>
                <dd>${v}</dd>`,
          )}
      </dl>
      <h2>Body (redacted)</h2>
      <pre class="body">${r.body}</pre>
      ${
        mayAct(ctx)
          ? html`<form method="post" action="${ctx.base}/dead-letters/replay" class="actions">
              <input type="hidden" name="csrf" value="${ctx.csrf}" />
              <input type="hidden" name="id" value="${r.id}" />
              <button type="submit" name="mode" value="dry_run">Dry run</button>
              <button type="submit" name="mode" value="execute" class="danger">Replay</button>
            </form>`
          : ''
      }
    </section>`,
  );
}

export function replayResultPage(ctx: PageContext, execute: boolean, plans: ReplayPlan[]): string {
  return layout(
    ctx,
    'Replay',
    html`<section>
      <h1>${execute ? 'Replay' : 'Dry run: nothing was published'}</h1>
      <div class="scroll">
        <table id="replay-results">
          <thead>
            <tr>
              <th>dead letter</th>
              <th>verdict</th>
              <th>operation</th>
              <th>state</th>
              <th>${execute ? 'published' : 'would publish to'}</th>
              <th>problem</th>
            </tr>
          </thead>
          <tbody>
            ${plans.map(
              (p) =>
                html`<tr data-dead-letter="${p.id}" data-verdict="${p.verdict}">
                  <td><a href="${ctx.base}/dead-letters/${p.id}">${p.id}</a></td>
                  <td>${p.verdict}</td>
                  <td>${p.operationId ? lookupLink(ctx, p.operationId) : ''}</td>
                  <td>${p.state ?? ''}</td>
                  <td class="published">
                    ${execute ? (p.published ? 'yes' : `no${p.error ? `: ${p.error}` : ''}`) : p.verdict === 'replay' ? (p.routingKey ?? '') : ''}
                  </td>
                  <td>${p.problem === undefined ? '' : redactText(p.problem)}</td>
                </tr>`,
            )}
          </tbody>
        </table>
      </div>
      <p><a href="${ctx.base}">back to the dashboard</a></p>
    </section>`,
  );
}

const RECHECK_RESULTS: Record<RecheckResult['result'], string> = {
  due_now: "due now: the poller's next pass asks the PSP",
  withheld:
    "not asked: its status inquiry would send the request again (Adyen) past its key's validity or delivery.max_age_ms; left to its webhook, reconciliation or an operator (RUNBOOK)",
  not_polled: 'not PENDING, UNKNOWN or UNRESOLVED: left alone',
  not_found: 'no such operation',
};

/** What a recheck from the console did with each selected operation. */
export function recheckResultPage(ctx: PageContext, results: readonly RecheckResult[]): string {
  return actionResultPage(ctx, 'Ask the PSP now', {
    id: 'recheck-results',
    rowKey: 'operation',
    headers: ['operation', 'state', 'result'],
    rows: results.map((r) => ({ value: r.operation_id, result: r.result, cells: [lookupLink(ctx, r.operation_id), r.state, RECHECK_RESULTS[r.result]] })),
  });
}

/** Why a resend or dismissal from the console left a selected event alone. */
const SET_ASIDE_MISSES: Record<SetAsideMiss, string> = {
  not_set_aside: 'not set aside: left alone',
  expired: 'expired: its record went with its operation (retention); its leftover entry is removed',
  not_found: 'not found: no record of it (never recorded, or expired with its operation)',
};

/** What a resend from the console did with each selected event. */
export function eventResendResultPage(ctx: PageContext, results: readonly EventResendResult[]): string {
  return actionResultPage(ctx, 'Resend', {
    id: 'resend-results',
    rowKey: 'event',
    headers: ['event', 'result'],
    rows: results.map((r) => ({
      value: r.event_id,
      result: r.result,
      cells: [r.event_id, r.result === 'queued' ? 'queued: it goes to the bus again' : SET_ASIDE_MISSES[r.result]],
    })),
  });
}

/** What a dismissal from the console did with each selected set-aside event. */
export function eventDismissResultPage(ctx: PageContext, results: readonly EventDismissResult[]): string {
  return actionResultPage(ctx, 'Dismiss', {
    id: 'event-dismiss-results',
    rowKey: 'event',
    headers: ['event', 'result'],
    rows: results.map((r) => ({
      value: r.event_id,
      result: r.result,
      cells: [r.event_id, r.result === 'dismissed' ? 'dismissed: never sent, no longer listed or counted' : SET_ASIDE_MISSES[r.result]],
    })),
  });
}

/** What a retry from the console did with each selected webhook outcome. */
export function webhookRetryResultPage(ctx: PageContext, results: readonly WebhookRetryResult[]): string {
  return actionResultPage(ctx, 'Retry', {
    id: 'retry-results',
    rowKey: 'webhook',
    headers: ['gateway', 'PSP event', 'result'],
    rows: results.map((r) => ({
      value: `${r.gateway}/${r.event_id}`,
      result: r.result,
      cells: [r.gateway, r.event_id, r.result === 'retried' ? 'retried: it is applied again' : 'not in the failed set: left alone'],
    })),
  });
}

const REVIEW_RESULTS: Record<ReviewDecisionResult, string> = {
  released: 'released: sent to its gateway now',
  declined: 'declined: it fails, never sent',
  not_held: 'not held: left alone',
  already_released: 'already released: left alone',
  already_declined: 'already declined: left alone',
  expired: 'expired: voided at its deadline already',
};

/** What a release or decline from the console did with each selected hold. */
export function reviewDecisionResultPage(
  ctx: PageContext,
  decision: 'release' | 'decline',
  results: ReadonlyArray<{ id: string; result: ReviewDecisionResult }>,
): string {
  return actionResultPage(ctx, decision === 'release' ? 'Release' : 'Decline', {
    id: 'review-results',
    rowKey: 'review',
    headers: ['operation', 'result'],
    rows: results.map((r) => ({ value: r.id, result: r.result, cells: [lookupLink(ctx, r.id), REVIEW_RESULTS[r.result]] })),
  });
}

/** What a resume from the console did with each selected parked split or refund. */
export function splitResumeResultPage(ctx: PageContext, results: ReadonlyArray<{ name: string; result: 'resumed' | 'not_open' }>): string {
  return actionResultPage(ctx, 'Resume', {
    id: 'resume-results',
    rowKey: 'split',
    headers: ['split tender / refund', 'result'],
    rows: results.map((r) => ({
      value: r.name,
      result: r.result,
      cells: [r.name, r.result === 'resumed' ? 'resumed: back on the sweep' : 'not open: left alone'],
    })),
  });
}

const DISMISS_RESULTS: Record<RecaptureDismissal['result'], string> = {
  dismissed: 'dismissed: no longer listed or counted; its failure, should it come, is still reported in order',
  not_waiting: 'not waiting any more: left alone',
};

/** What a dismissal from the console did with each selected held re-capture. */
export function recaptureDismissResultPage(ctx: PageContext, results: readonly RecaptureDismissal[]): string {
  return actionResultPage(ctx, 'Dismiss', {
    id: 'dismiss-results',
    rowKey: 'operation',
    headers: ['operation', 'result'],
    rows: results.map((r) => ({ value: r.operation_id, result: r.result, cells: [lookupLink(ctx, r.operation_id), DISMISS_RESULTS[r.result]] })),
  });
}

const HELD_RELEASE_RESULTS: Record<Exclude<HeldRetryRelease['result'], 'released'>, string> = {
  would_release: 'dry run: nothing was changed; it would be released',
  not_found: 'refused: no such operation',
  not_held: "refused: not held for its PSP's retry (no hold, or not FAILED)",
  retry_succeeded: "refused: the PSP's retry is recorded done; it stays captured or refunded",
  already_released: 'refused: already released by an operator',
};

/** What a release from the console did with a capture or refund held for its PSP's retry (`releaseHeldForPspRetry`). */
export function heldRetryReleaseResultPage(ctx: PageContext, r: HeldRetryRelease): string {
  const h = r.held;
  return actionResultPage(ctx, r.execute ? 'Release' : 'Dry run: nothing was changed', {
    id: 'held-release-results',
    rowKey: 'operation',
    headers: ['operation', 'held', 'result'],
    rows: [
      {
        value: r.operation_id,
        result: r.result,
        cells: [
          lookupLink(ctx, r.operation_id),
          h ? `${h.command} ${h.gateway} of ${h.authorization_id}, ${money(h.amount, h.currency)}: ${h.psp_reason}` : '',
          r.result === 'released' ? `released: ${releasedEffect(h?.command ?? '')}` : HELD_RELEASE_RESULTS[r.result],
        ],
      },
    ],
  });
}

export function messagePage(ctx: PageContext, title: string, message: string): string {
  return layout(
    ctx,
    title,
    html`<section class="card narrow">
      <h1>${title}</h1>
      <p>${message}</p>
      <p><a href="${ctx.base}">back</a></p>
    </section>`,
  );
}
