import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

/** The blotter's load harness (perf/), built apart from the app for the end-to-end run. */
export default defineConfig({
  root: "perf",
  base: "./",
  plugins: [react()],
  build: { outDir: "../e2e-perf-dist", emptyOutDir: true },
});
