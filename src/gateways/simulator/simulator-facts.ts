import { FactRow, RESPONSE_OR_INQUIRY } from '../gateway-facts';
import { SIMULATOR_DECLINES } from './simulator-declines';
import { SIMULATOR_STATUSES, simulatorStatusMeaning } from './simulator-status-map';

/** The simulator's fact table (docs/gateways/simulator.md), read from its status map and decline table. */
export function simulatorFacts(): FactRow[] {
  const rows: FactRow[] = [];
  for (const status of SIMULATOR_STATUSES) {
    rows.push({ fact: `status \`${status}\``, source: `${RESPONSE_OR_INQUIRY}, webhook`, commands: [], meaning: simulatorStatusMeaning(status) });
  }
  // simulator-responses.ts: a validate of a cancelled authorization holds no funds.
  rows.push({ fact: 'status `cancelled` answering a validate', source: RESPONSE_OR_INQUIRY, commands: ['validate'], meaning: 'FAIL' });
  const refusals = Object.keys(SIMULATOR_DECLINES.rules).filter(
    (c) => c.startsWith('amount_') || c.startsWith('authorization_') || c === 'invalid_payment_method',
  );
  for (const code of refusals) rows.push({ fact: `422 \`${code}\``, source: RESPONSE_OR_INQUIRY, commands: [], meaning: 'FAIL' });
  return rows;
}
