import { amqpFailure, queueMissing } from '../../../src/doctor/rabbitmq-checks';

/** A socket error as Node raises it: its message names the address. */
function socketError(code: string, port: number): Error {
  return Object.assign(new Error(`connect ${code} 127.0.0.1:${port}`), { code, errno: -111, syscall: 'connect', address: '127.0.0.1', port });
}

describe('amqpFailure', () => {
  it('names the socket code of a node that does not answer, whatever digits its port holds (45403 is no 403, 15300 no 530)', () => {
    expect(amqpFailure(socketError('ECONNREFUSED', 45403))).toBe('ECONNREFUSED');
    expect(amqpFailure(socketError('ECONNREFUSED', 15300))).toBe('ECONNREFUSED');
    expect(amqpFailure(socketError('ETIMEDOUT', 4030))).toBe('ETIMEDOUT');
  });

  it("reads the broker's refusals from amqplib's handshake messages", () => {
    const login = new Error(
      'Handshake terminated by server: 403 (ACCESS-REFUSED) with message "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN."',
    );
    expect(amqpFailure(login)).toBe('ACCESS_REFUSED: the broker refused the user name or password');
    expect(amqpFailure(new Error('Expected ConnectionOpenOk; got <ConnectionClose channel:0>'))).toBe(
      'NOT_ALLOWED: the virtual host does not exist or the user may not use it',
    );
    expect(amqpFailure(new Error('Connection closed: 530 (NOT-ALLOWED) with message "NOT_ALLOWED - vhost nope not found"'))).toBe(
      'NOT_ALLOWED: the virtual host does not exist or the user may not use it',
    );
  });

  it('says UNKNOWN for anything else', () => {
    expect(amqpFailure(new Error('something else'))).toBe('UNKNOWN');
  });
});

describe('queueMissing', () => {
  it("reads the broker's 404 reply, not the digits of a queue name", () => {
    expect(queueMissing(new Error("Channel closed by server: 404 (NOT-FOUND) with message \"NOT_FOUND - no queue 'orders' in vhost '/'\""))).toBe(true);
    expect(
      queueMissing(
        new Error("Channel closed by server: 403 (ACCESS-REFUSED) with message \"ACCESS_REFUSED - access to queue 'orders-404' in vhost '/' refused\""),
      ),
    ).toBe(false);
  });
});
