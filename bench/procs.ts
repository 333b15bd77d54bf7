// Child processes of the benchmark: start them (each in its own process group), read the port a
// Node child prints, keep draining what they write, measure CPU and memory over a process tree,
// stop them. Every child is tracked, so the watchdog and the exit hook can kill whatever is left.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface Child {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly pid: number;
  /** The last lines the child wrote on stderr, then on stdout, for error messages. */
  readonly tail: string[];
  /** Lines seen on stdout so far (a Portcullis child's request log is counted here). */
  stdoutLines(): number;
  /** All of stdout, when spawned with keepStdout (a load generator's short report). */
  stdoutText(): string;
  exited(): boolean;
  readonly exit: Promise<number | null>;
}

const children = new Set<Child>();
const firstLineWaiters = new WeakMap<Child, Array<(line: string) => void>>();

export interface SpawnOptions {
  env?: Record<string, string>;
  cwd?: string;
  keepStdout?: boolean;
  /** A descriptor for the child's stdout (a file, a FIFO another process reads) instead of a pipe to the benchmark. */
  stdout?: number;
}

/**
 * Spawns a command in its own process group (so a forking server — Apache, nginx — can be killed
 * whole) with stdout and stderr piped and always drained: a child that logs synchronously (pino's
 * default destination) freezes when nobody reads its pipe. Only a short tail is kept.
 */
export function spawnChild(name: string, command: string, args: string[], o: SpawnOptions = {}): Child {
  const proc = spawn(command, args, {
    env: o.env ?? { PATH: process.env.PATH ?? '' }, cwd: o.cwd, stdio: ['ignore', o.stdout ?? 'pipe', 'pipe'], detached: true,
  });
  if (proc.pid === undefined) throw new Error(`${name}: could not start ${command}`);
  const errTail: string[] = [];
  const lastLines = (text: string): string[] => text.split('\n').filter(Boolean).map((l) => l.slice(0, 500));
  let lastOut: Buffer | undefined; // the last stdout chunk, decoded only when a message needs it
  let lines = 0;
  let first = true;
  let partial = '';
  const kept: Buffer[] = [];
  proc.stdout?.on('data', (buf: Buffer) => {
    if (o.keepStdout) kept.push(buf);
    for (let i = buf.indexOf(10); i >= 0; i = buf.indexOf(10, i + 1)) lines++;
    lastOut = buf;
    if (!first) return;
    partial += buf.toString('utf8');
    const nl = partial.indexOf('\n');
    if (nl < 0) return;
    first = false;
    const line = partial.slice(0, nl);
    partial = '';
    for (const w of firstLineWaiters.get(child) ?? []) w(line);
  });
  proc.stderr!.on('data', (buf: Buffer) => {
    errTail.push(...lastLines(buf.toString('utf8')));
    if (errTail.length > 30) errTail.splice(0, errTail.length - 30);
  });
  let done = false;
  const exit = new Promise<number | null>((resolve) => proc.once('exit', (code, signal) => { done = true; resolve(code ?? (signal ? 128 : null)); }));
  const child: Child = {
    name, proc, pid: proc.pid, exit, exited: () => done, stdoutLines: () => lines,
    stdoutText: () => Buffer.concat(kept).toString('utf8'),
    get tail() { return [...errTail, ...lastLines(lastOut?.toString('utf8', Math.max(0, lastOut.length - 2048)) ?? '').slice(-10)]; },
  };
  children.add(child);
  void exit.then(() => children.delete(child));
  return child;
}

export function spawnNode(name: string, args: string[], o: SpawnOptions = {}): Child {
  return spawnChild(name, process.execPath, args, o);
}

/** Waits for the child's first stdout line, a JSON object with its port. */
export function readPort(child: Child, timeoutMs = 15_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${child.name}: no port after ${timeoutMs} ms:\n${child.tail.join('\n')}`)), timeoutMs);
    void child.exit.then((code) => { clearTimeout(timer); reject(new Error(`${child.name} exited (${code}) before printing its port:\n${child.tail.join('\n')}`)); });
    const waiters = firstLineWaiters.get(child) ?? [];
    waiters.push((line) => {
      clearTimeout(timer);
      try {
        const port = (JSON.parse(line) as { port?: unknown }).port;
        if (typeof port !== 'number') throw new Error('no port');
        resolve(port);
      } catch {
        reject(new Error(`${child.name}: unexpected first line ${JSON.stringify(line)}`));
      }
    });
    firstLineWaiters.set(child, waiters);
  });
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try { process.kill(-pid, signal); } catch { /* already gone */ }
}

/**
 * SIGTERM to the child itself (Apache's parent stops its workers on SIGTERM; SIGKILL would leave
 * them behind), SIGKILL to its whole group after graceMs, and to any member left once it is gone.
 */
export async function stop(child: Child, graceMs = 5_000): Promise<void> {
  if (!child.exited()) {
    child.proc.kill('SIGTERM');
    const timer = setTimeout(() => killGroup(child.pid, 'SIGKILL'), graceMs);
    await child.exit;
    clearTimeout(timer);
  }
  killGroup(child.pid, 'SIGKILL');
}

export async function stopAll(graceMs?: number): Promise<void> {
  await Promise.all([...children].map((c) => stop(c, graceMs)));
}

/** Last resort (process exit, watchdog): kill every group left, synchronously. */
export function killAllNow(): void {
  for (const c of children) killGroup(c.pid, 'SIGKILL');
}
process.on('exit', killAllNow);

// ---------------------------------------------------------------------------------------------
// /proc measurements (Linux)

let clockTicks: number | undefined;
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try { clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100; } catch { clockTicks = 100; }
  }
  return clockTicks;
}

/** Fields of /proc/PID/stat from field 3 (state) on, so field N is at index N - 3. */
function statFields(pid: number | 'self'): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** Parses the text of a /proc/PID/stat line: user+system CPU of the process and of its reaped children, s. */
export function parseStatCpu(stat: string): { own: number; children: number } {
  const f = stat.slice(stat.lastIndexOf(')') + 2).trim().split(' ');
  const t = ticksPerSecond();
  return { own: (Number(f[11]) + Number(f[12])) / t, children: (Number(f[13]) + Number(f[14])) / t };
}

/** One pass over /proc: every process's parent and CPU time (own + reaped children's), seconds. */
export interface ProcSnapshot { readonly parent: Map<number, number[]>; readonly cpu: Map<number, number> }

export function snapshot(): ProcSnapshot {
  const parent = new Map<number, number[]>();
  const cpu = new Map<number, number>();
  const t = ticksPerSecond();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const f = statFields(Number(entry));
    if (!f) continue;
    const pid = Number(entry), ppid = Number(f[1]);
    const list = parent.get(ppid);
    if (list) list.push(pid); else parent.set(ppid, [pid]);
    cpu.set(pid, (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / t);
  }
  return { parent, cpu };
}

/** The process and all its descendants. */
export function processTree(root: number, snap: ProcSnapshot = snapshot()): number[] {
  const out: number[] = [];
  const todo = [root];
  while (todo.length) {
    const pid = todo.pop()!;
    out.push(pid);
    todo.push(...(snap.parent.get(pid) ?? []));
  }
  return out;
}

/**
 * CPU time (user + system, all threads) used so far by a process tree, in seconds: every live
 * member, plus the time of members already reaped (counted in their parents' cutime/cstime), so a
 * worker that Apache recycles mid-round is not lost.
 */
export function treeCpuSeconds(root: number, snap: ProcSnapshot = snapshot()): number {
  return processTree(root, snap).reduce((a, pid) => a + (snap.cpu.get(pid) ?? 0), 0);
}

export interface Memory { rssMB: number; hwmMB: number; pssMB: number; processes: number }

/**
 * Memory of a process tree: VmRSS and VmHWM (peak) summed over its members, and PSS (shared pages
 * split between the processes that share them). For a forking server the RSS sums count the pages
 * workers share with their parent once per process; PSS does not.
 */
export function treeMemory(root: number): Memory {
  let rss = 0, hwm = 0, pss = 0, n = 0;
  for (const pid of processTree(root)) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
      rss += kb('VmRSS');
      hwm += kb('VmHWM');
      n++;
      const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
      pss += Number(/^Pss:\s+(\d+) kB/m.exec(rollup)?.[1] ?? 0);
    } catch { /* exited meanwhile */ }
  }
  return { rssMB: rss / 1024, hwmMB: hwm / 1024, pssMB: pss / 1024, processes: n };
}

/** CPU time the whole machine has been busy (all cores, everything but idle and iowait), in seconds. */
export function machineBusySeconds(): number {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0); // user nice system idle iowait irq softirq steal
    return (total - v[3]! - v[4]!) / ticksPerSecond();
  } catch {
    return NaN;
  }
}
