import { changedOutside, jsonMemberSpans, textOutside } from '../../../src/logging/json-member-spans';
import { findCardData } from '../../../src/logging/redact';

const PAN = '4111111111111111';
const ID = '483019283746507';

describe('jsonMemberSpans', () => {
  it('finds the string value of each member, between its quotes, at any depth and after arrays and escapes', () => {
    const text = JSON.stringify({ a: [1, { b: 'x' }], 'q"k': 'é\n', payment: { recurring: { id: ID }, id: 'other' }, id: 'top' });
    const spans = jsonMemberSpans(text, [['payment', 'recurring', 'id'], ['id']]);
    expect(spans.map(([s, e]) => text.slice(s, e))).toEqual([ID, 'top']);
  });

  it('is the whole text for the empty path', () => {
    expect(jsonMemberSpans('anything', [[]])).toEqual([[0, 8]]);
  });

  it.each([
    ['spaced differently from JSON.stringify', `{"id": "${ID}"}`],
    ['holding a number past 2^53 (it re-serializes otherwise)', `{"n":41111111111111111111,"id":"${ID}"}`],
    ['that is no JSON', `id=${ID}`],
    ['that is an array', `["${ID}"]`],
  ])('finds nothing in a text %s (scanned whole)', (_name, text) => {
    expect(jsonMemberSpans(text, [['id']])).toEqual([]);
  });

  it('finds nothing for a member that is absent, no string, or inside an array', () => {
    const text = JSON.stringify({ id: 15, list: [{ id: ID }] });
    expect(jsonMemberSpans(text, [['id'], ['list', 'id'], ['missing']])).toEqual([]);
  });
});

describe('textOutside and changedOutside', () => {
  it('split around the spans and change only the parts outside them', () => {
    const text = 'ab[keep]cd[keep]ef';
    const spans = [
      [2, 8],
      [10, 16],
    ] as const;
    expect(textOutside(text, spans)).toEqual(['ab', 'cd', 'ef']);
    expect(changedOutside(text, spans, (part) => part.toUpperCase())).toBe('AB[keep]CD[keep]EF');
    expect(changedOutside(text, [], (part) => part.toUpperCase())).toBe(text.toUpperCase());
  });
});

describe('findCardData with values kept', () => {
  const value = { record: { id: ID, payment: JSON.stringify({ recurring: { id: ID }, note: 'n' }) } };

  it('leaves the kept members alone and names nothing when the rest holds no card number', () => {
    expect(findCardData(value)).toEqual(['record.id', 'record.payment']);
    const kept = new Map([
      ['record.id', [[]]],
      ['record.payment', [['recurring', 'id']]],
    ]);
    expect(findCardData(value, '', kept)).toEqual([]);
  });

  it('still finds a card number in the rest of a kept field’s text', () => {
    const withPan = { payment: JSON.stringify({ recurring: { id: ID }, note: PAN }) };
    expect(findCardData(withPan, '', new Map([['payment', [['recurring', 'id']]]]))).toEqual(['payment']);
  });
});

describe('findCardData with values kept, and keys whose names read as a path', () => {
  it('scans a field whose path only a key holding "." or "[" spells as a kept one', () => {
    const kept = new Map([['record.id', [[]]]]);
    expect(findCardData({ 'record.id': PAN, record: { id: ID } }, '', kept)).toEqual(['record.id']);
    expect(findCardData({ 'history[0]': { id: PAN } }, '', new Map([['history[0].id', [[]]]]))).toEqual(['history[0].id']);
  });
});
