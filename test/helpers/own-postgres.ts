import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';

/**
 * A PostgreSQL server of the test's own (initdb + pg_ctl on its own port), so a test can stop and
 * restart it without disturbing the shared one. Runs as the `postgres` user when the tests run as
 * root (initdb refuses root).
 */
export class OwnPostgres {
  readonly dir: string;
  private constructor(
    private readonly bin: string,
    readonly port: number,
  ) {
    this.dir = mkdtempSync(path.join(tmpdir(), 'veza-own-pg-'));
  }

  /** Null (with the reason) when the PostgreSQL server binaries are not installed. */
  static find(port: number): OwnPostgres | string {
    const root = '/usr/lib/postgresql';
    const versions = existsSync(root) ? readdirSync(root).sort() : [];
    const bin = versions.map((v) => path.join(root, v, 'bin')).find((b) => existsSync(path.join(b, 'initdb')));
    return bin ? new OwnPostgres(bin, port) : `no initdb under ${root}`;
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  private run(tool: string, args: string[]): void {
    const command = [path.join(this.bin, tool), ...args];
    if (userInfo().uid === 0) execFileSync('su', ['postgres', '-c', command.map((a) => `'${a}'`).join(' ')], { stdio: 'pipe' });
    else execFileSync(command[0]!, command.slice(1), { stdio: 'pipe' });
  }

  init(): void {
    if (userInfo().uid === 0) {
      const pg = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
      const group = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
      chownSync(this.dir, pg, group);
      chmodSync(this.dir, 0o700);
    }
    this.run('initdb', ['-D', path.join(this.dir, 'data'), '-U', 'postgres', '--auth=trust', '--no-sync']);
  }

  start(): void {
    this.run('pg_ctl', ['-D', path.join(this.dir, 'data'), '-l', path.join(this.dir, 'log'), '-w', '-o', `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start']);
  }

  stop(): void {
    this.run('pg_ctl', ['-D', path.join(this.dir, 'data'), '-w', '-m', 'fast', 'stop']);
  }

  remove(): void {
    try {
      this.stop();
    } catch {
      // already stopped
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
