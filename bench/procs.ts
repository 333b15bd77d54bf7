// Child processes of the benchmark: start, read the port they print, measure memory, stop.
import { execFileSync, spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface Child {
  readonly name: string;
  readonly proc: ChildProcess;
  /** The last lines the child wrote on the streams the benchmark reads (stderr, and stdout if piped). */
  readonly tail: string[];
  exited(): boolean;
  readonly exit: Promise<number | null>;
}

const children = new Set<Child>();

/** Spawns a node process; tracked so stopAll() and the exit hook can end it. */
export function spawnNode(name: string, args: string[], o: { env?: Record<string, string>; cwd?: string; stdout?: 'pipe' | 'ignore' } = {}): Child {
  const stdio: StdioOptions = ['ignore', o.stdout ?? 'pipe', 'pipe'];
  const proc = spawn(process.execPath, args, { env: o.env ?? { PATH: process.env.PATH ?? '' }, cwd: o.cwd, stdio });
  const tail: string[] = [];
  const keep = (buf: Buffer): void => {
    tail.push(...buf.toString('utf8').split('\n').filter(Boolean));
    if (tail.length > 50) tail.splice(0, tail.length - 50);
  };
  proc.stderr!.on('data', keep);
  let done = false;
  const exit = new Promise<number | null>((resolve) => proc.once('exit', (code) => { done = true; resolve(code); }));
  const child: Child = { name, proc, tail, exit, exited: () => done };
  children.add(child);
  void exit.then(() => children.delete(child));
  return child;
}

/** Waits for the child's first stdout line, a JSON object with its port. */
export function readPort(child: Child, timeoutMs = 15_000): Promise<number> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (chunk: Buffer): void => {
      buf += chunk.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      cleanup();
      child.proc.stdout!.resume(); // keep draining whatever else it prints
      try {
        const port = (JSON.parse(buf.slice(0, nl)) as { port?: unknown }).port;
        if (typeof port !== 'number') throw new Error('no port');
        resolve(port);
      } catch {
        reject(new Error(`${child.name}: unexpected first line ${JSON.stringify(buf.slice(0, nl))}`));
      }
    };
    const onExit = (code: number | null): void => {
      cleanup();
      reject(new Error(`${child.name} exited (${code}) before printing its port:\n${child.tail.join('\n')}`));
    };
    const timer = setTimeout(() => { cleanup(); reject(new Error(`${child.name}: no port after ${timeoutMs} ms`)); }, timeoutMs);
    const cleanup = (): void => {
      clearTimeout(timer);
      child.proc.stdout!.off('data', onData);
      child.proc.off('exit', onExit);
    };
    child.proc.stdout!.on('data', onData);
    child.proc.once('exit', onExit);
  });
}

/** Resident and peak resident memory of a process, in MB, from /proc/PID/status (Linux). */
export function memoryMB(pid: number): { rss: number; hwm: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
  } catch {
    return undefined;
  }
}

/** SIGTERM, then SIGKILL after graceMs if it is still there. */
export async function stop(child: Child, graceMs = 5_000): Promise<void> {
  if (child.exited()) return;
  child.proc.kill('SIGTERM');
  const timer = setTimeout(() => { if (!child.exited()) child.proc.kill('SIGKILL'); }, graceMs);
  await child.exit;
  clearTimeout(timer);
}

export async function stopAll(graceMs?: number): Promise<void> {
  await Promise.all([...children].map((c) => stop(c, graceMs)));
}

/** Last resort (process exit, watchdog): kill what is left, synchronously. */
export function killAllNow(): void {
  for (const c of children) if (!c.exited()) c.proc.kill('SIGKILL');
}
process.on('exit', killAllNow);

let clockTicks: number | undefined;
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try { clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100; } catch { clockTicks = 100; }
  }
  return clockTicks;
}

/** CPU time (user + system) a process has used so far, in seconds, from /proc/PID/stat. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields[0] is field 3 (state)
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
  } catch {
    return NaN;
  }
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
