// What every module's settings are made of. A module declares its own in the `settings.ts` of its
// folder, each entry with its environment variable, its CLI flag, the zod schema that reads the text
// (and gives the default), and the line docs/configuration.md shows for it; `src/config.ts` composes
// the groups, and a module is handed only its own group's values.
import { z } from 'zod';

/** One setting: where it is read from, how, and what the docs say of it. */
export interface Setting {
  /** The environment variable. */
  env: string;
  /** The CLI flag, without its dashes. */
  flag: string;
  /** Reads the raw text (undefined when unset) into the value, with the default. */
  schema: z.ZodType;
  /** The meaning column of the setting's row in docs/configuration.md. */
  doc: string;
  /** A key or a URL that may carry credentials: a configuration error names the setting, never its value. */
  secret?: boolean;
}

/** One module's settings, by the name the code reads them as. */
export type SettingsGroup = Record<string, Setting>;

/** The values a group's settings read into. */
export type SettingsOf<G extends SettingsGroup> = { [K in keyof G]: z.output<G[K]['schema']> };

export const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => v === 'true' || v === '1' || v === 'yes');

export const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

export const optionalUrl = (protocols: string[]) =>
  z
    .string()
    .url()
    .refine((v) => URL.canParse(v) && protocols.includes(new URL(v).protocol), { message: `must use ${protocols.join(' or ')}` })
    .optional();

/** A comma-separated list, each entry trimmed, empty entries dropped. */
export function splitList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}
