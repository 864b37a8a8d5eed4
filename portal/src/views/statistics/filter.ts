// The query builder's model and the query language's JSON (DESIGN.md 「Query language」):
// {"all": […]} / {"any": […]} / {"not": …} nested, a condition {"field", "op", "value"}.
import type { Filter, QueryField } from '../../api/stats'

export type Mode = 'all' | 'any' | 'not'
export type Cond = { kind: 'cond'; id: number; field: string; op: string; value: unknown }
export type Group = { kind: 'group'; id: number; mode: Mode; items: Node[] }
export type Node = Cond | Group

export const MODES: { value: Mode; label: string }[] = [
  { value: 'all', label: '全部满足' }, { value: 'any', label: '任一满足' }, { value: 'not', label: '不满足' },
]
export const NO_VALUE = new Set(['is_empty', 'not_empty'])
export const LIST_OPS = new Set(['in', 'not_in'])
const SORTABLE_TYPES = new Set(['text', 'choice', 'date', 'number', 'ref'])
export const sortable = (f: QueryField | undefined) => SORTABLE_TYPES.has(f?.type ?? '')

let next = 1
export const newCond = (field = '', op = ''): Cond => ({ kind: 'cond', id: next++, field, op, value: null })
export const newGroup = (mode: Mode = 'all', items: Node[] = []): Group => ({ kind: 'group', id: next++, mode, items })

/** The value an operator starts with: nothing, an empty list, or a [low, high] pair (a date
 * range picker starts empty instead). */
export function initialValue(op: string, type: string): unknown {
  if (LIST_OPS.has(op)) return []
  if (op === 'between' && type !== 'date') return [null, null]
  return null
}

function filled(c: Cond): boolean {
  if (!c.field || !c.op) return false
  if (NO_VALUE.has(c.op)) return true
  if (Array.isArray(c.value)) return c.value.length > 0 && c.value.every((v) => v !== null && v !== '')
  return c.value !== null && c.value !== undefined && c.value !== ''
}

/**
 * The JSON filter of the builder, and where each condition sits in it (`filter.all[1]`), so the
 * server's per-condition messages (`filter.all[1].value`) land beside the right row. Conditions
 * still being typed (no field, no value) are left out; so are empty groups.
 */
export function toFilter(root: Group): { filter: Filter; paths: Map<string, number> } {
  const paths = new Map<string, number>()
  function walk(n: Node, path: string): Record<string, unknown> | null {
    if (n.kind === 'cond') {
      if (!filled(n)) return null
      paths.set(path, n.id)
      return NO_VALUE.has(n.op) ? { field: n.field, op: n.op } : { field: n.field, op: n.op, value: n.value }
    }
    const live = n.items.filter((i) => i.kind === 'group' ? hasAny(i) : filled(i))
    if (!live.length) return null
    if (n.mode === 'not') {
      if (live.length === 1) {
        const inner = walk(live[0], `${path}.not`)
        return inner && { not: inner }
      }
      return { not: { all: live.map((i, k) => walk(i, `${path}.not.all[${k}]`)) } }
    }
    return { [n.mode]: live.map((i, k) => walk(i, `${path}.${n.mode}[${k}]`)) }
  }
  return { filter: walk(root, 'filter'), paths }
}

function hasAny(g: Group): boolean {
  return g.items.some((i) => (i.kind === 'group' ? hasAny(i) : filled(i)))
}

/** A saved filter back into the builder (the root is always a group). */
export function fromFilter(raw: unknown): Group {
  const node = parse(raw)
  return node.kind === 'group' ? node : newGroup('all', [node])
}

function parse(raw: unknown): Node {
  if (!raw || typeof raw !== 'object') return newGroup()
  const o = raw as Record<string, unknown>
  if (Array.isArray(o.all)) return newGroup('all', o.all.map(parse))
  if (Array.isArray(o.any)) return newGroup('any', o.any.map(parse))
  if ('not' in o) {
    const inner = parse(o.not)
    // {"not": {"all": [a, b]}} reads as 不满足 a, b; {"not": c} as 不满足 c.
    return newGroup('not', inner.kind === 'group' && inner.mode === 'all' ? inner.items : [inner])
  }
  const c = newCond(String(o.field ?? ''), String(o.op ?? ''))
  c.value = 'value' in o ? o.value : null
  return c
}

/** A server error key (`filter.all[1].op`) → the condition row it is about. */
export function errorsByRow(fields: Record<string, string>, paths: Map<string, number>): Record<number, string> {
  const out: Record<number, string> = {}
  for (const [key, msg] of Object.entries(fields)) {
    const row = paths.get(key.replace(/\.(field|op|value)$/, ''))
    if (row !== undefined) out[row] = (out[row] ? out[row] + '；' : '') + msg
  }
  return out
}
