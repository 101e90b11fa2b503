/// <reference types="vitest/config" />
import { defineConfig } from "vite";

// @fip/client is linked from ../typescript as TypeScript source; its
// runtime dependencies resolve from this package so there is one copy of
// each in the bundle.
export default defineConfig({
  esbuild: { jsx: "automatic" },
  resolve: {
    dedupe: ["@bufbuild/protobuf", "@connectrpc/connect", "@connectrpc/connect-web"],
  },
  build: {
    target: "es2022",
    sourcemap: false,
    reportCompressedSize: true,
    // The budget is on gzipped first-load JavaScript (300 KiB); this is raw.
    chunkSizeWarningLimit: 600,
    rollupOptions: {
      onwarn(warning, warn) {
        // react-router's "use client" directive means nothing to a bundle.
        if (warning.code === "MODULE_LEVEL_DIRECTIVE") return;
        warn(warning);
      },
    },
  },
  worker: { format: "es" },
  server: {
    proxy: {
      // `npm run dev` against a running `fip server --dev`.
      "/api": "http://127.0.0.1:8080",
      "/fip.": "http://127.0.0.1:8080",
    },
  },
  test: {
    environment: "jsdom",
    include: ["test/**/*.test.{ts,tsx}"],
    setupFiles: ["test/setup.ts"],
  },
});
