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
  expect: ExpectedStatus;
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

/**
 * Plays payment scenarios against a running bridge the way an OMS and its channels would: the first
 * command of a payment from its channel, each later command only once the bus has reported the one
 * before, acting on the PSP reference that notification carried. Intake "try again" answers (503) are
 * retried like the bus retries. Returns one record per command.
 */
export async function runWorkload(scenarios: readonly PaymentScenario[], targets: WorkloadTargets, options: WorkloadOptions = {}): Promise<StepRecord[]> {
  const records: StepRecord[] = [];
  const waiters = new Map<string, (n: ObservedNotification) => void>();
  const reported = new Map<string, ObservedNotification>();
  let cursor = 0;
  const pump = setInterval(() => {
    const all = targets.notifications();
    for (; cursor < all.length; cursor += 1) {
      const n = all[cursor];
      const payment = n.params.payment as Record<string, unknown> | undefined;
      const eventId = typeof payment?.event_id === 'string' ? payment.event_id : '';
      // UNRESOLVED is a report too (the bridge stopped expecting an answer and said so); a later fact may follow it.
      if (!eventId.endsWith('.SUCCEEDED') && !eventId.endsWith('.FAILED') && !eventId.endsWith('.UNRESOLVED')) continue;
      const opId = String(payment?.operation_reference);
      if (reported.has(opId)) continue;
      reported.set(opId, n);
      waiters.get(opId)?.(n);
    }
  }, 10);

  const waitFor = (opId: string, timeoutMs: number) =>
    new Promise<ObservedNotification | null>((resolve) => {
      const seen = reported.get(opId);
      if (seen) return resolve(seen);
      const timer = setTimeout(() => {
        waiters.delete(opId);
        resolve(null);
      }, timeoutMs);
      waiters.set(opId, (n) => {
        clearTimeout(timer);
        waiters.delete(opId);
        resolve(n);
      });
    });

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
      const rejected = await send(targets, step.channel, step.command, payment, record);
      if (rejected) {
        record.status = 'REJECTED';
        record.reason = rejected;
        broken = true;
        continue;
      }
      record.acceptedAt = preciseNow();
      if ((options.resendRate ?? 0) > 0 && (options.random ?? Math.random)() < (options.resendRate ?? 0)) {
        // The duplicate must be dropped by operation id: no second effect, no second outcome.
        record.resent = (await send(targets, step.channel, step.command, payment, record)) === null;
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
    clearInterval(pump);
  }
  return records;
}

/** Sends one command; returns null once accepted, or the refusal when the bridge rejected it for good. */
async function send(targets: WorkloadTargets, channel: Channel, command: CommandType, payment: Payment, record: StepRecord): Promise<string | null> {
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
