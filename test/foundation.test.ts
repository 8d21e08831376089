// Migrations on a blank database, the environment schema, the egress policy and key rotation.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig, parseDuration } from '../config';
import { resolveSecrets } from '../config/secrets';
import { createDatabase, createMigrator, withPgClient } from '../db';
import { urlHost } from '../lib/address';
import { createTokenVerifier, mintToken } from '../lib/auth';
import { createCoalescer, MAX_IN_FLIGHT } from '../lib/coalesce';
import { addressDenial, checkUrlResolved, checkUrlStatic } from '../lib/egress';
import { createSecretBox, maskApiKey } from '../lib/secret-box';
import { createScratchDatabase } from './support/database';

async function tables(url: string): Promise<string[]> {
  const result = await withPgClient(url, (client) =>
    client.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
    ),
  );
  return result.rows.map((r) => r.table_name);
}

describe('foundation', () => {
  describe('migrations', () => {
    it('run up and down cleanly on an empty database, twice', async () => {
      const scratch = await createScratchDatabase('switchboard_migrations');
      const db = createDatabase(scratch.url);
      try {
        const migrator = createMigrator(db.sequelize);
        for (let round = 0; round < 2; round++) {
          await migrator.up();
          assert.deepEqual(await tables(scratch.url), [
            'api_keys',
            'chat_idempotency',
            'device_tool_calls',
            'device_tools',
            'rate_limit_counters',
            'schema_migrations',
            'user_ai_configs',
            'user_session_configs',
            'xiaozhi_devices',
          ]);
          assert.deepEqual(
            (await migrator.pending()).map((m) => m.name),
            [],
          );
          await migrator.down({ to: 0 });
          assert.deepEqual(await tables(scratch.url), ['schema_migrations']);
        }
        await migrator.up();
        // The schema enforces what the API relies on, even for writers that bypass it.
        await assert.rejects(
          db.sequelize.query("INSERT INTO user_ai_configs (user_id, config_name, config_type) VALUES ('u', 'n', 'robot')"),
          /check/i,
        );
        await db.sequelize.query("INSERT INTO user_ai_configs (user_id, config_name, config_type) VALUES ('u', 'n', 'llm')");
        await assert.rejects(
          db.sequelize.query("INSERT INTO user_ai_configs (user_id, config_name, config_type) VALUES ('u', 'n', 'llm')"),
          /unique/i,
        );
      } finally {
        await db.close();
        await scratch.drop();
      }
    });
  });

  describe('environment', () => {
    it('has the defaults of the design', () => {
      const config = loadConfig({});
      assert.equal(config.API_PORT, 8080);
      assert.equal(config.GATEWAY_PORT, 8081);
      assert.equal(config.TEMPORAL_NAMESPACE, 'default');
      assert.equal(config.TEMPORAL_TASK_QUEUE, 'ai-sessions');
      assert.equal(config.TEMPORAL_DEV_PORT, 7233);
      assert.equal(config.TEMPORAL_UI_PORT, 8233);
      assert.equal(config.SESSION_IDLE_TTL, 30 * 60_000);
      assert.equal(config.LOG_LEVEL, 'info');
      assert.equal(config.embeddedDatabase, true);
      assert.equal(config.embeddedTemporal, true);
      assert.ok(Object.isFrozen(config));
    });

    const bad: [Record<string, string>, string][] = [
      [{ API_PORT: 'eighty' }, 'API_PORT'],
      [{ API_PORT: '70000' }, 'API_PORT'],
      [{ SESSION_IDLE_TTL: 'soon' }, 'SESSION_IDLE_TTL'],
      [{ EGRESS_ALLOW: '10.0.0.0/8,not-an-ip' }, 'EGRESS_ALLOW'],
      [{ EGRESS_ALLOW: '10.0.0.0/33' }, 'EGRESS_ALLOW'],
      [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
      [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
      [{ JWT_SECRET: 'short' }, 'JWT_SECRET'],
      [{ ROUTER_LLM_BASE_URL: 'http://127.0.0.1:1/v1' }, 'ROUTER_LLM_MODEL'],
    ];
    for (const [env, variable] of bad) {
      it(`refuses ${JSON.stringify(env)} naming ${variable}`, () => {
        assert.throws(
          () => loadConfig(env),
          (error: unknown) =>
            error instanceof ConfigError && error.problems.some((p) => p.variable === variable) && error.message.includes(variable),
        );
      });
    }

    it('parses durations', () => {
      assert.equal(parseDuration('30m'), 1_800_000);
      assert.equal(parseDuration('90s'), 90_000);
      assert.equal(parseDuration('1h'), 3_600_000);
      assert.equal(parseDuration('250'), 250);
      assert.equal(parseDuration('1 fortnight'), undefined);
    });

    it('generates secrets once under DATA_DIR outside production, and demands them in production', () => {
      const dataDir = mkdtempSync(path.join(os.tmpdir(), 'switchboard-secrets-'));
      const first = resolveSecrets(loadConfig({ DATA_DIR: dataDir }));
      const second = resolveSecrets(loadConfig({ DATA_DIR: dataDir }));
      assert.equal(first.jwtSecret, second.jwtSecret);
      assert.deepEqual(first.encryptionKeys, second.encryptionKeys);
      assert.equal(first.encryptionKeys[0]!.length, 32);
      assert.equal(statSync(path.join(dataDir, 'secrets', 'jwt-secret')).mode & 0o777, 0o600);
      assert.ok(readFileSync(path.join(dataDir, 'secrets', 'jwt-secret'), 'utf8').trim().length >= 32);
      assert.throws(() => resolveSecrets(loadConfig({ NODE_ENV: 'production', DATA_DIR: dataDir })), /JWT_SECRET/);
      assert.throws(
        () => resolveSecrets(loadConfig({ NODE_ENV: 'production', DATA_DIR: dataDir, JWT_SECRET: 'x'.repeat(32) })),
        /CONFIG_ENCRYPTION_KEY/,
      );
      assert.throws(() => resolveSecrets(loadConfig({ DATA_DIR: dataDir, CONFIG_ENCRYPTION_KEY: 'too-short' })), /CONFIG_ENCRYPTION_KEY/);
    });
  });

  describe('API key encryption', () => {
    it('rotates: new writes use the current key, old ciphertexts still decrypt, unknown keys fail', () => {
      const oldKey = randomBytes(32);
      const newKey = randomBytes(32);
      const before = createSecretBox([oldKey]).encrypt('sk-rotate-me-1234567890');
      const rotated = createSecretBox([newKey, oldKey]);
      assert.equal(rotated.decrypt(before), 'sk-rotate-me-1234567890');
      const after = rotated.encrypt('sk-rotate-me-1234567890');
      assert.equal(rotated.keyIdOf(after), rotated.currentKeyId);
      assert.notEqual(rotated.keyIdOf(before), rotated.currentKeyId);
      assert.throws(() => createSecretBox([newKey]).decrypt(before), /no encryption key/);
      const tampered = after.slice(0, -2) + (after.endsWith('AA') ? 'BB' : 'AA');
      assert.throws(() => rotated.decrypt(tampered));
    });

    it('masks keys to a prefix and the last four characters, and short keys entirely', () => {
      assert.equal(maskApiKey('sk-abcdefghijklmnopqrstuvwxyz'), 'sk-…wxyz');
      assert.equal(maskApiKey('abcdefghijklmnopqrstuvwxyz'), '…wxyz');
      assert.equal(maskApiKey('short-key'), '…');
    });
  });

  describe('egress policy', () => {
    const none = loadConfig({}).egressAllow;
    const loopbackAllowed = loadConfig({ EGRESS_ALLOW: '127.0.0.0/8, 10.1.0.0/16' }).egressAllow;

    it('never allows link-local, metadata or reserved addresses, whatever the allow list says', () => {
      const everything = loadConfig({ EGRESS_ALLOW: '0.0.0.0/0,::/0' }).egressAllow;
      for (const address of [
        '169.254.169.254',
        '169.254.1.1',
        '0.0.0.0',
        '224.0.0.1',
        'fe80::1',
        '::',
        'fd00:ec2::254',
        '::ffff:169.254.169.254',
        '100.100.100.200',
      ]) {
        assert.ok(addressDenial(address, everything), address);
      }
    });

    it('allows private and loopback ranges only when listed', () => {
      for (const address of ['127.0.0.1', '10.0.0.5', '172.16.3.4', '192.168.1.1', '::1', 'fd12::1', '::ffff:127.0.0.1', '100.64.0.1']) {
        assert.ok(addressDenial(address, none), address);
      }
      assert.equal(addressDenial('127.0.0.1', loopbackAllowed), undefined);
      assert.equal(addressDenial('::ffff:127.0.0.1', loopbackAllowed), undefined);
      assert.equal(addressDenial('10.1.2.3', loopbackAllowed), undefined);
      assert.ok(addressDenial('10.2.0.1', loopbackAllowed));
      assert.equal(addressDenial('8.8.8.8', none), undefined);
    });

    it('checks scheme and literal hosts statically', () => {
      assert.throws(() => checkUrlStatic('base_url', 'file:///etc/passwd', none), /http/);
      assert.throws(() => checkUrlStatic('base_url', 'http://localhost:11434/v1', none), /private or loopback/);
      assert.throws(() => checkUrlStatic('base_url', 'http://[::1]:8080/', none), /private or loopback/);
      assert.throws(() => checkUrlStatic('base_url', 'http://2130706433/', none), /private or loopback/); // 127.0.0.1 as a number
      assert.equal(checkUrlStatic('base_url', 'https://api.deepseek.com/v1', none).hostname, 'api.deepseek.com');
    });

    it('judges an IPv6 address that carries an IPv4 one by that address, and ignores a trailing dot in names', () => {
      for (const url of [
        'http://[::7f00:1]/v1',
        'http://[::ffff:7f00:1]/v1',
        'http://[::ffff:0:7f00:1]/v1',
        'http://[::127.0.0.1]/v1',
        'http://[64:ff9b::a9fe:a9fe]/v1',
        'http://[2002:a9fe:a9fe::]/v1',
        'http://[2002:7f00:1::1]/v1',
        'http://metadata.google.internal./',
        'http://localhost./v1',
        'http://localhost../v1',
      ]) {
        assert.throws(() => checkUrlStatic('base_url', url, none), /never allowed|private or loopback/, url);
      }
      for (const address of ['::ffff:8.8.8.8', '2002:808:808::1', '64:ff9b::808:808', '2606:4700::1111']) {
        assert.equal(addressDenial(address, none), undefined, address);
      }
      assert.ok(addressDenial('::', none));
      assert.ok(addressDenial('::1', none));
      assert.equal(checkUrlStatic('base_url', 'http://[::ffff:7f00:1]:1/v1', loopbackAllowed).port, '1');
    });

    it('checks again after DNS resolution at call time', async () => {
      // The machine's own name passes the static check but resolves to a loopback/private address.
      const own = os.hostname();
      assert.doesNotThrow(() => checkUrlStatic('base_url', `http://${own}:1/v1`, none));
      await assert.rejects(checkUrlResolved('base_url', `http://${own}:1/v1`, none), (error: Error) => {
        // It says that the name is refused, never what it resolves to.
        assert.equal(error.message, `${own.toLowerCase()} resolves to an address that is not allowed`);
        return true;
      });
      const allowed = await checkUrlResolved('base_url', 'http://localhost:1/v1', loopbackAllowed);
      assert.equal(allowed.port, '1');
    });
  });

  describe('addresses', () => {
    it('shows a wildcard bind as loopback and brackets IPv6 for URLs', () => {
      assert.deepEqual(['0.0.0.0', '::', '10.1.2.3', '::1', 'api.example.com'].map(urlHost), [
        '127.0.0.1',
        '127.0.0.1',
        '10.1.2.3',
        '[::1]',
        'api.example.com',
      ]);
    });
  });

  describe('token verifier', () => {
    it('remembers a verified token, but not beyond its expiry', async () => {
      const secret = randomBytes(32).toString('base64url');
      let clock = Date.now();
      const verifier = createTokenVerifier(
        { JWT_JWKS_URL: undefined, JWT_ISSUER: undefined, JWT_AUDIENCE: undefined },
        { jwtSecret: secret },
        () => clock,
      );
      const token = await mintToken(secret, 'alice', { expiresIn: '30s' });
      assert.equal((await verifier.verify(token)).userId, 'alice');
      assert.equal((await verifier.verify(token)).userId, 'alice');
      clock += 40_000; // past exp and jose's 5 s tolerance
      await assert.rejects(verifier.verify(token), { status: 401, message: 'Token expired' });
      await assert.rejects(verifier.verify(token.slice(0, -2) + 'xx'), { status: 401, message: 'Invalid token' });
    });
  });

  describe('read coalescing', () => {
    function deferred() {
      let resolve!: (value: string) => void;
      let reject!: (error: Error) => void;
      const promise = new Promise<string>((res, rej) => ((resolve = res), (reject = rej)));
      return { promise, resolve, reject };
    }

    /** A read that records itself and stays pending until the test settles it. */
    function recordedReads() {
      const reads: ReturnType<typeof deferred>[] = [];
      const read = () => {
        const d = deferred();
        reads.push(d);
        return d.promise;
      };
      return { reads, read };
    }

    const turn = () => new Promise((resolve) => setImmediate(resolve));

    it('gives the callers of one event-loop turn one read, sent after they asked, never a running one', async () => {
      const coalesce = createCoalescer<string>();
      const { reads, read } = recordedReads();
      const first = coalesce('k', read);
      const second = coalesce('k', read);
      const other = coalesce('other', read);
      assert.equal(reads.length, 0, 'nothing is sent before the turn ends');
      await turn();
      assert.equal(reads.length, 2, 'one read per key for the turn');
      const third = coalesce('k', read); // arrives while the first read runs: never shares it
      await turn();
      assert.equal(reads.length, 3, 'a second read of the key runs beside the first');
      reads[0]!.resolve('r1');
      assert.deepEqual(await Promise.all([first, second]), ['r1', 'r1']);
      reads[2]!.reject(new Error('down'));
      await assert.rejects(third, /down/);
      reads[1]!.resolve('o');
      assert.equal(await other, 'o');
      const later = coalesce('k', () => {
        throw new Error('no connection');
      });
      await assert.rejects(later, /no connection/);
    });

    it(`runs at most ${MAX_IN_FLIGHT} reads of a key; the callers beyond wait together for the next`, async () => {
      const coalesce = createCoalescer<string>();
      const { reads, read } = recordedReads();
      const running: Promise<string>[] = [];
      for (let i = 0; i < MAX_IN_FLIGHT; i++) {
        running.push(coalesce('k', read));
        await turn();
      }
      assert.equal(reads.length, MAX_IN_FLIGHT);
      const waiting = [coalesce('k', read), coalesce('k', read)];
      await turn();
      assert.equal(reads.length, MAX_IN_FLIGHT, 'no read beyond the cap');
      reads[1]!.resolve('early');
      assert.equal(await running[1], 'early');
      await turn();
      assert.equal(reads.length, MAX_IN_FLIGHT + 1, 'the waiting callers get the next read once one ends');
      reads[MAX_IN_FLIGHT]!.resolve('next');
      assert.deepEqual(await Promise.all(waiting), ['next', 'next']);
      for (const [i, d] of reads.entries()) if (i !== 1 && i !== MAX_IN_FLIGHT) d.resolve(`r${i}`);
      assert.deepEqual(
        await Promise.all(running),
        Array.from({ length: MAX_IN_FLIGHT }, (_, i) => (i === 1 ? 'early' : `r${i}`)),
      );
    });
  });
});
