import { PaymentCommand } from '../../src/contracts/payment-command';

/** Something that publishes one command and resolves on the broker's confirm (e.g. `ChannelPublisher`). */
export interface ConfirmingPublisher {
  publish(command: PaymentCommand): Promise<void>;
}

/**
 * Publishes `count` commands as fast as confirms allow, keeping at most `window` unconfirmed (default 500):
 * what a busy channel does. `make(i)` builds command `i`; `before(i)` runs just before its publish (to
 * stamp the publish time). Resolves with the elapsed seconds once every confirm arrived.
 */
export async function publishWindowed(
  publisher: ConfirmingPublisher,
  count: number,
  make: (i: number) => PaymentCommand,
  options: { window?: number; before?: (i: number) => void; onConfirmed?: (done: number) => void } = {},
): Promise<number> {
  const started = process.hrtime.bigint();
  let next = 0;
  let confirmed = 0;
  await Promise.all(
    Array.from({ length: Math.min(options.window ?? 500, count) }, async () => {
      for (let i = next++; i < count; i = next++) {
        const command = make(i);
        options.before?.(i);
        await publisher.publish(command);
        confirmed += 1;
        options.onConfirmed?.(confirmed);
      }
    }),
  );
  return Number(process.hrtime.bigint() - started) / 1e9;
}

/**
 * Publishes at an offered load of `ratePerS` commands per second for `durationS` seconds (an open
 * workload: the schedule never waits for confirms or outcomes, so a slow bridge shows as latency, not as
 * a lower offered rate). Ticks every `tickMs` (default 5 ms) and publishes whatever the schedule says is
 * due, so timer jitter does not lower the rate. Resolves with the number published once all are confirmed.
 */
export async function publishPaced(
  publisher: ConfirmingPublisher,
  ratePerS: number,
  durationS: number,
  make: (i: number) => PaymentCommand,
  options: { tickMs?: number; before?: (i: number) => void } = {},
): Promise<number> {
  const total = Math.round(ratePerS * durationS);
  const started = performance.now();
  const confirms: Promise<void>[] = [];
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * ratePerS) + 1);
    for (; sent < due; sent += 1) {
      const command = make(sent);
      options.before?.(sent);
      confirms.push(publisher.publish(command));
    }
    await new Promise((r) => setTimeout(r, options.tickMs ?? 5));
  }
  await Promise.all(confirms);
  return sent;
}
