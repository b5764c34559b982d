// The one error type of the recommendations module: bad input to a pure function (an id out of
// range, a negative or non-finite weight, a nonsensical option). Routes map it to a 400.
import { InputError, inputChecks } from '../shared/errors.js';

/** Input that the recommendations code refuses; the message names the offending value. */
export class RecommendationError extends InputError {
  constructor(message: string) {
    super(message);
    this.name = 'RecommendationError';
  }
}

export const { requireInteger, requireFinite } = inputChecks(RecommendationError);
