/**
 * `makeData` for a column whose Arrow type is known only at run time. apache-arrow types
 * `makeData`'s props by the static type (`data` for fixed width, `valueOffsets` for variable
 * length, `children` for nested), so a kernel switching on `type.typeId` cannot name the overload;
 * this states the buffers' shape once, in one place, instead of a cast at every call.
 */
import * as A from 'apache-arrow';

export interface RuntimeDataProps {
  type: A.DataType;
  length: number;
  offset?: number;
  nullCount?: number;
  nullBitmap?: Uint8Array;
  /** the values (fixed width, booleans, variable-length bytes) */
  data?: ArrayBufferView | ArrayLike<number> | ArrayLike<bigint>;
  /** offsets of variable-length values and lists */
  valueOffsets?: Int32Array | BigInt64Array;
  /** the element column of a list */
  child?: A.Data;
  /** the field columns of a struct */
  children?: A.Data[];
}

export function makeDataOf(props: RuntimeDataProps): A.Data {
  // a variable, not a literal: the generic overload takes the extra buffers without a cast
  return A.makeData(props);
}
