/**
 * Preloaded (NODE_OPTIONS=--import) into a `--workers` proxy by workers.test.ts: in the primary, it
 * sends each worker, in the same tick as its setup, a revocation of every session of the subject in
 * PORTCULLIS_TEST_REVOKE_SUB — as the primary does when another worker's sign-out arrives just as
 * this one starts. The two messages then reach the worker in one read.
 */
import cluster, { type Worker } from 'node:cluster';

const sub = process.env.PORTCULLIS_TEST_REVOKE_SUB;
if (cluster.isPrimary && sub) {
  const proto = (cluster as unknown as { Worker: { prototype: Worker } }).Worker.prototype;
  const send = proto.send;
  proto.send = function (this: Worker, ...args: Parameters<Worker['send']>): boolean {
    const sent = send.apply(this, args);
    const m = args[0] as { type?: string } | undefined;
    if (m?.type === 'portcullis:setup') {
      const now = Date.now();
      const entry = JSON.stringify({ revocation: { kind: 'sub', value: sub, before: now + 3_600_000 }, until: now + 3_600_000 });
      send.call(this, { type: 'portcullis:revoked', entry, ack: 1_000_000 }, undefined, undefined, () => undefined);
    }
    return sent;
  } as Worker['send'];
}
