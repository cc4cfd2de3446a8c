// Questions asked on a terminal: yes/no before something that cannot be undone (`hv vm delete` of
// a running VM). Without a terminal nothing is asked: the caller gets `undefined` and must have
// been told by a flag.

import { createInterface, type Interface } from "node:readline/promises";

export interface Asker {
  /** A line of text; `fallback` when the answer is empty. */
  ask(question: string, fallback?: string): Promise<string>;
  /** y/n; `fallback` when the answer is empty. */
  confirm(question: string, fallback: boolean): Promise<boolean>;
  close(): void;
}

/** Asks on the given streams (stdin/stderr by default: stdout stays for the command's output). */
export function asker(input: NodeJS.ReadableStream = process.stdin, output: NodeJS.WritableStream = process.stderr): Asker {
  let rl: Interface | undefined;
  const line = async (q: string): Promise<string> => {
    rl ??= createInterface({ input, output, terminal: (output as NodeJS.WriteStream).isTTY === true });
    return (await rl.question(q)).trim();
  };
  return {
    async ask(question, fallback) {
      const a = await line(`${question}${fallback !== undefined && fallback !== "" ? ` [${fallback}]` : ""}: `);
      return a === "" ? (fallback ?? "") : a;
    },
    async confirm(question, fallback) {
      for (;;) {
        const a = (await line(`${question} [${fallback ? "Y/n" : "y/N"}] `)).toLowerCase();
        if (a === "") return fallback;
        if (a === "y" || a === "yes") return true;
        if (a === "n" || a === "no") return false;
      }
    },
    close() {
      rl?.close();
    },
  };
}

/** True when a person can be asked: stdin and stderr are terminals. */
export function canAsk(): boolean {
  return process.stdin.isTTY === true && process.stderr.isTTY === true;
}

/** One yes/no question on the terminal; undefined when there is no terminal to ask on. */
export async function confirmOnTerminal(question: string, fallback = false): Promise<boolean | undefined> {
  if (!canAsk()) return undefined;
  const a = asker();
  try {
    return await a.confirm(question, fallback);
  } finally {
    a.close();
  }
}
