// The gateway's API as the page calls it: same origin only, the client key as X-Api-Key, problem answers
// (RFC 9457) turned into Problem errors, and the server's clock for elapsed times.

const KEY_STORAGE = 'kling-gateway.client-key';

let memoryKey = '';

/**
 * The client key: typed once, kept for this tab only (sessionStorage), never written anywhere else. Where storage is
 * off (some private modes) it lasts until the page is closed.
 */
export const clientKey = {
  get() {
    try {
      return sessionStorage.getItem(KEY_STORAGE) ?? memoryKey;
    } catch {
      return memoryKey;
    }
  },
  set(value) {
    memoryKey = value;
    try {
      if (value) sessionStorage.setItem(KEY_STORAGE, value);
      else sessionStorage.removeItem(KEY_STORAGE);
    } catch {
      // Kept in memory only.
    }
  },
};

/** The headers every call carries. */
export function authHeaders(headers = new Headers()) {
  const key = clientKey.get();
  if (key) headers.set('X-Api-Key', key);
  return headers;
}

export function hasKey() {
  return clientKey.get() !== '';
}

/** A problem answer: status, the problem document (when there is one) and the answer's headers. */
export class Problem extends Error {
  constructor(status, document, headers) {
    super(document?.detail || document?.title || `The gateway answered ${status}.`);
    this.status = status;
    this.document = document ?? {};
    this.headers = headers;
  }

  get code() {
    return this.document.code;
  }

  /** Seconds from Retry-After (a number of seconds or an HTTP date), or null. */
  get retryAfter() {
    return retryAfterSeconds(this.headers);
  }
}

export function retryAfterSeconds(headers) {
  const value = headers?.get('Retry-After');
  if (!value) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - serverNow()) / 1000));
}

const unauthorizedListeners = new Set();

/** Called whenever the gateway answers 401: the page asks for a key. */
export function onUnauthorized(listener) {
  unauthorizedListeners.add(listener);
}

export function reportUnauthorized(problem) {
  for (const listener of unauthorizedListeners) listener(problem);
}

// The gateway's clock minus the browser's, from each answer's Date header, so an elapsed time is right even when
// the two clocks differ. Date has whole seconds, so only a difference over two seconds is taken.
let clockOffset = 0;

function noteServerDate(response) {
  const date = Date.parse(response.headers.get('Date') ?? '');
  if (Number.isNaN(date)) return;
  const offset = date - Date.now();
  clockOffset = Math.abs(offset) > 2000 ? offset : 0;
}

export function serverNow() {
  return Date.now() + clockOffset;
}

/**
 * One call to the gateway. Answers { status, headers, body } for 2xx; throws Problem for any other status, and
 * TypeError when the gateway cannot be reached.
 */
export async function call(path, { method = 'GET', body, headers, signal } = {}) {
  const outgoing = authHeaders(new Headers(headers));
  outgoing.set('Accept', 'application/json');
  if (body !== undefined) outgoing.set('Content-Type', 'application/json');
  const response = await fetch(path, { method, headers: outgoing, body, signal, cache: 'no-store', credentials: 'same-origin' });
  noteServerDate(response);
  const text = await response.text();
  let document = null;
  try {
    document = text ? JSON.parse(text) : null;
  } catch {
    document = null;
  }

  if (!response.ok) {
    const problem = new Problem(response.status, document, response.headers);
    if (response.status === 401) reportUnauthorized(problem);
    throw problem;
  }

  return { status: response.status, headers: response.headers, body: document };
}

/**
 * A fresh Idempotency-Key (a random UUID, version 4). crypto.randomUUID exists only in secure contexts, and the
 * gateway is often reached over plain http inside the firewall; getRandomValues exists everywhere.
 */
export function newIdempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * The create as a shell command. The key is never written into it: with a key set, a variable stands in for it.
 * The body goes in a quoted here-document, so no character of it needs escaping.
 */
export function curlCommand(bodyText, idempotencyKey) {
  const url = new URL('/v1/generations', location.href).href;
  let pretty = bodyText;
  try {
    pretty = JSON.stringify(JSON.parse(bodyText), null, 2);
  } catch {
    // Hand-written JSON that does not parse is shown as written.
  }

  const lines = [
    `curl -sS -X POST '${url}' \\`,
    `  -H 'Content-Type: application/json' \\`,
  ];
  if (hasKey()) lines.push(`  -H "X-Api-Key: $KLING_GATEWAY_KEY" \\`);
  lines.push(`  -H 'Idempotency-Key: ${idempotencyKey}' \\`, `  --data-binary @- <<'JSON'`, pretty, 'JSON');
  return lines.join('\n');
}
