// What every row of the query builder needs: the catalogue, the operators' Chinese names, the
// sub-unions (the values of 所属分工会), and the server's message for each row.
import { inject, provide, type InjectionKey, type Ref } from 'vue'
import type { QueryField } from '../../api/stats'
import type { SubUnionOption } from '../../api/subUnions'

export type Builder = {
  fields: Ref<QueryField[]>
  ops: Ref<Record<string, string>>
  subUnions: Ref<SubUnionOption[]>
  rowErrors: Ref<Record<number, string>>
}
const KEY: InjectionKey<Builder> = Symbol('query-builder')
export const provideBuilder = (b: Builder) => provide(KEY, b)
export const useBuilder = () => inject(KEY)!
