// The playground page: wires the key, the model catalog and form, the create, the open generation, the recent
// list and today's usage together. Each part lives in its own module beside this one.

import { Problem, call, clientKey, curlCommand, newIdempotencyKey, onUnauthorized } from './api.js';
import { formatIn, formatTime, h } from './dom.js';
import { buildBody, clearErrors, modelRules, newFormState, renderFields, showErrors } from './form.js';
import { RunPanel } from './generation.js';
import { RecentList } from './list.js';
import { UsagePanel } from './usage.js';

const $ = (id) => document.getElementById(id);
const MODEL_STORAGE = 'kling-gateway.playground.model';
const FINAL = new Set(['succeeded', 'failed']);

const form = $('create-form');
const submitButton = $('submit');
const state = newFormState();
let models = [];
let model = null;
let submitting = false;
let lastCreated = null;

// One Idempotency-Key per content: a new key when the body changes, the same key for the same body, so sending the
// same request twice (a double click, a retry after a lost answer) never starts or bills a second generation.
let held = { body: null, key: null };
function keyFor(body) {
  if (held.body !== body) held = { body, key: newIdempotencyKey() };
  return held.key;
}

const usage = new UsagePanel($('usage-body'));
const run = new RunPanel($('run-body'), $('run-announce'), (generation) => {
  list.upsert(generation);
  if (FINAL.has(generation.status)) usage.refresh();
});
const list = new RecentList(
  { items: $('list-items'), status: $('filter-status'), model: $('filter-model'), more: $('list-more'), mode: $('list-mode') },
  (generation) => open(generation, true),
  () => run.id);

function open(generation, focus = false) {
  run.open(generation);
  history.replaceState(null, '', `#${generation.id}`);
  list.upsert(generation);
  if (focus) $('run-heading').focus();
}

// ---- Notices (a missing key, an unreadable catalog) ----

function notice(message, action) {
  const box = $('notice');
  box.replaceChildren(h('p', {}, message), ...(action ? [action] : []));
  box.hidden = false;
}

function clearNotice() {
  $('notice').hidden = true;
}

onUnauthorized((problem) => {
  // Every refused call lands here (polls too): say it once, and move the focus only the first time.
  const first = $('notice').hidden;
  notice(`${problem.document.detail ?? 'This gateway needs a client key.'} Type the key above; it is kept in this tab only.`);
  if (first) $('client-key').focus();
});

// ---- The client key ----

function showKey() {
  const set = clientKey.get() !== '';
  $('key-status').textContent = set ? 'A key is set for this tab.' : 'No key set: calls are anonymous.';
  $('forget-key').hidden = !set;
}

$('key-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = $('client-key');
  clientKey.set(input.value.trim());
  input.value = '';
  showKey();
  reloadAll();
});

$('forget-key').addEventListener('click', () => {
  clientKey.set('');
  showKey();
  $('client-key').focus();
  reloadAll();
});

function reloadAll() {
  clearNotice();
  if (models.length === 0) loadModels();
  list.refresh().catch(() => {});
  usage.refresh();
  updatePreview();
}

// ---- The catalog and the form ----

async function loadModels() {
  try {
    models = (await call('/v1/models')).body.models;
  } catch (error) {
    if (!(error instanceof Problem && error.status === 401)) notice(`The model catalog could not be read: ${error.message}`);
    return;
  }
  const select = $('model');
  select.replaceChildren(...models.map((m) => h('option', { value: m.id }, m.name)));
  let remembered = null;
  try {
    remembered = sessionStorage.getItem(MODEL_STORAGE);
  } catch {
    remembered = null;
  }
  select.value = models.some((m) => m.id === remembered) ? remembered : models[0].id;
  list.setModels(models);
  chooseModel(select.value);
}

function chooseModel(id) {
  model = models.find((m) => m.id === id);
  try {
    sessionStorage.setItem(MODEL_STORAGE, id);
  } catch {
    // Not remembered; nothing else depends on it.
  }
  $('model-description').replaceChildren(model.description, ' ', h('code', {}, model.id));
  $('model-rules').replaceChildren(...modelRules(model).map((rule) => h('li', {}, rule)));
  clearFailure();
  renderFields($('fields'), model, state, changed);
  changed();
}

$('model').addEventListener('change', (event) => chooseModel(event.target.value));

// ---- The body, its JSON view and "Copy as curl" ----

const rawMode = () => $('raw-edit').checked;
const bodyText = () => (rawMode() ? $('raw-body').value : JSON.stringify(buildBody(model, state)));

/** The JSON for reading: data URIs of local files cut short (the request itself carries them whole). */
function abbreviate(text) {
  return text.replace(/"data:(image\/[a-z]+);base64,([A-Za-z0-9+/=]{80})[A-Za-z0-9+/=]*"/g,
    (match, type, start) => `"data:${type};base64,${start}… (${Math.round((match.length * 3) / 4 / 1024)} kB)"`);
}

let previewTimer = 0;
function changed() {
  clearTimeout(previewTimer);
  previewTimer = setTimeout(updatePreview, 120);
}

function updatePreview() {
  if (!model) return;
  const text = bodyText();
  if (!rawMode()) $('raw-body').value = abbreviate(JSON.stringify(JSON.parse(text), null, 2));
  $('curl').textContent = abbreviate(curlCommand(text, keyFor(text)));
  $('idempotency-key').textContent = keyFor(text);
}

$('raw-edit').addEventListener('change', () => {
  const raw = $('raw-body');
  const on = rawMode();
  raw.readOnly = !on;
  $('form-fields').disabled = on;
  $('model').disabled = on;
  // The hand-edited body starts from the form's body, whole (data URIs included).
  if (on) {
    raw.value = JSON.stringify(buildBody(model, state), null, 2);
    raw.focus();
  }
  updatePreview();
});

$('raw-body').addEventListener('input', changed);

$('new-key').addEventListener('click', () => {
  held = { body: null, key: null };
  updatePreview();
  $('submit-status').textContent = 'The next start is a new generation, even with the same content.';
});

$('copy-curl').addEventListener('click', async () => {
  const text = curlCommand(bodyText(), keyFor(bodyText()));
  const status = $('submit-status');
  try {
    await navigator.clipboard.writeText(text);
    status.textContent = 'The curl command is on the clipboard (the key is not in it: set KLING_GATEWAY_KEY).';
  } catch {
    // The clipboard API needs a secure context; plain http inside the firewall is not one.
    const scratch = h('textarea', { class: 'visually-hidden', readonly: true, value: text });
    document.body.append(scratch);
    scratch.select();
    const copied = document.execCommand('copy');
    scratch.remove();
    status.textContent = copied ? 'The curl command is on the clipboard.' : 'Copy the command from "curl" below.';
    if (!copied) $('curl-details').open = true;
  }
});

// ---- Submit ----

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  // A second click while the first is on its way does nothing; the Idempotency-Key covers everything else.
  if (submitting || !model) return;
  const body = bodyText();
  const key = keyFor(body);
  submitting = true;
  submitButton.setAttribute('aria-disabled', 'true');
  $('submit-status').textContent = 'Sending…';
  clearFailure();
  try {
    const { body: generation } = await call('/v1/generations', { method: 'POST', body, headers: { 'Idempotency-Key': key } });
    const again = lastCreated === generation.id;
    lastCreated = generation.id;
    $('submit-status').textContent = again
      ? `Same request as before: the gateway answered with ${generation.id}, which it had already started; nothing new was started.`
      : `Started ${generation.id}.`;
    $('new-key').hidden = false;
    open(generation);
    usage.refresh();
  } catch (error) {
    $('submit-status').textContent = '';
    showFailure(error);
  } finally {
    submitting = false;
    submitButton.removeAttribute('aria-disabled');
  }
});

function clearFailure() {
  clearErrors(form);
  const box = $('form-problem');
  box.hidden = true;
  box.replaceChildren();
  clearInterval(retryTimer);
}

let retryTimer = 0;

function showFailure(error) {
  const box = $('form-problem');
  box.hidden = false;
  if (!(error instanceof Problem)) {
    box.replaceChildren(h('h3', {}, 'The gateway could not be reached'),
      h('p', {}, `${error.message}. Starting again with the same content sends the same Idempotency-Key, so it cannot start twice.`));
    box.focus();
    return;
  }

  const doc = error.document;
  const parts = [h('h3', {}, doc.title ?? `The gateway answered ${error.status}`)];
  if (error.status === 400 && doc.errors) {
    const shown = showErrors(form, doc.errors);
    parts.push(h('p', {}, doc.detail ?? ''), h('ul', { class: 'summary' }, shown.map(({ message, control }) => h('li', {},
      control
        ? h('a', { href: `#${control.id}`, onclick: (e) => { e.preventDefault(); control.focus(); } }, message)
        : message))));
  } else if (error.status === 429) {
    parts.push(...limitDetails(error));
  } else {
    if (doc.detail) parts.push(h('p', {}, doc.detail));
    if (doc.code === 'idempotency_key_reused') {
      parts.push(h('button', { type: 'button', class: 'secondary', onclick: () => $('new-key').click() }, 'Use a new Idempotency-Key'));
    }
    if (doc.generation_id) {
      parts.push(h('button', {
        type: 'button', class: 'secondary',
        onclick: async () => open((await call(`/v1/generations/${encodeURIComponent(doc.generation_id)}`)).body, true),
      }, `Open ${doc.generation_id}`));
    }
  }
  if (doc.code || doc.trace_id) {
    parts.push(h('p', { class: 'muted' }, doc.code ? `code ${doc.code}` : '', doc.code && doc.trace_id ? ' · ' : '', doc.trace_id ? `trace ${doc.trace_id}` : ''));
  }
  box.replaceChildren(...parts);
  box.focus();
}

/** What a 429 says remains, when it resets, and when to retry. */
function limitDetails(error) {
  const doc = error.document;
  const facts = [];
  const fact = (term, value, id) => facts.push(h('dt', {}, term), h('dd', { id }, value));
  if (doc.remaining_video_seconds !== undefined) fact('Video seconds left today', `${doc.remaining_video_seconds} of ${doc.daily_video_seconds}`, 'limit-seconds');
  if (doc.remaining_usd !== undefined) fact('Budget left today', `$${Number(doc.remaining_usd).toFixed(2)} of $${Number(doc.daily_budget_usd).toFixed(2)}`, 'limit-usd');
  if (doc.max_in_flight !== undefined) fact('In flight', `${doc.in_flight} of ${doc.max_in_flight}`, 'limit-in-flight');
  if (doc.resets_at) fact('Resets', `${formatTime(doc.resets_at)} (${formatIn((Date.parse(doc.resets_at) - Date.now()) / 1000)})`, 'limit-resets');
  const retry = error.retryAfter;
  const parts = [h('p', {}, doc.detail ?? '')];
  if (facts.length) parts.push(h('dl', { class: 'facts' }, facts));
  if (retry !== null) {
    const until = Date.now() + retry * 1000;
    const line = h('p', { id: 'limit-retry' });
    const tick = () => {
      const left = Math.ceil((until - Date.now()) / 1000);
      line.textContent = left > 0 ? `You can retry ${formatIn(left)} (Retry-After).` : 'You can retry now.';
      if (left <= 0) clearInterval(retryTimer);
    };
    tick();
    clearInterval(retryTimer);
    retryTimer = setInterval(tick, 1000);
    parts.push(line);
  }
  return parts;
}

// ---- Start ----

showKey();
loadModels();
list.start();
usage.start();
const linked = /^#(gen_[A-Za-z0-9_-]+)$/.exec(location.hash);
if (linked) {
  call(`/v1/generations/${linked[1]}`).then(({ body }) => open(body)).catch(() => {});
}
