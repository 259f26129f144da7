/**
 * Preload for processes a `start` script spawns but does not own the code of (the gateway):
 * `node --import <this file> dist/cli/main.js ...` with an IPC channel. When the start script dies,
 * even by SIGKILL, the channel closes and this process shuts itself down, so no orphan remains.
 */
import { exitWithParent } from './process-util.js';

exitWithParent();
