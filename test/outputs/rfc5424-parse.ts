// An RFC 5424 parser written from the RFC's ABNF for the tests, independent of src/outputs, so
// the tests check the wire format rather than the formatter against itself.

export interface ParsedSyslog {
  pri: number;
  version: number;
  timestamp: string;
  hostname: string;
  appName: string;
  procId: string;
  msgId: string;
  sd: Array<{ id: string; params: Array<[string, string]> }>;
  msg: Buffer;
}

export function parseRfc5424(frame: Buffer): ParsedSyslog {
  const text = frame.toString("latin1"); // byte-for-byte, so offsets are byte offsets
  const m = /^<(\d{1,3})>(\d{1,2}) (\S+) (\S+) (\S+) (\S+) (\S+) /.exec(text);
  if (!m) throw new Error(`not an RFC 5424 header: ${JSON.stringify(text.slice(0, 80))}`);
  for (const [field, max] of [[m[4], 255], [m[5], 48], [m[6], 128], [m[7], 32]] as const) {
    if ((field as string).length > max || !/^[\x21-\x7e]+$/.test(field as string)) throw new Error(`bad header field ${field}`);
  }
  let i = m[0].length;
  const sd: ParsedSyslog["sd"] = [];
  if (text[i] === "-") i++;
  else {
    while (text[i] === "[") {
      i++;
      const idEnd = text.slice(i).search(/[ \]]/) + i;
      const element = { id: text.slice(i, idEnd), params: [] as Array<[string, string]> };
      i = idEnd;
      while (text[i] === " ") {
        i++;
        const eq = text.indexOf("=", i);
        const name = text.slice(i, eq);
        if (!/^[^\s="\]]{1,32}$/.test(name)) throw new Error(`bad PARAM-NAME ${name}`);
        if (text[eq + 1] !== '"') throw new Error(`PARAM-VALUE of ${name} not quoted`);
        i = eq + 2;
        let value = "";
        for (;;) {
          const c = text[i];
          if (c === undefined) throw new Error("unterminated PARAM-VALUE");
          if (c === "\\" && (text[i + 1] === '"' || text[i + 1] === "\\" || text[i + 1] === "]")) {
            value += text[i + 1];
            i += 2;
          } else if (c === '"') {
            i++;
            break;
          } else if (c === "]") {
            throw new Error(`unescaped ] in PARAM-VALUE of ${name}`);
          } else {
            value += c;
            i++;
          }
        }
        element.params.push([name, Buffer.from(value, "latin1").toString("utf8")]);
      }
      if (text[i] !== "]") throw new Error(`SD-ELEMENT not closed at ${i}: ${JSON.stringify(text.slice(i, i + 20))}`);
      i++;
      sd.push(element);
    }
  }
  let msg: Buffer = Buffer.alloc(0);
  if (i < frame.length) {
    if (text[i] !== " ") throw new Error("no SP before MSG");
    msg = frame.subarray(i + 1);
  }
  return {
    pri: Number(m[1]),
    version: Number(m[2]),
    timestamp: m[3] as string,
    hostname: m[4] as string,
    appName: m[5] as string,
    procId: m[6] as string,
    msgId: m[7] as string,
    sd,
    msg,
  };
}

/** Splits an octet-counted stream (RFC 6587 3.4.1) into frames; returns the frames and the unparsed rest. */
export function splitOctetCounted(data: Buffer): { frames: Buffer[]; rest: Buffer } {
  const frames: Buffer[] = [];
  let i = 0;
  for (;;) {
    const sp = data.indexOf(0x20, i);
    if (sp === -1) break;
    const lenText = data.subarray(i, sp).toString("latin1");
    if (!/^[1-9][0-9]*$/.test(lenText)) throw new Error(`bad MSG-LEN ${JSON.stringify(lenText)}`);
    const len = Number(lenText);
    if (sp + 1 + len > data.length) break;
    frames.push(data.subarray(sp + 1, sp + 1 + len));
    i = sp + 1 + len;
  }
  return { frames, rest: data.subarray(i) };
}

export function sdParams(parsed: ParsedSyslog): Record<string, string> {
  return Object.fromEntries(parsed.sd[0]?.params ?? []);
}
