import { gauge } from '../metrics/metrics-registry';

/**
 * A permanent misconfiguration the process found while working (not at start): retrying will not fix it,
 * an operator must change `key`.
 * - `credentials_refused`: the PSP answered 401/403 to our credentials;
 * - `untrusted_certificate`: the PSP's TLS certificate does not verify against our trust store;
 * - `unknown_host`: the configured host name does not resolve (ENOTFOUND);
 * - `missing_gateway`: a command names a gateway `gateways` lacks.
 */
export type ConfigProblemKind = 'credentials_refused' | 'untrusted_certificate' | 'unknown_host' | 'missing_gateway';

export interface ConfigProblem {
  kind: ConfigProblemKind;
  /** The gateway it is about. */
  gateway: string;
  /** The configuration key(s) to fix, e.g. `gateways.stripe.api_key`. */
  key: string;
  /** When it was last seen, epoch ms. */
  lastSeen: number;
}

const problemsGauge = gauge(
  'pb_config_problems',
  'Permanent misconfigurations found while working (credentials refused, untrusted certificate, unknown host, missing gateway), by kind; /readyz is not ready while any is present',
  ['kind'],
);
/** Most problems kept at once. */
const MAX_OPEN = 100;
const KINDS: readonly ConfigProblemKind[] = ['credentials_refused', 'untrusted_certificate', 'unknown_host', 'missing_gateway'];

/**
 * The process' open configuration problems, which `/readyz` reports as the `configuration` check. A
 * gateway's problem clears when that gateway next answers normally; a `missing_gateway` one (fixed only by
 * a restart with the new configuration) is forgotten `forgetAfterMs` after it was last seen, so one stray
 * command does not keep a worker unready forever.
 */
export class ConfigProblems {
  private readonly open = new Map<string, ConfigProblem>();

  constructor(
    /** How long an unrepeated `missing_gateway` problem stays open, ms. Default 600 000 (10 min). */
    private readonly forgetAfterMs = 600_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records a problem; true when it is new (the caller logs it at error level then, and rate-limited after). */
  report(kind: ConfigProblemKind, gateway: string, key: string): boolean {
    const id = `${kind}:${gateway}`;
    const isNew = !this.open.has(id);
    if (isNew && this.open.size >= MAX_OPEN) {
      // Gateway names in commands come from outside: keep the set bounded (the oldest goes).
      const oldest = this.open.keys().next();
      if (!oldest.done) this.open.delete(oldest.value);
    }
    this.open.set(id, { kind, gateway, key, lastSeen: this.now() });
    this.publish();
    return isNew;
  }

  /** The gateway answered normally: its credential, certificate and host problems are fixed. */
  clearGateway(gateway: string): void {
    if (this.open.size === 0) return; // the hot path: nothing to do
    let changed = false;
    for (const [id, p] of this.open) {
      if (p.gateway === gateway && p.kind !== 'missing_gateway') {
        this.open.delete(id);
        changed = true;
      }
    }
    if (changed) this.publish();
  }

  /** The problems open now. */
  list(): ConfigProblem[] {
    const cutoff = this.now() - this.forgetAfterMs;
    for (const [id, p] of this.open) if (p.kind === 'missing_gateway' && p.lastSeen < cutoff) this.open.delete(id);
    this.publish();
    return [...this.open.values()];
  }

  /** Forgets everything (tests). */
  reset(): void {
    this.open.clear();
    this.publish();
  }

  private publish(): void {
    for (const kind of KINDS) problemsGauge.set({ kind }, [...this.open.values()].filter((p) => p.kind === kind).length);
  }
}

/** The process-wide registry (one process, one set of gateways). */
export const configProblems = new ConfigProblems();
