// 账号与角色 (super_admin): accounts, their role bindings, deactivation and token revocation.
import { api, clean, unwrap, type Schemas } from './client'

export type RoleCode = Schemas['Binding']['role']
export type Binding = { role: RoleCode; sub_union_id?: number | null }
export type RoleDef = Schemas['RoleDefOut']
/** UserOut with the two computed fields (roles, has_password) typed as the API writes them. */
export type User = Omit<Schemas['UserOut'], 'roles' | 'has_password'> & { roles?: Binding[]; has_password?: boolean }
export type UserCreate = Schemas['UserCreate']
export type UserPatch = Schemas['UserPatch']

export const roles = () => unwrap(api.GET('/api/v1/roles'))
export const listUsers = async (q: { q?: string; role?: RoleCode; page: number; page_size: number }) => {
  const page = await unwrap(api.GET('/api/v1/users', { params: { query: clean(q) } }))
  return { ...page, items: (page.items ?? []) as User[] }
}
export const createUser = (body: UserCreate) => unwrap(api.POST('/api/v1/users', { body }))
export const patchUser = (id: number, body: UserPatch) =>
  unwrap(api.PATCH('/api/v1/users/{user_id}', { params: { path: { user_id: id } }, body }))
export const revokeTokens = (id: number) =>
  unwrap(api.DELETE('/api/v1/users/{user_id}/tokens', { params: { path: { user_id: id } } }))
