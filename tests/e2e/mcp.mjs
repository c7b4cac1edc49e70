// End-to-end MCP authorization flow against the papyrus-auth MCP example
// (`cargo run --example mcp_server`), driven by tests/mcp_e2e.rs, with the
// official MCP TypeScript SDK as the client: exactly what an MCP host does.
//
// Environment: MCP_URL, e.g. http://127.0.0.1:41234/mcp (the server's line
// "MCP server (Streamable HTTP): ...").
//
// What it proves, in order (each step is printed as "ok   <step>"):
//   a. discovery from the first 401 (protected-resource metadata, then the
//      authorization server's metadata), dynamic client registration, the
//      code flow with PKCE S256 and `resource`, the user approving only
//      documents:read on the consent page (read like a browser would:
//      hidden fields, CSRF cookie, form POST, code from the 303 Location,
//      `iss` and `state` checked), finishAuth, reconnect;
//   b. tools/list shows both tools; list_documents works;
//   c. create_document with the read-only token: 403 insufficient_scope;
//      then a step-up (by the SDK if it does one, else explicitly) approving
//      documents:read + documents:write, after which create_document works
//      and list_documents shows the new document;
//   d. refresh: an access token the server no longer accepts is replaced by
//      the SDK through grant_type=refresh_token on the 401 (transport), and
//      again by an explicit auth() call; the refresh token rotates each time;
//      the tools keep working; the replaced refresh token is refused;
//   e. a Client ID Metadata Document (draft-ietf-oauth-client-id-metadata-
//      document, SEP-991 in the SDK) instead of registration: a tiny
//      node:http server on 127.0.0.1 serves /client.json, whose client_id is
//      https://cimd.test:<port>/client.json; a fresh SDK client whose
//      provider has that clientMetadataUrl (and no saved client) connects:
//      the authorization server advertises
//      client_id_metadata_document_supported, the SDK sends the URL as
//      client_id without POSTing /oauth/register, the server fetches the
//      document (the Rust test starts it with
//      PAPYRUS_DANGEROUS_METADATA_LOOPBACK_HOST=cimd.test, so cimd.test is
//      127.0.0.1 and reached over plain http), the consent page names the
//      document's client_name, and the token works for list_documents.
//
// Prints one line `MCP_E2E_SUMMARY {json}` at the end; exits non-zero,
// naming the failed step, on any failure. The SDK and the "browser" talk to
// MCP_URL's origin only; the document server listens on 127.0.0.1 for the
// MCP server's fetches.

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { auth, UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const STEP_TIMEOUT_MS = 15_000;
const WATCHDOG_MS = 50_000;
const READ = 'documents:read';
const WRITE = 'documents:write';
// Nothing listens there: the code is read from the 303's Location.
const REDIRECT_URL = 'http://127.0.0.1:53682/callback';
const USER = ['alice', 'wonderland'];
// Step e: the name the MCP server maps to 127.0.0.1 (the Rust test sets
// PAPYRUS_DANGEROUS_METADATA_LOOPBACK_HOST to it), and the document's name.
const CIMD_HOST = process.env.CIMD_HOST || 'cimd.test';
const CIMD_CLIENT_NAME = 'E2E metadata-document client';

const MCP_URL = new URL(requireEnv('MCP_URL'));
const BASE = MCP_URL.origin;
const SDK_VERSION = JSON.parse(
  readFileSync(new URL('./node_modules/@modelcontextprotocol/sdk/package.json', import.meta.url), 'utf8'),
).version;

function requireEnv(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`mcp.mjs: environment variable ${name} is not set`);
    process.exit(2);
  }
  return value;
}

// Whatever happens, never hang the Rust test: it has its own, longer, deadline.
const watchdog = setTimeout(() => {
  console.error(`FAILED: the whole flow took longer than ${WATCHDOG_MS / 1000} s`);
  process.exit(3);
}, WATCHDOG_MS);
watchdog.unref();

let currentStep = '(start)';
async function step(name, fn) {
  currentStep = name;
  const started = Date.now();
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${STEP_TIMEOUT_MS / 1000} s`)), STEP_TIMEOUT_MS);
  });
  try {
    const result = await Promise.race([fn(), deadline]);
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
    return result;
  } finally {
    clearTimeout(timer);
  }
}

function check(condition, message) {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}

// ---- Every HTTP request, the SDK's and the "browser's", logged -----------

const requests = [];

function bodyParams(body) {
  if (body instanceof URLSearchParams) return body;
  if (typeof body === 'string') {
    try {
      return new URLSearchParams(body);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

// The fetch given to the SDK (transport and auth()) and used for the consent
// page: refuses anything but the server's origin, and records each request.
async function loggingFetch(input, init = {}) {
  const url = new URL(input instanceof Request ? input.url : String(input));
  if (url.origin !== BASE) throw new Error(`refusing a request outside ${BASE}: ${url}`);
  const method = init.method ?? (input instanceof Request ? input.method : 'GET');
  const entry = { method, path: url.pathname };
  if (url.pathname === '/mcp' && typeof init.body === 'string') {
    try {
      const msg = JSON.parse(init.body);
      entry.rpc = msg.method === 'tools/call' ? `tools/call ${msg.params?.name}` : msg.method;
    } catch {
      /* not JSON */
    }
  }
  const params = bodyParams(init.body);
  if (url.pathname.endsWith('/token') && params) {
    entry.grant_type = params.get('grant_type');
    entry.client_id = params.get('client_id') ?? undefined;
    entry.resource = params.get('resource') ?? undefined;
    if (params.get('refresh_token')) entry.refresh_token = params.get('refresh_token');
  }
  const response = await fetch(input, init);
  entry.status = response.status;
  const challenge = response.headers.get('www-authenticate');
  if (challenge) entry.www_authenticate = challenge;
  requests.push(entry);
  return response;
}

const tokenRequests = (grant) => requests.filter((r) => r.path === '/oauth/token' && r.grant_type === grant);

// ---- The consent page, the way a browser fills it in ----------------------

function escapeHtml(s) {
  return s
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

function unescapeHtml(s) {
  return s
    .replaceAll('&quot;', '"')
    .replaceAll('&#39;', "'")
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&amp;', '&');
}

function hidden(html, name) {
  const m = html.match(new RegExp(`name="${name}" value="([^"]*)"`));
  if (!m) throw new Error(`the consent page has no hidden field ${name}`);
  return unescapeHtml(m[1]);
}

// Signs alice in on the authorization page at `authorizationUrl` and
// approves `scopes`; returns the code from the redirect, after checking
// `iss` and `state`, and the page's HTML.
async function consent(authorizationUrl, scopes) {
  const page = await loggingFetch(authorizationUrl, { redirect: 'manual' });
  const html = await page.text();
  check(page.status === 200, `GET the authorization page: ${page.status} ${html.slice(0, 300)}`);
  const cookies = page.headers.getSetCookie().map((c) => c.split(';')[0]);
  check(cookies.length > 0, 'the consent page sets a CSRF cookie');
  const offered = [...html.matchAll(/name="scope"[^>]*value="([^"]*)"/g)].map((m) => unescapeHtml(m[1]));
  for (const s of scopes) check(offered.includes(s), `the consent page offers ${s} (offers ${offered})`);
  const form = new URLSearchParams();
  form.append('request', hidden(html, 'request'));
  form.append('csrf_token', hidden(html, 'csrf_token'));
  form.append('username', USER[0]);
  form.append('password', USER[1]);
  form.append('decision', 'approve');
  for (const s of scopes) form.append('scope', s);
  const answer = await loggingFetch(authorizationUrl, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: cookies.join('; ') },
    body: form.toString(),
  });
  const text = await answer.text();
  check(answer.status === 303, `POST the consent form: ${answer.status} ${text.slice(0, 300)}`);
  const location = new URL(answer.headers.get('location'));
  check(location.href.startsWith(REDIRECT_URL), `redirected to ${location}, not ${REDIRECT_URL}`);
  const back = location.searchParams;
  check(!back.get('error'), `the authorization server answered error=${back.get('error')}`);
  check(back.get('iss') === BASE, `iss=${back.get('iss')}, expected ${BASE}`);
  check(back.get('state') === authorizationUrl.searchParams.get('state'), 'state comes back unchanged');
  const code = back.get('code');
  check(code, 'the redirect carries a code');
  return { code, html };
}

// ---- The OAuth client provider: in memory --------------------------------

class MemoryProvider {
  // `clientMetadataUrl`: the https URL of a Client ID Metadata Document; the
  // SDK then uses it as client_id (when the authorization server supports
  // it) instead of registering.
  constructor({ clientMetadataUrl } = {}) {
    this.clientMetadataUrl = clientMetadataUrl;
    this._client = undefined;
    this._tokens = undefined;
    this._verifier = undefined;
    this._state = undefined;
    // Scopes the user approves at the next consent; set per round.
    this.approve = [READ];
    this.rounds = []; // one entry per consent page shown
    this.pendingCode = undefined;
    this.lastPage = undefined; // the HTML of the last consent page
  }
  get redirectUrl() {
    return REDIRECT_URL;
  }
  get clientMetadata() {
    return {
      client_name: 'papyrus-auth MCP e2e',
      redirect_uris: [REDIRECT_URL],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  state() {
    this._state = randomBytes(16).toString('base64url');
    return this._state;
  }
  clientInformation() {
    return this._client;
  }
  saveClientInformation(info) {
    this._client = info;
  }
  tokens() {
    return this._tokens;
  }
  saveTokens(tokens) {
    this._tokens = tokens;
  }
  saveCodeVerifier(verifier) {
    this._verifier = verifier;
  }
  codeVerifier() {
    if (!this._verifier) throw new Error('no code verifier saved');
    return this._verifier;
  }
  invalidateCredentials(scope) {
    if (scope === 'all' || scope === 'tokens') this._tokens = undefined;
    if (scope === 'all' || scope === 'client') this._client = undefined;
    if (scope === 'all' || scope === 'verifier') this._verifier = undefined;
  }
  async redirectToAuthorization(url) {
    const p = url.searchParams;
    const round = {
      requested_scope: p.get('scope'),
      approved: [...this.approve],
      resource: p.get('resource'),
      code_challenge_method: p.get('code_challenge_method'),
      client_id: p.get('client_id'),
      has_state: p.get('state') === this._state && !!this._state,
    };
    this.rounds.push(round);
    const { code, html } = await consent(url, this.approve);
    this.pendingCode = code;
    this.lastPage = html;
  }
  takeCode() {
    const code = this.pendingCode;
    this.pendingCode = undefined;
    return code;
  }
}

const provider = new MemoryProvider();
const summary = { sdk: SDK_VERSION, mcp_url: MCP_URL.href };

function newTransport(authProvider = provider) {
  return new StreamableHTTPClientTransport(MCP_URL, { authProvider, fetch: loggingFetch });
}

async function connected(authProvider = provider) {
  const transport = newTransport(authProvider);
  const client = new Client({ name: 'papyrus-auth-mcp-e2e', version: '0.0.0' });
  await client.connect(transport);
  return { client, transport };
}

function toolText(result) {
  return (result.content ?? [])
    .filter((c) => c.type === 'text')
    .map((c) => c.text)
    .join('\n');
}

async function callOk(client, name, args = {}) {
  const result = await client.callTool({ name, arguments: args });
  check(!result.isError, `${name} failed: ${toolText(result)}`);
  return toolText(result);
}

try {
  let client;
  let transport;

  // a. 401 → discovery → registration → consent (read only) → finishAuth.
  await step('a. connect: 401, discovery, registration, consent (documents:read only), finishAuth, reconnect', async () => {
    const first = newTransport();
    const probe = new Client({ name: 'papyrus-auth-mcp-e2e', version: '0.0.0' });
    let unauthorized;
    try {
      await probe.connect(first);
    } catch (err) {
      unauthorized = err;
    }
    check(unauthorized instanceof UnauthorizedError, `the first connect asks for authorization (got ${unauthorized})`);
    const initial = requests.find((r) => r.path === '/mcp');
    check(initial?.status === 401, 'the first MCP request is answered 401');
    check(
      initial.www_authenticate?.includes(`resource_metadata="${BASE}/.well-known/oauth-protected-resource/mcp"`),
      `the 401 names the resource metadata: ${initial.www_authenticate}`,
    );
    for (const path of ['/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-authorization-server']) {
      check(
        requests.some((r) => r.path === path && r.status === 200),
        `the SDK fetched ${path} (requests: ${JSON.stringify(requests.map((r) => `${r.method} ${r.path} ${r.status}`))})`,
      );
    }
    const registration = requests.find((r) => r.path === '/oauth/register');
    check(registration?.status === 201 || registration?.status === 200, `registration answered ${registration?.status}`);
    const clientId = provider.clientInformation()?.client_id;
    check(clientId?.startsWith('cli_'), `registered client_id ${clientId}`);
    check(provider.rounds.length === 1, 'one consent page');
    const round = provider.rounds[0];
    check(round.resource === `${BASE}/mcp`, `resource=${round.resource}`);
    check(round.code_challenge_method === 'S256', `code_challenge_method=${round.code_challenge_method}`);
    check(round.client_id === clientId, 'the authorization request names the registered client');
    check(round.has_state, 'the authorization request carries the provider state');
    await first.finishAuth(provider.takeCode());
    await probe.close();
    const code = tokenRequests('authorization_code');
    check(code.length === 1 && code[0].status === 200, 'one code exchange, 200');
    check(code[0].resource === `${BASE}/mcp`, `the code exchange names the resource: ${code[0].resource}`);
    const granted = provider.tokens();
    check(granted?.access_token && granted.refresh_token, 'an access token and a refresh token');
    check(granted.scope === READ, `the token is narrowed to what was approved: scope=${granted.scope}`);
    ({ client, transport } = await connected());
    summary.a = {
      client_id: clientId,
      requested_scope: round.requested_scope,
      approved: round.approved,
      resource: round.resource,
      code_challenge_method: round.code_challenge_method,
      granted_scope: granted.scope,
    };
  });

  // b. The tools, with the read-only token.
  await step('b. tools/list shows both tools; list_documents works', async () => {
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name).sort();
    for (const t of ['create_document', 'list_documents']) check(names.includes(t), `tool ${t} listed (${names})`);
    const text = await callOk(client, 'list_documents');
    summary.b = { tools: names, list_documents_chars: text.length };
  });

  // c. Step-up: 403 insufficient_scope, then documents:write approved.
  const title = `mcp e2e ${randomBytes(4).toString('hex')}`;
  await step('c. create_document: 403 insufficient_scope, step-up to documents:read documents:write, create works', async () => {
    provider.approve = [READ, WRITE];
    const roundsBefore = provider.rounds.length;
    const refreshesBefore = tokenRequests('refresh_token').length;
    const args = { title, content: 'written through MCP after a step-up' };
    let refused;
    let createdBySdk = false;
    try {
      const result = await client.callTool({ name: 'create_document', arguments: args });
      check(!result.isError, `create_document: ${toolText(result)}`);
      createdBySdk = true;
    } catch (err) {
      refused = err;
    }
    const forbidden = requests.find((r) => r.rpc === 'tools/call create_document' && r.status === 403);
    check(forbidden, 'the server answered the read-only create_document 403');
    check(
      forbidden.www_authenticate?.includes('error="insufficient_scope"') &&
        forbidden.www_authenticate.includes(`scope="${WRITE}"`),
      `403 challenge names insufficient_scope and ${WRITE}: ${forbidden.www_authenticate}`,
    );
    const sdkConsent = provider.rounds.length > roundsBefore;
    const sdkRefreshes = tokenRequests('refresh_token').length - refreshesBefore;
    summary.c = {
      challenge: forbidden.www_authenticate,
      sdk_step_up_consent: sdkConsent,
      sdk_step_up_refresh_grants: sdkRefreshes,
      sdk_error: refused ? String(refused.message ?? refused) : undefined,
    };
    if (!createdBySdk) {
      check(refused, 'create_document failed');
      const message = String(refused.message ?? refused);
      check(/403|insufficient_scope/.test(message), `the error names 403 or insufficient_scope: ${message}`);
      if (sdkConsent && provider.pendingCode) {
        // The SDK went to the consent page itself: finish that round.
        await transport.finishAuth(provider.takeCode());
      } else {
        // The SDK did not re-authorize (1.x refreshes instead, which cannot
        // widen the scope: RFC 6749 §6). A client steps up by dropping its
        // tokens (keeping its registration) and asking for the union.
        provider.invalidateCredentials('tokens');
        const outcome = await auth(provider, {
          serverUrl: MCP_URL,
          scope: `${READ} ${WRITE}`,
          fetchFn: loggingFetch,
        });
        check(outcome === 'REDIRECT', `auth() asks for the consent page (got ${outcome})`);
        await transport.finishAuth(provider.takeCode());
        summary.c.explicit_step_up = true;
      }
      const stepUp = provider.rounds.at(-1);
      check(stepUp.requested_scope?.split(' ').includes(WRITE), `the step-up asks for ${WRITE}: ${stepUp.requested_scope}`);
      check(stepUp.resource === `${BASE}/mcp`, `the step-up names the resource: ${stepUp.resource}`);
      check(stepUp.client_id === summary.a.client_id, 'the step-up reuses the registration');
      check(requests.filter((r) => r.path === '/oauth/register').length === 1, 'no second registration');
      const scopes = (provider.tokens()?.scope ?? '').split(' ').sort();
      check(scopes.join(' ') === `${READ} ${WRITE}`, `the new token has both scopes: ${provider.tokens()?.scope}`);
      summary.c.step_up_requested_scope = stepUp.requested_scope;
      const created = await callOk(client, 'create_document', args);
      check(created.includes(title), `create_document answers the new document: ${created}`);
    }
    const listed = await callOk(client, 'list_documents');
    check(listed.includes(title), `list_documents shows "${title}"`);
    summary.c.granted_scope = provider.tokens()?.scope;
    summary.c.created_title = title;
  });

  // d. Refresh, with rotation.
  await step('d. refresh: the SDK refreshes on 401 and via auth(); the refresh token rotates', async () => {
    // d1: the server no longer accepts the access token (as after expiry):
    // the transport gets 401 and refreshes on its own.
    const before = provider.tokens();
    const refreshesBefore = tokenRequests('refresh_token').length;
    provider.saveTokens({ ...before, access_token: 'expired-access-token' });
    await callOk(client, 'list_documents');
    const refreshed = tokenRequests('refresh_token').slice(refreshesBefore);
    check(refreshed.length === 1, `one refresh_token grant on the 401 (got ${refreshed.length})`);
    check(refreshed[0].status === 200, `the refresh answered ${refreshed[0].status}`);
    check(refreshed[0].refresh_token === before.refresh_token, 'the refresh sent the stored refresh token');
    check(refreshed[0].resource === `${BASE}/mcp`, `the refresh names the resource: ${refreshed[0].resource}`);
    const unauthorized = requests.filter((r) => r.path === '/mcp' && r.status === 401).length;
    check(unauthorized >= 2, 'the stale access token was answered 401');
    const afterD1 = provider.tokens();
    check(afterD1.access_token !== before.access_token && afterD1.access_token !== 'expired-access-token', 'a new access token');
    check(afterD1.refresh_token && afterD1.refresh_token !== before.refresh_token, 'the refresh token rotated');
    check(afterD1.scope?.split(' ').includes(WRITE), `the refreshed token keeps the scopes: ${afterD1.scope}`);

    // d2: an explicit auth() with the access token dropped, refresh token kept.
    provider.saveTokens({ refresh_token: afterD1.refresh_token, token_type: afterD1.token_type, issuer: afterD1.issuer });
    const outcome = await auth(provider, { serverUrl: MCP_URL, fetchFn: loggingFetch });
    check(outcome === 'AUTHORIZED', `auth() with only a refresh token: ${outcome}`);
    const d2 = tokenRequests('refresh_token').at(-1);
    check(d2.refresh_token === afterD1.refresh_token && d2.status === 200, 'auth() used the refresh_token grant');
    const afterD2 = provider.tokens();
    check(afterD2.access_token && afterD2.access_token !== afterD1.access_token, 'another new access token');
    check(afterD2.refresh_token && afterD2.refresh_token !== afterD1.refresh_token, 'the refresh token rotated again');
    const listed = await callOk(client, 'list_documents');
    check(listed.includes(title), 'list_documents works with the refreshed token');

    // The replaced refresh token is refused.
    const replay = await loggingFetch(`${BASE}/oauth/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: before.refresh_token,
        client_id: summary.a.client_id,
        resource: `${BASE}/mcp`,
      }).toString(),
    });
    const replayBody = await replay.json().catch(() => ({}));
    check(replay.status === 400 && replayBody.error === 'invalid_grant', `replaying a rotated refresh token: ${replay.status} ${JSON.stringify(replayBody)}`);
    summary.d = {
      refresh_on_401: { status: refreshed[0].status, rotated: true },
      refresh_via_auth: { status: d2.status, rotated: true },
      old_refresh_token_replay: `${replay.status} ${replayBody.error}`,
    };
  });

  await client.close();

  // e. A Client ID Metadata Document instead of registration.
  await step('e. metadata document: client_id is the document URL, no registration, consent names the client, list_documents works', async () => {
    const documentRequests = [];
    let documentUrl;
    const documentServer = createServer((req, res) => {
      documentRequests.push({ method: req.method, path: req.url, host: req.headers.host });
      if (req.method === 'GET' && req.url === '/client.json') {
        res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'max-age=300' });
        res.end(
          JSON.stringify({
            client_id: documentUrl,
            client_name: CIMD_CLIENT_NAME,
            redirect_uris: [REDIRECT_URL],
            grant_types: ['authorization_code', 'refresh_token'],
            response_types: ['code'],
            token_endpoint_auth_method: 'none',
          }),
        );
      } else {
        res.writeHead(404, { 'Content-Type': 'text/plain' });
        res.end('not found');
      }
    });
    await new Promise((resolve, reject) => {
      documentServer.once('error', reject);
      documentServer.listen(0, '127.0.0.1', resolve);
    });
    try {
      documentUrl = `https://${CIMD_HOST}:${documentServer.address().port}/client.json`;
      const asMetadata = await (await loggingFetch(`${BASE}/.well-known/oauth-authorization-server`)).json();
      check(
        asMetadata.client_id_metadata_document_supported === true,
        `the authorization server advertises client_id_metadata_document_supported: ${asMetadata.client_id_metadata_document_supported}`,
      );

      const from = requests.length;
      const cimd = new MemoryProvider({ clientMetadataUrl: documentUrl });
      const first = newTransport(cimd);
      const probe = new Client({ name: 'papyrus-auth-mcp-e2e-cimd', version: '0.0.0' });
      let unauthorized;
      try {
        await probe.connect(first);
      } catch (err) {
        unauthorized = err;
      }
      check(unauthorized instanceof UnauthorizedError, `the first connect asks for authorization (got ${unauthorized})`);
      const round = requests.slice(from);
      const registrations = round.filter((r) => r.path === '/oauth/register');
      check(registrations.length === 0, `no registration in this round (got ${JSON.stringify(registrations)})`);
      check(cimd.clientInformation()?.client_id === documentUrl, `the SDK keeps the document URL as client_id: ${cimd.clientInformation()?.client_id}`);
      check(cimd.rounds.length === 1, 'one consent page');
      const consentRound = cimd.rounds[0];
      check(consentRound.client_id === documentUrl, `the authorization request's client_id is the document URL: ${consentRound.client_id}`);
      check(consentRound.resource === `${BASE}/mcp`, `resource=${consentRound.resource}`);
      check(consentRound.code_challenge_method === 'S256', `code_challenge_method=${consentRound.code_challenge_method}`);
      check(consentRound.has_state, 'the authorization request carries the provider state');
      check(cimd.lastPage?.includes(escapeHtml(CIMD_CLIENT_NAME)), `the consent page names "${CIMD_CLIENT_NAME}"`);
      check(documentRequests.length >= 1, 'the MCP server fetched the metadata document');

      await first.finishAuth(cimd.takeCode());
      await probe.close();
      const exchanges = requests.slice(from).filter((r) => r.path === '/oauth/token' && r.grant_type === 'authorization_code');
      check(exchanges.length === 1 && exchanges[0].status === 200, `one code exchange, 200 (got ${JSON.stringify(exchanges)})`);
      check(exchanges[0].client_id === documentUrl, `the code exchange names the document URL: ${exchanges[0].client_id}`);
      check(exchanges[0].resource === `${BASE}/mcp`, `the code exchange names the resource: ${exchanges[0].resource}`);
      const granted = cimd.tokens();
      check(granted?.access_token && granted.refresh_token, 'an access token and a refresh token');
      check(granted.scope === READ, `the token is narrowed to what was approved: scope=${granted.scope}`);
      const session = await connected(cimd);
      const listed = await callOk(session.client, 'list_documents');
      check(listed.includes(title), `list_documents shows "${title}" to the metadata-document client`);
      await session.client.close();
      check(requests.slice(from).every((r) => r.path !== '/oauth/register'), 'still no registration');
      check(
        documentRequests.every((r) => r.method === 'GET' && r.path === '/client.json'),
        `the MCP server asked the document server only for /client.json: ${JSON.stringify(documentRequests)}`,
      );
      summary.e = {
        metadata_document_client: true,
        client_id: documentUrl,
        client_id_metadata_document_supported: asMetadata.client_id_metadata_document_supported,
        registrations: registrations.length,
        consent_shows_client_name: true,
        client_name: CIMD_CLIENT_NAME,
        approved: consentRound.approved,
        granted_scope: granted.scope,
        metadata_document_fetches: documentRequests.length,
        metadata_document_host: documentRequests[0]?.host,
      };
    } finally {
      documentServer.closeAllConnections();
      await new Promise((resolve) => documentServer.close(() => resolve()));
    }
  });

  summary.requests = requests.map((r) =>
    [r.method, r.path, r.rpc ?? r.grant_type ?? '', r.status].filter((x) => x !== '').join(' '),
  );
  console.log(`MCP_E2E_SUMMARY ${JSON.stringify(summary)}`);
  process.exit(0);
} catch (err) {
  console.error(`FAILED at step "${currentStep}": ${err?.stack ?? err}`);
  console.error(
    `requests so far:\n${requests.map((r) => `  ${JSON.stringify({ ...r, refresh_token: r.refresh_token ? '(set)' : undefined })}`).join('\n')}`,
  );
  process.exit(1);
}
