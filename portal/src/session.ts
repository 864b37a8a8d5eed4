// Who is signed in and what they may do: GET /api/v1/auth/me (roles, permissions).
import { reactive } from 'vue'
import * as auth from './api/auth'
import { ApiError } from './api/client'

export const session = reactive({
  me: null as auth.Me | null,
  loaded: false,
})

export async function loadSession(): Promise<auth.Me | null> {
  try {
    session.me = await auth.me()
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 401)) throw e
    session.me = null
  }
  session.loaded = true
  return session.me
}

export function forget() {
  session.me = null
  session.loaded = false
}

export function can(...perms: string[]): boolean {
  const held = session.me?.permissions ?? []
  return perms.length === 0 || perms.some((p) => held.includes(p))
}

/** 校工会 accounts reach every sub-union; 分工会 accounts one. */
export function schoolWide(): boolean {
  return (session.me?.roles ?? []).some((r) => r.scope === 'school')
}
