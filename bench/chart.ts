/**
 * bench/results.svg: the latest `npm run bench` figures at a glance (docs/benchmarks.md). One
 * horizontal bar per line with a target, its length the figure divided by the target, so every
 * target sits on the same vertical line; green when met, red when missed, the figure and the
 * target written in a column on the right. Hand-written SVG text, no dependency.
 */
import type { Line } from './report.js';

const WIDTH = 1060;
const LABEL = 390;
const BAR = 420;
const ROW = 28;
const TOP = 58;
/** bars are drawn up to this multiple of their target, longer ones are cut with an arrow */
const MAX_SCALE = 2.5;

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (l: Line, n: number) => (l.unit === '×' ? `${n.toFixed(2)}×` : `${n} ${l.unit}`);

export function chartSvg(lines: Line[], title: string): string {
  const rows = lines.filter((l): l is Line & { target: number } => l.target !== undefined);
  const height = TOP + rows.length * ROW + 34;
  const x = (scale: number) => LABEL + (Math.min(scale, MAX_SCALE) / MAX_SCALE) * BAR;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="13">`,
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    `<text x="12" y="24" font-size="16" font-weight="bold">${esc(title)}</text>`,
    `<text x="12" y="44" fill="#555">bar = figure ÷ target (line = target); green met, red missed</text>`,
  ];
  const bottom = TOP + rows.length * ROW;
  // the target line first, under the bars
  out.push(`<line x1="${x(1)}" y1="${TOP - 4}" x2="${x(1)}" y2="${bottom + 4}" stroke="#000" stroke-dasharray="4 3"/>`);
  out.push(`<text x="${x(1)}" y="${bottom + 20}" text-anchor="middle" fill="#555">target</text>`);
  out.push(`<text x="${x(MAX_SCALE)}" y="${bottom + 20}" text-anchor="end" fill="#555">${MAX_SCALE}× target</text>`);
  rows.forEach((l, i) => {
    const y = TOP + i * ROW;
    const scale = l.figure / l.target;
    const colour = l.met ? '#2e7d32' : '#c62828';
    out.push(`<text x="${LABEL - 10}" y="${y + 17}" text-anchor="end">${esc(l.path)}</text>`);
    out.push(`<rect x="${LABEL}" y="${y + 5}" width="${(x(scale) - LABEL).toFixed(1)}" height="${ROW - 10}" fill="${colour}"/>`);
    if (scale > MAX_SCALE) out.push(`<text x="${x(MAX_SCALE) - 14}" y="${y + 17}" fill="#fff">»</text>`);
    const note = `${fmt(l, l.figure)} (≤ ${fmt(l, l.target)})${l.met ? '' : ' missed'}`;
    out.push(`<text x="${LABEL + BAR + 12}" y="${y + 17}" fill="${colour}">${esc(note)}</text>`);
  });
  out.push('</svg>', '');
  return out.join('\n');
}
