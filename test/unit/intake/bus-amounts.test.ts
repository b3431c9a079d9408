import { CommandValidationError } from '../../../src/errors/command-validation-error';
import { scheduleParamsInMinor, scheduleViewInBusUnits } from '../../../src/intake/bus-amounts';
import { ScheduleView } from '../../../src/recurring/recurring-management';
import { ScheduleDefinition } from '../../../src/recurring/recurring-schedule';

const definition = (amount: number, currency: string): ScheduleDefinition =>
  ({
    id: 'sub-1',
    gateway: 'simulator',
    gateway_account: 'acme',
    gateway_key: 'pm_1',
    amount,
    currency,
    start_at: '2030-01-31T09:00:00Z',
    interval: { unit: 'month', count: 1 },
  }) as ScheduleDefinition;

const view = (amount: number, currency: string): ScheduleView => ({
  id: 'sub-1',
  state: 'active',
  cycle: 1,
  attempt: 0,
  next_at: '2030-01-31T09:00:00.000Z',
  definition: definition(amount, currency),
});

const refusal = (fn: () => unknown): CommandValidationError => {
  try {
    fn();
  } catch (err) {
    if (err instanceof CommandValidationError) return err;
    throw err;
  }
  throw new Error('not refused');
};

describe('a major-unit bus: a recurring schedule amount, read and answered exactly', () => {
  it.each<[number, string, number]>([
    [19.99, 'EUR', 1999],
    [15, 'EUR', 1500],
    [0.1, 'USD', 10],
    [1.234, 'KWD', 1234],
    [2, 'KWD', 2000],
    [1500, 'JPY', 1500],
    [3.0001, 'CLF', 30001],
    // A 17-digit writer's 19.99: the double JSON parsing gives, read from its shortest form.
    [19.989999999999998, 'EUR', 1999],
  ])('takes schedule.amount %p %s as %i minor units', (major, currency, minor) => {
    const params = scheduleParamsInMinor({ schedule: definition(major, currency) });
    expect((params.schedule as ScheduleDefinition).amount).toBe(minor);
  });

  it.each<[number, string, string]>([
    [19.999, 'EUR', 'must have at most 2 decimals in EUR (major units)'],
    [1.5, 'JPY', 'must have at most no decimals in JPY (major units)'],
    [1.2345, 'KWD', 'must have at most 3 decimals in KWD (major units)'],
    [99_999_999_999_999, 'EUR', 'must be at most 999999999999.99 EUR'],
    [100_000_000_000, 'KWD', 'must be at most 99999999999.999 KWD'],
  ])('refuses schedule.amount %p %s naming the field, never rounded', (major, currency, reason) => {
    const err = refusal(() => scheduleParamsInMinor({ schedule: definition(major, currency) }));
    expect(err).toMatchObject({ field: 'schedule.amount', reason });
  });

  it('leaves what is no number for the definition check to refuse', () => {
    const params = scheduleParamsInMinor({ schedule: { ...definition(0, 'EUR'), amount: '19.99' } });
    expect((params.schedule as Record<string, unknown>).amount).toBe('19.99');
  });

  it.each<[number, string, number, string]>([
    [1999, 'EUR', 19.99, '19.99'],
    [1500, 'EUR', 15, '15'],
    [1, 'EUR', 0.01, '0.01'],
    [1234, 'KWD', 1.234, '1.234'],
    [1500, 'JPY', 1500, '1500'],
    [99_999_999_999_999, 'EUR', 999_999_999_999.99, '999999999999.99'],
  ])('answers %i minor units of %s as %p major units (JSON %s)', (minor, currency, major, json) => {
    const told = scheduleViewInBusUnits(view(minor, currency), 'major');
    expect(told).toMatchObject({ amount_units: 'major', definition: { amount: major, currency } });
    expect(JSON.stringify(told.definition.amount)).toBe(json);
  });

  it('answers a minor-unit bus with the view as it is', () => {
    const v = view(1999, 'EUR');
    expect(scheduleViewInBusUnits(v, 'minor')).toBe(v);
  });
});
