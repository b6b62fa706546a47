/** Helpers of the live read-only handle tests (live-reader*.test.ts, live-readers.test.ts): a writer's rows and what its directory names. */
import { platform } from "./helpers.ts";

export const pad = (i: number) => String(i).padStart(5, "0");

/** Puts k<pad(i)> = <tag><i> and 200 dashes for i in [from, to), one after the other. */
export async function fill(db: { put(key: string, value: string): Promise<unknown> }, from: number, to: number, tag: string): Promise<void> {
  for (let i = from; i < to; i++) await db.put(`k${pad(i)}`, `${tag}${i}${"-".repeat(200)}`);
}

/** The MANIFEST on disk: its version, group checkpoint and the table files it names. */
export function manifestNow(dir: string): { version: number; groupCheckpoint: number; tables: string[] } {
  const json = JSON.parse(new TextDecoder().decode(platform.readFile(`${dir}/MANIFEST`)).split("\n")[1]);
  return { version: json.version, groupCheckpoint: json.groupCheckpoint, tables: json.tables.map((t: { number: number }) => `${String(t.number).padStart(6, "0")}.sst`).sort() };
}

/** The table files in `dir`/tables, sorted. */
export function sstFiles(dir: string): string[] {
  return platform.readdir(`${dir}/tables`).filter((name) => name.endsWith(".sst")).sort();
}
