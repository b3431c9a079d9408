import type { Config } from '../config/config';
import { DeclineTable } from '../errors/decline';
import { Logger } from '../logging/logger';
import { isoAmountStep, pspSupportsCurrency } from '../money/psp-currency-table';
import { adyenGateway } from './adyen/adyen-gateway';
import { adyenStoredValueGateway } from './adyen-stored-value/adyen-stored-value-gateway';
import { cybersourceGateway } from './cybersource/cybersource-gateway';
import { GatewayClient } from './gateway-client';
import { GatewayOutcome, GatewayTransformer, VoidRefusedAsCaptured } from './gateway-adapter';
import { GatewayConfig, GatewayCredentialField, settingKey } from './gateway-config';
import { GatewayDefinition } from './gateway-definition';
import { GatewayRoute } from './gateway-route';
import { simulatorGateway } from './simulator/simulator-gateway';
import { stripeGateway } from './stripe/stripe-gateway';

/**
 * THE list of gateways: one line per PSP. The configuration schema and loader, redaction, the doctor,
 * webhook routing, the metrics' `gateway_status` label, the docs generator and the conformance suite read it;
 * nothing else names a gateway.
 * Order is the docs' order. Adding a gateway: docs/ADDING-A-GATEWAY.md.
 */
export const GATEWAYS = [stripeGateway, adyenGateway, adyenStoredValueGateway, cybersourceGateway, simulatorGateway] as const;

/** A registered gateway type (`type:` of `gateways.<name>`). */
export type GatewayType = (typeof GATEWAYS)[number]['type'];

const byType: ReadonlyMap<string, GatewayDefinition> = new Map(GATEWAYS.map((g): [string, GatewayDefinition] => [g.type, g]));

// Each type's declared PSP statuses as a set, built once: the label below is one lookup per call, no allocation.
const statusesByType: ReadonlyMap<string, ReadonlySet<string>> = new Map(
  GATEWAYS.map((g): [string, ReadonlySet<string>] => [g.type, new Set<string>(g.pspStatuses)]),
);

/** Every registered type, in registry order. */
export const GATEWAY_TYPES: readonly GatewayType[] = GATEWAYS.map((g) => g.type);

/** Whether `type` is a registered gateway type. */
export function isGatewayType(type: string): type is GatewayType {
  return byType.has(type);
}

/** The definition of a registered type. Throws on an unregistered one (the schema refuses it at start). */
export function gatewayDefinition(type: GatewayType): GatewayDefinition {
  const definition = byType.get(type);
  if (!definition) throw new RangeError(`unregistered gateway type ${JSON.stringify(type)}`);
  return definition;
}

/**
 * Whether a gateway of `type` voids a `command` of ours (a capture or refund) by its own transaction id
 * (`GatewayDefinition.voidsOwnTransactions`), so a cancel naming it by our operation id is sent as that void.
 */
export function voidsOwnTransaction(type: GatewayType, command: 'capture' | 'refund'): boolean {
  return (gatewayDefinition(type).voidsOwnTransactions ?? []).includes(command);
}

/** {@link voidsOwnTransaction} for the gateway configured as `gateway` in `config` (false for one not configured). */
export function configuredVoidsOwnTransaction(config: Pick<Config, 'gateways'>, gateway: string, command: 'capture' | 'refund'): boolean {
  const type = config.gateways[gateway]?.type;
  return type !== undefined && voidsOwnTransaction(type, command);
}

/**
 * {@link voidsOwnTransaction} for an operation asked about on `gateway` (its route): only a capture or refund that
 * gateway did (the inquiry goes there), as `ResolveOptions.voidsOwnTransaction` takes it.
 */
export function voidsOwnTransactionAt(gateway: Pick<GatewayConfig, 'name' | 'type'>): (name: string, command: 'capture' | 'refund') => boolean {
  return (name, command) => name === gateway.name && voidsOwnTransaction(gateway.type, command);
}

/**
 * The gateway's reading of a cancel's FAIL `outcome` as a void refused because the payment is captured already
 * (`GatewayDefinition.voidRefusedAsCaptured`); null when it is not one, or the gateway declares no such rule.
 */
export function voidRefusedAsCaptured(type: GatewayType, outcome: GatewayOutcome): VoidRefusedAsCaptured | null {
  if (outcome.status !== 'FAIL') return null;
  return gatewayDefinition(type).voidRefusedAsCaptured?.(outcome) ?? null;
}

/** The PSP statuses a gateway type declares (`GatewayDefinition.pspStatuses`), as one set built at load. */
export function gatewayStatusesOf(type: GatewayType): ReadonlySet<string> {
  const statuses = statusesByType.get(type);
  if (!statuses) throw new RangeError(`unregistered gateway type ${JSON.stringify(type)}`);
  return statuses;
}

/** The label a PSP status outside its gateway's declared statuses is counted under. */
export const OTHER_GATEWAY_STATUS = 'other';

/**
 * The `gateway_status` label value of a PSP status (`GatewayOutcome.gatewayStatus`) reported by a gateway of `type`:
 * the status itself when that type declares it ({@link gatewayStatusesOf}), else `other`, a status only another
 * gateway knows included. So the label is bounded per gateway, whatever a PSP, or whoever can sign a webhook, sends.
 * `type` undefined (the gateway is no longer configured): `other`. Log the status in full beside the count.
 */
export function gatewayStatusLabel(type: GatewayType | undefined, gatewayStatus: string): string {
  const declared = type === undefined ? undefined : statusesByType.get(type);
  return declared !== undefined && declared.has(gatewayStatus) ? gatewayStatus : OTHER_GATEWAY_STATUS;
}

/** The transformer of a gateway type. */
export function transformerFor(type: GatewayType): GatewayTransformer {
  return gatewayDefinition(type).transformer;
}

/** The decline table of a gateway type (its definition's `declines`). */
export function declineTableFor(type: GatewayType): DeclineTable {
  return gatewayDefinition(type).declines;
}

/**
 * The smallest step, in ISO minor units, of `currency` that a gateway type takes (its currency table's
 * `isoAmountStep`): what a conversion into that currency rounds to. 1 when the type does not list the
 * currency (its adapter then refuses the currency itself).
 */
export function isoAmountStepFor(type: GatewayType, currency: string): number {
  const table = gatewayDefinition(type).currencies;
  return pspSupportsCurrency(table, currency) ? isoAmountStep(table, currency) : 1;
}

/** The fields of a gateway type's configuration declared secret. */
export function secretFieldsOf(type: GatewayType): GatewayCredentialField[] {
  const settings = gatewayDefinition(type).settings;
  return (Object.keys(settings) as GatewayCredentialField[]).filter((field) => settings[field]?.secret === true);
}

/** The `parameters.yml` keys of a configured gateway's credentials (what its doctor check proves), e.g. `gateways.eu.api_key`. */
export function credentialKeysOf(gateway: Pick<GatewayConfig, 'name' | 'type'>): string[] {
  return gatewayDefinition(gateway.type).credentialCheck.keys.map((field) => `gateways.${gateway.name}.${settingKey(field)}`);
}

/** The secret values of a configured gateway (empty ones left out), for redaction. */
export function gatewaySecretValues(gateway: GatewayConfig): string[] {
  return secretFieldsOf(gateway.type)
    .map((field) => gateway[field])
    .filter((value) => value !== '');
}

export interface GatewayClientsOptions {
  /** Debug lines of every gateway call, bodies redacted. Default: silent. */
  logger?: Logger;
  /** Clock for request signatures. Default `() => new Date()`. */
  now?: () => Date;
  /** Trusted CA certificates, replacing the system roots (tests with local TLS servers). Default: system roots. */
  ca?: string | Buffer;
}

/** One route per configured gateway, keyed by the gateway's name as the bus spells it. */
export function createGatewayClients(config: Config, options: GatewayClientsOptions = {}): Map<string, GatewayRoute> {
  const routes = new Map<string, GatewayRoute>();
  for (const [name, gateway] of Object.entries(config.gateways)) {
    const transformer = transformerFor(gateway.type);
    const client = new GatewayClient(gateway, transformer, {
      proxy: config.proxy,
      now: options.now,
      logger: options.logger?.child({ gateway: name }),
      ca: options.ca,
    });
    routes.set(name, { gateway, transformer, client });
  }
  return routes;
}
