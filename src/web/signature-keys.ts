import { Logger } from '../logging/logger';
import { LogThrottle } from '../logging/log-throttle';
import { counter } from '../metrics/metrics-registry';

/** Which configured secret verified a signature: the current one, or the previous one kept during a rotation. */
export type SecretSlot = 'current' | 'previous';

const signaturesVerified = counter(
  'pb_signatures_verified_total',
  'Signed requests accepted, by surface (intake: X-Signature; webhook), gateway (webhooks only, else empty) and the secret that verified them (current, previous): the previous one can be retired once its count stops growing',
  ['surface', 'gateway', 'key'],
);

/** Window of the "previous secret still in use" line per endpoint, milliseconds: 10 minutes. */
const PREVIOUS_IN_USE_WINDOW_MS = 10 * 60_000;

/**
 * Records which secret verified each signed request (metric), and says in the log, at most once per
 * endpoint per 10 minutes, that the previous secret is still in use: the operator retires it when the
 * line and the `key="previous"` count stop.
 */
export class SignatureKeyUse {
  private readonly previousInUse: LogThrottle;

  constructor(logger: Logger) {
    this.previousInUse = new LogThrottle(logger, PREVIOUS_IN_USE_WINDOW_MS);
  }

  record(surface: 'intake' | 'webhook', gateway: string, key: SecretSlot, secretKey: string): void {
    signaturesVerified.inc({ surface, gateway, key });
    if (key === 'previous') {
      this.previousInUse.log(
        'info',
        `${surface}:${gateway}`,
        `rotation: a request was signed with the previous secret (${secretKey}); keep it until this line and pb_signatures_verified_total{key="previous"} stop (at most one line per endpoint per 10 minutes)`,
        {
          surface,
          ...(gateway ? { gateway } : {}),
          key: secretKey,
        },
      );
    }
  }
}
