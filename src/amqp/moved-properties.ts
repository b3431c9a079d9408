import { GetMessage, Options } from 'amqplib';

/**
 * The publish properties a message keeps when it is moved whole from one queue to another (parked, or moved back
 * from the parking queue): persistent, with the content type and encoding, ids, timestamp, type and app of the
 * original. Headers and `mandatory` are the caller's: each move adds headers of its own.
 */
export function movedProperties(msg: GetMessage): Options.Publish {
  const p = msg.properties as Partial<Record<'contentType' | 'contentEncoding' | 'messageId' | 'type' | 'appId' | 'correlationId', string>> & {
    timestamp?: number;
  };
  return {
    persistent: true,
    contentType: p.contentType,
    contentEncoding: p.contentEncoding,
    messageId: p.messageId,
    timestamp: p.timestamp,
    type: p.type,
    appId: p.appId,
    correlationId: p.correlationId,
  };
}
