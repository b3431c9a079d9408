import { Notification } from '../bus-twin/bus-twin';
import { PspSimulatorOptions } from '../psp-simulator/psp-simulator';
import { SimulatorFaults } from '../psp-simulator/simulator-faults';

/** Parent → child: what to run (first message; secrets travel over IPC, never on the command line). */
export type StartMessage =
  { type: 'start'; twin: 'bus'; clientId: string; clientSecret: string } | { type: 'start'; twin: 'simulator'; options: PspSimulatorOptions };

/** Parent → child: steer the simulator; answered by an `ack` of the same `seq`. */
export interface SetFaultsMessage {
  type: 'setFaults';
  seq: number;
  faults: SimulatorFaults;
}

/** Child → parent messages. */
export type ChildMessage =
  | { type: 'ready'; url: string }
  | { type: 'failed'; error: string }
  | { type: 'ack'; seq: number }
  /** The bus twin's notifications since the last batch, in arrival order (compact: see `terminalSummary`). */
  | { type: 'notifications'; list: Notification[] };

/** How often the bus twin's child forwards what arrived, ms: arrival times are stamped in the child, so this delays the tracker only. */
export const NOTIFICATION_BATCH_MS = 10;
