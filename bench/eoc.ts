// The express-openid-connect peer: what a Node team would write instead of running Portcullis —
// Express 5, express-openid-connect (`auth()`, every route requires a login, its default encrypted
// rolling cookie session) and http-proxy-middleware in front of the upstream, with the same
// keep-alive agent as the bare hops and the user's subject forwarded as X-Forwarded-User (the
// identity header Portcullis adds). No request log.
// Configured by environment: EOC_PORT, EOC_ISSUER, EOC_CLIENT_ID, EOC_CLIENT_SECRET, EOC_SECRET,
// EOC_UPSTREAM. Prints `{"port":N}` on its first stdout line.
import http from 'node:http';
import express from 'express';
import { auth } from 'express-openid-connect';
import { createProxyMiddleware } from 'http-proxy-middleware';

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) { process.stderr.write(`eoc.js: ${name} is not set\n`); process.exit(2); }
  return v;
};
const port = Number(env('EOC_PORT'));

const app = express();
app.use(auth({
  issuerBaseURL: env('EOC_ISSUER'),
  baseURL: `http://127.0.0.1:${port}`,
  clientID: env('EOC_CLIENT_ID'),
  clientSecret: env('EOC_CLIENT_SECRET'),
  secret: env('EOC_SECRET'),
  authRequired: true,
  idpLogout: false,
  authorizationParams: { response_type: 'code', scope: 'openid email profile groups' },
}));
const agent = new http.Agent({ keepAlive: true, maxSockets: 512, maxFreeSockets: 64 });
app.use(createProxyMiddleware<express.Request, express.Response>({
  target: env('EOC_UPSTREAM'),
  agent,
  xfwd: true,
  on: {
    proxyReq: (proxyReq, req) => {
      const sub = req.oidc.user?.sub as string | undefined;
      if (sub) proxyReq.setHeader('x-forwarded-user', sub);
    },
  },
}));

const server = app.listen(port, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port })}\n`);
});
server.keepAliveTimeout = 65_000;
process.once('SIGTERM', () => process.exit(0));
