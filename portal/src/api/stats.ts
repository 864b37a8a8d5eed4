// 统计与导出: the universal query, summaries, presets and Excel exports (/api/v1/stats, /api/v1/exports).
import { api, errorFrom, unwrap, ApiError, type Schemas } from './client'

export type Summary = Schemas['SummaryOut']
export type Chart = { labels: string[]; series: { name: string; data: number[] }[] }
export type QueryField = Schemas['QueryFieldOut']
export type QueryResult = Schemas['QueryOut']
export type Preset = Schemas['PresetOut']
export type PresetIn = Schemas['PresetIn']
export type ExportJob = Schemas['ExportOut']
export type Filter = Record<string, unknown> | null
export type Template = { code: string; name: string; columns: string[] }
export type Catalogue = { fields: QueryField[]; ops: Record<string, string>; templates: Template[] }

// The filter is checked by the query language on the server, not by the OpenAPI schema.
const asFilter = (f: Filter) => f as Record<string, never> | null

export const summary = (groupBy: string[], filter: Filter = null) =>
  unwrap(api.POST('/api/v1/stats/summary', { body: { group_by: groupBy, filter: asFilter(filter) } }))

export const catalogue = async (): Promise<Catalogue> => {
  const r = await unwrap(api.GET('/api/v1/stats/fields'))
  return { fields: r.fields ?? [], ops: (r.ops ?? {}) as Record<string, string>, templates: (r.templates ?? []) as Template[] }
}

export const query = (q: { filter: Filter; fields: string[]; sort?: string[]; page: number; page_size: number }) =>
  unwrap(api.POST('/api/v1/stats/query', { body: { ...q, filter: asFilter(q.filter), sort: q.sort?.length ? q.sort : null } }))

export const presets = () => unwrap(api.GET('/api/v1/stats/presets'))
export const savePreset = (body: PresetIn) => unwrap(api.POST('/api/v1/stats/presets', { body }))
export const deletePreset = (id: string) =>
  unwrap(api.DELETE('/api/v1/stats/presets/{preset_id}', { params: { path: { preset_id: id } } }))

export type ExportRequest = { filter: Filter; fields?: string[] | null; group_by?: string[] | null; template?: string | null }
/** Small exports come back as the file itself (200), larger ones as a job to poll (202). */
export type Started = { kind: 'file'; blob: Blob; name: string } | { kind: 'job'; job: ExportJob }

export async function startExport(req: ExportRequest): Promise<Started> {
  let result
  try {
    result = await api.POST('/api/v1/stats/export', { body: { ...req, filter: asFilter(req.filter) }, parseAs: 'blob' })
  } catch {
    throw new ApiError(0, 'network', '无法连接服务器，请检查网络后重试')
  }
  const { response } = result
  // openapi-fetch reads an error's body as JSON whatever parseAs says.
  if (!response.ok) throw await errorFrom(response, result.error)
  const blob = result.data as unknown as Blob
  if (response.status === 202) return { kind: 'job', job: JSON.parse(await blob.text()) as ExportJob }
  return { kind: 'file', blob, name: fileName(response.headers.get('Content-Disposition')) }
}

/** The file name of an attachment: RFC 5987 filename*=UTF-8''… first, then filename="…". */
function fileName(disposition: string | null): string {
  const star = disposition?.match(/filename\*=UTF-8''([^;]+)/i)
  if (star) return decodeURIComponent(star[1])
  const plain = disposition?.match(/filename="?([^";]+)"?/i)
  return plain ? plain[1] : '会员导出.xlsx'
}

export const exportJob = (id: number) =>
  unwrap(api.GET('/api/v1/exports/{export_id}', { params: { path: { export_id: id } } }))
export const myExports = (q: { page: number; page_size: number }) =>
  unwrap(api.GET('/api/v1/exports', { params: { query: q } }))
