// Small DOM helpers. Every text the gateway sends is set as text (never parsed as HTML), so nothing in a prompt,
// a problem detail or an id can inject markup.

/** h('p', { class: 'help', id: 'x' }, 'text', child): an element with attributes, listeners (onclick) and children. */
export function h(tag, props, ...children) {
  const element = tag.includes(':') ? document.createElementNS('http://www.w3.org/2000/svg', tag.split(':')[1]) : document.createElement(tag);
  for (const [name, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') element.addEventListener(name.slice(2), value);
    else if (name === 'value') element.value = value;
    else if (name === 'checked' || name === 'selected') element[name] = Boolean(value);
    else if (name === 'dataset') Object.assign(element.dataset, value);
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  element.append(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false).map((c) => (c instanceof Node ? c : String(c))));
  return element;
}

/** An id safe in HTML from a JSON path: dynamic_masks[0].trajectories[1].x → f-dynamic_masks-0-trajectories-1-x. */
export function idFor(path, suffix = '') {
  return `f-${path.replace(/[^A-Za-z0-9_]+/g, '-').replace(/-+$/, '')}${suffix ? `-${suffix}` : ''}`;
}

/** 1234567 → "1.2 MB". */
export function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} kB`;
  const megabytes = bytes / (1024 * 1024);
  return `${Number.isInteger(megabytes) ? megabytes : megabytes.toFixed(1)} MB`;
}

/** 75000 → "1:15"; 3725000 → "1:02:05". */
export function formatElapsed(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = String(total % 60).padStart(2, '0');
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, '0')}:${seconds}` : `${minutes}:${seconds}`;
}

/** A local date and time, as the reader's browser writes them. */
export function formatTime(value) {
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleString();
}

/** "in 3 h 12 min", "in 40 s". */
export function formatIn(seconds) {
  if (seconds < 60) return `in ${Math.max(0, Math.round(seconds))} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `in ${minutes} min`;
  return `in ${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}
