import { RedisClient } from '../redis/redis-connection';
import { ExtraHoldChecks } from '../delivery/extra-hold-check';
import { ExtraHoldCheckSweep } from '../poller/extra-hold-check-sweep';
import { Queue } from 'bullmq';
import { Config } from '../config/config';
import { DeliveryJobData } from '../delivery/delivery-queue';
import { OutcomeRecorder } from '../delivery/outcome-recorder';
import { RetentionSweep } from '../data-lifecycle/retention-sweep';
import { EventIndexTrim } from '../events/event-index-trim';
import { EventStore } from '../events/event-store';
import { Ledger } from '../ledger/ledger';
import { EXTEND_OWN_LOCK, passLockKey } from '../leases/fleet-locks';
import { LeaseHolder, holderNamedBy } from '../leases/lease-holder';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import { ActionExpiry } from '../poller/action-expiry';
import { LifecycleSweep } from '../poller/lifecycle-sweep';
import { PollReport, Poller } from '../poller/poller';
import { RiskReviewExpiry } from '../poller/risk-review-expiry';
import { RecurringRunner } from '../recurring/recurring-runner';
import { RecurringStore } from '../recurring/recurring-store';
import { AdjustmentStore } from '../adjustments/adjustment-store';
import { RecaptureWaitSweep } from '../poller/recapture-wait';
import { GatewayRouter } from '../routing/gateway-router';

export const pollerPasses = counter(
  'pb_poller_passes_total',
  'Poller passes, by result (ran, locked: another poller held the lock, failed, lost: the pass found its lock no longer its own and stopped before its next job)',
  ['result'],
);
const lockTakeovers = counter(
  'pb_poller_lock_takeovers_total',
  'Periodic-pass locks taken over from a holder process whose heartbeat had lapsed (a worker or poller killed during a pass)',
);
const lockHoldLimits = counter(
  'pb_poller_pass_lock_hold_limits_total',
  'Periodic passes still running after holding their lock for PASS_HOLD_LIMIT times its lifetime: the lock is no longer extended (a hung pass must not stop every pass of the fleet), so another pass may start beside it once it expires',
);
const jobFailures = counter('pb_periodic_job_failures_total', 'Periodic jobs of a poll pass that threw, by job (the pass goes on with the next job)', ['job']);

/** The names of the periodic jobs, in the order a pass runs them. */
export const PERIODIC_JOB_NAMES = [
  'authorization_lifecycle',
  'retention',
  'event_index_trim',
  'risk_review_expiry',
  'action_expiry',
  'recurring',
  'recapture_wait',
] as const;
export type PeriodicJobName = (typeof PERIODIC_JOB_NAMES)[number];

/** One periodic job: what it did, as log fields, or null when there is nothing worth a log line. */
export interface PeriodicJob {
  readonly name: PeriodicJobName;
  run(): Promise<Record<string, unknown> | null>;
}

/** What the periodic jobs need; the same for the poller role and the workers' in-process poller. */
export interface PeriodicJobsDeps {
  config: Config;
  redis: RedisClient;
  ledger: Ledger;
  router: GatewayRouter;
  recorder: OutcomeRecorder;
  deliveryQueue: Queue<DeliveryJobData>;
  logger: Logger;
}

/**
 * Everything a poll pass runs, built once per process: the status inquiries (`poller`), then the ONE list
 * of the other periodic jobs. Both the poller role (`payment-bridge poll`) and the workers' in-process
 * poller (`poller.in_process_interval_ms`) run a pass through `runPeriodicPass`, so neither mode can
 * forget a job. Reconciliation is not in the list: it has a lane (and locks) of its own in the poller role.
 */
export class PeriodicJobs {
  readonly poller: Poller;
  readonly lifecycle: LifecycleSweep;
  readonly jobs: readonly PeriodicJob[];

  constructor(deps: PeriodicJobsDeps) {
    const { config, redis, ledger, router, recorder, deliveryQueue, logger } = deps;
    this.poller = new Poller({ config, ledger, router, recorder, logger, deliveryQueue });
    this.lifecycle = new LifecycleSweep({ config, redis, ledger, recorder, deliveryQueue, logger });
    const extraHolds = new ExtraHoldCheckSweep({
      ledger,
      router,
      checks: new ExtraHoldChecks(redis, config.redis.keyPrefix),
      release: (op, hold) => this.lifecycle.orphans.requestExtraHold(op, hold),
      logger,
    });
    const retention = new RetentionSweep({ config, redis, logger });
    const indexTrim = new EventIndexTrim({ events: new EventStore(redis, config.redis.keyPrefix), logger });
    const reviews = new RiskReviewExpiry({ config, redis, ledger, recorder, logger, deliveryQueue });
    const actions = new ActionExpiry({ config, redis, ledger, router, recorder, deliveryQueue, logger });
    const recurring = new RecurringRunner({ config, store: new RecurringStore(redis, config.redis.keyPrefix), ledger, recorder, deliveryQueue, logger });
    const recaptures = new RecaptureWaitSweep({ config, store: new AdjustmentStore(redis, config.redis.keyPrefix), logger });
    const byName: Record<PeriodicJobName, PeriodicJob['run']> = {
      // Expiry warnings and orphan reversal (it logs its own summary).
      authorization_lifecycle: async () => {
        await this.lifecycle.runOnce();
        // The follow-up searches of authorizes that succeeded after an unproven attempt (src/delivery/extra-hold-check.ts).
        const checked = await extraHolds.runOnce();
        if (checked.found > 0 || checked.errors > 0) logger.info('extra hold checks', { ...checked });
        return null;
      },
      // Archive then expire terminal operations past retention (nothing live, nothing unarchived).
      retention: async () => {
        await retention.runOnce();
        return null;
      },
      // Set-aside and dismissed index entries whose event an earlier release's retention expired (it logs what it took).
      event_index_trim: async () => {
        await indexTrim.runIfDue();
        return null;
      },
      // Authorizations held for review past their deadline are voided.
      risk_review_expiry: async () => {
        const voided = await reviews.runOnce();
        return voided > 0 ? { voided } : null;
      },
      // Customer actions (3-D Secure, redirects, vouchers) past their deadline (delivery/action-deadline.ts).
      action_expiry: async () => {
        const report = await actions.runOnce();
        return report.due > 0 ? { ...report } : null;
      },
      // Recurring billing cycles and their dunning retries.
      recurring: async () => {
        const report = await recurring.runOnce();
        return report.due > 0 || report.expired > 0 ? { ...report } : null;
      },
      // Re-captures held past delivery.recapture_failure_wait_ms without the capture failure they follow: surfaced.
      recapture_wait: async () => {
        const report = await recaptures.runOnce();
        return report.surfaced > 0 || report.settled > 0 || report.moved > 0 || report.faulted > 0 ? { ...report } : null;
      },
    };
    this.jobs = PERIODIC_JOB_NAMES.map((name) => ({ name, run: byName[name] }));
  }
}

const LOG_LINES: Record<PeriodicJobName, string> = {
  authorization_lifecycle: 'authorization lifecycle sweep',
  retention: 'retention sweep',
  event_index_trim: 'event index trim',
  risk_review_expiry: 'risk review expiry',
  action_expiry: 'customer action expiry',
  recurring: 'recurring schedules',
  recapture_wait: 're-captures waiting for their capture failure',
};

/**
 * One pass: the PENDING and UNKNOWN operations whose next check is due, then every periodic job in turn
 * (a job that throws is logged and counted, and the next one still runs, even after the inquiries threw). A Redis lock (`poller:lock`,
 * held for `lockMs` and released by its owner only) keeps two passes (two pollers, a poller and the
 * workers' in-process poller, two workers) from running at once; each job is idempotent besides.
 *
 * The lock is extended (by its owner only) every quarter of `lockMs` while the pass runs, so a pass longer than
 * `lockMs` (a backlog of inquiries at a slow PSP) keeps it, up to `PASS_HOLD_LIMIT` lifetimes (a hung pass then
 * lets the lock expire rather than stop every pass of the fleet; warned, `pb_poller_pass_lock_hold_limits_total`),
 * and checked before each job: a pass whose lock is no
 * longer its own (it expired while Redis was out of reach, a stall longer than `leases.holder_ttl_ms` let another
 * process take it over, a failover lost it) runs no further job, counted `pb_poller_passes_total{result="lost"}`
 * and logged (warn, with the holder now named by the lock); the next pass runs them.
 *
 * With a `holder`, the lock's token starts with the holder's id, and a lock found held by a holder whose
 * heartbeat is gone (a process killed mid-pass) is taken over at once instead of blocking every pass until
 * it expires (`passLockMs`, a minute or more). A live holder's lock, however long its pass, is never taken;
 * nor a token without a holder id (an older build's).
 * @returns the status inquiries' report, or `null` when another pass holds the lock.
 * @throws what the status inquiries threw (the caller counts a failed pass).
 */
export async function runPeriodicPass(
  deps: { config: Config; redis: RedisClient; logger: Logger; holder?: LeaseHolder },
  jobs: Pick<PeriodicJobs, 'poller' | 'jobs'>,
  lockMs: number,
  owner = `poller:${process.pid}`,
): Promise<PollReport | null> {
  const { config, redis, logger, holder } = deps;
  const lock = passLockKey(config.redis.keyPrefix);
  const token = `${holder ? `${holder.id}:` : ''}${owner}:${Date.now()}:${Math.random().toString(36).slice(2)}`;
  if ((await redis.set(lock, token, 'PX', lockMs, 'NX')) !== 'OK' && !(await takeOverFromDeadHolder(redis, lock, token, lockMs, holder, logger))) {
    pollerPasses.inc({ result: 'locked' });
    return null;
  }
  const keeper = new PassLockKeeper(redis, lock, token, lockMs, logger, holder);
  try {
    // The status inquiries failing (the PSP or Redis away) must not starve the other jobs: they run, then it is reported.
    let report: PollReport | null = null;
    let inquiryError: unknown = null;
    try {
      report = await jobs.poller.runOnce();
    } catch (err) {
      inquiryError = err;
    }
    for (const [i, job] of jobs.jobs.entries()) {
      // Before each job's side effects: a pass whose lock is another's (or no one's) leaves them to the next pass.
      if (!(await keeper.keep())) {
        keeper.noteLost(jobs.jobs.slice(i).map((j) => j.name));
        break;
      }
      try {
        const fields = await job.run();
        if (fields) logger.info(LOG_LINES[job.name], fields);
      } catch (err) {
        jobFailures.inc({ job: job.name });
        logger.warn(`${LOG_LINES[job.name]} failed`, { job: job.name, error: (err as Error).message });
      }
    }
    // Found lost during the last job, by the renewal: said all the same, with nothing left to skip.
    if (keeper.lost) keeper.noteLost([]);
    if (inquiryError) throw inquiryError;
    pollerPasses.inc({ result: keeper.lost ? 'lost' : 'ran' });
    return report;
  } finally {
    keeper.stop();
    // Release only our own lock: a pass that outlived lockMs must not free the next one's.
    await redis.eval("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0", 1, lock, token).catch(() => undefined);
  }
}

/**
 * How many lock lifetimes (`lockMs`) a pass may keep extending its lock: ten (ten minutes at least with the
 * production `passLockMs`). A pass that hangs (a call with no deadline, a stuck await) would otherwise hold the lock
 * for as long as its process lives and stop every periodic job of the fleet; past this it only checks the lock
 * before its next job, the lock expires a lifetime later, and the next pass runs beside it, as before locks were
 * extended at all.
 */
export const PASS_HOLD_LIMIT = 10;

/**
 * Keeps a pass's lock while the pass runs: extended on a timer and before each job, by its owner only, for at most
 * `PASS_HOLD_LIMIT` lifetimes.
 */
class PassLockKeeper {
  /** The lock was found not to be this pass's any more (then it never is again). */
  lost = false;
  /** What the lock held when it was found lost ('' for nothing). */
  private foundValue = '';
  private noted = false;
  private readonly timer: NodeJS.Timeout;
  private readonly startedAt = Date.now();
  private limitSaid = false;

  constructor(
    private readonly redis: RedisClient,
    private readonly lock: string,
    private readonly token: string,
    private readonly lockMs: number,
    private readonly logger: Logger,
    private readonly holder: LeaseHolder | undefined,
  ) {
    // A quarter of lockMs: three renewals can fail (Redis briefly away) before a live pass's lock expires.
    this.timer = setInterval(() => void this.keep(), Math.max(50, Math.floor(lockMs / 4)));
    this.timer.unref();
  }

  /**
   * Extends the lock if it is still this pass's. False once it is not; true while it is, and when Redis could
   * not be asked (the jobs meet that outage themselves; a lock that expired meanwhile is found lost next time).
   */
  async keep(): Promise<boolean> {
    if (this.lost) return false;
    const extend = Date.now() - this.startedAt < PASS_HOLD_LIMIT * this.lockMs;
    if (!extend) this.sayHoldLimit();
    let answer: unknown;
    try {
      // lock_ms '0': only asks whether the lock is still this pass's (past the hold limit).
      answer = await EXTEND_OWN_LOCK.run(this.redis, { keys: { lock: this.lock }, args: { token: this.token, lock_ms: extend ? String(this.lockMs) : '0' } });
    } catch {
      return true;
    }
    const [kept, value] = answer as [number, string?];
    if (Number(kept) !== 1 && !this.lost) {
      this.lost = true;
      this.foundValue = value ?? '';
      this.stop();
    }
    return !this.lost;
  }

  /** Logs and counts, once, that the pass outlived its hold limit and its lock is left to expire. */
  private sayHoldLimit(): void {
    if (this.limitSaid) return;
    this.limitSaid = true;
    clearInterval(this.timer);
    lockHoldLimits.inc();
    this.logger.warn('periodic pass still running past its lock hold limit; lock no longer extended, another pass may start beside it once it expires', {
      holder: this.holder?.id ?? null,
      held_ms: Date.now() - this.startedAt,
      hold_limit_ms: PASS_HOLD_LIMIT * this.lockMs,
    });
  }

  /** Logs the loss once, naming the jobs the pass leaves to the next one. */
  noteLost(skipped: readonly string[]): void {
    if (this.noted) return;
    this.noted = true;
    this.logger.warn(
      'periodic pass lock lost (expired or taken over: a stall longer than leases.holder_ttl_ms, Redis out of reach, a failover); this pass runs no further job',
      {
        holder: this.holder?.id ?? null,
        held_by: this.foundValue === '' ? null : (holderNamedBy(this.foundValue) ?? 'unnamed'),
        jobs_skipped: skipped,
      },
    );
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** Takes the pass lock if the holder its token names is dead; false for a live holder, no holder id, or no `holder` of ours. */
async function takeOverFromDeadHolder(
  redis: RedisClient,
  lock: string,
  token: string,
  lockMs: number,
  holder: LeaseHolder | undefined,
  logger: Logger,
): Promise<boolean> {
  if (!holder) return false;
  const dead = await holder.takeOverFromDead(redis, lock, token, lockMs);
  if (dead === null) return false;
  lockTakeovers.inc();
  logger.warn('periodic pass lock taken over from a dead holder', { dead_holder: dead, holder: holder.id });
  return true;
}

/** How long a pass may hold the poller lock, ms: ten intervals, at least a minute (a pass that dies frees it then). */
export function passLockMs(intervalMs: number): number {
  return Math.max(intervalMs * 10, 60_000);
}
