// Live updates. The gateway's event streams (text/event-stream) are read with fetch() and a stream reader rather
// than EventSource, for three reasons: EventSource cannot send X-Api-Key; it hides the answer's status, so a
// missing route (404, 405) cannot be told from a network fault; and one code path then serves callers with and
// without a key. Where a stream route does not exist, the same watcher polls instead.
//
// Parsing follows the HTML Standard's event-stream interpretation:
// https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation

import { Problem, authHeaders, reportUnauthorized } from './api.js';

/** Splits a text/event-stream into events: { event, data, id } (id is undefined when the event set none). */
export class EventStreamParser {
  #buffer = '';
  #data = [];
  #event = '';
  #id = undefined;
  #sawCarriageReturn = false;
  retry = null;

  /** Feeds decoded text; returns the events it completed. */
  push(text) {
    const events = [];
    let chunk = text;
    // A CR LF split across two chunks: the LF belongs to the CR already taken as a line end.
    if (this.#sawCarriageReturn && chunk.startsWith('\n')) chunk = chunk.slice(1);
    this.#sawCarriageReturn = false;
    this.#buffer += chunk;
    let start = 0;
    for (let i = 0; i < this.#buffer.length; i++) {
      const c = this.#buffer[i];
      if (c !== '\n' && c !== '\r') continue;
      this.#line(this.#buffer.slice(start, i), events);
      if (c === '\r') {
        if (i + 1 === this.#buffer.length) this.#sawCarriageReturn = true;
        else if (this.#buffer[i + 1] === '\n') i++;
      }
      start = i + 1;
    }
    this.#buffer = this.#buffer.slice(start);
    return events;
  }

  #line(line, events) {
    if (line === '') {
      if (this.#data.length > 0) {
        events.push({ event: this.#event || 'message', data: this.#data.join('\n'), id: this.#id });
      }
      this.#data = [];
      this.#event = '';
      this.#id = undefined;
      return;
    }
    if (line.startsWith(':')) return; // a comment: the server's heartbeat

    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.#event = value;
        break;
      case 'data':
        this.#data.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) this.#id = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.retry = Number(value);
        break;
      default:
        break; // unknown fields are ignored
    }
  }
}

/** Route families whose stream answered 404 or 405: they are polled from then on, without asking again. */
const missingStreams = new Set();

const sleep = (ms, signal) =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });

/** Slower while the tab is hidden: nobody is looking, and every call counts against the client's rate limit. */
const pace = (ms) => (document.hidden ? Math.max(ms, 15000) : ms);

/**
 * Watches a resource: the event stream at streamPath while it works, else poll() every pollEvery ms.
 * onEvent(name, resource) gets each event's resource (every event carries the resource as JSON); onMode(mode)
 * says 'stream', 'polling' or 'waiting'; finished() tells when to stop (a generation that ended).
 * Returns stop().
 */
export function watch({ kind, streamPath, poll, pollEvery, onEvent, onMode, onError, finished }) {
  const controller = new AbortController();
  const { signal } = controller;
  let lastEventId = null;

  async function streamOnce() {
    const headers = authHeaders(new Headers({ Accept: 'text/event-stream' }));
    if (lastEventId !== null) headers.set('Last-Event-ID', lastEventId);
    const response = await fetch(streamPath, { headers, signal, cache: 'no-store', credentials: 'same-origin' });
    if (!response.ok) {
      let document = null;
      try {
        document = await response.json();
      } catch {
        document = null;
      }
      // A gateway without the stream route answers route_not_found or method_not_allowed (or, before problems, no
      // problem at all); any other 404, such as generation_not_found, is about the resource, and polling would not help.
      if ((response.status === 404 || response.status === 405)
        && (!document?.code || document.code === 'route_not_found' || document.code === 'method_not_allowed')) {
        return 'missing';
      }
      const problem = new Problem(response.status, document, response.headers);
      if (response.status === 401) reportUnauthorized(problem);
      throw problem;
    }
    if (!(response.headers.get('Content-Type') ?? '').startsWith('text/event-stream') || !response.body) {
      await response.body?.cancel();
      return 'missing';
    }

    onMode('stream');
    const parser = new EventStreamParser();
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        for (const event of parser.push(value)) {
          if (event.id !== undefined) lastEventId = event.id;
          let resource;
          try {
            resource = JSON.parse(event.data);
          } catch {
            continue; // not a resource: nothing to show
          }
          onEvent(event.event, resource);
        }
      }
    } finally {
      reader.releaseLock();
    }
    return parser.retry ?? 3000;
  }

  async function pollLoop() {
    onMode('polling');
    while (!signal.aborted) {
      let wait = pollEvery;
      try {
        await poll(signal);
        onMode('polling');
      } catch (error) {
        if (signal.aborted) return;
        onError?.(error);
        // Gone (or never this caller's): asking again will not change that.
        if (error instanceof Problem && error.status === 404) return;
        wait = problemWait(error, pollEvery);
      }
      if (finished()) return;
      await sleep(pace(wait), signal);
    }
  }

  async function run() {
    if (missingStreams.has(kind)) return pollLoop();
    let failures = 0;
    while (!signal.aborted) {
      let retry = 3000;
      try {
        const outcome = await streamOnce();
        if (outcome === 'missing') {
          missingStreams.add(kind);
          return pollLoop();
        }
        failures = 0;
        retry = outcome;
      } catch (error) {
        if (signal.aborted) return;
        failures++;
        onError?.(error);
        // Gone (or never this caller's): reconnecting will not change that.
        if (error instanceof Problem && error.status === 404) return;
        // A stream that keeps failing (a proxy that buffers or cuts it): poll, which always works.
        if (failures >= 3) return pollLoop();
        retry = problemWait(error, 3000 * failures);
      }
      // The server closes the stream after a generation's last event; otherwise reconnect with Last-Event-ID.
      if (finished()) return;
      onMode('waiting');
      await sleep(pace(retry), signal);
    }
  }

  run();
  return () => controller.abort();
}

function problemWait(error, fallback) {
  if (error instanceof Problem && (error.status === 429 || error.status === 503)) {
    return Math.max(fallback, (error.retryAfter ?? 10) * 1000);
  }
  return fallback;
}
