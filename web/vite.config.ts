import { defineConfig } from "vite";

// The build goes to dist/, which the Go binary embeds (web/embed.go).
export default defineConfig({
  base: "/",
  esbuild: { jsx: "automatic" },
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false },
  test: { environment: "node", include: ["src/**/*.test.ts", "src/**/*.test.tsx"], testTimeout: 30000 },
} as any);
