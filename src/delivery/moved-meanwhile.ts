import type { OperationState } from '../ledger/operation-state';
import type { Logger } from '../logging/logger';

/** The record a move was decided on: its id, and the state and attempt count the move applies only at. */
export interface ReadRecord {
  readonly id: string;
  readonly state: OperationState;
  readonly attempts: number;
}

/**
 * Says at info that a move decided on the record as read (`read`) was not recorded because the operation moved
 * meanwhile (a PSP fact such as a webhook's, another worker's move), so it stands as that move left it: `what` names
 * what was not recorded ("give-up", "outcome unknown"…), `state` the state found (`null`: the record is gone, logged
 * `missing`), `fields` what else tells this line apart (command, cause, gateway…). One wording for every such line, so
 * an operator finds them all by one phrase ("moved meanwhile").
 */
export function logMovedMeanwhile(
  logger: Pick<Logger, 'info'>,
  what: string,
  read: ReadRecord,
  state: OperationState | null,
  fields: Readonly<Record<string, unknown>> = {},
): void {
  logger.info(`${what} not recorded: the operation moved meanwhile (a PSP fact, another worker); it stands as that move left it`, {
    operation_id: read.id,
    ...fields,
    read_state: read.state,
    read_attempts: read.attempts,
    state: state ?? 'missing',
  });
}
