/**
 * A Stripe mode. Every key, object and event is of one: "Objects in one mode aren't accessible to the other"
 * (docs.stripe.com/keys); a sandbox is a test mode.
 */
export type StripeMode = 'test' | 'live';

/**
 * The mode of a secret or restricted key, from its prefix: `sk_test_` / `rk_test_` test, `sk_live_` / `rk_live_`
 * live ("Test mode secret keys have the prefix sk_test_ and live mode secret keys have the prefix sk_live_",
 * docs.stripe.com/api/authentication; restricted keys alike). Undefined for a key whose prefix names no mode, none
 * Stripe issues (a local twin's, a mock's): such a gateway cannot tell which mode is its own, so nothing is
 * skipped for its mode.
 */
export function stripeKeyMode(apiKey: string): StripeMode | undefined {
  const mode = /^[sr]k_(test|live)_/.exec(apiKey)?.[1];
  return mode === 'test' || mode === 'live' ? mode : undefined;
}

/** An object's or event's `livemode` ("true if the object exists in live mode"); anything but a boolean says nothing. */
export function stripeObjectMode(livemode: unknown): StripeMode | undefined {
  return livemode === true ? 'live' : livemode === false ? 'test' : undefined;
}
