import { CybersourceStatus } from './cybersource-status-map';

/**
 * Reason codes (Simple Order / SCMP `reasonCode`, with their reply flag `rFlag`) that Transaction Search
 * echoes, and the REST `status` Cybersource documents for the same result. These say more than the
 * `rCode` beside them: a soft decline (AVS or CVN check failed after the issuer approved) has `rCode` 0
 * though the funds are held and the merchant decides, and a request held for Decision Manager review has
 * `rCode` 1 though nothing is decided yet. Read before the `rCode` by the status inquiry and by
 * reconciliation alike, so both say the same about one transaction.
 *
 * Source: Cybersource's reason code reference and its soft decline article (reason code, reply flag, REST
 * status): 200 `DAVSNO` and 230 `DCV` are `AUTHORIZED_PENDING_REVIEW`; 480 `DREVIEW` is the order marked
 * for review by Decision Manager; 110 is a partial approval (`PARTIAL_AUTHORIZED`).
 */
export const CYBERSOURCE_REASON_CODES = {
  '110': { rFlag: 'SOK', status: 'PARTIAL_AUTHORIZED' },
  '200': { rFlag: 'DAVSNO', status: 'AUTHORIZED_PENDING_REVIEW' },
  '230': { rFlag: 'DCV', status: 'AUTHORIZED_PENDING_REVIEW' },
  '480': { rFlag: 'DREVIEW', status: 'PENDING_REVIEW' },
} as const satisfies Readonly<Record<string, { rFlag: string; status: CybersourceStatus }>>;
export type CybersourceReasonCode = keyof typeof CYBERSOURCE_REASON_CODES;

/** The reply flags that name one of those results alone (110's `SOK` is every success's flag, not its own). */
const BY_RFLAG: ReadonlyMap<string, CybersourceStatus> = new Map(
  Object.values(CYBERSOURCE_REASON_CODES)
    .filter((r) => r.rFlag !== 'SOK')
    .map((r) => [r.rFlag, r.status]),
);

function isReasonCode(value: string): value is CybersourceReasonCode {
  return Object.prototype.hasOwnProperty.call(CYBERSOURCE_REASON_CODES, value);
}

/**
 * The REST status a reason code (else a reply flag) stands for, or undefined when neither is one of
 * {@link CYBERSOURCE_REASON_CODES} (then the `rCode` decides). A reason code given decides alone: its flag
 * is consulted only when there is none.
 */
export function cybersourceReasonStatus(reasonCode: string | undefined, rFlag: string | undefined): CybersourceStatus | undefined {
  if (reasonCode !== undefined) return isReasonCode(reasonCode) ? CYBERSOURCE_REASON_CODES[reasonCode].status : undefined;
  return rFlag !== undefined ? BY_RFLAG.get(rFlag) : undefined;
}

/** Reason code 481, reply flag `DREJECT`: "The order has been rejected by Decision Manager". */
const DECISION_MANAGER_REJECT = { reasonCode: '481', rFlag: 'DREJECT' } as const;

/**
 * Whether a reason code (else a reply flag) says Decision Manager rejected the order. Not whether an
 * authorization was made: Decision Manager can run before the authorization (a reject then authorizes
 * nothing: the risk decision's `REJECTED` `DECISION_PROFILE_REJECT`) or after it (the payment's
 * `AUTHORIZED_RISK_DECLINED`: approved by the issuer, the funds held), and the code is the same.
 */
export function cybersourceDecisionManagerRejected(reasonCode: string | undefined, rFlag: string | undefined): boolean {
  if (reasonCode !== undefined) return reasonCode === DECISION_MANAGER_REJECT.reasonCode;
  return rFlag === DECISION_MANAGER_REJECT.rFlag;
}
