/** Who trail's own git writes are by when nobody else is named (notes commits, merges,
 * reflog entries). git refuses to commit without an identity, and on a fresh host whose
 * hostname has no domain it cannot make one up ("unable to auto-detect email address"), so
 * trail never relies on the host's git config for it. */
export const TRAIL_IDENTITY = { name: 'trail', email: 'trail@localhost' } as const;

/** Settings every git of trail's runs with, whatever the repository's own config says (a
 * repository made by an older trail included). core.fsync=all: git flushes what it writes —
 * refs above all — before it says done. By default it flushes packs only, so after a power
 * cut a ref could go back to an older commit that had already been pushed: the publisher
 * would then take the remote for someone else's and raise a false "rewound" alarm. trail's
 * own object writes are flushed by trail (record/store). */
const CONFIG: readonly (readonly [string, string])[] = [['core.fsync', 'all']];

/** A clean environment for git: nothing inherited may redirect it to another repository or
 * change how it writes (GIT_DIR, GIT_INDEX_FILE, a user's global or the system config…), and
 * an identity of trail's own so that no write depends on the host's git config. Settings
 * `extra` gives through GIT_CONFIG_COUNT (a token's header) come after trail's own. */
export function gitEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GIT_')) env[k] = v;
  const config: NodeJS.ProcessEnv = { GIT_CONFIG_COUNT: String(CONFIG.length) };
  CONFIG.forEach(([k, v], i) => {
    config[`GIT_CONFIG_KEY_${i}`] = k;
    config[`GIT_CONFIG_VALUE_${i}`] = v;
  });
  const rest: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(extra)) {
    const m = /^GIT_CONFIG_(KEY|VALUE)_(\d+)$/.exec(k);
    if (m) config[`GIT_CONFIG_${m[1]}_${CONFIG.length + Number(m[2])}`] = v;
    else if (k === 'GIT_CONFIG_COUNT') config.GIT_CONFIG_COUNT = String(CONFIG.length + Number(v));
    else rest[k] = v;
  }
  return {
    ...env,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    LC_ALL: 'C',
    GIT_AUTHOR_NAME: TRAIL_IDENTITY.name,
    GIT_AUTHOR_EMAIL: TRAIL_IDENTITY.email,
    GIT_COMMITTER_NAME: TRAIL_IDENTITY.name,
    GIT_COMMITTER_EMAIL: TRAIL_IDENTITY.email,
    ...config,
    ...rest,
  };
}
