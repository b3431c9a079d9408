import http from 'node:http';

/**
 * Reads one metric from a Prometheus `/metrics` endpoint (`host:port`): the sum of every sample named
 * exactly `name` (all label sets). `null` when the endpoint does not answer within `timeoutMs` (default
 * 5 000 ms) or has no such metric (a build without it).
 */
export async function scrapeMetric(target: string, name: string, timeoutMs = 5000): Promise<number | null> {
  const text = await metricsText(target, timeoutMs);
  if (text === null) return null;
  let found = false;
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) {
      found = true;
      sum += value;
    }
  }
  return found ? sum : null;
}

/**
 * Reads one metric's samples by the value of one label (`name{label="value",…} n`), summed over its other
 * labels; an empty map when the endpoint does not answer or has no such metric.
 */
export async function scrapeMetricByLabel(target: string, name: string, label: string, timeoutMs = 5000): Promise<Map<string, number>> {
  const values = new Map<string, number>();
  const text = await metricsText(target, timeoutMs);
  if (text === null) return values;
  const pattern = new RegExp(`[{,]${label}="([^"]*)"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const match = pattern.exec(line);
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (match && Number.isFinite(value)) values.set(match[1], (values.get(match[1]) ?? 0) + value);
  }
  return values;
}

function metricsText(target: string, timeoutMs: number): Promise<string | null> {
  return new Promise<string | null>((resolve) => {
    const req = http.get(`http://${target}/metrics`, { timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve(res.statusCode === 200 ? body : null));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
  });
}
