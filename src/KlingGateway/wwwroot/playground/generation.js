// The open generation: its status live (the event stream, else polling), the time it has taken, its warnings or
// error, and, once it succeeded, its video in a <video> element with a download link.

import { Problem, call, clientKey, serverNow } from './api.js';
import { formatElapsed, h } from './dom.js';
import { watch } from './events.js';

const POLL_EVERY = 3000;
const FINAL = new Set(['succeeded', 'failed']);

/**
 * Where the <video> gets the video from. A <video> element cannot send headers, so:
 * - the gateway's signed link (the content route with ?token=, as every resource's video.url is): played from the
 *   URL itself, so the browser streams it and seeks with Range requests; the token is the credential;
 * - a gateway URL without a token and a client key set: fetched here with X-Api-Key and played from a blob: URL
 *   (the whole file is read first; a 5 or 10 s clip is a few MB);
 * - any other URL: played from the URL as it is (the policy lets media come only from the gateway, so a foreign
 *   host leaves the page with its link).
 */
export async function videoSource(video, signal) {
  const url = new URL(video.url, location.href);
  const own = url.origin === location.origin;
  if (own && !url.searchParams.has('token') && clientKey.get()) {
    const response = await fetch(url, { headers: { 'X-Api-Key': clientKey.get() }, signal, credentials: 'same-origin' });
    if (!response.ok) throw new Error(`The gateway answered ${response.status} for the video.`);
    const objectUrl = URL.createObjectURL(await response.blob());
    return { src: objectUrl, href: objectUrl, release: () => URL.revokeObjectURL(objectUrl), note: 'fetched from the gateway with the client key' };
  }
  return { src: url.href, href: url.href, release: () => {}, note: own ? 'streamed from the gateway' : `from ${url.host}` };
}

export class RunPanel {
  #root;
  #info = h('div');
  #videoBox = h('div', { class: 'video-box', hidden: true });
  #announce;
  #onUpdate;
  #stopWatch = () => {};
  #timer = 0;
  #generation = null;
  #videoUrl = null;
  #videoAbort = null;
  #release = () => {};
  #mode = '';
  #modeError = null;

  /** onUpdate(resource) runs for every new state, so the list and usage can follow. */
  constructor(root, announce, onUpdate) {
    this.#root = root;
    this.#announce = announce;
    this.#onUpdate = onUpdate;
  }

  get id() {
    return this.#generation?.id ?? null;
  }

  /** Shows a generation and follows it until it ends. */
  open(resource) {
    this.close();
    this.#generation = resource;
    this.#videoBox.replaceChildren();
    this.#videoBox.hidden = true;
    this.#root.replaceChildren(this.#info, this.#videoBox);
    this.#render(true);
    this.#timer = setInterval(() => this.#tick(), 1000);
    if (FINAL.has(resource.status)) return;
    this.#stopWatch = watch({
      kind: 'generation',
      streamPath: `/v1/generations/${encodeURIComponent(resource.id)}/events`,
      pollEvery: POLL_EVERY,
      poll: async (signal) => this.update((await call(`/v1/generations/${encodeURIComponent(resource.id)}`, { signal })).body),
      // Every event carries the resource; names this page does not know yet are taken as an update too.
      onEvent: (_name, next) => this.update(next),
      onMode: (mode) => this.#showMode(mode),
      onError: (error) => this.#showMode(error instanceof Problem && error.status === 404 ? 'gone' : 'error', error),
      finished: () => FINAL.has(this.#generation?.status),
    });
  }

  /** A newer state of the open generation (from the stream, polling, or the list). */
  update(resource) {
    if (!this.#generation || resource?.id !== this.#generation.id) return;
    const before = this.#generation.status;
    this.#generation = resource;
    this.#render(before !== resource.status);
    this.#onUpdate(resource);
  }

  close() {
    this.#stopWatch();
    this.#stopWatch = () => {};
    clearInterval(this.#timer);
    this.#videoAbort?.abort();
    this.#release();
    this.#release = () => {};
    this.#videoUrl = null;
    this.#generation = null;
    this.#mode = '';
    this.#modeError = null;
  }

  #elapsed() {
    const g = this.#generation;
    const end = g.completed_at ? Date.parse(g.completed_at) : serverNow();
    return formatElapsed(end - Date.parse(g.created_at));
  }

  #tick() {
    const element = this.#root.querySelector('#run-elapsed');
    if (element && this.#generation) element.textContent = this.#elapsed();
    if (this.#generation?.completed_at) clearInterval(this.#timer);
  }

  #showMode(mode, error = this.#modeError) {
    this.#mode = mode;
    this.#modeError = error;
    const element = this.#root.querySelector('#run-mode');
    if (!element) return;
    const finished = FINAL.has(this.#generation?.status);
    element.textContent = finished ? 'finished'
      : mode === 'stream' ? 'live (event stream)'
        : mode === 'polling' ? `polling every ${POLL_EVERY / 1000} s`
          : mode === 'gone' ? `stopped: ${error?.message}`
            : mode === 'error' ? `reconnecting (${error?.message ?? 'the gateway could not be reached'})`
              : mode === 'waiting' ? 'reconnecting' : 'connecting';
  }

  #render(statusChanged) {
    const g = this.#generation;
    if (statusChanged) this.#announce.textContent = `Generation ${g.id} is ${g.status}.`;
    this.#info.replaceChildren(...[
      h('p', { class: 'run-id' }, 'Generation ', h('code', { id: 'run-id' }, g.id)),
      h('dl', { class: 'facts' },
        h('dt', {}, 'Model'), h('dd', {}, h('code', {}, g.model)),
        h('dt', {}, 'Status'), h('dd', {},
          h('span', { id: 'run-status', class: `status status-${g.status}`, 'data-status': g.status }, g.status),
          g.upstream_status ? h('span', { class: 'muted' }, ` (upstream: ${g.upstream_status})`) : null),
        h('dt', {}, 'Elapsed'), h('dd', { id: 'run-elapsed' }, this.#elapsed()),
        h('dt', {}, 'Updates'), h('dd', { id: 'run-mode' })),
      g.warnings?.length ? h('ul', { class: 'warnings', 'aria-label': 'Warnings' },
        g.warnings.map((w) => h('li', {}, h('code', {}, w.field), `: ${w.message}`))) : null,
      g.error ? h('div', { class: 'problem', role: 'alert' }, h('strong', {}, g.error.code), `: ${g.error.message}`) : null,
    ].filter(Boolean));
    this.#showMode(this.#mode);
    // The <video> is kept across updates (replacing it would stop playback); a new URL (the gateway's own, once it
    // stored the video) replaces its source.
    if (g.status === 'succeeded' && g.video?.url && g.video.url !== this.#videoUrl) this.#showVideo(g);
  }

  async #showVideo(g) {
    this.#videoUrl = g.video.url;
    this.#videoAbort?.abort();
    this.#videoAbort = new AbortController();
    this.#release();
    const box = this.#videoBox;
    box.hidden = false;
    box.replaceChildren(h('p', { class: 'muted' }, 'Loading the video…'));
    let source;
    try {
      source = await videoSource(g.video, this.#videoAbort.signal);
    } catch (error) {
      if (this.#videoAbort.signal.aborted) return;
      box.replaceChildren(h('p', { class: 'problem', role: 'alert' }, `The video could not be loaded: ${error.message}`),
        h('a', { href: g.video.url, rel: 'noopener' }, 'Open the video'));
      return;
    }
    this.#release = source.release;
    const duration = h('span', { id: 'video-duration' }, 'loading…');
    const player = h('video', {
      id: 'run-video', controls: true, preload: 'metadata', playsinline: true, src: source.src,
      'aria-label': `Video of generation ${g.id}`,
      onloadedmetadata: () => {
        duration.textContent = `${player.duration.toFixed(1)} s`;
        duration.dataset.seconds = String(player.duration);
      },
      onerror: () => {
        duration.textContent = 'the browser could not play it here; use the link';
      },
    });
    const name = g.video.file_name && g.video.file_name !== 'output.mp4' ? g.video.file_name : `${g.id}.mp4`;
    box.replaceChildren(player,
      h('p', { class: 'video-facts' }, 'Duration: ', duration, ` · ${source.note} · `,
        h('a', { href: source.href, download: name, id: 'video-download' }, 'Download'),
        ' · ', h('a', { href: source.href, target: '_blank', rel: 'noopener' }, 'Open in a new tab')));
  }
}
