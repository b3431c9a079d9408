import { EventEmitter } from 'node:events';
import { LogThrottle } from '../logging/log-throttle';
import { Logger } from '../logging/logger';
import { counter, gauge } from '../metrics/metrics-registry';

/** A dependency a process watches: `redis`, `rabbitmq`, `bus` (the delegate URL). Bounded set. */
export type DependencyName = 'redis' | 'rabbitmq' | 'bus';

const up = gauge('pb_dependency_up', 'Whether this process currently reaches a dependency (redis, rabbitmq, bus): 1 up, 0 lost', ['dependency']);
const outages = counter('pb_dependency_outages_total', 'Times this process lost a dependency (redis, rabbitmq, bus)', ['dependency']);

/**
 * Says when a dependency is lost and when it is back: one warning / info line per dependency and direction
 * per window (a flapping link cannot flood the log; the suppressed count rides on the next line),
 * `pb_dependency_up` and `pb_dependency_outages_total`.
 */
export class DependencyWatch {
  private readonly state = new Map<DependencyName, { up: boolean; since: number }>();
  private readonly throttle: LogThrottle;
  private stopped = false;

  constructor(
    logger: Logger,
    /** Window of the rate-limited lines, ms. Default 60 000. */
    windowMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {
    this.throttle = new LogThrottle(logger, windowMs, now);
  }

  /** Whether `name` was last seen up (true until seen lost). */
  isUp(name: DependencyName): boolean {
    return this.state.get(name)?.up ?? true;
  }

  /** The process is stopping: closing its own connections is not an outage. */
  stop(): void {
    this.stopped = true;
  }

  lost(name: DependencyName, error?: string): void {
    if (this.stopped) return;
    const prev = this.state.get(name);
    if (prev && !prev.up) return;
    this.state.set(name, { up: false, since: this.now() });
    up.set({ dependency: name }, 0);
    outages.inc({ dependency: name });
    this.throttle.warn(`${name}:lost`, `dependency lost: ${name}`, { dependency: name, ...(error ? { error } : {}) });
  }

  back(name: DependencyName): void {
    const prev = this.state.get(name);
    this.state.set(name, { up: true, since: this.now() });
    up.set({ dependency: name }, 1);
    if (!prev || prev.up) return;
    this.throttle.log('info', `${name}:back`, `dependency back: ${name}`, { dependency: name, down_ms: this.now() - prev.since });
  }

  /** Follows an ioredis connection (`error`/`close` → lost, `ready` → back). */
  watchRedis(redis: EventEmitter): void {
    redis.on('ready', () => this.back('redis'));
    redis.on('error', (err: Error) => this.lost('redis', err.message));
    redis.on('close', () => this.lost('redis'));
  }

  /** Follows an `AmqpConnection` (`lost` → lost, `ready` → back). */
  watchAmqp(connection: EventEmitter): void {
    connection.on('ready', () => this.back('rabbitmq'));
    connection.on('lost', () => this.lost('rabbitmq'));
  }
}
