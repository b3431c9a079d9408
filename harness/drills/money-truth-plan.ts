import { Channel, CommandType } from '../../src/contracts/payment-command';
import { seededRandom } from '../workload/payment-scenarios';

/** The command that opens a payment: an authorization (captured later) or a sale (captured at once). */
export type LeadCommand = 'authorize' | 'sale';
/** The commands that act on the lead afterwards. */
export type FollowCommand = 'capture' | 'refund' | 'cancel';

/** One command of a planned payment. Index 0 is the lead; the others name it by `gateway_key`. */
export interface PlannedCommand {
  command: LeadCommand | FollowCommand;
  channel: Channel;
  /** Minor units of the payment's currency: the lead's amount, a part of it, all of it or more than it. */
  amount: number;
  /**
   * How a follow-up names the lead: by our operation id (sent without waiting for the lead's outcome: the bridge
   * waits for it), or by the PSP reference the lead's report carried (sent once the lead is reported; when it
   * carried none, the command is not sent).
   */
  key: 'operation' | 'reference';
  /**
   * When a follow-up may go, as to the lead: once the bridge accepted it (`accepted`: a capture may then overtake
   * its authorization on the priority lane, reach the PSP first and fail `not_found`), once the bridge has it on
   * record (`recorded`: it waits for the authorization in flight), or once the lead is reported (`reported`, always
   * so for a PSP reference).
   */
  lead: 'accepted' | 'recorded' | 'reported';
  /** Sent once this earlier command of the payment is reported (any outcome), besides `lead`. */
  after?: number;
  /** Milliseconds to wait before sending, after what it waits for. */
  delayMs: number;
  /** Sent a second time with the same operation id and body: at once (`together`) or after its report (`late`). */
  duplicate?: 'together' | 'late';
}

/** A payment's planned life: its order, money, payment method and commands. */
export interface PlannedPayment {
  index: number;
  orderId: string;
  currency: string;
  gatewayAccount: string;
  /** The simulator's payment method the lead is made with (`psp-simulator.ts` lists what each does). */
  paymentMethod: string;
  /** A 3-D Secure method: what the customer answers the challenge with. */
  challenge?: 'authenticated' | 'failed';
  commands: PlannedCommand[];
}

/** The operation id of a payment's command `i` (the workload's shape: `<order>-<n>-<command>`). */
export function operationIdOf(payment: PlannedPayment, i: number): string {
  return `${payment.orderId}-${i + 1}-${payment.commands[i].command}`;
}

/**
 * Payment methods and their weights: mostly cards that pass, then the simulator's declines, asynchronous
 * methods (settled by webhook, one of them declined), 3-D Secure (a challenge the drill answers) and a
 * partial approval (the PSP holds half of what was asked).
 */
const METHODS: readonly (readonly [string, number])[] = [
  ['pm_card_visa', 48],
  ['pm_card_declined', 6],
  ['pm_insufficient_funds', 4],
  ['pm_async', 12],
  ['pm_async_declined', 4],
  ['pm_card_3ds', 12],
  ['pm_card_partial_half', 14],
];

const CURRENCIES = ['EUR', 'USD', 'GBP', 'JPY', 'KWD'] as const;
const ACCOUNTS = ['acme-eu', 'acme-us', 'acme-marketplace'] as const;

/**
 * `count` payments from `seed` (the same seed, the same plan): a fifth are sales (POS) followed by refunds and
 * now and then a cancel or a capture; the rest authorizations (web or marketplace) followed by one to five of:
 * captures (partial, full or above what is held, so that several sum to more than the authorization), refunds
 * (partial, full or too much; often before any capture settled) and cancels racing them. A follow-up names the
 * authorization by our operation id or by its PSP reference (after its report), goes once the lead is accepted, on
 * record or reported, waits for an earlier command or not, and is sometimes sent twice under one operation id. Amounts are whole minor units.
 */
export function planPayments(count: number, options: { seed: number; runId: string }): PlannedPayment[] {
  const random = seededRandom(options.seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
  const weighted = <T>(items: readonly (readonly [T, number])[]): T => {
    let r = random() * items.reduce((sum, [, w]) => sum + w, 0);
    for (const [item, w] of items) {
      r -= w;
      if (r < 0) return item;
    }
    return items[items.length - 1][0];
  };
  const payments: PlannedPayment[] = [];
  for (let index = 0; index < count; index += 1) {
    const lead: LeadCommand = random() < 0.2 ? 'sale' : 'authorize';
    const amount = 100 + Math.floor(random() * 99_900);
    const paymentMethod = weighted(METHODS);
    const commands: PlannedCommand[] = [
      {
        command: lead,
        channel: lead === 'sale' ? 'pos' : random() < 0.7 ? 'web' : 'marketplace',
        amount,
        key: 'operation',
        lead: 'accepted',
        delayMs: 0,
        ...(random() < 0.05 ? { duplicate: 'together' as const } : {}),
      },
    ];
    const follows = lead === 'sale' ? Math.floor(random() * 4) : 1 + Math.floor(random() * 5);
    for (let f = 0; f < follows; f += 1) {
      const command: FollowCommand =
        lead === 'sale'
          ? weighted<FollowCommand>([
              ['refund', 80],
              ['cancel', 10],
              ['capture', 10],
            ])
          : weighted<FollowCommand>([
              ['capture', 50],
              ['refund', 35],
              ['cancel', 15],
            ]);
      const earlier = commands.map((c, i) => ({ c, i })).filter(({ i }) => i > 0);
      const captures = earlier.filter(({ c }) => c.command === 'capture');
      // Refunds mostly after a capture's report (a refund of captured money), cancels half the time after another
      // command's; the rest race the captures.
      const waits = command === 'refund' ? 0.7 : command === 'cancel' ? 0.5 : 0.15;
      const after = random() < waits && earlier.length > 0 ? (command === 'refund' && captures.length > 0 ? pick(captures).i : pick(earlier).i) : undefined;
      const duplicate = random() < 0.1 ? (random() < 0.6 ? 'together' : 'late') : undefined;
      const key = random() < 0.2 ? 'reference' : 'operation';
      const when = random();
      commands.push({
        command,
        channel: 'bus',
        // A refund after a capture refunds a part of that capture (or all, or more); else of the lead.
        amount: command === 'cancel' ? amount : partOf(command === 'refund' && after !== undefined ? commands[after].amount : amount, random),
        key,
        lead: key === 'reference' || when >= 0.65 ? 'reported' : when >= 0.15 ? 'recorded' : 'accepted',
        ...(after !== undefined ? { after } : {}),
        delayMs: Math.floor(random() * random() * 400),
        ...(duplicate ? { duplicate } : {}),
      });
    }
    payments.push({
      index,
      orderId: `ORD-${options.runId}-${index + 1}`,
      currency: pick(CURRENCIES),
      gatewayAccount: pick(ACCOUNTS),
      paymentMethod,
      ...(paymentMethod === 'pm_card_3ds' ? { challenge: random() < 0.75 ? ('authenticated' as const) : ('failed' as const) } : {}),
      commands,
    });
  }
  return payments;
}

/** A capture's or refund's amount: a part of `amount` (most), all of it, or more than it. */
function partOf(amount: number, random: () => number): number {
  const r = random();
  if (r < 0.55) return Math.max(1, Math.floor(amount * (0.1 + 0.6 * random())));
  if (r < 0.8) return amount;
  return amount + 1 + Math.floor(random() * amount * 0.3);
}

/** Commands a plan holds (each counted once; duplicates are not commands). */
export function plannedCommandCount(payments: readonly PlannedPayment[]): number {
  return payments.reduce((sum, p) => sum + p.commands.length, 0);
}

/** The command types of a plan, for reports. */
export const PLANNED_COMMANDS: readonly CommandType[] = ['authorize', 'sale', 'capture', 'refund', 'cancel'];
