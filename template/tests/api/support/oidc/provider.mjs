// A real OpenID Connect provider for the tests: the `oidc-provider` package (npm), serving
// client-credentials tokens (JWTs signed RS256, audience `api`) on a free port of
// 127.0.0.1. Started by tests/api/support/oidc.rs, which reads the first line it prints
// ({"issuer": ...}) and stops it by closing its standard input.
//
// Beside the provider's own routes, /admin/... lets a test look behind it:
//   GET  /admin/state      how many times its keys were fetched, its signing key (PKCS#1
//                          DER, base64: a test forges tokens a trusted key signed) and the
//                          public half (PEM)
//   POST /admin/rotate     replace the signing key by a new one (a key rotation)
//   POST /admin/outage     its keys answer 503 until POST /admin/recover
import crypto from 'node:crypto';
import http from 'node:http';

import Provider from 'oidc-provider';

const AUDIENCE = 'api';
const SCOPES = 'persons:read persons:write tasks:read tasks:admin metrics:read';
// Each client may ask for its own scopes only.
const CLIENTS = [
  { client_id: 'everything', client_secret: 'everything-secret', scope: SCOPES },
  { client_id: 'reader', client_secret: 'reader-secret', scope: 'persons:read' },
].map((client) => ({
  ...client,
  grant_types: ['client_credentials'],
  redirect_uris: [],
  response_types: [],
  token_endpoint_auth_method: 'client_secret_post',
}));

let fetches = 0;
let outage = false;

function signingKey() {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  const kid = crypto.randomUUID();
  return {
    kid,
    jwk: { ...jwk, kid, alg: 'RS256', use: 'sig' },
    der: privateKey.export({ format: 'der', type: 'pkcs1' }).toString('base64'),
    pem: publicKey.export({ format: 'pem', type: 'spki' }),
  };
}

function provider(issuer, key) {
  return new Provider(issuer, {
    clients: CLIENTS,
    scopes: SCOPES.split(' '),
    jwks: { keys: [key.jwk] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => 'https://api.example.test/',
        getResourceServerInfo: () => ({
          scope: SCOPES,
          audience: AUDIENCE,
          accessTokenTTL: 300,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
  });
}

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  let key = signingKey();
  let current = provider(issuer, key).callback();

  server.on('request', (req, res) => {
    const answer = (status, body) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.url === '/admin/state') {
      return answer(200, { fetches, kid: key.kid, der: key.der, public: key.pem });
    }
    if (req.url === '/admin/rotate' && req.method === 'POST') {
      key = signingKey();
      current = provider(issuer, key).callback();
      return answer(200, { kid: key.kid });
    }
    if (req.url === '/admin/outage' || req.url === '/admin/recover') {
      outage = req.url === '/admin/outage';
      return answer(200, { outage });
    }
    if (req.url.startsWith('/jwks')) {
      fetches += 1;
      if (outage) {
        return answer(503, { error: 'down for the test' });
      }
    }
    return current(req, res);
  });
  process.stdout.write(`${JSON.stringify({ issuer, audience: AUDIENCE })}\n`);
});

// The test is gone: stop.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
