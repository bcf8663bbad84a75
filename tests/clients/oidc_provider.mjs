// A real OAuth 2.1 / OpenID provider (the npm package oidc-provider) on a loopback port,
// configured for the OAuth tests: Dynamic Client Registration, PKCE, resource indicators
// (RFC 8707) with RS256 JWT access tokens (TOKEN_TTL seconds, default 3600) for the MCP
// resources named in RESOURCES (or starting with RESOURCE_PREFIX), refresh tokens, the
// client credentials grant for the pre-registered client `baton-m2m`, and the package's
// development sign-in pages (any login, then consent) that the tests' browser fills in.
//
//   OAUTH_PEERS=.peers/oauth RESOURCES=http://127.0.0.1:P/mcp node oidc_provider.mjs
//   OAUTH_PEERS=.peers/oauth RESOURCE_PREFIX=http://127.0.0.1: node oidc_provider.mjs
//
// Prints `issuer http://127.0.0.1:PORT` once it listens; JWKS at /jwks.
import http from "node:http";
import { pathToFileURL } from "node:url";

const peers = process.env.OAUTH_PEERS;
const { default: Provider, errors } = await import(
  pathToFileURL(`${peers}/node_modules/oidc-provider/lib/index.js`).href
);
const resources = (process.env.RESOURCES || "").split(",").filter(Boolean);
const prefix = process.env.RESOURCE_PREFIX;
const known = (resource) => resources.includes(resource) || (prefix && resource.startsWith(prefix));
const tokenTtl = Number(process.env.TOKEN_TTL || 3600);

const server = http.createServer();
await new Promise((done) => server.listen(Number(process.env.PORT || 0), "127.0.0.1", done));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: "baton-m2m",
      client_secret: "m2m-secret-0123456789abcdef",
      grant_types: ["client_credentials"],
      redirect_uris: [],
      response_types: [],
    },
  ],
  scopes: ["openid", "offline_access", "mcp:tools"],
  cookies: { keys: ["baton-test-cookie-key-0123456789"] },
  pkce: { required: () => true },
  // A refresh token for every client allowed one (the package's default also wants
  // `prompt=consent` with offline_access), so the tests see tokens refreshed.
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed("refresh_token"),
  features: {
    devInteractions: { enabled: true },
    registration: { enabled: true },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resources[0],
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => {
        if (!known(resource)) {
          throw new errors.InvalidTarget(`unknown resource ${resource}`);
        }
        return {
          scope: "mcp:tools",
          accessTokenFormat: "jwt",
          accessTokenTTL: tokenTtl,
          jwt: { sign: { alg: "RS256" } },
        };
      },
    },
  },
});
provider.on("server_error", (ctx, error) => console.error("server_error", error));
server.on("request", provider.callback());
console.log(`issuer ${issuer}`);
