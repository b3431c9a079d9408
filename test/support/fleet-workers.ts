import { Config } from '../../src/config/config';
import { Payment } from '../../src/contracts/payment-command';
import { Logger } from '../../src/logging/logger';
import { DeliveryStack, DeliveryStacks } from './delivery-stack';
import { channelCommand } from './fixtures';

/**
 * Workers of one fleet for the tests that race them on one operation: each worker a delivery stack of the file's
 * `useDeliveryStacks()`, with circuit breakers of its own (in its process, as a real worker's are).
 */

/** A worker for `config`, logging to `logger` (silent unless given). */
export function startWorker(stacks: DeliveryStacks, config: Config, logger?: Logger): DeliveryStack {
  return stacks.build(config, { logger });
}

/**
 * `count` workers of one fleet (one key prefix): the first on `config()` (a namespace of its own), logging to `logger`
 * (silent unless given); each other one on `config(<the first's key prefix>)`, silent.
 */
export function startWorkers(stacks: DeliveryStacks, count: number, config: (prefix?: string) => Config, logger?: Logger): DeliveryStack[] {
  const first = startWorker(stacks, config(), logger);
  return [first, ...Array.from({ length: count - 1 }, () => startWorker(stacks, config(first.config.redis.keyPrefix)))];
}

/** Opens `gateway`'s circuit breaker in this worker only: as many failures as its configured threshold. */
export function openBreaker(stack: DeliveryStack, gateway: string): void {
  const breaker = stack.service.breaker(gateway);
  for (let i = 0; i < stack.config.delivery.breakerFailureThreshold; i++) breaker.failure();
}

/**
 * An authorization created in the worker's ledger and not sent: USD 10.00 with `pm_card_visa` at gateway `sima`
 * unless `payment` says otherwise. Its operation id.
 */
export async function createdAuthorization(stack: DeliveryStack, payment: Partial<Payment> = {}): Promise<string> {
  const command = channelCommand('authorize', {}, { gateway: 'sima', gateway_key: 'pm_card_visa', currency: 'USD', amount: 1000, ...payment });
  const id = command.payment.operation_reference!;
  await stack.ledger.create(id, command);
  return id;
}
