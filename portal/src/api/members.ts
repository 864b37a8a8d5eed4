import { api, clean, unwrap, type Schemas } from './client'
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
