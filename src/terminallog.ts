/**
 * The log as a person reads it in a terminal, for the demo: one short line per request
 * ("14:02:11  GET /hello  200  3 ms  demo-user-1") and one per event, instead of a JSON object.
 * JSON stays the format everywhere else (a pipe, a file, a container's log): only the CLI installs
 * this view, only in demo mode with stdout a TTY (log.ts's viewStdoutWith).
 */

const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
/** Fields every line has, or that the line's own layout already shows. */
const SHOWN = new Set(['level', 'time', 'service', 'msg', 'pid', 'hostname', 'component', 'method', 'path', 'status', 'durationMs', 'user', 'requestId', 'client', 'worker']);

const ansi = (code: string) => (on: boolean, s: string): string => (on ? `\x1b[${code}m${s}\x1b[0m` : s);
const dim = ansi('2');
const red = ansi('31');
const green = ansi('32');
const yellow = ansi('33');
const cyan = ansi('36');

function clock(t: unknown): string {
  const d = typeof t === 'number' ? new Date(t) : new Date();
  return d.toTimeString().slice(0, 8);
}

function statusColour(status: number, color: boolean): string {
  const s = String(status);
  return status >= 500 ? red(color, s) : status >= 400 ? yellow(color, s) : status >= 300 ? cyan(color, s) : green(color, s);
}

function value(v: unknown): string {
  const s = typeof v === 'string' ? v : Array.isArray(v) && v.every((x) => typeof x === 'string') ? v.join(',') : JSON.stringify(v);
  return /[\s"=]/.test(s) ? JSON.stringify(s) : s;
}

/** One JSON log line as one readable line (a line that is not JSON is passed on as it is). */
export function terminalLine(json: string, o: { color?: boolean } = {}): string {
  const color = o.color === true;
  let r: Record<string, unknown>;
  try {
    r = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith('\n') ? json : `${json}\n`;
  }
  const time = dim(color, clock(r.time));
  if (r.component === 'request' && typeof r.status === 'number') {
    const ms = typeof r.durationMs === 'number' ? `${Math.round(r.durationMs)} ms` : '';
    const who = typeof r.user === 'string' && r.user ? `  ${r.user}` : '';
    return `${time}  ${String(r.method ?? '')} ${String(r.path ?? '')}  ${statusColour(r.status, color)}  ${dim(color, ms)}${who}\n`;
  }
  const level = LEVELS[Number(r.level)] ?? String(r.level);
  const tag = level === 'info' ? '' : `${(Number(r.level) >= 50 ? red : yellow)(color, level)}  `;
  const extra = Object.entries(r).filter(([k, v]) => !SHOWN.has(k) && v !== undefined).map(([k, v]) => `${k}=${value(v)}`).join(' ');
  return `${time}  ${tag}${String(r.msg ?? '')}${extra ? `  ${dim(color, extra)}` : ''}\n`;
}

/**
 * The demo's start-up warnings that its banner already explains in plain words (it runs on plain
 * http on purpose; its keys and secrets are made at each start): shown there, not again as JSON.
 */
const FOLDED_INTO_BANNER = ['"event":"identity_jwt_key_generated"'];

/**
 * The view of stdout in demo mode: the warnings the banner explains are left out; in a terminal,
 * every line is made readable (`pretty`), else it stays JSON. '' drops a line.
 */
export function demoLogView(o: { pretty: boolean; color: boolean }): (line: string) => string {
  return (line) => {
    if (FOLDED_INTO_BANNER.some((m) => line.includes(m))) return '';
    return o.pretty ? terminalLine(line, { color: o.color }) : line;
  };
}
