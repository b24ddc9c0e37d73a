// What the kernel says about a process: resident memory and open descriptors, read from /proc so
// the numbers are the process's own and not what it chooses to report about itself.
import { readFileSync, readdirSync } from 'node:fs';

/** VmRSS in bytes; 0 when the process is gone. */
export function rssBytes(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Entries in /proc/<pid>/fd; -1 when the process is gone. */
export function fdCount(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return -1;
  }
}

export const mb = (bytes: number): string => (bytes / 1048576).toFixed(1);
