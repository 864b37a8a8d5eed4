import { api, unwrap, type Schemas } from './client'

export type SubUnion = Schemas['SubUnionOut']
export const listSubUnions = () => unwrap(api.GET('/api/v1/sub-unions'))
