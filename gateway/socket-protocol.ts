// The seam between a socket's bytes and the session: a protocol turns what a client sends into
// the operations a connection carries out (`ProtocolOp`: a message, an ack, a settings change,
// ping, close, and what a device protocol adds) and renders the frames the session produces
// (`ServerFrame`) as its own. The connection, the socket writer and the signal pump never see the
// wire format. Two implementations: today's JSON protocol (README, "WebSocket protocol"; parsed in
// protocol.ts) at /ws, and the xiaozhi device protocol (xiaozhi-protocol.ts) at /xiaozhi/v1/.
import type { ServerFrame } from '../contract';
import { errorFrame, FrameErrorCode, parseClientFrame, type ClientFrame, type ErrorFrame } from './protocol';

/** What a device said in its hello that the session may use (device-side MCP, for the MCP hook). */
export interface DeviceFeatures {
  mcp: boolean;
}

/** What a connection does for one incoming frame. */
export type ProtocolOp =
  | ClientFrame
  /** The device's hello: the connection opens (our hello, then what was queued). */
  | { type: 'device_hello'; features: DeviceFeatures }
  /** Stop the answer being spoken. */
  | { type: 'abort' }
  /** Device-side MCP (JSON-RPC), for the connection's MCP hook. */
  | { type: 'mcp'; payload: unknown }
  /** Audio (binary): dropped unread, within a budget of its own. */
  | { type: 'audio' }
  /** A frame read and deliberately ignored (it still counts toward the frame rate). */
  | { type: 'ignore' };

export type ProtocolParse = { ok: true; frame: ProtocolOp } | { ok: false; error: ErrorFrame };

export interface SocketProtocol {
  /** One incoming frame, already known to be within the size limit: an operation, or an `error` frame to answer with. */
  parse(data: Buffer, isBinary: boolean): ProtocolParse;
  /** One frame of ours as it goes on the socket: none, one or several text frames. */
  render(frame: ServerFrame): string[];
  /** The server speaks first (`hello` once the socket opens); else it waits for the client's hello (`device_hello`). */
  readonly greetsFirst: boolean;
  /** The client never acks: a result counts as acked once its frames are written to the socket. */
  readonly acksOnWrite: boolean;
  /** The frames that stop the answer being spoken (`abort`); protocols without it need not say. */
  abort?(): string[];
}

/** JSON text frames, one object each, as the README describes them. */
export const jsonProtocol: SocketProtocol = {
  parse(data, isBinary) {
    if (isBinary) return { ok: false, error: errorFrame(FrameErrorCode.binaryNotSupported, 'Frames are JSON text, not binary') };
    return parseClientFrame(data.toString('utf8'));
  },
  render: (frame) => [JSON.stringify(frame)],
  greetsFirst: true,
  acksOnWrite: false,
};
