// The caller's recent generations (GET /v1/generations), filtered by status and model, kept live from the event
// stream of all the caller's generations, else by polling. One click opens any of them.

import { call } from './api.js';
import { formatTime, h } from './dom.js';
import { watch } from './events.js';

const PAGE_SIZE = 10;
const POLL_EVERY = 10000;
// The list route answers from the ledger and never asks the upstream, so while polling, a few unfinished
// generations are read one by one each round (a read refreshes a running generation from the upstream).
const REFRESHED_PER_ROUND = 3;
const IN_FLIGHT = new Set(['queued', 'processing']);

export class RecentList {
  #items = [];
  #next = null;
  #elements;
  #names = new Map();
  #onOpen;
  #openId = () => null;

  constructor(elements, onOpen, openId) {
    this.#elements = elements;
    this.#onOpen = onOpen;
    this.#openId = openId;
    const quietly = (work) => () => work().catch(() => {});
    elements.status.addEventListener('change', quietly(() => this.refresh()));
    elements.model.addEventListener('change', quietly(() => this.refresh()));
    elements.more.addEventListener('click', quietly(() => this.#loadMore()));
  }

  /** The model filter's choices and the display names, from the catalog. */
  setModels(models) {
    for (const m of models) this.#names.set(m.id, m.name);
    this.#elements.model.replaceChildren(h('option', { value: '' }, 'any model'), ...models.map((m) => h('option', { value: m.id }, m.name)));
  }

  start() {
    this.refresh().catch(() => {});
    return watch({
      kind: 'list',
      streamPath: '/v1/generations/events',
      pollEvery: POLL_EVERY,
      poll: (signal) => this.#poll(signal),
      onEvent: (_name, resource) => this.upsert(resource),
      onMode: (mode) => {
        this.#elements.mode.textContent = mode === 'stream' ? 'live' : mode === 'polling' ? `refreshed every ${POLL_EVERY / 1000} s` : 'reconnecting';
      },
      finished: () => false,
    });
  }

  #query(cursor) {
    const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (this.#elements.status.value) query.set('status', this.#elements.status.value);
    if (this.#elements.model.value) query.set('model', this.#elements.model.value);
    if (cursor) query.set('cursor', cursor);
    return `/v1/generations?${query}`;
  }

  async refresh(signal) {
    try {
      const page = (await call(this.#query(), { signal })).body;
      this.#items = page.items;
      this.#next = page.next_cursor ?? null;
      this.#render();
    } catch (error) {
      this.#elements.mode.textContent = `could not be read (${error.message})`;
      throw error;
    }
  }

  async #loadMore() {
    if (!this.#next) return;
    const page = (await call(this.#query(this.#next))).body;
    const known = new Set(this.#items.map((g) => g.id));
    this.#items.push(...page.items.filter((g) => !known.has(g.id)));
    this.#next = page.next_cursor ?? null;
    this.#render();
  }

  async #poll(signal) {
    await this.refresh(signal);
    const open = this.#openId();
    const running = this.#items.filter((g) => IN_FLIGHT.has(g.status) && g.id !== open).slice(0, REFRESHED_PER_ROUND);
    for (const g of running) {
      this.upsert((await call(`/v1/generations/${encodeURIComponent(g.id)}`, { signal })).body);
    }
  }

  #matches(resource) {
    const { status, model } = this.#elements;
    return (!status.value || resource.status === status.value) && (!model.value || resource.model === model.value);
  }

  /** A generation's newer state (or a new one): placed by creation time, dropped when it leaves the filter. */
  upsert(resource) {
    if (!resource?.id || !resource.status) return;
    const index = this.#items.findIndex((g) => g.id === resource.id);
    if (!this.#matches(resource)) {
      if (index >= 0) this.#items.splice(index, 1);
    } else if (index >= 0) {
      this.#items[index] = resource;
    } else {
      this.#items.push(resource);
      this.#items.sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at));
    }
    this.#render();
  }

  #render() {
    const open = this.#openId();
    const list = this.#elements.items;
    // A live update must not take the keyboard focus away from the item it is on.
    const focused = list.contains(document.activeElement) ? document.activeElement.dataset.id : undefined;
    if (this.#items.length === 0) {
      list.replaceChildren(h('li', { class: 'muted' }, 'No generations yet.'));
    } else {
      list.replaceChildren(...this.#items.map((g) => h('li', {},
        h('button', {
          type: 'button', class: 'item', 'data-id': g.id, 'data-status': g.status, 'aria-current': g.id === open ? 'true' : null,
          onclick: () => this.#onOpen(g),
        },
        h('span', { class: `status status-${g.status}` }, g.status),
        h('span', { class: 'item-model' }, this.#names.get(g.model) ?? g.model),
        h('code', { class: 'item-id' }, g.id),
        h('time', { datetime: g.created_at }, formatTime(g.created_at))))));
    }
    if (focused) list.querySelector(`[data-id="${CSS.escape(focused)}"]`)?.focus();
    this.#elements.more.hidden = !this.#next;
  }
}
