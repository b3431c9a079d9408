import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildConfig, loadConfig, resolveEnvReferences } from '../../../src/config/load-config';
import { ConfigError } from '../../../src/errors/config-error';
import { AUTHORIZATION_WAIT_MAX_MS, VOID_WAIT_MAX_MS } from '../../../src/delivery/dependent-wait';
import { minimalParameters } from '../../support/minimal-parameters';

/** Runs `fn`, expects a ConfigError, returns it. */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('the fixed waits of customer actions (authentication.*_timeout_ms)', () => {
  it('defaults a bank transfer to 14 days, a voucher to 7, a QR code to 1, and 3-D Secure to 15 minutes', () => {
    expect(buildConfig(minimalParameters(), {}).authentication).toMatchObject({
      actionTimeoutMs: 900000,
      qrCodeTimeoutMs: 86400000,
      voucherTimeoutMs: 604800000,
      bankTransferTimeoutMs: 1209600000,
    });
  });

  it('refuses at start a wait longer than authentication.max_action_wait_ms, naming the wait', () => {
    const err = configError(() =>
      buildConfig({ ...minimalParameters(), 'authentication.max_action_wait_ms': 864000000, 'authentication.bank_transfer_timeout_ms': 1209600000 }, {}),
    );
    expect(err.key).toBe('authentication.bank_transfer_timeout_ms');
    expect(err.message).toContain('must not exceed authentication.max_action_wait_ms');
  });
});

describe('buildConfig', () => {
  it('applies every default to a minimal valid map', () => {
    const config = buildConfig(minimalParameters(), {});
    expect(config.serviceBus).toEqual({
      url: 'https://bus.example.com',
      rpcPath: '/',
      endpointName: 'payment-bridge',
      secret: '0123456789abcdef',
      secretPrevious: '',
      secretNext: '',
      publicUrl: 'https://payments.example.com/bus',
      delegatePath: '/delegate/oms',
      subscribes: [],
      amountUnits: 'minor',
      // docs/EVENTS.md: the refund PENDINGRELEASE pre-notice is sent unless turned off.
      refundPendingNotice: true,
      timeoutMs: 10000,
      connectTimeoutMs: 2000,
      methods: {
        register: 'magento.service_bus.remote.register',
        unregister: 'magento.service_bus.remote.unregister',
        commands: {
          validate: 'magento.payments.payments_management.validate',
          revalidate: 'magento.payments.payments_management.revalidate',
          capture: 'magento.payments.payments_management.capture',
          cancel: 'magento.payments.payments_management.cancel',
          refund: 'magento.payments.payments_management.refund',
          balance_inquiry: 'magento.payments.payments_management.balance_inquiry',
          reload: 'magento.payments.payments_management.reload',
          issue: 'magento.payments.payments_management.issue',
          activate: 'magento.payments.payments_management.activate',
          deactivate: 'magento.payments.payments_management.deactivate',
          merge_balance: 'magento.payments.payments_management.merge_balance',
        },
        notifications: {
          validated: 'magento.payments.payments_management.validated',
          revalidated: 'magento.payments.payments_management.revalidated',
          captured: 'magento.payments.payments_management.captured',
          cancelled: 'magento.payments.payments_management.cancelled',
          refunded: 'magento.payments.payments_management.refunded',
          authorized: 'magento.payments.payments_management.authorized',
          sold: 'magento.payments.payments_management.sold',
          tokenized: 'magento.payments.payments_management.tokenized',
          refund_updated: 'magento.postsales.refund_management.updated',
          authorization_expiring: 'magento.payments.payments_management.authorization_expiring',
          adjusted: 'magento.payments.payments_management.adjusted',
          balance_reported: 'magento.payments.payments_management.balance_reported',
          reloaded: 'magento.payments.payments_management.reloaded',
          issued: 'magento.payments.payments_management.issued',
          activated: 'magento.payments.payments_management.activated',
          deactivated: 'magento.payments.payments_management.deactivated',
          balance_merged: 'magento.payments.payments_management.balance_merged',
          recurring_failed: 'magento.payments.payments_management.recurring_failed',
          recurring_cycles_skipped: 'magento.payments.payments_management.recurring_cycles_skipped',
          split_tender_settled: 'magento.payments.payments_management.split_tender_settled',
        },
      },
    });
    expect(config.momClient).toEqual({
      clientId: 'pb',
      clientSecret: 'client-secret',
      oauthServerUrl: 'https://bus.example.com',
      tokenPath: '/oauth/token',
      scope: '',
      clientAuth: 'header',
      refreshMarginS: 60,
    });
    expect(config.amqp).toEqual({
      url: 'amqp://127.0.0.1:5672',
      urls: ['amqp://127.0.0.1:5672'],
      deadLetterStrategy: 'at-most-once',
      commandsExchange: 'payment-bridge.commands',
      commandsQueue: 'worker:payment:command',
      queueType: 'quorum',
      deadLetterExchange: 'payment-bridge.dead-letter',
      deadLetterQueue: 'worker:payment:dead-letter',
      prefetch: 50,
      publishTimeoutMs: 5000,
      reconnectMs: 1000,
      deadLetterArchiveIntervalMs: 10000,
    });
    expect(config.redis).toEqual({ url: 'redis://127.0.0.1:6379', keyPrefix: 'pb:' });
    expect(config.http).toEqual({
      host: '127.0.0.1',
      port: 8080,
      intakePath: '/bus',
      bodyLimitBytes: 262144,
      discardLimitBytes: 4194304,
      discardTimeoutMs: 5000,
    });
    expect(config.proxy).toEqual({ host: '', port: 0 });
    expect(config.delivery).toEqual({
      concurrency: 100,
      backoffBaseMs: 500,
      backoffMaxMs: 60000,
      maxAgeMs: 0,
      breakerFailureThreshold: 20,
      breakerOpenMs: 1000,
      configGraceMs: 1800000,
      retryAfterMaxMs: 300000,
      lateFailureConfirmMs: 30000,
      recaptureFailureWaitMs: 86400000,
      parkedOutcomeTtlMs: 2592000000,
      voidWaitMaxMs: 86400000,
      authorizationWaitMaxMs: 5616000000,
    });
    expect(config.events).toEqual({ concurrency: 50, backoffBaseMs: 250, backoffMaxMs: 30000 });
    expect(config.poller).toEqual({
      scheduleMs: [60000, 300000, 1800000, 7200000, 86400000],
      inProcessIntervalMs: 0,
      unresolvedIntervalMs: 3600000,
      webhookWaitAlertMs: 86400000,
      actionExpiryInquiryMaxMs: 3600000,
    });
    expect(config.registration).toEqual({ attempts: 5, backoffBaseMs: 500 });
    expect(config.authorizations).toEqual({
      validityMs: {},
      expiryWarningMs: 86400000,
      orphanReversal: 'dry_run',
      orphanVoidAfterMs: 345600000,
      orphanVoidAfterMsByAccount: {},
      sweepLimit: 1000,
    });
    expect(config.log).toEqual({ level: 'info' });
    expect(config.gateways).toEqual({});
  });

  it('does not modify the map it is given', () => {
    const params = minimalParameters();
    const before = JSON.stringify(params);
    buildConfig(params, {});
    expect(JSON.stringify(params)).toBe(before);
  });

  it('replaces a whole-value %env(NAME)% reference with the variable', () => {
    const config = buildConfig({ ...minimalParameters(), 'service_bus.secret': '%env(BUS_SECRET)%' }, { BUS_SECRET: 'from-the-environment' });
    expect(config.serviceBus.secret).toBe('from-the-environment');
  });

  it('replaces %env(NAME)% references embedded in a longer string', () => {
    const config = buildConfig(
      { ...minimalParameters(), 'amqp.url': 'amqp://%env(AMQP_USER)%:%env(AMQP_PASS)%@127.0.0.1:5672' },
      { AMQP_USER: 'bridge', AMQP_PASS: 's3cret' },
    );
    expect(config.amqp.url).toBe('amqp://bridge:s3cret@127.0.0.1:5672');
  });

  it('turns %env(int:NAME)% into an integer', () => {
    const config = buildConfig({ ...minimalParameters(), 'http.port': '%env(int:PORT)%' }, { PORT: '9090' });
    expect(config.http.port).toBe(9090);
  });

  it('refuses %env(int:NAME)% whose variable is not an integer, naming the key and the variable', () => {
    const err = configError(() => buildConfig({ ...minimalParameters(), 'http.port': '%env(int:PORT)%' }, { PORT: '80a' }));
    expect(err.key).toBe('http.port');
    expect(err.message).toContain('http.port');
    expect(err.message).toContain('PORT');
  });

  it('refuses a reference to an unset variable, naming both the key and the variable', () => {
    const err = configError(() => buildConfig({ ...minimalParameters(), 'mom_client.client_secret': '%env(MOM_CLIENT_SECRET)%' }, {}));
    expect(err.key).toBe('mom_client.client_secret');
    expect(err.message).toContain('mom_client.client_secret');
    expect(err.message).toContain('MOM_CLIENT_SECRET');
  });

  it('names the nested gateway key of an unset variable', () => {
    const err = configError(() =>
      buildConfig({ ...minimalParameters(), gateways: { stripe: { type: 'stripe', base_url: 'https://api.stripe.com', api_key: '%env(STRIPE_KEY)%' } } }, {}),
    );
    expect(err.key).toBe('gateways.stripe.api_key');
    expect(err.message).toContain('STRIPE_KEY');
  });

  it('refuses an unknown key such as a typo, naming it', () => {
    const err = configError(() => buildConfig({ ...minimalParameters(), 'service_bus.urll': 'https://bus.example.com' }, {}));
    expect(err.message).toContain('service_bus.urll');
    expect(err.all).toContain('service_bus.urll: unknown key (did you mean "service_bus.url"?)');
  });

  it('names the key of a value of the wrong type', () => {
    const err = configError(() => buildConfig({ ...minimalParameters(), 'amqp.prefetch': 'lots' }, {}));
    expect(err.key).toBe('amqp.prefetch');
    expect(err.message).toContain('amqp.prefetch');
  });

  it('names the key of a value out of range', () => {
    const err = configError(() => buildConfig({ ...minimalParameters(), 'service_bus.secret': 'too-short' }, {}));
    expect(err.key).toBe('service_bus.secret');
  });

  it('refuses reconciliation.download_deadline_ms past what a timer holds (Node runs a longer one at once: every download would fail), naming the key', () => {
    const err = configError(() => buildConfig({ ...minimalParameters(), 'reconciliation.download_deadline_ms': 2 ** 31 }, {}));
    expect(err.key).toBe('reconciliation.download_deadline_ms');
    expect(buildConfig({ ...minimalParameters(), 'reconciliation.download_deadline_ms': 2 ** 31 - 1 }, {}).reconciliation.downloadDeadlineMs).toBe(2 ** 31 - 1);
  });

  it.each([0, -1, 1.5, '24h'])('refuses delivery.void_wait_max_ms %p (a positive integer of milliseconds), naming the key', (value) => {
    const err = configError(() => buildConfig({ ...minimalParameters(), 'delivery.void_wait_max_ms': value }, {}));
    expect(err.key).toBe('delivery.void_wait_max_ms');
  });

  it('takes delivery.void_wait_max_ms as given, its default the bound delivery applied before it was configurable', () => {
    expect(buildConfig({ ...minimalParameters(), 'delivery.void_wait_max_ms': 3_600_000 }, {}).delivery.voidWaitMaxMs).toBe(3_600_000);
    expect(buildConfig(minimalParameters(), {}).delivery.voidWaitMaxMs).toBe(VOID_WAIT_MAX_MS);
  });

  it('takes delivery.authorization_wait_max_ms as given, its default outlasting the longest customer action (65 days)', () => {
    expect(buildConfig({ ...minimalParameters(), 'delivery.authorization_wait_max_ms': 6_000_000_000 }, {}).delivery.authorizationWaitMaxMs).toBe(
      6_000_000_000,
    );
    const config = buildConfig(minimalParameters(), {});
    expect(config.delivery.authorizationWaitMaxMs).toBe(AUTHORIZATION_WAIT_MAX_MS);
    expect(config.delivery.authorizationWaitMaxMs).toBeGreaterThan(config.authentication.maxActionWaitMs);
  });

  it("refuses at start delivery.authorization_wait_max_ms shorter than authentication.max_action_wait_ms (a voucher payment's capture refused while its customer may still pay), naming the key", () => {
    const err = configError(() => buildConfig({ ...minimalParameters(), 'delivery.authorization_wait_max_ms': 86_400_000 }, {}));
    expect(err.key).toBe('delivery.authorization_wait_max_ms');
    expect(err.message).toContain('must not be shorter than authentication.max_action_wait_ms');
    // As long as the longest customer action: taken.
    expect(buildConfig({ ...minimalParameters(), 'delivery.authorization_wait_max_ms': 5_356_800_000 }, {}).delivery.authorizationWaitMaxMs).toBe(
      5_356_800_000,
    );
  });

  it('names a missing required key', () => {
    const params = minimalParameters();
    delete params['redis.url'];
    const err = configError(() => buildConfig(params, {}));
    expect(err.key).toBe('redis.url');
    expect(err.message).toContain('redis.url');
    expect(err.problem).toBe('is required');
  });

  it('reports every problem, not only the first', () => {
    const params: Record<string, unknown> = { ...minimalParameters(), 'amqp.prefetch': 0, 'log.level': 'verbose' };
    delete params['amqp.url'];
    const err = configError(() => buildConfig(params, {}));
    expect(err.all).toHaveLength(3);
    expect(err.all.join('\n')).toEqual(expect.stringContaining('amqp.url'));
    expect(err.all.join('\n')).toEqual(expect.stringContaining('amqp.prefetch'));
    expect(err.all.join('\n')).toEqual(expect.stringContaining('log.level'));
  });

  it('returns a deeply frozen configuration', () => {
    const config = buildConfig(
      { ...minimalParameters(), 'service_bus.subscribes': ['a.b'], gateways: { sim: { type: 'simulator', base_url: 'http://127.0.0.1:1' } } },
      {},
    );
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.serviceBus)).toBe(true);
    expect(Object.isFrozen(config.serviceBus.methods.commands)).toBe(true);
    expect(Object.isFrozen(config.serviceBus.subscribes)).toBe(true);
    expect(Object.isFrozen(config.poller.scheduleMs)).toBe(true);
    expect(Object.isFrozen(config.gateways)).toBe(true);
    expect(Object.isFrozen(config.gateways.sim)).toBe(true);
    expect(() => {
      (config.serviceBus as { secret: string }).secret = 'changed';
    }).toThrow(TypeError);
  });

  it('builds each gateway with its defaults and its name, and trims a trailing slash from its URL', () => {
    const config = buildConfig(
      { ...minimalParameters(), gateways: { 'stripe-eu': { type: 'stripe', base_url: 'https://api.stripe.com/', api_key: 'sk_test_x' } } },
      {},
    );
    expect(config.gateways['stripe-eu']).toEqual({
      name: 'stripe-eu',
      type: 'stripe',
      baseUrl: 'https://api.stripe.com',
      apiKey: 'sk_test_x',
      webhookSecret: '',
      webhookSecretPrevious: '',
      merchantAccount: '',
      merchantId: '',
      keyId: '',
      sharedSecret: '',
      reportUsername: '',
      reportPassword: '',
      reportBaseUrl: '',
      authorisationType: '',
      webhookPrivateKey: '',
      webhookKeyId: '',
      webhookKeyIdPrevious: '',
      timeoutMs: 10000,
      maxSockets: 512,
      connectTimeoutMs: 2000,
      warmSockets: 16,
      keepWarmIntervalMs: 30000,
      storePaymentMethods: false,
      payerAuthentication: false,
    });
  });

  it("reads a gateway's declared switch (Cybersource reverse_after_void, default false) and refuses it where no definition declares it", () => {
    const cybersource = {
      type: 'cybersource',
      base_url: 'https://apitest.cybersource.com',
      merchant_id: 'm',
      key_id: 'k',
      shared_secret: 'c2VjcmV0LXNlY3JldC1zZWNyZXQ=',
    };
    const config = buildConfig({ ...minimalParameters(), gateways: { on: { ...cybersource, reverse_after_void: true }, off: cybersource } }, {});
    expect(config.gateways.on.reverseAfterVoid).toBe(true);
    expect(config.gateways.off.reverseAfterVoid).toBe(false);
    const err = configError(() =>
      buildConfig(
        { ...minimalParameters(), gateways: { s: { type: 'stripe', base_url: 'https://api.stripe.com', api_key: 'sk_test_x', reverse_after_void: true } } },
        {},
      ),
    );
    expect(err.key).toBe('gateways.s.reverse_after_void');
    expect(() => buildConfig({ ...minimalParameters(), gateways: { on: { ...cybersource, reverse_after_void: 'yes' } } }, {})).toThrow(/reverse_after_void/);
  });

  it('refuses an unknown gateway key with its path gateways.<name>.<key>', () => {
    const err = configError(() =>
      buildConfig({ ...minimalParameters(), gateways: { adyen: { type: 'adyen', base_url: 'https://x.example.com', hmac: 'k' } } }, {}),
    );
    expect(err.key).toBe('gateways.adyen.hmac');
    expect(err.message).toContain('gateways.adyen.hmac');
  });

  it('refuses an unknown gateway type, naming its path', () => {
    const err = configError(() => buildConfig({ ...minimalParameters(), gateways: { pp: { type: 'paypal', base_url: 'https://x.example.com' } } }, {}));
    expect(err.key).toBe('gateways.pp.type');
  });

  it('refuses a gateway without a base_url, naming its path', () => {
    const err = configError(() => buildConfig({ ...minimalParameters(), gateways: { sim: { type: 'simulator' } } }, {}));
    expect(err.key).toBe('gateways.sim.base_url');
  });

  it('refuses a gateway name that is not lowercase, naming it', () => {
    const err = configError(() => buildConfig({ ...minimalParameters(), gateways: { Stripe: { type: 'stripe', base_url: 'https://x.example.com' } } }, {}));
    expect(err.key).toBe('gateways.Stripe');
    expect(err.message).toContain('gateways.Stripe');
  });
});

describe('resolveEnvReferences', () => {
  it('resolves references inside arrays and nested maps and leaves other values alone', () => {
    expect(resolveEnvReferences({ a: ['%env(X)%', 3], b: { c: 'x-%env(X)%', d: true, e: null } }, { X: 'v' })).toEqual({
      a: ['v', 3],
      b: { c: 'x-v', d: true, e: null },
    });
  });

  it('names the array element of an unset variable', () => {
    const err = configError(() => resolveEnvReferences({ 'service_bus.subscribes': ['ok', '%env(NOPE)%'] }, {}));
    expect(err.key).toBe('service_bus.subscribes[1]');
  });
});

describe('loadConfig', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pb-config-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const write = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  it('loads a YAML file with a parameters: map and resolves its env references', () => {
    const path = write(
      'ok.yml',
      [
        'parameters:',
        "  service_bus.url: 'http://127.0.0.1:9000'",
        "  service_bus.endpoint_name: 'pb'",
        "  service_bus.secret: '%env(BUS_SECRET)%'",
        "  service_bus.public_url: 'http://127.0.0.1:8080/bus'",
        "  mom_client.client_id: 'pb'",
        "  mom_client.client_secret: 'client-secret'",
        "  mom_client.oauth_server_url: 'http://127.0.0.1:9000'",
        "  amqp.url: 'amqp://127.0.0.1'",
        "  redis.url: 'redis://127.0.0.1'",
        "  http.port: '%env(int:PORT)%'",
        '  security.allow_insecure_http: true',
        '  gateways:',
        '    simulator:',
        '      type: simulator',
        "      base_url: 'http://127.0.0.1:8701'",
        '',
      ].join('\n'),
    );
    const config = loadConfig(path, { BUS_SECRET: 'a-bus-secret-of-16+', PORT: '8081' });
    expect(config.serviceBus.secret).toBe('a-bus-secret-of-16+');
    expect(config.http.port).toBe(8081);
    expect(config.gateways.simulator.baseUrl).toBe('http://127.0.0.1:8701');
  });

  it('refuses a file without a top-level parameters: map with a clear message', () => {
    const path = write('flat.yml', "service_bus.url: 'http://127.0.0.1:9000'\n");
    const err = configError(() => loadConfig(path, {}));
    expect(err.key).toBe('parameters');
    expect(err.message).toContain('parameters:');
    expect(err.message).toContain(path);
  });

  it('refuses an empty file with the same message', () => {
    const err = configError(() => loadConfig(write('empty.yml', ''), {}));
    expect(err.message).toContain('parameters:');
  });

  it('refuses invalid YAML without crashing on it', () => {
    const err = configError(() => loadConfig(write('bad.yml', 'parameters:\n  a: [1, 2\n'), {}));
    expect(err.message).toContain('not valid YAML');
  });

  it('names where invalid YAML breaks without quoting it (an inline secret must not reach the message)', () => {
    const secret = 'Xk9#pQ2vLm8sW4tZ';
    const err = configError(() => loadConfig(write('alias.yml', `parameters:\n  service_bus.secret: *${secret}\n`), {}));
    expect(err.message).toContain('not valid YAML');
    expect(configError(() => loadConfig(write('bad2.yml', 'parameters:\n  a: [1, 2\n'), {})).message).toMatch(/line \d+, column \d+/);
    expect(err.message).not.toContain(secret);
  });

  it('refuses a file that does not exist, naming its path', () => {
    const missing = join(dir, 'missing.yml');
    const err = configError(() => loadConfig(missing, {}));
    expect(err.message).toContain(missing);
    expect(err.message).toContain('ENOENT');
  });

  const dist = join(__dirname, '../../../parameters.yml.dist');
  (existsSync(dist) ? it : it.skip)('loads the shipped parameters.yml.dist once the variables it references are set', () => {
    const env = {
      SERVICE_BUS_SECRET: 'dist-bus-secret-0123456789',
      MOM_CLIENT_SECRET: 'dist-client-secret',
      AMQP_URL: 'amqp://127.0.0.1:5672',
      REDIS_URL: 'redis://127.0.0.1:6379',
      PORT: '8080',
      STRIPE_SECRET_KEY: 'sk_test_dist',
      STRIPE_WEBHOOK_SECRET: 'whsec_dist0123456789abcdef',
      ADYEN_API_KEY: 'adyen-key',
      ADYEN_HMAC_KEY: '44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056',
      CYBERSOURCE_KEY_ID: 'cs-key-id',
      CYBERSOURCE_SHARED_SECRET: 'cs-shared-secret',
      CYBERSOURCE_WEBHOOK_KEY: Buffer.from('cs-webhook-key-for-dist-test-32b').toString('base64'),
    };
    const config = loadConfig(dist, env);
    expect(config.serviceBus.secret).toBe(env.SERVICE_BUS_SECRET);
    expect(config.http.port).toBe(8080);
    expect(Object.keys(config.gateways).sort()).toEqual(['adyen', 'adyen-giftcards', 'cybersource', 'stripe']);
    expect(config.gateways.cybersource.sharedSecret).toBe(env.CYBERSOURCE_SHARED_SECRET);
  });

  (existsSync(dist) ? it : it.skip)('refuses the shipped parameters.yml.dist when a referenced variable is unset', () => {
    const err = configError(() => loadConfig(dist, { SERVICE_BUS_SECRET: 'dist-bus-secret-0123456789' }));
    expect(err.key).toBe('mom_client.client_secret');
    expect(err.message).toContain('MOM_CLIENT_SECRET');
    expect(err.problem).toContain('is not set');
  });
});
