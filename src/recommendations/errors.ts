// The one error type of the recommendations module: bad input to a pure function (an id out of
// range, a negative or non-finite weight, a nonsensical option). Routes map it to a 400.

/** Input that the recommendations code refuses; the message names the offending value. */
export class RecommendationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RecommendationError';
  }
}

/** Throws unless `value` is an integer in [min, max]. */
export function requireInteger(name: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RecommendationError(`${name} must be an integer in [${min}, ${max}], got ${value}`);
  }
}

/** Throws unless `value` is a finite number in [min, max]. */
export function requireFinite(name: string, value: number, min: number, max = Number.MAX_VALUE): void {
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new RecommendationError(`${name} must be a finite number in [${min}, ${max}], got ${value}`);
  }
}
