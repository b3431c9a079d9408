import { metricValue } from '../../../src/metrics/metrics-registry';
import { reportVaults } from '../../../src/orchestration/orchestration-metrics';
import { buildOrchestrationPipeline } from '../../../src/orchestration/orchestration-stages';
import { captureLogger } from '../../support/capture-logger';
import { testConfig } from '../../support/test-config';

const HOOK = 'whsec_vaultReportTest0123456789abc';
const SECRET_KEY = 'sk_test_vault_report_0123456789';

describe('reportVaults: the start-up line and pb_gateway_vault_info', () => {
  test('names every vault with its entries, never a key value', async () => {
    const config = testConfig({
      gateways: {
        stripe: { type: 'stripe', base_url: 'http://127.0.0.1:9', api_key: SECRET_KEY, webhook_secret: HOOK, vault: 'acme' },
        stripe_rk: { type: 'stripe', base_url: 'http://127.0.0.1:9', api_key: 'rk_test_vault_report_0123456789', webhook_secret: HOOK, vault: 'acme' },
        other: { type: 'stripe', base_url: 'http://127.0.0.1:9', api_key: 'sk_test_vault_report_other_0123456789', webhook_secret: HOOK },
      },
    });
    const { logger, lines } = captureLogger('info');
    reportVaults(logger, buildOrchestrationPipeline({ config }).binding?.groups ?? []);
    const line = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => String(l.message).startsWith('method data vaults'));
    expect(line).toMatchObject({
      level: 'info',
      vaults: [
        { vault: 'acme', source: 'declared', type: 'stripe', gateways: ['stripe', 'stripe_rk'] },
        { vault: 'other', source: 'configuration', type: 'stripe', gateways: ['other'] },
      ],
    });
    expect(lines.join('\n')).not.toContain('_test_vault_report');
    expect(await metricValue('pb_gateway_vault_info', { gateway: 'stripe_rk', vault: 'acme', source: 'declared' })).toBe(1);
    expect(await metricValue('pb_gateway_vault_info', { gateway: 'other', vault: 'other', source: 'configuration' })).toBe(1);
  });
});
