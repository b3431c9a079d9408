/**
 * BullMQ job id of an operation or event id. BullMQ refuses `:` in custom ids, which operation references
 * may contain; `~` is outside the reference alphabet, so the mapping stays one-to-one and the operation id
 * is still, in substance, the job id.
 */
export function bullJobId(id: string): string {
  return id.includes(':') ? id.replace(/:/g, '~') : id;
}
