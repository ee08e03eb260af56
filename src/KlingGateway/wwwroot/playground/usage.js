// Today's usage of the caller's client (GET /v1/usage): spent, left, in flight.

import { call } from './api.js';
import { formatIn, formatTime, h } from './dom.js';

const REFRESH_EVERY = 30000;

export class UsagePanel {
  #root;
  #timer = 0;
  #pending = null;

  constructor(root) {
    this.#root = root;
  }

  start() {
    this.refresh();
    this.#timer = setInterval(() => {
      if (!document.hidden) this.refresh();
    }, REFRESH_EVERY);
  }

  /** Reads usage again (after a create, when a generation ends); calls made at once share one read. */
  refresh() {
    this.#pending ??= this.#read().finally(() => {
      this.#pending = null;
    });
    return this.#pending;
  }

  async #read() {
    try {
      this.#render((await call('/v1/usage')).body);
    } catch (error) {
      this.#root.replaceChildren(h('p', { class: 'muted' }, `Usage could not be read: ${error.message}`));
    }
  }

  #render(usage) {
    const { today, limits } = usage;
    const money = (value) => `$${Number(value).toFixed(2)}`;
    const spent = [`${today.video_seconds} video s`];
    if (today.cost_usd > 0 || limits.daily_budget_usd) spent.push(money(today.cost_usd));
    const left = [];
    if (today.remaining_video_seconds !== undefined) left.push(`${today.remaining_video_seconds} of ${limits.daily_video_seconds} video s`);
    if (today.remaining_usd !== undefined) left.push(`${money(today.remaining_usd)} of ${money(limits.daily_budget_usd)}`);
    const resets = (Date.parse(today.resets_at) - Date.now()) / 1000;
    const row = (id, term, value) => [h('dt', {}, term), h('dd', { id }, value)];
    this.#root.replaceChildren(h('dl', { class: 'facts' },
      row('usage-client', 'Client', usage.user ? `${usage.client} (user ${usage.user})` : usage.client),
      row('usage-generations', `Generations on ${today.day} (UTC)`, String(today.generations)),
      row('usage-spent', 'Spent', spent.join(', ')),
      row('usage-left', 'Left', left.length ? left.join(', ') : 'no daily limit'),
      row('usage-in-flight', 'In flight', limits.max_in_flight ? `${usage.in_flight} of ${limits.max_in_flight}` : String(usage.in_flight)),
      row('usage-rate', 'Requests per minute', limits.requests_per_minute ? `at most ${limits.requests_per_minute}` : 'no limit'),
      row('usage-resets', 'Daily limits reset', `${formatTime(today.resets_at)} (${formatIn(resets)})`)));
  }
}
