// The one capped reader: a regular file over the cap is refused before it is read (its real size
// named), anything else — a pipe, /dev/zero — is read up to the cap and stops there; the line
// splitter gives up on an input that has no newlines. Real files, a real FIFO, a real device.

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { capChunks, collectCapped, InputError, InputTooLargeError, readChunksCapped, readFileCapped, readTextCapped } from "../../src/events/input.js";
import { LineSplitter } from "../../src/events/line-splitter.js";

const dir = mkdtempSync(join(tmpdir(), "hv-input-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function drain(chunks: AsyncIterable<Buffer>): Promise<number> {
  let n = 0;
  for await (const c of chunks) n += c.length;
  return n;
}

describe("the capped reader", () => {
  it("reads a file up to exactly the cap, and refuses one byte more, naming both sizes", async () => {
    const file = join(dir, "f.txt");
    writeFileSync(file, "x".repeat(1000));
    expect(readFileCapped(file, 1000).length).toBe(1000);
    expect(await drain(readChunksCapped(file, { cap: 1000 }))).toBe(1000);
    expect(() => readFileCapped(file, 999)).toThrow(InputTooLargeError);
    expect(() => readFileCapped(file, 999)).toThrow(`${file} is 1000 bytes, over the cap of 999 bytes`);
    await expect(drain(readChunksCapped(file, { cap: 999 }))).rejects.toThrow(`${file} is 1000 bytes, over the cap of 999 bytes`);
  });

  it("stops /dev/zero at the cap, synchronously and streaming", async () => {
    expect(() => readFileCapped("/dev/zero", 100_000)).toThrow("/dev/zero is larger than the cap of 100000 bytes; reading stopped there");
    await expect(drain(readChunksCapped("/dev/zero", { cap: 1_000_000 }))).rejects.toThrow(/larger than the cap of 1000000 bytes/);
  });

  it("stops a pipe at the cap", async () => {
    const child = spawn("sh", ["-c", "yes 203.0.113.9"], { stdio: ["ignore", "pipe", "ignore"] });
    try {
      await expect(collectCapped(child.stdout, 50_000, "the pipe")).rejects.toThrow("the pipe is larger than the cap of 50000 bytes; reading stopped there");
    } finally {
      child.kill();
    }
    const fifo = join(dir, "fifo");
    const mk = spawn("mkfifo", [fifo]);
    await new Promise((r) => mk.on("close", r));
    const writer = spawn("sh", ["-c", `yes 198.51.100.1 > ${fifo}`], { stdio: "ignore" });
    try {
      await expect(drain(readChunksCapped(fifo, { cap: 20_000 }))).rejects.toThrow(`${fifo} is larger than the cap of 20000 bytes`);
    } finally {
      writer.kill();
    }
  });

  it("refuses a declared size over the cap before reading (a Content-Length)", async () => {
    let pulled = 0;
    async function* body(): AsyncGenerator<Buffer> {
      pulled++;
      yield Buffer.alloc(10);
    }
    await expect(drain(capChunks(body(), 100, "the response", 5000))).rejects.toThrow("the response is 5000 bytes, over the cap of 100 bytes");
    expect(pulled).toBe(0);
  });

  it("says what is wrong with a path that cannot be read", () => {
    expect(() => readTextCapped(join(dir, "absent"))).toThrow(InputError);
    expect(() => readTextCapped(join(dir, "absent"))).toThrow(/cannot read .*absent: ENOENT/);
    expect(() => readTextCapped(dir)).toThrow(/is a directory, not a file/);
  });
});

describe("the line splitter", () => {
  it("cuts a long line, counts what it dropped, and gives up on input without newlines", () => {
    const s = new LineSplitter(10, 0, 1000);
    const lines = [...s.push(Buffer.from("short\n" + "y".repeat(50) + "\nok\n"))];
    expect(lines.map((l) => [l.text, l.truncatedBytes])).toEqual([["short", 0], ["y".repeat(10), 40], ["ok", 0]]);
    expect(() => [...s.push(Buffer.alloc(2000))]).toThrow(/line 4 \(from byte \d+\) runs past 1000 bytes without a newline/);
  });
});
