import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";

// SHA-256 of files (streamed: memory images are as big as the guest's RAM) and of text.

export async function sha256File(path: string, onBytes?: (n: number) => void): Promise<{ sha256: string; size: number }> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    const buf = chunk as Buffer;
    hash.update(buf);
    size += buf.length;
    onBytes?.(buf.length);
  }
  return { sha256: hash.digest("hex"), size };
}

export function sha256Text(text: string | Buffer): string {
  return createHash("sha256").update(text).digest("hex");
}
