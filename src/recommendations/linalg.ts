// Dense symmetric positive-definite inverse on Float64Array, for EASE's item Gram matrix (a few
// thousand items). Cholesky A = LLᵀ, then M = L⁻¹, then A⁻¹ = MᵀM: each step is n³/6 multiply-adds,
// n³/2 in all (half of Gauss–Jordan's n³), and every inner loop walks a row contiguously, which is
// what keeps V8's loops near a multiply-add per nanosecond. Row-major n × n throughout.
import { RecommendationError, requireInteger } from './errors.js';

/**
 * The inverse of the symmetric positive-definite n × n matrix `a` (row-major; only its lower
 * triangle is read). `a` is left untouched. A matrix that is not positive definite (a pivot ≤ 0 or
 * not finite) is refused with the row where it failed.
 */
export function invertSpd(a: Float64Array, n: number): Float64Array {
  requireInteger('n', n, 1);
  if (a.length !== n * n) throw new RecommendationError(`matrix holds ${a.length} values, expected ${n} × ${n}`);
  const l = cholesky(a, n);
  const m = invertLower(l, n);
  return gramOfRows(m, n);
}

/** The lower Cholesky factor L (A = LLᵀ), its upper triangle zero. */
export function cholesky(a: Float64Array, n: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let j = 0; j <= i; j++) {
      const rj = j * n;
      let sum = a[ri + j]!;
      for (let k = 0; k < j; k++) sum -= l[ri + k]! * l[rj + k]!;
      if (i === j) {
        if (!(sum > 0) || !Number.isFinite(sum)) throw new RecommendationError(`matrix is not positive definite (pivot ${sum} at row ${i})`);
        l[ri + i] = Math.sqrt(sum);
      } else {
        l[ri + j] = sum / l[rj + j]!;
      }
    }
  }
  return l;
}

/** L⁻¹ of a lower-triangular L, row by row: row i = (eᵢ − Σ_{k<i} L[i,k]·row k) / L[i,i]. */
function invertLower(l: Float64Array, n: number): Float64Array {
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let k = 0; k < i; k++) {
      const f = l[ri + k]!;
      if (f === 0) continue;
      const rk = k * n;
      for (let c = 0; c <= k; c++) m[ri + c]! -= f * m[rk + c]!;
    }
    const inv = 1 / l[ri + i]!;
    for (let c = 0; c < i; c++) m[ri + c]! *= inv;
    m[ri + i] = inv;
  }
  return m;
}

/** MᵀM for a lower-triangular M, as a sum of the outer products of its rows (lower half, mirrored). */
function gramOfRows(m: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const rk = k * n;
    for (let a = 0; a <= k; a++) {
      const f = m[rk + a]!;
      if (f === 0) continue;
      const ra = a * n;
      for (let b = 0; b <= a; b++) out[ra + b]! += f * m[rk + b]!;
    }
  }
  for (let a = 0; a < n; a++) for (let b = 0; b < a; b++) out[b * n + a] = out[a * n + b]!;
  return out;
}
