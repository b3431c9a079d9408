import { COMMAND_TYPES, CommandType, PaymentCommand } from '../../src/contracts/payment-command';
import { CONTRACT_EXAMPLES } from '../../harness/workload/channel-contract-examples';
import { PAN_STYLES, TEST_PANS, formatPan } from '../../harness/drills/test-card-numbers';
import { seededRandom } from '../../harness/workload/payment-scenarios';

/**
 * Seeded mutations of valid commands for the poison fuzz of the command intake: every command type of the
 * canonical command and every channel contract, each one mutated once (a wrong type, a number JSON does
 * not carry, deep nesting, a huge string or key, odd unicode, a repeated member, an extra or missing
 * property, an array for an object, a card number where it does not belong, an AMQP oddity). The same seed
 * gives the same cases, so a failure names a case that replays.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Obj = { [key: string]: Json };

/** What the consumer must do with a case: dead-letter it, or either accept it or dead-letter it (never anything else). */
export type FuzzExpectation = 'refuse' | 'either';

/** One message to publish on the commands exchange. */
export interface IntakeFuzzCase {
  /** Index in the run (the seed and this replay the case). */
  n: number;
  /** The mutation class, for the summary and the failure message. */
  kind: string;
  /** The command type or contract it was made from. */
  base: string;
  routingKey: string;
  body: Buffer;
  /** `amqp`: published on the commands exchange; `http`: posted to the bus intake, signed with X-Signature. */
  transport: 'amqp' | 'http';
  /** `sign`: the routing key's channel signs the exact body. Otherwise the headers as given (odd types included). */
  headers: 'sign' | Record<string, unknown>;
  /** Extra signed headers (odd AMQP headers that ride along a good signature). */
  extraHeaders?: Record<string, unknown>;
  /** AMQP properties: `null` leaves one out. */
  contentType?: string | null;
  contentEncoding?: string;
  expect: FuzzExpectation;
}

/** Command types whose amount may be 0 (they move no money, or the card may be issued empty). */
const ZERO_AMOUNT_OK = new Set<CommandType>([
  'validate',
  'revalidate',
  'cancel',
  'tokenize',
  'balance_inquiry',
  'issue',
  'activate',
  'deactivate',
  'merge_balance',
]);

/** Numbers as JSON text, each refused as an amount (not an integer, not carried exactly, out of range). */
const BAD_NUMBER_TEXT = ['1e308', '9007199254740993', '1e400', '-1e400', '-1', '0.5', '1e-7', '99999999999999999999999', '1999.5', '-9007199254740993'];
/** Strings that look like numbers (NaN-like): never an amount. */
const NUMBERISH_STRINGS = ['NaN', 'Infinity', '-Infinity', '1e3', '0x10', '1999', '', ' 1999', '1_999'];
/** Odd characters a string field may hold; the escaped lone surrogates are written into the JSON text. */
const ODD_TEXT = ['\u0000', '\ufeff', '\u202e', '\u200b', '😀👍🏽', 'e\u0301', '\u2028', '"\\', '${jndi:x}', '%s%n', '<script>'];

/** The required, typed fields of each base: a wrong type or a missing one is always refused. */
const CANONICAL_REQUIRED = [
  'version',
  'command',
  'channel',
  'received_at',
  'payment',
  'payment.gateway',
  'payment.gateway_account',
  'payment.gateway_key',
  'payment.amount',
  'payment.currency',
];
const CONTRACT_REQUIRED: Record<string, { required: string[]; amount: string; structured: string[]; freeText: string[]; object: string }> = {
  'web.order_created.v1': {
    required: [
      'event_id',
      'occurred_at',
      'order',
      'order.order_id',
      'order.currency',
      'order.total_amount',
      'payment_method',
      'payment_method.gateway',
      'payment_method.gateway_account',
      'payment_method.token',
    ],
    amount: 'order.total_amount',
    structured: ['event_id', 'order.order_id', 'payment_method.token', 'order.customer.customer_id', 'order.lines.0.sku'],
    freeText: ['order.note', 'order.gift_message', 'order.custom_attributes.remark', 'order.lines.0.name'],
    object: 'order',
  },
  'web.payment_intent.v1': {
    required: [
      'intent_id',
      'amount',
      'currency',
      'capture_method',
      'payment_method',
      'payment_method.gateway',
      'payment_method.gateway_account',
      'payment_method.token',
    ],
    amount: 'amount',
    structured: ['intent_id', 'order_id', 'payment_method.token', 'customer.customer_id'],
    freeText: ['description', 'metadata.cart_note'],
    object: 'payment_method',
  },
  'pos.sale.v1': {
    required: [
      'store_id',
      'terminal_id',
      'transaction_number',
      'occurred_at',
      'currency',
      'amount',
      'tender',
      'tender.gateway',
      'tender.gateway_account',
      'tender.token',
    ],
    amount: 'amount',
    structured: ['store_id', 'transaction_number', 'receipt_number', 'tender.token', 'lines.0.sku'],
    freeText: ['note', 'custom_attributes.remark', 'lines.0.name'],
    object: 'tender',
  },
  'marketplace.order.v1': {
    required: ['marketplace_order_id', 'occurred_at', 'currency', 'total_amount', 'marketplace_fee', 'payment_method', 'splits'],
    amount: 'total_amount',
    structured: ['marketplace_order_id', 'payment_method.token', 'splits.0.seller_id', 'splits.0.sub_merchant_account', 'lines.0.sku'],
    freeText: ['note', 'custom_attributes.remark', 'lines.0.name'],
    object: 'payment_method',
  },
};

/** Canonical fields where a card number is refused (structured, or unknown to the contract). */
const CANONICAL_STRUCTURED = [
  'payment.order_id',
  'payment.operation_reference',
  'payment.gateway_key',
  'payment.gateway_account',
  'payment.reference',
  'payment.description',
  'payment.metadata.note',
  'payment.method_details.card.holder_name',
  'payment.method_details.method',
  'payment.lines.0.item_sku',
  'sequence',
];
/** Canonical free-text fields: a card number there is masked and the command accepted. */
const CANONICAL_FREE_TEXT = ['payment.custom_attributes.note', 'payment.lines.0.item_name', 'payment.note', 'payment.gift_message'];

/** The bus's JSON-RPC call: the payment under `params`, the envelope's fields required. */
const BUS_REQUIRED = ['jsonrpc', 'method', 'params', ...CANONICAL_REQUIRED.filter((p) => p.startsWith('payment')).map((p) => `params.${p}`)];
/** The mutations that only an AMQP message can have. */
const AMQP_ONLY = new Set(['card number in an AMQP header or the routing key', 'odd content type or encoding', 'signature headers of the wrong type']);

/** The seeded generator. `run` makes every reference unique to this run. */
export class IntakeFuzzCases {
  private readonly random: () => number;
  private n = 0;

  constructor(
    seed: number,
    private readonly run: string,
  ) {
    this.random = seededRandom(seed);
  }

  /** A valid canonical command of `type` (unique reference and order), as the web channel publishes it. */
  canonical(type: CommandType): PaymentCommand & Obj {
    const id = this.nextId();
    const payment: Obj = {
      gateway: 'simulator',
      gateway_account: 'acme-eu',
      gateway_key: `auth_${id}`,
      amount: ZERO_AMOUNT_OK.has(type) && type !== 'issue' ? 0 : 1999,
      currency: 'EUR',
      order_id: `ORD-${id}`,
      operation_reference: `fz-${id}`,
      custom_attributes: { campaign: 'fuzz' },
      lines: [{ item_name: 'Blue mug', item_sku: 'MUG-1', quantity: 1, unit_price_gross: 1999 }],
    };
    if (type === 'tokenize') payment.method_details = { method: 'card', card: { brand: 'visa', last_four_digits: '4242' } };
    if (type === 'merge_balance') payment.stored_value = { source_gateway_key: `gc_src_${id}` };
    return { version: 1, command: type, channel: 'web', received_at: new Date().toISOString(), payment } as unknown as PaymentCommand & Obj;
  }

  /** A valid channel contract payload (on the simulator) and its routing key. */
  contract(name: string): { body: Obj; routingKey: string } {
    const [channel, event] = name.split('.');
    return { body: CONTRACT_EXAMPLES[name](this.nextId()) as Obj, routingKey: `${channel}.${event}` };
  }

  /** `count` cases, spread over every base and every mutation class. */
  cases(count: number): IntakeFuzzCase[] {
    const bases = [...COMMAND_TYPES, ...Object.keys(CONTRACT_EXAMPLES)];
    const out: IntakeFuzzCase[] = [];
    for (let i = 0; i < count; i += 1) out.push(this.next(bases[i % bases.length]));
    return out;
  }

  /**
   * `count` bus calls (JSON-RPC over HTTP) of the bus's commands (`methods`: command → method name), each
   * mutated once like the channel messages (the AMQP-only mutations aside), plus JSON-RPC id oddities.
   */
  busCases(count: number, methods: Readonly<Record<string, string>>): IntakeFuzzCase[] {
    const names = Object.keys(methods);
    const structured = CANONICAL_STRUCTURED.filter((p) => p !== 'sequence').map((p) => `params.${p}`);
    const freeText = CANONICAL_FREE_TEXT.map((p) => `params.${p}`);
    const out: IntakeFuzzCase[] = [];
    for (let i = 0; i < count; i += 1) {
      const type = names[i % names.length] as CommandType;
      const { payment } = this.canonical(type);
      const body: Obj = { jsonrpc: '2.0', id: `fz-${this.run}-${this.n}`, method: methods[type], params: { payment } as unknown as Obj };
      const mutations: Array<[string, (b: Obj, c: IntakeFuzzCase) => void]> = [
        ...this.sharedMutations(BUS_REQUIRED, 'params.payment.amount', 'params.payment', 'params.payment.custom_attributes', structured, freeText).filter(
          ([kind]) => !AMQP_ONLY.has(kind),
        ),
        [
          'odd JSON-RPC id',
          (b, c) => {
            const [text, refused] = this.pick<[string, boolean]>([
              ['1e400', true],
              ['9007199254740993', true],
              ['1.5', true],
              ['{}', true],
              ['[1]', true],
              ['true', true],
              [JSON.stringify(`id ${this.pan()}`), true],
              // Longer than a sequence holds (64): the sequence becomes a digest, which no card scan reads.
              [JSON.stringify(`${'i'.repeat(80)} ${this.pan()}`), true],
              // A 16-digit card number is a safe integer.
              [this.pick(TEST_PANS.filter((p) => p.length <= 16)), true],
              [JSON.stringify('i'.repeat(100_000)), false],
              ['-0', false],
              ['null', false],
            ]);
            c.body = Buffer.from(JSON.stringify(b).replace(/"id":"[^"]*"/, `"id":${text}`));
            c.expect = refused ? 'refuse' : 'either';
          },
        ],
        [
          'JSON-RPC batch',
          (b, c) => {
            c.body = Buffer.from(JSON.stringify([b, b]));
          },
        ],
      ];
      const [kind, mutate] = this.pick(mutations);
      const c: IntakeFuzzCase = {
        n: this.n,
        kind,
        base: `bus ${type}`,
        transport: 'http',
        routingKey: '',
        body: Buffer.alloc(0),
        headers: 'sign',
        expect: 'refuse',
      };
      mutate(body, c);
      out.push(c);
    }
    return out;
  }

  /** A test card number in one of its written forms. */
  pan(): string {
    return formatPan(this.pick(TEST_PANS), this.pick(PAN_STYLES));
  }

  private next(base: string): IntakeFuzzCase {
    const isContract = base in CONTRACT_EXAMPLES;
    const made = isContract ? this.contract(base) : { body: this.canonical(base as CommandType) as Obj, routingKey: `web.payment.${base}` };
    const mutations = isContract ? this.contractMutations(base) : this.canonicalMutations(base as CommandType);
    const [kind, mutate] = this.pick(mutations);
    const c: IntakeFuzzCase = {
      n: this.n,
      kind,
      base,
      transport: 'amqp',
      routingKey: made.routingKey,
      body: Buffer.alloc(0),
      headers: 'sign',
      expect: 'refuse',
    };
    mutate(made.body, c);
    return c;
  }

  /** The mutations of a canonical command of `type`; each sets the case's body (and expectation). */
  private canonicalMutations(type: CommandType): Array<[string, (b: Obj, c: IntakeFuzzCase) => void]> {
    const amountRefused = !ZERO_AMOUNT_OK.has(type);
    return [
      ...this.sharedMutations(CANONICAL_REQUIRED, 'payment.amount', 'payment', 'payment.custom_attributes', CANONICAL_STRUCTURED, CANONICAL_FREE_TEXT),
      [
        'amount: -0 or 0',
        (b, c) => {
          c.body = Buffer.from(JSON.stringify(b).replace(/"amount":\d+/, `"amount":${this.pick(['-0', '0', '0.0', '-0.0'])}`));
          c.expect = amountRefused ? 'refuse' : 'either';
        },
      ],
      [
        'extra property at the root',
        (b, c) => {
          own(
            b,
            this.pick(['extra', 'Payment', 'payment ', '__proto__', 'constructor', 'x'.repeat(this.pick([300, 5000]))]),
            this.pick<Json>([1, 'x', {}, null]),
          );
          c.body = Buffer.from(JSON.stringify(b));
        },
      ],
      [
        'huge property name at the root',
        (b, c) => {
          // Refused as not allowed: the field the refusal names is the name itself.
          b[this.oddString(this.pick([10_000, 150_000, 400_000]))] = 1;
          c.body = Buffer.from(JSON.stringify(b));
        },
      ],
      [
        'extra property in payment (allowed: the bus adds some)',
        (b, c) => {
          const payment = b.payment as Obj;
          own(
            payment,
            this.pick(['bus_note', 'x'.repeat(this.pick([200, 20_000])), '__proto__', 'toString', '\u202efield']),
            this.pick<Json>([1, 'x', { a: [1] }, null, true]),
          );
          c.body = Buffer.from(JSON.stringify(b));
          c.expect = 'either';
        },
      ],
      [
        'array where the method details object goes',
        (b, c) => {
          (b.payment as Obj).method_details = this.pick<Json>([[], ['card'], 'card', 7]);
          c.body = Buffer.from(JSON.stringify(b));
        },
      ],
      [
        'sequence of odd type or size',
        (b, c) => {
          const [text, refused] = this.pick<[string, boolean]>([
            ['-1', true],
            ['1.5', true],
            ['9007199254740993', true],
            ['"' + 's'.repeat(65) + '"', true],
            ['""', true],
            ['true', true],
            ['[1]', true],
            ['9007199254740991', false],
            ['"rpc-7"', false],
          ]);
          c.body = Buffer.from(JSON.stringify(b).replace('"channel":', `"sequence":${text},"channel":`));
          c.expect = refused ? 'refuse' : 'either';
        },
      ],
      [
        'operation reference out of its alphabet',
        (b, c) => {
          const ref = String((b.payment as Obj).operation_reference);
          (b.payment as Obj).operation_reference = this.pick([
            `${ref}:interactions`,
            '..',
            `${ref} x`,
            `${ref}/x`,
            `-${ref}`,
            `${ref}%2f`,
            'r'.repeat(129),
            `${ref}\u0000`,
          ]);
          c.body = Buffer.from(JSON.stringify(b));
        },
      ],
    ];
  }

  /** The mutations of a channel contract payload. */
  private contractMutations(name: string): Array<[string, (b: Obj, c: IntakeFuzzCase) => void]> {
    const spec = CONTRACT_REQUIRED[name];
    return [
      ...this.sharedMutations(spec.required, spec.amount, spec.object, spec.freeText[1] ?? spec.freeText[0], spec.structured, spec.freeText),
      [
        'contract name odd',
        (b, c) => {
          b.contract = this.pick<Json>([`${name}x`, name.toUpperCase(), name.replace('.v1', '.v2'), 7, null, [name], { name }, `${name}\u0000`]);
          c.body = Buffer.from(JSON.stringify(b));
        },
      ],
      [
        'amount: -0 or 0',
        (b, c) => {
          setPath(b, spec.amount, 0);
          c.body = Buffer.from(JSON.stringify(b).replace(`"${last(spec.amount)}":0`, `"${last(spec.amount)}":${this.pick(['-0', '0', '-0.0'])}`));
        },
      ],
      [
        'extra property in the payload',
        (b, c) => {
          own(b, this.pick(['extra', '__proto__', 'x'.repeat(this.pick([300, 20_000]))]), this.pick<Json>([1, 'x', {}, null]));
          c.body = Buffer.from(JSON.stringify(b));
          c.expect = 'either';
        },
      ],
    ];
  }

  /** Mutations every base shares, given its required fields, its amount, an object field, a free-text object. */
  private sharedMutations(
    required: string[],
    amountPath: string,
    objectPath: string,
    freeTextObject: string,
    structured: string[],
    freeText: string[],
  ): Array<[string, (b: Obj, c: IntakeFuzzCase) => void]> {
    const amountKey = last(amountPath);
    const numberText = (b: Obj, text: string) => {
      const before = JSON.stringify(b);
      const value = JSON.stringify(getPath(b, amountPath));
      return before.replace(`"${amountKey}":${value}`, `"${amountKey}":${text}`);
    };
    return [
      [
        'wrong type in a required field',
        (b, c) => {
          const path = this.pick(required);
          const current = getPath(b, path);
          const wrong: Json[] =
            typeof current === 'string'
              ? [42, true, null, [], {}, 1.5, [current]]
              : typeof current === 'number'
                ? [String(current), true, null, [], {}, [current]]
                : [String(JSON.stringify(current)).slice(0, 20), 1, null, true, [current ?? null]];
          setPath(b, path, this.pick(wrong));
          c.body = Buffer.from(JSON.stringify(b));
        },
      ],
      [
        'missing a required field',
        (b, c) => {
          deletePath(b, this.pick(required));
          c.body = Buffer.from(JSON.stringify(b));
        },
      ],
      [
        'amount not carried exactly or not an integer',
        (b, c) => {
          c.body = Buffer.from(numberText(b, this.pick(BAD_NUMBER_TEXT)));
        },
      ],
      [
        'amount as a NaN-like string',
        (b, c) => {
          setPath(b, amountPath, this.pick(NUMBERISH_STRINGS));
          c.body = Buffer.from(JSON.stringify(b));
        },
      ],
      [
        'nested deeper than the limit',
        (b, c) => {
          const levels = this.pick([33, 40, 200, 5000, 60_000]);
          const open = this.random() < 0.5 ? '[' : '{"a":';
          const close = open === '[' ? ']' : '}';
          setPath(b, freeTextObject, '@@deep@@');
          c.body = Buffer.from(JSON.stringify(b).replace('"@@deep@@"', `${open.repeat(levels)}1${close.repeat(levels)}`));
        },
      ],
      [
        'very long string in a structured field',
        (b, c) => {
          setPath(
            b,
            this.pick(required.filter((p) => typeof getPath(b, p) === 'string' && !['version', 'command', 'channel', 'contract'].includes(p))),
            this.oddString(this.pick([300, 70_000, 900_000])),
          );
          c.body = Buffer.from(JSON.stringify(b));
        },
      ],
      [
        'body above 1 MiB',
        (b, c) => {
          setPath(b, freeTextObject, 'gift '.repeat(220_000));
          c.body = Buffer.from(JSON.stringify(b));
        },
      ],
      [
        'long free text',
        (b, c) => {
          setPath(b, this.pick(freeText), this.oddString(this.pick([256, 4000, 60_000])));
          c.body = Buffer.from(JSON.stringify(b));
          c.expect = 'either';
        },
      ],
      [
        'lone surrogate (escaped) in a string',
        (b, c) => {
          setPath(b, this.pick([...structured, ...freeText]), '@@sur@@');
          c.body = Buffer.from(JSON.stringify(b).replace('@@sur@@', `ab${this.pick(['\\ud800', '\\udfff', '\\udbff\\u0041', 'x\\ud83d'])}cd`));
        },
      ],
      [
        'lone surrogate (escaped) in a property name',
        (b, c) => {
          setPath(b, freeTextObject, { '@@sur@@': 'x' });
          c.body = Buffer.from(JSON.stringify(b).replace('@@sur@@', '\\udc00k'));
        },
      ],
      [
        'odd unicode in a string',
        (b, c) => {
          const path = this.pick([...structured, ...freeText]);
          setPath(b, path, `a${this.pick(ODD_TEXT)}b`);
          c.body = Buffer.from(JSON.stringify(b));
          c.expect = 'either';
        },
      ],
      [
        'byte order mark before the body',
        (b, c) => {
          c.body = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(b))]);
        },
      ],
      [
        'bytes that are not UTF-8',
        (b, c) => {
          const text = JSON.stringify(b);
          const at = text.indexOf('"', text.indexOf(':') + 1) + 1;
          c.body = Buffer.concat([
            Buffer.from(text.slice(0, at)),
            Buffer.from(this.pick([[0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80]])),
            Buffer.from(text.slice(at)),
          ]);
        },
      ],
      [
        'repeated member name',
        (b, c) => {
          const path = this.pick(required.filter((p) => p.includes('.') || p === amountPath));
          const parent = path.includes('.') ? path.slice(0, path.lastIndexOf('.')) : '';
          const key = last(path);
          const holder = parent ? getPath(b, parent) : b;
          if (holder === null || typeof holder !== 'object' || Array.isArray(holder)) {
            b['@@dup@@'] = 1;
            c.body = Buffer.from(JSON.stringify(b).replace('"@@dup@@"', `"${Object.keys(b)[0]}"`));
            return;
          }
          (holder as Obj)['@@dup@@'] = (holder as Obj)[key] ?? 1;
          c.body = Buffer.from(JSON.stringify(b).replace('"@@dup@@"', `"${key}"`));
        },
      ],
      [
        'array where an object goes',
        (b, c) => {
          if (this.random() < 0.3) {
            c.body = Buffer.from(JSON.stringify([b]));
            return;
          }
          setPath(b, objectPath, [getPath(b, objectPath) ?? null]);
          c.body = Buffer.from(JSON.stringify(b));
        },
      ],
      [
        'not an object at all',
        (_b, c) => {
          c.body = Buffer.from(this.pick(['', 'null', '1', '"x"', 'true', '[]', '{}', ' ', '{"version":1', '\u0000', '{"a":1}{"b":2}']));
        },
      ],
      [
        'card number in a structured field',
        (b, c) => {
          const pan = this.pan();
          setPath(b, this.pick(structured), this.pick([pan, `ref ${pan}`, `${pan}-x`]));
          c.body = Buffer.from(JSON.stringify(b));
        },
      ],
      [
        'card number hidden by JSON escapes',
        (b, c) => {
          const pan = this.pick(TEST_PANS);
          setPath(b, this.pick(structured), '@@pan@@');
          const escaped = [...pan].map((d) => `\\u00${d.charCodeAt(0).toString(16)}`).join('');
          c.body = Buffer.from(JSON.stringify(b).replace('@@pan@@', escaped));
        },
      ],
      [
        'card number as a property name',
        (b, c) => {
          const pan = this.pan();
          // The bus's JSON-RPC envelope ignores members it does not know (JSON-RPC 2.0): only the payment's are the command's.
          const holder = this.pick([freeTextObject, objectPath, ...(objectPath.startsWith('params.') ? [] : [''])]);
          const target = holder ? getPath(b, holder) : b;
          if (target !== null && typeof target === 'object' && !Array.isArray(target)) (target as Obj)[this.pick([pan, `note ${pan}`])] = 'x';
          else b[pan] = 'x';
          c.body = Buffer.from(JSON.stringify(b));
        },
      ],
      [
        'card number as a JSON number',
        (b, c) => {
          const digits = this.pick(TEST_PANS);
          setPath(b, this.pick(freeText), '@@num@@');
          // 16 digits are exact (masked in free text), 19 are not (refused).
          const text = this.random() < 0.5 ? digits : `${digits}${'0'.repeat(19 - digits.length)}`;
          c.body = Buffer.from(JSON.stringify(b).replace('"@@num@@"', text));
          c.expect = text.length > 16 ? 'refuse' : 'either';
        },
      ],
      [
        'card number in free text (masked)',
        (b, c) => {
          setPath(b, this.pick(freeText), `call me, card ${this.pan()} thanks`);
          c.body = Buffer.from(JSON.stringify(b));
          c.expect = 'either';
        },
      ],
      [
        'card number in an AMQP header or the routing key',
        (b, c) => {
          c.body = Buffer.from(JSON.stringify(b));
          if (this.random() < 0.5) c.extraHeaders = { [this.pick(['x-note', 'x-customer', 'x-pb-reason', 'x-pb-field'])]: `card ${this.pan()}` };
          else c.routingKey = `${c.routingKey}.${this.pick(TEST_PANS)}`;
          c.expect = 'either';
        },
      ],
      [
        'odd content type or encoding',
        (b, c) => {
          c.body = Buffer.from(JSON.stringify(b));
          c.contentType = this.pick([null, 'text/plain', 'application/xml', '', 'application/json; charset=latin1']);
          if (this.random() < 0.3) c.contentEncoding = this.pick(['gzip', 'base64', 'x-garbage']);
          c.expect = 'either';
        },
      ],
      [
        'signature headers of the wrong type',
        (b, c) => {
          c.body = Buffer.from(JSON.stringify(b));
          c.headers = this.pick<Record<string, unknown>>([
            { 'x-pb-key-id': 7, 'x-pb-signature': 12 },
            { 'x-pb-key-id': 'web-test-2', 'x-pb-signature': ['sha256=00'] },
            { 'x-pb-key-id': { id: 'web-test-2' }, 'x-pb-signature': true },
            { 'x-pb-key-id': 'web-test-2', 'x-pb-signature': Buffer.alloc(40, 1) },
            { 'x-pb-key-id': 'web-test-2', 'x-pb-signature': `sha256=${'g'.repeat(64)}` },
            { 'x-pb-key-id': 'web-test-2', 'x-pb-signature': `sha256=${'0'.repeat(6000)}` },
            { 'x-pb-key-id': 'k'.repeat(3000), 'x-pb-signature': 'sha256=' },
            { 'x-pb-key-id': null, 'x-pb-signature': null },
            {},
          ]);
        },
      ],
    ];
  }

  private nextId(): string {
    this.n += 1;
    return `${this.run}-${this.n}`;
  }

  /** Random letters and odd characters; a long one repeats a random chunk (cheap, and just as odd). */
  private oddString(length: number): string {
    const parts: string[] = [];
    let size = 0;
    while (size < Math.min(length, 512)) {
      const piece = this.random() < 0.2 ? this.pick(ODD_TEXT) : String.fromCharCode(97 + Math.floor(this.random() * 26));
      parts.push(piece);
      size += piece.length;
    }
    const chunk = parts.join('');
    return chunk.repeat(Math.ceil(length / chunk.length)).slice(0, length);
  }

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)];
  }
}

/** Sets an own property, `__proto__` included (an assignment would set the prototype instead). */
function own(obj: Obj, key: string, value: Json): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

function last(path: string): string {
  return path.slice(path.lastIndexOf('.') + 1);
}

function getPath(root: Json, path: string): Json | undefined {
  let v: Json | undefined = root;
  for (const part of path.split('.')) {
    if (v === null || typeof v !== 'object') return undefined;
    v = Array.isArray(v) ? v[Number(part)] : v[part];
  }
  return v;
}

/** Sets `path` (dotted, numbers index arrays), creating objects on the way. */
function setPath(root: Obj, path: string, value: Json): void {
  const parts = path.split('.');
  let v: Json = root;
  for (const part of parts.slice(0, -1)) {
    const holder = v as Obj;
    if (holder[part] === null || typeof holder[part] !== 'object') holder[part] = /^\d+$/.test(part) ? [] : {};
    v = holder[part];
  }
  (v as Obj)[parts[parts.length - 1]] = value;
}

function deletePath(root: Obj, path: string): void {
  const parts = path.split('.');
  const parent = getPath(root, parts.slice(0, -1).join('.')) ?? (parts.length === 1 ? root : undefined);
  const holder = parts.length === 1 ? root : parent;
  if (holder !== null && typeof holder === 'object' && !Array.isArray(holder)) delete holder[parts[parts.length - 1]];
}
