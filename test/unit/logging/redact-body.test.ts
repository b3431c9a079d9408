import { SECRET_MASK } from '../../../src/logging/redact';
import { redactBody } from '../../../src/logging/redact-body';
import { stripeTransformer } from '../../../src/gateways/stripe';
import { stripeContext, stripeGateway } from '../gateways/stripe/stripe-fixtures';

const FORM = 'application/x-www-form-urlencoded';
const shopper = {
  email: 'ada@example.com',
  telephone: '+4930123456',
  first_name: 'Ada',
  last_name: 'Lovelace',
  country: 'DE',
  billing_address: { street: 'Unter den Linden', house_number: '77', city: 'Berlin', postal_code: '10117', country: 'DE' },
};
/** Every value of the customer's or of a token that a Stripe request below carries. */
const PRIVATE = ['tok_1NgWalletToken0001', 'ada@example.com', '+4930123456', 'Ada Lovelace', 'Unter den Linden 77', 'Berlin', '10117'];

describe('redactBody', () => {
  it("masks a Stripe form body's wallet token and the customer's e-mail, phone, name and address, keeping the rest readable", () => {
    const wallet = stripeTransformer.buildRequest(
      stripeContext('sale', { gateway_key: 'order-1', payment_method: { type: 'google_pay', token: 'tok_1NgWalletToken0001' } }),
      stripeGateway,
    );
    const klarna = stripeTransformer.buildRequest(
      stripeContext('authorize', { payment_method: { type: 'klarna', return_url: 'https://shop.example/back', shopper } }),
      stripeGateway,
    );
    const shown = JSON.stringify([redactBody(wallet.body, wallet.headers['content-type']), redactBody(klarna.body, klarna.headers['content-type'])]);
    for (const value of PRIVATE) expect(shown).not.toContain(encodeURIComponent(value));
    for (const value of PRIVATE) expect(shown).not.toContain(value);
    expect(redactBody(wallet.body, FORM)).toMatchObject({ amount: '2599', 'payment_method_data[card][token]': SECRET_MASK });
    expect(redactBody(klarna.body, FORM)).toMatchObject({
      'payment_method_data[type]': 'klarna',
      'payment_method_data[billing_details][email]': SECRET_MASK,
      'payment_method_data[billing_details][address][line1]': SECRET_MASK,
      'metadata[operation_id]': 'op-stripe-authorize-0001',
    });
  });

  it('masks what the JSON redaction masks in a form body too: card numbers in values and keys, secrets by key name', () => {
    expect(redactBody('reference=4111111111111111&card[cvc]=123&client_secret=pi_1_secret_2&4111111111111111=x', FORM)).toEqual({
      reference: '[PAN REDACTED]',
      'card[cvc]': SECRET_MASK,
      client_secret: SECRET_MASK,
      '[PAN REDACTED]': 'x',
    });
    expect(JSON.stringify(redactBody('statement_descriptor=4111 1111 1111 1111', FORM))).not.toContain('4111');
  });

  it("masks a 3-D Secure answer's authentication values (CAVV, UCAF data, XID, PAReq/PARes), keeping its ECI and ids readable", () => {
    // Cybersource's validated authorization and Transaction Details (consumerAuthenticationInformation): the CAVV and
    // UCAF data are the issuer's proof of authentication, the PAReq of 3-D Secure 1 carries the card number compressed.
    const body = JSON.stringify({
      status: 'AUTHORIZED',
      consumerAuthenticationInformation: {
        cavv: 'AAIBBYNoEwAAACcKhAJkdQAAAAA=',
        cavvAlgorithm: '2',
        ucafAuthenticationData: 'jJ81HADVRtXfCBATEp01CJUAAAA=',
        xid: 'MUg3TzR6d2RKUFgwQWx6SEVWMTA=',
        pareq: 'eNpVUt1ugjAUfpWm9wq0',
        pares: 'eNrNWVmzok2S9f4VjY',
        eciRaw: '05',
        paresStatus: 'Y',
        authenticationTransactionId: 'OiCtXA1j1AxtSNDh5lt1',
        directoryServerTransactionId: 'f38e6948-5388-41a6-bca4-b49723c19437',
      },
      paymentInformation: { tokenizedCard: { cryptogram: 'AgAAAAAAAIR8CQrXcIhbQAAAAAA=' } },
      authenticationValue: 'MTIzNDU2Nzg5MDA5ODc2NTQzMjE=',
      merchantInformation: { taxId: '12-3456789' },
    });
    expect(redactBody(body)).toEqual({
      status: 'AUTHORIZED',
      consumerAuthenticationInformation: {
        cavv: SECRET_MASK,
        cavvAlgorithm: '2',
        ucafAuthenticationData: SECRET_MASK,
        xid: SECRET_MASK,
        pareq: SECRET_MASK,
        pares: SECRET_MASK,
        eciRaw: '05',
        paresStatus: 'Y',
        authenticationTransactionId: 'OiCtXA1j1AxtSNDh5lt1',
        directoryServerTransactionId: 'f38e6948-5388-41a6-bca4-b49723c19437',
      },
      paymentInformation: { tokenizedCard: { cryptogram: SECRET_MASK } },
      authenticationValue: SECRET_MASK,
      merchantInformation: { taxId: '12-3456789' },
    });
  });

  it('masks the authentication values under the other names the PSPs document: a signed PARes, a network token cryptogram, an XID after a capital', () => {
    // Cybersource's validation request carries the issuer's PARes as consumerAuthenticationInformation.signedPares;
    // Adyen's mpiData carries a network token's cryptogram as tokenAuthenticationVerificationValue (checkout v71).
    const body = JSON.stringify({
      consumerAuthenticationInformation: {
        signedPares: 'eNrNWVmzok2S9f4VjY',
        signedParesStatusReason: '01',
        authenticationTransactionId: 'OiCtXA1j1AxtSNDh5lt1',
      },
      mpiData: {
        tokenAuthenticationVerificationValue: 'AgAAAAAAAIR8CQrXcIhbQAAAAAA=',
        threeDSXid: 'MUg3TzR6d2RKUFgwQWx6SEVWMTA=',
        MPI_XID: 'MUg3',
        eci: '05',
        dsTransID: 'f38e6948',
      },
      merchantInformation: { taxId: '12-3456789' },
    });
    expect(redactBody(body)).toEqual({
      consumerAuthenticationInformation: { signedPares: SECRET_MASK, signedParesStatusReason: '01', authenticationTransactionId: 'OiCtXA1j1AxtSNDh5lt1' },
      mpiData: { tokenAuthenticationVerificationValue: SECRET_MASK, threeDSXid: SECRET_MASK, MPI_XID: SECRET_MASK, eci: '05', dsTransID: 'f38e6948' },
      merchantInformation: { taxId: '12-3456789' },
    });
    // The same names at the end of a form body's bracket path.
    expect(redactBody('consumerAuthenticationInformation[signedPares]=eNrNWVmzok2S9f4VjY&mpi_data[MPI_XID]=MUg3', FORM)).toEqual({
      'consumerAuthenticationInformation[signedPares]': SECRET_MASK,
      'mpi_data[MPI_XID]': SECRET_MASK,
    });
  });

  it('masks the same fields in a JSON body (Adyen shopper data, a token), at any depth', () => {
    const body = JSON.stringify({
      amount: { value: 2599 },
      shopperEmail: 'ada@example.com',
      billingAddress: { city: 'Berlin' },
      paymentMethod: { networkToken: 'nt_1' },
    });
    expect(redactBody(body)).toEqual({
      amount: { value: 2599 },
      shopperEmail: SECRET_MASK,
      billingAddress: SECRET_MASK,
      paymentMethod: { networkToken: SECRET_MASK },
    });
  });

  it("reads a body of a form's shape as a form without its content type; other text is redacted as text", () => {
    expect(redactBody('amount=2599&email=ada%40example.com')).toEqual({ amount: '2599', email: SECRET_MASK });
    expect(redactBody('card 4111111111111111')).toBe('card [PAN REDACTED]');
    expect(redactBody('', FORM)).toBeUndefined();
  });
});
