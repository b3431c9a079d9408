import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { RedisClient } from '../../../src/redis/redis-connection';
import { Config } from '../../../src/config/config';
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { Ledger, OperationRecord } from '../../../src/ledger/ledger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { createRedis } from '../../../src/redis/redis-connection';
import { reconcile } from '../../../src/reconciliation-run/reconcile';
import { LineVerdict } from '../../../src/reconciliation/reconciliation-class';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';

/**
 * Adyen's Settlement details report lists the payments "settled, i.e. paid to you by Adyen" (captures, refunds,
 * chargebacks, fees, payouts: https://docs.adyen.com/reporting/settlement-detail-report, "Settlement detail report
 * structure", column Type): an authorization or a cancellation never has a line there. Their SUCCEEDED operations
 * are not `missing_at_psp`; a capture the report does not list still is.
 */

const REPORT_USER = 'report@Company.AcmeCompany';
const REPORT_PASSWORD = 'report-user-password-unlisted-0123';
const HEADER =
  'Company Account,Merchant Account,Psp Reference,Merchant Reference,Payment Method,Creation Date,TimeZone,Type,Modification Reference,Gross Currency,Gross Debit (GC),Gross Credit (GC),Exchange Rate,Net Currency,Net Debit (NC),Net Credit (NC),Commission (NC),Markup (NC),Scheme Fees (NC),Interchange (NC),Payment Method Variant,Modification Merchant Reference,Batch Number';

let reports: Server;
let report: string[] = [];
let config: Config;
let redis: RedisClient;
let ledger: Ledger;

beforeAll(async () => {
  reports = createServer((req, res) => {
    const basic = `Basic ${Buffer.from(`${REPORT_USER}:${REPORT_PASSWORD}`).toString('base64')}`;
    if (req.headers.authorization !== basic) return void res.writeHead(401).end();
    if (!req.url?.endsWith('/settlement_detail_report_batch_1.csv')) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'text/csv' }).end(report.map((l) => `${l}\r\n`).join(''));
  });
  await new Promise<void>((resolve) => reports.listen(0, '127.0.0.1', resolve));
  config = testConfig({
    gateways: {
      adyen: {
        type: 'adyen',
        base_url: 'http://127.0.0.1:1/v71',
        api_key: 'adyen-recon-unlisted-key-0123456789',
        merchant_account: 'AcmeEU',
        report_username: REPORT_USER,
        report_password: REPORT_PASSWORD,
        report_base_url: `http://127.0.0.1:${(reports.address() as AddressInfo).port}`,
        timeout_ms: 5000,
      },
    },
  });
  redis = createRedis(config.redis, 'commands');
  ledger = new Ledger(redis, config.redis.keyPrefix);
});

afterAll(async () => {
  await new Promise<void>((resolve) => reports.close(() => resolve()));
  redis.disconnect();
  await purgeNamespace(config).catch(() => undefined);
});

/** An operation of the Adyen gateway the ledger holds SUCCEEDED, with Adyen's reference. */
async function succeeded(command: PaymentCommand, gatewayReference: string): Promise<OperationRecord> {
  const id = command.payment.operation_reference!;
  await ledger.create(id, command);
  await ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
  await ledger.transition(id, 'SUCCEEDED', { event: 'response' }, { gatewayReference });
  return (await ledger.get(id))!;
}

const stamp = (ms: number) => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');

describe('an Adyen window with authorizations and cancellations, which its Settlement details report never lists', () => {
  it('reports only the capture the report does not list as missing_at_psp; the authorizations and the cancellation are counted, not reported', async () => {
    const from = Date.now() - 1;
    const adyen = { gateway: 'adyen', amount: 1000, currency: 'EUR' };
    const auth = await succeeded(channelCommand('authorize', {}, adyen), '8515131751004933');
    const capture = await succeeded(
      channelCommand('capture', {}, { ...adyen, gateway_key: '8515131751004933', order_id: auth.payment.order_id }),
      '8825131751004951',
    );
    const voided = await succeeded(channelCommand('authorize', {}, adyen), '8515131751005000');
    const cancel = await succeeded(
      channelCommand('cancel', {}, { ...adyen, gateway_key: '8515131751005000', order_id: voided.payment.order_id }),
      '8825131751005001',
    );
    const unsettled = await succeeded(
      channelCommand('capture', {}, { ...adyen, gateway_key: '8515131751005000', order_id: voided.payment.order_id }),
      '8825131751005002',
    );
    const window = { from, to: Date.now() + 1000 };
    report = [
      HEADER,
      `AcmeCompany,AcmeEU,8515131751004933,${auth.id},visa,${stamp(from + 1000)},UTC,Settled,8825131751004951,EUR,,10.00,1,EUR,,9.70,,0.10,0.05,0.15,visacredit,${capture.id},1`,
    ];
    const before = {
      authorize: await metricValue('pb_reconciliation_unlisted_operations_total', { gateway: 'adyen', command: 'authorize' }),
      cancel: await metricValue('pb_reconciliation_unlisted_operations_total', { gateway: 'adyen', command: 'cancel' }),
    };
    const verdicts: LineVerdict[] = [];
    const { logger, lines } = captureLogger('info');
    const { summary } = await reconcile(config, { gateway: 'adyen', window, logger, redis, sink: { verdict: (v) => void verdicts.push(v) } });

    expect(summary).toMatchObject({ result: 'done', lines: 2 });
    expect(summary.classes).toMatchObject({ matched: 1, missing_at_psp: 1 });
    expect(verdicts.filter((v) => v.class === 'missing_at_psp').map((v) => v.ledger?.operationId)).toEqual([unsettled.id]);
    expect(verdicts.find((v) => v.class === 'matched')?.ledger?.operationId).toBe(capture.id);
    expect(await metricValue('pb_reconciliation_unlisted_operations_total', { gateway: 'adyen', command: 'authorize' })).toBe(before.authorize + 2);
    expect(await metricValue('pb_reconciliation_unlisted_operations_total', { gateway: 'adyen', command: 'cancel' })).toBe(before.cancel + 1);
    expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>)).toContainEqual(
      expect.objectContaining({
        message: "reconciliation operations the PSP's records never list, not missing at the PSP",
        unlisted: { authorize: 2, cancel: 1 },
      }),
    );
    expect(cancel.state).toBe('SUCCEEDED');
  });
});
