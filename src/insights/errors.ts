// The one error type of the insights models: bad input to a pure function (a non-integer day, a
// horizon shorter than a day, a training set the model cannot learn from). Routes map it to a 400.

/** Input that the insights code refuses; the message names the offending value. */
export class InsightsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InsightsError';
  }
}

/** Throws unless `value` is an integer in [min, max]. */
export function requireInteger(name: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new InsightsError(`${name} must be an integer in [${min}, ${max}], got ${value}`);
  }
}

/** Throws unless `value` is a finite number in [min, max]. */
export function requireFinite(name: string, value: number, min: number, max = Number.MAX_VALUE): void {
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new InsightsError(`${name} must be a finite number in [${min}, ${max}], got ${value}`);
  }
}
