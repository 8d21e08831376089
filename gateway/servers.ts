// The gateway's HTTP server: it listens, answers plain requests (`/healthz`, a 426 at the socket
// path, 404 elsewhere, 421 for a host this deployment does not serve), hands upgrade requests on,
// and on shutdown stops listening and waits for its connections to go.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { urlHost } from '../lib/address';
import { AppError, errorBody } from '../lib/errors';
import { isDevicePath } from './device-upgrade';
import { hostRefusal, requestUrl, WS_PATH, type HostRules } from './handshake';

export interface ServerOptions {
  host: string;
  port: number;
  /** Named in the health answer. */
  instanceId: string;
  hostRules: HostRules;
  /** Shutting down: the health check answers 503. */
  isClosing(): boolean;
  onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
}

export interface GatewayServer {
  /** The socket URL as this server listens (`ws://host:port/ws`). */
  url: string;
  /** Stops listening, runs `drain` (the sockets' goodbyes), then cuts what is left. */
  close(drain: () => Promise<void>): Promise<void>;
}

export async function listen(options: ServerOptions): Promise<GatewayServer> {
  const { hostRules, instanceId, isClosing } = options;
  const server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = requestUrl(req)?.pathname;
    const misdirected = hostRefusal(req, hostRules);
    const closing = isClosing();
    const [status, body] = misdirected
      ? [misdirected.status, errorBody(misdirected)]
      : path === '/healthz'
        ? [closing ? 503 : 200, { code: closing ? 503 : 200, message: closing ? 'closing' : 'ok', data: { instance: instanceId } }]
        : path === WS_PATH || (path !== undefined && isDevicePath(path))
          ? [426, errorBody(new AppError(426, 'upgrade_required', 'Connect with a WebSocket upgrade'))]
          : [404, errorBody(new AppError(404, 'not_found', 'Not found'))];
    res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
  });
  server.on('upgrade', options.onUpgrade);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  return {
    url: `ws://${urlHost(address.address)}:${address.port}${WS_PATH}`,
    async close(drain) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await drain();
      server.closeAllConnections();
      await closed;
    },
  };
}
