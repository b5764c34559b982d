// The one error type of the insights models: bad input to a pure function (a non-integer day, a
// horizon shorter than a day, a training set the model cannot learn from). Routes map it to a 400.
import { InputError, inputChecks } from '../shared/errors.js';

/** Input that the insights code refuses; the message names the offending value. */
export class InsightsError extends InputError {
  constructor(message: string) {
    super(message);
    this.name = 'InsightsError';
  }
}

export const { requireInteger, requireFinite } = inputChecks(InsightsError);
