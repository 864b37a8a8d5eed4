import { api, unwrap, type Schemas } from './client'

export type SubUnion = Schemas['SubUnionOut']
export const listSubUnions = () => unwrap(api.GET('/api/v1/sub-unions'))
/** Every sub-union by name (any signed-in account): targets of a transfer, a new member's 分工会. */
export const subUnionOptions = () => unwrap(api.GET('/api/v1/sub-unions/options'))
