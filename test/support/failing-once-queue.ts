import { Queue } from 'bullmq';
import { DeliveryJobData } from '../../src/delivery/delivery-queue';

/**
 * The delivery queue as orphan reversal uses it, whose first `add` fails as Redis does when it cannot write
 * (`READONLY …`, a replica after a failover) and whose later adds reach `queue`; `added` lists the operation ids of
 * the adds that succeeded, oldest first. A view of `queue` (same connection, namespace and jobs): it registers no
 * hook and needs no closing of its own.
 */
export function failingOnce(queue: Queue<DeliveryJobData>): { queue: Queue<DeliveryJobData>; added: string[] } {
  const added: string[] = [];
  let calls = 0;
  const failing = Object.create(queue) as Queue<DeliveryJobData>;
  failing.add = async (name, data, opts) => {
    calls += 1;
    if (calls === 1) throw new Error('READONLY You can not write against a read only replica.');
    const job = await queue.add(name, data, opts);
    added.push(data.operationId);
    return job;
  };
  return { queue: failing, added };
}
