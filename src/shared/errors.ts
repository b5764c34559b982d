// Bad input to a pure function (a non-integer day, an id out of range, a negative weight). Each
// module throws its own subclass, so that its routes map only its own errors to a 400; the checks
// that name the offending value are the same everywhere.

/** Input that the code refuses; the message names the offending value. */
export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

/** Range checks that throw `ErrorType`, for a module to export with its own error type. */
export function inputChecks(ErrorType: new (message: string) => Error) {
  return {
    /** Throws unless `value` is an integer in [min, max]. */
    requireInteger(name: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): void {
      if (!Number.isInteger(value) || value < min || value > max) {
        throw new ErrorType(`${name} must be an integer in [${min}, ${max}], got ${value}`);
      }
    },
    /** Throws unless `value` is a finite number in [min, max]. */
    requireFinite(name: string, value: number, min: number, max = Number.MAX_VALUE): void {
      if (!Number.isFinite(value) || value < min || value > max) {
        throw new ErrorType(`${name} must be a finite number in [${min}, ${max}], got ${value}`);
      }
    },
  };
}

export const { requireInteger, requireFinite } = inputChecks(InputError);
