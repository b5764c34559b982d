// What admitting a token's tenant adds to a verification: `Authenticator.verify` on a remembered
// token (what every request and upgrade after the first costs) with and without the tenant check,
// and the first verification of a token (signature and claims) with and without it, over 10,000
// tenants held in memory. Usage: node --import tsx bench/admission.ts [rounds]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Authenticator } from '../src/server/auth.js';

const rounds = Number(process.argv[2] ?? 5);
const dir = mkdtempSync(path.join(tmpdir(), 'veza-admission-'));
const TENANTS = 10_000;
const statuses = new Map<string, 'active' | 'suspended'>();
for (let i = 0; i < TENANTS; i++) statuses.set(`label-${i}`, i % 10 === 0 ? 'suspended' : 'active');
const admit = (tenantId: string) => {
  const status = statuses.get(tenantId);
  if (status !== 'active') throw new Error(status ? 'suspended' : 'unknown');
};

async function authenticator(withAdmission: boolean): Promise<Authenticator> {
  const auth = await Authenticator.create({ settings: { jwtSecret: 'admission-bench-secret-admission-bench-secret' }, dataDir: dir });
  if (withAdmission) auth.admitTenantsWith(admit);
  return auth;
}

/** ns per call of `fn` over `n` calls. */
function time(n: number, fn: (i: number) => void): number {
  const started = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn(i);
  return Number(process.hrtime.bigint() - started) / n;
}

const tokens: string[] = [];
const signer = await authenticator(false);
for (let i = 0; i < 2_000; i++) tokens.push(await signer.sign({ sub: `user-${i}`, tenant: `label-${(i % (TENANTS / 10)) * 10 + 1}`, docs: { '*': 'editor' } }));

const results: Record<string, number[]> = { 'remembered token, no tenant check': [], 'remembered token, tenant check': [], 'first verification, no tenant check': [], 'first verification, tenant check': [] };
for (let round = 0; round < rounds; round++) {
  for (const withAdmission of [false, true]) {
    const label = withAdmission ? 'tenant check' : 'no tenant check';
    const first = await authenticator(withAdmission);
    results[`first verification, ${label}`]!.push(time(tokens.length, (i) => first.verify(tokens[i]!)));
    results[`remembered token, ${label}`]!.push(time(1_000_000, (i) => first.verify(tokens[i % tokens.length]!)));
  }
}
console.log(`admission with ${TENANTS} tenants in memory, ${rounds} rounds (median ns per verification):`);
for (const [label, values] of Object.entries(results)) {
  const sorted = values.toSorted((a, b) => a - b);
  console.log(`  ${label.padEnd(38)} ${sorted[Math.floor(sorted.length / 2)]!.toFixed(0).padStart(8)} ns  (rounds: ${values.map((v) => v.toFixed(0)).join(', ')})`);
}
rmSync(dir, { recursive: true, force: true });
