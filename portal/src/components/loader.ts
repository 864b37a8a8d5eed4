// loading / error / data for one page's request; a newer call wins over an older one.
import { ref, type Ref } from 'vue'

export function useLoader<T>(fetcher: () => Promise<T>) {
  const data = ref<T | null>(null) as Ref<T | null>
  const error = ref<unknown>(null)
  const loading = ref(false)
  let seq = 0
  async function load() {
    const mine = ++seq
    loading.value = true
    error.value = null
    try {
      const result = await fetcher()
      if (mine === seq) data.value = result
    } catch (e) {
      if (mine === seq) error.value = e
    } finally {
      if (mine === seq) loading.value = false
    }
  }
  return { data, error, loading, load }
}
