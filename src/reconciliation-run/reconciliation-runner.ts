import { randomBytes } from 'node:crypto';
import { RedisClient } from '../redis/redis-connection';
import { AdjustmentStore } from '../adjustments/adjustment-store';
import { AdjustmentRecorder, adjustmentsFoundRecorded } from '../delivery/adjustment-recorder';
import { AdjustmentsChangedError } from '../errors/adjustments-changed-error';
import { OutcomeRecorder } from '../delivery/outcome-recorder';
import { assertNever } from '../gateways/assert-never';
import { Ledger, OperationRecord } from '../ledger/ledger';
import { failHeldBack } from '../delivery/held-failover';
import type { GatewayTransformer } from '../gateways/gateway-adapter';
import { Logger } from '../logging/logger';
import { OrphanReversal, reverseSuccessAfterFailure } from '../poller/orphan-reversal';
import { GatewayConfig } from '../config/config';
import { earlierSameAccountAttempt, reportEarlierSuccess, voidAtEarlierGateway } from '../webhooks/earlier-attempt';
import type { AdjustmentKind } from '../adjustments/adjustment';
import type { CommandType } from '../contracts/payment-command';
import {
  KnownAdjustment,
  Match,
  ReconciledOperation,
  anotherCharge,
  cancelsAuthorization,
  classifyLine,
  classifyMissingAtPsp,
  compatible,
  doneAfterFailure,
  movesMoney,
  namesLineTransaction,
  needsKnownAdjustments,
  refundsPayment,
} from '../reconciliation/classifier';
import type { PspRecord, PspRecordReader, ReconciliationWindow, UnreadablePspLine } from '../reconciliation/psp-record';
import { RECONCILIATION_CLASSES, LineVerdict, ReconciliationAction, ReconciliationClass } from '../reconciliation/reconciliation-class';
import { ReconciliationLedger, lineEventId } from './reconciliation-ledger';
import { ownClosing } from '../webhooks/own-closing';
import { openRefunds } from '../webhooks/outside-refund';
import {
  reconciliationActions,
  reconciliationAdjustmentTies,
  reconciliationConfirmedByLookup,
  reconciliationDuration,
  reconciliationLastSuccess,
  reconciliationLedgerRead,
  reconciliationLines,
  reconciliationMarkHeld,
  reconciliationSalesChargedAgain,
  reconciliationUndoneLines,
  reconciliationUnlistedOperations,
  reconciliationUnreadableLines,
} from './reconciliation-metrics';
import { PageDelta, ReconciliationRunState, RunMark, StoredRun } from './reconciliation-run-state';
import { UndatedLineClaims } from './undated-lines';

/** What the runner did about one verdict. */
export type ActionOutcome =
  /** Nothing to do (agreement, or context). */
  | 'none'
  /** An adjustment was recorded now and its event queued. */
  | 'adjusted'
  /** The adjustment existed already (an earlier run, or a page redone after a stop): nothing sent twice. */
  | 'already_adjusted'
  /** A not-yet-terminal operation got the PSP's outcome. */
  | 'settled'
  /** Dry run: what would have been applied. */
  | 'would_apply'
  /** Left to a person (in the report). */
  | 'report';

/** Receives every verdict as it is made (the report writer). May apply backpressure by returning a promise. */
export interface VerdictSink {
  verdict(verdict: LineVerdict, outcome: ActionOutcome): void | Promise<void>;
  /** A PSP line the reader could not read, set aside with its reason. */
  unreadable?(line: UnreadablePspLine): void | Promise<void>;
}

/** Progress after each page, for a progress bar. */
export interface ReconciliationProgress {
  phase: 'psp' | 'ledger';
  /** Lines and ledger operations judged so far in this invocation. */
  judged: number;
  /** Rough share of the work done, 0…1 (PSP phase: how far into the window the last line is). */
  fraction: number;
}

export interface ReconciliationRunOptions {
  window: ReconciliationWindow;
  /** Classify and report only: no adjustment, no settlement, nothing stored but the dry run's own state. Default false. */
  dryRun?: boolean;
  sink?: VerdictSink;
  onProgress?: (progress: ReconciliationProgress) => void;
  /** Stops after the page in progress (its cursor is saved): the next run resumes there. */
  signal?: AbortSignal;
  /**
   * Reads a finished run's window again from the start (the PSP corrected or completed its report, e.g. a line set
   * aside as unreadable): its stored state is cleared first. Safe, since every action is idempotent by the PSP's
   * line id: nothing is recorded or sent twice. A run still in progress resumes as usual. Default false.
   */
  again?: boolean;
}

/** A run's result: totals over every invocation of the run (a resumed run includes what earlier ones did). */
export interface ReconciliationSummary extends Omit<StoredRun, 'status' | 'phase' | 'cursor' | 'ledgerCursor' | 'ledgerRank'> {
  gateway: string;
  window: ReconciliationWindow;
  dryRun: boolean;
  /** `done`; `already_done` (a finished run asked again: nothing done); `stopped` (signal: resumable); `locked` (another invocation runs it). */
  result: 'done' | 'already_done' | 'stopped' | 'locked';
  /** This invocation continued a run an earlier one had started. */
  resumed: boolean;
  /** This invocation's own wall time, milliseconds. */
  durationMs: number;
  /** The PSP's interface the reader used (for the report). */
  source: string;
  /** The PSP lines the reader could not read over the whole run (the first `UNREADABLE_LINES_KEPT`; `unreadable` counts them all). */
  unreadableLines: UnreadablePspLine[];
}

export interface ReconciliationRunnerDeps {
  redis: RedisClient;
  /** The ledger's key prefix. */
  prefix: string;
  /** The configured gateway name (`gateways.<name>`). */
  gateway: string;
  /**
   * That gateway's transformer: whether it takes a resend as a new request (`resendIsNewRequest`), so that a failed line
   * of an operation with an earlier attempt that may have landed is reported, not applied (`failHeldBack`).
   */
  transformer: Pick<GatewayTransformer, 'resendIsNewRequest'>;
  reader: PspRecordReader;
  /** The documented interface the reader reads, e.g. `GET /v1/reports/lines`. */
  source: string;
  adjustments: AdjustmentRecorder;
  recorder: OutcomeRecorder;
  /** Hands an authorization the OMS was told failed, and the PSP holds, to orphan reversal. Optional. */
  orphans?: OrphanReversal;
  /**
   * The configured gateway entries (`config.gateways`): a FAILED operation's success listed through this entry that is
   * its earlier attempt's at the one entry of this PSP account it failed over from (`earlierSameAccountAttempt`) is
   * read as the webhook path reads it there (`duplicate_after_failover`, voided there). Without: never told apart.
   */
  gateways?: Readonly<Record<string, GatewayConfig>>;
  logger: Logger;
  /** How long a run's state is kept, seconds. Default 35 days. */
  stateTtlS?: number;
  /** Ledger operations read per round trip in the ledger phase. Default 500. */
  ledgerPageSize?: number;
  /**
   * Money-moving commands the reader's source never lists (`ReconciliationSupport.unlistedCommands`): their SUCCEEDED
   * operations no line named are counted, not reported `missing_at_psp`. Default: none.
   */
  unlistedCommands?: readonly CommandType[];
  /**
   * Most PSP objects a run reads by id (`PspRecordReader.lookup`, when the reader has one) to confirm an operation no
   * line named before reporting it `missing_at_psp`, over all its invocations; past it the rest are reported
   * unconfirmed. 0: never. Default 500 (`reconciliation.lookups_per_run`).
   */
  lookupsPerRun?: number;
  now?: () => number;
  /** How long the run's lock lasts unless extended, ms. Default 120 000 (tests shorten it). */
  lockMs?: number;
}

/** What reading an operation's PSP object by id found (`pb_reconciliation_confirmed_by_lookup_total{result}`). */
export type LookupResult = 'matched' | 'mismatch' | 'not_found' | 'failed' | 'over_budget';

/** The ledger phase's lookups in one invocation: what is left of the run's budget, and what they found. */
interface LookupTally {
  left: number;
  results: Partial<Record<LookupResult, number>>;
  /** Keeps the run's lock while lookups take their time (a page of them may outlast it). */
  keepLock: () => Promise<void>;
}

/** How long a run's state is kept when the caller does not say, seconds. */
const DEFAULT_STATE_TTL_S = 35 * 86_400;
/** Non-matched verdicts logged one by one per invocation; the rest are in the report. */
const LOGGED_VERDICTS = 50;
const DEFAULT_LOCK_MS = 120_000;
/** Default of `ReconciliationRunnerDeps.lookupsPerRun`. */
const DEFAULT_LOOKUPS_PER_RUN = 500;
/** Times a line is judged again when its record step keeps finding the operation's adjustments changed. */
const RECORD_ROUNDS = 8;

/**
 * What a run throws when its lock is no longer its own (it expired, then another invocation of the window took it):
 * it stops without committing, and the other invocation goes on from the last committed page.
 */
function lockLost(): Error {
  return new Error('reconciliation run lock lost to another invocation of this window; this one stops without writing more of the run');
}

/**
 * Reconciliation of one gateway over one window: reads the PSP's records a page at a time (constant
 * memory), ties each line to the ledger, classifies it, applies what the PSP is authoritative for, and
 * commits the page's cursor; then lists the window's ledger operations that moved money and that no line
 * named. Resumable at any page (see `ReconciliationRunState`), and a finished run asked again sends nothing.
 */
export class ReconciliationRunner {
  private readonly ledger: ReconciliationLedger;
  /** The ledger's own functions (retention's reconciled-through mark, expiry holds). */
  private readonly ledgerRecords: Ledger;
  /** Where a webhook's adjustment a line was found recorded by is tied to that line. */
  private readonly adjustmentStore: AdjustmentStore;
  /** Which window reports an unreadable line whose time does not read. */
  private readonly undated: UndatedLineClaims;
  private readonly now: () => number;

  constructor(private readonly deps: ReconciliationRunnerDeps) {
    this.ledger = new ReconciliationLedger(deps.redis, deps.prefix, deps.gateway);
    this.ledgerRecords = new Ledger(deps.redis, deps.prefix);
    this.adjustmentStore = new AdjustmentStore(deps.redis, deps.prefix);
    this.undated = new UndatedLineClaims(deps.redis, deps.prefix, deps.gateway, deps.stateTtlS ?? DEFAULT_STATE_TTL_S);
    this.now = deps.now ?? Date.now;
  }

  async run(options: ReconciliationRunOptions): Promise<ReconciliationSummary> {
    const { deps } = this;
    const { window } = options;
    const dryRun = options.dryRun ?? false;
    if (!(Number.isSafeInteger(window.from) && Number.isSafeInteger(window.to) && window.from < window.to)) {
      throw new RangeError(`reconciliation window: from (${window.from}) must be an integer of epoch ms before to (${window.to})`);
    }
    const started = this.now();
    const clock = process.hrtime.bigint();
    const state = new ReconciliationRunState(deps.redis, deps.prefix, deps.gateway, window, dryRun, deps.stateTtlS ?? DEFAULT_STATE_TTL_S);
    const token = randomBytes(8).toString('hex');
    const lockMs = deps.lockMs ?? DEFAULT_LOCK_MS;
    const summarize = async (result: ReconciliationSummary['result'], resumed: boolean): Promise<ReconciliationSummary> => {
      const stored = await state.load();
      const { status: _s, phase: _p, cursor: _c, ledgerCursor: _l, ledgerRank: _r, ...totals } = stored;
      return {
        ...totals,
        gateway: deps.gateway,
        window,
        dryRun,
        result,
        resumed,
        durationMs: Number(process.hrtime.bigint() - clock) / 1e6,
        source: deps.source,
        unreadableLines: stored.unreadable > 0 ? await state.unreadableLines() : [],
      };
    };
    if (!(await state.lock(token, lockMs))) return summarize('locked', false);
    // Extended while the invocation runs, not only by its commits: a page the PSP hands over slowly (a report
    // download, a slow answer) must not let the lock lapse, or the next commit, finding no token of its own, stops
    // the run although no other invocation took it. A refresh finding the lock another's ends the keeping.
    const keeper = setInterval(
      () => {
        void state.refreshLock(token, lockMs).then(
          (mine) => {
            if (!mine) clearInterval(keeper);
          },
          () => undefined,
        );
      },
      Math.max(50, Math.floor(lockMs / 4)),
    );
    keeper.unref();
    const log = { gateway: deps.gateway, from: new Date(window.from).toISOString(), to: new Date(window.to).toISOString(), dry_run: dryRun };
    let result: ReconciliationSummary['result'] = 'done';
    try {
      if (dryRun) await state.clear();
      let stored = await state.load();
      if (stored.status === 'done' && options.again === true) {
        deps.logger.info('reconciliation run finished before: read again from the start', { ...log, finished_at: stored.finishedAt ?? null });
        await state.clear();
        stored = await state.load();
      }
      if (stored.status === 'done') {
        deps.logger.info('reconciliation run already finished: nothing to do', { ...log, finished_at: stored.finishedAt ?? null });
        return await summarize('already_done', true);
      }
      const resumed = stored.status === 'running';
      await state.start(started);
      deps.logger.info(resumed ? 'reconciliation run resumed' : 'reconciliation run started', { ...log, source: deps.source, phase: stored.phase });
      const logged = { n: 0, unreadable: 0, elsewhere: 0 };
      // Adjustment id → the line this invocation tied it to: seen by the page's later lines (and, in a dry
      // run, which stores nothing, by later pages'). Late facts a webhook recorded first only: a few entries.
      const ties = new Map<string, string>();
      let judged = 0;
      // Operations of the window the ledger phase read in this invocation (every gateway's: the creation index holds them all).
      let ledgerRead = 0;
      // SUCCEEDED operations of commands the source never lists, by command: counted and logged, not missing at the PSP.
      const unlisted = new Map<CommandType, number>();
      if (stored.phase === 'psp') {
        for await (const page of readAhead(deps.reader.read(window, stored.cursor))) {
          const delta = await this.pspPage(page.records, state.seenKey, dryRun, options.sink, logged, ties);
          // Set aside, never classified: the cursor below moves past them with the page's readable lines. A line
          // without a time is reported by one window only, the first whose run met it.
          for (const line of page.unreadable ?? []) {
            if (line.undated && !(await this.reportsUndated(line, window, dryRun, logged))) continue;
            await this.noteUnreadable(line, delta, options.sink, logged, dryRun);
          }
          delta.cursor = page.cursor;
          if (!dryRun) await this.holdFromExpiry(delta.held);
          if (!(await state.commit(delta, { token, ms: lockMs }))) throw lockLost();
          judged += delta.lines;
          const last = page.records[page.records.length - 1];
          const fraction = last ? Math.min(1, Math.max(0, (last.occurredAt - window.from) / (window.to - window.from))) * 0.9 : 0;
          options.onProgress?.({ phase: 'psp', judged, fraction });
          if (options.signal?.aborted) {
            result = 'stopped';
            break;
          }
        }
      }
      if (result === 'done') {
        const total = await this.ledger.windowSize(window);
        const size = deps.ledgerPageSize ?? 500;
        let cursor = stored.phase === 'ledger' ? stored.ledgerCursor : undefined;
        if (stored.phase === 'ledger' && !cursor && stored.ledgerRank !== undefined) {
          deps.logger.info(
            "reconciliation ledger phase read again from the window's start: an older release stored its position as a rank; this run's summary counts the ledger lines of its pages read before again",
            {
              ...log,
              ledger_rank: stored.ledgerRank,
            },
          );
        }
        cursor ??= { shard: 0, score: window.from, id: '' };
        let lockedAt = Date.now();
        const lookups: LookupTally = {
          left: Math.max(0, (deps.lookupsPerRun ?? DEFAULT_LOOKUPS_PER_RUN) - stored.lookups),
          results: {},
          keepLock: async () => {
            if (Date.now() - lockedAt < lockMs / 4) return;
            if (!(await state.refreshLock(token, lockMs))) throw lockLost();
            lockedAt = Date.now();
          },
        };
        if (!(await state.commit({ ...emptyDelta('ledger'), ledgerCursor: cursor }, { token, ms: lockMs }))) throw lockLost();
        // Paged by place, not by rank (`unseenPage`), until every shard is read to the window's end. The count
        // above only measures progress: a window empty when counted has no page to read.
        for (let done = total === 0; !done;) {
          const page = await this.ledger.unseenPage(window, cursor, size, state.seenKey);
          const delta = await this.ledgerPage(page.ops, window, options.sink, logged, unlisted, { dryRun, ties, lookups });
          delta.ledgerCursor = page.next;
          if (!dryRun) await this.holdFromExpiry(delta.held);
          if (!(await state.commit(delta, { token, ms: lockMs }))) throw lockLost();
          reconciliationLedgerRead.inc({ gateway: deps.gateway }, page.read);
          ({ next: cursor, done } = page);
          ledgerRead += page.read;
          judged += delta.lines;
          options.onProgress?.({ phase: 'ledger', judged, fraction: 0.9 + 0.1 * Math.min(1, ledgerRead / Math.max(1, total)) });
          if (options.signal?.aborted && !done) {
            result = 'stopped';
            break;
          }
        }
        if (Object.keys(lookups.results).length > 0) {
          deps.logger.info('reconciliation operations no PSP line named, read by id at the PSP before reporting them missing', {
            ...log,
            lookup: deps.reader.lookup?.source ?? null,
            results: lookups.results,
          });
        }
        if (unlisted.size > 0) {
          deps.logger.info("reconciliation operations the PSP's records never list, not missing at the PSP", {
            ...log,
            source: deps.source,
            unlisted: Object.fromEntries(unlisted),
          });
        }
      }
      if (result === 'done') {
        // Retention (`retention.require_reconciliation`) expires only what finished, applied runs covered without a
        // gap; a window with PSP lines not read is not covered.
        // The mark lives in another slot than the run's lock: checked (and extended) just before it, then the finish under it.
        if (!(await state.refreshLock(token, lockMs))) throw lockLost();
        const mark = dryRun ? undefined : await this.markReconciled(window, (await state.load()).unreadable);
        if (!(await state.finish(this.now(), mark, { token, ms: lockMs }))) throw lockLost();
        options.onProgress?.({ phase: 'ledger', judged, fraction: 1 });
      }
      const summary = await summarize(result, resumed);
      reconciliationDuration.observe({ gateway: deps.gateway, result }, summary.durationMs / 1000);
      if (result === 'done' && !dryRun) reconciliationLastSuccess.set({ gateway: deps.gateway }, Math.floor(this.now() / 1000));
      const differences = RECONCILIATION_CLASSES.filter((c) => c !== 'matched' && c !== 'not_a_payment').reduce((n, c) => n + summary.classes[c], 0);
      const fields = {
        ...log,
        result,
        lines: summary.lines,
        ...Object.fromEntries(RECONCILIATION_CLASSES.map((c) => [c, summary.classes[c]])),
        adjusted: summary.adjusted,
        settled: summary.settled,
        would_apply: summary.wouldApply,
        unreadable: summary.unreadable,
        ledger_operations_read: ledgerRead,
        ...(summary.mark ? { mark: summary.mark.outcome } : {}),
        duration_ms: Math.round(summary.durationMs),
      };
      if (result === 'stopped') deps.logger.warn('reconciliation run stopped; run it again to resume', fields);
      else if (summary.unreadable > 0) deps.logger.warn('reconciliation run finished; the PSP lines it could not read are in its report', fields);
      else if (differences > 0) deps.logger.warn('reconciliation run finished with differences', fields);
      else deps.logger.info('reconciliation run finished', fields);
      return summary;
    } catch (err) {
      reconciliationDuration.observe({ gateway: deps.gateway, result: 'failed' }, Number(process.hrtime.bigint() - clock) / 1e9);
      deps.logger.error('reconciliation run failed; run it again to resume', { ...log, error: (err as Error).message });
      throw err;
    } finally {
      clearInterval(keeper);
      await state.unlock(token).catch(() => undefined);
    }
  }

  /** One page of PSP lines: match, classify, apply, report. */
  private async pspPage(
    records: readonly PspRecord[],
    seenKey: string,
    dryRun: boolean,
    sink: VerdictSink | undefined,
    logged: { n: number; unreadable: number },
    ties: Map<string, string>,
  ): Promise<PageDelta> {
    const delta = emptyDelta('psp');
    const matches = await this.ledger.matchPage(records, seenKey);
    for (let i = 0; i < records.length; i += 1) {
      const record = records[i];
      const match = matches[i];
      let verdict = classifyLine(record, withTies(match, ties));
      if (verdict.ties && match) verdict = await this.tie(record, match, verdict, dryRun, ties);
      if (match) delta.seen.push(match.op.id);
      const feeCurrency = (record.settlementCurrency ?? record.currency).toUpperCase();
      if (record.fee !== undefined) delta.fees[feeCurrency] = (delta.fees[feeCurrency] ?? 0) + record.fee;
      if (record.net !== undefined) delta.net[feeCurrency] = (delta.net[feeCurrency] ?? 0) + record.net;
      // Most lines agree: no call, no await for them (a microtask per line is measurable over 100,000).
      let outcome: ActionOutcome = 'none';
      if (verdict.action.type !== 'none') ({ verdict, outcome } = await this.act(record, match, verdict, dryRun, ties));
      else if (!dryRun && match && this.deps.orphans && reportedSuccessAfterFailure(verdict, record, match)) await this.reverseAgain(record, match);
      if (verdict.undone) this.noteUndone(verdict, outcome, dryRun);
      if (match && (outcome === 'adjusted' || outcome === 'would_apply') && anotherCharge(record, match)) this.noteChargedAgain(record, match, outcome);
      this.note(verdict, outcome, delta, logged);
      if (sink) await sink.verdict(verdict, outcome);
    }
    return delta;
  }

  /**
   * Sets aside a line the reader could not read: counted, logged (the first few of an invocation, each at warn),
   * kept with the page's commit for the run's report, and given to the sink. The run reads on.
   */
  private async noteUnreadable(
    line: UnreadablePspLine,
    delta: PageDelta,
    sink: VerdictSink | undefined,
    logged: { unreadable: number },
    dryRun: boolean,
  ): Promise<void> {
    const { gateway, logger } = this.deps;
    delta.unreadable.push(line);
    reconciliationUnreadableLines.inc({ gateway });
    logged.unreadable += 1;
    if (logged.unreadable <= LOGGED_VERDICTS)
      logger.warn('reconciliation line unreadable: set aside, the run reads on', {
        gateway,
        psp_line: line.line,
        field: line.field,
        problem: line.problem,
        dry_run: dryRun,
        ...(logged.unreadable === LOGGED_VERDICTS ? { further: 'further unreadable lines of this run are in its report only' } : {}),
      });
    if (sink?.unreadable) await sink.unreadable(line);
  }

  /**
   * Whether this run reports `line`, an unreadable line whose time does not read (`UnreadablePspLine.undated`): yes
   * when no run of another window claimed it first (`UndatedLineClaims`). A line another window reports is left
   * out of this run (not counted, not kept, not holding its mark), with an info line (the first few of an
   * invocation).
   */
  private async reportsUndated(line: UnreadablePspLine, window: ReconciliationWindow, dryRun: boolean, logged: { elsewhere: number }): Promise<boolean> {
    const reporter = await this.undated.reporter(line.line, window, dryRun);
    if (reporter.from === window.from && reporter.to === window.to) return true;
    logged.elsewhere += 1;
    if (logged.elsewhere <= LOGGED_VERDICTS)
      this.deps.logger.info('reconciliation line unreadable and without a time: the run of another window reports it', {
        gateway: this.deps.gateway,
        psp_line: line.line,
        field: line.field,
        reported_by: { from: new Date(reporter.from).toISOString(), to: new Date(reporter.to).toISOString() },
        dry_run: dryRun,
      });
    return false;
  }

  /** One page of the window's ledger operations no PSP line named: those that moved money are missing at the PSP. */
  private async ledgerPage(
    ops: readonly ReconciledOperation[],
    window: ReconciliationWindow,
    sink: VerdictSink | undefined,
    logged: { n: number; unreadable: number },
    unlisted: Map<CommandType, number>,
    run: { dryRun: boolean; ties: Map<string, string>; lookups: LookupTally },
  ): Promise<PageDelta> {
    const delta = emptyDelta('ledger');
    delta.lines = 0;
    const notListed = this.deps.unlistedCommands ?? [];
    const lookup = this.deps.reader.lookup;
    for (const op of ops) {
      // Settled after the window's end: its PSP line may be in the next window.
      if (op.updatedAt >= window.to) continue;
      // Done by the PSP after its failure: its line is dated when the PSP did it, which may be past the window too.
      if (doneAfterFailure(op) && op.undoneBy === undefined && ((await this.ledger.doneAfterFailureAt(op)) ?? -Infinity) >= window.to) continue;
      if (op.state === 'SUCCEEDED' && movesMoney(op.command) && notListed.includes(op.command)) {
        unlisted.set(op.command, (unlisted.get(op.command) ?? 0) + 1);
        reconciliationUnlistedOperations.inc({ gateway: this.deps.gateway, command: op.command });
      }
      const missing = classifyMissingAtPsp(op, notListed);
      if (!missing) continue;
      let judged: { verdict: LineVerdict; outcome: ActionOutcome } = { verdict: missing, outcome: 'report' };
      if (lookup?.commands.includes(op.command) && (this.deps.lookupsPerRun ?? DEFAULT_LOOKUPS_PER_RUN) > 0)
        judged = await this.confirmByLookup(op, missing, run, delta);
      if (judged.verdict.undone) this.noteUndone(judged.verdict, judged.outcome, run.dryRun);
      this.note(judged.verdict, judged.outcome, delta, logged);
      if (sink) await sink.verdict(judged.verdict, judged.outcome);
    }
    return delta;
  }

  /**
   * Reads the PSP's own object of `op`, which no line of the window named, before it is reported `missing_at_psp`
   * (`PspRecordReader.lookup`): a source listing objects by their creation time never lists, in a later window, what
   * was done to an object created earlier (a Stripe cancel). The record it shows for the operation (one of a kind
   * compatible with its command) is judged like a listed line, and acted on likewise (idempotent by the same line
   * id a list would give): agreeing, the operation is matched and not reported; contradicting, the usual mismatch.
   * No such object, or one showing nothing of the operation, a read that failed, or the run's lookups spent: the
   * `missing_at_psp` verdict as it was, its note saying which.
   */
  private async confirmByLookup(
    op: ReconciledOperation,
    missing: LineVerdict,
    run: { dryRun: boolean; ties: Map<string, string>; lookups: LookupTally },
    delta: PageDelta,
  ): Promise<{ verdict: LineVerdict; outcome: ActionOutcome }> {
    const { gateway, logger, reader } = this.deps;
    const lookup = reader.lookup;
    const { lookups } = run;
    const counted = (result: LookupResult): void => {
      lookups.results[result] = (lookups.results[result] ?? 0) + 1;
      reconciliationConfirmedByLookup.inc({ gateway, result });
    };
    const unconfirmed = (result: LookupResult, why: string): { verdict: LineVerdict; outcome: ActionOutcome } => {
      counted(result);
      return { verdict: { ...missing, note: `${missing.note} (${why})` }, outcome: 'report' };
    };
    if (!lookup) return { verdict: missing, outcome: 'report' };
    if (lookups.left <= 0) {
      if (lookups.results.over_budget === undefined)
        logger.info('reconciliation lookups of this run spent: operations no line named are reported missing_at_psp unread', {
          gateway,
          lookups_per_run: this.deps.lookupsPerRun ?? DEFAULT_LOOKUPS_PER_RUN,
        });
      return unconfirmed('over_budget', `not read by id: the run's lookups are spent`);
    }
    lookups.left -= 1;
    delta.lookups += 1;
    await lookups.keepLock();
    let records: PspRecord[] | null;
    try {
      records = await lookup.read({
        operationId: op.id,
        command: op.command,
        gatewayKey: op.payment.gateway_key,
        ...(op.gatewayReference !== undefined ? { gatewayReference: op.gatewayReference } : {}),
      });
    } catch (err) {
      if ((lookups.results.failed ?? 0) < LOGGED_VERDICTS)
        logger.warn('reconciliation lookup failed: the operation is reported missing_at_psp unconfirmed', {
          gateway,
          operation_id: op.id,
          command: op.command,
          lookup: lookup.source,
          error: (err as Error).message,
        });
      return unconfirmed('failed', `${lookup.source} failed: unconfirmed`);
    }
    if (records === null) return unconfirmed('not_found', `${lookup.source}: no such object`);
    const record = records.find((r) => r.kind !== 'other' && compatible(r.kind, op.command));
    if (record === undefined) return unconfirmed('not_found', `${lookup.source}: its object shows no ${op.command}`);
    let match: Match = { op, by: 'psp_reference' };
    if (needsKnownAdjustments(record, op)) match = await this.ledger.readAgain(match);
    let verdict = classifyLine(record, withTies(match, run.ties));
    if (verdict.ties) verdict = await this.tie(record, match, verdict, run.dryRun, run.ties);
    let outcome: ActionOutcome = 'none';
    if (verdict.action.type !== 'none') ({ verdict, outcome } = await this.act(record, match, verdict, run.dryRun, run.ties));
    counted(verdict.class === 'matched' ? 'matched' : 'mismatch');
    return { verdict: { ...verdict, note: `${verdict.note} (no line of the window named it; read by id: ${lookup.source})` }, outcome };
  }

  /**
   * Applies `verdict`. A late fact or a contradiction was judged against the operation's adjustments as the page
   * read them, and is recorded only while the operation still has as many (`Match.adjustmentsRead`): a webhook may
   * have recorded the same fact in between. When it has more, they are read again and the line judged anew: tied
   * to the webhook's adjustment (or found reported already) instead of recorded a second time, counted
   * (`pb_adjustments_found_recorded_total{source="reconciliation"}`) and logged; else recorded.
   */
  private async act(
    record: PspRecord,
    match: Match | null,
    verdict: LineVerdict,
    dryRun: boolean,
    ties: Map<string, string>,
  ): Promise<{ verdict: LineVerdict; outcome: ActionOutcome }> {
    let current = verdict;
    let read = match;
    for (let round = 1; ; round += 1) {
      try {
        return { verdict: current, outcome: await this.apply(current, read, dryRun) };
      } catch (err) {
        if (!(err instanceof AdjustmentsChangedError) || read === null || round >= RECORD_ROUNDS) throw err;
      }
      read = await this.ledger.readAgain(read);
      const judged = current;
      current = classifyLine(record, withTies(read, ties));
      if (current.ties) current = await this.tie(record, read, current, dryRun, ties, false);
      if (judged.action.type === 'adjust' && current.action.type !== 'adjust') this.foundRecorded(record, read, judged.action.kind, current);
    }
  }

  /** Counts and logs, once, a line whose fact another writer recorded between the run's read and its record step. */
  private foundRecorded(record: PspRecord, match: Match, kind: AdjustmentKind, verdict: LineVerdict): void {
    const { gateway, logger } = this.deps;
    adjustmentsFoundRecorded.inc({ gateway, kind, source: 'reconciliation' });
    logger.info('reconciliation line: a webhook recorded its fact after the run read the operation; not recorded twice', {
      gateway,
      operation_id: match.op.id,
      psp_line: record.lineId,
      kind,
      // The webhook's adjustment the line is now tied to; absent for a contradiction reported already.
      adjustment_id: verdict.ties?.adjustmentId ?? null,
      by: verdict.ties?.by ?? null,
      note: verdict.note,
    });
  }

  /**
   * Ties the adjustment `verdict` found `record` recorded by (a webhook's, no line's yet) to this line, so that
   * it accounts for no other line; in a dry run, for this invocation only. When another line took it first (a
   * run of an overlapping window at the same moment), the line is classified again without it. `logged` false:
   * the caller logs the line itself (one line per tie).
   */
  private async tie(record: PspRecord, match: Match, verdict: LineVerdict, dryRun: boolean, ties: Map<string, string>, logged = true): Promise<LineVerdict> {
    let current = verdict;
    // Each pass takes one adjustment out of the running: bounded by the operation's adjustments.
    for (let pass = 0; current.ties && pass <= (match.adjustments?.length ?? 0); pass += 1) {
      const { adjustmentId, by } = current.ties;
      // Gone (an expired record): it accounts for no line; an empty mark keeps it out of the running.
      const holder = dryRun ? record.lineId : ((await this.adjustmentStore.tieToLine(match.op.id, adjustmentId, record.lineId)) ?? '');
      ties.set(adjustmentId, holder);
      if (holder === record.lineId) {
        reconciliationAdjustmentTies.inc({ gateway: this.deps.gateway, by });
        if (logged)
          this.deps.logger.info('reconciliation line found recorded by an adjustment; tied to it', {
            gateway: this.deps.gateway,
            operation_id: match.op.id,
            psp_line: record.lineId,
            adjustment_id: adjustmentId,
            by,
            dry_run: dryRun,
          });
        return current;
      }
      current = classifyLine(record, withTies(match, ties));
    }
    return current;
  }

  /** Keeps operations whose difference was left to a person out of retention's expiry (`Ledger.holdFromExpiry`). */
  private async holdFromExpiry(ids: readonly string[]): Promise<void> {
    const now = this.now();
    for (const id of ids) await this.ledgerRecords.holdFromExpiry(id, now);
  }

  /**
   * Records the finished window against the gateway's reconciled-through mark (`Ledger.recordReconciledWindow`, read
   * by retention), which says how far the gateway is reconciled without a gap. A window whose run read every PSP
   * line moves the mark to its end when it joins what is covered (the mark is at or after its start, or there is
   * none yet), and on through the windows reconciled past the mark before; a window further on is kept until the
   * gap is reconciled. A window with lines not read (`unreadable`) is not reconciled: the mark is held at or before
   * its start (put back to it if it had passed), counted (`pb_reconciliation_mark_held_total`) and said at warn,
   * until a run of the window reads every line (`--again` once the PSP corrected its report).
   */
  private async markReconciled(window: ReconciliationWindow, unreadable: number): Promise<RunMark> {
    const { gateway, logger } = this.deps;
    const recorded = await this.ledgerRecords.recordReconciledWindow(gateway, window, unreadable === 0);
    const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
    const fields = {
      gateway,
      from: iso(window.from),
      to: iso(window.to),
      reconciled_through: iso(recorded.through),
      ...(recorded.before !== recorded.through ? { reconciled_through_before: iso(recorded.before) } : {}),
    };
    switch (recorded.outcome) {
      case 'held':
        reconciliationMarkHeld.inc({ gateway });
        logger.warn(
          'reconciliation window not reconciled: PSP lines not read keep the reconciled-through mark from passing its start (retention waits); once the PSP corrects them, reconcile the window again with --again',
          { ...fields, unreadable },
        );
        return { outcome: 'held', through: recorded.through, reason: 'psp_lines_not_read' };
      case 'gap':
        logger.info('reconciliation window does not join the reconciled-through mark; the mark stays (retention waits for the gap)', fields);
        break;
      case 'moved':
        if (recorded.joined > 0)
          logger.info('reconciliation window joined the reconciled-through mark; windows reconciled past it before move it on', {
            ...fields,
            joined: recorded.joined,
          });
        break;
      case 'covered':
        break;
      default:
        return assertNever(recorded.outcome);
    }
    return { outcome: recorded.outcome, through: recorded.through };
  }

  /**
   * Counts and logs a line showing as done an operation the ledger holds marked undone, every one (rare, and each
   * is money the OMS was told did not move): a warn line when it redid it or is left to a person, info when the
   * failure stands.
   */
  private noteUndone(verdict: LineVerdict, outcome: ActionOutcome, dryRun: boolean): void {
    const { undone, ledger, record } = verdict;
    if (!undone || !ledger) return;
    const { gateway, logger } = this.deps;
    reconciliationUndoneLines.inc({ gateway, command: ledger.command, outcome: undone.outcome });
    const fields = {
      gateway,
      operation_id: ledger.operationId,
      command: ledger.command,
      undone_by: undone.adjustmentId,
      psp_line: record?.lineId ?? null,
      psp_line_at: record ? new Date(record.occurredAt).toISOString() : null,
      outcome: undone.outcome,
      action: outcome,
      dry_run: dryRun,
      note: verdict.note,
    };
    if (undone.outcome === 'stands') logger.info('reconciliation line is the success a later PSP failure undid: the operation stays undone', fields);
    else if (undone.outcome === 'redone')
      logger.warn(
        'reconciliation: the PSP lists as done, after the failure that undid it, an operation the ledger held undone: succeeded_after_failure',
        fields,
      );
    else
      logger.warn(
        'reconciliation: the PSP lists as done an operation the ledger holds undone, and its line cannot be ordered with the failure: a person looks',
        fields,
      );
  }

  /**
   * Counts and warns of a FAILED sale, charged by the PSP after all, charged again at another PSP transaction
   * (`anotherCharge`), every one: recorded as its own `succeeded_after_failure` (or, in a dry run, would be), and not
   * refunded, since captured money is the merchant's decision; a person decides which charge to refund (RUNBOOK).
   */
  private noteChargedAgain(record: PspRecord, match: Match, outcome: ActionOutcome): void {
    const { gateway, logger } = this.deps;
    if (outcome === 'adjusted') reconciliationSalesChargedAgain.inc({ gateway });
    logger.warn('reconciliation: a FAILED sale the PSP charged after all was charged more than once; the second charge is reported to the OMS, not refunded', {
      gateway,
      operation_id: match.op.id,
      succeeded_after_failure: match.op.succeededAfterFailure?.by ?? null,
      psp_reference: record.modificationReference ?? record.pspReference ?? null,
      psp_line: record.lineId,
      amount: record.amount,
      currency: record.currency.toUpperCase(),
      action: outcome,
    });
  }

  /** Counts a verdict (metrics and the page's totals) and logs the first few differences. */
  private note(verdict: LineVerdict, outcome: ActionOutcome, delta: PageDelta, logged: { n: number }): void {
    // Left to a person: its operation is kept out of retention's expiry until released (rare: one write per difference).
    if (outcome === 'report' && verdict.ledger?.operationId !== undefined) delta.held.push(verdict.ledger.operationId);
    const gateway = this.deps.gateway;
    delta.lines += 1;
    delta.classes[verdict.class] = (delta.classes[verdict.class] ?? 0) + 1;
    reconciliationLines.inc({ gateway, class: verdict.class });
    if (outcome !== 'none' && outcome !== 'already_adjusted') reconciliationActions.inc({ gateway, action: outcome });
    if (outcome === 'adjusted') delta.adjusted += 1;
    if (outcome === 'settled') delta.settled += 1;
    if (outcome === 'would_apply') delta.wouldApply += 1;
    if (verdict.class === 'matched' || verdict.class === 'not_a_payment') return;
    logged.n += 1;
    if (logged.n > LOGGED_VERDICTS) return;
    this.deps.logger.info('reconciliation difference', {
      gateway,
      class: verdict.class,
      action: outcome,
      operation_id: verdict.ledger?.operationId ?? null,
      psp_line: verdict.record?.lineId ?? null,
      note: verdict.note,
      ...(logged.n === LOGGED_VERDICTS ? { further: 'further differences of this run are in its report only' } : {}),
    });
  }

  /**
   * A FAILED operation's success listed through this entry that is its earlier attempt's at `attemptAt`, the one entry
   * of this PSP account it failed over from (`earlierSameAccountAttempt`): recorded as the webhook path records it, a
   * `duplicate_after_failover` of that entry (never a `succeeded_after_failure`: the OMS is not told it succeeded after
   * all), and an authorization voided there (`requestAtEarlierGateway`). Found recorded already (a webhook at either
   * endpoint, an earlier run): nothing recorded, its void asked for again (idempotent); warned of and counted
   * (`pb_failover_late_successes_total`) when recorded.
   */
  private async earlierAttemptSuccess(
    op: OperationRecord,
    attemptAt: string,
    pspReference: string,
    record: PspRecord,
    action: Extract<ReconciliationAction, { type: 'adjust' }>,
    match: Match | null,
  ): Promise<ActionOutcome> {
    const { orphans, logger } = this.deps;
    const known = (match?.adjustments ?? []).some((a) => a.kind === 'duplicate_after_failover' && a.pspReference === pspReference);
    let created = false;
    if (!known) {
      const recorded = await this.deps.adjustments.recordAdjustment(op, {
        kind: 'duplicate_after_failover',
        direction: op.command === 'sale' ? 'credit' : 'none',
        amount: action.amount,
        currency: action.currency,
        reason: `${record.pspType}_after_failover_to_${this.deps.gateway}`,
        pspReference,
        occurredAt: record.occurredAt,
        gateway: attemptAt,
        pspEventId: lineEventId(record.lineId),
        source: 'reconciliation',
        ...(match?.adjustmentsRead !== undefined ? { expectedAdjustments: match.adjustmentsRead } : {}),
      });
      // Read first under the other kind (its own reversal ran, or runs): nothing more here.
      if (recorded.duplicateOf !== undefined || recorded.adjustment.kind !== 'duplicate_after_failover') return 'already_adjusted';
      created = recorded.created;
    }
    // On a repeat too: found by its deterministic id, queued again if it never left.
    const confirmed = { amount: action.amount, currency: action.currency };
    const { done, voidId } = await voidAtEarlierGateway(op, attemptAt, pspReference, confirmed, !created, orphans);
    if (!created) return 'already_adjusted';
    reportEarlierSuccess(logger, op, attemptAt, done, voidId, { psp_status: record.pspType, psp_line: record.lineId, source: 'reconciliation' });
    return 'adjusted';
  }

  /**
   * Asks orphan reversal again for an authorization (or sale) the ledger holds FAILED whose success the line shows and
   * a `succeeded_after_failure` reports already: the run that recorded it may have stopped before its reversal was asked
   * for (a crash, a Redis error), and nothing else would ask. Idempotent: an existing reversal is found by its
   * deterministic id and queued again only if it never left; one asked for already says nothing more.
   */
  private async reverseAgain(record: PspRecord, match: Match): Promise<void> {
    const { orphans, logger } = this.deps;
    if (!orphans) return;
    const op = await this.ledger.record(match.op.id);
    if (!op) return;
    const reported = reportedOf(record, match);
    if (!reported) return;
    const confirmed = { amount: reported.amount ?? record.amount, currency: record.currency.toUpperCase() };
    await reverseSuccessAfterFailure(orphans, logger, op, record.pspReference, 'reconciliation', confirmed, { repeat: true });
  }

  /**
   * Applies what the PSP is authoritative for (nothing in a dry run).
   * @throws AdjustmentsChangedError when an adjustment judged against the operation's adjustments as read
   *   (`Match.adjustmentsRead`) finds them changed: nothing recorded, the line is to be judged again.
   */
  private async apply(verdict: LineVerdict, match: Match | null, dryRun: boolean): Promise<ActionOutcome> {
    const { action, record } = verdict;
    const matched = match?.op ?? null;
    switch (action.type) {
      case 'none':
        return 'none';
      case 'report':
        return 'report';
      case 'adjust': {
        if (!matched || !record) return 'report';
        if (dryRun) return 'would_apply';
        // The match holds only the classifier's fields; acting needs the whole record (rare: one read per action).
        const op = await this.ledger.record(matched.id);
        if (!op) return 'report';
        // A cancellation of an authorization that a cancel or void of ours may account for after all (one in
        // flight, one the order names but the line did not lead to): not news to report to the OMS, a person looks.
        if (cancelsAuthorization(record, op) && (await ownClosing(op, this.ledgerRecords)) !== null) return 'report';
        // Likewise a refund of a payment that a refund of ours still open may be (its answer not recorded yet).
        if (refundsPayment(record, op) && openRefunds(await this.ledgerRecords.dependentsOf(op.id)).length > 0) return 'report';
        const pspReference = record.modificationReference ?? record.pspReference;
        // A success naming another PSP transaction than the attempt at this entry, of the one entry of this PSP account
        // the operation failed over from: that attempt's, read as the webhook path reads it (one fact, one reading).
        const attemptAt =
          action.kind === 'succeeded_after_failure' && pspReference !== undefined && this.deps.gateways
            ? earlierSameAccountAttempt(op, this.deps.gateway, { status: 'SUCCESS', gatewayReference: pspReference }, this.deps.gateways)
            : null;
        if (attemptAt !== null && pspReference !== undefined) return this.earlierAttemptSuccess(op, attemptAt, pspReference, record, action, match);
        const { created, duplicateOf, adjustment } = await this.deps.adjustments.recordAdjustment(op, {
          kind: action.kind,
          direction: action.direction,
          amount: action.amount,
          currency: action.currency,
          reason: action.reason,
          ...(pspReference !== undefined ? { pspReference } : {}),
          // A line naming two references (a Cybersource line: its reconciliationId and the transaction id a webhook
          // names): both are kept, so the webhook's reading of the same transaction is found a duplicate.
          ...(record.modificationReference !== undefined && record.pspReference !== undefined ? { lineReference: record.pspReference } : {}),
          occurredAt: record.occurredAt,
          gateway: this.deps.gateway,
          pspEventId: lineEventId(record.lineId),
          source: 'reconciliation',
          ...(match?.adjustmentsRead !== undefined ? { expectedAdjustments: match.adjustmentsRead } : {}),
        });
        // On a repeat of this adjustment too (idempotent by the void's id); not for a reading of another kind recorded
        // first (`duplicateOf`: a failover's late success, voided at the entry failed over from).
        if (duplicateOf === undefined && adjustment.kind === 'succeeded_after_failure' && action.kind === 'succeeded_after_failure' && this.deps.orphans) {
          const confirmed = { amount: action.amount, currency: action.currency };
          await reverseSuccessAfterFailure(this.deps.orphans, this.deps.logger, op, record.pspReference, 'reconciliation', confirmed, {
            repeat: !created,
          });
        }
        return created ? 'adjusted' : 'already_adjusted';
      }
      case 'settle': {
        if (!matched || !record) return 'report';
        if (dryRun) return 'would_apply';
        const op = await this.ledger.record(matched.id);
        if (!op) return 'report';
        // The failed line of a resend that was a new request, after an earlier attempt that may have landed, speaks for
        // one of its transactions only (the resend's, most likely; the earlier attempt may hold the money): reported.
        if (await failHeldBack(op, action.status, this.deps.transformer, (id) => this.ledgerRecords.interactions(id))) {
          this.deps.logger.warn(
            'reconciliation failure held back: a resend of the operation was a new request (no idempotency key) after an earlier attempt that may have reached the PSP (its decline held, or its answer not recorded yet); the failed line speaks for one transaction only: reported, not applied',
            { operation_id: op.id, state: op.state, gateway: this.deps.gateway, psp_line: record.lineId },
          );
          return 'report';
        }
        const reference = record.modificationReference ?? record.pspReference;
        const after = await this.deps.recorder.apply(
          op,
          {
            status: action.status,
            gatewayStatus: record.pspType,
            ...(reference !== undefined ? { gatewayReference: reference } : {}),
            ...(action.status === 'FAIL' ? { reason: record.pspType } : {}),
            amount: record.amount,
            currency: record.currency.toUpperCase(),
            // An authorization line's time is when the PSP authorized it: the expiry counts from it.
            ...(action.status === 'SUCCESS' && record.kind === 'authorization' ? { authorizedAt: record.occurredAt } : {}),
          },
          'reconciliation',
          { psp_line: record.lineId },
        );
        return after.state !== op.state ? 'settled' : 'none';
      }
      default:
        return assertNever(action);
    }
  }
}

/**
 * The pages of `source`, the next one read while the caller works on the current one (the PSP's answer
 * overlaps the ledger's round trips): at most two pages in memory. The cursor committed is always that of
 * a page the caller finished, so a stop never skips the page read ahead.
 */
export async function* readAhead<T>(source: AsyncIterable<T>): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  let next = it.next();
  // Left pending when the caller stops early: its failure is not the caller's any more.
  const settle = (p: Promise<IteratorResult<T>>): void => void p.catch(() => undefined);
  try {
    for (;;) {
      const current = await next;
      if (current.done) return;
      next = it.next();
      settle(next);
      yield current.value;
    }
  } finally {
    await it.return?.().catch(() => undefined);
  }
}

/** `match` with the ties this invocation made marked on its adjustments (the ones read before them were made). */
function withTies(match: Match | null, ties: ReadonlyMap<string, string>): Match | null {
  if (!match?.adjustments || ties.size === 0 || !match.adjustments.some((a) => a.line === undefined && ties.has(a.id))) return match;
  return { ...match, adjustments: match.adjustments.map((a) => (a.line === undefined && ties.has(a.id) ? { ...a, line: ties.get(a.id) } : a)) };
}

function emptyDelta(phase: PageDelta['phase']): PageDelta {
  return {
    phase,
    lines: 0,
    classes: {} as Partial<Record<ReconciliationClass, number>>,
    adjusted: 0,
    settled: 0,
    wouldApply: 0,
    fees: {},
    net: {},
    seen: [],
    held: [],
    unreadable: [],
    lookups: 0,
  };
}

/**
 * Whether `verdict` is a FAILED authorization's (or sale's) success the PSP lists, reported already as a
 * `succeeded_after_failure` (nothing to record): its reversal is asked for again (`reverseAgain`). Pure.
 */
function reportedSuccessAfterFailure(verdict: LineVerdict, record: PspRecord, match: Match): boolean {
  if (verdict.class !== 'state_mismatch' || verdict.action.type !== 'none') return false;
  if (match.op.state !== 'FAILED' || (match.op.command !== 'authorize' && match.op.command !== 'sale')) return false;
  return reportedOf(record, match) !== undefined;
}

/**
 * The `succeeded_after_failure` that reports this very line's PSP transaction (naming either of its references,
 * `namesLineTransaction`: the one the record step records it under, or the payment's a webhook may name). The classifier finds a line reported by one of another transaction only where one side names no reference
 * (by kind, the first reading standing): that one is not this line's, and asking for the reversal for this line's
 * reference would void another authorization than the one reported under the operation's void id. Pure.
 */
function reportedOf(record: PspRecord, match: Match): KnownAdjustment | undefined {
  return (match.adjustments ?? []).find((a) => a.kind === 'succeeded_after_failure' && namesLineTransaction(a, record));
}
