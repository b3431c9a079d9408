import http from 'node:http';

/**
 * PSP time as the bridge sees it, measured from outside: the simulator exposes no per-request timing, so
 * this sends direct `POST /v1/authorizations` calls (always-approved method, own idempotency key each) to
 * the same simulator at `ratePerS` (default 500/s) for `durationS` seconds (default 5) over a keep-alive
 * agent, and returns each round trip in ms (`process.hrtime`). Its median is the "PSP time" subtracted from
 * the end-to-end latency to get the bridge's added latency. A round trip includes loopback HTTP and JSON
 * on both sides, which the bridge's gateway client also pays, so the subtraction is fair.
 */
export async function pspRoundTrips(options: {
  baseUrl: string;
  apiKey: string;
  referencePrefix: string;
  ratePerS?: number;
  durationS?: number;
}): Promise<number[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const url = new URL('/v1/authorizations', options.baseUrl);
  const rate = options.ratePerS ?? 500;
  const total = Math.round(rate * (options.durationS ?? 5));
  const results: number[] = [];
  const calls: Promise<void>[] = [];
  const one = (i: number) =>
    new Promise<void>((resolve, reject) => {
      const body = JSON.stringify({ amount: 1000, currency: 'EUR', payment_method: 'pm_card_visa', reference: `${options.referencePrefix}-${i}` });
      const t0 = process.hrtime.bigint();
      const req = http.request(
        url,
        {
          method: 'POST',
          agent,
          headers: {
            authorization: `Bearer ${options.apiKey}`,
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            'idempotency-key': `${options.referencePrefix}-${i}`,
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode === 201) results.push(Number(process.hrtime.bigint() - t0) / 1e6);
            resolve();
          });
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  const started = performance.now();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * rate) + 1);
    for (; sent < due; sent += 1) calls.push(one(sent));
    await new Promise((r) => setTimeout(r, 5));
  }
  await Promise.all(calls);
  agent.destroy();
  return results;
}
