// The web console end to end in headless Chromium (Debian's, driven by playwright-core): the real
// API role serving the built console, the gateway behind a TCP proxy (so a test can cut the
// network), the session worker on the shared Temporal dev server, the test MCP server, and the
// scripted OpenAI-compatible fake as the only stand-in (for the configs' model and the router).
// Screenshots of every page at desktop and phone width go to test-results/screenshots/.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { CONSOLE_CSP, consoleSettings, devSignInSecret, type ConsoleConfig } from '../api/console';
import { CONSOLE_DIST, createApiFromContext, noopNotifier } from '../api/server';
import type { RunningRole } from '../app/context';
import { sessionWorkflowId, stateQuery } from '../contract';
import { startGateway } from '../gateway';
import { projectRoot } from '../lib/temporal-cli';
import { createConfigChangeNotifier } from '../sessions/sessions.service';
import { startWorker } from '../worker';
import { createTestContext, uniqueId, type TestContext } from './support/context';
import { eventually } from './support/eventually';
import { startFakeLLM, type FakeLLM, type FakeRequest } from './support/fake-llm';
import { startMcpServer, type TestMcpServer } from './support/mcp-server';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy';
import { testTemporal } from './support/temporal';
import { registerApiKey } from './support/secret-scan';
import { TestSocket } from './support/ws-client';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOTS = path.join(projectRoot, 'test-results', 'screenshots');
const TEMPORAL_UI = 'http://127.0.0.1:8233';
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
/** MAX_SESSIONS_PER_USER here: small, so a test reaches it. */
const SESSION_CAP = 3;

/** The router: weather questions go to the get_weather function, everything else to the first LLM config. */
function routerBehaviour(request: FakeRequest) {
  const question = [...request.body.messages].reverse().find((m) => m.role === 'user')?.content ?? '';
  const tools = (request.body.tools ?? []).map((tool) => tool.function.name);
  if (/weather/i.test(question) && tools.includes('get_weather')) return { toolCall: 'get_weather', arguments: { city: 'Paris' } };
  const llm = tools.find((name) => name.startsWith('use_ai_config_'));
  return llm ? { toolCall: llm, arguments: { question } } : { reply: 'No config fits.' };
}

describe('web console (headless Chromium)', function () {
  this.timeout(120_000);
  let tc: TestContext;
  let llm: FakeLLM;
  let mcp: TestMcpServer;
  let proxy: TcpProxy;
  let worker: RunningRole;
  let gateway: RunningRole;
  let apiServer: http.Server;
  let baseUrl: string;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const user = uniqueId('console');
  const model = uniqueId('echo');
  let sessionId: string;
  const browserLog: string[] = [];

  afterEach(function () {
    // What the page said, for a failing step.
    if (this.currentTest?.state === 'failed' && browserLog.length) process.stderr.write(browserLog.join('\n') + '\n');
    browserLog.length = 0;
  });

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`Chromium is missing at ${CHROMIUM}: install it (Debian: apt-get install -y chromium), as .ci/run does`);
    }
    if (!existsSync(path.join(CONSOLE_DIST, 'index.html'))) {
      throw new Error('The web console is not built: run `npm run setup` (npm test does it first)');
    }
    llm = await startFakeLLM();
    llm.otherwise('router', routerBehaviour);
    mcp = await startMcpServer();
    proxy = await startTcpProxy();
    tc = await createTestContext({
      env: {
        EGRESS_ALLOW: '127.0.0.0/8',
        // No operator secret: the server runs as `npm start` does with its generated one, so the development sign-in exists.
        JWT_SECRET: '',
        GATEWAY_PORT: String(proxy.port),
        PUBLIC_HOST: '127.0.0.1',
        TEMPORAL_UI_URL: TEMPORAL_UI,
        ROUTER_LLM_BASE_URL: llm.baseUrl,
        ROUTER_LLM_MODEL: 'router',
        MAX_SESSIONS_PER_USER: String(SESSION_CAP),
      },
    });
    worker = await startWorker(tc.ctx, { connection: (await testTemporal()).nativeConnection });
    gateway = await startGateway(tc.ctx, { host: '127.0.0.1', port: 0 });
    proxy.target = { host: '127.0.0.1', port: Number(new URL(gateway.urls.websocket!).port) };
    apiServer = http.createServer(createApiFromContext(tc.ctx, createConfigChangeNotifier(tc.ctx)).callback());
    await new Promise<void>((resolve) => apiServer.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(apiServer.address() as AddressInfo).port}`;
    mkdirSync(SCREENSHOTS, { recursive: true });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    context = await browser.newContext({ locale: 'en-US', viewport: DESKTOP });
    page = await context.newPage();
    page.on('console', (message) => browserLog.push(`${message.type()}: ${message.text()}`));
    page.on('pageerror', (error) => browserLog.push(`pageerror: ${error.message}`));
    page.setDefaultTimeout(20_000);
  });

  after(async function () {
    await browser?.close();
    await new Promise<void>((resolve) => (apiServer ? apiServer.close(() => resolve()) : resolve()));
    apiServer?.closeAllConnections();
    await gateway?.close();
    await worker?.close();
    await proxy?.close();
    await mcp?.close();
    await llm?.close();
    await tc?.close();
  });

  /** Screenshots of the current page at desktop and phone width. */
  async function screenshots(name: string, target: Page = page): Promise<void> {
    for (const [label, size] of [
      ['desktop', DESKTOP],
      ['phone', PHONE],
    ] as const) {
      await target.setViewportSize(size);
      await target.screenshot({ path: path.join(SCREENSHOTS, `${name}-${label}.png`), fullPage: true });
    }
    await target.setViewportSize(DESKTOP);
  }

  function field(id: string): Locator {
    return page.locator(`[data-field="cfg-${id}"]`);
  }

  function input(id: string): Locator {
    return page.locator(`#cfg-${id}`);
  }

  async function text(locator: Locator): Promise<string> {
    return ((await locator.textContent()) ?? '').trim();
  }

  it('serves the console with a strict CSP, cache headers and its settings', async function () {
    const index = await fetch(baseUrl + '/');
    assert.equal(index.status, 200);
    assert.equal(index.headers.get('content-security-policy'), CONSOLE_CSP);
    assert.match(CONSOLE_CSP, /script-src 'self'(;|$)/);
    assert.equal(index.headers.get('cache-control'), 'no-cache');
    assert.equal(index.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(index.headers.get('referrer-policy'), 'no-referrer');
    const html = await index.text();
    assert.doesNotMatch(html, /<script>|<script [^>]*>[^<]+<\/script>|<style|style=/, 'no inline script or style');
    const script = /src="(\/assets\/main-[A-Z0-9]+\.js)"/.exec(html)?.[1];
    assert.ok(script, html);
    const asset = await fetch(baseUrl + script);
    assert.equal(asset.status, 200);
    assert.equal(asset.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.match(asset.headers.get('content-type') ?? '', /^text\/javascript/);
    assert.equal((await fetch(baseUrl + '/assets/missing-123.js')).status, 404);
    // The icon browsers ask for on every page, and the one the page names.
    const icon = await fetch(baseUrl + '/favicon.ico');
    assert.equal(icon.status, 200);
    assert.equal(icon.headers.get('content-type'), 'image/x-icon');
    assert.deepEqual([...new Uint8Array(await icon.arrayBuffer()).subarray(0, 4)], [0, 0, 1, 0], 'an ICO file');
    assert.match(html, /<link rel="icon" href="\/favicon.svg"/);
    const svg = await fetch(baseUrl + '/favicon.svg');
    assert.equal(svg.status, 200);
    assert.match(svg.headers.get('content-type') ?? '', /^image\/svg\+xml/);
    assert.equal((await fetch(baseUrl + '/no-such-page')).status, 404);

    const settings = await (await fetch(baseUrl + '/console/config.json')).json();
    assert.deepEqual(settings, {
      websocket_url: `ws://127.0.0.1:${proxy.port}/ws`,
      temporal_ui_url: TEMPORAL_UI,
      temporal_namespace: 'default',
      dev_sign_in: true,
      payload_encryption: false,
      max_sessions_per_user: SESSION_CAP,
    });
  });

  it('has no development sign-in with an operator-set secret or in production', async function () {
    // The same context with an operator-set JWT_SECRET: no development sign-in.
    const operatorSecret = { ...tc.ctx, config: { ...tc.ctx.config, JWT_SECRET: tc.ctx.secrets.jwtSecret } };
    const server = http.createServer(createApiFromContext(operatorSecret, noopNotifier).callback());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const refused = await fetch(`${url}/console/dev-token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ user: 'mallory' }),
      });
      assert.equal(refused.status, 404);
      assert.equal(((await (await fetch(`${url}/console/config.json`)).json()) as { dev_sign_in: boolean }).dev_sign_in, false);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    const local = { NODE_ENV: 'development', JWT_SECRET: undefined, JWT_JWKS_URL: undefined } as unknown as ConsoleConfig;
    assert.equal(devSignInSecret(local, { jwtSecret: 'generated' }), 'generated');
    assert.equal(devSignInSecret({ ...local, NODE_ENV: 'production' }, { jwtSecret: 'generated' }), undefined);
    assert.equal(devSignInSecret({ ...local, JWT_SECRET: 'set-by-the-operator' }, { jwtSecret: 'set-by-the-operator' }), undefined);
    const derived = consoleSettings(
      { ...local, GATEWAY_PORT: 8081, TEMPORAL_UI_PORT: 8233, embeddedTemporal: true } as ConsoleConfig,
      'localhost',
      false,
    );
    assert.equal(derived.websocket_url, 'ws://localhost:8081/ws');
    assert.equal(derived.temporal_ui_url, 'http://localhost:8233');
  });

  it('signs in with the development sign-in; the token stays in the tab’s session storage', async function () {
    await page.goto(baseUrl + '/');
    await page.locator('[data-testid="dev-sign-in"]').waitFor();
    await screenshots('sign-in');
    // A refused user name is reported, not sent on.
    await page.fill('#dev-user', 'a b');
    await page.click('[data-testid="dev-sign-in"] button[type="submit"]');
    await page.locator('.notice-error').filter({ hasText: 'User name' }).waitFor();
    await page.fill('#dev-user', user);
    await page.click('[data-testid="dev-sign-in"] button[type="submit"]');
    await page.locator('[data-testid="signed-in-user"]').filter({ hasText: user }).waitFor();
    // Expressions, not functions: they run in the page, which this file's (Node) types do not describe.
    const storage = await page.evaluate<{ session: string | null; local: string }>(
      "({ session: sessionStorage.getItem('switchboard.token'), local: JSON.stringify(localStorage) })",
    );
    assert.ok(storage.session?.split('.').length === 3, 'a JWT in sessionStorage');
    assert.ok(!storage.local.includes(storage.session!), 'never in localStorage');
    await page.getByText('No configs yet').waitFor();
  });

  it('creates an LLM config, showing the API’s field error next to its field', async function () {
    await page.click('text=New LLM config');
    await input('config_name').fill('Echo');
    await input('model_name').fill(model);
    await input('base_url').fill(llm.baseUrl);
    await input('api_key').fill('sk-console-0123456789abcdef');
    await input('temperature').fill('5');
    await input('priority').fill('10');
    await page.click('button[type="submit"]');
    const error = field('temperature').locator('.field-error');
    await error.waitFor();
    assert.equal(await text(error), 'must be between 0 and 2');
    assert.equal(await field('model_name').locator('.field-error').count(), 0);
    // Where the user is: beside the Save button, and the named field takes the focus (and the view).
    assert.equal(await text(page.locator('[data-testid="save-error"]')), 'Not saved: see Temperature above.');
    await eventually(async () => assert.equal(await page.evaluate<string>('document.activeElement.id'), 'cfg-temperature'));
    await screenshots('config-form-error');
    await input('temperature').fill('0.3');
    await page.click('button[type="submit"]');
    await page.locator('[data-config="Echo"]').waitFor();
    assert.match(await text(page.locator('[data-config="Echo"]')), new RegExp(model));
    // Write-only: the key is never in the page again, only its hint.
    await page.click('[data-config="Echo"] >> text=Edit');
    assert.equal(await input('api_key').inputValue(), '');
    assert.match(await text(field('api_key').locator('.help')), /A key is stored \(sk-…cdef\)/);
    await page.click('text=Cancel');
  });

  it('creates a function config on an MCP server and picks its tool from the server’s list', async function () {
    await page.click('text=New function config');
    await input('config_name').fill('weather');
    await input('function_name').fill('get weather');
    await input('mcp_server_url').fill(mcp.url);
    await page.click('button[type="submit"]');
    await field('function_name').locator('.field-error').waitFor();
    assert.match(await text(field('function_name').locator('.field-error')), /must be 1 to 128 letters/);
    assert.equal(await text(field('description').locator('.field-error')), 'must not be empty');
    assert.equal(await text(page.locator('[data-testid="save-error"]')), 'Not saved: see Description, Function name above.');
    await eventually(async () => assert.equal(await page.evaluate<string>('document.activeElement.id'), 'cfg-description'));
    await input('description').fill('Current weather for a city');
    await input('function_name').fill('lookup');
    await page.click('button[type="submit"]');
    // Saved with a name typed in; its edit form lists the stored server's tools (GET /ai-configs/:id/tools).
    await page.click('[data-config="weather"] >> text=Edit');
    await page.getByText('Edit “weather”').waitFor();
    await page.locator('[data-testid="tool-picker"] >> text=List tools').click();
    await page.getByRole('button', { name: 'Use this tool: get_weather' }).click();
    assert.equal(await input('function_name').inputValue(), 'get_weather');
    assert.match(await input('parameters').inputValue(), /"city"/);
    await screenshots('config-form-mcp');
    await page.click('button[type="submit"]');
    await page.locator('[data-config="weather"]').filter({ hasText: 'get_weather (MCP tool)' }).waitFor();
  });

  it('tests a config and shows the result and its timing', async function () {
    await page.click('[data-config="weather"] >> text=Test');
    const panel = page.locator('[data-testid="test-panel"]');
    await panel.locator('textarea').fill('{"city": "Paris"}');
    await panel.locator('button[type="submit"]').click();
    const result = panel.locator('[data-testid="test-result"]');
    await result.waitFor();
    assert.match(await text(result), /Success/);
    assert.match(await text(result), /Sunny in Paris/);
    assert.match(await text(result.locator('[data-testid="test-time"]')), /^\d+ ms$/);
    await screenshots('configs');
    await panel.locator('text=Close').click();

    await page.click('[data-config="Echo"] >> text=Test');
    await page.locator('[data-testid="test-panel"] input').fill('hello from the console');
    await page.locator('[data-testid="test-panel"] button[type="submit"]').click();
    await page
      .locator('[data-testid="test-result"]')
      .filter({ hasText: `[${model}] hello from the console` })
      .waitFor();
    await page.locator('[data-testid="test-panel"] >> text=Close').click();
  });

  async function ask(question: string): Promise<Locator> {
    await page.fill('#chat-input', question);
    await page.click('.composer button[type="submit"]');
    return page.locator('.exchange').filter({ hasText: question });
  }

  it('chats: shows which config answered and how it was routed, and streams an answer as it arrives', async function () {
    await page.click('nav >> text=Chat');
    await page.locator('[data-testid="connection"][data-status="open"]').waitFor();
    sessionId = (await text(page.locator('[data-testid="session-link"]'))).replace('Session ', '');
    assert.ok(sessionId);

    const weather = await ask('What is the weather in Paris?');
    await weather.locator('[data-testid="answer-meta"]').waitFor();
    assert.equal(await text(weather.locator('.answer-text')), 'Sunny in Paris');
    assert.equal(await text(weather.locator('[data-testid="answered-by"]')), 'weather');
    assert.equal(await weather.locator('[data-testid="routed-by"]').getAttribute('data-value'), 'router_llm');
    assert.match(await text(weather.locator('[data-testid="execute-time"]')), /^\d+ ms$/);

    llm.script(model, { pieces: ['Autumn ', 'moon ', 'rises'], pieceDelayMs: 600 });
    const haiku = await ask('Write a haiku');
    // Text while the answer streams, before the result.
    await page.locator('.exchange[data-stage="streaming"]').filter({ hasText: 'Autumn' }).waitFor();
    await haiku.locator('[data-testid="answer-meta"]').waitFor();
    assert.equal(await text(haiku.locator('.answer-text')), 'Autumn moon rises');
    assert.equal(await text(haiku.locator('[data-testid="answered-by"]')), 'Echo');
    await screenshots('chat');
  });

  it('shows a fallback and its reason when the chosen config fails', async function () {
    // A second LLM config that always fails (401 is final); the router picks the first LLM tool it sees.
    const broken = uniqueId('broken');
    llm.otherwise(broken, { fail: 401, message: 'invalid api key' });
    const token = await page.evaluate<string | null>("sessionStorage.getItem('switchboard.token')");
    const created = await fetch(`${baseUrl}/api/v1/ai-configs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ config_type: 'llm', config_name: 'Broken', model_name: broken, base_url: llm.baseUrl, priority: 1 }),
    });
    assert.equal(created.status, 201);
    const { data } = (await created.json()) as { data: { id: number } };
    const handle = tc.ctx.temporal!.client.workflow.getHandle(sessionWorkflowId(user, sessionId));
    await eventually(async () => (await handle.query(stateQuery)).configs.some((c) => c.id === data.id));
    llm.script('router', { toolCall: `use_ai_config_${data.id}`, arguments: { question: 'Which model are you?' } });
    const answer = await ask('Which model are you?');
    await answer.locator('[data-testid="fallback"]').waitFor();
    assert.match(await text(answer.locator('[data-testid="fallback"]')), /after “Broken” failed/);
    assert.equal(await text(answer.locator('[data-testid="answered-by"]')), 'Echo');
    await fetch(`${baseUrl}/api/v1/ai-configs/${data.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
  });

  it('resumes the session after the network drops and shows the result that arrived meanwhile', async function () {
    llm.script(model, { pieces: ['Answered ', 'while ', 'you ', 'were ', 'away'], pieceDelayMs: 500 });
    const slow = await ask('Tell me something slowly');
    await page.locator('.exchange[data-stage="streaming"]').filter({ hasText: 'Tell me something slowly' }).waitFor();
    proxy.drop({ down: true });
    await page.locator('[data-testid="connection"][data-status="reconnecting"]').waitFor();
    // The answer completes while the socket is gone: it waits in the session's outbox.
    const handle = tc.ctx.temporal!.client.workflow.getHandle(sessionWorkflowId(user, sessionId));
    await eventually(async () => (await handle.query(stateQuery)).outbox.some((r) => r.result === 'Answered while you were away'));
    await screenshots('chat-reconnecting');
    proxy.up();
    await page.locator('[data-testid="connection"][data-status="open"]').waitFor({ timeout: 30_000 });
    await page
      .locator('[data-testid="chat-notice"]')
      .filter({ hasText: `Resumed session ${sessionId}` })
      .waitFor();
    await slow.locator('[data-testid="answer-meta"]').waitFor();
    assert.equal(await text(slow.locator('.answer-text')), 'Answered while you were away');
    assert.equal(await text(page.locator('[data-testid="session-link"]')), `Session ${sessionId}`);
    // Acknowledged once shown: the outbox empties.
    await eventually(async () => (await handle.query(stateQuery)).outbox.length === 0);
  });

  it('lists the sessions with each message’s routing and a link into the Temporal UI', async function () {
    await page.click('nav >> text=Sessions');
    const row = page.locator(`[data-session="${sessionId}"]`);
    await row.waitFor();
    assert.match(await text(row), /active/);
    const href = await row.locator('[data-testid="temporal-link"]').getAttribute('href');
    assert.equal(href, `${TEMPORAL_UI}/namespaces/default/workflows/${encodeURIComponent(sessionWorkflowId(user, sessionId))}`);
    await screenshots('sessions');
    await row.locator(`a[href="#/sessions/${sessionId}"]`).click();
    const transcript = page.locator('[data-testid="transcript"]');
    await transcript.waitFor();
    const weather = transcript.locator('li').filter({ hasText: 'What is the weather in Paris?' });
    assert.match(await text(weather.locator('[data-testid="routing"]')), /function get_weather.*router_llm/);
    assert.match(await text(weather), /Sunny in Paris/);
    assert.equal(await page.locator('[data-testid="session-detail"] [data-testid="temporal-link"]').getAttribute('href'), href);
    // An open session offers its actions here too.
    assert.equal(
      await page.locator('[data-testid="session-detail"] [data-testid="resume-session"]').getAttribute('href'),
      `#/chat/${encodeURIComponent(sessionId)}`,
    );
    assert.equal(await page.locator('[data-testid="session-detail"] [data-testid="close-session"]').count(), 1);
    await screenshots('session-detail');
  });

  /** The tab's session as the chat page shows it, once connected. */
  async function chatSession(): Promise<string> {
    await page.locator('[data-testid="connection"][data-status="open"]').waitFor({ timeout: 30_000 });
    return (await text(page.locator('[data-testid="session-link"]'))).replace('Session ', '');
  }

  async function sessionStatus(id: string): Promise<string | undefined> {
    const row = await tc.ctx.db.models.UserSessionConfig.findOne({ where: { user_id: user, session_id: id } });
    return row?.status;
  }

  async function openSessionCount(): Promise<number> {
    return tc.ctx.db.models.UserSessionConfig.count({ where: { user_id: user, status: 'active' } });
  }

  it('a reload resumes the tab’s own session, with its earlier messages, instead of opening a new one', async function () {
    await page.click('nav >> text=Chat');
    assert.equal(await chatSession(), sessionId);
    const before = await openSessionCount();
    await page.reload();
    assert.equal(await chatSession(), sessionId);
    await page
      .locator('[data-testid="chat-notice"]')
      .filter({ hasText: `Resumed session ${sessionId}` })
      .waitFor();
    // The earlier exchanges come back from the session's transcript.
    const weather = page.locator('.exchange').filter({ hasText: 'What is the weather in Paris?' });
    await weather.locator('[data-testid="answer-meta"]').waitFor();
    assert.equal(await text(weather.locator('.answer-text')), 'Sunny in Paris');
    assert.equal(await openSessionCount(), before);
  });

  it('resumes and closes sessions from the Sessions page', async function () {
    // A second session in this tab; the first stays open.
    await page.click('text=New session');
    await eventually(async () => (await chatSession()) !== sessionId);
    const second = await chatSession();
    await page.click('nav >> text=Sessions');
    await page.locator(`[data-session="${second}"]`).waitFor();
    const count = page.locator('[data-testid="open-count"]');
    await count.filter({ hasText: `2 of at most ${SESSION_CAP} sessions open` }).waitFor();
    // On a phone the time and the actions get a line each, not a sliver of a column.
    await page.setViewportSize(PHONE);
    const when = page.locator(`[data-session="${second}"] .when`);
    const actions = page.locator(`[data-session="${second}"] .row-actions`);
    const [whenBox, actionsBox] = [await when.boundingBox(), await actions.boundingBox()];
    assert.ok(
      whenBox && actionsBox && whenBox.width > 200 && actionsBox.y >= whenBox.y + whenBox.height,
      JSON.stringify([whenBox, actionsBox]),
    );
    await page.setViewportSize(DESKTOP);
    await screenshots('sessions-actions');

    // Resume: the chat attaches this tab to the first session, with its messages.
    await page.locator(`[data-session="${sessionId}"] [data-testid="resume-session"]`).click();
    assert.equal(await chatSession(), sessionId);
    await eventually(async () => assert.equal(await page.evaluate<string>('location.hash'), '#/chat'));
    await page
      .locator('[data-testid="chat-notice"]')
      .filter({ hasText: `Resumed session ${sessionId}` })
      .waitFor();
    await page.locator('.exchange').filter({ hasText: 'Write a haiku' }).locator('[data-testid="answer-meta"]').waitFor();
    assert.equal(await page.evaluate<string | null>("sessionStorage.getItem('switchboard.session')"), sessionId);

    // Close: the second session ends (its workflow and its row), and the row loses its actions.
    await page.click('nav >> text=Sessions');
    const row = page.locator(`[data-session="${second}"]`);
    await row.getByRole('button', { name: `Close session ${second}` }).click();
    await page
      .locator('[data-testid="sessions-notice"]')
      .filter({ hasText: `Closed session ${second}.` })
      .waitFor();
    await row.locator('.badge.status-closed').waitFor();
    assert.equal(await row.locator('[data-testid="resume-session"], [data-testid="close-session"]').count(), 0);
    await count.filter({ hasText: `1 of at most ${SESSION_CAP} sessions open` }).waitFor();
    assert.equal(await sessionStatus(second), 'closed');
    assert.equal(await sessionStatus(sessionId), 'active');
  });

  it('says when the open-session limit is reached and where to close sessions, instead of reconnecting', async function () {
    // Fill the limit from outside the browser: the gateway then refuses a new session with a 409.
    const token = await tc.token(user);
    const others: { socket: TestSocket; id: string }[] = [];
    while ((await openSessionCount()) < SESSION_CAP) {
      const socket = await TestSocket.open(gateway.urls.websocket!, { token, deviceId: 'cli' });
      others.push({ socket, id: (await socket.next('hello')).session_id });
    }
    const refusal = await TestSocket.refusal(gateway.urls.websocket!, { token });
    assert.equal(refusal.status, 409);

    try {
      await page.click('nav >> text=Chat');
      assert.equal(await chatSession(), sessionId);
      await page.click('text=New session');
      const limit = page.locator('[data-testid="session-limit"]');
      await limit.waitFor();
      assert.match(await text(limit), new RegExp(`You already have ${SESSION_CAP} open sessions`));
      await page.locator('[data-testid="connection"][data-status="refused"]').waitFor();
      assert.match(await text(page.locator('[data-testid="connection"]')), /too many open sessions/);
      assert.equal(await page.locator('#chat-input').isDisabled(), true);
      await screenshots('chat-session-limit');

      // What to do: the Sessions page says the limit is reached; closing one lets a new chat start.
      await limit.getByRole('link').click();
      const count = page.locator('[data-testid="open-count"]');
      await count.filter({ hasText: `${SESSION_CAP} of at most ${SESSION_CAP} sessions open` }).waitFor();
      assert.match(await text(count), /That is the limit/);
      await page.locator(`[data-session="${others[0]!.id}"]`).getByRole('button', { name: 'Close' }).click();
      await count.filter({ hasText: `${SESSION_CAP - 1} of at most ${SESSION_CAP}` }).waitFor();
      await page.click('nav >> text=Chat');
      const fresh = await chatSession();
      assert.ok(![sessionId, ...others.map((o) => o.id)].includes(fresh), 'a new session');
      assert.equal(await sessionStatus(fresh), 'active');

      // Closed elsewhere: the tab is told and keeps no session to resume.
      const closed = await fetch(`${baseUrl}/api/v1/sessions/${fresh}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(closed.status, 200);
      await page.locator('[data-testid="chat-notice"]').filter({ hasText: 'The session ended: closed through the API' }).waitFor();
      await page.locator('[data-testid="connection"][data-status="closed"]').waitFor();
      assert.equal(await page.evaluate<string | null>("sessionStorage.getItem('switchboard.session')"), null);
      // A tab whose stored session has ended (here: the one closed above) starts a new one at once, and says so.
      await page.evaluate(`sessionStorage.setItem('switchboard.session', ${JSON.stringify(others[0]!.id)})`);
      await page.reload();
      await page.locator('[data-testid="chat-notice"]').filter({ hasText: 'The previous session has ended' }).waitFor();
      const replacement = await chatSession();
      assert.ok(![others[0]!.id, fresh].includes(replacement), 'the ended session is not reused');
    } finally {
      await Promise.all(others.map((o) => o.socket.close()));
    }
  });

  it('toggles, reorders and deletes configs (with confirmation)', async function () {
    await page.click('nav >> text=Configs');
    const rows = page.locator('[data-config]');
    await page.locator('[data-config="weather"]').waitFor();
    const order = async () => rows.evaluateAll((items) => items.map((item) => item.getAttribute('data-config')));
    assert.deepEqual(await order(), ['Echo', 'weather']);
    await page.getByRole('button', { name: 'Move up: weather' }).click();
    await eventually(async () => assert.deepEqual(await order(), ['weather', 'Echo']));

    await page.getByRole('checkbox', { name: 'Active: weather' }).uncheck();
    await page.locator('[data-config="weather"].inactive').waitFor();
    await page.getByRole('checkbox', { name: 'Active: weather' }).check();
    await page.locator('[data-config="weather"]:not(.inactive)').waitFor();

    await page.click('[data-config="weather"] >> text=Delete');
    await page.locator('[data-config="weather"] .confirm').filter({ hasText: 'Delete “weather”?' }).waitFor();
    await page.click('[data-config="weather"] .confirm >> text=No');
    assert.equal(await page.locator('[data-config="weather"]').count(), 1);
    await page.click('[data-config="weather"] >> text=Delete');
    await page.click('[data-config="weather"] .confirm >> text=Yes');
    await page.getByText('Deleted “weather”.').waitFor();
    // The notice comes before the list is reloaded: wait for the row to go, not for a moment.
    await page.locator('[data-config="weather"]').waitFor({ state: 'detached' });
    assert.deepEqual(await order(), ['Echo']);
  });

  it('lines up the configs table’s columns whatever the length of a name or description', async function () {
    const token = await page.evaluate<string | null>("sessionStorage.getItem('switchboard.token')");
    const long = 'A config whose name goes on and on to see whether the columns after it drift';
    const created = await fetch(`${baseUrl}/api/v1/ai-configs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        config_type: 'llm',
        config_name: long,
        description: 'A description long enough to fill its column several times over, '.repeat(4),
        model_name: model,
        base_url: llm.baseUrl,
        priority: 1,
      }),
    });
    assert.equal(created.status, 201);
    const { data } = (await created.json()) as { data: { id: number } };
    try {
      // Away and back, so the list is read again.
      await page.click('nav >> text=Sessions');
      await page.locator('[data-testid="session-list"]').waitFor();
      await page.click('nav >> text=Configs');
      await page.locator(`[data-config="${long}"]`).waitFor();
      // Each column starts at the same x in every row (from the row's inner edge), the header included.
      const columns = await page
        .locator('.config-row')
        .evaluateAll((rows) =>
          rows.map((row) =>
            Array.from({ length: row.children.length }, (_, i) =>
              Math.round(row.children[i]!.getBoundingClientRect().left - row.getBoundingClientRect().left - row.clientLeft),
            ),
          ),
        );
      assert.equal(columns.length, 3, 'the header and two rows');
      for (const row of columns.slice(1)) assert.deepEqual(row.slice(0, 6), columns[0]!.slice(0, 6));
      const badges = await page
        .locator('[data-config] .badge')
        .evaluateAll((items) => items.map((b) => Math.round(b.getBoundingClientRect().left)));
      assert.equal(new Set(badges).size, 1, `type badges at ${badges.join(', ')}`);
      await screenshots('configs-long-name');
    } finally {
      await fetch(`${baseUrl}/api/v1/ai-configs/${data.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
    }
  });

  it('speaks Chinese to a Chinese browser, on a phone-width screen', async function () {
    const zh = await browser.newContext({ locale: 'zh-CN', viewport: PHONE });
    try {
      const phone = await zh.newPage();
      await phone.goto(baseUrl + '/');
      await phone.getByText('开发环境登录').waitFor();
      await phone.fill('#dev-user', user);
      await phone.click('[data-testid="dev-sign-in"] button[type="submit"]');
      await phone.getByRole('link', { name: '配置', exact: true }).waitFor();
      await phone.locator('[data-config="Echo"]').waitFor();
      const width = await phone.evaluate<number>('document.documentElement.scrollWidth');
      assert.ok(width <= PHONE.width, `no horizontal scrolling on a phone (page is ${width}px wide)`);
      await screenshots('configs-zh', phone);
    } finally {
      await zh.close();
    }
  });

  it('lists an MCP server’s tools before the config is saved, and saves the picked tool under its real name', async function () {
    await page.click('nav >> text=Configs');
    await page.click('text=New function config');
    await input('config_name').fill('sum');
    const picker = page.locator('[data-testid="tool-picker"]');
    // Without a URL there is nothing to ask.
    await picker.locator('text=List tools').click();
    await picker.getByText('Enter the MCP server URL').waitFor();
    await input('mcp_server_url').fill(mcp.url);
    await picker.locator('text=List tools').click();
    await picker.getByText('4 tools on the server').waitFor();
    // A name providers refuse is shown with the name LLMs are offered instead.
    await picker
      .locator('li', { hasText: 'self.light.set_brightness' })
      .getByText('offered to LLMs as self_light_set_brightness')
      .waitFor();
    await screenshots('config-form-tools-before-save');
    await page.getByRole('button', { name: 'Use this tool: get-sum' }).click();
    assert.equal(await input('function_name').inputValue(), 'get-sum');
    assert.equal(await input('description').inputValue(), 'The sum of two numbers');
    assert.deepEqual(Object.keys(JSON.parse(await input('parameters').inputValue()).properties).sort(), ['a', 'b']);
    await page.click('button[type="submit"]');
    await page.locator('[data-config="sum"]').filter({ hasText: 'get-sum (MCP tool)' }).waitFor();
    const [stored] = await tc.ctx.db.models.UserAIConfig.findAll({ where: { user_id: user, config_name: 'sum' }, raw: true });
    assert.equal(stored?.function_name, 'get-sum');
    assert.deepEqual(stored?.parameters?.required, ['a', 'b']);
  });

  it('Devices page: binds a device by its code (a wrong code shown at the field), renames it, unbinds it after confirming', async function () {
    // A tab of its own, signed in as a user of its own, so it runs alone (--grep) or after the others.
    const owner = uniqueId('devices');
    const minted = (await (
      await fetch(baseUrl + '/console/dev-token', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ user: owner }),
      })
    ).json()) as { data: { token: string } };
    const devicesTab = await context.newPage();
    devicesTab.on('pageerror', (error) => browserLog.push(`pageerror: ${error.message}`));
    await devicesTab.goto(baseUrl + '/#/devices');
    await devicesTab.evaluate(`sessionStorage.setItem('switchboard.token', ${JSON.stringify(minted.data.token)})`);
    // The token is read when the console starts.
    await devicesTab.reload();
    await devicesTab.getByText('No devices yet').waitFor();
    assert.equal(await text(devicesTab.locator('[data-testid="ota-url"]')), `OTA URL: ${baseUrl}/xiaozhi/ota/`);
    // A device provisions as the firmware does and shows its code.
    const mac = 'a4:cf:12:34:56:78';
    const provisioned = (await (
      await fetch(baseUrl + '/xiaozhi/ota/', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Device-Id': mac, 'Client-Id': '7b94d69a-9808-4c59-9c9b-704333b38aff' },
        body: JSON.stringify({ application: { version: '1.6.2' }, board: { type: 'bread-compact-wifi', name: 'Desk speaker' } }),
      })
    ).json()) as { activation: { code: string } };
    const code = provisioned.activation.code;
    const wrong = code === '000000' ? '000001' : '000000';
    await devicesTab.fill('#bind-code', wrong);
    await devicesTab.click('[data-testid="bind-device"] button[type="submit"]');
    await devicesTab.locator('[data-field="bind-code"] .field-error').filter({ hasText: 'no device is waiting with this code' }).waitFor();
    await devicesTab.fill('#bind-code', code);
    await devicesTab.click('[data-testid="bind-device"] button[type="submit"]');
    await devicesTab.getByText('Bound “Desk speaker”.').waitFor();
    const row = devicesTab.locator(`[data-device="${mac}"]`);
    await row.locator('[data-testid="device-name"]').filter({ hasText: 'Desk speaker' }).waitFor();
    await screenshots('devices', devicesTab);

    await row.getByRole('button', { name: 'Rename' }).click();
    await row.locator('input').fill('Kitchen');
    await row.getByRole('button', { name: 'Save' }).click();
    await row.locator('[data-testid="device-name"]').filter({ hasText: 'Kitchen' }).waitFor();

    await row.getByRole('button', { name: 'Unbind' }).click();
    await row.locator('.confirm').filter({ hasText: 'Unbind “Kitchen”?' }).waitFor();
    await row.locator('.confirm').getByRole('button', { name: 'No' }).click();
    assert.equal(await row.count(), 1);
    await row.getByRole('button', { name: 'Unbind' }).click();
    await row.locator('.confirm').getByRole('button', { name: 'Yes' }).click();
    await devicesTab.getByText('Unbound “Kitchen”.').waitFor();
    await row.waitFor({ state: 'detached' });
    const [rows] = await tc.ctx.db.sequelize.query('SELECT id FROM xiaozhi_devices WHERE device_id = $1', { bind: [mac] });
    assert.equal(rows.length, 0);
    await devicesTab.close();
  });

  it('API keys page: creates a key shown once with a copy hint, lists it by prefix, revokes it after confirming', async function () {
    // A tab of its own (its own session storage and user), so this runs alone too (--grep 'API keys page').
    const tab = await context.newPage();
    const keysUser = uniqueId('keys');
    try {
      await tab.goto(baseUrl + '/');
      await tab.fill('#dev-user', keysUser);
      await tab.click('[data-testid="dev-sign-in"] button[type="submit"]');
      await tab.locator('[data-testid="signed-in-user"]').filter({ hasText: keysUser }).waitFor();
      await tab.click('nav >> text=API keys');
      await tab.getByText('No API keys yet.').waitFor();
      const form = tab.locator('[data-testid="api-key-form"]');
      // The API's field errors, beside their fields.
      await form.locator('button[type="submit"]').click();
      await tab.locator('[data-field="key-name"] .field-error').filter({ hasText: 'must not be empty' }).waitFor();
      await tab.fill('#key-name', 'laptop');
      await tab.fill('#key-expires', '2020-01-01T00:00');
      await form.locator('button[type="submit"]').click();
      await tab.locator('[data-field="key-expires"] .field-error').filter({ hasText: 'must be in the future' }).waitFor();
      await tab.fill('#key-expires', '');
      await form.locator('button[type="submit"]').click();

      const shown = tab.locator('[data-testid="api-key-shown"]');
      await shown.getByText('only time it is shown').waitFor();
      const key = ((await tab.locator('[data-testid="api-key-value"]').textContent()) ?? '').trim();
      registerApiKey(key);
      assert.match(key, /^sb-[A-Za-z0-9_-]{43}$/);
      await screenshots('api-keys-created', tab);
      // The key is real: an OpenAI client lists this user's models with it.
      const models = await fetch(`${baseUrl}/v1/models`, { headers: { Authorization: `Bearer ${key}` } });
      assert.equal(models.status, 200);
      assert.equal(((await models.json()) as { data: { id: string }[] }).data[0]?.id, 'auto');

      await shown.getByRole('button', { name: 'I have stored it' }).click();
      await shown.waitFor({ state: 'detached' });
      const row = tab.locator('[data-api-key="laptop"]');
      await row.waitFor();
      assert.equal(((await row.locator('[data-testid="api-key-prefix"]').textContent()) ?? '').trim(), `${key.slice(0, 11)}…`);
      assert.ok(!(await tab.content()).includes(key.slice(11)), 'the page no longer holds the key');
      await screenshots('api-keys', tab);

      await row.getByRole('button', { name: 'Revoke' }).click();
      await row.locator('.confirm').filter({ hasText: 'Revoke “laptop”?' }).waitFor();
      await row.locator('.confirm >> text=No').click();
      await row.getByRole('button', { name: 'Revoke' }).waitFor();
      assert.equal((await fetch(`${baseUrl}/v1/models`, { headers: { Authorization: `Bearer ${key}` } })).status, 200, 'not revoked on No');
      await row.getByRole('button', { name: 'Revoke' }).click();
      await row.locator('.confirm >> text=Yes').click();
      await tab.getByText('Revoked “laptop”.').waitFor();
      await row.waitFor({ state: 'detached' });
      const refused = await fetch(`${baseUrl}/v1/models`, { headers: { Authorization: `Bearer ${key}` } });
      assert.equal(refused.status, 401);
      assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'invalid_api_key');
    } finally {
      await tab.close();
    }
  });
});
