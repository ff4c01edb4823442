// oidc-provider (npm, a certified OAuth 2.0 / OpenID Connect server) on loopback, for relaycast's
// interoperability test (tests/interop/test_oidc_provider.py).
//
//   node tests/interop/oidc_provider_server.mjs [port]      (or OIDC_PORT=...; 0 or nothing = any free port)
//
// One confidential client (client_secret_basic) from OIDC_CLIENT_ID / OIDC_CLIENT_SECRET /
// OIDC_REDIRECT_URI; authorization code + refresh token grants; PKCE (S256) required for every client;
// RFC 7009 revocation and RFC 7662 introspection on; the built-in development login/consent pages
// (devInteractions), which accept any login and password; the default in-memory adapter (nothing persists).
// Binds 127.0.0.1 only. Prints exactly one line to stdout once it accepts requests:
//   oidc-provider ready <issuer>
// Everything else (oidc-provider's development warnings) goes to stderr. Stops on SIGTERM / SIGINT.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import process from 'node:process';

import Provider from 'oidc-provider';

const requestedPort = Number(process.argv[2] ?? process.env.OIDC_PORT ?? 0);
if (!Number.isInteger(requestedPort) || requestedPort < 0 || requestedPort > 65535) {
  console.error(`invalid port: ${process.argv[2] ?? process.env.OIDC_PORT}`);
  process.exit(2);
}
const clientId = process.env.OIDC_CLIENT_ID ?? 'relaycast-interop';
const clientSecret = process.env.OIDC_CLIENT_SECRET ?? 'interop-secret-not-for-production';
const redirectUri = process.env.OIDC_REDIRECT_URI ?? 'http://127.0.0.1:8765/connect/callback/x';

// Listen first: with port 0 the issuer (which carries the port) is known only once the socket is bound.
const server = createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(requestedPort, '127.0.0.1', resolve);
});
const issuer = `http://127.0.0.1:${server.address().port}`;

// An ephemeral signing key for ID tokens (RS256 is the default ID token algorithm).
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'interop', use: 'sig', alg: 'RS256' };

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [redirectUri],
      response_types: ['code'],
      grant_types: ['authorization_code', 'refresh_token'],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'openid offline_access',
    },
  ],
  scopes: ['openid', 'offline_access'],
  responseTypes: ['code'],
  pkce: { required: () => true }, // oidc-provider 9 implements S256 only
  features: {
    devInteractions: { enabled: true },
    revocation: { enabled: true },
    introspection: { enabled: true },
  },
  // devInteractions log in whatever account name is typed; every account exists and has only a subject.
  findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  jwks: { keys: [signingKey] },
});
provider.on('server_error', (_ctx, error) => console.error('oidc-provider server_error:', error));

server.on('request', provider.callback());

const stop = () => {
  server.close(() => process.exit(0));
  server.closeAllConnections(); // clients' keep-alive sockets must not hold the process open
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

process.stdout.write(`oidc-provider ready ${issuer}\n`);
