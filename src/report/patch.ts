import { mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { display } from '../util/bytes.js';
import { run } from '../util/exec.js';
import { gitEnv } from '../util/git-env.js';
import type { Change } from '../record/model/diff.js';
import type { Repo } from '../record/repo/repo.js';
import { abs } from '../record/scanner.js';
import type { Entry } from '../record/model/state.js';

/** Where a side of a diff gets its bytes: a commit (blobs in the repository) or the disk. */
export type Side =
  { kind: 'commit'; entries: Map<string, Entry> } | { kind: 'disk'; root: string; entries: Map<string, Entry> };

async function bytesOf(repo: Repo, side: Side, path: string): Promise<Buffer | undefined> {
  const e = side.entries.get(path);
  if (!e || (e.meta.kind !== 'file' && e.meta.kind !== 'symlink')) return undefined;
  if (side.kind === 'disk') {
    try {
      return e.meta.kind === 'symlink'
        ? readlinkSync(abs(side.root, path), { encoding: 'buffer' })
        : readFileSync(abs(side.root, path));
    } catch {
      return undefined;
    }
  }
  return e.oid ? repo.objects().readBlob(e.oid) : undefined;
}

/** A unified diff of the content of changed paths, made by git (`diff --no-index`) from
 * temp copies. Secret content is never shown. */
export async function patchFor(repo: Repo, a: Side, b: Side, changes: Change[]): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'trail-diff-'));
  const parts: string[] = [];
  try {
    for (const c of changes) {
      if (c.change === 'metadata' && c.after?.kind !== 'symlink') continue;
      const label = display(c.path);
      if (c.before?.secret || c.after?.secret) {
        parts.push(`--- ${label}\n+++ ${label}\n(secret: content stays on the host and is not shown)\n`);
        continue;
      }
      const [x, y] = await Promise.all([bytesOf(repo, a, c.path), bytesOf(repo, b, c.path)]);
      if (x === undefined && y === undefined) continue;
      const fa = join(dir, 'a');
      const fb = join(dir, 'b');
      writeFileSync(fa, x ?? '');
      writeFileSync(fb, y ?? '');
      const r = await run('git', ['diff', '--no-index', '--no-color', '--text', '--', fa, fb], {
        okCodes: [0, 1],
        // gitEnv, not only no config: a GIT_EXTERNAL_DIFF or GIT_DIFF_OPTS of the caller's
        // environment would change what the patch shows.
        env: gitEnv(),
      });
      const body = r.stdout.toString('utf8').split('\n').slice(4).join('\n');
      const from = x === undefined ? '/dev/null' : `a/${label}`;
      const to = y === undefined ? '/dev/null' : `b/${label}`;
      if (body.trim()) parts.push(`--- ${from}\n+++ ${to}\n${sanitize(body)}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return parts.join('');
}

/** Escape sequences in file content must not reach the terminal raw. */
function sanitize(text: string): string {
  return text.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
