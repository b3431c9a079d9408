import { PAN_STYLES, TEST_PANS, formatPan } from './test-card-numbers';
import { CONTRACT_EXAMPLES } from '../workload/channel-contract-examples';

/** What the intake must answer to a fuzzed HTTP request. */
export type HttpExpectation = 'rpc-error' | 'unauthorized' | 'too-large';

/** A malformed or invalid command sent over HTTP to the intake. */
export interface HttpFuzzCase {
  transport: 'http';
  /** Generator that made it, for the summary table. */
  kind: string;
  body: Buffer;
  signature: 'valid' | 'wrong' | 'missing';
  expect: HttpExpectation;
  /** The intake dead-letters what it rejects after a good signature (parse and validation errors). */
  deadLettered: boolean;
}

/**
 * A message published straight to the commands exchange. Without `accept`: malformed or invalid, must be
 * dead-lettered. With `accept`: a valid channel-contract message whose free text holds card numbers; it must
 * be accepted (always signed) with the text masked, its operation recorded under `accept.operationId`.
 */
export interface AmqpFuzzCase {
  transport: 'amqp';
  kind: string;
  body: Buffer;
  routingKey: string;
  accept?: { operationId: string };
}

export type FuzzCase = HttpFuzzCase | AmqpFuzzCase;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Obj = { [key: string]: Json };

/** Strings people and systems actually send by mistake: control and bidi characters, emoji, lone surrogates. */
const ODD_UNICODE = [
  '\u0000',
  '\u202e',
  '\u200b',
  '\ufeff',
  '\ud800',
  '\udfff',
  '😀👍🏽',
  'e\u0301',
  'Ω≈ç√∫',
  '𝕳𝖊𝖑𝖑𝖔',
  '\u0085\u2028\u2029',
  '"\\',
  '<script>',
  "' OR 1=1 --",
  '%s%n',
  '${jndi:x}',
];
// 9007199254740993 loses precision on purpose: an amount past 2^53 must be refused, not rounded.
// eslint-disable-next-line no-loss-of-precision
const BAD_AMOUNTS: Json[] = [-1, -1000, 12.5, 0.001, 1e20, 9007199254740993, 1e308, '1000', null, true, [], {}, 'NaN', -0.5];
const BAD_CURRENCIES: Json[] = ['EURO', 'eu', '€', '', 123, null, 'XXXX', 'E U', 'ZZZ', 'QQQ', ['EUR'], 'eur'];
const REQUIRED = ['gateway', 'gateway_account', 'gateway_key', 'amount', 'currency'] as const;
const AMQP_COMMANDS = ['authorize', 'sale', 'capture', 'refund'] as const;
const CHANNELS = ['web', 'pos', 'marketplace'] as const;

/**
 * Seeded generator of invalid payment commands: every case carries at least one defect the intake or the
 * consumer must refuse (bad amount, currency, missing field, wrong type, oversized string, a card number
 * in a free-text field), sometimes decorated with odd unicode.
 */
export class FuzzCaseGenerator {
  private n = 0;

  /**
   * @param random seeded source in [0, 1)
   * @param runId makes operation references unique per run
   * @param bodyLimitBytes the intake's http.body_limit_bytes (bodies near and above it are generated)
   * @param busMethods JSON-RPC method names the intake knows (config.serviceBus.methods.commands)
   */
  constructor(
    private readonly random: () => number,
    private readonly runId: string,
    private readonly bodyLimitBytes: number,
    private readonly busMethods: { capture: string; refund: string; cancel: string },
  ) {}

  /** The next case; about half go over HTTP, half over AMQP. */
  next(): FuzzCase {
    return this.random() < 0.5 ? this.nextHttp() : this.nextAmqp();
  }

  nextHttp(): HttpFuzzCase {
    const r = this.random();
    const limit = this.bodyLimitBytes;
    if (r < 0.01) {
      // Above the limit: refused on Content-Length before anything is read or verified.
      const body = Buffer.from(JSON.stringify(this.rpc(this.invalidPayment('huge'), 'x'.repeat(limit + 1 + Math.floor(this.random() * limit)))));
      return {
        transport: 'http',
        kind: 'body above the limit',
        body,
        signature: this.pick(['valid', 'wrong', 'missing'] as const),
        expect: 'too-large',
        deadLettered: false,
      };
    }
    if (r < 0.02) {
      // Just under the limit, signed: read, verified, refused by validation (a field far too long).
      const rpc = this.rpc(this.invalidPayment('near-limit'));
      const base = Buffer.byteLength(JSON.stringify(rpc));
      const payment = (rpc.params as Obj).payment as Obj;
      payment.order_id = 'o'.repeat(Math.max(200, limit - base - 64 - Math.floor(this.random() * 512)));
      return this.signed('body near the limit', Buffer.from(JSON.stringify(rpc)));
    }
    if (r < 0.12) {
      const body = this.pick([() => this.garbageBytes(), () => Buffer.from(JSON.stringify(this.randomJson(3)))])();
      return {
        transport: 'http',
        kind: 'unsigned or wrongly signed',
        body,
        signature: this.pick(['wrong', 'missing'] as const),
        expect: 'unauthorized',
        deadLettered: false,
      };
    }
    if (r < 0.14) return this.signed('signed JSON nested thousands deep', this.deepRpc());
    if (r < 0.15) {
      // A 500 KB free-text field: above the default body limit, refused on Content-Length.
      const rpc = this.rpc(this.validPayment());
      ((rpc.params as Obj).payment as Obj).custom_attributes = { note: this.bigText(500 * 1024) };
      const body = Buffer.from(JSON.stringify(rpc));
      if (body.length <= limit)
        return this.signed(
          'signed 500 KB free-text field',
          Buffer.from(JSON.stringify(this.rpc(this.invalidPayment('500 KB note'), this.bigText(500 * 1024)))),
        );
      return { transport: 'http', kind: 'signed 500 KB free-text field', body, signature: 'valid', expect: 'too-large', deadLettered: false };
    }
    if (r < 0.22) return this.signed('signed garbage bytes', this.garbageBytes());
    if (r < 0.32) return this.signed('signed random JSON', Buffer.from(JSON.stringify(this.randomJson(4))));
    if (r < 0.4) return this.signed('signed bad JSON-RPC envelope', Buffer.from(JSON.stringify(this.badEnvelope())));
    if (r < 0.46) {
      const [kind, body] = this.textDefect(JSON.stringify(this.rpc(this.validPayment())), true);
      return this.signed(`signed text: ${kind}`, body);
    }
    const [kind, payment] = this.defectivePayment();
    return this.signed(`signed command: ${kind}`, Buffer.from(JSON.stringify(this.rpc(payment))));
  }

  nextAmqp(): AmqpFuzzCase {
    const r = this.random();
    const routingKey = r < 0.1 ? this.oddString(20).replace(/[^\x20-\x7e]/g, '?') : `${this.pick(CHANNELS)}.payment.${this.pick(AMQP_COMMANDS)}`;
    if (r < 0.15) return { transport: 'amqp', kind: 'garbage bytes', body: this.garbageBytes(), routingKey };
    if (r < 0.25) return { transport: 'amqp', kind: 'random JSON', body: Buffer.from(JSON.stringify(this.randomJson(4))), routingKey };
    if (r < 0.35) return { transport: 'amqp', kind: 'bad envelope', body: Buffer.from(JSON.stringify(this.badCanonicalEnvelope())), routingKey };
    if (r < 0.38) return { transport: 'amqp', kind: 'JSON nested thousands deep', body: this.deepCanonical(), routingKey };
    if (r < 0.4) {
      // 500 KB of text, scanned in linear time; the defect is a card number at its very end, in a field that
      // is not free text (free text would be masked and accepted: see channels.free_text_fields).
      const payment = this.validPayment();
      payment.merchant_remark = `${this.bigText(500 * 1024)} ${this.anyPan()}`;
      const command: Obj = { version: 1, command: this.pick(AMQP_COMMANDS), channel: this.pick(CHANNELS), received_at: new Date().toISOString(), payment };
      return { transport: 'amqp', kind: '500 KB text ending in a card number', body: Buffer.from(JSON.stringify(command)), routingKey };
    }
    if (r < 0.5) return this.contractWithFreeTextPans();
    if (r < 0.55) return this.defectiveContract();
    if (r < 0.6) {
      const command: Obj = {
        version: 1,
        command: this.pick(AMQP_COMMANDS),
        channel: this.pick(CHANNELS),
        received_at: new Date().toISOString(),
        payment: this.validPayment(),
      };
      const [kind, body] = this.textDefect(JSON.stringify(command), false);
      return { transport: 'amqp', kind: `text: ${kind}`, body, routingKey };
    }
    const [kind, payment] = this.defectivePayment();
    const command: Obj = { version: 1, command: this.pick(AMQP_COMMANDS), channel: this.pick(CHANNELS), received_at: new Date().toISOString(), payment };
    return { transport: 'amqp', kind: `command: ${kind}`, body: Buffer.from(JSON.stringify(command)), routingKey };
  }

  /** A valid payload of a channel contract, on the simulator's test token, with a unique id; its operation id. */
  private contractPayload(): { name: string; payload: Obj; operationId: string; routingKey: string } {
    this.n += 1;
    const name = this.pick(Object.keys(CONTRACT_EXAMPLES));
    const id = `fz-${this.runId}-${this.n}`;
    const payload = CONTRACT_EXAMPLES[name](id) as Obj;
    const method = (payload.payment_method ?? payload.tender) as Obj;
    method.token = 'pm_card_visa';
    const [channel, event] = name.split('.');
    const operationId = {
      'web.order_created.v1': `web-order.WEB-${id}`,
      'web.payment_intent.v1': `web-intent.pi-${id}`,
      'pos.sale.v1': `pos.S042.T07.TX-${id}`,
      'marketplace.order.v1': `mkp-order.MKP-${id}`,
    }[name] as string;
    return { name, payload, operationId, routingKey: `${channel}.${event}` };
  }

  /**
   * A valid channel-contract message (one of the four contracts) with card numbers in its free text: a
   * note and a custom attribute's value (and a line name), each in one of the written forms. Must be
   * accepted with the text masked, and no form of the number found anywhere afterwards.
   */
  private contractWithFreeTextPans(): AmqpFuzzCase {
    const { name, payload, operationId, routingKey } = this.contractPayload();
    const note = `gift card ${this.anyPan()} for Anna`;
    const attribute = { remark: `pay with ${this.anyPan()} please`, ref: `call ${this.anyPan()}` };
    switch (name) {
      case 'web.order_created.v1': {
        const order = payload.order as Obj;
        order.note = note;
        order.custom_attributes = attribute;
        ((order.lines as Obj[])[0] as Obj).name = `mug ${this.anyPan()}`;
        break;
      }
      case 'web.payment_intent.v1':
        payload.description = note;
        payload.metadata = attribute;
        break;
      default:
        payload.note = note;
        payload.custom_attributes = attribute;
        if (Array.isArray(payload.lines)) (payload.lines[0] as Obj).name = `item ${this.anyPan()}`;
    }
    return {
      transport: 'amqp',
      kind: `contract ${name}: card numbers in free text (accepted, masked)`,
      body: Buffer.from(JSON.stringify(payload)),
      routingKey,
      accept: { operationId },
    };
  }

  /** A channel-contract message that must be refused: card data in a structured field, an unknown contract, money that does not add up. */
  private defectiveContract(): AmqpFuzzCase {
    const { name, payload, routingKey } = this.contractPayload();
    const kind = this.pick(['card number in a structured field', 'unknown contract', 'no contract', 'float amount'] as const);
    switch (kind) {
      case 'card number in a structured field':
        ((payload.payment_method ?? payload.tender) as Obj).token = `tok ${this.anyPan()}`;
        break;
      case 'unknown contract':
        payload.contract = this.pick([`${name}x`, name.replace('.v1', '.v2'), 'order_created', this.oddString(12)]);
        break;
      case 'no contract':
        delete payload.contract;
        break;
      default:
        if (payload.order) (payload.order as Obj).total_amount = 129.9;
        else if (payload.total_amount !== undefined) payload.total_amount = 99.5;
        else payload.amount = 0.5;
    }
    return { transport: 'amqp', kind: `contract: ${kind}`, body: Buffer.from(JSON.stringify(payload)), routingKey };
  }

  /** A payment with one to three defects; the first one names the case. */
  private defectivePayment(): [string, Obj] {
    const payment = this.validPayment();
    const defects = 1 + Math.floor(this.random() * 3);
    const kinds: string[] = [];
    for (let i = 0; i < defects; i += 1) kinds.push(this.applyDefect(payment));
    // Decoration only: added next to whatever a defect planted there (overwriting a planted PAN would
    // turn the case into a valid command).
    if (this.random() < 0.3) payment.custom_attributes = { ...((payment.custom_attributes as Obj | undefined) ?? {}), remark: this.oddString(40) };
    // A digits-only reference is valid (BullMQ gets `#<digits>` as its job id): here it rides along a defect
    // (only in place of the generated one, never over a reference a defect planted).
    if (this.random() < 0.1 && typeof payment.operation_reference === 'string' && payment.operation_reference === `fz-${this.runId}-${this.n}`) {
      payment.operation_reference = `${Date.now()}${this.n}`;
    }
    return [kinds[0], payment];
  }

  private applyDefect(p: Obj): string {
    switch (Math.floor(this.random() * 10)) {
      case 0:
        p.amount = this.pick(BAD_AMOUNTS);
        return 'bad amount';
      case 1:
        p.currency = this.pick(BAD_CURRENCIES);
        return 'bad currency';
      case 2:
        delete p[this.pick(REQUIRED)];
        return 'missing field';
      case 3:
        p[this.pick(['gateway', 'gateway_account', 'gateway_key', 'order_id'] as const)] = this.pick<Json>([42, true, ['x'], { a: 1 }, 1.5]);
        return 'wrong type';
      case 4:
        // Longer than every bounded field (gateway_key 255, the others 128): always a defect.
        p[this.pick(['gateway_key', 'order_id', 'operation_reference', 'gateway_account'] as const)] = this.oddString(300 + Math.floor(this.random() * 20000));
        return 'oversized string';
      case 7:
        // Colliding with the ledger's own key names, or outside the reference alphabet.
        p.operation_reference = this.pick([
          `${String(p.operation_reference)}:interactions`,
          `fz-${this.runId}:1`,
          '..',
          'ref with space',
          'ref/slash',
          `${'r'.repeat(129)}`,
          '-leading-dash',
          'ref%2f',
        ]);
        return 'bad operation reference';
      case 8:
        this.plantKeyPan(p);
        return 'card number as a key';
      case 9:
        p.method_details = {
          method: 'card',
          card: {
            brand: 'visa',
            [this.pick(['card_cvv', 'csc', 'cv2', 'cvc2', 'security_code', 'cvv', 'cardCvv', 'securityCode'])]: this.pick<Json>(['123', '7373', 737]),
          },
        };
        return 'card security code';
      default:
        this.plantPan(p);
        return 'card number in free text';
    }
  }

  /** A test PAN in any of the written forms. */
  private anyPan(): string {
    return formatPan(this.pick(TEST_PANS), this.pick(PAN_STYLES));
  }

  /** A card number used as a JSON key, in custom attributes or in the card details. */
  private plantKeyPan(p: Obj): void {
    const pan = this.anyPan();
    if (this.random() < 0.5) p.custom_attributes = { [pan]: 'gift' };
    else p.method_details = { method: 'card', card: { brand: 'visa', [pan]: true } };
  }

  /** A bus call whose payment nests 2,000–6,000 levels deep (built as text: stringify would overflow). */
  private deepRpc(): Buffer {
    const levels = 2000 + Math.floor(this.random() * 4000);
    const rpc = JSON.stringify(this.rpc(this.validPayment()));
    return Buffer.from(rpc.replace('"payment":{', `"payment":{"custom_attributes":{"n":${this.nest(levels)}},`));
  }

  /** A canonical command with a nested value 2,000–6,000 levels deep. */
  private deepCanonical(): Buffer {
    const levels = 2000 + Math.floor(this.random() * 4000);
    const command = {
      version: 1,
      command: this.pick(AMQP_COMMANDS),
      channel: this.pick(CHANNELS),
      received_at: new Date().toISOString(),
      payment: this.validPayment(),
    };
    return Buffer.from(JSON.stringify(command).replace('"payment":{', `"payment":{"lines":${this.nest(levels)},`));
  }

  private nest(levels: number): string {
    const open = this.random() < 0.5 ? '[' : '{"a":';
    const close = open === '[' ? ']' : '}';
    return `${open.repeat(levels)}1${close.repeat(levels)}`;
  }

  /** Free text of about `bytes` characters: words and digit groups that are not card numbers. */
  private bigText(bytes: number): string {
    const words = ['gift', 'note', 'for', 'Anna', 'qty', '12', '2030', '75001', 'x', '1234', '5678'];
    const parts: string[] = [];
    let length = 0;
    while (length < bytes) {
      const w = this.pick(words);
      parts.push(w);
      length += w.length + 1;
    }
    return parts.join(' ');
  }

  /**
   * Puts a Luhn-valid test PAN, in any written form, in a field where card data is refused (a structured
   * one; in free text it would be masked and the command accepted).
   */
  private plantPan(p: Obj): void {
    const pan = this.anyPan();
    switch (Math.floor(this.random() * 4)) {
      case 0:
        p.merchant_remark = `card ${pan} exp 12/30`;
        break;
      case 1:
        p.lines = [{ item_name: 'gift', item_sku: `SKU ${pan}`, quantity: 1 }];
        break;
      case 2:
        p.method_details = { method: 'card', card: { holder_name: pan, brand: 'visa' } };
        break;
      default:
        p.order_id = `ORD ${pan}`;
        break;
    }
  }

  private validPayment(): Obj {
    this.n += 1;
    return {
      gateway: 'simulator',
      gateway_account: 'acme-eu',
      gateway_key: 'pm_card_visa',
      amount: 1 + Math.floor(this.random() * 100000),
      currency: 'EUR',
      order_id: `FZ-${this.runId}-${this.n}`,
      operation_reference: `fz-${this.runId}-${this.n}`,
    };
  }

  private invalidPayment(label: string): Obj {
    const p = this.validPayment();
    p.amount = -1;
    p.order_id = label;
    return p;
  }

  private rpc(payment: Obj, padding?: string): Obj {
    const method = this.pick([this.busMethods.capture, this.busMethods.refund, this.busMethods.cancel]);
    return { jsonrpc: '2.0', id: `fz-${this.runId}-${this.n}`, method, params: padding === undefined ? { payment } : { payment, padding } };
  }

  private badEnvelope(): Json {
    const payment = this.validPayment();
    payment.amount = -5;
    return this.pick<Json>([
      { jsonrpc: '2.0', id: 1, method: 'magento.nothing.here', params: { payment } },
      { jsonrpc: '1.0', id: 1, method: this.busMethods.capture, params: { payment } },
      { jsonrpc: '2.0', id: 1, method: this.busMethods.capture, params: [payment] },
      { jsonrpc: '2.0', id: 1, method: this.busMethods.capture },
      { jsonrpc: '2.0', id: 1, params: { payment } },
      { jsonrpc: '2.0', id: { nested: true }, method: this.busMethods.capture, params: { payment: 'not an object' } },
      [{ jsonrpc: '2.0', id: 1, method: this.busMethods.capture, params: { payment } }],
    ]);
  }

  private badCanonicalEnvelope(): Json {
    const payment = this.validPayment();
    return this.pick<Json>([
      { version: 2, command: 'authorize', channel: 'web', received_at: new Date().toISOString(), payment },
      { version: 1, command: 'teleport', channel: 'web', received_at: new Date().toISOString(), payment },
      { version: 1, command: 'authorize', channel: 'fax', received_at: new Date().toISOString(), payment },
      { version: 1, command: 'authorize', channel: 'web', received_at: 'yesterday', payment },
      { version: 1, command: 'authorize', channel: 'web', payment },
      { version: 1, command: 'authorize', channel: 'web', received_at: new Date().toISOString() },
      { version: 1, command: 'authorize', channel: 'web', received_at: new Date().toISOString(), payment: [payment] },
    ]);
  }

  /**
   * A valid command's text with one defect that the parse alone would hide: a byte that is not UTF-8 (decoded
   * leniently it becomes U+FFFD, and two orders one), a member name repeated (the last one would win), a number
   * JSON does not carry exactly (a 19-digit card number sent as a number), and over JSON-RPC an id beyond 2^53
   * (echoed changed, two ids one operation).
   */
  private textDefect(text: string, rpc: boolean): [string, Buffer] {
    const kinds: Array<[string, () => Buffer]> = [
      [
        'invalid UTF-8',
        () => {
          const at = text.indexOf('"currency":"') + '"currency":"'.length;
          return Buffer.concat([Buffer.from(text.slice(0, at)), Buffer.from([this.pick([0xff, 0xfe, 0xc0, 0x80])]), Buffer.from(text.slice(at))]);
        },
      ],
      ['repeated member name', () => Buffer.from(text.replace('"amount":', `"amount":${1 + Math.floor(this.random() * 100)},"amount":`))],
      [
        'number beyond 2^53',
        () => Buffer.from(text.replace('"gateway":', `"reference_number":${this.anyPan().replace(/\D/g, '').padEnd(19, '3')},"gateway":`)),
      ],
    ];
    if (rpc) kinds.push(['id beyond 2^53', () => Buffer.from(text.replace(/"id":"[^"]*"/, '"id":9007199254740993'))]);
    const [kind, make] = this.pick(kinds);
    return [kind, make()];
  }

  private signed(kind: string, body: Buffer): HttpFuzzCase {
    return { transport: 'http', kind, body, signature: 'valid', expect: 'rpc-error', deadLettered: true };
  }

  /** Random bytes; half the time not even valid UTF-8. */
  private garbageBytes(): Buffer {
    const length = Math.floor(this.random() * 2048);
    const bytes = Buffer.alloc(length);
    for (let i = 0; i < length; i += 1) bytes[i] = Math.floor(this.random() * 256);
    if (this.random() < 0.5) return Buffer.from(`{"jsonrpc":"2.0","id":1,"method":${bytes.toString('latin1').replace(/[{}[\]"]/g, '')}`);
    return bytes;
  }

  private randomJson(depth: number): Json {
    const r = this.random();
    if (depth <= 0 || r < 0.3) return this.pick<Json>([null, true, false, 0, -1, 1e308, 3.14, this.oddString(30), '', 4e-300]);
    if (r < 0.6) return Array.from({ length: Math.floor(this.random() * 5) }, () => this.randomJson(depth - 1));
    const obj: Obj = {};
    const keys = Math.floor(this.random() * 6);
    for (let i = 0; i < keys; i += 1)
      obj[this.pick(['payment', 'amount', 'method', 'params', 'id', 'jsonrpc', '__proto__', 'constructor', this.oddString(8)])] = this.randomJson(depth - 1);
    return obj;
  }

  private oddString(length: number): string {
    let s = '';
    while (s.length < length) s += this.random() < 0.3 ? this.pick(ODD_UNICODE) : String.fromCharCode(32 + Math.floor(this.random() * 95));
    return s.slice(0, length);
  }

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)];
  }
}
