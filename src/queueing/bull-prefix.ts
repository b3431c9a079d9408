/** BullMQ key prefix for a bridge key prefix: `pb:` → `pb:bull`. Every queue and worker of ours uses it. */
export function bullPrefix(keyPrefix: string): string {
  return `${keyPrefix}bull`;
}
