import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
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

/** Bytes of copies written before git diffs them: a huge change takes a git per batch, and
 * never needs its whole size in the temp folder. */
const BATCH_BYTES = 64 << 20;

/** A unified diff of the content of changed paths, made by git from temp copies: every pair
 * written as a/<n> and b/<n>, then one `git diff --no-index` of the two folders per batch
 * (one git per path before: 25 changed files took 25 processes). Secret content is never
 * shown. */
export async function patchFor(
  repo: Repo,
  a: Side,
  b: Side,
  changes: Change[],
  batchBytes = BATCH_BYTES,
): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'trail-diff-'));
  // Per change, in order: a note of its own (a secret), or the pair's number in the folders.
  const items: ({ note: string } | { n: number; from: string; to: string })[] = [];
  try {
    const bodies = new Map<number, string>();
    let n = 0;
    let batched = 0;
    let bytes = 0;
    const flush = async () => {
      if (batched < n) for (const [k, v] of await diffFolders(dir)) bodies.set(k, v);
      batched = n;
      bytes = 0;
      for (const side of ['a', 'b']) {
        rmSync(join(dir, side), { recursive: true, force: true });
        mkdirSync(join(dir, side));
      }
    };
    await flush();
    for (const c of changes) {
      if (c.change === 'metadata' && c.after?.kind !== 'symlink') continue;
      const label = display(c.path);
      if (c.before?.secret || c.after?.secret) {
        items.push({ note: `--- ${label}\n+++ ${label}\n(secret: content stays on the host and is not shown)\n` });
        continue;
      }
      const [x, y] = await Promise.all([bytesOf(repo, a, c.path), bytesOf(repo, b, c.path)]);
      if (x === undefined && y === undefined) continue;
      writeFileSync(join(dir, 'a', String(n)), x ?? '');
      writeFileSync(join(dir, 'b', String(n)), y ?? '');
      items.push({
        n: n++,
        from: x === undefined ? '/dev/null' : `a/${label}`,
        to: y === undefined ? '/dev/null' : `b/${label}`,
      });
      bytes += (x?.length ?? 0) + (y?.length ?? 0);
      if (bytes >= batchBytes) await flush();
    }
    await flush();
    return items
      .map((it) => {
        if ('note' in it) return it.note;
        const body = bodies.get(it.n);
        return body ? `--- ${it.from}\n+++ ${it.to}\n${sanitize(body)}` : '';
      })
      .join('');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The hunks of each pair that differs, by its number. Lines of content in a diff start with
 * a space, + or -, so a line starting "diff --git " is always git's own header. */
async function diffFolders(dir: string): Promise<Map<number, string>> {
  const r = await run('git', ['diff', '--no-index', '--no-color', '--text', '--', 'a', 'b'], {
    cwd: dir,
    okCodes: [0, 1],
    // gitEnv, not only no config: a GIT_EXTERNAL_DIFF or GIT_DIFF_OPTS of the caller's
    // environment would change what the patch shows.
    env: gitEnv(),
  });
  const out = new Map<number, string>();
  for (const part of r.stdout.toString('utf8').split(/^(?=diff --git )/m)) {
    const n = /^diff --git a\/a\/(\d+) /.exec(part)?.[1];
    const hunk = part.search(/^@@ /m);
    if (n !== undefined && hunk >= 0) out.set(Number(n), part.slice(hunk));
  }
  return out;
}

/** Escape sequences in file content must not reach the terminal raw. */
function sanitize(text: string): string {
  return text.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
