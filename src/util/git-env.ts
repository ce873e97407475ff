/** Who trail's own git writes are by when nobody else is named (notes commits, merges,
 * reflog entries). git refuses to commit without an identity, and on a fresh host whose
 * hostname has no domain it cannot make one up ("unable to auto-detect email address"), so
 * trail never relies on the host's git config for it. */
export const TRAIL_IDENTITY = { name: 'trail', email: 'trail@localhost' } as const;

/** A clean environment for git: nothing inherited may redirect it to another repository or
 * change how it writes (GIT_DIR, GIT_INDEX_FILE, a user's global or the system config…), and
 * an identity of trail's own so that no write depends on the host's git config. */
export function gitEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GIT_')) env[k] = v;
  return {
    ...env,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    LC_ALL: 'C',
    GIT_AUTHOR_NAME: TRAIL_IDENTITY.name,
    GIT_AUTHOR_EMAIL: TRAIL_IDENTITY.email,
    GIT_COMMITTER_NAME: TRAIL_IDENTITY.name,
    GIT_COMMITTER_EMAIL: TRAIL_IDENTITY.email,
    ...extra,
  };
}
