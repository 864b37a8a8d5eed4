import { ApiError, api, clean, errorFrom, unwrap, type Schemas } from './client'
import type { paths } from './schema'

export type MemberSummary = Schemas['MemberSummary']
export type Member = Schemas['MemberOut']
export type MemberPatch = Schemas['MemberPatch']
export type FieldDef = Schemas['FieldOut']
export type HistoryRow = Schemas['HistoryOut']
export type MemberListQuery = NonNullable<paths['/api/v1/members']['get']['parameters']['query']>
export type MemberSort = NonNullable<MemberListQuery['sort']>


export const listMembers = (query: MemberListQuery) =>
  unwrap(api.GET('/api/v1/members', { params: { query: clean(query) } }))
export const getMember = (id: number) =>
  unwrap(api.GET('/api/v1/members/{member_id}', { params: { path: { member_id: id } } }))
export const patchMember = (id: number, body: MemberPatch) =>
  unwrap(api.PATCH('/api/v1/members/{member_id}', { params: { path: { member_id: id } }, body }))
export const memberHistory = (id: number) =>
  unwrap(api.GET('/api/v1/members/{member_id}/history', { params: { path: { member_id: id } } }))
export const membershipEvents = (id: number) =>
  unwrap(api.GET('/api/v1/members/{member_id}/membership-events', { params: { path: { member_id: id } } }))
export const fieldCatalogue = () => unwrap(api.GET('/api/v1/fields'))
export const myRecord = () => unwrap(api.GET('/api/v1/me/member'))
export const registrationFormUrl = (id: number) => `/api/v1/members/${id}/registration-form.pdf`
export const myRegistrationFormUrl = '/api/v1/me/registration-form.pdf'
export type FormBatchQuery = Omit<MemberListQuery, 'page' | 'page_size'>
/** The printed 登记表 of every member the list's filter finds, one page each (at most the API's
 * limit: more answer 422 with the server's message, asking to narrow the filter). */
export const registrationForms = (query: FormBatchQuery) =>
  unwrap(api.GET('/api/v1/members/registration-forms.pdf', { params: { query: clean(query) }, parseAs: 'blob' })) as
    Promise<Blob>

// import, new member, filing
export type MemberIn = Schemas['MemberIn']
export const createMember = (body: MemberIn) => unwrap(api.POST('/api/v1/members', { body }))

export type ImportReport = Schemas['ImportReport']
export type ImportJob = Schemas['ImportJobOut']
export type ImportMode = 'all_or_nothing' | 'valid_only'
export const importTemplateUrl = '/api/v1/members/import-template.xlsx'

/** One upload of the sheet: a report (200; or 422 import_rejected, the same report with nothing
 * written), or a job (202) for a sheet too large to run in the request. */
export async function runImport(file: File, dryRun: boolean, mode: ImportMode): Promise<{ report?: ImportReport; job?: ImportJob }> {
  const form = new FormData()
  form.append('file', file, file.name)
  form.append('dry_run', dryRun ? 'true' : 'false')
  form.append('mode', mode)
  let result
  try {
    // openapi-fetch sends a FormData as it is (multipart, the browser sets the boundary).
    result = await api.POST('/api/v1/members/import', { body: form as unknown as Schemas['ImportForm'] })
  } catch {
    throw new ApiError(0, 'network', '无法连接服务器，请检查网络后重试')
  }
  const { data, error, response } = result
  if (response.status === 202) return { job: data as ImportJob }
  if (response.ok) return { report: data as ImportReport }
  const body = error as (ImportReport & { code?: string }) | undefined
  if (response.status === 422 && body?.code === 'import_rejected') return { report: body }
  throw await errorFrom(response, error)
}
export const importJob = (id: number) =>
  unwrap(api.GET('/api/v1/members/imports/{import_id}', { params: { path: { import_id: id } } }))
