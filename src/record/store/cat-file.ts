import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

export interface GitObject {
  type: string;
  content: Buffer;
}

/**
 * One long-running `git cat-file --batch` per repository: reading thousands of objects
 * through it costs one process start instead of thousands, and native git reads packs and
 * loose objects alike.
 */
export class CatFile {
  private child: ChildProcessWithoutNullStreams | undefined;
  private buf: Buffer = Buffer.alloc(0);
  private waiting: { resolve: (o: GitObject | undefined) => void; reject: (e: Error) => void }[] = [];

  constructor(
    private readonly gitDir: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  read(oid: string): Promise<GitObject | undefined> {
    const child = this.start();
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.holdProcessOpen(true);
      child.stdin.write(oid + '\n');
    });
  }

  async readBlob(oid: string): Promise<Buffer> {
    const o = await this.read(oid);
    if (!o) throw new Error(`object ${oid} is missing from the shadow repository`);
    return o.content;
  }

  close(): void {
    this.child?.stdin.end();
    this.child = undefined;
  }

  private start(): ChildProcessWithoutNullStreams {
    if (this.child) return this.child;
    const child = spawn('git', ['--git-dir', this.gitDir, 'cat-file', '--batch'], {
      env: this.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (d: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      this.drain();
    });
    const fail = (e: Error) => {
      for (const w of this.waiting.splice(0)) w.reject(e);
      this.child = undefined;
    };
    child.on('error', fail);
    child.on('close', () => fail(new Error('git cat-file ended unexpectedly')));
    child.unref();
    this.child = child;
    return child;
  }

  // The reader must not keep a finished command alive, but must while an answer is due.
  private holdProcessOpen(hold: boolean): void {
    const s = this.child?.stdout as unknown as { ref(): void; unref(): void } | undefined;
    const i = this.child?.stdin as unknown as { ref(): void; unref(): void } | undefined;
    if (hold) {
      s?.ref();
      i?.ref();
    } else {
      s?.unref();
      i?.unref();
    }
  }

  private drain(): void {
    for (;;) {
      const nl = this.buf.indexOf(0x0a);
      if (!this.waiting.length) this.holdProcessOpen(false);
      if (nl < 0 || !this.waiting.length) return;
      const header = this.buf.toString('latin1', 0, nl);
      if (header.endsWith(' missing')) {
        this.buf = this.buf.subarray(nl + 1);
        this.waiting.shift()!.resolve(undefined);
        continue;
      }
      const [, type, size] = header.split(' ');
      const n = Number(size);
      if (this.buf.length < nl + 1 + n + 1) return;
      const content = Buffer.from(this.buf.subarray(nl + 1, nl + 1 + n));
      this.buf = this.buf.subarray(nl + 1 + n + 1);
      this.waiting.shift()!.resolve({ type: type!, content });
    }
  }
}
