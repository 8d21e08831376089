// How every role reaches Temporal: TEMPORAL_ADDRESS (a cluster or Temporal Cloud, with optional
// mTLS and API key) or, in embedded mode, the dev server this process started on TEMPORAL_DEV_PORT.
// One options builder serves the client Connection and the worker's NativeConnection alike.
import { readFileSync } from 'node:fs';
import { Client, Connection, type DataConverter, type TLSConfig } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';

/** The settings this needs (the config module's AppConfig has them; lib/ sits below config/). */
export interface TemporalConfig {
  TEMPORAL_ADDRESS?: string;
  TEMPORAL_DEV_PORT: number;
  TEMPORAL_NAMESPACE: string;
  TEMPORAL_TLS: boolean;
  TEMPORAL_TLS_CERT_PATH?: string;
  TEMPORAL_TLS_KEY_PATH?: string;
  TEMPORAL_TLS_CA_PATH?: string;
  TEMPORAL_API_KEY?: string;
}

/** The client side of Temporal that the API and the gateway use. */
export interface TemporalHandles {
  connection: Connection;
  client: Client;
}

export interface TemporalConnectionOptions {
  address: string;
  tls: TLSConfig | boolean;
  apiKey?: string;
}

export function temporalAddress(config: TemporalConfig): string {
  return config.TEMPORAL_ADDRESS ?? `127.0.0.1:${config.TEMPORAL_DEV_PORT}`;
}

function readPem(file: string, variable: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`${variable}: cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Options shared by `Connection.connect` and `NativeConnection.connect`: every client (API, gateway,
 * scripts) and every worker (the session workers) connects with these.
 */
export function temporalConnectionOptions(config: TemporalConfig): TemporalConnectionOptions {
  const { TEMPORAL_TLS_CERT_PATH: cert, TEMPORAL_TLS_KEY_PATH: key, TEMPORAL_TLS_CA_PATH: ca } = config;
  if (Boolean(cert) !== Boolean(key)) {
    throw new Error('TEMPORAL_TLS_CERT_PATH and TEMPORAL_TLS_KEY_PATH must be set together');
  }
  // An API key (Temporal Cloud) is only ever sent over TLS.
  const useTls = config.TEMPORAL_TLS || Boolean(cert) || Boolean(ca) || Boolean(config.TEMPORAL_API_KEY);
  let tls: TLSConfig | boolean = useTls;
  if (cert || ca) {
    tls = {
      ...(cert && key
        ? { clientCertPair: { crt: readPem(cert, 'TEMPORAL_TLS_CERT_PATH'), key: readPem(key, 'TEMPORAL_TLS_KEY_PATH') } }
        : {}),
      ...(ca ? { serverRootCACertificate: readPem(ca, 'TEMPORAL_TLS_CA_PATH') } : {}),
    };
  }
  return { address: temporalAddress(config), tls, ...(config.TEMPORAL_API_KEY ? { apiKey: config.TEMPORAL_API_KEY } : {}) };
}

/**
 * Client-side handles for the API and the gateway (signals, queries, signal-with-start); with
 * payload encryption, the data converter of lib/payload-codec.
 */
export async function connectTemporal(config: TemporalConfig, dataConverter?: DataConverter): Promise<TemporalHandles> {
  const connection = await Connection.connect(temporalConnectionOptions(config));
  const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE, ...(dataConverter ? { dataConverter } : {}) });
  return { connection, client };
}

export async function closeTemporal(handles: TemporalHandles): Promise<void> {
  await handles.connection.close();
}

/** The worker side needs its own native (Rust core) connection. */
export function connectWorkerTemporal(config: TemporalConfig): Promise<NativeConnection> {
  return NativeConnection.connect(temporalConnectionOptions(config));
}
