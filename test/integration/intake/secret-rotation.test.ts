import axios from 'axios';
import { signBody } from '../../../src/bus/x-signature';
import { Config } from '../../../src/config/config';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { WebProcess, startWebProcess } from '../../../src/processes/web-process';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { SIMULATOR_SIGNATURE_HEADER, signSimulatorPayload } from '../../../harness/twins/psp-simulator/simulator-signature';
import { amqpClient } from '../../support/amqp-helpers';
import { captureLogger } from '../../support/capture-logger';
import { busCall, payment } from '../../support/fixtures';
import { eventually } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';

const CAPTURE = 'magento.payments.payments_management.capture';
const BUS_NEW = 'bus-secret-after-rotation-0123456789';
const BUS_OLD = 'bus-secret-before-rotation-0123456789';
const HOOK_NEW = 'whsec-sim-after-rotation-0123456789';
const HOOK_OLD = 'whsec-sim-before-rotation-0123456789';

describe('secret rotation: current and previous secret both accepted, the metric says which', () => {
  let config: Config;
  let web: WebProcess;
  let client: Awaited<ReturnType<typeof amqpClient>>;
  const logs = captureLogger();

  beforeAll(async () => {
    config = testConfig({
      'service_bus.secret': BUS_NEW,
      'service_bus.secret_previous': BUS_OLD,
      gateways: {
        simulator: {
          type: 'simulator',
          base_url: 'http://127.0.0.1:1',
          api_key: 'sim-key-unused-0123456789',
          webhook_secret: HOOK_NEW,
          webhook_secret_previous: HOOK_OLD,
        },
      },
    });
    client = await amqpClient(config);
    web = await startWebProcess(config, logs.logger, { webhooks: createGatewayClients(config) });
    await eventually(async () => (await axios.get(`${web.server.url}/readyz`, { validateStatus: () => true })).status === 200);
  });

  afterAll(async () => {
    await web.stop();
    await client.deleteNamespace();
    await client.close();
    await purgeNamespace(config).catch(() => undefined);
  });

  const postCommand = (secret: string, algorithm: 'sha1' | 'sha256' = 'sha1') => {
    const raw = JSON.stringify(busCall(CAPTURE, payment()));
    return axios.post(web.intakeUrl, raw, {
      headers: { 'content-type': 'application/json', 'x-signature': signBody(raw, secret, algorithm) },
      validateStatus: () => true,
      transformRequest: [(d: unknown) => d],
    });
  };

  const intakeKey = (key: string) => metricValue('pb_signatures_verified_total', { surface: 'intake', gateway: '', key });

  it('the intake accepts X-Signature under service_bus.secret and under service_bus.secret_previous, counting each by key', async () => {
    const current = await intakeKey('current');
    const previous = await intakeKey('previous');
    expect((await postCommand(BUS_NEW)).data).toMatchObject({ result: {} });
    expect((await postCommand(BUS_OLD)).data).toMatchObject({ result: {} });
    expect((await postCommand(BUS_OLD, 'sha256')).data).toMatchObject({ result: {} });
    expect((await postCommand('some-other-secret-0123456789')).status).toBe(401);
    expect(await intakeKey('current')).toBe(current + 1);
    expect(await intakeKey('previous')).toBe(previous + 2);
  });

  it('says in the log, once per window, that the previous bus secret is still in use, naming its key and never its value', async () => {
    const lines = logs.lines.filter((l) => l.includes('signed with the previous secret') && l.includes('"surface":"intake"'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('service_bus.secret_previous');
    expect(logs.lines.join('\n')).not.toContain(BUS_OLD);
  });

  it("a gateway's webhook endpoint accepts webhook_secret and webhook_secret_previous, counting each by key", async () => {
    const post = (secret: string, id: string) => {
      const body = JSON.stringify({
        id,
        type: 'authorization.succeeded',
        created: Math.floor(Date.now() / 1000),
        data: {
          object: {
            id: `auth_${id}`,
            object: 'authorization',
            status: 'authorized',
            amount: 1999,
            amount_captured: 0,
            amount_refunded: 0,
            currency: 'EUR',
            reference: `ref_${id}`,
          },
        },
      });
      return fetch(`${web.server.url}/webhooks/simulator`, {
        method: 'POST',
        body,
        headers: {
          'content-type': 'application/json',
          [SIMULATOR_SIGNATURE_HEADER.toLowerCase()]: signSimulatorPayload(secret, body, Math.floor(Date.now() / 1000)),
        },
      });
    };
    const key = (k: string) => metricValue('pb_signatures_verified_total', { surface: 'webhook', gateway: 'simulator', key: k });
    const [current, previous] = [await key('current'), await key('previous')];
    expect((await post(HOOK_NEW, 'evt_rot_a')).status).toBe(200);
    expect((await post(HOOK_OLD, 'evt_rot_b')).status).toBe(200);
    expect((await post('whsec-sim-unrelated-0123456789', 'evt_rot_c')).status).toBe(401);
    expect(await key('current')).toBe(current + 1);
    expect(await key('previous')).toBe(previous + 1);
    const lines = logs.lines.filter((l) => l.includes('signed with the previous secret') && l.includes('"gateway":"simulator"'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('gateways.simulator.webhook_secret_previous');
  });
});
