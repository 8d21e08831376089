// The only activity a gateway runs, on its own task queue (gateway-<instance id>): write frames
// to one of this process's sockets. A socket that is gone is an answer, not a failure: the
// workflow keeps results in its outbox until a resumed client acks them.
import type { GatewayActivities } from '../contract';
import type { DeliverInput, DeliverOutput } from '../contract';
import type { ClientConnection } from './connection';

export interface ConnectionLookup {
  get(connectionId: string): ClientConnection | undefined;
}

export function createGatewayActivities(connections: ConnectionLookup): GatewayActivities {
  return {
    async deliver(input: DeliverInput): Promise<DeliverOutput> {
      const connection = connections.get(input.connectionId);
      if (!connection) return { delivered: false };
      return { delivered: await connection.deliver(input.frames) };
    },
  };
}
