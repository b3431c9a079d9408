import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { GatewayError } from '../../../src/errors/gateway-error';
import { adyenReportGateway } from '../../support/adyen-report-gateway';
import { adyenGateway } from '../../../src/gateways/adyen/adyen-gateway';
import { createReconciliationHttp } from '../../../src/reconciliation-run/reconciliation-http';

// A report host that answers an error status and then sends its body slowly, or not at all: the read of
// that body must be bounded like every other read of a report download.
let server: Server;
let base: string;
const open = new Set<ServerResponse>();

function handle(req: IncomingMessage, res: ServerResponse): void {
  open.add(res);
  if (req.url?.includes('/pan-at-cut/')) {
    // An error body echoing a card number across the error message's 200-character cut.
    res.writeHead(400, { 'content-type': 'text/plain' });
    res.end(`${'x'.repeat(190)} 4111111111111111 rest of the body`);
    return;
  }
  res.on('close', () => open.delete(res));
  // Headers and a first chunk, then nothing: the connection stays open.
  res.writeHead(503, { 'content-type': 'text/plain', 'content-length': '1000' });
  res.write('Service Unavailable');
}

const gateway = adyenReportGateway();

beforeAll(async () => {
  server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const res of open) res.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('reconciliation report download deadline', () => {
  it('ends with a classified GatewayError when an error answer stalls in its body', async () => {
    const http = createReconciliationHttp(gateway, adyenGateway.transformer, { proxy: { host: '', port: 0 }, timeoutMs: 300 });
    const started = Date.now();
    const read = (async () => {
      for await (const line of http.lines({ path: `${base}/reports/download/MerchantAccount/Acme/settlement_detail_report_batch_1.csv` })) void line;
    })();
    // Without a bound the read never ends: the race names that outcome instead of the test timing out.
    const outcome = await Promise.race([
      read.then(
        () => 'resolved',
        (err: unknown) => err,
      ),
      new Promise((resolve) => setTimeout(() => resolve('still waiting'), 3000).unref()),
    ]);
    http.close();
    expect(outcome).toBeInstanceOf(GatewayError);
    expect((outcome as GatewayError).details.httpStatus).toBe(503);
    expect(Date.now() - started).toBeLessThan(2500);
  });

  it('masks a card number in an error body before cutting it to the message, not after', async () => {
    const http = createReconciliationHttp(gateway, adyenGateway.transformer, { proxy: { host: '', port: 0 }, timeoutMs: 2000 });
    let caught: unknown;
    try {
      for await (const line of http.lines({ path: `${base}/pan-at-cut/report.csv` })) void line;
    } catch (err) {
      caught = err;
    }
    http.close();
    expect(caught).toBeInstanceOf(GatewayError);
    const message = (caught as GatewayError).message;
    expect(message).toContain('HTTP 400');
    // Cut first, the card number's first nine digits would pass the masker (too short to be a card number).
    expect(message).not.toMatch(/4111111/);
  });
});
