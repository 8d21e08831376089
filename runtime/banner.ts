// The lines a newcomer reads after `npm start`: where everything is and what to try first.
import type { AppConfig } from '../config';
import type { RunningRole } from '../app/context';

/** Role URLs not worth a line of their own (`base` is the root the others are under). */
const HIDDEN = new Set(['base']);

const LABELS: Record<string, string> = {
  console: 'Web console',
  api: 'REST API',
  openapi: 'OpenAPI',
  websocket: 'WebSocket',
};

export interface BannerInput {
  config: Pick<AppConfig, 'JWT_JWKS_URL' | 'TEMPORAL_NAMESPACE' | 'embeddedDatabase' | 'embeddedTemporal' | 'dataDir'>;
  roles: RunningRole[];
  temporalUiUrl?: string;
  seconds: number;
}

export function renderBanner({ config, roles, temporalUiUrl, seconds }: BannerInput): string {
  const rows: [string, string][] = [];
  for (const role of roles) {
    for (const [key, url] of Object.entries(role.urls)) if (!HIDDEN.has(key)) rows.push([LABELS[key] ?? key, url]);
  }
  if (temporalUiUrl) {
    rows.push(['Temporal UI', `${temporalUiUrl}/namespaces/${encodeURIComponent(config.TEMPORAL_NAMESPACE)}/workflows`]);
  }
  const embedded = [config.embeddedDatabase && 'PostgreSQL', config.embeddedTemporal && 'Temporal'].filter(Boolean);
  if (embedded.length) rows.push(['Data', `${config.dataDir} (embedded ${embedded.join(' and ')})`]);
  const width = Math.max(...rows.map(([label]) => label.length)) + 2;
  const lines = [
    '',
    `Switchboard ready in ${seconds.toFixed(1)} s (roles: ${roles.map((r) => r.name).join(', ')})`,
    '',
    ...rows.map(([label, url]) => `  ${label.padEnd(width)}${url}`),
    '',
  ];
  const api = roles.find((r) => r.name === 'api')?.urls.api;
  if (config.JWT_JWKS_URL) {
    lines.push('  Tokens come from your identity provider (JWT_JWKS_URL).');
  } else {
    lines.push('  Mint a token:  npm run token -- --user alice');
    if (api) {
      lines.push(
        '  Try it:        export TOKEN=$(npm run -s token -- --user alice)',
        `                 curl -s -H "Authorization: Bearer $TOKEN" ${api}/ai-configs`,
      );
    }
  }
  if (roles.some((r) => r.name === 'gateway')) lines.push('  Chat:          npm run chat -- --user alice');
  lines.push('', '  Ctrl-C stops everything.', '');
  return lines.join('\n');
}
