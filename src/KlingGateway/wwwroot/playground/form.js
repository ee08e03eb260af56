// The create form, built from one model of GET /v1/models: exactly the fields that model takes on
// POST /v1/generations, with their types, ranges, allowed values, defaults and help. The page does not judge the
// input itself: the gateway does (one 400 problem naming every fault by JSON path), and its verdict is shown
// beside each input, so there is one set of rules, the catalog's.

import { h, idFor } from './dom.js';
import {
  cameraInput, cameraJson, emptyImage, errorSlot, imageInput, imageJson, imageLimits, masksEditor, masksJson, numberOrNull,
} from './inputs.js';

/** What the form remembers across model switches. */
export const newFormState = () => ({ values: {}, images: {}, masks: [], camera: { type: '', config: {} } });

/** The fields the gateway's own create route takes for this model (the catalog also lists legacy-route-only ones). */
export function formFields(model) {
  return model.fields.filter((f) => f.name !== 'model' && (!f.routes || f.routes.includes('gateway')));
}

/** The model's rules between fields, in words. */
export function modelRules(model) {
  const rules = [];
  if (model.exclusive_groups.length > 1) {
    rules.push(`Use at most one of: ${model.exclusive_groups.map((g) => g.join(' or ')).join('; ')}.`);
  }
  for (const limit of model.duration_limits) {
    rules.push(`With ${limit.fields.join(', ')}: duration ${limit.allowed_durations.join(' or ')} s only.`);
  }
  if (model.accepted_with_warning.length > 0) {
    rules.push(`Accepted but ignored by this model (the answer carries a warning): ${model.accepted_with_warning.join(', ')}.`);
  }
  rules.push(`Forwarded on the upstream's ${model.upstream_route_family} route family.`);
  return rules;
}

/** The help under a field: its description, what it takes, and the warning it draws on this model. */
function help(field) {
  const facts = [field.type];
  if (field.max_length !== undefined) facts.push(`at most ${field.max_length} characters`);
  if (field.kind === 'number' && field.minimum !== undefined) facts.push(`${field.minimum} to ${field.maximum}`);
  if (field.allowed_values && field.kind !== 'camera_control') {
    facts.push(`one of ${field.allowed_values.join(', ')}${field.ignore_case ? ' (any case)' : ''}`);
  }
  if (field.kind === 'duration') facts.push('seconds');
  if (field.default !== undefined) facts.push(`default ${field.default}`);
  if (field.max_items !== undefined) facts.push(`at most ${field.max_items} items`);
  if (field.image) facts.push(imageLimits(field.image));
  return [
    field.description, ' ', h('span', { class: 'takes' }, `(${facts.join('; ')})`),
    field.warning ? h('span', { class: 'warning' }, ` ⚠ ${field.warning}`) : null,
  ];
}

/** Renders the model's fields into container; onChange() runs after every edit. */
export function renderFields(container, model, state, onChange) {
  let masks = null;
  let firstFrame = state.images.image_url?.file ?? null;
  const nodes = formFields(model).map((field) => {
    const described = { ...field, help: help(field) };
    const badge = field.warning ? h('span', { class: 'badge warn' }, 'ignored by this model') : null;
    switch (field.kind) {
      case 'image': {
        state.images[field.name] ??= emptyImage();
        const value = state.images[field.name];
        return imageInput({
          path: field.name, label: field.name, rule: field.image, value, required: field.required, badge, help: described.help,
          onChange: () => {
            // The masks' point picker shows the first frame when it is a local file.
            const frame = value.mode === 'file' ? value.file : null;
            if (field.name === 'image_url' && frame !== firstFrame) {
              firstFrame = frame;
              masks?.redraw();
            }
            onChange();
          },
        });
      }
      case 'dynamic_masks':
        masks = masksEditor({
          field: described, masks: state.masks, badge, onChange,
          firstFrame: () => (state.images.image_url?.mode === 'file' ? state.images.image_url.file : null),
        });
        return masks.element;
      case 'camera_control':
        return cameraInput({ field: described, camera: state.camera, badge, onChange });
      case 'enum':
      case 'duration':
        return selectField(described, state, badge, onChange);
      case 'number':
        return numberField(described, state, badge, onChange);
      default:
        // text, and any kind this page does not know yet: a text box still lets it be sent.
        return textField(described, state, badge, onChange);
    }
  });
  container.replaceChildren(...nodes);
}

function label(field, id, badge) {
  return h('label', { for: id }, h('code', {}, field.name), field.required ? h('span', { class: 'required' }, ' (required)') : null, badge);
}

function textField(field, state, badge, onChange) {
  const id = idFor(field.name);
  const counter = field.max_length ? h('span', { class: 'counter', id: `${id}-count` }) : null;
  const count = () => {
    if (!counter) return;
    const length = [...(input.value ?? '')].length;
    counter.textContent = `${length} / ${field.max_length}`;
    counter.classList.toggle('over', length > field.max_length);
  };
  const input = h('textarea', {
    id, rows: field.max_length > 300 ? 3 : 1, 'data-control': true, spellcheck: 'true', value: state.values[field.name] ?? '',
    'aria-describedby': `${id}-help${counter ? ` ${id}-count` : ''}`,
    oninput: () => {
      state.values[field.name] = input.value;
      count();
      onChange();
    },
  });
  count();
  return h('div', { class: 'field', 'data-path': field.name },
    label(field, id, badge), input, counter, h('p', { class: 'help', id: `${id}-help` }, field.help), errorSlot());
}

function selectField(field, state, badge, onChange) {
  const id = idFor(field.name);
  const current = state.values[field.name] ?? '';
  const select = h('select', {
    id, 'data-control': true, 'aria-describedby': `${id}-help`,
    onchange: () => {
      state.values[field.name] = select.value;
      onChange();
    },
  },
  h('option', { value: '' }, field.default !== undefined ? `not sent (the default: ${field.default})` : 'not sent'),
  field.allowed_values.map((v) => h('option', { value: v, selected: v === current }, v)));
  return h('div', { class: 'field', 'data-path': field.name },
    label(field, id, badge), select, h('p', { class: 'help', id: `${id}-help` }, field.help), errorSlot());
}

function numberField(field, state, badge, onChange) {
  const id = idFor(field.name);
  const input = h('input', {
    id, type: 'number', step: 'any', inputmode: 'decimal', min: field.minimum, max: field.maximum,
    value: state.values[field.name] ?? '', placeholder: 'not sent', 'data-control': true, 'aria-describedby': `${id}-help`,
    oninput: () => {
      state.values[field.name] = input.value;
      onChange();
    },
  });
  return h('div', { class: 'field', 'data-path': field.name },
    label(field, id, badge), input, h('p', { class: 'help', id: `${id}-help` }, field.help), errorSlot());
}

/** The request body the form describes, fields in the catalog's order; what is left empty is not sent. */
export function buildBody(model, state) {
  const body = { model: model.id };
  for (const field of formFields(model)) {
    let value;
    switch (field.kind) {
      case 'image':
        value = imageJson(state.images[field.name]);
        break;
      case 'dynamic_masks':
        value = masksJson(state.masks);
        break;
      case 'camera_control':
        value = cameraJson(state.camera);
        break;
      case 'number': {
        const text = (state.values[field.name] ?? '').trim();
        value = text === '' ? undefined : numberOrNull(text);
        break;
      }
      default: {
        const text = state.values[field.name] ?? '';
        value = text === '' ? undefined : text;
      }
    }
    if (value !== undefined) body[field.name] = value;
  }
  return body;
}

/** The JSON path one level up: a.b[2].c → a.b[2] → a.b → a → ''. */
function parentPath(path) {
  const match = /^(.*)(\.[^.[\]]+|\[\d+\])$/.exec(path);
  return match ? match[1] : '';
}

/** The visible element that shows faults for path, or for the nearest path above it. */
function targetFor(form, path) {
  for (let p = path; p; p = parentPath(p)) {
    const element = form.querySelector(`[data-path="${CSS.escape(p)}"]`);
    if (element && !element.closest('[hidden]')) return element;
  }
  return null;
}

/**
 * Shows the gateway's faults beside their inputs. Returns one entry per fault: { path, message, control }, where
 * control is the input to focus (null when no input of the form holds that path: a hand-edited body, say).
 */
export function showErrors(form, errors) {
  const shown = [];
  let serial = 0;
  for (const [path, messages] of Object.entries(errors)) {
    const target = targetFor(form, path);
    const control = target ? [...target.querySelectorAll('[data-control]')].find((c) => !c.closest('[hidden]')) ?? null : null;
    for (const message of messages) {
      if (target) {
        const errorId = `error-${++serial}`;
        target.querySelector(':scope > .field-errors')?.append(h('p', { class: 'field-error', id: errorId, 'data-error-path': path }, message));
        target.classList.add('invalid');
        if (control) {
          control.setAttribute('aria-invalid', 'true');
          if (!control.hasAttribute('data-described')) control.setAttribute('data-described', control.getAttribute('aria-describedby') ?? '');
          control.setAttribute('aria-describedby', `${control.getAttribute('aria-describedby') ?? ''} ${errorId}`.trim());
        }
      }
      shown.push({ path, message, control });
    }
  }
  return shown;
}

export function clearErrors(form) {
  form.querySelectorAll('.field-error').forEach((e) => e.remove());
  form.querySelectorAll('.invalid').forEach((e) => e.classList.remove('invalid'));
  form.querySelectorAll('[aria-invalid]').forEach((c) => {
    c.removeAttribute('aria-invalid');
    const original = c.getAttribute('data-described');
    if (original) c.setAttribute('aria-describedby', original);
    else c.removeAttribute('aria-describedby');
    c.removeAttribute('data-described');
  });
}
