// Admin → API Keys page for the papyrus-auth example server.
//
// Every request carries the admin key as a bearer token plus the tenant id.
// The admin key lives only in a variable and in sessionStorage (cleared when
// the tab closes), never in localStorage.
'use strict';

const STORAGE_KEY = 'papyrus_admin';
const TENANT_STORAGE_KEY = 'papyrus_admin_tenant';

let adminKey = '';
let tenant = '';

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- helpers

// Calls the admin JSON API. Resolves to the parsed body; throws an Error whose
// message is the server's error_description (or error) on a 4xx/5xx answer.
async function api(method, path, body) {
  const headers = {
    Authorization: `Bearer ${adminKey}`,
    'X-Tenant-Id': tenant,
  };
  const init = { method, headers };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    const message = (data && (data.error_description || data.error)) || `HTTP ${res.status}`;
    throw new Error(message);
  }
  return data;
}

function showError(err) {
  $('error').textContent = err ? String(err.message || err) : '';
  $('error').hidden = !err;
}

// Runs an action, reporting any failure in #error.
async function run(action) {
  showError(null);
  try {
    await action();
  } catch (err) {
    showError(err);
  }
}

// Creates an element with optional text (always set through textContent).
function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

// "2025-01-31T12:00:00.123Z" → a <time> showing "2025-01-31 12:00:00Z".
function timeCell(value, fallback = '—') {
  const td = el('td');
  if (!value) {
    td.textContent = fallback;
    return td;
  }
  const t = el('time', value.replace('T', ' ').replace(/\.\d+/, ''));
  t.dateTime = value;
  td.append(t);
  return td;
}

function showNewKey(label, plaintext) {
  $('new-key-label').textContent = label;
  $('new-key').textContent = plaintext;
  $('new-key-box').hidden = false;
}

// ---------------------------------------------------------------- keys

async function loadKeys() {
  const { api_keys: keys } = await api('GET', '/admin/api-keys');

  // For rotated-out keys, ask whether the old key still receives traffic.
  const traffic = new Map();
  await Promise.all(
    keys
      .filter((k) => k.status === 'rotated_out')
      .map(async (k) => {
        const detail = await api('GET', `/admin/api-keys/${encodeURIComponent(k.id)}`);
        traffic.set(k.id, detail.traffic);
      }),
  );

  const body = $('keys-body');
  body.replaceChildren(...keys.map((k) => keyRow(k, traffic.get(k.id))));
  if (keys.length === 0) {
    const td = el('td', 'No keys yet.', 'muted');
    td.colSpan = 9;
    const tr = el('tr');
    tr.append(td);
    body.append(tr);
  }
}

function keyRow(key, traffic) {
  const tr = el('tr');
  tr.dataset.keyId = key.id;

  tr.append(el('td', key.name));

  const hint = el('td');
  hint.append(el('code', key.hint));
  tr.append(hint);

  tr.append(el('td', key.scopes));

  const status = el('td');
  status.append(el('span', key.status, `badge status-${key.status}`));
  tr.append(status);

  tr.append(timeCell(key.created_at));
  tr.append(timeCell(key.last_used_at, 'never'));
  tr.append(el('td', key.rotation_due ? 'yes' : 'no', key.rotation_due ? 'warn' : ''));
  tr.append(trafficCell(traffic));

  const actions = el('td', null, 'actions');
  if (key.status !== 'revoked') {
    actions.append(el('button', 'Rotate', 'rotate'), el('button', 'Revoke', 'revoke danger'));
  }
  tr.append(actions);
  return tr;
}

// "quiet" means the old key has not been used since it was rotated out:
// it is safe to revoke. "still_used" means some backend still sends it.
function trafficCell(traffic) {
  const td = el('td');
  if (!traffic || traffic.state === 'not_rotated') {
    td.textContent = '—';
    return td;
  }
  const label = traffic.state === 'still_used' ? 'still used' : traffic.state;
  td.append(el('span', label, `badge traffic-${traffic.state}`));
  const last = traffic.last_used_at
    ? ` (last used ${traffic.last_used_at.replace('T', ' ').replace(/\.\d+/, '')})`
    : ' (not used since rotation)';
  td.append(document.createTextNode(last));
  return td;
}

async function createKey() {
  const request = {
    name: $('new-name').value.trim(),
    scopes: $('new-scopes').value.trim(),
  };
  const allowlist = $('new-allowlist')
    .value.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (allowlist.length > 0) request.ip_allowlist = allowlist;

  const created = await api('POST', '/admin/api-keys', request);
  showNewKey(`New key "${created.api_key.name}"`, created.key);
  $('new-name').value = '';
  $('new-allowlist').value = '';
}

async function rotateKey(id) {
  const rotated = await api('POST', `/admin/api-keys/${encodeURIComponent(id)}/rotate`, {});
  showNewKey(`Successor of ${id} ("${rotated.api_key.name}")`, rotated.key);
}

async function revokeKey(id) {
  await api('POST', `/admin/api-keys/${encodeURIComponent(id)}/revoke`, {});
}

// ---------------------------------------------------------------- clients

async function loadClients() {
  const { clients } = await api('GET', '/admin/clients');
  $('clients-body').replaceChildren(
    ...clients.map((c) => {
      const tr = el('tr');
      tr.append(
        el('td', c.name),
        el('td', c.client_id, 'mono'),
        el('td', c.kind),
        el('td', (c.grant_types || []).join(', ')),
        el('td', c.dynamically_registered ? 'the client itself' : 'an administrator',
          c.dynamically_registered ? 'warn' : ''),
        timeCell(c.created_at),
      );
      return tr;
    }),
  );
}

// ---------------------------------------------------------------- audit

async function loadAudit() {
  const { events } = await api('GET', '/admin/audit?limit=50');
  const body = $('audit-body');
  body.replaceChildren(
    ...events.map((ev) => {
      const tr = el('tr');
      tr.append(
        timeCell(ev.at),
        el('td', ev.type, ev.type === 'key_rejected' ? 'warn' : ''),
        el('td', ev.key_id || ev.client_id || '—'),
        el('td', ev.ip || '—'),
        el('td', reasonOf(ev)),
      );
      return tr;
    }),
  );
}

function reasonOf(ev) {
  if (!ev.reason) return '';
  if (typeof ev.reason === 'string') return ev.reason;
  return ev.reason.reason || JSON.stringify(ev.reason);
}

// ---------------------------------------------------------------- wiring

async function refreshAll() {
  await loadKeys();
  await loadClients();
  await loadAudit();
}

async function connect() {
  adminKey = $('admin-key').value.trim();
  tenant = $('tenant').value.trim();
  $('main').hidden = true;
  try {
    await loadKeys(); // a wrong admin key or tenant fails here with 401/403
  } catch (err) {
    sessionStorage.removeItem(STORAGE_KEY);
    throw err;
  }
  sessionStorage.setItem(STORAGE_KEY, adminKey);
  sessionStorage.setItem(TENANT_STORAGE_KEY, tenant);
  $('main').hidden = false;
  await loadClients();
  await loadAudit();
}

// Runs a key action, then refreshes the key list and the audit log even when
// the action failed (a refusal is itself an audit event). The first failure
// is shown in #error.
async function perform(action) {
  showError(null);
  let failure = null;
  try {
    await action();
  } catch (err) {
    failure = err;
  }
  try {
    await refreshAll();
  } catch (err) {
    failure = failure || err;
  }
  showError(failure);
}

$('connect').addEventListener('click', () => run(connect));
$('create').addEventListener('click', () => perform(createKey));
$('refresh-audit').addEventListener('click', () => run(loadAudit));

// One listener for every Rotate / Revoke button in the table.
$('keys-body').addEventListener('click', (event) => {
  const button = event.target.closest('button');
  const row = event.target.closest('tr[data-key-id]');
  if (!button || !row) return;
  const id = row.dataset.keyId;
  if (button.classList.contains('rotate')) perform(() => rotateKey(id));
  if (button.classList.contains('revoke')) perform(() => revokeKey(id));
});

// Reconnect automatically after a reload of the same tab.
const savedKey = sessionStorage.getItem(STORAGE_KEY);
if (savedKey) {
  $('admin-key').value = savedKey;
  $('tenant').value = sessionStorage.getItem(TENANT_STORAGE_KEY) || 'acme';
  run(connect);
}
