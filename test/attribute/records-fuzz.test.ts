// auditd's log is read by a root daemon and holds bytes any local user chooses (file names,
// command lines, the cwd): the parser and the assembler must take whatever arrives, never
// throw, never spin, and hand every byte of a name back exactly as the kernel saw it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, posix, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { Assembler, type AuditEvent } from '../../src/attribute/events.js';
import { parseRecord, splitLines, type AuditRecord } from '../../src/attribute/records.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const SAMPLE = readFileSync(join(ROOT, 'test', 'attribute', 'fixtures', 'audit-sample.log'), 'latin1')
  .split('\n')
  .filter(Boolean);

/** What the kernel does with an untrusted string (audit_log_n_untrustedstring): quoted when
 * every byte is printable ASCII other than space and '"', upper-case hex otherwise. */
function kernel(bytes: Buffer): string {
  const hex = bytes.some((b) => b === 0x22 || b < 0x21 || b > 0x7e);
  return hex ? bytes.toString('hex').toUpperCase() : `"${bytes.toString('latin1')}"`;
}

/** Everything downstream of the file: lines split at arbitrary chunk boundaries, parsed,
 * grouped into events. Returns the events; throws only if a component does. */
function feed(bytes: Buffer, cuts: number[]): { records: AuditRecord[]; events: AuditEvent[] } {
  const events: AuditEvent[] = [];
  const records: AuditRecord[] = [];
  const asm = new Assembler((e) => events.push(e));
  let carry = '';
  let at = 0;
  for (const c of [...cuts.map((x) => x % (bytes.length + 1)).sort((a, b) => a - b), bytes.length]) {
    const { lines, rest } = splitLines(bytes.subarray(at, c), carry);
    carry = rest;
    at = c;
    for (const l of lines) {
      const r = parseRecord(l);
      if (r) {
        records.push(r);
        asm.push(r);
      }
    }
  }
  asm.flush();
  return { records, events };
}

const bytesOf = (s: string) => Buffer.from(s, 'latin1');

test('arbitrary bytes, and arbitrary bytes after a valid header, never make the parser or the assembler throw', () => {
  const header = fc.constantFrom(
    '',
    'type=SYSCALL msg=audit(1795667566.656:11): ',
    'type=PATH msg=audit(1.000:1): ',
    'type=EXECVE msg=audit(1.2:3):',
    'type=PROCTITLE msg=audit(99999999999999999999.1:1): ',
  );
  const line = fc
    .tuple(header, fc.uint8Array({ maxLength: 300 }))
    .map(([h, b]) => Buffer.concat([bytesOf(h), Buffer.from(b)]));
  fc.assert(
    fc.property(fc.array(line, { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 4 }), (lines, cuts) => {
      feed(Buffer.concat(lines.flatMap((l) => [l, bytesOf('\n')])), cuts);
    }),
    { numRuns: 3000 },
  );
});

test('real audit lines, mutated (bytes flipped, inserted, removed, lines cut short), never make it throw', () => {
  const mutate = fc
    .tuple(
      fc.constantFrom(...SAMPLE),
      fc.array(
        fc.tuple(fc.constantFrom('flip', 'insert', 'delete', 'cut'), fc.nat(), fc.integer({ min: 0, max: 255 })),
        { maxLength: 4 },
      ),
    )
    .map(([l, ops]) => {
      let s = l;
      for (const [op, pos, b] of ops) {
        const i = pos % (s.length + 1);
        const ch = String.fromCharCode(b);
        if (op === 'flip') s = s.slice(0, i) + ch + s.slice(i + 1);
        else if (op === 'insert') s = s.slice(0, i) + ch + s.slice(i);
        else if (op === 'delete') s = s.slice(0, i) + s.slice(i + 8);
        else s = s.slice(0, i);
      }
      return s;
    });
  fc.assert(
    fc.property(
      fc.array(mutate, { minLength: 1, maxLength: 30 }),
      fc.array(fc.nat(), { maxLength: 3 }),
      (lines, cuts) => {
        feed(bytesOf(lines.join('\n') + '\n'), cuts);
      },
    ),
    { numRuns: 1500 },
  );
});

test('a line cut short keeps every field before the cut exactly; only the last one can differ', () => {
  fc.assert(
    fc.property(fc.constantFrom(...SAMPLE), fc.nat(), (line, n) => {
      const whole = parseRecord(line)!;
      assert.ok(whole, line);
      const cut = parseRecord(line.slice(0, n % (line.length + 1)));
      if (!cut) return;
      assert.equal(cut.id, whole.id);
      const got = [...cut.fields];
      const want = [...whole.fields];
      assert.ok(got.length <= want.length);
      assert.deepEqual(got.slice(0, -1), want.slice(0, Math.max(0, got.length - 1)));
    }),
    { numRuns: 2000 },
  );
});

test('the fixture still parses into the events the attribution tests rely on, whatever the chunking', () => {
  // Read boundaries fall anywhere in a line (the tail reads 1 MiB at a time): same records.
  const all = bytesOf(SAMPLE.join('\n') + '\n');
  const once = feed(all, []);
  fc.assert(
    fc.property(fc.array(fc.nat(), { maxLength: 20 }), (cuts) => {
      const again = feed(all, cuts);
      assert.deepEqual(again.records, once.records);
      assert.deepEqual(
        again.events.map((e) => [e.id, e.items.map((i) => i.abs), e.proc.argv]),
        once.events.map((e) => [e.id, e.items.map((i) => i.abs), e.proc.argv]),
      );
    }),
    { numRuns: 300 },
  );
});

// --------------------------------------------------------------- structured events

/** A name as a user can make one: any byte but NUL and '/', with spaces, quotes and
 * bytes that are not UTF-8 well represented. */
const component = fc.oneof(
  fc
    .uint8Array({ minLength: 1, maxLength: 24 })
    .map((a) => Buffer.from(a.map((b) => (b === 0 || b === 0x2f ? 0x5f : b)))),
  fc
    .constantFrom(
      'a b',
      '"quoted"',
      "it's",
      '(null)',
      'ABCD',
      '00',
      'x\x1dOUID="root"',
      '\xff\xfe',
      '\x1b[31m',
      '-',
      '..',
      '.',
    )
    .map(bytesOf),
);
const absPath = fc
  .array(component, { minLength: 1, maxLength: 4 })
  .map((cs) => Buffer.concat(cs.flatMap((c) => [bytesOf('/'), c])));
const relPath = fc
  .array(component, { minLength: 1, maxLength: 3 })
  .map((cs) => Buffer.concat(cs.flatMap((c, i) => (i ? [bytesOf('/'), c] : [c]))));
const argument = fc.oneof(
  fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a.map((b) => (b === 0 ? 0x20 : b)))),
  fc.constantFrom('--password=x y', '"', '', 'ABCDEF', '2400').map(bytesOf),
);
/** a0…a3 of a SYSCALL record are raw registers in lower-case hex (%lx), never strings. */
const register = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((v) => v.toString(16));

interface Spec {
  serial: number;
  pid: number;
  auid: number;
  uid: number;
  regs: string[];
  exe: Buffer;
  comm: Buffer;
  key: Buffer;
  cwd: Buffer;
  names: { name: Buffer | null; nametype: string; inode: number; mode: string }[];
  argv: Buffer[] | null;
  /** argument index → chunk size, for arguments the kernel logs in aN[k] pieces */
  chunk: number;
  enriched: boolean;
}

const spec: fc.Arbitrary<Spec> = fc.record({
  serial: fc.integer({ min: 1, max: 2 ** 31 }),
  pid: fc.integer({ min: 2, max: 4_194_304 }),
  auid: fc.oneof(fc.constant(4294967295), fc.integer({ min: 0, max: 60_000 })),
  uid: fc.integer({ min: 0, max: 60_000 }),
  regs: fc.array(register, { minLength: 4, maxLength: 4 }),
  exe: absPath,
  comm: fc.uint8Array({ minLength: 1, maxLength: 15 }).map((a) => Buffer.from(a.map((b) => (b === 0 ? 0x20 : b)))),
  key: fc.stringMatching(/^trail-[a-z0-9 "]{1,12}$/).map(bytesOf),
  cwd: absPath,
  names: fc.array(
    fc.record({
      name: fc.option(fc.oneof(absPath, relPath), { nil: null }),
      nametype: fc.constantFrom('PARENT', 'CREATE', 'DELETE', 'NORMAL'),
      inode: fc.nat(),
      mode: fc.constantFrom('0100644', '040755', '0120777', 'zzz'),
    }),
    { maxLength: 4 },
  ),
  argv: fc.option(fc.array(argument, { minLength: 1, maxLength: 6 }), { nil: null }),
  chunk: fc.integer({ min: 1, max: 64 }),
  enriched: fc.boolean(),
});

const ENRICH = '\x1dARCH=x86_64 SYSCALL=open AUID="mallory" UID="root" name="/forged" cwd="/forged" exe="/forged"';

/** The lines auditd writes for one open() (syscall 2 on x86_64: names are relative to the
 * cwd, never to a directory fd), in the kernel's record order. */
function render(s: Spec): string[] {
  const head = (type: string) => `type=${type} msg=audit(1795667566.656:${s.serial}): `;
  const tail = s.enriched ? ENRICH : '';
  const lines = [
    head('SYSCALL') +
      `arch=c000003e syscall=2 success=yes exit=3 a0=${s.regs[0]} a1=${s.regs[1]} a2=${s.regs[2]} a3=${s.regs[3]} items=${s.names.length} ppid=1 pid=${s.pid} auid=${s.auid} uid=${s.uid} gid=0 euid=${s.uid} suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=4 comm=${kernel(s.comm)} exe=${kernel(s.exe)} key=${kernel(s.key)}` +
      tail,
  ];
  if (s.argv) {
    // Long arguments come in pieces: aN_len=<bytes> then aN[0]=… aN[1]=…, each piece encoded
    // on its own (a piece of an argument that needs hex is hex too).
    const parts = [`argc=${s.argv.length}`];
    s.argv.forEach((a, i) => {
      if (a.length <= s.chunk) return parts.push(`a${i}=${kernel(a)}`);
      const hex = a.some((b) => b === 0x22 || b < 0x21 || b > 0x7e);
      parts.push(`a${i}_len=${hex ? a.length * 2 : a.length}`);
      for (let k = 0; k * s.chunk < a.length; k++) {
        const piece = a.subarray(k * s.chunk, (k + 1) * s.chunk);
        parts.push(`a${i}[${k}]=${hex ? piece.toString('hex').toUpperCase() : `"${piece.toString('latin1')}"`}`);
      }
    });
    // The kernel starts a new EXECVE record when one grows too long; split arbitrarily.
    for (let i = 0; i < parts.length; i += 3) lines.push(head('EXECVE') + parts.slice(i, i + 3).join(' '));
  }
  lines.push(head('CWD') + `cwd=${kernel(s.cwd)}`);
  s.names.forEach((n, i) =>
    lines.push(
      head('PATH') +
        `item=${i} name=${n.name ? kernel(n.name) : '(null)'} inode=${n.inode} dev=fe:00 mode=${n.mode} ouid=0 ogid=0 rdev=00:00 nametype=${n.nametype} cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0` +
        tail,
    ),
  );
  const title = Buffer.concat((s.argv ?? [s.exe]).flatMap((a) => [a, Buffer.from([0])])).subarray(0, 128);
  let end = title.length;
  while (end > 0 && title[end - 1] === 0) end--; // audit_proctitle_rtrim
  lines.push(head('PROCTITLE') + `proctitle=${kernel(title.subarray(0, end))}`);
  return lines;
}

test('generated SYSCALL/EXECVE/CWD/PATH/PROCTITLE groups: every field reads back exactly, names byte for byte', () => {
  fc.assert(
    fc.property(
      fc
        .uniqueArray(spec, { selector: (s) => s.serial, minLength: 1, maxLength: 4 })
        .map((ss) => ss.map((s, i) => ({ ...s, pid: s.pid * 8 + i }))),
      fc.array(fc.nat(), { maxLength: 4 }),
      (specs, cuts) => {
        const lines = specs.flatMap(render);
        const { records, events } = feed(bytesOf(lines.join('\n') + '\n'), cuts);
        assert.equal(records.length, lines.length);
        for (const s of specs) {
          const mine = records.filter((r) => r.serial === s.serial);
          const sys = mine.find((r) => r.type === 'SYSCALL')!;
          assert.equal(sys.id, `1795667566.656:${s.serial}`);
          // Registers are numbers: never decoded as if they were hex-encoded text.
          assert.deepEqual(
            ['a0', 'a1', 'a2', 'a3'].map((k) => sys.fields.get(k)),
            s.regs,
          );
          assert.equal(sys.fields.get('AUID'), undefined, 'enriched fields are not believed');
          const ev = events.find((e) => e.serial === s.serial)!;
          assert.ok(ev, 'every group becomes an event');
          assert.deepEqual(bytesOf(ev.exe), s.exe);
          assert.deepEqual(bytesOf(ev.comm), s.comm);
          assert.deepEqual(bytesOf(ev.key), s.key);
          assert.deepEqual(bytesOf(ev.cwd!), s.cwd);
          assert.equal(ev.auid, s.auid === 4294967295 ? undefined : s.auid);
          assert.equal(ev.uid, s.uid);
          assert.equal(ev.pid, s.pid);
          assert.equal(ev.fdRelative, false);
          assert.equal(ev.items.length, s.names.length);
          ev.items.forEach((it, i) => {
            const n = s.names[i]!;
            assert.equal(it.nametype, n.nametype);
            assert.equal(it.inode, n.inode);
            assert.equal(it.mode, n.mode === 'zzz' ? undefined : parseInt(n.mode, 8));
            if (!n.name) return assert.equal(it.abs, undefined);
            assert.deepEqual(bytesOf(it.name), n.name);
            const name = n.name.toString('latin1');
            const want = posix.normalize(name.startsWith('/') ? name : posix.join(s.cwd.toString('latin1'), name));
            assert.equal(it.abs, want.length > 1 && want.endsWith('/') ? want.slice(0, -1) : want);
          });
          if (s.argv) {
            assert.equal(ev.proc.argvSource, 'execve');
            assert.deepEqual(ev.proc.argv!.map(bytesOf), s.argv);
          } else {
            assert.equal(ev.proc.argvSource, 'proctitle');
            assert.deepEqual(bytesOf(ev.proc.argv![0]!), s.exe.subarray(0, 128));
          }
        }
      },
    ),
    { numRuns: 800 },
  );
});

// --------------------------------------------------------------- size and time

test('a line that never ends is not kept whole in memory; the lines after it still parse', () => {
  // 64 MiB without a newline, in the 1 MiB reads of the log tail.
  const mib = Buffer.alloc(1 << 20, 0x41);
  let carry = '';
  let most = 0;
  for (let i = 0; i < 64; i++) {
    const r = splitLines(mib, carry);
    assert.deepEqual(r.lines, []);
    carry = r.rest;
    most = Math.max(most, carry.length);
  }
  assert.ok(most <= 2 << 20, `carried ${most} bytes of one unfinished line`);
  const r = splitLines(bytesOf(`\n${SAMPLE[0]}\n`), carry);
  const parsed = r.lines.map(parseRecord).filter(Boolean);
  assert.equal(parsed.length, 1);
  assert.deepEqual(parsed[0], parseRecord(SAMPLE[0]!));
});

test('an EXECVE that claims an enormous argc, or huge fields, is parsed in bounded work', () => {
  const asm = new Assembler(() => undefined);
  fc.assert(
    fc.property(
      fc.constantFrom(
        '4294967295',
        '9007199254740993',
        '99999999999999999999999',
        '1e308',
        '-1',
        '00000000000000000000001',
      ),
      fc.nat({ max: 50 }),
      (argc, serial) => {
        let got: AuditEvent | undefined;
        const a = new Assembler((e) => (got = e), '');
        for (const l of [
          `type=SYSCALL msg=audit(1.000:${serial}): arch=c000003e syscall=59 success=yes pid=7 key="x"`,
          `type=EXECVE msg=audit(1.000:${serial}): argc=${argc} a0="sh"`,
          `type=PROCTITLE msg=audit(1.000:${serial}): proctitle="sh"`,
        ])
          a.push(parseRecord(l)!);
        assert.ok(got);
        // Only arguments the records hold can be listed.
        assert.ok(got.proc.argv!.length <= 3, `argv of ${got.proc.argv!.length}`);
      },
    ),
    { numRuns: 60 },
  );
  // A 4 MiB hex name and a 16 MiB value: read whole and exactly.
  const big = Buffer.alloc(4 << 20, 0xc3);
  const r = parseRecord(
    `type=PATH msg=audit(1.000:1): item=0 name=${big.toString('hex').toUpperCase()} inode=1 other=${'x'.repeat(16 << 20)}`,
  )!;
  assert.deepEqual(bytesOf(r.fields.get('name')!), big);
  assert.equal(r.fields.get('other')!.length, 16 << 20);
  asm.push(r);
  asm.flush();
});

test('regressions the fuzz found: registers are not strings; a file named "(null)" is a name', () => {
  // Counterexample regs ["0","10","0","0"]: a1=10 read back as the byte 0x10.
  const sys = parseRecord(
    'type=SYSCALL msg=audit(1.000:1): arch=c000003e syscall=2 a0=0 a1=10 a2=2400 a3=ffffff9c key="trail-a"',
  )!;
  assert.deepEqual(
    ['a0', 'a1', 'a2', 'a3'].map((k) => sys.fields.get(k)),
    ['0', '10', '2400', 'ffffff9c'],
  );
  assert.equal(parseRecord('type=EXECVE msg=audit(1.000:1): argc=1 a0=2400')!.fields.get('a0'), '$\0');
  // Counterexample name "(null)": logged quoted, it is a file; unquoted, the kernel had none.
  let got: AuditEvent | undefined;
  const asm = new Assembler((e) => (got = e));
  for (const l of [
    'type=SYSCALL msg=audit(1.000:2): arch=c000003e syscall=2 success=yes items=2 pid=9 key="trail-a"',
    'type=CWD msg=audit(1.000:2): cwd="/w"',
    'type=PATH msg=audit(1.000:2): item=0 name="(null)" nametype=CREATE',
    'type=PATH msg=audit(1.000:2): item=1 name=(null) nametype=NORMAL',
    'type=EOE msg=audit(1.000:2): ',
  ])
    asm.push(parseRecord(l)!);
  assert.deepEqual(
    got!.items.map((i) => i.abs),
    ['/w/(null)', undefined],
  );
});
