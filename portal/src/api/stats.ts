import { api, unwrap, type Schemas } from './client'

export type Summary = Schemas['SummaryOut']
export type Chart = { labels: string[]; series: { name: string; data: number[] }[] }

export const summary = (groupBy: string[], filter: Record<string, never> | null = null) =>
  unwrap(api.POST('/api/v1/stats/summary', { body: { group_by: groupBy, filter } }))
