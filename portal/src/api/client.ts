// The one way the portal talks to the server: openapi-fetch over the types generated from the
// app's OpenAPI document (schema.d.ts, `make portal-api`), with the portal cookie session.
// Unsafe requests carry the session's CSRF token (cookie union_csrf → header X-CSRF-Token);
// a 401 anywhere sends the person to sign-in and back (see router.ts).
import createClient, { type Middleware } from 'openapi-fetch'
import type { components, paths } from './schema'

export type Schemas = components['schemas']

export class ApiError extends Error {
  status: number
  code: string
  fields: Record<string, string>
  constructor(status: number, code: string, message: string, fields?: Record<string, string>) {
    super(message)
    this.status = status
    this.code = code
    this.fields = fields ?? {}
  }
}

export function csrfToken(): string | null {
  const hit = document.cookie.split('; ').find((c) => c.startsWith('union_csrf='))
  return hit ? decodeURIComponent(hit.slice('union_csrf='.length)) : null
}

let unauthorized: (() => void) | null = null
/** The router registers what a 401 does (sign-in, then back). */
export function onUnauthorized(handler: () => void) {
  unauthorized = handler
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS'])

const session: Middleware = {
  onRequest({ request }) {
    if (!SAFE.has(request.method)) {
      const token = csrfToken()
      if (token) request.headers.set('X-CSRF-Token', token)
    }
    return request
  },
  onResponse({ response }) {
    if (response.status === 401 && unauthorized) unauthorized()
    return response
  },
}

export const api = createClient<paths>({
  baseUrl: '',
  credentials: 'same-origin',
  headers: { Accept: 'application/json' },
})
api.use(session)

/** Drops empty filters so the server sees only what the person chose. */
export function clean<T extends Record<string, unknown>>(query: T): T {
  return Object.fromEntries(Object.entries(query).filter(([, v]) => v !== '' && v !== null && v !== undefined)) as T
}

type Result<T> = { data?: T; error?: unknown; response: Response }

export async function errorFrom(response: Response, body?: unknown): Promise<ApiError> {
  let b = body as Partial<Schemas['Error']> | undefined
  if (b === undefined) {
    try {
      b = (await response.json()) as Partial<Schemas['Error']>
    } catch {
      b = undefined
    }
  }
  const message =
    (b && typeof b.message === 'string' && b.message) || `请求失败（HTTP ${response.status}），请稍后再试`
  return new ApiError(response.status, (b && b.code) || 'http_' + response.status, message, b?.fields)
}

/** The answer's data, or an ApiError carrying the API's Chinese message and per-field errors. */
export async function unwrap<T>(call: Promise<Result<T>>): Promise<T> {
  let result: Result<T>
  try {
    result = await call
  } catch (e) {
    throw new ApiError(0, 'network', '无法连接服务器，请检查网络后重试')
  }
  if (!result.response.ok) throw await errorFrom(result.response, result.error)
  return result.data as T
}

/** The /sso routes are browser routes outside the OpenAPI document: plain JSON fetches. */
export async function ssoPost<T>(path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' }
  const token = csrfToken()
  if (token) headers['X-CSRF-Token'] = token
  if (body !== undefined) headers['Content-Type'] = 'application/json'
  let response: Response
  try {
    response = await fetch(path, {
      method: 'POST',
      credentials: 'same-origin',
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    })
  } catch {
    throw new ApiError(0, 'network', '无法连接服务器，请检查网络后重试')
  }
  if (!response.ok) throw await errorFrom(response)
  return (await response.json()) as T
}

export async function ssoGet<T>(path: string): Promise<T> {
  let response: Response
  try {
    response = await fetch(path, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
  } catch {
    throw new ApiError(0, 'network', '无法连接服务器，请检查网络后重试')
  }
  if (!response.ok) throw await errorFrom(response)
  return (await response.json()) as T
}
