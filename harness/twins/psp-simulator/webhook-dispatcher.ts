import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { SIMULATOR_SIGNATURE_HEADER, signSimulatorPayload } from './simulator-signature';

/** One webhook event as sent: `{id, type, created, data: {object}}`. */
export interface SimulatorEvent {
  id: string;
  type: string;
  created: number;
  data: { object: unknown };
}

/** Webhook delivery settings. */
export interface WebhookDispatcherOptions {
  /** Receiver URL (http only). */
  url: string;
  /** HMAC key of `Simulator-Signature`. */
  secret: string;
  /** Delivery attempts per event, including the first. Default 4. */
  attempts?: number;
  /** First retry delay in ms, doubled each retry. Default 100. */
  retryBaseMs?: number;
  /** Per-attempt timeout in ms. Default 5000. */
  timeoutMs?: number;
  /** How long an out-of-order event waits for a successor before going out alone, in ms. Default 200. */
  reorderWindowMs?: number;
}

/**
 * Sends signed webhooks with retries and backoff. Counts deliveries (2xx answers). Never throws: a
 * delivery that keeps failing is counted in `failed` and dropped.
 */
export class WebhookDispatcher {
  sent = 0;
  failed = 0;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly pendingDeliveries = new Set<Promise<void>>();
  private held: { body: string; timer: NodeJS.Timeout } | undefined;
  private sequence = 0;
  // Ends in a letter, so tag and sequence never read as one long number (the card scan masks those in logs).
  private readonly tag = `${randomBytes(4).toString('hex').slice(0, 7)}${'abcdef'[randomBytes(1)[0] % 6]}`;
  private stopped = false;

  constructor(private readonly options: WebhookDispatcherOptions) {}

  /** A new event id (`evt_…`). */
  newEventId(): string {
    this.sequence += 1;
    return `evt_${this.tag}${this.sequence.toString(36).padStart(6, '0')}`;
  }

  /**
   * Queues one event. `duplicate` sends it twice; `outOfOrder` holds it until the next event, which then
   * goes first (or until the reorder window ends).
   */
  dispatch(event: SimulatorEvent, flags: { duplicate: boolean; outOfOrder: boolean }): void {
    if (this.stopped) return;
    const body = JSON.stringify(event);
    const copies = flags.duplicate ? 2 : 1;
    const sendAll = (raw: string, n: number): void => {
      for (let i = 0; i < n; i += 1) this.track(this.deliver(raw));
    };
    if (!flags.outOfOrder) {
      sendAll(body, copies);
      return;
    }
    const previous = this.held;
    if (previous) {
      clearTimeout(previous.timer);
      this.timers.delete(previous.timer);
      this.held = undefined;
      // The later event overtakes the held earlier one, which goes once the later one is delivered.
      const first = this.deliver(body);
      if (copies === 2) this.track(this.deliver(body));
      this.track(first.then(() => (this.stopped ? undefined : this.deliver(previous.body))));
      return;
    }
    const timer = this.later(this.options.reorderWindowMs ?? 200, () => {
      this.held = undefined;
      sendAll(body, copies);
    });
    this.held = { body, timer };
    if (copies === 2) sendAll(body, 1);
  }

  /** Resolves once every delivery started so far has finished (tests). */
  async idle(): Promise<void> {
    while (this.pendingDeliveries.size > 0 || this.timers.size > 0) {
      await Promise.race([...this.pendingDeliveries, new Promise((r) => setTimeout(r, 10))]);
    }
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.held = undefined;
    this.agent.destroy();
  }

  private later(ms: number, fn: () => void): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.stopped) fn();
    }, ms);
    this.timers.add(timer);
    return timer;
  }

  private track(p: Promise<void>): void {
    this.pendingDeliveries.add(p);
    void p.finally(() => this.pendingDeliveries.delete(p));
  }

  private async deliver(body: string): Promise<void> {
    const attempts = this.options.attempts ?? 4;
    const base = this.options.retryBaseMs ?? 100;
    for (let attempt = 0; attempt < attempts && !this.stopped; attempt += 1) {
      if (attempt > 0) await new Promise<void>((resolve) => this.later(base * 2 ** (attempt - 1), resolve));
      if (this.stopped) return;
      if (await this.post(body)) {
        this.sent += 1;
        return;
      }
    }
    this.failed += 1;
  }

  /** One signed POST; true on a 2xx answer. */
  private post(body: string): Promise<boolean> {
    return new Promise((resolve) => {
      const raw = Buffer.from(body, 'utf8');
      const signature = signSimulatorPayload(this.options.secret, raw, Math.floor(Date.now() / 1000));
      let req: http.ClientRequest;
      try {
        req = http.request(this.options.url, {
          method: 'POST',
          agent: this.agent,
          timeout: this.options.timeoutMs ?? 5000,
          headers: { 'content-type': 'application/json', 'content-length': raw.length, [SIMULATOR_SIGNATURE_HEADER]: signature },
        });
      } catch {
        resolve(false);
        return;
      }
      req.on('response', (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300));
        res.on('error', () => resolve(false));
      });
      req.on('timeout', () => req.destroy(new Error('webhook timeout')));
      req.on('error', () => resolve(false));
      req.end(raw);
    });
  }
}
