import { api, unwrap, type Schemas } from './client'

export type SubUnion = Schemas['SubUnionOut']
export type SubUnionIn = Schemas['SubUnionIn']
export type SubUnionOption = Schemas['SubUnionOption']

export const listSubUnions = () => unwrap(api.GET('/api/v1/sub-unions'))
/** Every sub-union by name and code (any signed-in account): targets of a transfer, a new member's
 * 分工会, role bindings, query values. */
export const subUnionOptions = () => unwrap(api.GET('/api/v1/sub-unions/options'))
export const createSubUnion = (body: SubUnionIn) => unwrap(api.POST('/api/v1/sub-unions', { body }))
export const patchSubUnion = (id: number, body: Schemas['SubUnionPatch']) =>
  unwrap(api.PATCH('/api/v1/sub-unions/{sub_union_id}', { params: { path: { sub_union_id: id } }, body }))
export const deleteSubUnion = (id: number) =>
  unwrap(api.DELETE('/api/v1/sub-unions/{sub_union_id}', { params: { path: { sub_union_id: id } } }))
