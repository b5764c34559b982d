import { pino, type Logger } from 'pino';
import type { ServerSettings } from './server/settings.js';

export type { Logger };

/** Structured JSON logs on stdout; one line per record. */
export function createLogger(settings: Pick<ServerSettings, 'logLevel'>): Logger {
  return pino({ level: settings.logLevel, base: { service: 'veza' } });
}
