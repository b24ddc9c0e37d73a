// Where a process's memory is: RSS from /proc, and from its own /metrics the V8 heap in use and
// the memory outside it (Buffers and other external allocations). RSS that grows while heap and
// external do not is the allocator keeping freed pages, not objects kept alive.
import { scrapeMetrics, sumOf } from './admin.ts';
import { mb, rssBytes } from './proc.ts';

export interface Memory {
  rss: number;
  heap: number;
  external: number;
}

export async function memory(pid: number, adminPort: number): Promise<Memory> {
  const samples = await scrapeMetrics(adminPort);
  return { rss: rssBytes(pid), heap: sumOf(samples, 'nodejs_heap_size_used_bytes'), external: sumOf(samples, 'nodejs_external_memory_bytes') };
}

export const formatMemory = (m: Memory): string => `RSS ${mb(m.rss)} MB, heap ${mb(m.heap)} MB, external ${mb(m.external)} MB`;
