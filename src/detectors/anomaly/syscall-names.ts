// hv's syscall models speak i386 syscall numbers: the public syscall datasets (ADFA-LD: Ubuntu
// 11.04, 32-bit) use them, so a model trained on a dataset and one trained on this host's audit
// events share a vocabulary. Audit events carry syscall names (x86_64 or aarch64 resolved by the
// audit collector); these map to the i386 number of the same call, and the 64-bit-only names to
// the i386 call that 32-bit glibc makes for the same job (mmap → mmap2, socket → socketcall …).

import { SYSCALLS_I386 } from "../../collectors/audit/tables.generated.js";

const NUMBER_BY_NAME = new Map<string, number>();
for (const [num, name] of Object.entries(SYSCALLS_I386)) {
  if (!NUMBER_BY_NAME.has(name)) NUMBER_BY_NAME.set(name, Number(num));
}

// 64-bit name → the i386 call 32-bit glibc (2.13, as in ADFA-LD) issues for it.
const I386_EQUIVALENT: Record<string, string> = {
  mmap: "mmap2",
  stat: "stat64",
  lstat: "lstat64",
  fstat: "fstat64",
  newfstatat: "fstatat64",
  newfstat: "fstat64",
  fcntl: "fcntl64",
  pread: "pread64",
  pwrite: "pwrite64",
  select: "_newselect",
  lseek: "_llseek",
  getrlimit: "ugetrlimit",
  getuid: "getuid32",
  getgid: "getgid32",
  geteuid: "geteuid32",
  getegid: "getegid32",
  setuid: "setuid32",
  setgid: "setgid32",
  setreuid: "setreuid32",
  setregid: "setregid32",
  setresuid: "setresuid32",
  setresgid: "setresgid32",
  getresuid: "getresuid32",
  getresgid: "getresgid32",
  getgroups: "getgroups32",
  setgroups: "setgroups32",
  chown: "chown32",
  fchown: "fchown32",
  lchown: "lchown32",
  setfsuid: "setfsuid32",
  setfsgid: "setfsgid32",
  statfs: "statfs64",
  fstatfs: "fstatfs64",
  truncate: "truncate64",
  ftruncate: "ftruncate64",
  sendfile: "sendfile64",
  fadvise64: "fadvise64_64",
  // Before Linux 4.3 every socket call on i386 went through socketcall(2), and SysV IPC through ipc(2).
  socket: "socketcall", connect: "socketcall", accept: "socketcall", accept4: "socketcall", bind: "socketcall",
  listen: "socketcall", sendto: "socketcall", recvfrom: "socketcall", sendmsg: "socketcall", recvmsg: "socketcall",
  shutdown: "socketcall", getsockname: "socketcall", getpeername: "socketcall", socketpair: "socketcall",
  setsockopt: "socketcall", getsockopt: "socketcall", sendmmsg: "socketcall", recvmmsg: "socketcall",
  semget: "ipc", semop: "ipc", semctl: "ipc", semtimedop: "ipc", shmget: "ipc", shmat: "ipc", shmctl: "ipc",
  shmdt: "ipc", msgget: "ipc", msgsnd: "ipc", msgrcv: "ipc", msgctl: "ipc",
  // Calls newer than 2011 glibc, made today where older code used the classic one.
  openat: "open",
  clone3: "clone",
  pipe2: "pipe",
  dup3: "dup2",
  getdents64: "getdents64",
  faccessat2: "access",
  faccessat: "access",
  rseq: "rseq",
  prlimit64: "ugetrlimit",
};

/** The i386 number for a syscall name as audit reports it (any arch), or undefined. */
export function i386Number(name: string): number | undefined {
  return NUMBER_BY_NAME.get(I386_EQUIVALENT[name] ?? name) ?? NUMBER_BY_NAME.get(name);
}

/** "5" → "open"; unknown numbers as "#N". */
export function i386Name(num: number): string {
  return SYSCALLS_I386[num] ?? `#${num}`;
}
