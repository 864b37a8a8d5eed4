// A real OpenID Provider (oidc-provider, OpenID Certified) for the SSO tests, on loopback.
// Usage: node server.mjs PORT CONFIG_JSON  with {"clients": [...], "accounts": {"<sub>": {claims}}}
// devInteractions gives a plain login + consent form that any username passes.
import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
const cfg = JSON.parse(process.argv[3]);

const configuration = {
  clients: cfg.clients,
  pkce: { required: () => true },
  claims: { openid: ['sub'], profile: ['name', 'department', 'staff_no'], email: ['email'] },
  conformIdTokenClaims: true,
  cookies: { keys: ['union-oidc-peer-cookie-key'] },
  features: { devInteractions: { enabled: true } },
  async findAccount(ctx, id) {
    const claims = cfg.accounts[id] || {};
    return { accountId: id, async claims() { return { sub: id, ...claims }; } };
  },
};

const provider = new Provider(`http://127.0.0.1:${port}`, configuration);
provider.on('server_error', (ctx, err) => console.error('server_error', err));
provider.listen(port, '127.0.0.1', () => console.log('ready'));
