import { Ledger, doneAtPsp } from '../ledger/ledger';
import { CLOSING_COMMANDS } from '../lifecycle/authorization-validity';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';

const closingsFinished = counter(
  'pb_authorization_closings_finished_total',
  "Authorizations found open although a capture, cancel or revalidate of them had succeeded (a crash between that move and the closing in the authorization's shard), closed by a lifecycle sweep, by sweep",
  ['sweep'],
);

/**
 * Finishes the closing a crash left unwritten. A capture, cancel or revalidate closes its authorization in
 * its own outcome script when both live in one shard; when the authorization lives in another, the closing
 * is a second write, and a worker killed between the two leaves a captured (or cancelled) authorization open.
 * A sweep that would act on an open authorization (warn the OMS it expires, void it as an orphan) asks here
 * first: when one of its registered dependents of a closing command succeeded, the authorization is closed
 * now for it (idempotent), counted (`pb_authorization_closings_finished_total{sweep}`) and logged; the sweep
 * then leaves it alone. A capture or cancel recorded FAILED that the PSP did after all (`succeededAfterFailure`, closed by the
 * adjustment recorder after it: a crash between the two) closes it the same. Captures, cancels and revalidates
 * register on the authorization at their first delivery, by our id or by PSP reference (`resolveOperationContext`);
 * one sent before they did is not found.
 * @returns the closing dependent's id, or null when none succeeded (the authorization is really open).
 */
export async function finishUnwrittenClosing(
  deps: { ledger: Pick<Ledger, 'dependentsOf' | 'closeAuthorization'>; logger: Logger },
  authId: string,
  sweep: 'expiry' | 'orphan_reversal',
): Promise<string | null> {
  const closer = (await deps.ledger.dependentsOf(authId)).find((d) => CLOSING_COMMANDS.has(d.command) && doneAtPsp(d));
  if (!closer) return null;
  await deps.ledger.closeAuthorization(authId, closer.id);
  closingsFinished.inc({ sweep });
  deps.logger.warn('authorization closed by a command whose closing had not been written (a crash between the two); closed it now', {
    operation_id: authId,
    closed_by: closer.id,
    command: closer.command,
    sweep,
  });
  return closer.id;
}
