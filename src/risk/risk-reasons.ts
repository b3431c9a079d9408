/** Failure reasons of the orchestration's limits (event `reason`; decline categories in errors/bridge-declines.ts). */

/** The risk rules declined the payment; never sent. */
export const RISK_DECLINED = 'RISK_DECLINED';
/** Held for review and not released before the deadline: voided, never sent. */
export const RISK_REVIEW_EXPIRED = 'RISK_REVIEW_EXPIRED';
