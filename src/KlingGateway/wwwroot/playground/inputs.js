// The inputs that are more than one box: an image (by URL or from a local file), dynamic masks (mask image and
// trajectory points) and camera control (type and config values). Each keeps its value in a plain object the form
// owns, so switching models keeps what was typed, and marks every part with data-path (the JSON path the gateway
// names in its 400 problem) so a fault can be shown beside its input.

import { formatBytes, h, idFor } from './dom.js';

/** A new, empty image value. */
export const emptyImage = () => ({ mode: 'url', url: '', file: null });

/** The JSON value of an image: the URL as typed, or the local file as a data URI; undefined when there is none. */
export function imageJson(value) {
  if (!value) return undefined;
  if (value.mode === 'file') return value.file?.dataUri;
  const url = value.url.trim();
  return url === '' ? undefined : url;
}

/** "JPEG or PNG, at most 10 MB, at least 300 px on each side, aspect ratio 1:2.5 to 2.5:1". */
export function imageLimits(rule) {
  if (!rule) return '';
  const parts = [`${rule.formats.map((f) => f.toUpperCase()).join(' or ')}`, `at most ${formatBytes(rule.max_bytes)}`, `at least ${rule.min_side} px on each side`];
  if (rule.min_aspect && rule.max_aspect) parts.push(`aspect ratio (width:height) ${ratio(rule.min_aspect)} to ${ratio(rule.max_aspect)}`);
  return parts.join(', ');
}

function ratio(value) {
  return value >= 1 ? `${+value.toFixed(3)}:1` : `1:${+(1 / value).toFixed(3)}`;
}

/** A slot for the gateway's messages about one path. */
export const errorSlot = () => h('div', { class: 'field-errors' });

/**
 * An image by URL or from a local file. A file is read in the browser, previewed, and sent as a data URI.
 * value is { mode, url, file } (file: { name, size, type, dataUri, objectUrl, width, height }).
 */
export function imageInput({ path, label, rule, value, onChange, required, badge, help }) {
  const id = idFor(path);
  const urlInput = h('input', {
    id: `${id}-url`, type: 'url', inputmode: 'url', autocomplete: 'off', spellcheck: 'false', 'data-control': true,
    placeholder: 'an http or https URL', value: value.url, 'aria-describedby': `${id}-help`,
    oninput: () => {
      value.url = urlInput.value;
      onChange();
    },
  });
  const fileInput = h('input', {
    id: `${id}-file`, type: 'file', accept: rule ? rule.formats.map((f) => `image/${f}`).join(',') : 'image/jpeg,image/png',
    'data-control': true, 'aria-describedby': `${id}-help`,
    onchange: () => readFile(fileInput.files?.[0]),
  });
  const preview = h('figure', { class: 'preview', hidden: true });
  const urlPart = h('div', { class: 'image-url' }, h('label', { for: urlInput.id }, 'Image URL'), urlInput);
  const filePart = h('div', { class: 'image-file' }, h('label', { for: fileInput.id }, 'Image file'), fileInput, preview);

  const modeName = `${id}-mode`;
  const modes = h('div', { class: 'modes', role: 'radiogroup', 'aria-label': `${path}: source` },
    ['url', 'file'].map((mode) => h('label', { class: 'mode' },
      h('input', {
        type: 'radio', name: modeName, value: mode, checked: value.mode === mode,
        onchange: () => {
          value.mode = mode;
          show();
          onChange();
        },
      }),
      mode === 'url' ? ' URL' : ' Local file')));

  function show() {
    urlPart.hidden = value.mode !== 'url';
    filePart.hidden = value.mode !== 'file';
    preview.replaceChildren();
    preview.hidden = !(value.mode === 'file' && value.file);
    if (value.mode === 'file' && value.file) {
      const f = value.file;
      const size = f.width ? `${f.width}×${f.height} px, ` : '';
      const tooBig = rule && f.size > rule.max_bytes ? ' (larger than the gateway takes)' : '';
      preview.append(
        h('img', { src: f.objectUrl, alt: `Preview of ${f.name}` }),
        h('figcaption', {}, `${f.name}: ${size}${formatBytes(f.size)}${tooBig}`));
    }
  }

  async function readFile(file) {
    if (!file) return;
    if (value.file?.objectUrl) URL.revokeObjectURL(value.file.objectUrl);
    const objectUrl = URL.createObjectURL(file);
    const [dataUri, size] = await Promise.all([
      new Promise((resolve, reject) => {
        const reader = new FileReader();
        reader.onload = () => resolve(reader.result);
        reader.onerror = () => reject(reader.error);
        reader.readAsDataURL(file);
      }),
      new Promise((resolve) => {
        const image = new Image();
        image.onload = () => resolve({ width: image.naturalWidth, height: image.naturalHeight });
        image.onerror = () => resolve({ width: 0, height: 0 });
        image.src = objectUrl;
      }),
    ]);
    value.file = { name: file.name, size: file.size, type: file.type, dataUri, objectUrl, ...size };
    show();
    onChange();
  }

  show();
  return h('fieldset', { class: 'field image', 'data-path': path },
    h('legend', {}, h('code', {}, label), required ? h('span', { class: 'required' }, ' (required)') : null, badge),
    modes, urlPart, filePart,
    h('p', { class: 'help', id: `${id}-help` }, help),
    errorSlot());
}

/**
 * Dynamic masks: up to maxItems groups, each a mask image and a trajectory of integer pixel points. Kling reads the
 * points with the origin at the bottom-left of the first frame (docs/upstream.md, "Validation"). When the first
 * frame is a local file, clicking on its picture adds a point there.
 */
export function masksEditor({ field, masks, firstFrame, onChange, badge }) {
  const path = field.name;
  const container = h('fieldset', { class: 'field masks', 'data-path': path });
  const redraw = () => {
    container.replaceChildren(...render());
  };

  function render() {
    const parts = [h('legend', {}, h('code', {}, path), badge), h('p', { class: 'help', id: `${idFor(path)}-help` }, field.help), errorSlot()];
    masks.forEach((mask, i) => parts.push(group(mask, i)));
    const full = field.max_items !== undefined && masks.length >= field.max_items;
    parts.push(h('button', {
      type: 'button', class: 'secondary', disabled: full,
      onclick: () => {
        masks.push({ mask: emptyImage(), points: [{ x: '', y: '' }, { x: '', y: '' }] });
        redraw();
        onChange();
        container.querySelector(`[data-path="${path}[${masks.length - 1}].mask"] input[type=radio]`)?.focus();
      },
    }, masks.length === 0 ? 'Add a mask' : 'Add another mask'));
    return parts;
  }

  function group(mask, i) {
    const groupPath = `${path}[${i}]`;
    const trajectoryPath = `${groupPath}.trajectories`;
    const points = h('ol', { class: 'points' }, mask.points.map((point, j) => pointRow(mask, i, j, point)));
    const picker = pickerFor(mask, i);
    return h('fieldset', { class: 'mask-group', 'data-path': groupPath },
      h('legend', {}, `Mask ${i + 1}`),
      imageInput({
        path: `${groupPath}.mask`, label: 'mask', rule: field.image, value: mask.mask, onChange, required: true,
        help: `The area that moves, as a black-and-white image the size of the first frame. ${imageLimits(field.image)}.`,
      }),
      h('fieldset', { class: 'trajectory', 'data-path': trajectoryPath },
        h('legend', {}, 'trajectories: the path it moves along, in pixels, origin at the bottom-left'),
        points,
        h('div', { class: 'row' },
          h('button', {
            type: 'button', class: 'secondary',
            onclick: () => {
              mask.points.push({ x: '', y: '' });
              redraw();
              onChange();
              container.querySelector(`#${idFor(`${trajectoryPath}[${mask.points.length - 1}].x`)}`)?.focus();
            },
          }, 'Add point')),
        picker,
        errorSlot()),
      h('button', {
        type: 'button', class: 'secondary danger',
        onclick: () => {
          masks.splice(i, 1);
          redraw();
          onChange();
        },
      }, `Remove mask ${i + 1}`),
      errorSlot());
  }

  function pointRow(mask, i, j, point) {
    const pointPath = `${path}[${i}].trajectories[${j}]`;
    const axis = (name) => {
      const input = h('input', {
        id: idFor(`${pointPath}.${name}`), type: 'number', step: '1', inputmode: 'numeric', value: point[name], 'data-control': true,
        oninput: () => {
          point[name] = input.value;
          onChange();
        },
      });
      return h('div', { class: 'axis', 'data-path': `${pointPath}.${name}` }, h('label', { for: input.id }, name), input, errorSlot());
    };
    return h('li', { class: 'point', 'data-path': pointPath },
      h('span', { class: 'point-label' }, `Point ${j + 1}`), axis('x'), axis('y'),
      h('button', {
        type: 'button', class: 'icon', 'aria-label': `Remove point ${j + 1} of mask ${i + 1}`,
        onclick: () => {
          mask.points.splice(j, 1);
          redraw();
          onChange();
        },
      }, '✕'),
      errorSlot());
  }

  function pickerFor(mask, i) {
    const frame = firstFrame();
    if (!frame) {
      return h('p', { class: 'help' }, 'Choose the first frame as a local file to pick points on it; or type them.');
    }
    const { width, height, objectUrl } = frame;
    const svg = h('svg:svg', { viewBox: `0 0 ${width} ${height}`, class: 'picker-overlay', 'aria-hidden': 'true' });
    const coordinates = mask.points.filter((p) => p.x !== '' && p.y !== '').map((p) => `${Number(p.x)},${height - Number(p.y)}`);
    svg.append(h('svg:polyline', { points: coordinates.join(' '), class: 'picker-path' }));
    for (const c of coordinates) {
      const [cx, cy] = c.split(',');
      svg.append(h('svg:circle', { cx, cy, r: Math.max(4, width / 100), class: 'picker-point' }));
    }
    const picture = h('div', {
      class: 'picker',
      onclick: (event) => {
        const box = picture.getBoundingClientRect();
        const x = Math.round(((event.clientX - box.left) / box.width) * width);
        const y = Math.round(((box.bottom - event.clientY) / box.height) * height);
        const empty = mask.points.find((p) => p.x === '' && p.y === '');
        if (empty) Object.assign(empty, { x: String(x), y: String(y) });
        else mask.points.push({ x: String(x), y: String(y) });
        redraw();
        onChange();
      },
    }, h('img', { src: objectUrl, alt: '' }), svg);
    return h('div', { class: 'picker-box' },
      h('p', { class: 'help' }, `Click on the first frame to add a point to mask ${i + 1} (the points above can be typed instead).`),
      picture);
  }

  redraw();
  return { element: container, redraw };
}

/** The JSON value of the masks: undefined when there are none. Coordinates are sent as typed, for the gateway to judge. */
export function masksJson(masks) {
  if (masks.length === 0) return undefined;
  return masks.map((m) => ({
    mask: imageJson(m.mask) ?? '',
    trajectories: m.points.map((p) => ({ x: numberOrNull(p.x), y: numberOrNull(p.y) })),
  }));
}

export function numberOrNull(text) {
  const value = String(text).trim();
  return value === '' || Number.isNaN(Number(value)) ? null : Number(value);
}

/**
 * Camera control: a movement type, and for type simple one config value per axis, each a slider with a number
 * box beside it. Left at "none", nothing is sent and the model picks the motion.
 */
export function cameraInput({ field, camera, onChange, badge }) {
  const path = field.name;
  const id = idFor(path);
  const keys = field.config_keys ?? [];
  const min = field.minimum ?? -10;
  const max = field.maximum ?? 10;
  const config = h('fieldset', { class: 'camera-config', 'data-path': `${path}.config` },
    h('legend', {}, `config: give exactly one axis a non-zero value, ${min} to ${max}`),
    keys.map((key) => {
      const keyPath = `${path}.config.${key}`;
      const number = h('input', {
        id: idFor(keyPath), type: 'number', min, max, step: 'any', inputmode: 'decimal', value: camera.config[key] ?? '', 'data-control': true,
        oninput: () => {
          camera.config[key] = number.value;
          if (number.value !== '') slider.value = number.value;
          onChange();
        },
      });
      const slider = h('input', {
        type: 'range', min, max, step: '0.5', value: camera.config[key] === '' || camera.config[key] === undefined ? '0' : camera.config[key],
        'aria-label': `${key} slider`,
        oninput: () => {
          number.value = slider.value;
          camera.config[key] = slider.value;
          onChange();
        },
      });
      return h('div', { class: 'axis-row', 'data-path': keyPath }, h('label', { for: number.id }, key), slider, number, errorSlot());
    }),
    errorSlot());
  const type = h('select', {
    id: `${id}-type`, 'data-control': true, 'aria-describedby': `${id}-help`,
    onchange: () => {
      camera.type = type.value;
      config.hidden = camera.type !== 'simple';
      onChange();
    },
  },
  h('option', { value: '' }, 'none (the model picks the motion)'),
  (field.allowed_values ?? []).map((t) => h('option', { value: t, selected: camera.type === t }, t)));
  config.hidden = camera.type !== 'simple';
  return h('fieldset', { class: 'field camera', 'data-path': path },
    h('legend', {}, h('code', {}, path), badge),
    h('div', { class: 'field', 'data-path': `${path}.type` }, h('label', { for: type.id }, 'type'), type, errorSlot()),
    config,
    h('p', { class: 'help', id: `${id}-help` }, field.help),
    errorSlot());
}

/** The JSON value of camera control: undefined with no type; config only for simple, with the values typed. */
export function cameraJson(camera) {
  if (!camera.type) return undefined;
  if (camera.type !== 'simple') return { type: camera.type };
  const config = {};
  for (const [key, text] of Object.entries(camera.config)) {
    if (String(text).trim() !== '') config[key] = numberOrNull(text);
  }
  return { type: camera.type, config };
}
