/**
 * The installed version of a dev dependency, read from node_modules/<name>/package.json,
 * so the report names exactly what ran. Threads: any.
 */
import { readFileSync } from "node:fs";

const repoUrl = new URL("../../", import.meta.url);

export function packageVersion(name: string): string {
  try {
    const text = readFileSync(new URL(`node_modules/${name}/package.json`, repoUrl), "utf8");
    return String(JSON.parse(text).version ?? "unknown");
  } catch {
    return "unknown";
  }
}
