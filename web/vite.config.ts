import { defineConfig } from 'vite';

// The web client: `npm run build:web` writes web/dist, which the server serves at / (VEZA_WEB_DIR).
export default defineConfig({
  root: new URL('.', import.meta.url).pathname,
  base: '/',
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true, chunkSizeWarningLimit: 2000 },
});
