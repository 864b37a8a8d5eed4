// A form's submit: busy while it runs, the API's per-field messages (`fields`) beside their inputs,
// any other failure as one error for ApiErrorView.
import { ref } from 'vue'
import { ApiError } from '../api/client'

export function useSubmit() {
  const busy = ref(false)
  const error = ref<unknown>(null)
  const fields = ref<Record<string, string>>({})
  function reset() {
    error.value = null
    fields.value = {}
  }
  /** The message for one input: its own key, or the first key under it (`roles[0].sub_union_id`). */
  function fieldError(key: string): string | undefined {
    const f = fields.value
    return f[key] ?? Object.entries(f).find(([k]) => k.startsWith(key + '.') || k.startsWith(key + '['))?.[1]
  }
  async function submit<T>(run: () => Promise<T>): Promise<T | undefined> {
    busy.value = true
    reset()
    try {
      return await run()
    } catch (e) {
      error.value = e
      if (e instanceof ApiError) fields.value = e.fields
      return undefined
    } finally {
      busy.value = false
    }
  }
  return { busy, error, fields, fieldError, reset, submit }
}
