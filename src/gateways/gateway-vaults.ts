import { createHash } from 'node:crypto';
import { GatewayConfig, settingKey } from './gateway-config';
import { GatewayType, gatewayDefinition } from './gateway-registry';

/**
 * Which configured gateway entries are one vault: one PSP account's store of the method data it issued
 * (stored cards, customers; src/routing/method-binding.ts). Two ways to be one:
 *
 * - the configuration shows it: the same `type` and equal values of the keys the type declares as naming
 *   its account and API credential (`GatewayDefinition.methodBinding.vaultKeys`);
 * - the operator declares it: the same `vault` name on entries of one type (`gateways.<name>.vault`), for
 *   what the configuration cannot show (another API key of the same Stripe account, an Adyen company's other
 *   merchant account with token sharing). An entry that declares none is in the vault an entry with its
 *   account and key declares.
 *
 * Declarations only join: entries the configuration shows as one are never split by them (a contradicting
 * declaration is refused at start, {@link vaultDeclarationProblems}).
 */

/** One vault: the entries that may use each other's method data. */
export interface VaultGroup {
  /** The declared `vault` name, or (shown by the configuration) its first entry's name. */
  readonly name: string;
  /** `declared`: an operator's `vault`; `configuration`: equal account and key values (or a lone entry). */
  readonly source: 'declared' | 'configuration';
  readonly type: GatewayType;
  /** Entry names, in configuration order. */
  readonly gateways: readonly string[];
}

/** Every configured entry's vault. */
export interface GatewayVaults {
  /** Per entry name: an opaque vault id (equal ids: one vault). Holds no key value (they may be secrets). */
  readonly vaultOf: ReadonlyMap<string, string>;
  /** The vaults, in the order of their first entry. */
  readonly groups: readonly VaultGroup[];
}

/** `[key, problem]`, as the configuration's cross-field rules report them. */
export type VaultProblem = [key: string, problem: string];

/** Per entry: a digest of its type and vault key values (the configuration's own vault identity). */
function derivedVaults(gateways: Readonly<Record<string, GatewayConfig>>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, gateway] of Object.entries(gateways)) {
    const keys = gatewayDefinition(gateway.type).methodBinding.vaultKeys;
    const digest = createHash('sha256');
    for (const part of [gateway.type, ...keys.map((key) => gateway[key])]) digest.update(`${part.length}:${part}`);
    out.set(name, digest.digest('hex'));
  }
  return out;
}

/** Per configuration-shown vault: the distinct names its entries declare. */
function declaredPerDerived(gateways: Readonly<Record<string, GatewayConfig>>, derived: ReadonlyMap<string, string>): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const [name, gateway] of Object.entries(gateways)) {
    const id = derived.get(name) as string;
    const names = out.get(id) ?? new Set<string>();
    if (gateway.vault !== undefined) names.add(gateway.vault);
    out.set(id, names);
  }
  return out;
}

/** Every configured entry's vault (see the module comment). */
export function gatewayVaults(gateways: Readonly<Record<string, GatewayConfig>>): GatewayVaults {
  const derived = derivedVaults(gateways);
  const declared = declaredPerDerived(gateways, derived);
  const vaultOf = new Map<string, string>();
  const groups = new Map<string, { name: string; source: VaultGroup['source']; type: GatewayType; gateways: string[] }>();
  for (const [name, gateway] of Object.entries(gateways)) {
    const id = derived.get(name) as string;
    const siblings = declared.get(id) as Set<string>;
    // Its own declaration, else its account-and-key siblings' one (when they agree: a contradiction is refused
    // at start, and here keeps the entries apart, which only loses a failover).
    const vault = gateway.vault ?? (siblings.size === 1 ? [...siblings][0] : undefined);
    // The type is part of the id: a name declared on two PSPs' entries never makes one vault of them.
    const key = vault !== undefined ? `declared\u0000${gateway.type}\u0000${vault}` : `derived\u0000${id}`;
    vaultOf.set(name, key);
    const group = groups.get(key);
    if (group) group.gateways.push(name);
    else groups.set(key, { name: vault ?? name, source: vault !== undefined ? 'declared' : 'configuration', type: gateway.type, gateways: [name] });
  }
  return { vaultOf, groups: [...groups.values()] };
}

/**
 * What is wrong with the `vault` declarations, `[key, problem]`: `errors` stop the start (a name declared on
 * entries of two types; entries the configuration shows as one vault declaring different names),
 * `warnings` are said at start (a declared vault no other entry is in: it shares nothing, a misspelling?).
 */
export function vaultDeclarationProblems(gateways: Readonly<Record<string, GatewayConfig>>): { errors: VaultProblem[]; warnings: VaultProblem[] } {
  const errors: VaultProblem[] = [];
  const firstOfName = new Map<string, GatewayConfig>();
  const firstOfDerived = new Map<string, GatewayConfig>();
  const derived = derivedVaults(gateways);
  for (const [name, gateway] of Object.entries(gateways)) {
    if (gateway.vault === undefined) continue;
    const first = firstOfName.get(gateway.vault);
    if (first === undefined) firstOfName.set(gateway.vault, gateway);
    else if (first.type !== gateway.type) {
      errors.push([
        `gateways.${name}.vault`,
        `('${gateway.vault}') is also declared by gateway ${first.name} of type ${first.type}: a vault is one PSP's, so its entries are of one type (this one is ${gateway.type})`,
      ]);
    }
    const id = derived.get(name) as string;
    const sibling = firstOfDerived.get(id);
    if (sibling === undefined) firstOfDerived.set(id, gateway);
    else if (sibling.vault !== gateway.vault) {
      const keys = gatewayDefinition(gateway.type).methodBinding.vaultKeys.map((k) => (k === 'baseUrl' ? 'base_url' : settingKey(k)));
      errors.push([
        `gateways.${name}.vault`,
        `('${gateway.vault}') differs from the vault gateway ${sibling.name} declares ('${sibling.vault}'), though both have the same ${keys.join(' and ')}: they are one vault; declare one name on both`,
      ]);
    }
  }
  const warnings: VaultProblem[] = gatewayVaults(gateways)
    .groups.filter((g) => g.source === 'declared' && g.gateways.length === 1)
    .map((g): VaultProblem => [
      `gateways.${g.gateways[0]}.vault`,
      `('${g.name}') is declared by no other ${g.type} entry: it shares method data with none (a misspelt name?)`,
    ]);
  return { errors, warnings };
}

/**
 * The configured entries of the PSP account `gateway` belongs to (itself included, in configuration order): the same
 * provider and the same account and API credential, or one declared `vault` (the one rule of which entries are one
 * account, above). A gateway not configured: itself alone. Pure.
 */
export function sameAccountGateways(gateways: Readonly<Record<string, GatewayConfig>>, gateway: string): string[] {
  const vaultOf = gatewayVaults(gateways).vaultOf;
  const own = vaultOf.get(gateway);
  if (own === undefined) return [gateway];
  return Object.keys(gateways).filter((name) => vaultOf.get(name) === own);
}
