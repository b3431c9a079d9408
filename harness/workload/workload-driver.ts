import { Config } from '../../src/config/config';
import { BusCommandName } from '../../src/config/config';
import { Channel, CommandType, Payment, PaymentCommand } from '../../src/contracts/payment-command';
import { ChannelPublisher } from './channel-publisher';
import { ExpectedStatus, PaymentScenario } from './payment-scenarios';
import { preciseNow } from './precise-clock';

/** A notification as the bus twin recorded it. */
export interface ObservedNotification {
  method: string;
  params: Record<string, unknown>;
  receivedAt: number;
}

/** What happened to one command of the workload. */
export interface StepRecord {
  scenario: number;
  step: number;
  operationId: string;
  orderId: string;
  channel: Channel;
  command: CommandType;
  /** The outcome the scenario planned; absent when none is planned (the money-truth drill checks outcomes against the PSP instead). */
  expect?: ExpectedStatus;
  /** ms since epoch. */
  sentAt: number;
  acceptedAt?: number;
  reportedAt?: number;
  /** Status in the terminal notification, or why there was none. */
  status?: ExpectedStatus | 'UNRESOLVED' | 'REJECTED' | 'TIMEOUT' | 'SKIPPED';
  reason?: string;
  /** Times intake answered "try again" (503, 429, connection refused) before accepting. */
  intakeRetries: number;
  /** Of those, 429 answers (a rate limit) and 503 answers (backpressure or the broker), each retried after its Retry-After. */
  refusals?: { 429: number; 503: number };
  /** The command was sent a second time after it was accepted (as a bus resends on a lost answer). */
  resent?: boolean;
}

/** How the driver reaches the bridge. */
export interface WorkloadTargets {
  config: Config;
  /** Sends a signed JSON-RPC command to our intake, as the bus does. */
  sendBus(method: string, params: Record<string, unknown>, id: string): Promise<{ status: number; body: unknown; retryAfter?: string }>;
  publisher: ChannelPublisher;
  /** Every notification the bus received so far, in arrival order (appended to, never rewritten). */
  notifications(): readonly ObservedNotification[];
}

export interface WorkloadOptions {
  /** Payments in flight at once. Default 100. */
  concurrency?: number;
  /** How long a step may wait for its terminal notification, ms. Default 120 000. */
  stepTimeoutMs?: number;
  /** Called after each step is reported. */
  onStep?: (record: StepRecord) => void;
  /** Share of accepted commands sent once more, as a bus does when our answer is lost. Default 0. */
  resendRate?: number;
  /** Random source for `resendRate`. Default Math.random. */
  random?: () => number;
  /**
   * Open-loop pacing: milliseconds after the start before payment `index` may begin (a spike is a rate, not
   * a number of payments in flight). Default: each lane starts its next payment at once.
   */
  startAt?: (index: number) => number;
}

const BUS_METHOD: Partial<Record<CommandType, BusCommandName>> = {
  validate: 'validate',
  revalidate: 'revalidate',
  capture: 'capture',
  cancel: 'cancel',
  refund: 'refund',
};

/** The state an event id ends in (`<operation id>.<STATE>`): what a {@link ReportWatcher} may count as a report. */
export type ReportedState = 'SUCCEEDED' | 'FAILED' | 'UNRESOLVED' | 'PENDING' | 'ACTION_REQUIRED';

/**
 * Follows the bus twin's notifications (polled every 10 ms from a cursor: the list is only appended to) and
 * resolves waiters with the first notification of an operation whose event id ends in one of `reports`
 * (`<operation id>.<STATE>`). `onEvent` sees every payment event, reports or not (a 3-D Secure step's
 * ACTION_REQUIRED, a duplicate delivery). {@link stop} ends the polling.
 */
export class ReportWatcher {
  private readonly waiters = new Map<string, (n: ObservedNotification) => void>();
  private readonly reportedBy = new Map<string, ObservedNotification>();
  private readonly suffixes: readonly string[];
  private cursor = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly notifications: () => readonly ObservedNotification[],
    options: { reports: readonly ReportedState[]; onEvent?: (n: ObservedNotification, payment: Record<string, unknown>) => void },
  ) {
    this.suffixes = options.reports.map((s) => `.${s}`);
    const onEvent = options.onEvent;
    this.timer = setInterval(() => {
      const all = this.notifications();
      for (; this.cursor < all.length; this.cursor += 1) {
        const n = all[this.cursor];
        const payment = n.params.payment as Record<string, unknown> | undefined;
        if (!payment) continue;
        onEvent?.(n, payment);
        const eventId = typeof payment.event_id === 'string' ? payment.event_id : '';
        if (!this.suffixes.some((s) => eventId.endsWith(s))) continue;
        const opId = String(payment.operation_reference);
        if (this.reportedBy.has(opId)) continue;
        this.reportedBy.set(opId, n);
        this.waiters.get(opId)?.(n);
      }
    }, 10);
  }

  /** The first report of `opId` seen so far. */
  reported(opId: string): ObservedNotification | undefined {
    return this.reportedBy.get(opId);
  }

  /** Resolves with the first report of `opId`, or null after `timeoutMs`. One waiter per operation. */
  waitFor(opId: string, timeoutMs: number): Promise<ObservedNotification | null> {
    return new Promise((resolve) => {
      const seen = this.reportedBy.get(opId);
      if (seen) return resolve(seen);
      const timer = setTimeout(() => {
        this.waiters.delete(opId);
        resolve(null);
      }, timeoutMs);
      this.waiters.set(opId, (n) => {
        clearTimeout(timer);
        this.waiters.delete(opId);
        resolve(n);
      });
    });
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/**
 * Plays payment scenarios against a running bridge the way an OMS and its channels would: the first
 * command of a payment from its channel, each later command only once the bus has reported the one
 * before, acting on the PSP reference that notification carried. Intake "try again" answers (503) are
 * retried like the bus retries. Returns one record per command.
 */
export async function runWorkload(scenarios: readonly PaymentScenario[], targets: WorkloadTargets, options: WorkloadOptions = {}): Promise<StepRecord[]> {
  const records: StepRecord[] = [];
  // UNRESOLVED is a report too (the bridge stopped expecting an answer and said so); a later fact may follow it.
  const watcher = new ReportWatcher(targets.notifications, { reports: ['SUCCEEDED', 'FAILED', 'UNRESOLVED'] });
  const waitFor = (opId: string, timeoutMs: number) => watcher.waitFor(opId, timeoutMs);

  const runScenario = async (index: number) => {
    const scenario = scenarios[index];
    const keys: (string | undefined)[] = [];
    let broken = false;
    for (let s = 0; s < scenario.steps.length; s += 1) {
      const step = scenario.steps[s];
      const record: StepRecord = {
        scenario: index,
        step: s,
        operationId: `${scenario.orderId}-${s + 1}-${step.command}`,
        orderId: scenario.orderId,
        channel: step.channel,
        command: step.command,
        expect: step.expect,
        sentAt: preciseNow(),
        intakeRetries: 0,
      };
      records.push(record);
      if (broken) {
        record.status = 'SKIPPED';
        continue;
      }
      const gatewayKey = 'paymentMethod' in step.gatewayKey ? step.gatewayKey.paymentMethod : (keys[step.gatewayKey.fromStep] ?? 'missing-reference');
      const payment: Payment = {
        gateway: 'simulator',
        gateway_account: scenario.gatewayAccount,
        gateway_key: gatewayKey,
        amount: step.amount,
        currency: scenario.currency,
        order_id: scenario.orderId,
        operation_reference: record.operationId,
        ...(step.command === 'tokenize'
          ? { method_details: { method: 'card', card: { brand: 'visa', last_four_digits: '4242', expiration_month: 12, expiration_year: 2030 } } }
          : {}),
      };
      const rejected = await sendCommand(targets, step.channel, step.command, payment, record);
      if (rejected) {
        record.status = 'REJECTED';
        record.reason = rejected;
        broken = true;
        continue;
      }
      record.acceptedAt = preciseNow();
      if ((options.resendRate ?? 0) > 0 && (options.random ?? Math.random)() < (options.resendRate ?? 0)) {
        // The duplicate must be dropped by operation id: no second effect, no second outcome.
        record.resent = (await sendCommand(targets, step.channel, step.command, payment, record)) === null;
      }
      const n = await waitFor(record.operationId, options.stepTimeoutMs ?? 120_000);
      if (!n) {
        record.status = 'TIMEOUT';
        broken = true;
        options.onStep?.(record);
        continue;
      }
      const reportedPayment = n.params.payment as Record<string, unknown>;
      record.reportedAt = n.receivedAt;
      record.status = reportedPayment.status === 'SUCCESS' ? 'SUCCESS' : reportedPayment.status === 'UNRESOLVED' ? 'UNRESOLVED' : 'FAIL';
      if (typeof reportedPayment.reason === 'string') record.reason = reportedPayment.reason;
      const response = reportedPayment.gateway_response as { reference?: string | null } | undefined;
      keys[s] = typeof reportedPayment.new_gateway_key === 'string' ? reportedPayment.new_gateway_key : (response?.reference ?? undefined);
      // A step that ended otherwise than planned leaves the rest of the payment meaningless.
      if (record.status !== step.expect) broken = true;
      options.onStep?.(record);
    }
  };

  let next = 0;
  const started = Date.now();
  const { startAt } = options;
  const lanes = Array.from({ length: Math.min(options.concurrency ?? 100, scenarios.length) }, async () => {
    for (let i = next++; i < scenarios.length; i = next++) {
      if (startAt) {
        const wait = started + startAt(i) - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      await runScenario(i);
    }
  });
  try {
    await Promise.all(lanes);
  } finally {
    watcher.stop();
  }
  return records;
}

/**
 * Sends one command as the OMS (bus commands, over our signed HTTP intake) or its channel (published to the
 * commands exchange) would, retrying "try again" answers (503, 429 after their Retry-After, an unreachable
 * intake or broker) like they do; returns null once accepted, or the refusal when the bridge rejected it for good.
 * `record.intakeRetries` and `record.refusals` count the retries.
 */
export async function sendCommand(
  targets: WorkloadTargets,
  channel: Channel,
  command: CommandType,
  payment: Payment,
  record: Pick<StepRecord, 'operationId' | 'intakeRetries' | 'refusals'>,
): Promise<string | null> {
  for (;;) {
    let retryAfterMs: number | null = null;
    try {
      if (channel === 'bus') {
        const name = BUS_METHOD[command];
        if (!name) return `the bus has no ${command} command`;
        const answer = await targets.sendBus(targets.config.serviceBus.methods.commands[name], { payment }, record.operationId);
        if (answer.status === 200) {
          const error = (answer.body as { error?: { message?: string } } | null)?.error;
          return error ? `JSON-RPC error: ${error.message ?? 'unknown'}` : null;
        }
        if (answer.status !== 503 && answer.status !== 429) return `HTTP ${answer.status}`;
        // A rate limit (429) or backpressure (503): the bus sends it again after Retry-After.
        record.refusals ??= { 429: 0, 503: 0 };
        record.refusals[answer.status] += 1;
        const seconds = Number(answer.retryAfter);
        if (Number.isFinite(seconds) && seconds >= 0) retryAfterMs = Math.min(seconds * 1000, 30_000) * (1 + 0.2 * Math.random()); // jitter: not all at once
      } else {
        const message: PaymentCommand = { version: 1, command, channel, received_at: new Date().toISOString(), payment };
        await targets.publisher.publish(message);
        return null;
      }
    } catch {
      // Intake or broker unreachable for a moment: the bus (and a channel) tries again.
    }
    record.intakeRetries += 1;
    if (record.intakeRetries > 300) return 'intake unavailable for good';
    await new Promise((r) => setTimeout(r, retryAfterMs ?? Math.min(2000, 100 * record.intakeRetries)));
  }
}
