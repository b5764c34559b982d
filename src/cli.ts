import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { allSettings, ConfigError, loadConfig, settings, type Config } from './config.js';
import { Authenticator, AuthError, documentRoles, type DocumentRole } from './server/auth.js';
import { formatStartupReport } from './startup-report.js';
import { DatabaseInUseError } from './storage/directory-lock.js';
import { VERSION } from './version.js';

const USAGE = `veza ${VERSION}: realtime server for making music together

Usage:
  veza serve [--port P] [--data-dir D] [flags]   start the server (default port 8080)
  veza token --sub USER [--doc DOC --role owner|editor|viewer] [--tenant T] [--ttl SECONDS] [--admin] [--operator]
                                                 print a token the server with the same config accepts
                                                 (--operator: the platform operator's, for /api/v1/platform)
  veza tenant create ID --name NAME | list | show ID | suspend ID | resume ID | delete ID [--grace-seconds S]
                                                 the platform's tenants, in the database of the flags below,
                                                 or through the server that holds its embedded database;
                                                 delete exports the tenant's data, then purges it after
                                                 the grace period (default 30 days; resume cancels)
  veza tenant quotas ID [--plan free|studio|label|unlimited [--overrides '{"connections":500}']]
                                                 show a tenant's plan and limits, or place it on a plan
  veza tenant invoice ID --period YYYY-MM [--format csv]
                                                 a tenant's invoice for a month, as JSON or CSV
  veza tenant key create ID --name NAME --scopes AREA:read|write,... | key list ID | key rotate KEY
      [--overlap SECONDS] | key revoke KEY        a tenant's API keys (the secret is printed once)
  veza tenant credentials ID [--hs256-secret-file F | --jwks-file F] [--platform-tokens true|false]
      [--issuer ISS] [--audience AUD] | --remove true
                                                 show or set a tenant's own identity provider
  veza migrate [flags]                           bring the database schema up to date and exit
  veza recommend train [--tenant T]              train the tenant's recommendation model now (default tenant:
                                                 default), with progress; running servers pick it up
  veza session export ID [--tenant T] [--url URL] > FILE
                                                 write a session's bundle (its whole history) to stdout
  veza session import FILE|- [--as ID] [--tenant T] [--url URL]
                                                 add a session from a bundle; refused, with nothing written,
                                                 when it is damaged, another tenant's, or its id is taken
                                                 (without --url: straight into the database of the flags
                                                 below, for the embedded one only while no server runs on it)
  veza master IN --out OUT [--target -14] [--genre G] [--reference REF] [--format wav|wav16|flac|mp3|aac]
      [--title T] [--artist A]                   master a mix on this machine (presets -14, -16, -23, -9 LUFS;
                                                 genre auto: the classifier picks), with progress; prints
                                                 the before and after loudness and suggestions as JSON
  veza --version | --help

Every setting is an environment variable or a flag (flags win):
${allSettings
  .map((s) => `  --${s.flag.padEnd(36)} ${s.env}`)
  .join('\n')}
`;

const booleanFlags = new Set<string>([settings.server.trustProxy.flag, settings.server.dev.flag]);

/** Splits argv into the command, the config flags and the command's own options. */
function parse(argv: string[], own: readonly string[], ownBoolean: readonly string[] = []) {
  const options: Record<string, { type: 'string' | 'boolean' }> = {};
  for (const s of allSettings) options[s.flag] = { type: booleanFlags.has(s.flag) ? 'boolean' : 'string' };
  for (const o of own) options[o] = { type: 'string' };
  for (const o of ownBoolean) options[o] = { type: 'boolean' };
  options.help = { type: 'boolean' };
  const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  const flags: Record<string, string> = {};
  const mine: Record<string, string> = {};
  for (const [key, value] of Object.entries(values)) {
    if (key === 'help') continue;
    if (own.includes(key) || ownBoolean.includes(key)) mine[key] = String(value);
    else flags[key] = String(value);
  }
  return { flags, mine, positionals, help: values.help === true };
}

async function serve(config: Config): Promise<void> {
  const unusable = (await import('./server/uws.js')).uwsUnusableReason();
  if (unusable) throw new UsageError(unusable);
  const { startVeza } = await import('./main.js');
  const veza = await startVeza(config);
  const { logger } = veza;
  if (config.server.dev || process.stderr.isTTY) process.stderr.write(formatStartupReport(veza.report));
  let signals = 0;
  const stop = async (reason: string, code: number) => {
    if (++signals > 1) {
      logger.warn({ reason }, 'second signal: exiting now');
      process.exit(1);
    }
    logger.info({ reason }, 'shutting down');
    setTimeout(() => {
      logger.error('shutdown deadline passed; exiting');
      process.exit(1);
    }, config.server.shutdownTimeoutMs + 2000).unref();
    const clean = await veza.shutdown();
    logger.info({ clean }, 'stopped');
    process.exit(clean ? code : 1);
  };
  process.on('SIGTERM', () => void stop('SIGTERM', 0));
  process.on('SIGINT', () => void stop('SIGINT', 0));
  process.on('unhandledRejection', (error) => logger.error({ err: error }, 'unhandled rejection'));
  process.on('uncaughtException', (error) => {
    logger.fatal({ err: error }, 'uncaught exception');
    void stop('uncaughtException', 1);
  });
}

async function token(config: Config, options: Record<string, string>): Promise<void> {
  if (!options.sub) throw new UsageError('token needs --sub USER');
  if ((options.doc === undefined) !== (options.role === undefined)) throw new UsageError('--doc and --role go together');
  if (options.role !== undefined && !documentRoles.includes(options.role as DocumentRole)) {
    throw new UsageError(`--role must be one of ${documentRoles.join(', ')}`);
  }
  const ttl = options.ttl === undefined ? undefined : Number(options.ttl);
  if (ttl !== undefined && !(Number.isInteger(ttl) && ttl > 0)) throw new UsageError('--ttl must be a positive number of seconds');
  const auth = await Authenticator.create({ settings: config.auth, dataDir: config.storage.dataDir });
  const jwt = await auth.sign({
    sub: options.sub,
    ...(options.tenant ? { tenant: options.tenant } : {}),
    ...(options.doc ? { docs: { [options.doc]: options.role as DocumentRole } } : {}),
    ...(ttl ? { ttlSeconds: ttl } : {}),
    ...(options.admin === 'true' ? { admin: true } : {}),
    ...(options.operator === 'true' ? { operator: true } : {}),
  });
  process.stdout.write(`${jwt}\n`);
}

async function migrate(config: Config): Promise<void> {
  const { Storage } = await import('./storage/database.js');
  const storage = await Storage.open(config.storage);
  try {
    const applied = await storage.migrate();
    process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'schema is up to date\n');
  } finally {
    await storage.close();
  }
}

/** Trains one tenant's model against the configured database, drawing a progress bar on stderr. */
async function recommendTrain(config: Config, options: Record<string, string>): Promise<void> {
  const { Storage } = await import('./storage/database.js');
  const { RecommendationStore } = await import('./recommendations/store.js');
  const { trainTenant } = await import('./recommendations/trainer.js');
  const { RecommendationError } = await import('./recommendations/errors.js');
  const tenantId = options.tenant ?? 'default';
  const storage = await Storage.open(config.storage);
  try {
    await storage.migrate();
    const tty = process.stderr.isTTY;
    let lastLine = '';
    const result = await trainTenant(new RecommendationStore(storage), config.storage.dataDir, tenantId, {
      onProgress: (p) => {
        const width = 30;
        const filled = Math.round(p.fraction * width);
        const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.round(p.fraction * 100)).padStart(3)}% ${p.phase}: ${p.message}${p.loss === undefined ? '' : ` (loss ${p.loss.toFixed(4)})`}`;
        if (tty) process.stderr.write(`\r${line.padEnd(lastLine.length)}`);
        else process.stderr.write(`${line}\n`);
        lastLine = line;
      },
    }).catch((error: unknown) => {
      if (error instanceof RecommendationError) throw new UsageError(error.message);
      throw error;
    });
    if (tty) process.stderr.write('\n');
    process.stdout.write(`${JSON.stringify({ tenant: tenantId, version: result.version, ...result.summary })}\n`);
  } finally {
    await storage.close();
  }
}

/** A token for this CLI's calls to a server that shares its secret: owner of the tenant's sessions for five minutes. */
async function cliToken(config: Config, tenantId: string): Promise<string> {
  const auth = await Authenticator.create({ settings: config.auth, dataDir: config.storage.dataDir });
  return auth.sign({ sub: 'veza-cli', tenant: tenantId, docs: { '*': 'owner' }, ttlSeconds: 300 });
}

async function problemText(response: Response): Promise<string> {
  const text = await response.text();
  try {
    const problem = JSON.parse(text) as { detail?: string; title?: string };
    return problem.detail ?? problem.title ?? text;
  } catch {
    return text || response.statusText;
  }
}

async function readInput(file: string): Promise<string> {
  if (file !== '-') return readFile(file, 'utf8');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** `veza session export|import`: through a running server's API with --url, else on the database directly. */
async function session(config: Config, positionals: string[], options: Record<string, string>): Promise<void> {
  const [action, target] = positionals;
  const tenantId = options.tenant ?? 'default';
  if ((action !== 'export' && action !== 'import') || !target) throw new UsageError('usage: veza session export ID | veza session import FILE|-');
  const { BundleError, decodeBundle, encodeBundle } = await import('./sessions/bundle.js');
  const { SessionBundles, SessionTransferError } = await import('./sessions/store.js');
  const base = options.url?.replace(/\/+$/, '');
  if (base !== undefined && !URL.canParse(base)) throw new UsageError(`--url ${options.url} is not a URL`);
  if (action === 'export') {
    if (base) {
      const response = await fetch(`${base}/api/v1/sessions/${encodeURIComponent(target)}/bundle`, { headers: { authorization: `Bearer ${await cliToken(config, tenantId)}` } });
      if (!response.ok) throw new UsageError(`export refused (${response.status}): ${await problemText(response)}`);
      process.stdout.write(await response.text());
      return;
    }
    const { Storage } = await import('./storage/database.js');
    const storage = await Storage.open(config.storage);
    try {
      await storage.migrate();
      process.stdout.write(encodeBundle(await new SessionBundles(storage).export(tenantId, target)));
    } catch (error) {
      if (error instanceof SessionTransferError) throw new UsageError(error.message);
      throw error;
    } finally {
      await storage.close();
    }
    return;
  }
  const text = await readInput(target);
  if (base) {
    const query = options.as ? `?as=${encodeURIComponent(options.as)}` : '';
    const response = await fetch(`${base}/api/v1/sessions/import${query}`, { method: 'POST', body: text, headers: { 'content-type': 'application/json', authorization: `Bearer ${await cliToken(config, tenantId)}` } });
    if (!response.ok) throw new UsageError(`import refused (${response.status}): ${await problemText(response)}`);
    process.stdout.write(`${await response.text()}\n`);
    return;
  }
  let bundle;
  try {
    bundle = decodeBundle(text);
  } catch (error) {
    if (error instanceof BundleError) throw new UsageError(`import refused: ${error.message}`);
    throw error;
  }
  const { Storage } = await import('./storage/database.js');
  const storage = await Storage.open(config.storage);
  try {
    await storage.migrate();
    const result = await new SessionBundles(storage).import(tenantId, bundle, options.as ? { as: options.as } : {});
    process.stdout.write(`${JSON.stringify({ ...result, title: bundle.title })}\n`);
  } catch (error) {
    if (error instanceof SessionTransferError) throw new UsageError(`import refused: ${error.message}`);
    throw error;
  } finally {
    await storage.close();
  }
}

class UsageError extends Error {}

export async function main(argv: string[]): Promise<void> {
  const command = argv[0];
  if (!command || command === '--help' || command === 'help') return void process.stdout.write(USAGE);
  if (command === '--version') return void process.stdout.write(`${VERSION}\n`);
  const own = command === 'token' ? ['sub', 'doc', 'role', 'tenant', 'ttl'] : command === 'recommend' ? ['tenant'] : command === 'session' ? ['tenant', 'as', 'url'] : command === 'master' ? ['out', 'target', 'genre', 'reference', 'format', 'title', 'artist'] : command === 'tenant' ? ['name', 'grace-seconds', 'plan', 'overrides', 'period', 'format', 'scopes', 'overlap', 'hs256-secret-file', 'jwks-file', 'platform-tokens', 'issuer', 'audience', 'remove'] : [];
  // `--target -14`: a negative number after an option is its value, not another option.
  const args = argv.slice(1).flatMap((arg, i, all) => (/^-\d/.test(arg) && /^--[a-z-]+$/.test(all[i - 1] ?? '') ? [] : /^--[a-z-]+$/.test(arg) && /^-\d/.test(all[i + 1] ?? '') ? [`${arg}=${all[i + 1]}`] : [arg]));
  const { flags, mine, positionals, help } = parse(args, own, command === 'token' ? ['admin', 'operator'] : []);
  if (help) return void process.stdout.write(USAGE);
  const expected = command === 'recommend' ? ['train'] : command === 'master' ? ['input'] : command === 'session' ? ['action', 'target'] : command === 'tenant' ? ['action', 'target', 'key'] : [];
  if (command === 'recommend' && positionals[0] !== 'train') throw new UsageError('usage: veza recommend train [--tenant T]');
  if (positionals.length > expected.length) throw new UsageError(`unexpected argument ${positionals[expected.length]}`);
  const config = loadConfig(process.env, flags);
  switch (command) {
    case 'serve':
      return serve(config);
    case 'token':
      return token(config, mine);
    case 'migrate':
      return migrate(config);
    case 'recommend':
      return recommendTrain(config, mine);
    case 'session':
      return session(config, positionals, mine);
    case 'master': {
      const { masterCommand, MasterUsageError } = await import('./mastering/cli.js');
      const out = await masterCommand(positionals, mine, config.mastering).catch((error: unknown) => {
        throw error instanceof MasterUsageError ? new UsageError(error.message) : error;
      });
      return void process.stdout.write(out);
    }
    case 'tenant': {
      const { tenantCommand, TenantUsageError } = await import('./tenants/cli.js');
      const out = await tenantCommand(config, positionals, mine).catch((error: unknown) => {
        throw error instanceof TenantUsageError ? new UsageError(error.message) : error;
      });
      return void process.stdout.write(out);
    }
    default:
      throw new UsageError(`unknown command ${command}`);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof ConfigError) {
    process.stderr.write(`veza: ${error.message}\n`);
    process.exit(2);
  }
  if (error instanceof DatabaseInUseError) {
    process.stderr.write(`veza: ${error.message}\n`);
    process.exit(1);
  }
  if (error instanceof UsageError || error instanceof AuthError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    process.stderr.write(`veza: ${(error as Error).message}\nRun 'veza --help' for usage.\n`);
    process.exit(2);
  }
  process.stderr.write(`veza: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
