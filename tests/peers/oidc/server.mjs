// A real OpenID Provider (oidc-provider, OpenID Certified) for the SSO tests, on loopback.
// Usage: node server.mjs PORT CONFIG_JSON  with {"clients": [...], "accounts": {"<login>": {claims}}}
// devInteractions gives a plain login + consent form that any username passes; the login typed
// there is the account id, and by default also the `sub` the provider sends.
//
// An independent provider's `sub` is its own user id, opaque to us: an account may name it as
// {"sub": "<id>"}, sent to clients registered with "subject_type": "pairwise" (standard client
// metadata: the provider picks the sub each client sees). Other accounts get a SHA-256 of client
// and login there, as a pairwise provider would.
// With "accounts_file": "<path>" instead of "accounts", the accounts are read from that JSON file
// at every lookup, so a test can change a person's claims between two logins.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
const cfg = JSON.parse(process.argv[3]);

function accounts() {
  return cfg.accounts_file ? JSON.parse(readFileSync(cfg.accounts_file, 'utf8')) : cfg.accounts;
}

const configuration = {
  clients: cfg.clients,
  pkce: { required: () => true },
  claims: { openid: ['sub'], profile: ['name', 'department', 'staff_no'], email: ['email'] },
  conformIdTokenClaims: true,
  cookies: { keys: ['union-oidc-peer-cookie-key'] },
  features: { devInteractions: { enabled: true } },
  subjectTypes: ['public', 'pairwise'],
  async pairwiseIdentifier(ctx, accountId, client) {
    return accounts()[accountId]?.sub
      ?? createHash('sha256').update(`${client.clientId}:${accountId}`).digest('hex');
  },
  async findAccount(ctx, id) {
    const { sub, ...claims } = accounts()[id] || {};
    return { accountId: id, async claims() { return { sub: id, ...claims }; } };
  },
};

const provider = new Provider(`http://127.0.0.1:${port}`, configuration);
provider.on('server_error', (ctx, err) => console.error('server_error', err));
provider.listen(port, '127.0.0.1', () => console.log('ready'));
