import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EVENTS_PAGE, eventsMarkdown } from '../scripts/docs-events.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const readme = path.join(root, 'README.md');
const docsDir = path.join(root, 'docs');
const docPages = readdirSync(docsDir)
  .filter((name) => name.endsWith('.md'))
  .map((name) => path.join(docsDir, name));
const pages = [readme, ...docPages];

/** Markdown without its fenced code blocks and inline code, where brackets are not links. */
function prose(markdown: string): string {
  return markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '').replace(/`[^`\n]*`/g, '');
}

/** The targets of a page's inline links and reference definitions. */
function linkTargets(markdown: string): string[] {
  const text = prose(markdown);
  const inline = [...text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]!);
  const references = [...text.matchAll(/^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$/gm)].map((m) => m[1]!);
  return [...inline, ...references];
}

/** GitHub's anchors for a page's headings: lowercased, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  for (const match of markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '').matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const base = match[1]!
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    result.add(count === 0 ? base : `${base}-${count}`);
  }
  return result;
}

describe('documentation', () => {
  it('has the event catalog page the catalog generates', () => {
    const written = readFileSync(EVENTS_PAGE, 'utf8').split('\n');
    const generated = eventsMarkdown().split('\n');
    const line = generated.findIndex((text, i) => written[i] !== text);
    const differs = line === -1 ? (written.length === generated.length ? null : generated.length + 1) : line + 1;
    expect(differs, `docs/events.md differs from the event catalog from line ${differs}: run npm run docs:events`).toBeNull();
  });

  it('keeps the README a front page of at most 200 lines', () => {
    const lines = readFileSync(readme, 'utf8').replace(/\n$/, '').split('\n').length;
    expect(lines, 'README.md is the front page; move detail into docs/').toBeLessThanOrEqual(200);
  });

  it('links only to files inside the repository, and to headings that exist', () => {
    const broken: string[] = [];
    for (const page of pages) {
      const from = path.relative(root, page);
      for (const target of linkTargets(readFileSync(page, 'utf8'))) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) {
          // Outside the repository only by a web address (standards, specifications), never a file.
          if (!/^(https?|mailto):/i.test(target)) broken.push(`${from}: ${target} (not a web address)`);
          continue;
        }
        const [file = '', anchor] = target.split('#', 2) as [string, string | undefined];
        const resolved = file ? path.resolve(path.dirname(page), decodeURIComponent(file)) : page;
        const inside = path.relative(root, resolved);
        if (file.startsWith('/') || inside.startsWith('..') || path.isAbsolute(inside)) {
          broken.push(`${from}: ${target} (outside the repository)`);
          continue;
        }
        if (!existsSync(resolved)) {
          broken.push(`${from}: ${target} (no such file)`);
          continue;
        }
        if (anchor && resolved.endsWith('.md') && statSync(resolved).isFile() && !anchors(readFileSync(resolved, 'utf8')).has(anchor.toLowerCase())) {
          broken.push(`${from}: ${target} (no such heading)`);
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it('links every page of docs/ from the README', () => {
    const linked = new Set(
      linkTargets(readFileSync(readme, 'utf8'))
        .filter((target) => !/^[a-z][a-z0-9+.-]*:/i.test(target))
        .map((target) => path.resolve(root, target.split('#')[0]!)),
    );
    const missing = docPages.filter((page) => !linked.has(page)).map((page) => path.relative(root, page));
    expect(missing, 'pages of docs/ the README does not link').toEqual([]);
  });
});
