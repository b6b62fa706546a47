/**
 * FileHandle over a node:fs file descriptor: positional pread/pwrite/pwritev, fdatasync,
 * fsync, ftruncate, fstat. Node, Bun and Deno all run it: it is Node's only choice, what
 * is fastest in Bun, and faster than FsFile's seek+write in Deno (figures in
 * runtimes/deno/platform.ts).
 *
 * `writev` is one `fs.writevSync` (a single pwritev) where the runtime's is fast, and one
 * positional write per buffer where it is not (`{ writevByParts: true }`, Deno): Deno
 * 2.9's `writevSync` took 1.3-15 ms for two 1 MiB buffers where `writeSync` of the same
 * 2 MiB takes 0.26-0.8 ms (Node and Bun: 0.2-0.3 ms either way; scratch measurement,
 * 2026-12-05), and the durability worker hands it the two halves of every batch that
 * wraps around the group WAL ring. Nothing relies on a writev being one system call: a
 * record torn between two writes is what recovery's torn-tail cut exists for, as it is
 * for a short pwritev.
 *
 * Invariants: `write`/`writev` return only when every byte is written (short writes are
 * continued, a zero-byte write is an EIO); every failure is a PlatformError; after
 * `close` the descriptor number is never used again by this object.
 * Threads: a handle belongs to the thread that opened it (Deno's descriptors are
 * per-thread resource ids); positional I/O keeps no shared file offset.
 */
import * as fs from "node:fs";
import type { FileHandle, OpenMode } from "../../src/platform.ts";
import { PlatformError } from "../../src/platform.ts";
import { checkOffset, osError } from "./os-error.ts";

const { O_RDWR, O_CREAT } = fs.constants;

const FLAGS: Record<OpenMode, string | number> = {
  read: "r",
  readwrite: "r+",
  create: O_RDWR | O_CREAT,
  createExclusive: "wx+",
  truncate: "w+",
};

export class NodeFsFile implements FileHandle {
  #fd: number;
  #closed = false;
  #closeHooks: Array<() => void> = [];

  private constructor(readonly path: string, fd: number, private readonly writevByParts: boolean) {
    this.#fd = fd;
  }

  static open(path: string, mode: OpenMode, options: { writevByParts?: boolean } = {}): NodeFsFile {
    const flags = FLAGS[mode];
    if (flags === undefined) throw new PlatformError(`open ${path}: unknown mode ${mode}`, "EINVAL");
    try {
      return new NodeFsFile(path, fs.openSync(path, flags, 0o666), options.writevByParts === true);
    } catch (error) {
      throw osError(error, `open(${mode})`, path);
    }
  }

  /** The descriptor, for kernel locks; throws EBADF once closed. */
  get fd(): number {
    if (this.#closed) throw new PlatformError(`${this.path}: file is closed`, "EBADF");
    return this.#fd;
  }

  read(buf: Uint8Array, position: number): number {
    checkOffset(position, "read", this.path);
    const fd = this.fd; // EBADF once closed, even for nothing to read
    if (buf.length === 0) return 0;
    try {
      return fs.readSync(fd, buf, 0, buf.length, position);
    } catch (error) {
      throw osError(error, "read", this.path);
    }
  }

  write(buf: Uint8Array, position: number): void {
    this.#write(buf, position, "write");
  }

  /** `write`, its errors named after `operation` (a writev by parts is still a writev to its caller). */
  #write(buf: Uint8Array, position: number, operation: string): void {
    checkOffset(position, operation, this.path);
    const fd = this.fd; // EBADF once closed, even for nothing to write
    let done = 0;
    try {
      while (done < buf.length) {
        const n = fs.writeSync(fd, buf, done, buf.length - done, position + done);
        if (n <= 0) throw new PlatformError(`${operation} ${this.path}: wrote 0 bytes`, "EIO");
        done += n;
      }
    } catch (error) {
      throw osError(error, operation, this.path);
    }
  }

  writev(bufs: readonly Uint8Array[], position: number): void {
    checkOffset(position, "writev", this.path);
    this.fd; // EBADF once closed, even for nothing to write
    if (this.writevByParts) {
      for (const buf of bufs) {
        this.#write(buf, position, "writev");
        position += buf.length;
      }
      return;
    }
    let pending = bufs.filter((b) => b.length > 0);
    try {
      while (pending.length > 0) {
        let n = fs.writevSync(this.fd, pending, position);
        if (n <= 0) throw new PlatformError(`writev ${this.path}: wrote 0 bytes`, "EIO");
        position += n;
        // Drop the buffers written in full, and the written head of a partly written one.
        let i = 0;
        while (i < pending.length && n >= pending[i].length) n -= pending[i++].length;
        pending = pending.slice(i);
        if (n > 0) pending[0] = pending[0].subarray(n);
      }
    } catch (error) {
      throw osError(error, "writev", this.path);
    }
  }

  datasync(): void {
    try {
      fs.fdatasyncSync(this.fd);
    } catch (error) {
      throw osError(error, "fdatasync", this.path);
    }
  }

  sync(): void {
    try {
      fs.fsyncSync(this.fd);
    } catch (error) {
      throw osError(error, "fsync", this.path);
    }
  }

  truncate(length: number): void {
    checkOffset(length, "ftruncate", this.path);
    try {
      fs.ftruncateSync(this.fd, length);
    } catch (error) {
      throw osError(error, "ftruncate", this.path);
    }
  }

  size(): number {
    try {
      return fs.fstatSync(this.fd).size;
    } catch (error) {
      throw osError(error, "fstat", this.path);
    }
  }

  /** Runs `hook` just before the descriptor is closed (adapters release what they tied to it). */
  onClose(hook: () => void): void {
    this.#closeHooks.push(hook);
  }

  /** Closes the descriptor; a second call does nothing. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    // The descriptor is closed whatever a hook throws (it cannot be closed again later);
    // the first failure is the one reported.
    let failure: unknown;
    for (const hook of this.#closeHooks.splice(0)) {
      try {
        hook();
      } catch (error) {
        failure ??= error;
      }
    }
    try {
      fs.closeSync(this.#fd);
    } catch (error) {
      failure ??= osError(error, "close", this.path);
    }
    if (failure !== undefined) throw failure;
  }
}
