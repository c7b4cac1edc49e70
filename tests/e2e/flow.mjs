// Real-browser end-to-end flow against the papyrus-auth example server.
//
// Driven by tests/browser.rs, which starts the server and passes:
//   BASE_URL        e.g. http://127.0.0.1:41234
//   ADMIN_KEY       the bootstrap admin key of tenant acme
//   SCREENSHOT_DIR  where admin.png (and failure.png on failure) are written
// Optional: CHROMIUM (default /usr/bin/chromium).
//
// Prints CREATED_KEY_ID=<id> on success; exits non-zero, naming the step that
// failed, on any failure. Never downloads a browser: it drives the system
// Chromium through playwright-core.

import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const STEP_TIMEOUT_MS = 15_000;
const WATCHDOG_MS = 110_000;

const BASE_URL = requireEnv('BASE_URL').replace(/\/+$/, '');
const ADMIN_KEY = requireEnv('ADMIN_KEY');
const SCREENSHOT_DIR = requireEnv('SCREENSHOT_DIR');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

function requireEnv(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`flow.mjs: environment variable ${name} is not set`);
    process.exit(2);
  }
  return value;
}

// Whatever happens, never hang the Rust test: it has its own, longer, timeout.
const watchdog = setTimeout(() => {
  console.error(`FAILED: the whole flow took longer than ${WATCHDOG_MS / 1000} s`);
  process.exit(3);
}, WATCHDOG_MS);
watchdog.unref();

const browserLog = [];
let currentStep = '(start)';

// Runs one named step with its own deadline; the error names the step.
async function step(name, fn) {
  currentStep = name;
  const started = Date.now();
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${STEP_TIMEOUT_MS / 1000} s`)),
      STEP_TIMEOUT_MS,
    );
  });
  try {
    const result = await Promise.race([fn(), deadline]);
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
    return result;
  } catch (err) {
    throw new Error(`step "${name}" failed: ${err && err.message ? err.message : err}`);
  } finally {
    clearTimeout(timer);
  }
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

const text = async (locator) => ((await locator.textContent()) || '').trim();

// ---------------------------------------------------------------- browser

const userDataDir = await mkdtemp(path.join(tmpdir(), 'papyrus-e2e-chromium-'));
await mkdir(SCREENSHOT_DIR, { recursive: true });

let context;
let page;
let exitCode = 0;
try {
  context = await step('launch Chromium', () =>
    chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      chromiumSandbox: false,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: 1280, height: 900 },
      timeout: STEP_TIMEOUT_MS,
    }),
  );
  page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  page.setDefaultNavigationTimeout(STEP_TIMEOUT_MS);
  page.on('console', (msg) => {
    const where = msg.location() && msg.location().url ? ` (${msg.location().url})` : '';
    browserLog.push(`console.${msg.type()}: ${msg.text()}${where}`);
  });
  page.on('response', (res) => {
    if (res.status() >= 400) {
      browserLog.push(`response: ${res.request().method()} ${res.url()} -> HTTP ${res.status()}`);
    }
  });
  page.on('pageerror', (err) => browserLog.push(`pageerror: ${err.message}`));
  page.on('requestfailed', (req) =>
    browserLog.push(`requestfailed: ${req.method()} ${req.url()} ${req.failure()?.errorText}`),
  );

  await oauthFlows(page);
  const keyId = await adminFlow(page);
  console.log(`CREATED_KEY_ID=${keyId}`);
  console.log('PASSED browser flow');
} catch (err) {
  exitCode = 1;
  console.error(`FAILED: ${err && err.message ? err.message : err}`);
  if (page) {
    console.error(`  page URL: ${page.url()}`);
    try {
      const file = path.join(SCREENSHOT_DIR, 'failure.png');
      await page.screenshot({ path: file, fullPage: true, timeout: 5_000 });
      console.error(`  screenshot of the failure: ${file}`);
    } catch {
      // no screenshot: the message above is what matters
    }
  }
  if (browserLog.length > 0) {
    console.error('  browser log:');
    for (const line of browserLog) console.error(`    ${line}`);
  }
} finally {
  if (context) await context.close().catch(() => {});
  await rm(userDataDir, { recursive: true, force: true }).catch(() => {});
}
process.exit(exitCode);

// ---------------------------------------------------------------- OAuth + PKCE

// Opens the single-page app and clicks "Sign in": ends on the consent page.
async function startLogin(page, label) {
  await step(`${label}: open /app`, async () => {
    await page.goto(`${BASE_URL}/app`);
    await page.locator('#status').filter({ hasText: 'Not signed in.' }).waitFor();
    await page.locator('#login:not([disabled])').waitFor();
  });
  await step(`${label}: click #login, reach the consent page`, async () => {
    await Promise.all([
      page.waitForURL((url) => url.pathname === '/oauth/authorize'),
      page.click('#login'),
    ]);
    await page.locator('#username').waitFor();
    await page.locator('#password').waitFor();
    const url = new URL(page.url());
    check(
      url.searchParams.get('code_challenge_method') === 'S256' &&
        url.searchParams.get('code_challenge'),
      `the authorize request carries no S256 PKCE challenge: ${url.search}`,
    );
  });
}

async function oauthFlows(page) {
  // 1. Deny: the app is told access_denied.
  await startLogin(page, 'deny');
  await step('deny: click #deny, back on /app with access_denied in #status', async () => {
    await page.click('#deny');
    await page.waitForURL((url) => url.pathname === '/app');
    await page.locator('#status').filter({ hasText: 'access_denied' }).waitFor();
    check(await page.locator('#login').isVisible(), '#login is not shown after a denial');
  });

  // 2. Wrong password: the login page is shown again, with an error.
  await startLogin(page, 'wrong password');
  await step('wrong password: #approve re-shows the login page with an error', async () => {
    await page.fill('#username', 'alice');
    await page.fill('#password', 'not-the-password');
    const [response] = await Promise.all([
      page.waitForResponse(
        (r) => new URL(r.url()).pathname === '/oauth/authorize' && r.request().method() === 'POST',
      ),
      page.click('#approve'),
    ]);
    check(response.status() === 401, `expected HTTP 401 for a wrong password, got ${response.status()}`);
    await page.waitForLoadState('domcontentloaded');
    check(new URL(page.url()).pathname === '/oauth/authorize', `left the login page: ${page.url()}`);
    const error = page.locator('.error');
    await error.first().waitFor();
    const message = await text(error.first());
    check(/wrong username or password/i.test(message), `unexpected error message: ${message}`);
    await page.locator('#username').waitFor();
    await page.locator('#approve').waitFor();
  });

  // 3. Success: consent, code exchange with the verifier, the protected API.
  await startLogin(page, 'sign in');
  await step('sign in: approve as alice, back on /app with documents loaded', async () => {
    await page.fill('#username', 'alice');
    await page.fill('#password', 'wonderland');
    const token = page.waitForResponse(
      (r) => new URL(r.url()).pathname === '/oauth/token' && r.request().method() === 'POST',
    );
    const documents = page.waitForResponse(
      (r) => new URL(r.url()).pathname === '/api/v1/documents',
    );
    await page.click('#approve');
    check((await token).status() === 200, `token exchange answered HTTP ${(await token).status()}`);
    check(
      (await documents).status() === 200,
      `GET /api/v1/documents answered HTTP ${(await documents).status()}`,
    );
    await page.waitForURL((url) => url.pathname === '/app' && url.search === '');
    await page.locator('#documents').filter({ hasText: '"documents"' }).waitFor();
    const shown = await text(page.locator('#documents'));
    check(!shown.startsWith('HTTP '), `#documents shows an error: ${shown}`);
    check(JSON.parse(shown).tenant === 'acme', `#documents is not tenant acme's: ${shown}`);
    const status = await text(page.locator('#status'));
    check(/^Signed in\./.test(status), `#status after sign-in: ${status}`);
  });

  await step('sign in: #refresh rotates the tokens and reloads documents', async () => {
    await page.locator('#refresh').waitFor({ state: 'visible' });
    const token = page.waitForResponse(
      (r) => new URL(r.url()).pathname === '/oauth/token' && r.request().method() === 'POST',
    );
    const documents = page.waitForResponse(
      (r) => new URL(r.url()).pathname === '/api/v1/documents',
    );
    await page.click('#refresh');
    check((await token).status() === 200, `refresh answered HTTP ${(await token).status()}`);
    check(
      (await documents).status() === 200,
      `GET /api/v1/documents after refresh answered HTTP ${(await documents).status()}`,
    );
    await page.locator('#status').filter({ hasText: 'Refreshed' }).waitFor();
    await page.locator('#documents').filter({ hasText: '"documents"' }).waitFor();
    const shown = await text(page.locator('#documents'));
    check(!shown.startsWith('HTTP '), `#documents shows an error after refresh: ${shown}`);
  });
}

// ---------------------------------------------------------------- admin page

async function adminFlow(page) {
  const name = `e2e-browser-${Date.now()}`;

  await step('admin: open /admin, connect with the admin key', async () => {
    await page.goto(`${BASE_URL}/admin`);
    await page.fill('#admin-key', ADMIN_KEY);
    await page.click('#connect');
    // Either the page opens (#main) or it says why not (#error).
    await page.locator('#main:visible, #error:visible').first().waitFor();
    if (await page.locator('#error').isVisible()) {
      throw new Error(`the page shows #error: ${await text(page.locator('#error'))}`);
    }
    await page.locator('#keys-body tr[data-key-id]').first().waitFor();
    check(!(await page.locator('#error').isVisible()), `#error: ${await text(page.locator('#error'))}`);
  });

  const plaintext = await step('admin: create a key, its plaintext is shown once', async () => {
    await page.fill('#new-name', name);
    await page.fill('#new-scopes', 'documents:read');
    await page.click('#create');
    await page.locator('#new-key-box').waitFor({ state: 'visible' });
    const key = await text(page.locator('#new-key'));
    check(key.startsWith('pk_live_'), `#new-key does not start with pk_live_: "${key.slice(0, 12)}…"`);
    check(!(await page.locator('#error').isVisible()), `#error: ${await text(page.locator('#error'))}`);
    return key;
  });

  const row = page.locator('#keys-body tr[data-key-id]').filter({
    has: page.locator('td:first-child', { hasText: name }),
  });
  const keyId = await step('admin: the new key is listed as active', async () => {
    await row.waitFor();
    check((await row.count()) === 1, `expected one row named ${name}, found ${await row.count()}`);
    const id = await row.getAttribute('data-key-id');
    check(id && id.startsWith('key_'), `unexpected data-key-id: ${id}`);
    const status = await text(row.locator('td:nth-child(4)'));
    check(status === 'active', `status of the new key: ${status}`);
    return id;
  });

  await step('admin: the new key works on the API (outside the browser)', async () => {
    const status = await apiStatus(plaintext);
    check(status === 200, `GET /api/v1/documents with the new key answered HTTP ${status}`);
  });

  await step('admin: revoke the new key, its status turns revoked', async () => {
    await row.locator('.revoke').click();
    await row.locator('td:nth-child(4)', { hasText: 'revoked' }).waitFor();
    check((await row.locator('.revoke').count()) === 0, 'a revoked key still offers Revoke');
    check(!(await page.locator('#error').isVisible()), `#error: ${await text(page.locator('#error'))}`);
  });

  await step('admin: the revoked key is refused by the API (outside the browser)', async () => {
    const status = await apiStatus(plaintext);
    check(status === 401, `GET /api/v1/documents with the revoked key answered HTTP ${status}`);
  });

  await step('admin: the audit log lists key_created and key_revoked', async () => {
    // The refused call above is audited too: refresh so the log is current.
    await page.click('#refresh-audit');
    for (const type of ['key_created', 'key_revoked']) {
      await page
        .locator('#audit-body tr')
        .filter({ has: page.locator('td:nth-child(2)', { hasText: type }) })
        .filter({ has: page.locator('td:nth-child(3)', { hasText: keyId }) })
        .first()
        .waitFor();
    }
  });

  await step('admin: full-page screenshot', async () => {
    // The page as a person sees it (the key shown is already revoked).
    const file = path.join(SCREENSHOT_DIR, 'admin.png');
    await page.screenshot({ path: file, fullPage: true });
    console.log(`screenshot: ${file}`);
  });

  return keyId;
}

// GET /api/v1/documents with an API key, from Node (not the browser).
async function apiStatus(key) {
  const res = await fetch(`${BASE_URL}/api/v1/documents`, {
    headers: { Authorization: `Bearer ${key}`, 'X-Tenant-Id': 'acme' },
    signal: AbortSignal.timeout(STEP_TIMEOUT_MS),
  });
  await res.arrayBuffer();
  return res.status;
}
