import type { PGlite } from '@electric-sql/pglite';

export function pgliteStartParams(sizes: { sharedBuffersMb: number }): string[];
export function createPGliteDatabase(dir: string): Promise<boolean>;
export function openPGlite(dir: string, startParams: string[]): Promise<PGlite>;
