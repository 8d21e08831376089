// Payload encryption for everything sent to Temporal (TEMPORAL_PAYLOAD_KEY): a PayloadCodec that
// seals each payload, metadata included, with AES-256-GCM under a key id (named as lib/secret-box
// names keys), and the data converter that clients and workers share. Encode uses the current key;
// decode accepts any configured one, so keys can rotate. Also the JSON shape of the codec server
// protocol the Temporal UI speaks (`{"payloads":[{"metadata":{k: base64},"data": base64}]}`).
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { METADATA_ENCODING_KEY, ValueError, type DataConverter, type Payload, type PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { keyId } from './secret-box';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
const IV_BYTES = 12;
const TAG_BYTES = 16;

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

export interface PayloadEncryption {
  codec: PayloadCodec;
  /** For `new Client({ dataConverter })` and `Worker.create({ dataConverter })`. */
  dataConverter: DataConverter;
  /** Bundled into the workflow code, so failures raised inside workflows are encoded too. */
  failureConverterPath: string;
  currentKeyId: string;
  keyIds: string[];
}

function metadataText(payload: Payload, key: string): string | undefined {
  const value = payload.metadata?.[key];
  return value ? fromUtf8.decode(value) : undefined;
}

export function isEncryptedPayload(payload: Payload): boolean {
  return metadataText(payload, METADATA_ENCODING_KEY) === ENCRYPTED_ENCODING;
}

/** Key id of an encrypted payload. */
export function payloadKeyId(payload: Payload): string | undefined {
  return isEncryptedPayload(payload) ? metadataText(payload, KEY_ID_METADATA) : undefined;
}

export function createPayloadCodec(keys: readonly Buffer[]): PayloadCodec & { currentKeyId: string } {
  if (keys.length === 0) throw new Error('at least one payload key is required');
  const byId = new Map(keys.map((k) => [keyId(k), k] as const));
  const current = keys[0]!;
  const currentKeyId = keyId(current);
  const currentKeyIdBytes = utf8.encode(currentKeyId);
  const encodingBytes = utf8.encode(ENCRYPTED_ENCODING);

  function seal(payload: Payload): Payload {
    const plain = temporal.api.common.v1.Payload.encode(payload).finish();
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', current, iv);
    // The key id is authenticated too: a payload cannot be relabelled to another key.
    cipher.setAAD(currentKeyIdBytes);
    const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    return { metadata: { [METADATA_ENCODING_KEY]: encodingBytes, [KEY_ID_METADATA]: currentKeyIdBytes }, data: sealed };
  }

  function open(payload: Payload): Payload {
    const kid = metadataText(payload, KEY_ID_METADATA);
    if (!kid) throw new ValueError('encrypted payload without a key id');
    const key = byId.get(kid);
    if (!key) throw new ValueError(`no payload key with id ${kid} is configured`);
    const data = Buffer.from(payload.data ?? new Uint8Array());
    if (data.length < IV_BYTES + TAG_BYTES) throw new ValueError('encrypted payload is too short');
    const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
    decipher.setAAD(utf8.encode(kid));
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    const plain = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
    return temporal.api.common.v1.Payload.decode(plain);
  }

  return {
    currentKeyId,
    async encode(payloads) {
      return payloads.map(seal);
    },
    async decode(payloads) {
      // Payloads written before encryption was switched on pass through as they are.
      return payloads.map((p) => (isEncryptedPayload(p) ? open(p) : p));
    },
  };
}

/** The codec and data converter for these keys (current first); undefined without keys: payloads stay as they are. */
export function createPayloadEncryption(keys: readonly Buffer[]): PayloadEncryption | undefined {
  if (keys.length === 0) return undefined;
  const codec = createPayloadCodec(keys);
  const failureConverterPath = require.resolve('./encrypted-failure-converter');
  return {
    codec,
    dataConverter: { payloadCodecs: [codec], failureConverterPath },
    failureConverterPath,
    currentKeyId: codec.currentKeyId,
    keyIds: keys.map(keyId),
  };
}

/** A payload as the codec server protocol carries it: metadata values and data in base64. */
export interface JsonPayload {
  metadata?: Record<string, string> | null;
  data?: string | null;
}

export function payloadFromJson(json: JsonPayload): Payload {
  const metadata: Record<string, Uint8Array> = {};
  for (const [k, v] of Object.entries(json.metadata ?? {})) metadata[k] = Buffer.from(v, 'base64');
  return { metadata, data: Buffer.from(json.data ?? '', 'base64') };
}

export function payloadToJson(payload: Payload): JsonPayload {
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(payload.metadata ?? {})) metadata[k] = Buffer.from(v).toString('base64');
  return { metadata, data: Buffer.from(payload.data ?? new Uint8Array()).toString('base64') };
}
