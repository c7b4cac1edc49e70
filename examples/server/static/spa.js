// Browser app for the papyrus-auth example server: OAuth 2.0 authorization
// code flow with PKCE, as in the product document.
//
// /app           shows the app and the "Sign in with Papyrus" button.
// /app/callback  is the redirect_uri: it exchanges the code for tokens.
'use strict';

const TOKENS_KEY = 'papyrus_tokens';
const VERIFIER_KEY = 'papyrus_pkce_verifier';
const STATE_KEY = 'papyrus_pkce_state';

let config = null; // from /app/config.json
let tokens = JSON.parse(sessionStorage.getItem(TOKENS_KEY) || 'null');

const $ = (id) => document.getElementById(id);

function setStatus(text, isError = false) {
  $('status').textContent = text;
  $('status').classList.toggle('error', isError);
}

// ---------------------------------------------------------------- PKCE

// Random string over the RFC 7636 "unreserved" alphabet. Bytes >= 198 are
// dropped (rejection sampling) so that every character is equally likely.
function randomString(length) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~';
  const limit = 256 - (256 % alphabet.length);
  let out = '';
  while (out.length < length) {
    for (const byte of crypto.getRandomValues(new Uint8Array(length))) {
      if (byte < limit && out.length < length) out += alphabet[byte % alphabet.length];
    }
  }
  return out;
}

function base64UrlEncode(bytes) {
  const binary = String.fromCharCode(...new Uint8Array(bytes));
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

async function sha256(text) {
  return crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
}

async function login() {
  const verifier = randomString(64);
  const challenge = base64UrlEncode(await sha256(verifier));
  const state = randomString(32);
  sessionStorage.setItem(VERIFIER_KEY, verifier);
  sessionStorage.setItem(STATE_KEY, state);

  window.location = config.authorize_endpoint + '?' + new URLSearchParams({
    response_type: 'code',
    client_id: config.client_id,
    redirect_uri: config.redirect_uri,
    scope: config.scope,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: state,
  });
}

// ---------------------------------------------------------------- tokens

// POSTs a form to the token endpoint; returns the JSON body or throws with
// the OAuth error (RFC 6749 §5.2) as message.
async function tokenRequest(params) {
  const res = await fetch(config.token_endpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params),
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const detail = data.error_description ? `: ${data.error_description}` : '';
    throw new Error(`${data.error || `HTTP ${res.status}`}${detail}`);
  }
  return data;
}

function storeTokens(data) {
  tokens = {
    access_token: data.access_token,
    refresh_token: data.refresh_token || (tokens && tokens.refresh_token),
    scope: data.scope,
    expires_at: Date.now() + (data.expires_in || 0) * 1000,
  };
  sessionStorage.setItem(TOKENS_KEY, JSON.stringify(tokens));
  updateButtons();
}

function forgetTokens() {
  tokens = null;
  sessionStorage.removeItem(TOKENS_KEY);
  $('documents').textContent = '';
  updateButtons();
}

function expiresIn() {
  return Math.max(0, Math.round((tokens.expires_at - Date.now()) / 1000));
}

// Handles /app/callback?code=…&state=… (or ?error=…).
async function handleCallback() {
  const query = new URLSearchParams(window.location.search);
  const expectedState = sessionStorage.getItem(STATE_KEY);
  const verifier = sessionStorage.getItem(VERIFIER_KEY);
  // The verifier and state are single-use, whatever happens next.
  sessionStorage.removeItem(VERIFIER_KEY);
  sessionStorage.removeItem(STATE_KEY);
  // Take the code (or error) out of the address bar and the history.
  history.replaceState(null, '', '/app');

  if (query.get('error')) {
    const description = query.get('error_description');
    throw new Error(`Sign-in failed: ${query.get('error')}${description ? ` (${description})` : ''}`);
  }
  if (!expectedState || query.get('state') !== expectedState) {
    throw new Error('Sign-in failed: the state parameter does not match (possible CSRF). Please sign in again.');
  }
  // RFC 9207: when the server names itself, it must be the issuer we expect.
  if (query.get('iss') && config.issuer && query.get('iss') !== config.issuer) {
    throw new Error(`Sign-in failed: unexpected issuer ${query.get('iss')}`);
  }

  storeTokens(await tokenRequest({
    grant_type: 'authorization_code',
    code: query.get('code') || '',
    redirect_uri: config.redirect_uri,
    client_id: config.client_id,
    code_verifier: verifier || '',
  }));
  setStatus(`Signed in. Access token expires in ${expiresIn()} s.`);
  await loadDocuments();
}

// Refresh tokens rotate: every use returns a new one and kills the old one.
async function refresh() {
  storeTokens(await tokenRequest({
    grant_type: 'refresh_token',
    refresh_token: tokens.refresh_token,
    client_id: config.client_id,
  }));
  setStatus(`Refreshed. Access token expires in ${expiresIn()} s.`);
  await loadDocuments();
}

// ---------------------------------------------------------------- API

function apiHeaders(extra = {}) {
  return {
    Authorization: `Bearer ${tokens.access_token}`,
    'X-Tenant-Id': config.tenant,
    ...extra,
  };
}

// Shows a response body in #documents: pretty JSON, or the raw text.
async function showResponse(res) {
  const text = await res.text();
  let pretty = text;
  try {
    pretty = JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    // not JSON: show it as is
  }
  const prefix = res.ok ? '' : `HTTP ${res.status} ${res.statusText}\n`;
  $('documents').textContent = prefix + pretty;
  $('documents').classList.toggle('error', !res.ok);
}

async function loadDocuments() {
  const res = await fetch(config.api, { headers: apiHeaders() });
  await showResponse(res);
}

async function createDocument() {
  const res = await fetch(config.api, {
    method: 'POST',
    headers: apiHeaders({ 'Content-Type': 'application/json' }),
    body: JSON.stringify({ title: $('new-title').value, content: $('new-content').value }),
  });
  if (!res.ok) {
    await showResponse(res);
    throw new Error(`Could not create the document (HTTP ${res.status}).`);
  }
  $('new-title').value = '';
  $('new-content').value = '';
  setStatus('Document created.');
  await loadDocuments();
}

// ---------------------------------------------------------------- wiring

function updateButtons() {
  const signedIn = tokens !== null;
  $('login').hidden = signedIn;
  $('login').disabled = config === null;
  for (const id of ['load', 'refresh', 'logout', 'signed-in']) $(id).hidden = !signedIn;
}

// Runs an action and reports any failure in #status.
async function run(action) {
  try {
    await action();
  } catch (err) {
    setStatus(err.message || String(err), true);
  }
}

$('login').addEventListener('click', () => run(login));
$('load').addEventListener('click', () => run(loadDocuments));
$('refresh').addEventListener('click', () => run(refresh));
$('create-doc').addEventListener('click', () => run(createDocument));
$('logout').addEventListener('click', () => {
  forgetTokens();
  setStatus('Signed out.');
});

run(async () => {
  updateButtons();
  const res = await fetch('/app/config.json');
  if (!res.ok) throw new Error(`Could not load /app/config.json (HTTP ${res.status}).`);
  config = await res.json();
  updateButtons();

  const query = new URLSearchParams(window.location.search);
  if (window.location.pathname === '/app/callback' || query.has('code') || query.has('error')) {
    setStatus('Signing in…');
    await handleCallback();
  } else if (tokens) {
    setStatus(`Signed in. Access token expires in ${expiresIn()} s.`);
    await loadDocuments();
  } else {
    setStatus('Not signed in.');
  }
});
