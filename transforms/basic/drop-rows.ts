/**
 * `drop_rows`: drop the rows whose value in any listed column equals `value` (null or omitted:
 * matches nulls), compared typed (docs/transformers.md).
 */
import * as A from 'apache-arrow';
import { extensionOf, typeName } from '../../lib/types.js';
import { uuidFromString } from '../../lib/arrow/index.js';
import { formatDecimal, dayToDateString } from '../../lib/arrow-json.js';
import { toMicros } from '../../lib/time.js';
import { bytesEqual, decoder, encoder, nullTest, takeRows, varBytes } from '../../lib/arrow/index.js';
import { COLUMNS, type KindOp } from './transformation.js';

export const dropRows: KindOp = {
  keys: { required: ['columns'], properties: { columns: COLUMNS, value: { type: ['string', 'number', 'boolean', 'null'] } } },
  compile: (t, fail) => (schema) => {
    const byName = new Map(schema.fields.map((f, i) => [f.name, i]));
    const cols = t.columns!.filter((c) => byName.has(c)).map((c) => byName.get(c)!);
    if (!cols.length) return { schema };
    const value = t.value === undefined || t.value === null ? null : String(t.value);
    const matchers = cols.map((i) => {
      const f = schema.fields[i]!;
      if (f.typeId === A.Type.List || f.typeId === A.Type.LargeList || f.typeId === A.Type.FixedSizeList || f.typeId === A.Type.Map) {
        fail(schema, `column ${f.name} is ${typeName(f)}: drop_rows matches only non-list columns (as in CloudQuery)`, 'columns', f.name);
      }
      return { i, match: rowMatcher(f, value) };
    });
    return {
      schema,
      run: (c) => {
        const keep = new Uint8Array(c.length).fill(1);
        for (const m of matchers) m.match(c.cols[m.i]!, keep);
        return takeRows(c.cols, c.length, keep);
      },
    };
  },
};

/**
 * A function clearing keep[i] for rows whose value in this column "equals" `value`
 * (CloudQuery: `column.ValueStr(i) == value`; `value` null/omitted matches nulls). The value is
 * parsed once into the column's type and compared typed, so CloudQuery's string forms match
 * (`2023`, `true`, `1e+06`, `2024-01-02 03:04:05Z`) and so do equivalent spellings.
 */
function rowMatcher(f: A.Field, value: string | null): (d: A.Data, keep: Uint8Array) => void {
  if (value === null) {
    return (d, keep) => {
      const isNull = nullTest(d);
      if (!isNull) return;
      for (let i = 0; i < d.length; i++) if (isNull(i)) keep[i] = 0;
    };
  }
  const never = () => {};
  /** run `eq(i)` over the non-null rows */
  const overValid = (eq: (d: A.Data) => (i: number) => boolean) => (d: A.Data, keep: Uint8Array) => {
    const isNull = nullTest(d);
    const test = eq(d);
    for (let i = 0; i < d.length; i++) if (!isNull?.(i) && test(i)) keep[i] = 0;
  };
  const ext = extensionOf(f);
  const t = f.type;
  const bytesEq = (target: Uint8Array) =>
    overValid((d) => {
      const get = varBytes(d);
      return (i) => bytesEqual(get(i), target);
    });
  if (ext === 'json') {
    let compact: string;
    try {
      compact = JSON.stringify(JSON.parse(value));
    } catch {
      compact = value;
    }
    const target = encoder.encode(compact);
    return overValid((d) => {
      const get = varBytes(d);
      return (i) => {
        const b = get(i);
        if (bytesEqual(b, target)) return true;
        if (!b.some((x) => x === 0x20 || x === 0x0a || x === 0x09 || x === 0x0d)) return false;
        try {
          return JSON.stringify(JSON.parse(decoder.decode(b))) === compact;
        } catch {
          return false;
        }
      };
    });
  }
  if (ext === 'uuid') {
    const target = uuidFromString(value.trim());
    if (!target) return never;
    return overValid((d) => {
      const v = d.values as Uint8Array;
      return (i) => {
        for (let k = 0; k < 16; k++) if (v[i * 16 + k] !== target[k]) return false;
        return true;
      };
    });
  }
  switch (t.typeId) {
    case A.Type.Utf8:
    case A.Type.LargeUtf8:
      return bytesEq(encoder.encode(value));
    case A.Type.Binary:
    case A.Type.LargeBinary:
      // inet is stored as its text; plain binary compares with Go's ValueStr, base64
      return bytesEq(ext === 'inet' ? encoder.encode(value) : new Uint8Array(Buffer.from(value, 'base64')));
    case A.Type.Bool: {
      if (value !== 'true' && value !== 'false') return never;
      const want = value === 'true' ? 1 : 0;
      return overValid((d) => {
        const v = d.values as Uint8Array;
        return (i) => ((v[(d.offset + i) >> 3]! >> ((d.offset + i) & 7)) & 1) === want;
      });
    }
    case A.Type.Int: {
      if (!/^[+-]?\d+$/.test(value.trim())) return never;
      const big = BigInt(value.trim());
      if ((t as A.Int).bitWidth === 64)
        return overValid((d) => {
          const v = d.values as BigInt64Array;
          return (i) => v[i] === big;
        });
      const num = Number(big);
      return overValid((d) => {
        const v = d.values as Int32Array;
        return (i) => v[i] === num;
      });
    }
    case A.Type.Float: {
      if ((t as A.Float).precision === A.Precision.HALF) break;
      const single = (t as A.Float).precision === A.Precision.SINGLE;
      const s = value.trim();
      const num = s === '+Inf' || s === 'Inf' ? Infinity : s === '-Inf' ? -Infinity : s === 'NaN' ? NaN : s === '' ? NaN : Number(s);
      if (Number.isNaN(num) && s !== 'NaN') return never;
      const want = single ? Math.fround(num) : num;
      return overValid((d) => {
        const v = d.values as Float64Array;
        return Number.isNaN(want) ? (i) => Number.isNaN(v[i]!) : (i) => v[i] === want;
      });
    }
    case A.Type.Timestamp: {
      let us: bigint;
      try {
        us = toMicros(value);
      } catch {
        return never;
      }
      const unit = (t as A.Timestamp).unit;
      const target =
        unit === A.TimeUnit.SECOND ? us / 1_000_000n : unit === A.TimeUnit.MILLISECOND ? us / 1000n : unit === A.TimeUnit.MICROSECOND ? us : us * 1000n;
      return overValid((d) => {
        const v = d.values as BigInt64Array;
        return (i) => v[i] === target;
      });
    }
    case A.Type.Date:
      return overValid((d) => {
        const v = d.values as Int32Array | BigInt64Array;
        const day = (t as A.Date_).unit === A.DateUnit.DAY;
        return (i) => dayToDateString(day ? Number(v[i]!) : Math.floor(Number(v[i]!) / 86_400_000)) === value;
      });
    case A.Type.Decimal: {
      const dt = t as A.Decimal;
      const words = dt.bitWidth / 32;
      return overValid((d) => {
        const w = d.values as Uint32Array;
        return (i) => {
          let v = 0n;
          for (let k = words - 1; k >= 0; k--) v = (v << 32n) | BigInt(w[i * words + k]!);
          return formatDecimal(BigInt.asIntN(dt.bitWidth, v), dt.scale) === value;
        };
      });
    }
    default:
      break;
  }
  // time, struct, fixed-size binary, …: compare a generic rendering (rare in drop_rows)
  return overValid((d) => {
    const vec = A.makeVector(d);
    return (i) => {
      const x = vec.get(i) as unknown;
      const s = x !== null && typeof x === 'object' && 'toJSON' in (x as object) ? JSON.stringify((x as { toJSON(): unknown }).toJSON()) : String(x);
      return s === value;
    };
  });
}
