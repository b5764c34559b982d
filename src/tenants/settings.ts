// The platform's tenants: how long a deleted tenant's data is kept after its export; tenants' own
// domains: the platform's hosts, and how a domain's ownership is checked.
import { z } from 'zod';
import { bool, int, splitList, type SettingsGroup, type SettingsOf } from '../shared/settings.js';

/** What the tenants module reads. */
export const tenantsSettings = {
  deletionGraceDays: {
    env: 'VEZA_TENANT_DELETION_GRACE_DAYS',
    flag: 'tenant-deletion-grace-days',
    schema: int(0, 3650).default(30),
    doc: "Days between a tenant's export and the purge of its data, when the deletion request names no grace period; resume cancels in between",
  },
  platformHosts: {
    env: 'VEZA_PLATFORM_HOSTS',
    flag: 'platform-hosts',
    schema: z.string().default('').transform(splitList),
    doc: "Comma-separated host names of the platform itself (the default tenant's); the TLS `ask` endpoint vouches for them, and no tenant may claim them",
  },
  domainVerifyPort: {
    env: 'VEZA_DOMAIN_VERIFY_PORT',
    flag: 'domain-verify-port',
    schema: int(1, 65535).default(80),
    doc: "Port of the tenant's HTTP server that a domain's verification token is fetched from",
  },
  domainVerifyPrivate: {
    env: 'VEZA_DOMAIN_VERIFY_PRIVATE',
    flag: 'domain-verify-private',
    schema: bool.default(false),
    doc: 'Let verification fetch from loopback and private addresses (`*.localhost` resolves to 127.0.0.1); for tests and closed networks only',
  },
} as const satisfies SettingsGroup;

export type TenantsSettings = SettingsOf<typeof tenantsSettings>;
