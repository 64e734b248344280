// The desk's only way to build DOM: createElement + textContent. Everything
// from the server is hostile text (caller-ID names come from the phone
// network), so no HTML strings and no innerHTML anywhere (strict CSP).

export function isObj(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function str(v) {
  if (v === null || v === undefined) return '';
  return String(v).trim();
}

/** createElement with class, data-testid, text and (non-URL) attributes. */
export function el(tag, opts = {}, ...children) {
  const node = document.createElement(tag);
  if (opts.className) node.className = opts.className;
  if (opts.testid) node.setAttribute('data-testid', opts.testid);
  if (opts.text !== undefined && opts.text !== null) node.textContent = String(opts.text);
  if (opts.attrs) {
    for (const [name, value] of Object.entries(opts.attrs)) {
      if (value !== null && value !== undefined) node.setAttribute(name, String(value));
    }
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return node;
}
