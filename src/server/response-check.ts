// Test mode's check of every JSON reply against the schema its route declares for the status
// (`VEZA_CHECK_RESPONSES`, on in the test suite): a reply that does not match becomes a 500 problem
// naming the route and the mismatch, and is counted, so every test that calls a route also checks
// that the spec tells the truth. Off in production: it parses each reply once more.
import { HttpError } from './errors.js';
import { responseDoc, type RouteDoc } from './openapi.js';

/** Throws the 500 for a reply that contradicts its route's declared responses; returns whether a schema checked it. */
export function checkReply(method: string, pattern: string, doc: RouteDoc, status: number, payload: string): boolean {
  const declared = doc.responses;
  if (!declared || Object.keys(declared).length === 0) return false;
  const entry = declared[status];
  const route = `${method} ${pattern}`;
  if (!entry) {
    throw new HttpError(500, 'response-mismatch', `${route} answered ${status}, a status its description does not declare (declared: ${Object.keys(declared).join(', ')})`);
  }
  const schema = responseDoc(entry).schema;
  if (!schema) return false;
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    throw new HttpError(500, 'response-mismatch', `${route} answered ${status} with a body that is not JSON, where its description declares JSON`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`);
    throw new HttpError(500, 'response-mismatch', `${route} answered ${status} with a body that does not match its declared schema: ${issues.join('; ')}`, {
      errors: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    });
  }
  return true;
}
