import { chmodSync, lstatSync, mkdirSync, readdirSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import type { Actor } from '../record/commit/commit.js';
import type { Change } from '../record/model/diff.js';
import type { AsSecret } from '../record/read/as-secret.js';
import { Refs, type Repo } from '../record/repo/repo.js';
import { driftUnder, record, type RecordResult } from '../record/snapshot.js';
import { respond, type Response } from '../act/respond.js';
import { recordAttributed, type Attributor } from '../attribute/attributor.js';
import { statusReport, trailAsides, type StatusReport, type TrailAsides } from './status-report.js';
import {
  socketPathFits,
  watcherSocketPath,
  WATCHER_PROTOCOL,
  renderedReply,
  type AnswerRenderer,
  type RenderRequest,
  type WatcherAck,
  type WatcherAnswer,
  type WatcherRequest,
} from '../host/watcher-socket.js';
import { pickWatched } from '../host/registry.js';
import { TRAIL_VERSION } from '../util/version.js';
import { collapseRoots } from './roots.js';
import type { CommitMade, Job, WatchContext } from './job.js';

/** A request is one short JSON line; anything longer is not a trail client. */
const MAX_REQUEST = 64 * 1024;

/** `trail diff` against the disk: the changes, each with the recorded blob it had. */
export interface DiffAnswer {
  head: string | null;
  dir: string;
  changes: (Change & { oid?: string })[];
}

/** `trail snapshot`: what the command prints, as `trail snapshot` itself would have it. */
export interface SnapshotAnswer {
  commit: string | null;
  parent: string | null;
  changes: Change[];
  policy: Response | null;
  skipped: { path: string; reason: string }[];
  digestOnly: string[];
  /** Files recorded as secrets though no rule names them (absent from an older watcher). */
  asSecrets?: AsSecret[];
}

export interface QueryDeps {
  /**
   * The paths events named that the trail has not recorded yet (waiting in the quiet window,
   * queued, failed, deferred); undefined when events cannot be trusted to name every change
   * (no inotify source, the watch limit reached, lost events not yet reconciled): the
   * command then scans, as without a daemon.
   */
  dirty(): string[] | undefined;
  onCommit(c: CommitMade): void;
  /** Reads this directory's settings and policy again (the `reload` op). */
  reload(): Promise<void>;
  /** Renders status and snapshot for the native front; none: its questions are declined. */
  render?: AnswerRenderer;
  /** Who made a change, from audit (absent without it): a snapshot asked for is committed
   * one commit per person, as a window would be, not in the asker's name. */
  attributor?(): Attributor | undefined;
}

/** Why a request gets no answer (the client falls back, silently). */
export function refusal(req: unknown): string | undefined {
  const r = req as Partial<WatcherRequest> | null;
  if (!r || typeof r !== 'object') return 'not a request';
  if (r.trail !== WATCHER_PROTOCOL) return `protocol ${String(r.trail)}, this daemon speaks ${WATCHER_PROTOCOL}`;
  if (r.version !== TRAIL_VERSION) return `trail ${String(r.version)}, this daemon is ${TRAIL_VERSION}`;
  if (r.op !== 'status' && r.op !== 'diff' && r.op !== 'snapshot' && r.op !== 'reload')
    return `unknown op ${String(r.op)}`;
  if (r.op === 'snapshot') {
    const a = r.actor;
    if (!a || typeof a.name !== 'string' || !/^[^\n\r<>]{1,256}$/.test(a.name)) return 'snapshot without a valid actor';
    if (a.email !== undefined && (typeof a.email !== 'string' || !/^[^\n\r<>]{1,256}$/.test(a.email)))
      return 'snapshot with an invalid email';
    if (r.message !== undefined && (typeof r.message !== 'string' || r.message.length > 4096))
      return 'snapshot with an invalid message';
    if (r.onlyAttributed !== undefined && typeof r.onlyAttributed !== 'boolean')
      return 'snapshot with an invalid onlyAttributed';
  }
  if (r.render !== undefined) {
    const h = r.render as Partial<RenderRequest> | null;
    if (
      !h ||
      typeof h !== 'object' ||
      typeof h.json !== 'boolean' ||
      typeof h.color !== 'boolean' ||
      typeof h.cwd !== 'string' ||
      !h.cwd.startsWith('/') ||
      (h.name !== undefined && typeof h.name !== 'string')
    )
      return 'an invalid render request';
    if (r.op !== 'status' && r.op !== 'snapshot') return `${r.op} is not rendered`;
  }
  return undefined;
}

/**
 * Answers `trail status`, `trail diff` (against the disk) and `trail snapshot` for this
 * directory over a unix socket, the way git's fsmonitor daemon answers `git status`: the
 * daemon knows from its events which paths changed since its last commit, so it looks at
 * those only (a whole scan of the tree is what the command would do otherwise).
 *
 * An answer is as true as a scan: it is computed after the events already queued in the
 * kernel are read (one turn of the event loop: the command's writes were made before it
 * connected), inside the write queue (a commit in progress has finished and moved the head),
 * over every path still pending. Status and diff write nothing; snapshot commits those paths
 * now, with the asker's message and name, under the writer lock, and the policy acts on it as
 * after `trail snapshot`. Protocol: README, "Watching".
 */
export class QueryServer implements Job {
  readonly name = 'query-server';
  private server: Server | undefined;
  private ino = 0;
  private readonly open = new Set<Socket>();
  /** The asides of status (attribution, anchoring), kept while the refs stay as they were:
   * they cost a few git processes, more than the rest of the answer. */
  private asides: { key: string; value: Promise<TrailAsides> } | undefined;
  private readonly path: string;

  constructor(
    private readonly ctx: WatchContext,
    private readonly deps: QueryDeps,
  ) {
    this.path = watcherSocketPath(ctx.watched.name);
  }

  async start(): Promise<void> {
    const { path } = this;
    if (!socketPathFits(path)) {
      this.ctx.log('info', 'socket', `not answering commands: socket path too long (${path})`);
      return;
    }
    try {
      const dir = dirname(path);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const st = lstatSync(dir);
      if (!st.isDirectory() || st.uid !== process.getuid?.()) throw new Error(`${dir} is not a folder of this user`);
      chmodSync(dir, 0o700);
      if (lstatSync(path, { throwIfNoEntry: false })) {
        // Another daemon answering for this name keeps it; a stale socket (a crash) goes.
        if (await answers(path)) {
          this.ctx.log('warning', 'socket', `not answering commands: another daemon serves ${path}`);
          return;
        }
        unlinkSync(path);
      }
      const server = createServer((sock) => this.serve(sock));
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(path, () => {
          server.off('error', reject);
          resolve();
        });
      });
      chmodSync(path, 0o600);
      this.ino = lstatSync(path).ino;
      server.on('error', (err) => this.ctx.log('error', 'socket', `socket ${path}: ${err.message}`));
      this.server = server;
      this.ctx.log('info', 'socket', `answering trail status, diff and snapshot on ${path}`, { socket: path });
    } catch (err) {
      this.ctx.log('warning', 'socket', `not answering commands on ${path}: ${(err as Error).message}`);
    }
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    // Connections still open get no answer: their commands do the work themselves.
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.open) s.destroy();
    await closed;
    try {
      if (lstatSync(this.path, { throwIfNoEntry: false })?.ino === this.ino) unlinkSync(this.path);
    } catch {
      /* gone already */
    }
  }

  private serve(sock: Socket): void {
    sock.setEncoding('utf8');
    sock.on('error', () => {});
    this.open.add(sock);
    sock.on('close', () => this.open.delete(sock));
    let buf = '';
    const onData = (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) {
        if (buf.length > MAX_REQUEST) sock.destroy();
        return;
      }
      sock.off('data', onData);
      void this.handle(sock, buf.slice(0, nl));
    };
    sock.on('data', onData);
  }

  private async handle(sock: Socket, line: string): Promise<void> {
    let req: WatcherRequest | undefined;
    let why: string | undefined;
    try {
      req = JSON.parse(line) as WatcherRequest;
      why = refusal(req);
    } catch {
      why = 'not JSON';
    }
    // A reload needs no trust in the events: only a daemon that is stopping declines it.
    if (!why && (this.ctx.stopped() || (req?.op !== 'reload' && !this.deps.dirty())))
      why = 'this daemon cannot vouch for its events now';
    if (!why && req?.render) why = await this.renderRefusal(req.render);
    const ack: WatcherAck = {
      trail: WATCHER_PROTOCOL,
      version: TRAIL_VERSION,
      pid: process.pid,
      accepted: !why,
      ...(why ? { why } : {}),
    };
    sock.write(JSON.stringify(ack) + '\n');
    if (why || !req) {
      sock.end();
      return;
    }
    // An asker that has given up (its wait for the acknowledgement or the answer ran out)
    // does the work itself: a snapshot made here too would be a second one in its name,
    // perhaps of changes made after its command ended.
    let gone = sock.destroyed;
    sock.once('close', () => (gone = true));
    const t0 = Date.now();
    let answer: WatcherAnswer<unknown>;
    try {
      answer = { ok: true, answer: await this.answer(req, () => gone) };
    } catch (err) {
      answer = { ok: false, why: (err as Error).message };
    }
    let reply: string | Buffer = JSON.stringify(answer) + '\n';
    if (answer.ok && req.render) {
      // The front's answer: a header line with the exit code and the size, then the records.
      try {
        reply = renderedReply(
          this.deps.render!(req.op as 'status' | 'snapshot', answer.answer, req.render, process.pid),
        );
      } catch (e) {
        answer = { ok: false, why: `cannot render: ${(e as Error).message}` };
        reply = JSON.stringify(answer) + '\n';
      }
    }
    this.ctx.log('debug', 'answered', `${req.op}: ${answer.ok ? 'answered' : answer.why} in ${Date.now() - t0} ms`, {
      op: req.op,
      ms: Date.now() - t0,
    });
    sock.end(reply);
  }

  /** Why the front's question is not this daemon's to render: the command's folder and
   * --name pick another watched directory (or none: the command says why). */
  private async renderRefusal(how: RenderRequest): Promise<string | undefined> {
    if (!this.deps.render) return 'this daemon renders no output';
    try {
      const w = await pickWatched(how.name, how.cwd);
      return w.name === this.ctx.watched.name ? undefined : `the command is for ${w.name}`;
    } catch (err) {
      return (err as Error).message;
    }
  }

  private async answer(
    req: WatcherRequest,
    gone: () => boolean,
  ): Promise<StatusReport | DiffAnswer | SnapshotAnswer | { reloaded: true }> {
    if (req.op === 'reload') {
      await this.deps.reload();
      return { reloaded: true };
    }
    // The asker's writes were made before it connected: their inotify events are in the
    // kernel's queue already, and are read in this turn of the event loop, before this.
    await new Promise((r) => setImmediate(r));
    const stillAsked = () => {
      if (gone()) throw new Error('the asker has gone');
    };
    return this.ctx.serial(async () => {
      stillAsked();
      const roots = this.roots();
      if (req.op === 'status') return statusReport(this.ctx.repo, { roots, asides: this.trailAsides() });
      if (req.op === 'diff') return this.diff(roots);
      return this.ctx.withLock(this.ctx.repo, 'snapshot', () => {
        stillAsked(); // the lock may have been waited for
        return this.snapshot(this.roots(), req);
      });
    });
  }

  private trailAsides(): Promise<TrailAsides> {
    const key = refsFingerprint(this.ctx.repo.gitDir);
    if (this.asides?.key !== key) {
      const value = trailAsides(this.ctx.repo);
      this.asides = { key, value };
      // A failure is not kept: the next question reads again.
      value.catch(() => {
        if (this.asides?.value === value) this.asides = undefined;
      });
    }
    return this.asides.value;
  }

  private roots(): string[] {
    const dirty = this.deps.dirty();
    if (!dirty || this.ctx.stopped()) throw new Error('this daemon cannot vouch for its events now');
    return collapseRoots(dirty);
  }

  private async diff(roots: string[]): Promise<DiffAnswer> {
    const { repo } = this.ctx;
    const res = await driftUnder(repo, roots);
    return {
      head: res.head ?? null,
      dir: repo.info.dir,
      changes: res.changes.map((c) => ({ ...c, oid: res.recorded.get(c.path)?.oid })),
    };
  }

  private async snapshot(roots: string[], req: WatcherRequest): Promise<SnapshotAnswer> {
    const { repo } = this.ctx;
    const actor: Actor = { name: req.actor!.name, ...(req.actor!.email ? { email: req.actor!.email } : {}) };
    if (!roots.length) {
      const head = await repo.readRef(Refs.observed);
      return { commit: null, parent: head ?? null, changes: [], policy: null, skipped: [], digestOnly: [] };
    }
    const subject = req.message ?? `snapshot by ${actor.name}`;
    const attributor = this.deps.attributor?.();
    if (req.onlyAttributed && !attributor) throw new Error('no audit here: the asker records these changes itself');
    if (attributor) {
      const { answer, commits } = await attributedSnapshot(repo, attributor, roots, actor, subject);
      for (const c of commits)
        this.ctx.log('notice', 'commit', `${c} snapshot asked by ${actor.name} over the socket, authors from audit`, {
          commit: c,
        });
      if (answer.commit)
        this.deps.onCommit({ commit: answer.commit, changes: answer.changes.length, action: 'snapshot' });
      return answer;
    }
    const res: RecordResult = await record(repo, {
      subject,
      actor,
      action: 'snapshot',
      roots,
    });
    const policy = await respond(repo, res, { name: actor.name }, 'snapshot');
    if (res.commit) {
      this.ctx.log('notice', 'commit', `${res.commit} snapshot by ${actor.name} (asked over the socket)`, {
        commit: res.commit,
        changes: res.changes.length,
      });
      this.deps.onCommit({ commit: res.commit, changes: res.changes.length, action: 'snapshot' });
    }
    return {
      commit: res.commit ?? null,
      parent: res.parent ?? null,
      changes: res.changes,
      policy: policy ?? null,
      skipped: res.scan.skipped.map((k) => ({ path: k.path, reason: k.reason })),
      digestOnly: res.scan.digestOnly,
      asSecrets: res.scan.asSecrets,
    };
  }
}

/**
 * A snapshot asked for while audit tells who changed what: the pending paths are committed as
 * the quiet window would commit them — one commit per person audit names, `unknown` with the
 * reason where it names nobody — under the asker's message, with `Trail-Snapshot-By` naming
 * the asker. Asking for a snapshot must not make the asker the author of someone else's
 * change: `echo … >> sudoers; trail snapshot` within the quiet window, or a forged
 * `SUDO_USER`, would otherwise have put the change in another name and dropped what audit saw.
 * Paths of an apt transaction still running stay pending: they become one commit when it ends.
 */
async function attributedSnapshot(
  repo: Repo,
  attributor: Attributor,
  roots: string[],
  asker: Actor,
  subject: string,
): Promise<{ answer: SnapshotAnswer; commits: string[] }> {
  const parent = (await repo.readRef(Refs.observed)) ?? null;
  const policies: Response[] = [];
  const r = await recordAttributed(
    repo,
    attributor,
    roots,
    () => subject,
    false,
    async (res, author, trailers) => {
      const p = await respond(repo, res, { name: author.name, package: !!trailers['Trail-Packages'] }, 'snapshot');
      if (p) policies.push(p);
    },
    { action: 'snapshot', trailers: { 'Trail-Snapshot-By': asker.name } },
  );
  const scan = r.last?.scan;
  return {
    commits: r.commits,
    answer: {
      commit: r.commits.at(-1) ?? null,
      parent,
      changes: r.changes,
      policy: mergeResponses(policies),
      skipped: (scan?.skipped ?? []).map((k) => ({ path: k.path, reason: k.reason })),
      digestOnly: scan?.digestOnly ?? [],
      asSecrets: scan?.asSecrets,
    },
  };
}

/** What the policy did over several commits, as one answer (null: it did nothing). */
function mergeResponses(rs: Response[]): Response | null {
  if (rs.length <= 1) return rs[0] ?? null;
  return {
    decisions: rs.flatMap((r) => r.decisions),
    alerts: rs.flatMap((r) => r.alerts),
    hooks: rs.flatMap((r) => r.hooks),
    restored: rs.flatMap((r) => r.restored),
    restoreCommit: rs
      .map((r) => r.restoreCommit)
      .filter((c) => c !== undefined)
      .pop(),
    gaveUp: rs.flatMap((r) => r.gaveUp),
    notRestored: rs.flatMap((r) => r.notRestored ?? []),
    review: rs
      .map((r) => r.review)
      .filter((x) => x !== undefined)
      .pop(),
  };
}

/**
 * Changes whenever a ref of the repository does: git replaces a ref's file by renaming a new
 * one into place (a new inode), and rewrites packed-refs the same way. A handful of lstat
 * calls, where reading the refs through git costs a process.
 */
export function refsFingerprint(gitDir: string): string {
  const parts: string[] = [];
  const stamp = (p: string) => {
    const st = lstatSync(p, { throwIfNoEntry: false, bigint: true });
    parts.push(st ? `${p}:${st.ino}:${st.mtimeNs}:${st.size}` : `${p}:-`);
    return st;
  };
  const walk = (dir: string) => {
    const st = stamp(dir);
    if (!st?.isDirectory()) return;
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (lstatSync(p, { throwIfNoEntry: false })?.isDirectory()) walk(p);
      else stamp(p);
    }
  };
  stamp(join(gitDir, 'packed-refs'));
  walk(join(gitDir, 'refs'));
  return parts.join('\n');
}

/** Whether something accepts connections on `path` (a live daemon, not a stale socket). */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(path);
    const done = (v: boolean) => {
      s.destroy();
      resolve(v);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    setTimeout(() => done(false), 1000).unref();
  });
}
