import { amountBoundWhy } from '../money/bus-amount-text';
import type { RoutingConfig, RoutingCondition, RoutingRule } from '../config/routing-config';
import { amountBoundMiss } from '../money/amount-bounds';
import type { Channel, CommandType, Payment } from '../contracts/payment-command';
import type { RuleEvaluation } from '../ledger/routing-record';
import { MerchantAgreements } from './merchant-agreements';

/** What routing rules look at: the command's type, channel and payment. */
export interface RoutingFacts {
  command: CommandType;
  channel: Channel;
  payment: Payment;
}

/** The order's facts as rules see them (country and method normalised). */
interface Facts extends RoutingFacts {
  country: string | undefined;
  method: string | undefined;
}

/**
 * The routing decision table: the first rule whose conditions all hold gives the candidates; without one,
 * the command's own gateway. Candidates the merchant has no usable agreement with are dropped (and said
 * why). Pure and synchronous: the fast path runs it.
 */
export interface RoutingTableResult {
  /** Candidates left after agreements, in order. Empty: no route (see `dropped`). */
  candidates: string[];
  /** The matching rule's name; undefined: the default (`payment.gateway`). */
  rule: string | undefined;
  evaluated: RuleEvaluation[];
  /** Candidates removed, each with why (`agreement_suspended:adyen`). */
  dropped: string[];
}

export class RoutingTable {
  private readonly agreements: MerchantAgreements;

  constructor(private readonly config: RoutingConfig) {
    this.agreements = new MerchantAgreements(config.agreements);
  }

  /** Whether anything is configured: rules or agreements. When not, routing is `payment.gateway`, unrecorded. */
  get active(): boolean {
    return this.config.rules.length > 0 || !this.agreements.empty;
  }

  /** The order's country from the configured custom attributes, upper case. */
  countryOf(payment: Payment): string | undefined {
    for (const name of this.config.countryAttributes) {
      const value = customAttribute(payment, name);
      if (value !== undefined) return value.toUpperCase();
    }
    return undefined;
  }

  /** Decides the candidates for a command at `now` (epoch ms). */
  decide(input: RoutingFacts, now: number): RoutingTableResult {
    const facts: Facts = { ...input, country: this.countryOf(input.payment), method: input.payment.method_details?.method?.toLowerCase() };
    const evaluated: RuleEvaluation[] = [];
    let chosen: RoutingRule | undefined;
    for (const rule of this.config.rules) {
      const miss = this.mismatch(rule.when, facts, now);
      evaluated.push(miss === null ? { rule: rule.name, matched: true } : { rule: rule.name, matched: false, ...miss });
      if (miss === null) {
        chosen = rule;
        break;
      }
    }
    const wanted = chosen ? [...chosen.gateways] : [input.payment.gateway];
    const candidates: string[] = [];
    const dropped: string[] = [];
    for (const gateway of wanted) {
      const { ok, status } = this.agreements.usable(input.payment.gateway_account, gateway, now, this.config.requireAgreement);
      if (ok) candidates.push(gateway);
      else dropped.push(`agreement_${status}:${gateway}`);
    }
    return { candidates, rule: chosen?.name, evaluated, dropped };
  }

  /** The first condition of `when` that `facts` break, in words (and the amount bound, when it was one); null when all hold. */
  private mismatch(when: RoutingCondition, f: Facts, now: number): Pick<RuleEvaluation, 'why' | 'bound'> | null {
    const why = this.firstBroken(when, f, now);
    return typeof why === 'string' ? { why } : why;
  }

  private firstBroken(when: RoutingCondition, f: Facts, now: number): string | Pick<RuleEvaluation, 'why' | 'bound'> | null {
    const p = f.payment;
    if (when.commands.length > 0 && !when.commands.includes(f.command)) return `command ${f.command} not in [${when.commands.join(',')}]`;
    if (when.currencies.length > 0 && !when.currencies.includes(p.currency)) return `currency ${p.currency} not in [${when.currencies.join(',')}]`;
    const miss = amountBoundMiss(when, p.amount, p.currency);
    if (miss !== null)
      return {
        why:
          miss.limit === null
            ? `amount bounds name no ${p.currency} bound`
            : amountBoundWhy(p.amount, miss.bound === 'min_amount' ? '<' : '>', miss.key, miss.limit),
        bound: miss.key,
      };
    if (when.channels.length > 0 && !when.channels.includes(f.channel)) return `channel ${f.channel} not in [${when.channels.join(',')}]`;
    if (when.countries.length > 0 && (f.country === undefined || !when.countries.includes(f.country)))
      return `country ${f.country ?? '(none)'} not in [${when.countries.join(',')}]`;
    if (when.methods.length > 0 && (f.method === undefined || !when.methods.includes(f.method)))
      return `method ${f.method ?? '(none)'} not in [${when.methods.join(',')}]`;
    if (when.merchants.length > 0 && !when.merchants.includes(p.gateway_account)) return `merchant not in the rule's merchants`;
    if (when.gateways.length > 0 && !when.gateways.includes(p.gateway)) return `gateway ${p.gateway} not in [${when.gateways.join(',')}]`;
    if (when.agreementStatus.length > 0) {
      const gateway = when.agreementGateway ?? p.gateway;
      const status = this.agreements.statusAt(p.gateway_account, gateway, now);
      if (!when.agreementStatus.includes(status)) return `agreement with ${gateway} is ${status}, not in [${when.agreementStatus.join(',')}]`;
    }
    return null;
  }
}

/** A string custom attribute, from the map form or the `[{name, value}]` / `[{key: value}]` list forms. */
function customAttribute(payment: Payment, name: string): string | undefined {
  const attrs = payment.custom_attributes;
  if (attrs === undefined) return undefined;
  const entries = Array.isArray(attrs) ? attrs : [attrs];
  for (const entry of entries) {
    const direct = entry[name];
    if (typeof direct === 'string' && direct.length > 0) return direct;
    const value = entry.value;
    if ((entry.name === name || entry.key === name) && typeof value === 'string' && value.length > 0) return value;
  }
  return undefined;
}
