// Audit's arch= field is the kernel's AUDIT_ARCH_* constant (EM_* machine | 64-bit | little-endian
// flags); the syscall= number only means something together with it.

import { SYSCALLS_AARCH64, SYSCALLS_I386, SYSCALLS_X86_64 } from "../../../src/collectors/audit/tables.generated.js";

const ARCHES: Record<string, { name: string; table?: Record<number, string> }> = {
  c000003e: { name: "x86_64", table: SYSCALLS_X86_64 },
  "40000003": { name: "i386", table: SYSCALLS_I386 },
  c00000b7: { name: "aarch64", table: SYSCALLS_AARCH64 },
  "40000028": { name: "arm" },
  "80000015": { name: "ppc64" },
  c0000015: { name: "ppc64le" },
  "80000016": { name: "s390x" },
  "00000016": { name: "s390" },
  c00000f3: { name: "riscv64" },
};

/** "c000003e" → "x86_64"; an unknown constant is returned as written. */
export function archName(arch: string): string {
  return ARCHES[arch.toLowerCase()]?.name ?? arch;
}

/** Syscall number → name for x86_64, aarch64 and i386; undefined where hv has no table. */
export function syscallName(arch: string, num: string): string | undefined {
  const table = ARCHES[arch.toLowerCase()]?.table;
  if (!table) return undefined;
  return table[Number(num)];
}
