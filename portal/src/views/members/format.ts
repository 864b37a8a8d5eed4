import type { FieldDef } from '../../api/members'

type Child = { name?: string; gender?: string; birth_date?: string }

/** A catalogue value as the 登记表 prints it. */
export function show(f: FieldDef | undefined, value: unknown, subUnionName?: string | null): string {
  if (value === null || value === undefined || value === '') return ''
  if (f?.type === 'ref') return subUnionName ?? String(value)
  if (Array.isArray(value)) {
    if (f?.type === 'list') {
      return (value as Child[]).map((c) => `${c.name ?? ''}（${[c.gender, c.birth_date].filter(Boolean).join('，')}）`).join('；')
    }
    return value.join('、')
  }
  if (typeof value === 'object') return JSON.stringify(value)
  return String(value)
}

export type Group = { code: string; label: string; fields: FieldDef[] }

export function groups(catalogue: FieldDef[]): Group[] {
  const out: Group[] = []
  for (const f of catalogue) {
    let g = out.find((x) => x.code === f.group)
    if (!g) out.push((g = { code: f.group ?? '', label: f.group_label ?? '', fields: [] }))
    g.fields.push(f)
  }
  return out
}

/** Today's date in Beijing (YYYY-MM-DD), whatever the browser's own time zone. */
export const todayInBeijing = (): string =>
  new Intl.DateTimeFormat('sv-SE', { timeZone: 'Asia/Shanghai' }).format(new Date())
