// A tenant's theme: its name, logo, colours, fonts, and the templates of its emails and reports.
// Everything is validated before it is stored, because the web client, the reports and the live
// page put it into CSS and HTML: colours are hex with enough contrast between text and background
// (WCAG AA, 4.5:1), fonts are family names without any CSS syntax, the logo an https URL or a small
// data: image, and templates use `{{variable}}` with only the variables their kind knows.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { ReportBrand } from '../insights/report.js';
import { escapeHtml } from '../shared/html.js';
import type { Storage } from '../storage/database.js';

/** The web client's own look; a tenant without a theme of its own gets it. */
export const DEFAULT_THEME: Theme = {
  name: 'Veza Studio',
  logo: null,
  colours: { background: '#111316', surface: '#1a1d21', text: '#e6e8eb', muted: '#8b929c', accent: '#2b4bc0', accentText: '#ffffff' },
  fonts: { body: 'system-ui, sans-serif', heading: 'system-ui, sans-serif' },
  templates: {},
};

/** Least contrast between a text colour and what it is drawn on (WCAG 2 AA for body text). */
export const MIN_CONTRAST = 4.5;
const MAX_LOGO_BYTES = 64 * 1024;

/** The variables each template may name. */
export const TEMPLATE_VARIABLES = {
  emailSubject: ['tenant', 'recipient'],
  emailBody: ['tenant', 'recipient', 'link'],
  reportHeader: ['tenant', 'creator', 'from', 'to'],
  reportFooter: ['tenant', 'creator', 'from', 'to'],
} as const;
export type TemplateName = keyof typeof TEMPLATE_VARIABLES;

const hexColour = z.string().regex(/^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/, 'a colour is #rgb or #rrggbb');

// One family: a generic name, a bare name of letters, digits, spaces and hyphens, or the same quoted.
const FAMILY = `(?:"[A-Za-z0-9 -]{1,60}"|'[A-Za-z0-9 -]{1,60}'|[A-Za-z][A-Za-z0-9 -]{0,59})`;
const FONT_LIST = new RegExp(`^\\s*${FAMILY}\\s*(?:,\\s*${FAMILY}\\s*){0,5}$`);
const fontFamily = z.string().max(200).regex(FONT_LIST, 'a font is a list of family names (letters, digits, spaces and -, quoted or not, separated by commas), nothing else');

const logo = z
  .string()
  .max(Math.ceil((MAX_LOGO_BYTES * 4) / 3) + 200, `a logo is at most ${MAX_LOGO_BYTES} bytes`)
  .refine((value) => {
    if (value.startsWith('data:')) return true;
    try {
      return new URL(value).protocol === 'https:';
    } catch {
      return false;
    }
  }, 'a logo is an https: URL or a data: image')
  .superRefine((value, ctx) => {
    if (!value.startsWith('data:')) return;
    const match = /^data:image\/(png|jpeg|gif|webp|svg\+xml);base64,([A-Za-z0-9+/]+={0,2})$/.exec(value);
    if (!match) return void ctx.addIssue({ code: 'custom', message: 'a data: logo is a base64 png, jpeg, gif, webp or svg+xml image' });
    const bytes = Buffer.from(match[2]!, 'base64').length;
    if (bytes > MAX_LOGO_BYTES) ctx.addIssue({ code: 'custom', message: `a data: logo is at most ${MAX_LOGO_BYTES} bytes; this one is ${bytes}` });
  });

function template(name: TemplateName, max: number) {
  const known = new Set<string>(TEMPLATE_VARIABLES[name]);
  return z
    .string()
    .max(max)
    .superRefine((value, ctx) => {
      for (const problem of templateProblems(value, known)) ctx.addIssue({ code: 'custom', message: problem });
    });
}

export const themeSchema = z
  .object({
    name: z.string().trim().min(1).max(80).regex(/^[^\p{Cc}<>]*$/u, 'a name has no control characters, < or >'),
    logo: logo.nullable().default(null),
    colours: z
      .object({ background: hexColour, surface: hexColour, text: hexColour, muted: hexColour, accent: hexColour, accentText: hexColour })
      .strict()
      .superRefine((c, ctx) => {
        const pairs: [keyof typeof c, keyof typeof c][] = [['text', 'background'], ['text', 'surface'], ['accentText', 'accent']];
        for (const [fg, bg] of pairs) {
          const ratio = contrast(c[fg], c[bg]);
          if (ratio < MIN_CONTRAST) ctx.addIssue({ code: 'custom', path: [fg], message: `${fg} ${c[fg]} on ${bg} ${c[bg]} has a contrast of ${ratio.toFixed(2)}:1; at least ${MIN_CONTRAST}:1 is needed` });
        }
      }),
    fonts: z.object({ body: fontFamily, heading: fontFamily }).strict(),
    templates: z
      .object({
        emailSubject: template('emailSubject', 200),
        emailBody: template('emailBody', 10_000),
        reportHeader: template('reportHeader', 2_000),
        reportFooter: template('reportFooter', 2_000),
      })
      .partial()
      .strict()
      .default({}),
  })
  .strict();

export type Theme = z.output<typeof themeSchema>;

/** What is wrong with a template: unknown variables, and braces that open no placeholder or close none. */
export function templateProblems(value: string, known: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  const rest = value.replace(/\{\{\s*([^{}]*?)\s*\}\}/g, (_whole, name: string) => {
    if (!known.has(name)) problems.push(`unknown template variable {{${name.slice(0, 40)}}}; known: ${[...known].map((k) => `{{${k}}}`).join(', ')}`);
    return '';
  });
  if (rest.includes('{{') || rest.includes('}}')) problems.push('a {{ without its }} (or the reverse); placeholders read {{variable}}');
  return problems;
}

/** Fills `{{variable}}`s; each value goes through `escape` (HTML for reports, none for a subject). */
export function renderTemplate(value: string, variables: Record<string, string>, escape: (text: string) => string = (text) => text): string {
  return value
    .split(/(\{\{\s*[^{}]*?\s*\}\})/)
    .map((part) => {
      const name = /^\{\{\s*([^{}]*?)\s*\}\}$/.exec(part)?.[1];
      return name === undefined ? escape(part) : escape(variables[name] ?? '');
    })
    .join('');
}

/** WCAG 2 contrast ratio of two hex colours, 1 to 21. */
export function contrast(a: string, b: string): number {
  const [la, lb] = [luminance(a), luminance(b)];
  return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
}

function luminance(hex: string): number {
  const digits = hex.length === 4 ? [...hex.slice(1)].map((d) => d + d).join('') : hex.slice(1);
  const [r, g, b] = [0, 2, 4].map((i) => {
    const c = parseInt(digits.slice(i, i + 2), 16) / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
}


/** A theme as a report wears it: a header band in its colours, its font, its templates filled. */
export function reportBrand(theme: Theme, report: { creator: string; from: string; to: string }): ReportBrand {
  const variables = { tenant: theme.name, ...report };
  const { reportHeader, reportFooter } = theme.templates;
  return {
    name: theme.name,
    logo: theme.logo?.startsWith('data:') ? theme.logo : null,
    colours: { background: theme.colours.background, text: theme.colours.text, muted: theme.colours.muted, accent: theme.colours.accent },
    fontFamily: theme.fonts.body,
    ...(reportHeader ? { headerHtml: renderTemplate(reportHeader, variables, escapeHtml) } : {}),
    ...(reportFooter ? { footerHtml: renderTemplate(reportFooter, variables, escapeHtml) } : {}),
  };
}

export interface Branding {
  tenantId: string;
  /** False while the tenant uses the default theme. */
  custom: boolean;
  theme: Theme;
  etag: string;
}

/** Each tenant's theme, read through row-level security and held in memory until it changes. */
export class BrandingStore {
  private readonly held = new Map<string, Branding>();

  constructor(private readonly storage: Storage) {}

  async get(tenantId: string): Promise<Branding> {
    const held = this.held.get(tenantId);
    if (held) return held;
    const row = await this.storage.withTenant(tenantId, (trx) => trx.selectFrom('tenant_branding').select('theme').where('tenant_id', '=', tenantId).executeTakeFirst());
    // What was stored passed the schema; parsing again fills defaults added since.
    const parsed = row ? themeSchema.safeParse(row.theme) : null;
    const branding = parsed?.success ? brandingOf(tenantId, true, parsed.data) : brandingOf(tenantId, false, DEFAULT_THEME);
    this.held.set(tenantId, branding);
    return branding;
  }

  async put(tenantId: string, theme: Theme): Promise<Branding> {
    const json = JSON.stringify(theme);
    await this.storage.withTenant(tenantId, (trx) =>
      trx
        .insertInto('tenant_branding')
        .values({ tenant_id: tenantId, theme: json })
        .onConflict((c) => c.column('tenant_id').doUpdateSet({ theme: json, updated_at: new Date() }))
        .execute(),
    );
    const branding = brandingOf(tenantId, true, theme);
    this.held.set(tenantId, branding);
    return branding;
  }

  /** Another node changed it: read it again when next asked. */
  forget(tenantId: string): void {
    this.held.delete(tenantId);
  }
}

function brandingOf(tenantId: string, custom: boolean, theme: Theme): Branding {
  const etag = `"${createHash('sha256').update(JSON.stringify({ tenantId, custom, theme })).digest('base64url').slice(0, 27)}"`;
  return { tenantId, custom, theme, etag };
}
