// A small SVG writer for the report: horizontal bar charts, one panel per metric, side by side,
// one bar per target, value printed at the end of each bar. No library, no fonts beyond sans-serif.

export interface Panel {
  title: string;
  /** How a value is printed beside its bar. */
  format: (v: number) => string;
  values: number[];
}

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function barChart(o: { title: string; subtitle?: string; labels: string[]; highlight: (label: string) => boolean; panels: Panel[] }): string {
  const labelW = 170, panelW = 300, gap = 40, barH = 18, rowH = 26, top = 62, bottom = 16;
  const width = labelW + o.panels.length * (panelW + gap);
  const height = top + o.labels.length * rowH + bottom;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="8" y="18" font-size="14" font-weight="bold">${esc(o.title)}</text>`,
  ];
  if (o.subtitle) out.push(`<text x="8" y="34" fill="#555">${esc(o.subtitle)}</text>`);
  o.labels.forEach((label, i) => {
    const y = top + i * rowH;
    out.push(`<text x="${labelW - 8}" y="${y + barH - 5}" text-anchor="end"${o.highlight(label) ? ' font-weight="bold"' : ''}>${esc(label)}</text>`);
  });
  o.panels.forEach((p, k) => {
    const x0 = labelW + k * (panelW + gap);
    const finite = p.values.filter(Number.isFinite);
    const max = Math.max(...finite, 0) || 1;
    const room = panelW - 70; // space for the printed value
    out.push(`<text x="${x0}" y="${top - 10}" font-weight="bold">${esc(p.title)}</text>`);
    out.push(`<line x1="${x0}" y1="${top - 4}" x2="${x0}" y2="${top + o.labels.length * rowH - 4}" stroke="#999"/>`);
    p.values.forEach((v, i) => {
      const y = top + i * rowH;
      const w = Number.isFinite(v) ? Math.max(1, (v / max) * room) : 0;
      const fill = o.highlight(o.labels[i]!) ? '#d9480f' : '#4c6ef5';
      out.push(`<rect x="${x0}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${fill}"/>`);
      out.push(`<text x="${(x0 + w + 5).toFixed(1)}" y="${y + barH - 5}">${esc(Number.isFinite(v) ? p.format(v) : 'n/a')}</text>`);
    });
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
