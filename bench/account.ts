// The dev issuer's account for --session-size: the demo user with enough groups that Portcullis's
// sealed session comes out near the size asked for. A sealed session is the session's JSON,
// encrypted and base64url-encoded (≈ 4/3 of the JSON, plus about 200 bytes of iron framing).
import type { DevAccount } from '../src/devissuer/issuer.js';

const BASE_JSON = 250; // the session's JSON without groups (user, sub, email, times)

export function benchAccount(sessionBytes: number): DevAccount {
  const groupJson = '"bench-group-0000",'.length;
  const n = Math.max(1, Math.ceil(((sessionBytes - 200) * 0.75 - BASE_JSON) / groupJson));
  return {
    sub: 'bench-user-1', email: 'bench@example.com', email_verified: true, name: 'Bench User', preferred_username: 'bench',
    groups: Array.from({ length: n }, (_, i) => `bench-group-${String(i).padStart(4, '0')}`),
  };
}
