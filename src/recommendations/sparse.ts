// Compressed sparse rows over typed arrays. The user × item matrix is CSR (a user's items are
// contiguous); its transpose, built once, is the item × user matrix (CSC of the same data), which
// the item half of each ALS iteration walks.
import { RecommendationError, requireInteger } from './errors.js';

/** Row r's columns are indices[indptr[r] .. indptr[r + 1]), ascending, with their values in data. */
export interface CsrMatrix {
  readonly rows: number;
  readonly cols: number;
  readonly indptr: Int32Array;
  readonly indices: Int32Array;
  readonly data: Float32Array;
}

/** Parallel arrays of (row, col, value) triples, e.g. (user, item, play count). */
export interface Triples {
  readonly rows: ArrayLike<number>;
  readonly cols: ArrayLike<number>;
  readonly values: ArrayLike<number>;
}

/**
 * Builds a CSR matrix from triples. Every id must be an integer in range and every value finite and
 * ≥ 0, or a RecommendationError names the first bad triple. Duplicate (row, col) pairs are summed;
 * pairs whose sum is 0 are dropped (a zero weight says nothing was observed).
 */
export function csrFromTriples(triples: Triples, rows: number, cols: number): CsrMatrix {
  requireInteger('rows', rows, 0, 0x7fffffff);
  requireInteger('cols', cols, 0, 0x7fffffff);
  validateTriples(triples, rows, cols);
  const order = sortByRowThenCol(triples, rows, cols);
  return mergeSorted(triples, order, rows, cols);
}

function validateTriples({ rows: r, cols: c, values: v }: Triples, rows: number, cols: number): void {
  if (r.length !== c.length || r.length !== v.length) {
    throw new RecommendationError(`triples have ${r.length} rows, ${c.length} cols and ${v.length} values; they must be the same length`);
  }
  for (let k = 0; k < r.length; k++) {
    const row = r[k]!;
    const col = c[k]!;
    const value = v[k]!;
    if (!Number.isInteger(row) || row < 0 || row >= rows) throw new RecommendationError(`triple ${k}: row ${row} is not an integer in [0, ${rows})`);
    if (!Number.isInteger(col) || col < 0 || col >= cols) throw new RecommendationError(`triple ${k}: col ${col} is not an integer in [0, ${cols})`);
    if (!Number.isFinite(value) || value < 0) throw new RecommendationError(`triple ${k}: value ${value} must be finite and ≥ 0`);
  }
}

/** Two stable counting sorts (by col, then by row): positions of the triples in (row, col) order. */
function sortByRowThenCol(triples: Triples, rows: number, cols: number): Int32Array {
  const byCol = countingSort(triples.cols, cols, null);
  return countingSort(triples.rows, rows, byCol);
}

function countingSort(keys: ArrayLike<number>, range: number, order: Int32Array | null): Int32Array {
  const n = keys.length;
  const start = new Int32Array(range + 1);
  for (let k = 0; k < n; k++) start[keys[k]! + 1]!++;
  for (let key = 0; key < range; key++) start[key + 1]! += start[key]!;
  const sorted = new Int32Array(n);
  for (let k = 0; k < n; k++) {
    const position = order ? order[k]! : k;
    sorted[start[keys[position]!]!++] = position;
  }
  return sorted;
}

function mergeSorted(triples: Triples, order: Int32Array, rows: number, cols: number): CsrMatrix {
  const indptr = new Int32Array(rows + 1);
  const indices = new Int32Array(order.length);
  const data = new Float32Array(order.length);
  let stored = 0;
  let k = 0;
  while (k < order.length) {
    const row = triples.rows[order[k]!]!;
    const col = triples.cols[order[k]!]!;
    let sum = 0;
    for (; k < order.length && triples.rows[order[k]!] === row && triples.cols[order[k]!] === col; k++) sum += triples.values[order[k]!]!;
    if (sum === 0) continue;
    indices[stored] = col;
    data[stored] = sum;
    stored++;
    indptr[row + 1]!++;
  }
  for (let r = 0; r < rows; r++) indptr[r + 1]! += indptr[r]!;
  return { rows, cols, indptr, indices: indices.slice(0, stored), data: data.slice(0, stored) };
}

/** The transpose, e.g. item × user from user × item. Columns stay ascending within each row. */
export function transpose(matrix: CsrMatrix): CsrMatrix {
  const { rows, cols, indptr, indices, data } = matrix;
  const tIndptr = new Int32Array(cols + 1);
  for (const col of indices) tIndptr[col + 1]!++;
  for (let c = 0; c < cols; c++) tIndptr[c + 1]! += tIndptr[c]!;
  const next = tIndptr.slice(0, cols);
  const tIndices = new Int32Array(indices.length);
  const tData = new Float32Array(indices.length);
  for (let r = 0; r < rows; r++) {
    for (let k = indptr[r]!; k < indptr[r + 1]!; k++) {
      const at = next[indices[k]!]!++;
      tIndices[at] = r;
      tData[at] = data[k]!;
    }
  }
  return { rows: cols, cols: rows, indptr: tIndptr, indices: tIndices, data: tData };
}

/** The same sparsity pattern with each stored value replaced by `map(value)`. */
export function mapValues(matrix: CsrMatrix, map: (value: number) => number): CsrMatrix {
  return { ...matrix, data: matrix.data.map(map) };
}

/** Row r's column indices (a view, not a copy). */
export function rowIndices(matrix: CsrMatrix, row: number): Int32Array {
  return matrix.indices.subarray(matrix.indptr[row]!, matrix.indptr[row + 1]!);
}

/** Number of stored entries in row r. */
export function rowLength(matrix: CsrMatrix, row: number): number {
  return matrix.indptr[row + 1]! - matrix.indptr[row]!;
}
