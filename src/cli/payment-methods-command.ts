import { Command } from 'commander';
import type { Config } from '../config/config';
import { createGatewayClients } from '../gateways/gateway-registry';
import { createRedis } from '../redis/redis-connection';
import type { Logger } from '../logging/logger';
import { MethodsAnswer, MethodsQueryError, PaymentMethodOptions, methodsQueryOf } from '../routing/payment-method-options';

/** The answer as an operator reads it: the methods with their gateways, then why (rule, candidates, each gateway's source). */
export function formatMethodsAnswer(answer: MethodsAnswer): string {
  const lines: string[] = [];
  if (answer.methods.length === 0) lines.push('no payment method is available for this order');
  for (const m of answer.methods) {
    lines.push(`${m.method.padEnd(16)} via ${m.gateways.join(', ')}${m.brands ? `  (brands: ${m.brands.join(', ')})` : ''}`);
  }
  const e = answer.explanation;
  lines.push('', `route: ${e.rule ? `rule ${e.rule}` : 'no rule matched (default)'}; candidates: ${e.candidates.join(', ') || '(none)'}`);
  for (const r of e.rules) lines.push(`  rule ${r.rule}: ${r.matched ? 'matched' : `not matched (${r.why ?? ''})`}`);
  for (const d of e.dropped) lines.push(`  dropped ${d}`);
  for (const g of e.gateways) lines.push(`  ${g.gateway}: ${g.methods.join(', ')} (from ${g.source}${g.error ? `; its own list failed: ${g.error}` : ''})`);
  return `${lines.join('\n')}\n`;
}

/** `payment-bridge payment-methods --amount … --currency … --merchant … [--country …] [--channel …] [--gateway …] [--json]`. */
export function addPaymentMethodsCommand(program: Command, context: () => { config: Config; logger: Logger }): void {
  program
    .command('payment-methods')
    .description(
      'the payment methods an order can be paid with, after routing rules, merchant agreements and transaction caps (daily and monthly counters included), merged with each gateway’s own list',
    )
    .requiredOption('--amount <minor>', 'amount in minor units (integer)')
    .requiredOption('--currency <code>', 'ISO 4217 currency')
    .requiredOption('--merchant <account>', 'the merchant (payment.gateway_account)')
    .option('--country <cc>', 'ISO 3166 alpha-2 country')
    .option('--channel <channel>', 'bus, web, pos or marketplace', 'web')
    .option('--gateway <name>', 'the gateway the order would name (payment.gateway)')
    .option('--json', 'print the answer as JSON')
    .action(async (opts: { amount: string; currency: string; merchant: string; country?: string; channel: string; gateway?: string; json?: boolean }) => {
      const { config, logger } = context();
      try {
        const query = methodsQueryOf({
          amount: /^\d+$/.test(opts.amount) ? Number(opts.amount) : opts.amount,
          currency: opts.currency,
          gateway_account: opts.merchant,
          channel: opts.channel,
          ...(opts.country ? { country: opts.country } : {}),
          ...(opts.gateway ? { gateway: opts.gateway } : {}),
        });
        // The daily and monthly cap counters are in Redis: read them only when caps are configured.
        const redis = config.limits.caps.rules.length > 0 ? createRedis(config.redis, 'commands', logger) : undefined;
        const answer = await new PaymentMethodOptions({ config, routes: createGatewayClients(config), logger, redis })
          .list(query)
          .finally(() => redis?.disconnect());
        process.stdout.write(opts.json ? `${JSON.stringify(answer, null, 2)}\n` : formatMethodsAnswer(answer));
        process.exitCode = 0;
      } catch (err) {
        if (!(err instanceof MethodsQueryError)) throw err;
        process.stderr.write(`payment-bridge payment-methods: ${err.field.replace('gateway_account', 'merchant')} ${err.reason}\n`);
        process.exitCode = 2;
      }
    });
}
