import { api, clean, unwrap, type Schemas } from './client'
import type { paths } from './schema'

export type AuditRow = Schemas['AuditOut']
export type AuditQuery = NonNullable<paths['/api/v1/audit-log']['get']['parameters']['query']>

export const auditLog = (q: AuditQuery) => unwrap(api.GET('/api/v1/audit-log', { params: { query: clean(q) } }))
