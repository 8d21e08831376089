// The seam between a socket's bytes and the session: a protocol turns what a client sends into
// the operations a connection carries out (`ClientFrame`: a message, an ack, a settings change,
// ping, close) and renders the frames the session produces (`ServerFrame`) as its own. The
// connection, the socket writer and the signal pump never see the wire format. Today's JSON
// protocol (README, "WebSocket protocol"; parsed in protocol.ts) is the one implementation; a
// device protocol is a second module beside it that speaks the same operations.
import type { ServerFrame } from '../contract';
import { errorFrame, FrameErrorCode, parseClientFrame, type ParseResult } from './protocol';

export interface SocketProtocol {
  /** One incoming frame, already known to be within the size limit: an operation, or an `error` frame to answer with. */
  parse(data: Buffer, isBinary: boolean): ParseResult;
  /** One frame of ours as it goes on the socket. */
  render(frame: ServerFrame): string;
}

/** JSON text frames, one object each, as the README describes them. */
export const jsonProtocol: SocketProtocol = {
  parse(data, isBinary) {
    if (isBinary) return { ok: false, error: errorFrame(FrameErrorCode.binaryNotSupported, 'Frames are JSON text, not binary') };
    return parseClientFrame(data.toString('utf8'));
  },
  render: (frame) => JSON.stringify(frame),
};
