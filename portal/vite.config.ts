import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'
import AutoImport from 'unplugin-auto-import/vite'
import Components from 'unplugin-vue-components/vite'
import { ElementPlusResolver } from 'unplugin-vue-components/resolvers'

// Served by Flask at /portal/ (server/portal/__init__.py); the build is package data, never committed.
export default defineConfig({
  base: '/portal/',
  plugins: [
    vue(),
    // Element Plus on demand: only the components a page uses land in its chunk (with their CSS).
    AutoImport({ resolvers: [ElementPlusResolver()], dts: 'src/auto-imports.d.ts' }),
    Components({ resolvers: [ElementPlusResolver()], dts: 'src/components.d.ts' }),
  ],
  build: {
    outDir: '../server/portal/dist',
    emptyOutDir: true,
    // Sources maps would ship the source with the wheel; the build stays small and readable enough.
    sourcemap: false,
    // The one chunk over Vite's 500 kB default is echarts/core + the bar chart, loaded only with the
    // dashboard's chart (about 170 kB gzip); everything else is far smaller.
    chunkSizeWarningLimit: 560,
  },
  server: {
    // `npm run dev` next to `make run`: same-origin cookies through the proxy.
    proxy: { '/api': 'http://127.0.0.1:5000', '/sso': 'http://127.0.0.1:5000' },
  },
})
