// The shape of src/: no import cycles (type imports included: a cycle of types still ties the files
// together, and the next value import along it breaks module loading order), no file so long that it
// holds more than one thing, and a server core (src/server/) that knows no module.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const srcDir = path.join(root, 'src');
const MAX_LINES = 500;

const sourceFiles = readdirSync(srcDir, { recursive: true })
  .map(String)
  .filter((name) => /\.(ts|mjs)$/.test(name))
  .map((name) => path.join(srcDir, name))
  .sort();

/** Relative specifiers of a module: static imports and re-exports (`type` ones too), bare imports, `import('…')`. */
function specifiers(source: string): string[] {
  const patterns = [
    /^\s*(?:import|export)\s+(?:type\s+)?[\w\s{},*$]*?\bfrom\s*['"]([^'"]+)['"]/gm,
    /^\s*import\s*['"]([^'"]+)['"]/gm,
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  return patterns.flatMap((pattern) => [...source.matchAll(pattern)].map((m) => m[1]!)).filter((spec) => spec.startsWith('.'));
}

/** The file a specifier names: `.js` is the `.ts` (or `.mjs`) source under tsx and tsc. */
function resolveSpecifier(from: string, spec: string): string | null {
  const target = path.resolve(path.dirname(from), spec);
  const candidates = [target, target.replace(/\.js$/, '.ts'), target.replace(/\.js$/, '.mjs')];
  return candidates.find((candidate) => existsSync(candidate) && sourceFiles.includes(candidate)) ?? null;
}

function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles) {
    const targets = specifiers(readFileSync(file, 'utf8')).flatMap((spec) => resolveSpecifier(file, spec) ?? []);
    graph.set(file, [...new Set(targets)]);
  }
  return graph;
}

/** Strongly connected components of more than one file, or of one file importing itself (Tarjan). */
function cycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || graph.get(v)!.includes(v)) found.push(component);
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

/** One import path around a component, from its first file back to it: `a.ts → b.ts → a.ts`. */
function describeCycle(graph: Map<string, string[]>, component: string[]): string {
  const members = new Set(component);
  const start = [...component].sort()[0]!;
  const previous = new Map<string, string>();
  const queue = [start];
  let last: string | undefined;
  while (queue.length > 0 && last === undefined) {
    const v = queue.shift()!;
    for (const w of graph.get(v)!) {
      if (!members.has(w)) continue;
      if (w === start) {
        last = v;
        break;
      }
      if (!previous.has(w)) {
        previous.set(w, v);
        queue.push(w);
      }
    }
  }
  const loop = [start];
  for (let v = last!; v !== start; v = previous.get(v)!) loop.splice(1, 0, v);
  loop.push(start);
  const name = (file: string) => path.relative(srcDir, file);
  const others = component.filter((file) => !loop.includes(file)).map(name);
  return loop.map(name).join(' → ') + (others.length > 0 ? ` (with ${others.join(', ')})` : '');
}

describe('src/', () => {
  it('has no import cycle', () => {
    const graph = importGraph();
    const found = cycles(graph).map((component) => describeCycle(graph, component));
    expect(found, `import cycles in src/:\n${found.join('\n')}`).toEqual([]);
  });

  it('keeps the server core free of modules: src/server/ imports only itself, storage, shared helpers, logs and the version', () => {
    const allowed = ['server/', 'storage/', 'shared/', 'log.ts', 'version.ts'];
    const graph = importGraph();
    const reaching = [...graph]
      .filter(([file]) => path.relative(srcDir, file).startsWith('server/'))
      .flatMap(([file, targets]) => targets.map((target) => ({ from: path.relative(srcDir, file), to: path.relative(srcDir, target) })))
      .filter(({ to }) => !allowed.some((prefix) => to.startsWith(prefix)))
      .map(({ from, to }) => `${from} → ${to}`);
    expect(reaching, `src/server/ imports a module (modules reach the core through their start context):\n${reaching.join('\n')}`).toEqual([]);
  });

  it(`has no file over ${MAX_LINES} lines`, () => {
    const long = sourceFiles
      .map((file) => {
        const text = readFileSync(file, 'utf8');
        return { file: path.relative(srcDir, file), lines: text.split('\n').length - (text.endsWith('\n') ? 1 : 0) };
      })
      .filter(({ lines }) => lines > MAX_LINES)
      .map(({ file, lines }) => `${file} (${lines} lines)`);
    expect(long, `files over ${MAX_LINES} lines in src/ (split them by what they hold):\n${long.join('\n')}`).toEqual([]);
  });
});
