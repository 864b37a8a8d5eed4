// The three workflows of 会籍: 入会 (applications), 转会 (transfers), 状态变更 (status changes).
import { api, unwrap, type Schemas } from './client'

export type Application = Schemas['ApplicationOut']
export type Transfer = Schemas['TransferOut']
export type StatusChange = Schemas['StatusChangeOut']
export type ApplicationStatus = 'submitted' | 'confirmed' | 'approved' | 'rejected' | 'withdrawn'
export type TransferStatus = 'requested' | 'out_approved' | 'school_approved' | 'accepted' | 'rejected' | 'cancelled'
export type StatusChangeStatus = 'requested' | 'approved' | 'rejected' | 'cancelled'

type Page = { page?: number; page_size?: number }

export const listApplications = (q: Page & { status?: ApplicationStatus }) =>
  unwrap(api.GET('/api/v1/applications', { params: { query: q } }))
export const confirmApplication = (id: number) =>
  unwrap(api.POST('/api/v1/applications/{application_id}/confirm', { params: { path: { application_id: id } } }))
export const approveApplication = (id: number) =>
  unwrap(api.POST('/api/v1/applications/{application_id}/approve', { params: { path: { application_id: id } } }))
export const rejectApplication = (id: number, reason: string) =>
  unwrap(api.POST('/api/v1/applications/{application_id}/reject', {
    params: { path: { application_id: id } }, body: { reason },
  }))

export const listTransfers = (q: Page & { status?: TransferStatus }) =>
  unwrap(api.GET('/api/v1/transfers', { params: { query: q } }))
export const approveTransfer = (id: number) =>
  unwrap(api.POST('/api/v1/transfers/{transfer_id}/approve', { params: { path: { transfer_id: id } } }))
export const acceptTransfer = (id: number) =>
  unwrap(api.POST('/api/v1/transfers/{transfer_id}/accept', { params: { path: { transfer_id: id } } }))
export const rejectTransfer = (id: number, reason: string) =>
  unwrap(api.POST('/api/v1/transfers/{transfer_id}/reject', { params: { path: { transfer_id: id } }, body: { reason } }))

export const listStatusChanges = (q: Page & { status?: StatusChangeStatus }) =>
  unwrap(api.GET('/api/v1/status-changes', { params: { query: q } }))
export const approveStatusChange = (id: number) =>
  unwrap(api.POST('/api/v1/status-changes/{change_id}/approve', { params: { path: { change_id: id } } }))
export const rejectStatusChange = (id: number, reason: string) =>
  unwrap(api.POST('/api/v1/status-changes/{change_id}/reject', { params: { path: { change_id: id } }, body: { reason } }))

// import, new member, filing
export type TransferIn = Schemas['TransferIn']
export type StatusChangeIn = Schemas['StatusChangeIn']
export const STATUS_CHANGE_KINDS: StatusChangeIn['kind'][] = ['离职', '退休', '去世', '复职']
export const requestTransfer = (body: TransferIn) => unwrap(api.POST('/api/v1/transfers', { body }))
export const requestStatusChange = (body: StatusChangeIn) => unwrap(api.POST('/api/v1/status-changes', { body }))
