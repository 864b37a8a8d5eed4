import { api, ssoGet, ssoPost, unwrap, type Schemas } from './client'

export type Me = Schemas['MeOut']
export type Providers = { cas: boolean; oidc: boolean; local: boolean }

export const me = () => unwrap(api.GET('/api/v1/auth/me'))
export const providers = () => ssoGet<Providers>('/sso/providers')
export const localLogin = (username: string, password: string) =>
  ssoPost<{ ok: boolean; csrf_token: string; next: string }>('/sso/local/login', { username, password })
// logout_url: where the provider's own session ends too (CAS logout, or OIDC end_session_endpoint).
export const logout = () => ssoPost<{ ok: boolean; logout_url: string | null }>('/sso/logout')
/** Where a campus sign-on button goes; `next` is a portal path such as /members/12. */
export const ssoLoginUrl = (kind: 'cas' | 'oidc', next: string) =>
  `/sso/${kind}/login?next=${encodeURIComponent('/portal' + (next.startsWith('/') ? next : '/' + next))}`
