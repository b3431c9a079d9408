import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GatewayType } from '../../../src/config/config';
import { BRIDGE_DECLINES } from '../../../src/errors/bridge-declines';
import { DeclineTable, describeDecline } from '../../../src/errors/decline';
import { eventStatusOf } from '../../../src/events/payment-event';
import { declineTableFor, gatewayDefinition } from '../../../src/gateways/gateway-registry';
import { OperationState } from '../../../src/ledger/operation-state';
import { EXTRA_DECLINE_TABLES, GATEWAY_FACTS, renderGatewayDocs } from '../../../scripts/gateway-docs/gateway-docs-tables';

const ROOT = join(__dirname, '..', '..', '..');
const GATEWAYS = Object.keys(GATEWAY_FACTS) as GatewayType[];

function read(path: string): string {
  return readFileSync(join(ROOT, path), 'utf8');
}

/** The cells of every table row in `markdown` after `heading` (up to the next heading; cells trimmed of Prettier's padding), header rows skipped. */
function tableRows(markdown: string, heading: string): string[][] {
  const start = markdown.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`no section ${heading}`);
  const rest = markdown.slice(start + heading.length + 2);
  const end = rest.search(/\n#+ /);
  const section = end < 0 ? rest : rest.slice(0, end);
  return section
    .split('\n')
    .filter((l) => l.startsWith('| '))
    .map((l) =>
      l
        .slice(2, -2)
        .split(/(?<!\\) \| /)
        .map((c) => c.trim().replace(/\\\|/g, '|')),
    )
    .filter((cells) => !/^-+$/.test(cells[0]) && !['code', 'PSP fact', 'category'].includes(cells[0]));
}

const unquote = (cell: string): string => cell.replace(/^`|`$/g, '');

/** Checks every decline row of a page against the table in code, and that the page lists every code. */
function checkDeclineRows(rows: string[][], table: DeclineTable): void {
  const codes: string[] = [];
  for (const [code, category, message, action] of rows) {
    if (code === '_any other code_') {
      expect({ category: unquote(category), action: unquote(action) }).toEqual({ category: table.fallback, action: unquote(action) });
      continue;
    }
    const c = unquote(code);
    codes.push(c);
    const decline = describeDecline(table, c);
    expect({ code: c, category: unquote(category), message, action: unquote(action) }).toEqual({
      code: c,
      category: decline.category,
      message: decline.customer_message,
      action: decline.suggested_action,
    });
  }
  expect(codes.sort()).toEqual(Object.keys(table.rules).sort());
}

describe('docs/gateways', () => {
  it('the committed pages are exactly what the code renders (run npm run docs:gateways after changing a table)', async () => {
    for (const [path, text] of await renderGatewayDocs()) expect({ path, text: read(path) }).toEqual({ path, text });
  });

  it.each(GATEWAYS)('%s: every decline row of the page maps as the code does, and every code in code is on the page', (type) => {
    checkDeclineRows(tableRows(read(`docs/gateways/${type}.md`), '## Declines'), declineTableFor(type));
  });

  it.each(GATEWAYS)('%s: every further decline table of the page (raw responses…) maps as the code does', (type) => {
    for (const extra of EXTRA_DECLINE_TABLES[type] ?? []) checkDeclineRows(tableRows(read(`docs/gateways/${type}.md`), extra.heading), extra.table);
  });

  it.each(GATEWAYS)('%s: a replaying status inquiry withheld is left only to what settles it at that gateway (its webhooks, reconciliation)', (type) => {
    const page = read(`docs/gateways/${type}.md`);
    const section = page.split('## Status inquiry: the request replayed')[1]?.split('\n## ')[0];
    if (section === undefined) return; // its inquiry reads the PSP's state: never withheld
    const definition = gatewayDefinition(type);
    const byWebhook = definition.facts().some((row) => row.source.includes('webhook'));
    expect(/its webhooks?\b/.test(section)).toBe(byWebhook);
    expect(/\band to reconciliation|\bor reconciliation/.test(section)).toBe(definition.reconciliation !== undefined);
    expect(section.includes('balance inquiry')).toBe(definition.transformer.supports.includes('balance_inquiry'));
  });

  it('the bridge refusals on the index page map as the code does', () => {
    checkDeclineRows(tableRows(read('docs/gateways/README.md'), '## Refusals of payment-bridge'), BRIDGE_DECLINES);
  });

  it.each(GATEWAYS)('%s: every fact row is one the code knows, its ledger state reports the event status shown', (type) => {
    const rows = tableRows(read(`docs/gateways/${type}.md`), '## PSP facts and the OMS events they become');
    expect(rows).toHaveLength(GATEWAY_FACTS[type]().length);
    for (const [, , , state, status] of rows) {
      if (state.startsWith('unchanged')) expect(status).toBe('none');
      else expect(eventStatusOf(state as OperationState) ?? 'none').toBe(status);
    }
  });
});
