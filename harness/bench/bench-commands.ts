import { PaymentCommand } from '../../src/contracts/payment-command';

/**
 * Canonical `authorize` commands for the benchmark: one per index, each with its own order id and
 * operation reference (so the terminal notification `<reference>.SUCCEEDED` names it), 10.00 EUR in minor
 * units, the simulator's always-approved test method (a payment-method id, never a card number).
 *
 * @param runId prefix of every reference of this run (the namespace), so runs never share an id.
 * @param phase a short label ("sat", "paced", "b10k"…) so each phase's references are distinct.
 * @param index the command's number inside its phase.
 */
export function authorizeCommand(runId: string, phase: string, index: number): PaymentCommand {
  return {
    version: 1,
    command: 'authorize',
    channel: 'web',
    received_at: new Date().toISOString(),
    payment: {
      gateway: 'simulator',
      gateway_account: 'acme-eu',
      gateway_key: 'pm_card_visa',
      amount: 1000,
      currency: 'EUR',
      order_id: `ORD-${runId}-${phase}-${index}`,
      operation_reference: `${runId}-${phase}-${index}`,
    },
  };
}

/** The operation reference of `authorizeCommand(runId, phase, index)`. */
export function benchReference(runId: string, phase: string, index: number): string {
  return `${runId}-${phase}-${index}`;
}
