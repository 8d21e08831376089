// Temporal connection options for real clusters (namespace, TLS, mTLS, Temporal Cloud API key):
// what every client and worker is given, and start-up errors that name the variable. A real TLS
// handshake needs a TLS-terminating cluster, which this machine does not run; the options below
// are exactly what Connection.connect and NativeConnection.connect receive.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig } from '../config';
import { projectRoot } from '../lib/temporal-cli';
import { temporalConnectionOptions } from '../lib/temporal-connection';

const BASE = { TEMPORAL_ADDRESS: 'temporal.example.test:7233', TEMPORAL_NAMESPACE: 'prod-ns' };

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.problems.map((p) => `${p.variable}: ${p.message}`);
  }
  return [];
}

describe('Temporal connection options', function () {
  const dir = mkdtempSync(path.join(tmpdir(), 'temporal-tls-'));
  const files = { cert: path.join(dir, 'client.pem'), key: path.join(dir, 'client.key'), ca: path.join(dir, 'ca.pem') };
  before(() => {
    writeFileSync(files.cert, 'CERT');
    writeFileSync(files.key, 'KEY');
    writeFileSync(files.ca, 'CA');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('plain: the address, no TLS, no API key; the namespace is the configured one', function () {
    const config = loadConfig(BASE);
    assert.deepEqual(temporalConnectionOptions(config), { address: BASE.TEMPORAL_ADDRESS, tls: false });
    assert.equal(config.TEMPORAL_NAMESPACE, 'prod-ns');
  });

  it('TEMPORAL_TLS=true: server-authenticated TLS with the system roots', function () {
    assert.deepEqual(temporalConnectionOptions(loadConfig({ ...BASE, TEMPORAL_TLS: 'true' })), {
      address: BASE.TEMPORAL_ADDRESS,
      tls: true,
    });
  });

  it('mTLS: the client certificate pair and the CA read from their files', function () {
    const options = temporalConnectionOptions(
      loadConfig({ ...BASE, TEMPORAL_TLS_CERT_PATH: files.cert, TEMPORAL_TLS_KEY_PATH: files.key, TEMPORAL_TLS_CA_PATH: files.ca }),
    );
    assert.equal(typeof options.tls, 'object');
    const tls = options.tls as { clientCertPair?: { crt: Buffer; key: Buffer }; serverRootCACertificate?: Buffer };
    assert.equal(tls.clientCertPair?.crt.toString(), 'CERT');
    assert.equal(tls.clientCertPair?.key.toString(), 'KEY');
    assert.equal(tls.serverRootCACertificate?.toString(), 'CA');
  });

  it('Temporal Cloud API key: sent as the bearer token, and always over TLS', function () {
    const options = temporalConnectionOptions(loadConfig({ ...BASE, TEMPORAL_API_KEY: 'cloud-api-key-for-test' }));
    assert.equal(options.tls, true);
    assert.equal(options.apiKey, 'cloud-api-key-for-test');
  });

  it('a missing or unreadable TLS file stops start-up with the variable named', function () {
    const missing = path.join(dir, 'nope.pem');
    assert.deepEqual(problemsOf({ ...BASE, TEMPORAL_TLS_CA_PATH: missing }), [`TEMPORAL_TLS_CA_PATH: cannot read ${missing} (ENOENT)`]);
    assert.deepEqual(problemsOf({ ...BASE, TEMPORAL_TLS_CERT_PATH: missing, TEMPORAL_TLS_KEY_PATH: files.key }), [
      `TEMPORAL_TLS_CERT_PATH: cannot read ${missing} (ENOENT)`,
    ]);
  });

  it('a client certificate without its key (or the reverse) stops start-up', function () {
    assert.deepEqual(problemsOf({ ...BASE, TEMPORAL_TLS_CERT_PATH: files.cert }), [
      'TEMPORAL_TLS_KEY_PATH: required when TEMPORAL_TLS_CERT_PATH is set (mTLS)',
    ]);
    assert.deepEqual(problemsOf({ ...BASE, TEMPORAL_TLS_KEY_PATH: files.key }), [
      'TEMPORAL_TLS_CERT_PATH: required when TEMPORAL_TLS_KEY_PATH is set (mTLS)',
    ]);
  });

  it('every client and worker outside the embedded dev server connects through lib/temporal-connection.ts', function () {
    const offenders: string[] = [];
    const skip = new Set(['node_modules', '.tools', 'test', 'console', 'data', '.git']);
    const walk = (folder: string): void => {
      for (const name of readdirSync(folder)) {
        if (skip.has(name)) continue;
        const file = path.join(folder, name);
        if (statSync(file).isDirectory()) walk(file);
        else if (name.endsWith('.ts') && /\b(Native)?Connection\.connect\(/.test(readFileSync(file, 'utf8')))
          offenders.push(path.relative(projectRoot, file));
      }
    };
    walk(projectRoot);
    // The dev server's readiness probe talks to the server this process started, on loopback.
    assert.deepEqual(offenders.sort(), ['lib/temporal-connection.ts', 'runtime/temporal-dev-server.ts']);
  });
});
