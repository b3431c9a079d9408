import { expiryMonthOf, expiryYearOf } from '../contracts/payment-command';

/**
 * The card a PSP stored (a tokenize, or an authorize or sale with `payment_method.store: true`), as the PSP
 * itself described it: what the OMS is told it holds under the token. Never a card number or a security
 * code: only the brand, the last four digits and the expiry, each checked before it is kept.
 */
export interface StoredCard {
  /** The PSP's brand name, lower case (`visa`, `mc`, `american express`…): each PSP has its own names. */
  brand?: string;
  /** Exactly four digits. */
  lastFour?: string;
  /** 1 to 12. */
  expiryMonth?: number;
  /** Four digits (a PSP's two-digit year is read as 20yy). */
  expiryYear?: number;
}

/** What a PSP's answer says of a card, before checking: strings or numbers as it sent them. */
export interface StoredCardFigures {
  brand?: unknown;
  lastFour?: unknown;
  expiryMonth?: unknown;
  expiryYear?: unknown;
}

// Starts with a letter and is short: a brand, never digits that could be part of a card number.
const BRAND = /^[a-z][a-z0-9 _.-]{0,39}$/;

function brandOf(value: unknown): string | undefined {
  const brand = typeof value === 'string' ? value.trim().toLowerCase() : undefined;
  return brand !== undefined && BRAND.test(brand) ? brand : undefined;
}

function lastFourOf(value: unknown): string | undefined {
  // A string only: a number would have lost its leading zeros.
  return typeof value === 'string' && /^\d{4}$/.test(value.trim()) ? value.trim() : undefined;
}

/**
 * The card a PSP's figures describe, each figure kept only when it reads as one (last four: exactly four
 * digits; month 1–12; year four digits or two); `undefined` when none does. Pure.
 */
export function storedCardOf(figures: StoredCardFigures): StoredCard | undefined {
  const card: StoredCard = {};
  const brand = brandOf(figures.brand);
  if (brand !== undefined) card.brand = brand;
  const lastFour = lastFourOf(figures.lastFour);
  if (lastFour !== undefined) card.lastFour = lastFour;
  const month = expiryMonthOf(figures.expiryMonth);
  if (month !== undefined) card.expiryMonth = month;
  const year = expiryYearOf(figures.expiryYear);
  if (year !== undefined) card.expiryYear = year;
  return Object.keys(card).length > 0 ? card : undefined;
}

/** A stored card read back from the ledger, checked again; anything unreadable is dropped. */
export function parseStoredCard(value: unknown): StoredCard | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  return storedCardOf(value as StoredCardFigures);
}
