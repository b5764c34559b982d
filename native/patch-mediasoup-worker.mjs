#!/usr/bin/env node
// Rewrites a copy of mediasoup's worker build files so that meson links Debian's packages
// (pkg-config `dependency()`s) instead of `subproject()`s, which would download their sources.
//
//   node native/patch-mediasoup-worker.mjs <worker dir> <mediasoup version>
//
// Idempotent: a patched file starts with MARKER and is left alone. Any text this script does not
// expect stops it with an error that names the mediasoup version, so that a mediasoup upgrade that
// changes the build files fails here, loudly, instead of building something else.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const MARKER = "# veza: patched by native/patch-mediasoup-worker.mjs to use Debian's packages";

// allow_fallback: false: a missing package is an error naming it, never a bundled copy.
const SYSTEM_DEPENDENCIES = `# veza: Debian's packages in place of the subprojects above.
openssl_dep = dependency('openssl', allow_fallback: false)
nlohmann_json_dep = dependency('nlohmann_json', allow_fallback: false)
libuv_dep = dependency('libuv', allow_fallback: false)
# The worker includes <srtp.h>; Debian installs it in <includedir>/srtp2.
libsrtp2_system_dep = dependency('libsrtp2', allow_fallback: false)
libsrtp2_dep = declare_dependency(
  dependencies: libsrtp2_system_dep,
  include_directories: include_directories(libsrtp2_system_dep.get_variable(pkgconfig: 'includedir') / 'srtp2'),
)
usrsctp_dep = dependency('usrsctp', allow_fallback: false)
absl_container_dep = [
  dependency('absl_flat_hash_map', allow_fallback: false),
  dependency('absl_flat_hash_set', allow_fallback: false),
  dependency('absl_btree', allow_fallback: false),
  dependency('absl_inlined_vector', allow_fallback: false),
]
absl_strings_dep = dependency('absl_strings', allow_fallback: false)
absl_types_dep = [
  dependency('absl_optional', allow_fallback: false),
  dependency('absl_variant', allow_fallback: false),
  dependency('absl_span', allow_fallback: false),
]
# Catch2 is only for the worker's own tests, which are not built here.
catch2_dep = dependency('catch2', required: false, allow_fallback: false)
`;

// What each subproject variable becomes: a name defined in SYSTEM_DEPENDENCIES, or null for the
// subprojects' static libraries, whose lines leave `link_whole` (Debian's libraries are shared).
const VARIABLES = {
  openssl_dep: 'openssl_dep',
  libcrypto_lib: null,
  libssl_lib: null,
  nlohmann_json_dep: 'nlohmann_json_dep',
  libuv_dep: 'libuv_dep',
  libuv: null,
  libsrtp2_dep: 'libsrtp2_dep',
  libsrtp2: null,
  usrsctp_dep: 'usrsctp_dep',
  usrsctp: null,
  absl_container_dep: 'absl_container_dep',
  absl_container_lib: null,
  absl_strings_dep: 'absl_strings_dep',
  absl_types_dep: 'absl_types_dep',
  catch2_dep: 'catch2_dep',
};

const FILES = [
  {
    file: 'meson.build',
    subprojects: ['openssl', 'nlohmann_json', 'libuv', 'libsrtp2', 'usrsctp', 'abseil-cpp', 'catch2'],
    defineDependencies: true,
    // Debian 12 has meson 1.0.1, which builds this file fine.
    replace: [["meson_version: '>= 1.1.0'", "meson_version: '>= 1.0.1'"]],
  },
  { file: 'deps/libwebrtc/meson.build', subprojects: ['abseil-cpp'], defineDependencies: false, replace: [] },
];

// A top-level `name_proj = subproject('name', ...)` block; the Windows-only one is indented and stays.
const SUBPROJECT_BLOCK = /^(\w+)_proj = subproject\(\n {2}'([\w-]+)',\n[\s\S]*?^\)\n/gm;
const GET_VARIABLE = /(\w+)_proj\.get_variable\('(\w+)'\)/g;

// `abseil-cpp` is held in `abseil_cpp_proj`; deps/libwebrtc uses the top level's variables too.
const REPLACED = new Set(FILES.flatMap((spec) => spec.subprojects.map((name) => name.replaceAll('-', '_'))));

function patch(text, spec, fail) {
  const found = [];
  let firstBlockAt = -1;
  let out = text.replace(SUBPROJECT_BLOCK, (block, variable, name, offset) => {
    found.push(name);
    if (firstBlockAt < 0) firstBlockAt = offset;
    return firstBlockAt === offset && spec.defineDependencies ? SYSTEM_DEPENDENCIES : '';
  });
  if (found.join() !== spec.subprojects.join()) {
    fail(`expected the subprojects [${spec.subprojects.join(', ')}], found [${found.join(', ')}]`);
  }
  out = out.replace(GET_VARIABLE, (expression, variable, name) => {
    if (!REPLACED.has(variable)) return expression;
    if (!(name in VARIABLES)) fail(`unknown subproject variable ${expression}`);
    return VARIABLES[name] ?? '\0';
  });
  // A static library's line (`  libuv_proj.get_variable('libuv'),`) goes away entirely.
  out = out.replace(/^[ \t]*\0,?\n/gm, '');
  if (out.includes('\0')) fail('a subproject library is used outside a list of one per line');
  for (const [from, to] of spec.replace) {
    if (!out.includes(from)) fail(`expected the text ${JSON.stringify(from)}`);
    out = out.replace(from, to);
  }
  const left = [...out.matchAll(/^\S.*\bsubproject\(/gm)].map((m) => m[0]);
  if (left.length > 0) fail(`subprojects left after patching: ${left.join('; ')}`);
  return `${MARKER}\n${out}`;
}

function main() {
  const [workerDir, version] = process.argv.slice(2);
  if (!workerDir || !version) {
    console.error('usage: node native/patch-mediasoup-worker.mjs <worker dir> <mediasoup version>');
    process.exit(2);
  }
  for (const spec of FILES) {
    const file = path.join(workerDir, spec.file);
    const text = readFileSync(file, 'utf8');
    if (text.startsWith(MARKER)) {
      console.error(`  ${spec.file}: already patched`);
      continue;
    }
    const fail = (why) => {
      throw new Error(`mediasoup ${version}: ${spec.file}: ${why}. This patch was written for mediasoup 3.12's build files; update native/patch-mediasoup-worker.mjs for ${version}.`);
    };
    writeFileSync(file, patch(text, spec, fail));
    console.error(`  ${spec.file}: ${spec.subprojects.join(', ')} → system dependencies`);
  }
}

try {
  main();
} catch (error) {
  console.error(`patch-mediasoup-worker: ${error.message}`);
  process.exit(1);
}
