import type { GatewayConfig } from '../../src/gateways/gateway-config';
import type { GatewayType } from '../../src/gateways/gateway-registry';
import type { CommandType, Payment } from '../../src/contracts/payment-command';
import type { OperationContext } from '../../src/gateways/gateway-adapter';
import type { Json } from './hostile-json';

/**
 * Valid documents of each PSP, shaped as its API reference documents them (the fields the bridge reads, plus a
 * few it does not), that the PSP input fuzz (`psp-input-fuzz.ts`) turns hostile: answers to our requests and
 * status inquiries, webhooks, reconciliation pages and report lines. No card number anywhere in them.
 */

/** A gateway entry as the configuration builds it, with every credential key (unused ones empty). */
function gatewayConfig(type: GatewayType, fields: Partial<GatewayConfig>): GatewayConfig {
  return {
    name: `fuzz-${type}`,
    type,
    baseUrl: 'https://psp.invalid',
    apiKey: 'fuzz-api-key',
    webhookSecret: '',
    webhookSecretPrevious: '',
    merchantAccount: '',
    merchantId: '',
    keyId: '',
    sharedSecret: '',
    reportUsername: 'report@Company.Fuzz',
    reportPassword: 'fuzz-report-password',
    reportBaseUrl: '',
    authorisationType: '',
    webhookPrivateKey: '',
    webhookKeyId: '',
    webhookKeyIdPrevious: '',
    timeoutMs: 1000,
    maxSockets: 4,
    ...fields,
  };
}

/** One configured gateway of each type. */
export const FUZZ_GATEWAYS: Readonly<Record<GatewayType, GatewayConfig>> = {
  stripe: gatewayConfig('stripe', { webhookSecret: 'whsec_fuzz' }),
  adyen: gatewayConfig('adyen', { merchantAccount: 'FuzzMerchant', webhookSecret: '44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056' }),
  'adyen-stored-value': gatewayConfig('adyen-stored-value', {
    merchantAccount: 'FuzzMerchant',
    webhookSecret: '44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056',
  }),
  cybersource: gatewayConfig('cybersource', { merchantId: 'fuzzorg', keyId: 'fuzz-key', sharedSecret: Buffer.from('fuzz-shared-secret').toString('base64') }),
  simulator: gatewayConfig('simulator', { webhookSecret: 'whsec_fuzz_sim' }),
};

/** The operation every answer is read for (its id is what the PSP echoes as a reference). */
export function fuzzContext(type: GatewayType, command: CommandType, store: boolean): OperationContext {
  const payment: Payment = {
    gateway: FUZZ_GATEWAYS[type].name,
    gateway_account: 'default',
    gateway_key: 'pm_fuzz_key',
    amount: 2500,
    currency: 'EUR',
    order_id: 'ORD-FUZZ-1',
    custom_attributes: { stripe_customer: 'cus_fuzz' },
    ...(store ? { payment_method: { type: 'card', token: 'tok_fuzz', store: true } } : {}),
  };
  return { operationId: 'op-fuzz-1', command, payment };
}

/** A literal as JSON: members left undefined dropped, as the PSP leaves them out. */
function json(value: unknown): Json {
  return JSON.parse(JSON.stringify(value)) as Json;
}

const card = { brand: 'visa', last4: '4242', exp_month: 12, exp_year: 2031 };

const stripeIntent = (status: string): Json => ({
  id: 'pi_fuzz_1',
  object: 'payment_intent',
  amount: 2500,
  amount_capturable: status === 'requires_capture' ? 2500 : 0,
  amount_received: status === 'succeeded' ? 2500 : 0,
  capture_method: 'manual',
  cancellation_reason: status === 'canceled' ? 'automatic' : null,
  client_secret: 'pi_fuzz_1_secret_x',
  created: 1_790_000_000,
  currency: 'eur',
  metadata: { operation_id: 'op-fuzz-1', order_id: 'ORD-FUZZ-1' },
  setup_future_usage: 'off_session',
  payment_method: { id: 'pm_fuzz_1', object: 'payment_method', customer: 'cus_fuzz', card },
  latest_charge: { id: 'ch_fuzz_1', created: 1_790_000_001, payment_method_details: { card: { ...card, capture_before: 1_790_600_000 } } },
  last_payment_error: status === 'requires_payment_method' ? { code: 'card_declined', decline_code: 'insufficient_funds' } : null,
  next_action:
    status === 'requires_action'
      ? { type: 'boleto_display_details', boleto_display_details: { expires_at: 1_790_100_000, number: '34191.79001 01043.510047' } }
      : null,
  status,
});

const stripeRefund = (status: string): Json => ({
  id: 're_fuzz_1',
  object: 'refund',
  amount: 1000,
  currency: 'eur',
  status,
  failure_reason: status === 'failed' ? 'expired_or_canceled_card' : null,
  metadata: { operation_id: 'op-fuzz-1' },
  payment_intent: 'pi_fuzz_1',
  created: 1_790_000_002,
});

const stripeSetupIntent: Json = {
  id: 'seti_fuzz_1',
  object: 'setup_intent',
  status: 'succeeded',
  payment_method: { id: 'pm_fuzz_1', card },
  last_setup_error: null,
  metadata: { operation_id: 'op-fuzz-1' },
};

const stripeDispute: Json = {
  id: 'dp_fuzz_1',
  object: 'dispute',
  amount: 2500,
  currency: 'eur',
  status: 'needs_response',
  reason: 'fraudulent',
  payment_intent: 'pi_fuzz_1',
  charge: 'ch_fuzz_1',
  balance_transactions: [{ id: 'txn_1', amount: -2500, currency: 'eur' }],
};

const adyenPayment = (resultCode: string): Json =>
  json({
    resultCode,
    pspReference: 'FUZZPSP000000001',
    merchantReference: 'op-fuzz-1',
    amount: { value: 2500, currency: 'EUR' },
    refusalReason: resultCode === 'Refused' ? 'Not enough balance' : undefined,
    refusalReasonCode: resultCode === 'Refused' ? '12' : undefined,
    action:
      resultCode === 'Pending' || resultCode === 'RedirectShopper'
        ? { type: 'qrCode', paymentMethodType: 'pix', qrCodeData: 'qr', expiresAt: '2026-12-01T10:00:00+01:00', url: 'https://psp.invalid/qr' }
        : undefined,
    additionalData: {
      'tokenization.storedPaymentMethodId': 'M5N7TQ4TG5PFWR50',
      'tokenization.shopperReference': 'shopper-fuzz',
      cardSummary: '4242',
      expiryDate: '12/2031',
      paymentMethod: 'visa',
    },
    paymentMethod: { brand: 'visa', type: 'scheme' },
  });

const adyenItem = (eventCode: string, success: string): Json =>
  json({
    NotificationRequestItem: {
      pspReference: 'FUZZPSP000000002',
      originalReference: 'FUZZPSP000000001',
      merchantAccountCode: 'FuzzMerchant',
      merchantReference: 'op-fuzz-1',
      amount: { value: 2500, currency: 'EUR' },
      eventCode,
      eventDate: '2026-11-02T10:15:00+01:00',
      success,
      reason: success === 'true' ? 'Approved' : 'Insufficient balance',
      paymentMethod: 'visa',
      additionalData: {
        hmacSignature: 'c2lnbmF0dXJl',
        'recurring.recurringDetailReference': 'M5N7TQ4TG5PFWR50',
        'recurring.shopperReference': 'shopper-fuzz',
        cardSummary: '4242',
        expiryDate: '12/2031',
        chargebackReasonCode: eventCode === 'CHARGEBACK' ? '10.4' : undefined,
      },
    },
  });

const cybersourcePayment = (status: string): Json =>
  json({
    id: '6381278241084565908266',
    status,
    submitTimeUtc: '2026-11-02T10:15:00Z',
    clientReferenceInformation: { code: 'op-fuzz-1' },
    orderInformation: { amountDetails: { authorizedAmount: '25.00', totalAmount: '25.00', currency: 'EUR' } },
    errorInformation: status === 'DECLINED' ? { reason: 'INSUFFICIENT_FUND', message: 'Decline - Insufficient funds' } : undefined,
    paymentInformation: { card: { suffix: '4242', type: '001' } },
    tokenInformation: { customer: { id: 'AB695DA801DD1BB6E05341588E0A3BDC' } },
    consumerAuthenticationInformation:
      status === 'PENDING_AUTHENTICATION' ? { stepUpUrl: 'https://psp.invalid/stepup', accessToken: 'jwt', authenticationTransactionId: 'tx1' } : undefined,
    refundAmountDetails: { refundAmount: '10.00', currency: 'EUR' },
    reversalAmountDetails: { reversedAmount: '25.00', currency: 'EUR' },
    authorizationInformation: { reversalSubmitted: 'Y' },
  });

const cybersourceSummary = (): Json => ({
  id: '6381278241084565908266',
  submitTimeUtc: '2026-11-02T10:15:00Z',
  status: 'AUTHORIZED',
  clientReferenceInformation: { code: 'op-fuzz-1' },
  applicationInformation: {
    status: 'AUTHORIZED',
    reasonCode: '100',
    rCode: '1',
    rFlag: 'SOK',
    applications: [
      { name: 'ics_auth', rCode: '1', reasonCode: '100', rFlag: 'SOK', reconciliationId: 'R1' },
      { name: 'ics_bill', rCode: '1', reasonCode: '100', rFlag: 'SOK', reconciliationId: 'R2' },
    ],
  },
  orderInformation: { amountDetails: { totalAmount: '25.00', currency: 'EUR' } },
  paymentInformation: { card: { suffix: '4242' } },
});

const simulatorObject = (status: string): Json =>
  json({
    id: 'auth_fuzz_1',
    object: 'authorization',
    status,
    amount: 2500,
    currency: 'EUR',
    reference: 'op-fuzz-1',
    decline_code: status === 'declined' ? 'insufficient_funds' : undefined,
    next_action: status === 'requires_action' ? { type: 'three_ds_challenge', url: 'https://psp.invalid/3ds' } : undefined,
    card,
    gift_card: 'gc_fuzz_1',
    balance: 5000,
    created: 1_790_000_000,
  });

/** A PSP answer to one of our requests: its HTTP status and body (an error body with an error status). */
export interface AnswerSeed {
  status: number;
  body: Json;
  headers?: Record<string, string>;
}

/** The answers each gateway's responses are read from (synchronous answers and status inquiries alike). */
export const ANSWER_SEEDS: Readonly<Record<GatewayType, readonly AnswerSeed[]>> = {
  stripe: [
    ...['requires_capture', 'succeeded', 'requires_action', 'requires_payment_method', 'canceled', 'processing'].map((s) => ({
      status: 200,
      body: stripeIntent(s),
    })),
    { status: 200, body: stripeRefund('succeeded') },
    { status: 200, body: stripeSetupIntent },
    { status: 200, body: { object: 'list', data: [stripeIntent('requires_capture'), stripeRefund('pending')], has_more: false } },
    {
      status: 402,
      body: {
        error: { type: 'card_error', code: 'card_declined', decline_code: 'insufficient_funds', payment_intent: stripeIntent('requires_payment_method') },
      },
    },
    { status: 400, body: { error: { type: 'invalid_request_error', code: 'payment_intent_unexpected_state', message: 'x' } } },
    { status: 409, body: { error: { type: 'idempotency_error', code: 'idempotency_key_in_use' } } },
    { status: 429, body: { error: { type: 'rate_limit_error' } }, headers: { 'retry-after': '2' } },
    { status: 500, body: { error: { type: 'api_error' } }, headers: { 'stripe-should-retry': 'false' } },
  ],
  adyen: [
    ...['Authorised', 'Refused', 'Pending', 'RedirectShopper', 'Cancelled', 'Error'].map((r) => ({ status: 200, body: adyenPayment(r) })),
    {
      status: 201,
      body: { status: 'received', pspReference: 'FUZZPSP000000003', paymentPspReference: 'FUZZPSP000000001', amount: { value: 2500, currency: 'EUR' } },
    },
    { status: 201, body: { id: 'M5N7TQ4TG5PFWR50', shopperReference: 'shopper-fuzz', brand: 'visa', lastFour: '4242', expiryMonth: '12', expiryYear: '31' } },
    { status: 422, body: { status: 422, errorCode: '101', errorType: 'validation', message: 'Invalid card number', pspReference: 'FUZZPSP000000004' } },
    { status: 409, body: { status: 409, errorCode: '704', errorType: 'validation' }, headers: { 'transient-error': 'true' } },
    { status: 500, body: { status: 500, errorCode: '905', errorType: 'internal' } },
  ],
  'adyen-stored-value': [
    ...['Success', 'Refused', 'NotEnoughBalance', 'Error'].map((r) => ({
      status: 200,
      body: json({
        resultCode: r,
        pspReference: 'FUZZPSP000000005',
        currentBalance: { value: 5000, currency: 'EUR' },
        refusalReason: r === 'Refused' ? 'Card blocked' : undefined,
      }),
    })),
    { status: 422, body: { status: 422, errorCode: '15_001', errorType: 'validation' } },
  ],
  cybersource: [
    ...[
      'AUTHORIZED',
      'PARTIAL_AUTHORIZED',
      'DECLINED',
      'AUTHORIZED_PENDING_REVIEW',
      'PENDING_AUTHENTICATION',
      'PENDING',
      'REVERSED',
      'VOIDED',
      'INVALID_REQUEST',
    ].map((s) => ({ status: 201, body: cybersourcePayment(s) })),
    { status: 201, body: { totalCount: 1, _embedded: { transactionSummaries: [cybersourceSummary()] } } },
    {
      status: 200,
      body: {
        id: 'AB695DA801DD1BB6E05341588E0A3BDC',
        state: 'ACTIVE',
        card: { type: 'visa', expirationMonth: '12', expirationYear: '2031' },
        _embedded: { instrumentIdentifier: { card: { number: '411111XXXXXX1111' } } },
      },
    },
    { status: 400, body: { submitTimeUtc: '2026-11-02T10:15:00Z', status: 'INVALID_REQUEST', reason: 'EXCEEDS_AUTH_AMOUNT', message: 'x' } },
    { status: 400, body: { errors: [{ type: 'instrumentIdentifierNotFound', message: 'x' }] } },
    { status: 502, body: { status: 'SERVER_ERROR', reason: 'SERVER_TIMEOUT' } },
  ],
  simulator: [
    ...['authorized', 'captured', 'declined', 'pending', 'requires_action', 'cancelled', 'refunded', 'active'].map((s) => ({
      status: 200,
      body: simulatorObject(s),
    })),
    { status: 422, body: { error: { code: 'amount_exceeds_authorized', message: 'x' } } },
    { status: 400, body: { error: { code: 'invalid_request', message: 'x' } } },
    { status: 503, body: { error: { code: 'service_unavailable' } }, headers: { 'retry-after': '1' } },
  ],
};

/** The transaction details a Cybersource inquiry asks for after its search (`statusFollowUp`). */
export const CYBERSOURCE_DETAILS_SEED: Json = {
  id: '6381278241084565908266',
  submitTimeUTC: '2026-11-02T10:15:00Z',
  applicationInformation: { status: 'PARTIAL_AUTHORIZED', reasonCode: '110' },
  orderInformation: { amountDetails: { authorizedAmount: '20.00', totalAmount: '25.00', currency: 'EUR' } },
};

/** A partial approval's search answer that makes the Cybersource inquiry ask for the transaction's details. */
export const CYBERSOURCE_PARTIAL_SEARCH: Json = {
  totalCount: 1,
  _embedded: {
    transactionSummaries: [
      {
        id: '6381278241084565908266',
        submitTimeUtc: '2026-11-02T10:15:00Z',
        clientReferenceInformation: { code: 'op-fuzz-1' },
        applicationInformation: { status: 'PARTIAL_AUTHORIZED', reasonCode: '110' },
        orderInformation: { amountDetails: { totalAmount: '25.00', currency: 'EUR' } },
      },
    ],
  },
};

/** Verified webhook bodies of each gateway (the fuzz hands them to `parseWebhook`, as after a good signature). */
export const WEBHOOK_SEEDS: Readonly<Record<GatewayType, readonly Json[]>> = {
  stripe: [
    ...(
      [
        ['payment_intent.amount_capturable_updated', stripeIntent('requires_capture')],
        ['payment_intent.succeeded', stripeIntent('succeeded')],
        ['payment_intent.payment_failed', stripeIntent('requires_payment_method')],
        ['payment_intent.canceled', stripeIntent('canceled')],
        ['payment_intent.requires_action', stripeIntent('requires_action')],
        ['setup_intent.succeeded', stripeSetupIntent],
        ['refund.updated', stripeRefund('succeeded')],
        ['refund.failed', stripeRefund('failed')],
        ['charge.dispute.created', stripeDispute],
        ['charge.dispute.funds_reinstated', { ...(stripeDispute as Record<string, Json>), status: 'won' }],
      ] as Array<[string, Json]>
    ).map(([type, object]) => ({ id: 'evt_fuzz_1', object: 'event', type, created: 1_790_000_100, livemode: false, data: { object } })),
  ],
  adyen: [
    {
      live: 'false',
      notificationItems: [
        adyenItem('AUTHORISATION', 'true'),
        adyenItem('CHARGEBACK', 'true'),
        adyenItem('CAPTURE_FAILED', 'true'),
        adyenItem('REFUND', 'false'),
      ],
    },
  ],
  'adyen-stored-value': [{ live: 'false', notificationItems: [adyenItem('AUTHORISATION', 'false'), adyenItem('REFUND', 'true')] }],
  cybersource: [
    'payments.payments.accept',
    'payments.payments.reject',
    'payments.captures.reject',
    'payments.payments.partial.approval',
    'risk.casemanagement.decision.reject',
  ].map((eventType) =>
    json({
      notificationId: 'n-fuzz-1',
      retryNumber: 0,
      eventType,
      eventDate: '2026-11-02T10:15:00Z',
      organizationId: 'fuzzorg',
      payload: [
        {
          data: {
            id: '6381278241084565908266',
            type: 'payments',
            status: 'DECLINED',
            clientReferenceInformation: { code: 'op-fuzz-1' },
            orderInformation: { amountDetails: { authorizedAmount: '20.00', totalAmount: '25.00', currency: 'EUR' } },
            errorInformation: { reason: 'INSUFFICIENT_FUND' },
          },
          organizationId: 'fuzzorg',
        },
        { data: { id: '6381278241084565908267', clientReferenceInformation: { code: 'op-fuzz-2' } }, organizationId: 'fuzzorg' },
      ],
    }),
  ),
  simulator: [
    ...['authorized', 'declined', 'captured', 'refunded'].map((s) => ({
      id: 'evt_fuzz_1',
      type: `operation.${s}`,
      created: 1_790_000_100,
      data: { object: simulatorObject(s) },
    })),
    ...['chargeback.created', 'refund.failed'].map((type) => ({
      id: 'evt_fuzz_2',
      type,
      created: 1_790_000_100,
      data: { object: simulatorObject('captured') },
    })),
  ],
};

/** A reconciliation page: the request path it answers, its body, and where its lines are. */
export interface PageSeed {
  /** The start of the path of the request it answers; every other request gets an empty page. */
  answers: string;
  body: Json;
  /** The path of its lines: a mutation inside one is that line's, set aside, never stopping its page. */
  lines: readonly string[];
}

/** Reconciliation pages (list and search answers) of the gateways whose readers read JSON. */
export const RECONCILIATION_PAGE_SEEDS: Readonly<Partial<Record<GatewayType, readonly PageSeed[]>>> = {
  stripe: [
    {
      answers: '/v1/balance_transactions',
      lines: ['data'],
      body: {
        object: 'list',
        has_more: false,
        data: [
          {
            id: 'txn_fuzz_1',
            object: 'balance_transaction',
            type: 'charge',
            reporting_category: 'charge',
            amount: 2500,
            fee: 75,
            net: 2425,
            currency: 'eur',
            created: 1_790_000_000,
            source: {
              id: 'ch_fuzz_1',
              object: 'charge',
              amount: 2500,
              amount_captured: 2500,
              currency: 'eur',
              payment_intent: { id: 'pi_fuzz_1', metadata: { operation_id: 'op-fuzz-1', order_id: 'ORD-FUZZ-1' } },
              metadata: { capture_operation_id: 'op-fuzz-2' },
            },
          },
          {
            id: 'txn_fuzz_2',
            type: 'adjustment',
            reporting_category: 'dispute',
            amount: -2500,
            fee: 1500,
            net: -4000,
            currency: 'eur',
            created: 1_790_000_100,
            source: { ...(stripeDispute as Record<string, Json>) },
          },
          { id: 'txn_fuzz_3', type: 'refund', amount: -1000, currency: 'eur', created: 1_790_000_200, source: stripeRefund('succeeded') },
        ],
      },
    },
    {
      answers: '/v1/payment_intents',
      lines: ['data'],
      body: { object: 'list', has_more: false, data: [stripeIntent('canceled'), stripeIntent('requires_capture'), stripeIntent('requires_payment_method')] },
    },
  ],
  cybersource: [
    {
      answers: '/tss/v2/searches',
      lines: ['_embedded', 'transactionSummaries'],
      body: { totalCount: 2, _embedded: { transactionSummaries: [cybersourceSummary(), cybersourceSummary()] } },
    },
  ],
  simulator: [
    {
      answers: '/v1/reports/lines',
      lines: ['data'],
      body: {
        has_more: false,
        next_cursor: null,
        data: [
          {
            id: 'line_1',
            type: 'capture',
            status: 'succeeded',
            payment: 'auth_fuzz_1',
            object_id: 'cap_fuzz_1',
            reference: 'op-fuzz-1',
            amount: 2500,
            currency: 'EUR',
            fee: 30,
            net: 2470,
            created_ms: 1_790_000_000_000,
          },
          {
            id: 'line_2',
            type: 'chargeback',
            status: 'succeeded',
            payment: 'auth_fuzz_1',
            object_id: 'cb_fuzz_1',
            amount: 2500,
            currency: 'EUR',
            fee: 1500,
            net: -4000,
            created_ms: 1_790_000_100_000,
          },
        ],
      },
    },
  ],
};

/** Adyen's Settlement details report (CSV): its header and data lines. */
export const ADYEN_REPORT_SEED: readonly string[] = [
  'Company Account,Merchant Account,Psp Reference,Merchant Reference,Payment Method,Creation Date,TimeZone,Type,Modification Reference,Gross Currency,Gross Debit (GC),Gross Credit (GC),Exchange Rate,Net Currency,Net Debit (NC),Net Credit (NC),Commission (NC),Markup (NC),Scheme Fees (NC),Interchange (NC),Payment Method Variant,Modification Merchant Reference,Batch Number',
  'FuzzCompany,FuzzMerchant,8515131751004933,op-fuzz-1,visa,2026-11-02 10:15:00,CET,Settled,8825131751004951,EUR,,25.00,1,EUR,,24.35,,0.12,0.05,0.48,visacredit,op-fuzz-2,42',
  'FuzzCompany,FuzzMerchant,8515131751004933,op-fuzz-1,visa,2026-11-03 09:00:00,CET,Refunded,8825131751009999,EUR,10.00,,1,EUR,10.12,,,0.12,,,visacredit,op-fuzz-3,42',
  'FuzzCompany,FuzzMerchant,8515131751007777,"ORD-7, gift",mc,2026-11-03 11:30:00,CET,Chargeback,8825131751010000,EUR,25.00,,1,EUR,40.00,,15.00,,,,mccredit,,42',
  'FuzzCompany,FuzzMerchant,,,,2026-11-04 08:00:00,CET,MerchantPayout,,,,,,EUR,500.00,,,,,,,,42',
];

/** The reconciliation window the seeds' lines fall in. */
export const RECONCILIATION_WINDOW = { from: Date.UTC(2026, 0, 1), to: Date.UTC(2027, 0, 1) };
