/**
 * BullMQ job id of an operation or event id. BullMQ refuses `:` in custom ids, and ids that read as an
 * integer ("Custom Id cannot be integers"): a digits-only operation reference would make every add of its
 * job throw (the consumer's enqueue, and the recovery sweep, whose batch then fails for every operation).
 * `:` becomes `~` (ids recorded before references lost `:`), a digits-only id gets a `#` prefix; neither
 * `~` nor `#` is in the reference alphabet, so the mapping stays one-to-one and the operation id is still,
 * in substance, the job id.
 */
export function bullJobId(id: string): string {
  if (id.includes(':')) return id.replace(/:/g, '~');
  return /^[0-9]+$/.test(id) ? `#${id}` : id;
}
