/**
 * Decimal columns (Decimal32/64/128/256 as little-endian 32-bit words per value): reading and
 * writing the unscaled integer, a safe-number fast path, and decimal text both ways.
 */

const TWO32 = 4294967296;

/** The unscaled value at `index` of decimal words (`wordCount` 32-bit words per value), as a signed bigint. */
export function decimalToBigInt(words: Uint32Array, index: number, wordCount: number): bigint {
  let v = 0n;
  for (let w = wordCount - 1; w >= 0; w--) v = (v << 32n) | BigInt(words[index * wordCount + w]!);
  return BigInt.asIntN(wordCount * 32, v);
}

/**
 * The unscaled value at `index` as a JS number when it is a safe integer (the upper words only
 * sign-extend the lower 53 bits), else NaN; no BigInt on the way.
 */
export function decimalToSafeInteger(words: Uint32Array, index: number, wordCount: number): number {
  const o = index * wordCount;
  if (wordCount < 2) return words[o]! | 0;
  const hiWord = words[o + 1]! | 0;
  const ext = hiWord < 0 ? 0xffffffff : 0;
  for (let k = 2; k < wordCount; k++) if (words[o + k] !== ext) return NaN;
  const x = hiWord * TWO32 + words[o]!;
  return Number.isSafeInteger(x) ? x : NaN;
}

/** Store `value` (two's complement, truncated to the width) as the decimal at `index`. */
export function writeDecimal(words: Uint32Array, index: number, wordCount: number, value: bigint): void {
  let u = BigInt.asUintN(wordCount * 32, value);
  for (let w = 0; w < wordCount; w++) {
    words[index * wordCount + w] = Number(u & 0xffffffffn);
    u >>= 32n;
  }
}

/** An unscaled decimal integer as a decimal string with `scale` fraction digits. */
export function formatDecimal(unscaled: bigint | number, scale: number): string {
  const neg = unscaled < 0;
  let digits = (neg ? -unscaled : unscaled).toString();
  if (scale > 0) {
    if (digits.length <= scale) digits = '0'.repeat(scale - digits.length + 1) + digits;
    digits = digits.slice(0, digits.length - scale) + '.' + digits.slice(digits.length - scale);
  } else if (scale < 0 && digits !== '0') {
    digits += '0'.repeat(-scale);
  }
  return neg ? '-' + digits : digits;
}

/** "12.5" / 12.5 → 1250n for scale 2; undefined when not a decimal or too many fraction digits */
export function parseDecimal(v: unknown, scale: number): bigint | undefined {
  let s: string;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return undefined;
    s = v.toFixed(Math.min(scale, 20));
    // toFixed rounds; reject numbers that carried more precision than the scale
    if (Number(s) !== v) return undefined;
  } else if (typeof v === 'string') {
    s = v.trim();
  } else if (typeof v === 'bigint') {
    s = v.toString();
  } else {
    return undefined;
  }
  const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(s);
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) return undefined;
  let intPart = m[2] || '0';
  let frac = m[3] ?? '';
  const exp = m[4] ? Number(m[4]) : 0;
  if (exp > 0) {
    const move = frac.slice(0, exp).padEnd(exp, '0');
    intPart += move;
    frac = frac.slice(exp);
  } else if (exp < 0) {
    const pad = intPart.padStart(-exp + 1, '0');
    frac = pad.slice(pad.length + exp) + frac;
    intPart = pad.slice(0, pad.length + exp);
  }
  frac = frac.replace(/0+$/, '');
  if (frac.length > scale) return undefined;
  const digits = BigInt(intPart + frac.padEnd(scale, '0'));
  return m[1] === '-' ? -digits : digits;
}
