/**
 * Errors that reach a client. HTTP answers are RFC 9457 problem details; WebSocket closes use the
 * codes in `CloseCode`, always with a reason.
 */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly problem: string,
    message: string,
    readonly extra: { headers?: Record<string, string>; errors?: unknown } = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export const badRequest = (message: string, errors?: unknown) => new HttpError(400, 'bad-request', message, errors === undefined ? {} : { errors });
export const unauthorized = (message: string) => new HttpError(401, 'unauthorized', message, { headers: { 'www-authenticate': 'Bearer' } });
export const forbidden = (message: string) => new HttpError(403, 'forbidden', message);
export const notFound = (message: string) => new HttpError(404, 'not-found', message);
export const tooManyRequests = (retryAfterSeconds: number, message = 'rate limit exceeded') =>
  new HttpError(429, 'rate-limited', message, { headers: { 'retry-after': String(retryAfterSeconds) } });

export const statusText: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  202: 'Accepted',
  204: 'No Content',
  206: 'Partial Content',
  304: 'Not Modified',
  400: 'Bad Request',
  401: 'Unauthorized',
  402: 'Payment Required',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  410: 'Gone',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  416: 'Range Not Satisfiable',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance: string;
  requestId: string;
  errors?: unknown;
}

export function problemBody(error: HttpError, instance: string, requestId: string): Problem {
  return {
    type: `urn:veza:problem:${error.problem}`,
    title: statusText[error.status] ?? 'Error',
    status: error.status,
    detail: error.message,
    instance,
    requestId,
    ...(error.extra.errors === undefined ? {} : { errors: error.extra.errors }),
  };
}

/** WebSocket close codes used anywhere in the server: one table, so clients can rely on it. */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  /** A socket that broke a rule of its route (a Hocuspocus socket that opened no document in time). */
  policyViolation: 1008,
  tooBig: 1009,
  internalError: 1011,
  tryAgainLater: 1013,
  /** The API key that opened the socket was revoked, or the overlap of its rotation ended; on /automerge also: its token expired. */
  credentialRevoked: 4401,
  /** The credential no longer admits the socket (its tenant was suspended). */
  forbidden: 4403,
  rateLimited: 4429,
} as const;
