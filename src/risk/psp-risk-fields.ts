import { Payment } from '../contracts/payment-command';
import { GatewayRequest } from '../gateways/gateway-adapter';
import { RISK_ATTRIBUTES, RiskDecision, attribute } from './risk-rules';

/**
 * "Ask the PSP's own risk engine": the authorization request (built by the gateway's transformer) gets the
 * fields each PSP documents for its fraud screening, added after it is built so no transformer changes:
 * - Stripe (Radar): `radar_options[session]` (the Radar session from Stripe.js, custom attribute
 *   `radar_session`) and `metadata[risk_*]` (Radar rules can read metadata).
 * - Adyen (RevenueProtect): `riskData.customFields` (input to the account's custom risk rules), `shopperIP`,
 *   `deviceFingerprint`, `shopperEmail`.
 * - Cybersource (Decision Manager): `deviceInformation.ipAddress` / `fingerprintSessionId` and
 *   `riskInformation.auxiliaryData` (never personal data there: Cybersource forbids it; we send signal
 *   names only).
 * Other gateways (the simulator): unchanged. Fields the transformer already set are kept.
 */
export function withPspRiskFields(gatewayType: string, request: GatewayRequest, payment: Payment, decision: RiskDecision): GatewayRequest {
  if (request.body === undefined) return request;
  const signals = [...new Set(decision.signals.map((s) => s.signal))].join(' ').slice(0, 500);
  const rule = (decision.rule ?? 'none').slice(0, 500);
  const ip = attribute(payment, RISK_ATTRIBUTES.ip);
  const fingerprint = attribute(payment, RISK_ATTRIBUTES.deviceFingerprint);
  switch (gatewayType) {
    case 'stripe': {
      const form = new URLSearchParams(request.body);
      const extra: Array<[string, string]> = [
        ['metadata[risk_review]', 'requested'],
        ['metadata[risk_rule]', rule],
        ['metadata[risk_signals]', signals],
      ];
      const session = attribute(payment, RISK_ATTRIBUTES.radarSession);
      if (session !== undefined && !form.has('radar_options[session]')) extra.push(['radar_options[session]', session]);
      const enc = (s: string): string => encodeURIComponent(s).replace(/%5B/g, '[').replace(/%5D/g, ']');
      const added = extra.filter(([k]) => !form.has(k)).map(([k, v]) => `${enc(k)}=${enc(v)}`);
      return added.length === 0 ? request : { ...request, body: `${request.body}&${added.join('&')}` };
    }
    case 'adyen': {
      const body = parseObject(request.body);
      if (!body) return request;
      const riskData = isObject(body.riskData) ? body.riskData : {};
      const customFields = isObject(riskData.customFields) ? riskData.customFields : {};
      body.riskData = { ...riskData, customFields: { risk_review: 'requested', risk_rule: rule, risk_signals: signals, ...customFields } };
      if (ip !== undefined && body.shopperIP === undefined) body.shopperIP = ip;
      if (fingerprint !== undefined && body.deviceFingerprint === undefined) body.deviceFingerprint = fingerprint;
      const email = attribute(payment, RISK_ATTRIBUTES.email);
      if (email !== undefined && body.shopperEmail === undefined) body.shopperEmail = email;
      return { ...request, body: JSON.stringify(body) };
    }
    case 'cybersource': {
      const body = parseObject(request.body);
      if (!body) return request;
      const device = isObject(body.deviceInformation) ? body.deviceInformation : {};
      body.deviceInformation = {
        ...(ip !== undefined ? { ipAddress: ip } : {}),
        ...(fingerprint !== undefined ? { fingerprintSessionId: fingerprint } : {}),
        ...device,
      };
      if (Object.keys(body.deviceInformation as object).length === 0) delete body.deviceInformation;
      const risk = isObject(body.riskInformation) ? body.riskInformation : {};
      body.riskInformation = {
        auxiliaryData: [
          { key: 'risk_rule', value: rule },
          { key: 'risk_signals', value: signals },
        ],
        ...risk,
      };
      return { ...request, body: JSON.stringify(body) };
    }
    default:
      return request;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseObject(text: string): Record<string, unknown> | null {
  try {
    const v = JSON.parse(text) as unknown;
    return isObject(v) ? v : null;
  } catch {
    return null;
  }
}
