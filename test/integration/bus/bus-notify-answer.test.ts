import http from 'node:http';
import { AddressInfo } from 'node:net';
import { BusClient } from '../../../src/bus/bus-client';
import { BusRpcError } from '../../../src/bus/bus-errors';
import { testConfig } from '../../support/test-config';

jest.setTimeout(60000);

/** What `notify` makes of the body of a 2xx answer: only a JSON-RPC error in it is a refusal. */
describe('BusClient.notify reading a 2xx answer', () => {
  let server: http.Server;
  let answer = '';
  let client: BusClient;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(answer));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const config = testConfig({ 'service_bus.url': `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
    client = new BusClient(config, { getToken: () => Promise.resolve('token-1'), invalidate: () => undefined });
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it.each([
    ['an empty body', ''],
    ['a JSON-RPC result', '{"jsonrpc":"2.0","result":true,"id":null}'],
    ['text that is not JSON', 'accepted'],
  ])('takes %s as accepted', async (_name, body) => {
    answer = body;
    await expect(client.notify('magento.payment.captured', { n: 1 })).resolves.toBeUndefined();
  });

  it.each([
    ['plain', '{"jsonrpc":"2.0","error":{"code":-32001,"message":"order locked"},"id":null}'],
    ['with its member name \\u-escaped', '{"jsonrpc":"2.0","\\u0065rror":{"code":-32001,"message":"order locked"},"id":null}'],
  ])('refuses a 2xx answer carrying a JSON-RPC error (%s) as BusRpcError', async (_name, body) => {
    answer = body;
    const err = await client.notify('magento.payment.captured', { n: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BusRpcError);
    expect((err as BusRpcError).message).toContain('order locked');
  });
});
