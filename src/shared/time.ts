// Times on the API: Unix milliseconds, from 1970 to the end of the year 9999 (what ISO 8601 dates,
// and so the database's timestamps, are written with four digits for).

/** The largest Unix time in milliseconds the API takes: 9999-12-31T23:59:59.999Z. */
export const MAX_UNIX_MS = 253_402_300_799_999;

/** Whether `value` is a Unix time in milliseconds the API takes. */
export function isUnixMs(value: number): boolean {
  return Number.isFinite(value) && value >= 0 && value <= MAX_UNIX_MS;
}
