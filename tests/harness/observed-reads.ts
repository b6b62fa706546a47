/**
 * A Platform that reports its log segment files' opens and reads: `onOpen(path)` before a
 * `*.wal` file is opened, `onRead(path, bytes)` after each read of one with the count it
 * returned. Other files keep the base platform's own handles (the directory lock needs
 * them). For tests that check how much of the log a reader reads, and when.
 */
import type { FileHandle, Platform } from "../../src/platform.ts";

export function observedReads(base: Platform, onOpen: (path: string) => void, onRead: (path: string, bytes: number) => void): Platform {
  return {
    ...base,
    open(path, mode): FileHandle {
      if (!path.endsWith(".wal")) return base.open(path, mode);
      onOpen(path);
      const file = base.open(path, mode);
      return {
        ...file,
        read: (buf, position) => {
          const n = file.read(buf, position);
          onRead(path, n);
          return n;
        },
        write: (buf, position) => file.write(buf, position),
        writev: (bufs, position) => file.writev(bufs, position),
        datasync: () => file.datasync(),
        sync: () => file.sync(),
        truncate: (length) => file.truncate(length),
        size: () => file.size(),
        close: () => file.close(),
      };
    },
  };
}
