/**
 * Keeps glibc from handing the memory of freed socket read buffers back to the kernel after every
 * young collection, by raising its heap trim threshold from 128 KiB to 64 MiB once at start.
 *
 * Why: node allocates a 64 KiB buffer (malloc) for every socket read and V8 frees them in batches of
 * ~32 MB, at each young collection. With glibc's default threshold the freed top of the heap is
 * returned to the kernel (brk/madvise) and the next 32 MB of reads fault every page in again: TCP bulk
 * through meshgate took 50–200k minor page faults per GB. Whether a process escapes this depends on its
 * allocation history (what sits at the heap top, what large blocks it freed), so the bare node:net
 * pipe sometimes did (23–84k faults/GB) and meshgate mostly did not. Measured (iperf3 through both at
 * once on one core, `tcp-bulk/meshgate-vs-pipe` method, 6 s each): meshgate 1.32–1.48× the pipe's
 * CPU per GB without this, 0.97–1.03× with it (365–802 faults/GB); the same with
 * `GLIBC_TUNABLES=glibc.malloc.trim_threshold=4000000000`, which confirms the cause.
 *
 * How, without an API for mallopt(3): glibc's documented dynamic threshold. When a block that was
 * allocated with mmap (above the mmap threshold, 128 KiB by default) is freed, glibc raises the mmap
 * threshold to its size and the trim threshold to twice that, for blocks up to 32 MiB on 64-bit. So
 * one block just under 32 MiB is allocated and dropped; it is freed at the next young collection. It
 * is never written, so it costs no resident memory. No effect when the operator fixed the thresholds
 * (`MALLOC_TRIM_THRESHOLD_`, `GLIBC_TUNABLES`: glibc then keeps them) or with another libc.
 *
 * Cost: up to 64 MiB of freed memory may stay mapped to the process, and blocks under 32 MiB come from
 * the heap instead of their own mappings. HTTP load (wrk, 50 connections, 6 s, against a gateway with
 * this and heap-growth.ts undone by their overrides): peak RSS 154–156 MB against 131–135 MB; requests
 * per CPU-second with them / without: 0.78, 0.96, 1.02, 1.10 in four interleaved runs (noise level).
 */

/** Size of the block allocated and dropped: under glibc's 32 MiB cap on the dynamic mmap threshold. */
export const THRESHOLD_RAISING_BLOCK_BYTES = 32 * 1024 * 1024 - 64 * 1024;

/**
 * Raises glibc's malloc trim threshold to ~64 MiB (see the module comment) by allocating one
 * {@link THRESHOLD_RAISING_BLOCK_BYTES} block outside V8's heap and dropping it. Takes effect once V8
 * has collected it (the next young collection). Never throws; does nothing on platforms other than Linux.
 */
export function raiseMallocTrimThreshold(): void {
  if (process.platform !== 'linux') return;
  // allocUnsafeSlow: malloc'd, uninitialized and unpooled, so the pages are never touched.
  Buffer.allocUnsafeSlow(THRESHOLD_RAISING_BLOCK_BYTES);
}
