/** Each event's params serialised once: recorded in the outbox, then (the same text) sent to the bus. */
const encoded = new WeakMap<object, string>();

/**
 * `JSON.stringify(params)`, computed once per params object. An event's params are not changed after the
 * event is built (`outcomeEvent` and the other builders), so the recording and the notification can share it.
 */
export function paramsJson(params: Record<string, unknown>): string {
  let json = encoded.get(params);
  if (json === undefined) {
    json = JSON.stringify(params);
    encoded.set(params, json);
  }
  return json;
}
