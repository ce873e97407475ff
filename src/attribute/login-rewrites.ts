import { userName } from '../util/accounts.js';

/**
 * A login uid says who logged in only if it was set once, by the login. Root may rewrite its
 * own (`echo 1002 > /proc/self/loginuid`, unless loginuid_immutable is set): every later
 * record of that process then names alice, and trail would have committed root's change as
 * hers. The kernel logs each write as a LOGIN record with the login uid it replaced
 * (old-auid): set from unset is a login; replaced, or cleared and then set again by the
 * same process or its child, is a rewrite. The sessions a rewrite opened are remembered, so
 * that a change made in one is not credited to the login uid it chose.
 */
const UNSET = 4294967295;
/** Rewritten sessions and clearing processes remembered (the oldest are forgotten). */
const KEPT = 10_000;

interface Origin {
  auid: number;
  pid: number;
  exe: string;
}

const valid = (n: number) => Number.isSafeInteger(n) && n >= 0 && n !== UNSET;
const who = (auid: number) => `${userName(auid) ?? `uid ${auid}`} (auid ${auid})`;

export class LoginRewrites {
  /** ses → why its login uid is not a login's. */
  private sessions = new Map<number, string>();
  /** ses → the login uid it was rewritten from, to follow a rewrite of a rewrite. */
  private originOf = new Map<number, Origin>();
  /** pid → the login uid it cleared: a LOGIN setting one from unset there (or in its child)
   * is a rewrite too. */
  private cleared = new Map<number, Origin>();

  /**
   * One LOGIN record, with the fields of its SYSCALL record when read (ppid, exe). Returns
   * what to warn about when it was a rewrite or a clearing, else undefined (a login).
   */
  record(login: Map<string, string>, syscall?: Map<string, string>): { rewrite: boolean; what: string } | undefined {
    if (login.get('res') !== '1') return undefined;
    const pid = Number(login.get('pid'));
    const ppid = Number(syscall?.get('ppid'));
    const exe = syscall?.get('exe') ?? 'an unknown program';
    const oldAuid = Number(login.get('old-auid'));
    const auid = Number(login.get('auid'));
    const oldSes = Number(login.get('old-ses'));
    const ses = Number(login.get('ses'));
    const origin: Origin | undefined = valid(oldAuid)
      ? (this.originOf.get(oldSes) ?? { auid: oldAuid, pid, exe })
      : (this.cleared.get(pid) ?? this.cleared.get(ppid));
    if (!origin) return undefined;
    if (!valid(auid)) {
      keep(this.cleared, pid, origin);
      return { rewrite: false, what: `pid ${pid} (${exe}) cleared its login uid, which was ${who(origin.auid)}` };
    }
    const why = `the login uid of session ${ses} was set to ${who(auid)} by pid ${pid} (${exe}), whose login uid was ${who(origin.auid)}: it names whom that process chose, not who logged in`;
    keep(this.sessions, ses, why);
    keep(this.originOf, ses, origin);
    return { rewrite: true, what: why };
  }

  /** Why a session's login uid is not to be believed; undefined for a login's. */
  why(ses: number | undefined): string | undefined {
    return ses === undefined ? undefined : this.sessions.get(ses);
  }
}

function keep<K, V>(m: Map<K, V>, k: K, v: V): void {
  m.delete(k);
  m.set(k, v);
  if (m.size > KEPT) m.delete(m.keys().next().value!);
}
