/**
 * SnapshotStore: holds the snapshot the data path reads. Swapping is one assignment; a request or
 * connection that already read `current` keeps its snapshot to the end.
 */
import { EventEmitter } from 'node:events';
import type { Snapshot } from './snapshot.js';

export class SnapshotStore extends EventEmitter<{ snapshot: [Snapshot]; rejected: [string] }> {
  #current: Snapshot | undefined;
  #version = 0;
  /** Config updates refused since start (Istio `pilot_total_rejected_configs` in spirit). */
  rejectedCount = 0;

  /** The live snapshot. @throws Error before the first swap (listeners only start after it). */
  get current(): Snapshot {
    if (!this.#current) throw new Error('no snapshot installed yet');
    return this.#current;
  }

  get hasSnapshot(): boolean {
    return this.#current !== undefined;
  }

  /** Installs `next` with the next version number and emits `snapshot`. @returns the installed snapshot. */
  swap(next: Snapshot): Snapshot {
    const installed: Snapshot = Object.freeze({ ...next, version: ++this.#version });
    this.#current = installed;
    this.emit('snapshot', installed);
    return installed;
  }

  /** Records a refused update; the current snapshot keeps serving. */
  reject(reason: string): void {
    this.rejectedCount++;
    this.emit('rejected', reason);
  }
}
