import { MAX_COMMAND_MESSAGE_BYTES, decodeJsonText, parseBoundedJson } from '../../../src/contracts/json-limits';
import { readChannelMessage } from '../../../src/contracts/channel-contracts';
import { operationIdOf } from '../../../src/ledger/operation-id';
import { PAN_MASK } from '../../../src/logging/redact';
import { FuzzCase, FuzzCaseGenerator } from '../../../harness/drills/fuzz-cases';
import { PAN_STYLES, TEST_PANS, formatPan, panNeedles } from '../../../harness/drills/test-card-numbers';
import { CommandValidationError } from '../../../src/errors/command-validation-error';
import { commandMethodIndex, mapBusCall } from '../../../src/intake/bus-command-mapper';
import { containsCardNumber } from '../../../src/logging/redact';
import { seededRandom } from '../../../harness/workload/payment-scenarios';
import { testConfig } from '../../support/test-config';

const config = testConfig();
const methods = commandMethodIndex(config);

/** What the intake or the consumer would do with a case, by the same pure code they run. */
function refused(c: FuzzCase): boolean {
  try {
    if (c.transport === 'amqp') {
      if (c.body.length > MAX_COMMAND_MESSAGE_BYTES) return true;
      readChannelMessage(parseBoundedJson(decodeJsonText(c.body)), config.channels, new Date().toISOString());
      return false;
    }
    if (c.signature !== 'valid' || c.expect !== 'rpc-error') return true;
    return !mapBusCall(parseBoundedJson(decodeJsonText(c.body)), methods, config.serviceBus.amountUnits, new Date().toISOString()).ok;
  } catch (err) {
    if (err instanceof CommandValidationError) return true;
    throw err;
  }
}

describe('fuzz cases', () => {
  const generator = new FuzzCaseGenerator(seededRandom(11), 'unit', config.http.bodyLimitBytes, config.serviceBus.methods.commands);
  const cases = Array.from({ length: 1500 }, () => generator.next());
  const kinds = new Set(cases.map((c) => c.kind));

  it('include deep JSON, bad and key-colliding references, 500 KB free text, card numbers as keys and security codes under other names', () => {
    for (const kind of [
      'signed JSON nested thousands deep',
      'JSON nested thousands deep',
      'signed 500 KB free-text field',
      '500 KB text ending in a card number',
    ]) {
      expect(kinds).toContain(kind);
    }
    for (const defect of ['bad operation reference', 'card number as a key', 'card security code']) {
      expect([...kinds].some((k) => k.endsWith(defect))).toBe(true);
    }
    expect(cases.some((c) => c.body.includes(':interactions'))).toBe(true);
  });

  it('are every one refused by the intake or the consumer, without throwing anything but a validation error', () => {
    const accepted = cases.filter((c) => !(c.transport === 'amqp' && c.accept) && !refused(c)).map((c) => c.kind);
    expect(accepted).toEqual([]);
  });

  it('include text defects the parse alone would hide: invalid UTF-8, a repeated member name, numbers and ids beyond 2^53', () => {
    for (const kind of [
      'signed text: invalid UTF-8',
      'signed text: repeated member name',
      'signed text: number beyond 2^53',
      'signed text: id beyond 2^53',
      'text: invalid UTF-8',
      'text: repeated member name',
      'text: number beyond 2^53',
    ]) {
      expect(kinds).toContain(kind);
    }
  });

  it('include channel-contract messages refused for card data in a structured field, an unknown or missing contract', () => {
    for (const kind of ['contract: card number in a structured field', 'contract: unknown contract', 'contract: no contract']) expect(kinds).toContain(kind);
  });

  describe('valid channel-contract messages with card numbers in free text', () => {
    const valid = cases.filter((c) => c.transport === 'amqp' && c.accept !== undefined);
    const bodies = valid.map((c) => c.body.toString('utf8'));

    it('cover the four contracts, and every written form of a card number in their free text', () => {
      expect(new Set(valid.map((c) => c.kind)).size).toBe(4);
      for (const style of PAN_STYLES) {
        expect(TEST_PANS.some((pan) => bodies.some((b) => b.includes(JSON.stringify(formatPan(pan, style)).slice(1, -1))))).toBe(true);
      }
    });

    it('are each accepted by the consumer’s reader under the operation id the case names, the numbers masked and no form of them left', () => {
      const needles = panNeedles();
      for (const c of valid) {
        const { command, masked } = readChannelMessage(JSON.parse(c.body.toString('utf8')), config.channels, new Date().toISOString());
        expect(operationIdOf(command)).toBe(c.transport === 'amqp' ? c.accept?.operationId : undefined);
        expect(masked.length).toBeGreaterThanOrEqual(2);
        const text = JSON.stringify(command);
        expect(text).toContain(PAN_MASK);
        expect(needles.filter((n) => text.includes(n))).toEqual([]);
      }
    });
  });
});

describe('test card numbers', () => {
  it('come in every written form, each one caught by the detector', () => {
    for (const pan of TEST_PANS) for (const style of PAN_STYLES) expect(containsCardNumber(`note ${formatPan(pan, style)}`)).toBe(true);
  });

  it('are looked for in every form, as written and as JSON text', () => {
    const needles = panNeedles();
    expect(needles).toContain('4111\t1111\t1111\t1111');
    expect(needles).toContain('4111\\t1111\\t1111\\t1111');
    expect(needles).toContain('４１１１１１１１１１１１１１１１');
  });
});
