// Small SVG charts for the report pages: no library, no CDN, no inline style
// (strict CSP). Colours come from CSS classes; labels are text nodes.

const NS = 'http://www.w3.org/2000/svg';

function svgEl(tag, attrs = {}, text = null) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== null) node.textContent = String(text);
  return node;
}

/**
 * Stacked bar chart. `series` = [{name, values: [...], cls}], one value per label.
 * Returns the <svg>; each bar segment has data-series and data-value for tests.
 */
export function stackedBars(labels, series, { width = 760, height = 220, testid = 'chart' } = {}) {
  const pad = { l: 36, r: 8, t: 10, b: 38 };
  const totals = labels.map((_, i) => series.reduce((s, se) => s + (Number(se.values[i]) || 0), 0));
  const max = Math.max(1, ...totals);
  const w = width - pad.l - pad.r;
  const h = height - pad.t - pad.b;
  const bw = labels.length ? w / labels.length : w;
  const svg = svgEl('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img', 'data-testid': testid });
  for (const frac of [0, 0.5, 1]) {
    const y = pad.t + h - frac * h;
    svg.appendChild(svgEl('line', { x1: pad.l, x2: pad.l + w, y1: y, y2: y, class: 'chart-grid' }));
    svg.appendChild(svgEl('text', { x: pad.l - 4, y: y + 4, class: 'chart-axis', 'text-anchor': 'end' },
      Math.round(frac * max)));
  }
  labels.forEach((label, i) => {
    let y = pad.t + h;
    for (const se of series) {
      const v = Number(se.values[i]) || 0;
      if (v <= 0) continue;
      const bh = (v / max) * h;
      y -= bh;
      const rect = svgEl('rect', { x: pad.l + i * bw + bw * 0.1, y, width: Math.max(1, bw * 0.8), height: bh,
        class: `chart-bar ${se.cls || ''}`, 'data-series': se.name, 'data-value': v });
      rect.appendChild(svgEl('title', {}, `${label} · ${se.name}: ${v}`));
      svg.appendChild(rect);
    }
    const every = Math.max(1, Math.ceil(labels.length / 12));
    if (i % every === 0) {
      svg.appendChild(svgEl('text', { x: pad.l + i * bw + bw / 2, y: height - pad.b + 14, class: 'chart-axis',
        'text-anchor': 'middle' }, label));
    }
  });
  return svg;
}

/** Legend as plain elements (swatches are CSS classes). */
export function legend(series) {
  const box = document.createElement('div');
  box.className = 'chart-legend';
  for (const se of series) {
    const item = document.createElement('span');
    const sw = document.createElement('i');
    sw.className = `chart-swatch ${se.cls || ''}`;
    item.append(sw, document.createTextNode(se.name));
    box.appendChild(item);
  }
  return box;
}

/** Horizontal bars, one per row (e.g. occupancy per agent), values 0..max. */
export function hBars(rows, { max = 100, width = 760, rowHeight = 22, testid = 'hchart', cls = 'c-blue' } = {}) {
  const padL = 120;
  const height = rows.length * rowHeight + 8;
  const svg = svgEl('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img', 'data-testid': testid });
  rows.forEach(([label, value], i) => {
    const y = 4 + i * rowHeight;
    svg.appendChild(svgEl('text', { x: padL - 6, y: y + rowHeight * 0.65, class: 'chart-axis', 'text-anchor': 'end' },
      label));
    const v = value === null || value === undefined ? 0 : Number(value);
    const bw = Math.max(0, Math.min(1, v / max)) * (width - padL - 50);
    svg.appendChild(svgEl('rect', { x: padL, y: y + 3, width: bw, height: rowHeight - 6, class: `chart-bar ${cls}`,
      'data-series': label, 'data-value': v }));
    svg.appendChild(svgEl('text', { x: padL + bw + 4, y: y + rowHeight * 0.65, class: 'chart-axis' },
      value === null || value === undefined ? '—' : `${v}`));
  });
  return svg;
}
