import type { Payment } from '../contracts/payment-command';
import { BoundMethodField, pspBoundMethodField, wantsStoredToken } from '../contracts/payment-method';
import type { GatewayConfig } from '../gateways/gateway-config';
import { gatewayDefinition } from '../gateways/gateway-registry';
import { VaultGroup, gatewayVaults } from '../gateways/gateway-vaults';

/**
 * Where an authorization's method data may go. A stored card's token (`gateway_key`) lives in the vault of
 * the PSP account that stored it, and client-side data (`payment_method.token`) is encrypted for one PSP
 * account's key (docs/PAYMENT-METHODS.md, "Method data and routing"): at another PSP it is at best a
 * useless declined call, at worst a token handed to a party it was not issued to. So routing rules and
 * failover only move such a command between gateway entries that are the same vault.
 *
 * The binding unit is the configured gateway entry the command names (`payment.gateway`: the OMS got the
 * data for it), widened to the entries of its vault (src/gateways/gateway-vaults.ts): the same `type` and
 * equal values of the keys the gateway declares as naming its account and API credential
 * (`GatewayDefinition.methodBinding.vaultKeys`; e.g. two Stripe entries with one key, differing only in
 * timeouts or settings), or the same `vault` name the operator declares on them. Entries that may share a
 * vault at the PSP without the configuration showing it (another key of the same account, an Adyen
 * company's other merchant account) are kept apart unless declared: a wrong "same" would leak, a wrong
 * "different" only loses a failover.
 *
 * Data is portable when neither the named gateway nor the candidate reads anything bound in it (Klarna,
 * crypto; the simulator's own test methods): each side's definition says (`methodBinding.boundField`).
 * An object of the named account that the command refers to (a Stripe Customer, `stripe_customer`) binds at
 * a candidate that would send it (`methodBinding.boundReference`), and at any candidate when the command
 * saves its method to it (`payment_method.store`): saved anywhere else, it is not where the OMS asked.
 */
export class MethodBinding {
  /** Per configured gateway name: its vault (an opaque id: the key values may be secrets). */
  private readonly vaults: ReadonlyMap<string, string>;
  /** The vaults, for the start-up line and metric. */
  readonly groups: readonly VaultGroup[];

  constructor(private readonly gateways: Readonly<Record<string, GatewayConfig>>) {
    const vaults = gatewayVaults(gateways);
    this.vaults = vaults.vaultOf;
    this.groups = vaults.groups;
  }

  /**
   * Why `candidate` cannot take the method data of `payment`: the field holding data bound to another vault,
   * or null when it can (the named gateway itself, an entry of its vault, or portable data).
   */
  unusableAt(payment: Payment, candidate: string): BoundMethodField | null {
    const named = payment.gateway;
    if (candidate === named) return null;
    const vault = this.vaults.get(named);
    if (vault !== undefined && vault === this.vaults.get(candidate)) return null;
    return (
      this.boundField(named, payment) ??
      this.boundField(candidate, payment) ??
      this.boundReference(candidate, payment) ??
      (wantsStoredToken(payment) ? this.boundReference(named, payment) : null)
    );
  }

  /**
   * `candidates` split into those that can take the payment's method data and those that cannot, each of
   * the latter as a reason (`method_bound:<gateway>`), with the field that kept the first one out.
   */
  filter(payment: Payment, candidates: readonly string[]): { usable: string[]; dropped: string[]; field?: BoundMethodField } {
    const usable: string[] = [];
    const dropped: string[] = [];
    let field: BoundMethodField | undefined;
    for (const candidate of candidates) {
      const bound = this.unusableAt(payment, candidate);
      if (bound === null) usable.push(candidate);
      else {
        dropped.push(`${METHOD_BOUND}:${candidate}`);
        field ??= bound;
      }
    }
    return field === undefined ? { usable, dropped } : { usable, dropped, field };
  }

  /** What `gateway` would read as bound in `payment`; a gateway we lack counts as a real PSP (its type is unknown). */
  private boundField(gateway: string, payment: Payment): BoundMethodField | null {
    const configured = this.gateways[gateway];
    const own = configured ? gatewayDefinition(configured.type).methodBinding.boundField : undefined;
    return (own ?? pspBoundMethodField)(payment);
  }

  /** The account object of `payment` that `gateway` would send (a Stripe Customer); none for a gateway we lack. */
  private boundReference(gateway: string, payment: Payment): BoundMethodField | null {
    const configured = this.gateways[gateway];
    return configured ? (gatewayDefinition(configured.type).methodBinding.boundReference?.(payment) ?? null) : null;
  }
}

/** The reason a candidate is dropped for (`method_bound:<gateway>`, beside `agreement_<status>:<gateway>`). */
export const METHOD_BOUND = 'method_bound';
