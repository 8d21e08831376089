// Device-side MCP (issue 16): the gateway is the MCP client of a xiaozhi device, over the device's
// own socket (`{"type":"mcp","payload":<JSON-RPC>}`). After the device's `hello` with
// `features.mcp`: `initialize` (with `capabilities.vision`, which xiaozhi-sdk reads whatever it
// does), `notifications/initialized`, then `tools/list` page by page (`nextCursor`), bounded
// (DEVICE_TOOL_BOUNDS); the list is stored for the session, where the answer step reads it.
//
// Calls (ARCHITECTURE.md, "Device tools"): the workflow publishes `device_tool_call` on the relay;
// the gateway claims its call id in PostgreSQL and sends `tools/call` only when the claim is new,
// so a call asked for again (the step run again after a worker crash) is never sent twice. The
// answer, or why there is none, goes back as the `deviceToolResult` signal and is kept on the
// claim, so a repeated ask gets it again; an ask whose first call went out on another socket or
// gateway and whose answer is lost gets a `failed` result saying the tool may have run.
//
// The protocol's connection owns the socket: it hands every `mcp` payload to `onDevicePayload`
// and builds the client with a `send` that writes one; `DeviceTools` (one per gateway) takes the
// relay's `device_tool_call` frames to the client of the socket they name.
import type { Client } from '@temporalio/client';
import {
  cutAnswer,
  deviceNotConnectedText,
  DEVICE_TOOL_BOUNDS,
  DEVICE_TOOL_TIMEOUT,
  deviceToolResultSignal,
  TOOL_NAME_PATTERN,
  VISION_PATH,
  type DeviceTool,
  type DeviceToolCallFrame,
  type DeviceToolResult,
  type RelayFrame,
} from '../contract';
import { createDeviceToolStore, type Database, type DeviceToolStore } from '../db';
import { urlHost } from '../lib/address';
import type { Logger } from '../lib/logger';
import type { RelayDelivery } from '../relay';
import type { ClientConnection, DeviceMcpHook } from './connection';
import type { DeviceFeatures } from './socket-protocol';
import type { AppConfig } from '../config';
import { msToNumber } from '@temporalio/common/lib/time';

/** The MCP revision xiaozhi firmware and xiaozhi-sdk answer with. */
export const DEVICE_MCP_PROTOCOL_VERSION = '2024-11-05';
/** How long `initialize` and each `tools/list` page may take. */
const LIST_TIMEOUT_MS = 10_000;
/** The gateway's own wait for a `tools/call` answer: past the workflow's timer, which decides. */
const CALL_TIMEOUT_MS = msToNumber(DEVICE_TOOL_TIMEOUT) + 5_000;
/** Longest `nextCursor` followed. */
const MAX_CURSOR_CHARS = 256;

/**
 * `capabilities.vision.url`, from configuration (never a request's Host): GATEWAY_PUBLIC_URL's
 * origin as http(s) when set (a proxy in front serves both), else PUBLIC_HOST (or HOST) and API_PORT.
 */
export function visionUrl(config: Pick<AppConfig, 'GATEWAY_PUBLIC_URL' | 'PUBLIC_HOST' | 'HOST' | 'API_PORT'>): string {
  if (config.GATEWAY_PUBLIC_URL) {
    const url = new URL(config.GATEWAY_PUBLIC_URL);
    return `${url.protocol === 'wss:' ? 'https:' : 'http:'}//${url.host}${VISION_PATH}`;
  }
  return `http://${urlHost(config.PUBLIC_HOST ?? config.HOST)}:${config.API_PORT}${VISION_PATH}`;
}

type JsonRpcId = number | string;
type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

class RequestFailed extends Error {
  constructor(
    message: string,
    /** `unsent`: the request never went out; `lost`: it did, and no answer will come. */
    readonly why: 'unsent' | 'lost' | 'timeout' | 'refused',
  ) {
    super(message);
  }
}

/** A tool as a device listed it, within DEVICE_TOOL_BOUNDS; undefined when it is unusable. */
export function boundedTool(raw: unknown): DeviceTool | undefined {
  if (!isObject(raw)) return undefined;
  const { name, description, inputSchema } = raw;
  if (typeof name !== 'string' || name.length > DEVICE_TOOL_BOUNDS.nameChars || !TOOL_NAME_PATTERN.test(name)) return undefined;
  const schema = isObject(inputSchema) ? inputSchema : { type: 'object', properties: {} };
  if (Buffer.byteLength(JSON.stringify(schema)) > DEVICE_TOOL_BOUNDS.schemaBytes) return undefined;
  const text = typeof description === 'string' ? description.slice(0, DEVICE_TOOL_BOUNDS.descriptionChars) : '';
  return { name, description: text, inputSchema: schema };
}

/** The text of an MCP `tools/call` result: its text parts, one per line (a result without any: its JSON). */
function resultText(result: unknown): string {
  const content = isObject(result) ? result.content : undefined;
  if (!Array.isArray(content)) return JSON.stringify(result ?? null);
  return content.map((part: unknown) => (isObject(part) && typeof part.text === 'string' ? part.text : JSON.stringify(part))).join('\n');
}

export interface DeviceMcpOptions {
  userId: string;
  sessionId: string;
  workflowId: string;
  /** Writes `{"type":"mcp","payload":…}` to the device. */
  send(payload: JsonObject): void;
  /** `capabilities.vision` in `initialize`. */
  vision: { url: string; token: string };
  logger: Logger;
}

/** The MCP client of one device socket. */
export class DeviceMcpClient {
  private nextId = 1;
  private readonly waiting = new Map<JsonRpcId, { settle(reply: JsonObject | RequestFailed): void; timer: NodeJS.Timeout }>();
  /** Calls sent on this socket whose answer is awaited, by call id. */
  private readonly inFlight = new Set<string>();
  private closed = false;
  /** The tools listed, once `start` has listed them. */
  tools: DeviceTool[] = [];

  constructor(
    readonly options: DeviceMcpOptions,
    private readonly owner: {
      store: DeviceToolStore;
      gateway: string;
      signal(workflowId: string, result: DeviceToolResult): Promise<void>;
    },
  ) {}

  /** A JSON-RPC message from the device: an answer to one of our requests (its own requests are not served). */
  onDevicePayload(payload: unknown): void {
    if (!isObject(payload) || !('id' in payload) || 'method' in payload) return;
    const id = payload.id as JsonRpcId;
    const waiter = this.waiting.get(id);
    if (!waiter) return;
    this.waiting.delete(id);
    clearTimeout(waiter.timer);
    waiter.settle(payload);
  }

  private request(method: string, params: JsonObject, timeoutMs: number): Promise<JsonObject> {
    if (this.closed) return Promise.reject(new RequestFailed('the device is not connected', 'unsent'));
    const id = this.nextId++;
    return new Promise<JsonObject>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new RequestFailed(`the device did not answer ${method} within ${Math.round(timeoutMs / 1000)} s`, 'timeout'));
      }, timeoutMs);
      timer.unref();
      this.waiting.set(id, {
        timer,
        settle: (reply) => {
          if (reply instanceof RequestFailed) return reject(reply);
          if (isObject(reply.error)) {
            const message = typeof reply.error.message === 'string' ? reply.error.message.slice(0, 500) : 'error';
            return reject(new RequestFailed(`the device refused ${method}: ${message}`, 'refused'));
          }
          resolve(isObject(reply.result) ? reply.result : {});
        },
      });
      this.options.send({ jsonrpc: '2.0', id, method, params });
    });
  }

  /** `initialize`, `notifications/initialized`, then every `tools/list` page within the bounds; the list is stored for the session. */
  async start(): Promise<DeviceTool[]> {
    await this.request(
      'initialize',
      {
        protocolVersion: DEVICE_MCP_PROTOCOL_VERSION,
        capabilities: { vision: this.options.vision },
        clientInfo: { name: 'switchboard', version: '1' },
      },
      LIST_TIMEOUT_MS,
    );
    if (this.closed) return [];
    this.options.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    const tools = new Map<string, DeviceTool>();
    let cursor: string | undefined;
    for (let page = 0; page < DEVICE_TOOL_BOUNDS.maxPages && tools.size < DEVICE_TOOL_BOUNDS.maxTools; page++) {
      const result = await this.request('tools/list', cursor === undefined ? {} : { cursor }, LIST_TIMEOUT_MS);
      const listed: unknown[] = Array.isArray(result.tools) ? result.tools : [];
      for (const raw of listed) {
        const tool = boundedTool(raw);
        if (tool && !tools.has(tool.name) && tools.size < DEVICE_TOOL_BOUNDS.maxTools) tools.set(tool.name, tool);
      }
      const next = result.nextCursor;
      if (typeof next !== 'string' || next === '' || next.length > MAX_CURSOR_CHARS) break;
      cursor = next;
    }
    this.tools = [...tools.values()];
    await this.owner.store.saveTools(this.options.userId, this.options.sessionId, this.tools);
    this.options.logger.info({ tools: this.tools.length }, 'device tools listed');
    return this.tools;
  }

  /** One call the workflow asked for: claimed, then sent at most once; its outcome is signalled back. */
  async call(frame: DeviceToolCallFrame): Promise<void> {
    const { callId, name } = frame;
    const claim = await this.owner.store.claimCall({ callId, userId: this.options.userId, name, gateway: this.owner.gateway });
    let outcome: Omit<DeviceToolResult, 'callId'>;
    if (!claim.claimed) {
      // Asked again: its first call's answer is on its way (sent here), or recorded, or lost.
      if (this.inFlight.has(callId)) return;
      outcome = claim.earlier.outcome ?? {
        status: 'failed',
        result: '',
        error: `device tool "${name}" was sent to the device once already and its answer was lost; the tool may have run`,
      };
      return this.answer(frame, outcome, false);
    }
    this.inFlight.add(callId);
    try {
      const result = await this.request('tools/call', { name, arguments: frame.arguments }, CALL_TIMEOUT_MS);
      const text = cutAnswer(resultText(result));
      outcome =
        result.isError === true
          ? { status: 'failed', result: '', error: `device tool "${name}" failed on the device: ${text.slice(0, 2000)}` }
          : { status: 'success', result: text };
    } catch (err) {
      const failure = err instanceof RequestFailed ? err : new RequestFailed(String(err), 'lost');
      const error =
        failure.why === 'unsent'
          ? deviceNotConnectedText(name)
          : failure.why === 'refused'
            ? `Device tool "${name}": ${failure.message}`
            : failure.why === 'timeout'
              ? `${failure.message}; the tool may have run`
              : `the device disconnected before it answered device tool "${name}"; the tool may have run`;
      outcome = { status: 'failed', result: '', error };
    }
    try {
      // Still in flight while answering, so a repeated ask meanwhile waits for this answer.
      await this.answer(frame, outcome, true);
    } finally {
      this.inFlight.delete(callId);
    }
  }

  /** The outcome, recorded on the claim for a repeated ask (best effort: the signal matters more), then signalled. */
  private async answer(frame: DeviceToolCallFrame, outcome: Omit<DeviceToolResult, 'callId'>, record: boolean): Promise<void> {
    const result: DeviceToolResult = { callId: frame.callId, ...outcome };
    if (record) {
      await this.owner.store.recordOutcome(result).catch((error: unknown) => {
        this.options.logger.warn({ err: error, callId: frame.callId }, 'could not record a device tool outcome');
      });
    }
    await this.owner.signal(frame.workflowId, result);
  }

  /** The socket closed: requests in flight fail (a call that went out may have run). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const [id, waiter] of this.waiting) {
      this.waiting.delete(id);
      clearTimeout(waiter.timer);
      waiter.settle(new RequestFailed('the device disconnected', 'lost'));
    }
  }
}

export interface DeviceToolsOptions {
  db: Database;
  client: Client;
  /** This gateway (recorded on each claim). */
  instanceId: string;
  logger: Logger;
  /** `capabilities.vision` for the clients the hook makes (`visionUrl`). */
  vision: { url: string; token: string };
}

/**
 * The device MCP clients of one gateway, by socket (connection id), and where the relay's
 * `device_tool_call` frames go: to the client of the socket they name, or, when that socket is
 * not here (closed, or another kind of socket), straight back as a `failed` result: nothing sent.
 */
export class DeviceTools implements DeviceMcpHook {
  private readonly clients = new Map<string, DeviceMcpClient>();
  private readonly store: DeviceToolStore;

  constructor(private readonly options: DeviceToolsOptions) {
    this.store = createDeviceToolStore(options.db.sequelize);
  }

  private readonly signal = async (workflowId: string, result: DeviceToolResult): Promise<void> => {
    try {
      await this.options.client.workflow.getHandle(workflowId).signal(deviceToolResultSignal, result);
    } catch (error) {
      this.options.logger.warn({ err: error, workflowId }, 'could not signal a device tool result');
    }
  };

  /** A device socket that speaks MCP: its client, registered until `detach`. Call `start()` on it to list the tools. */
  attach(connectionId: string, options: DeviceMcpOptions): DeviceMcpClient {
    const client = new DeviceMcpClient(options, { store: this.store, gateway: this.options.instanceId, signal: this.signal });
    this.clients.get(connectionId)?.close();
    this.clients.set(connectionId, client);
    return client;
  }

  detach(connectionId: string): void {
    this.clients.get(connectionId)?.close();
    this.clients.delete(connectionId);
  }

  // The xiaozhi connection's hook (connection.ts, DeviceMcpHook): a device that offers MCP gets a
  // client on its hello, which lists its tools at once; its mcp frames go to that client.

  onHello(features: DeviceFeatures, connection: ClientConnection): void {
    if (!features.mcp) return;
    const client = this.attach(connection.id, {
      userId: connection.userId,
      sessionId: connection.sessionId,
      workflowId: connection.workflowId,
      send: (payload) => void connection.sendMcp(payload),
      vision: this.options.vision,
      logger: this.options.logger.child({ connectionId: connection.id }),
    });
    client
      .start()
      .catch((error: unknown) => this.options.logger.info({ err: error, connectionId: connection.id }, 'device tools not listed'));
  }

  onMcpPayload(payload: unknown, connection: ClientConnection): void {
    this.clients.get(connection.id)?.onDevicePayload(payload);
  }

  onClose(connection: ClientConnection): void {
    this.detach(connection.id);
  }

  /** The relay's delivery for one socket, without its device tool calls, which are handled here. */
  take(connectionId: string, delivery: RelayDelivery): RelayDelivery | undefined {
    if ('fetchOutbox' in delivery) return delivery;
    const rest: RelayFrame[] = [];
    for (const frame of delivery.frames) {
      if (frame.type === 'device_tool_call') void this.dispatch(connectionId, frame);
      else rest.push(frame);
    }
    return rest.length ? { frames: rest } : undefined;
  }

  private async dispatch(connectionId: string, frame: DeviceToolCallFrame): Promise<void> {
    const client = this.clients.get(connectionId);
    try {
      if (client) return await client.call(frame);
      await this.signal(frame.workflowId, {
        callId: frame.callId,
        status: 'failed',
        result: '',
        error: deviceNotConnectedText(frame.name),
      });
    } catch (error) {
      // The claim could not be made (the database): nothing was sent; the workflow's timer answers.
      this.options.logger.warn({ err: error, callId: frame.callId }, 'a device tool call could not be made');
    }
  }
}
