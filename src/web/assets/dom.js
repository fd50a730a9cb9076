// Building the page: elements from plain values, text always as text nodes
// (never parsed as HTML), so nothing the API answers can become markup.

const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * Sets attributes and listeners: `class`, `text`, `on<event>` (a function),
 * booleans as present/absent attributes, undefined/null/false skipped.
 */
function apply(el, attrs) {
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'text') el.textContent = String(value);
    else if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** An HTML element: `h('a', {href: '#/'}, 'Home')`. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  apply(el, attrs);
  append(el, children);
  return el;
}

/** An SVG element. */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  apply(el, attrs);
  append(el, children);
  return el;
}

/** Replaces an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/** A link inside the app (hash routing). */
export function link(route, text, attrs = {}) {
  return h('a', { href: `#${route}`, ...attrs }, text);
}

/** A table: headers (strings) and rows (arrays of cells), with a caption for screen readers. */
export function table(caption, headers, rows, options = {}) {
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: options.class },
      h('caption', { class: options.showCaption ? undefined : 'visually-hidden' }, caption),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          headers.map((x) => h('th', { scope: 'col' }, x)),
        ),
      ),
      h(
        'tbody',
        {},
        rows.length
          ? rows.map((r) =>
              h(
                'tr',
                {},
                r.map((cell) => h('td', {}, cell)),
              ),
            )
          : h(
              'tr',
              {},
              h('td', { colspan: headers.length, class: 'muted' }, options.empty ?? 'None.'),
            ),
      ),
    ),
  );
}

/** A labelled definition list from [label, value] pairs. */
export function facts(pairs) {
  return h(
    'dl',
    { class: 'facts' },
    pairs.filter((p) => p).map(([label, value]) => [h('dt', {}, label), h('dd', {}, value ?? '—')]),
  );
}

/** A section with a heading. */
export function section(title, ...children) {
  const id = `s-${title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
  return h('section', { 'aria-labelledby': id }, h('h2', { id }, title), ...children);
}

/** A note that a part of the page cannot be shown, and why. */
export function note(text, tone = 'info') {
  return h('p', { class: `note note-${tone}` }, text);
}
