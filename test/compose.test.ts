// docker-compose.yml cannot be run here (no Docker engine), so its contract with the code is
// checked statically: every variable our services set is one config/index.ts reads, the values
// pass its validation, ports and addresses line up between services, roles are real roles, and
// the search attributes registered are the ones the workflow sets. Where `docker compose` exists,
// `docker compose config` validates the file too; elsewhere that test says so and checks the rest.
// The file is read with the maintained `yaml` parser (YAML 1.2, as compose reads it).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { envSchema, loadConfig } from '../config';
import { isAllowedOrigin, isServedHost } from '../lib/host-policy';
import { projectRoot } from '../lib/temporal-cli';
import { ROLE_NAMES } from '../runtime/roles';
import { sessionSearchAttributes } from '../contract';
import { parse as parseYaml } from 'yaml';

interface Service {
  image?: string;
  restart?: string;
  build?: string;
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
}

interface ComposeFile {
  services: Record<string, Service>;
}

/**
 * Compose's own interpolation: `$$` is a literal `$`, `${VAR:-default}` / `${VAR-default}` fall
 * back, `${VAR:?message}` / `${VAR?message}` are required. `given` plays the shell environment.
 */
function interpolate(text: string, given: Record<string, string>, required: Set<string>): string {
  return text.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}/g,
    (whole, name?: string, colon?: string, op?: string, arg?: string) => {
      if (whole === '$$') return '$';
      const value = given[name!];
      const unset = value === undefined || (colon === ':' && value === '');
      if (op === '?') {
        required.add(name!);
        assert.ok(arg, `\${${name}:?} should say how to set it`);
        return unset ? '' : value;
      }
      if (op === '-') return unset ? arg! : value;
      return value ?? '';
    },
  );
}

// Compose resolves `<<: *anchor` merge keys (YAML 1.1), which the parser does on request.
const compose = parseYaml(readFileSync(path.join(projectRoot, 'docker-compose.yml'), 'utf8'), { merge: true }) as ComposeFile;
const services = compose.services;
const ourServices = Object.entries(services).filter(([, s]) => s.build !== undefined);
const knownVariables = new Set(Object.keys(envSchema.shape));

/** `docker compose` (the v2 plugin), when this machine has one: compose's own validation of the file. */
const composeCli = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8', timeout: 20_000 });
const hasCompose = composeCli.status === 0;

function containerPorts(service: Service): number[] {
  return (service.ports ?? []).map((mapping) => Number(mapping.split(':').at(-1)));
}

describe('docker-compose.yml', function () {
  it('runs each role in its own service built from the Dockerfile', function () {
    assert.deepEqual(ourServices.map(([name]) => name).sort(), [...ROLE_NAMES].sort());
    for (const [name, service] of ourServices) {
      assert.deepEqual(service.command, ['--role', name], `${name}: command`);
    }
    const dockerfile = readFileSync(path.join(projectRoot, 'Dockerfile'), 'utf8');
    assert.match(dockerfile, /^ENTRYPOINT \["node", "--import", "tsx", "main\.ts"\]$/m);
  });

  it('sets only variables config/index.ts reads, and values it accepts', function () {
    for (const [name, service] of ourServices) {
      const environment = service.environment ?? {};
      const unknown = Object.keys(environment).filter((key) => !knownVariables.has(key));
      assert.deepEqual(unknown, [], `${name}: variables config/index.ts does not read`);

      const required = new Set<string>();
      const shell = { JWT_SECRET: 'x'.repeat(48), CONFIG_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64') };
      const env = Object.fromEntries(Object.entries(environment).map(([key, value]) => [key, interpolate(value, shell, required)]));
      assert.deepEqual([...required].sort(), ['CONFIG_ENCRYPTION_KEY', 'JWT_SECRET'], `${name}: secrets must be required, never defaulted`);
      const config = loadConfig(env);
      assert.equal(config.NODE_ENV, 'production', name);
      assert.equal(config.HOST, '0.0.0.0', `${name} must listen beyond the container's loopback`);
      assert.equal(config.embeddedDatabase, false, `${name}: DATABASE_URL`);
      assert.equal(config.embeddedTemporal, false, `${name}: TEMPORAL_ADDRESS`);

      const database = new URL(config.DATABASE_URL!);
      const postgres = services[database.hostname];
      assert.ok(postgres?.image?.startsWith('postgres:'), `${name}: DATABASE_URL host is the postgres service`);
      const pgEnv = Object.fromEntries(Object.entries(postgres.environment ?? {}).map(([k, v]) => [k, interpolate(v, {}, new Set())]));
      assert.equal(database.username, pgEnv.POSTGRES_USER);
      assert.equal(decodeURIComponent(database.password), pgEnv.POSTGRES_PASSWORD);
      assert.equal(database.pathname, `/${pgEnv.POSTGRES_DB}`);
      assert.equal(database.port || '5432', '5432');

      const [temporalHost, temporalPort] = config.TEMPORAL_ADDRESS!.split(':');
      const temporal = services[temporalHost!];
      assert.ok(temporal?.image?.startsWith('temporalio/server:'), `${name}: TEMPORAL_ADDRESS host is the Temporal server`);
      assert.ok(temporal.healthcheck?.test.includes(temporalPort!), 'the Temporal health check probes the port we use');
    }
  });

  it('publishes the API and gateway on the ports they listen on, and checks health there', function () {
    const required = new Set<string>();
    const shell = { JWT_SECRET: 'x'.repeat(48), CONFIG_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64') };
    const configFor = (name: string) =>
      loadConfig(
        Object.fromEntries(Object.entries(services[name]!.environment ?? {}).map(([k, v]) => [k, interpolate(v, shell, required)])),
      );
    const api = configFor('api');
    const gateway = configFor('gateway');
    assert.deepEqual(containerPorts(services.api!), [api.API_PORT]);
    assert.deepEqual(containerPorts(services.gateway!), [gateway.GATEWAY_PORT]);
    assert.deepEqual(containerPorts(services.worker!), [], 'the worker serves nothing');
    assert.ok(services.api!.healthcheck!.test.join(' ').includes(`127.0.0.1:${api.API_PORT}/readyz`));
    assert.ok(services.gateway!.healthcheck!.test.join(' ').includes(`127.0.0.1:${gateway.GATEWAY_PORT}/healthz`));
  });

  it('lets the console it publishes open sockets, and passes ALLOWED_HOSTS and ALLOWED_ORIGINS through', function () {
    const shell = { JWT_SECRET: 'x'.repeat(48), CONFIG_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64') };
    const configFor = (name: string, given: Record<string, string>) =>
      loadConfig(
        Object.fromEntries(Object.entries(services[name]!.environment ?? {}).map(([k, v]) => [k, interpolate(v, given, new Set())])),
      );
    const gateway = configFor('gateway', shell);
    const [apiPort] = (services.api!.ports ?? []).map((mapping) => Number(mapping.split(':')[0]));
    const [gatewayPort] = (services.gateway!.ports ?? []).map((mapping) => Number(mapping.split(':')[0]));
    const policy = {
      served: gateway.servedHosts,
      origins: gateway.ALLOWED_ORIGINS,
      consolePort: gateway.API_PORT,
      publicHost: gateway.publicHostname,
    };
    // The README's address: the console on localhost:8080, its socket on localhost:8081.
    assert.ok(isServedHost(`localhost:${gatewayPort}`, gateway.servedHosts));
    assert.ok(isAllowedOrigin(`http://localhost:${apiPort}`, 'localhost', policy), 'the published console may open sockets');
    assert.ok(!isAllowedOrigin('http://evil.example', 'localhost', policy));

    const named = configFor('gateway', { ...shell, ALLOWED_HOSTS: 'switchboard.example.com', ALLOWED_ORIGINS: 'https://app.example.com' });
    assert.ok(isServedHost('switchboard.example.com', named.servedHosts));
    assert.deepEqual(named.ALLOWED_ORIGINS, ['https://app.example.com']);
  });

  it('registers the search attributes the session workflow sets', function () {
    const script = (services['temporal-setup']!.command ?? []).join(' ');
    for (const key of sessionSearchAttributes) {
      assert.match(script, new RegExp(`--name ${key.name} --type Keyword`), key.name);
      assert.equal(key.type, 'KEYWORD');
    }
  });

  it('pins every image it pulls to a version (no untagged, no latest)', function () {
    for (const [name, service] of Object.entries(services)) {
      if (service.build !== undefined) continue;
      const image = service.image ?? '';
      const tag = /^[^:@]+(?::([^@]+))?(@sha256:[0-9a-f]{64})?$/.exec(image);
      assert.ok(tag && (tag[1] || tag[2]), `${name}: image ${image} has no version`);
      assert.notEqual(tag[1], 'latest', `${name}: image ${image} is not pinned`);
      assert.match(tag[1] ?? '', /\d/, `${name}: image ${image} names no version`);
    }
  });

  it('health-checks every long-running service; the worker (it serves nothing) is restarted when it exits', function () {
    const oneShot = new Set(['temporal-schema', 'temporal-setup']);
    for (const [name, service] of Object.entries(services)) {
      if (oneShot.has(name) || name === 'worker' || name === 'temporal-ui') continue;
      assert.ok(service.healthcheck?.test.length, `${name}: no healthcheck`);
    }
    for (const name of ROLE_NAMES) assert.equal(services[name]!.restart, 'unless-stopped', `${name}: restart policy`);
  });

  it(
    hasCompose
      ? 'is valid for `docker compose config`'
      : 'is valid for `docker compose config` (NOT RUN: no `docker compose` on this machine; the static checks above still ran)',
    function () {
      if (!hasCompose) {
        console.log('    docker compose is not available here: `docker compose config` was not run');
        return;
      }
      const env = { ...process.env, JWT_SECRET: 'x'.repeat(48), CONFIG_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64') };
      const result = spawnSync('docker', ['compose', '-f', path.join(projectRoot, 'docker-compose.yml'), 'config', '--quiet'], {
        encoding: 'utf8',
        env,
        timeout: 60_000,
      });
      assert.equal(result.status, 0, result.stderr);
    },
  );

  it('starts things in an order that can work', function () {
    for (const [name, service] of Object.entries(services)) {
      for (const dependency of Object.keys(service.depends_on ?? {})) {
        assert.ok(services[dependency], `${name} depends on unknown service ${dependency}`);
      }
    }
    // The API migrates the database; the others need the tables.
    assert.equal(services.gateway!.depends_on?.api?.condition, 'service_healthy');
    assert.equal(services.worker!.depends_on?.api?.condition, 'service_healthy');
    assert.equal(services.api!.depends_on?.['temporal-setup']?.condition, 'service_completed_successfully');
  });
});
