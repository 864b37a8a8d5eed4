import type { ExportJob } from '../../api/stats'

export const STATUS: Record<string, { label: string; type: 'info' | 'warning' | 'success' | 'danger' }> = {
  queued: { label: '排队中', type: 'info' }, running: { label: '生成中', type: 'warning' },
  done: { label: '已完成', type: 'success' }, failed: { label: '失败', type: 'danger' },
  expired: { label: '已过期', type: 'info' },
}
export const finished = (j: ExportJob) => ['done', 'failed', 'expired'].includes(j.status ?? '')
export const percent = (j: ExportJob) =>
  j.status === 'done' ? 100 : j.total ? Math.min(99, Math.floor(((j.rows_written ?? 0) / j.total) * 100)) : 0
