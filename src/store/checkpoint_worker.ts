/**
 * Worker thread of {@link WalCheckpointer}: its own connection to one SQLite file, running a
 * passive WAL checkpoint each time the writer asks. Control goes through shared memory, not
 * messages, so a writer busy in a synchronous loop still gets its checkpoints.
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { type CheckpointerStart, Control, State } from "./checkpoint_control.ts";
import { safetyCatch } from "../errors.ts";

self.onmessage = (e: MessageEvent<CheckpointerStart>) => {
  const { path, control, idleMs } = e.data;
  const ctl = new Int32Array(control);
  let db: DatabaseSync | undefined;
  try {
    db = new DatabaseSync(path);
    // Never wait for a lock: a checkpoint that cannot run now runs at the next request, and
    // the writer's own automatic checkpoint still bounds the WAL.
    db.exec("PRAGMA busy_timeout = 0");
    const checkpoint = db.prepare("PRAGMA wal_checkpoint(PASSIVE)");
    Atomics.store(ctl, Control.State, State.Ready);
    let seen = Atomics.load(ctl, Control.Requests);
    while (Atomics.load(ctl, Control.Stop) === 0) {
      if (Atomics.wait(ctl, Control.Requests, seen, idleMs) === "timed-out") break;
      seen = Atomics.load(ctl, Control.Requests);
      if (Atomics.load(ctl, Control.Stop) !== 0) break;
      try {
        checkpoint.get();
        Atomics.add(ctl, Control.Done, 1);
      } catch (e) {
        safetyCatch(e);
        // SQLITE_BUSY or an I/O error: nothing is lost, the frames stay in the WAL.
      }
      Atomics.store(ctl, Control.Busy, 0);
    }
  } catch {
    Atomics.store(ctl, Control.State, State.Failed);
  } finally {
    try {
      db?.close();
    } catch (e) {
      safetyCatch(e); // already closed
    }
    // Only this thread writes the state, so a plain read decides.
    if (Atomics.load(ctl, Control.State) !== State.Failed) {
      Atomics.store(ctl, Control.State, State.Exited);
    }
    Atomics.notify(ctl, Control.State);
    self.close();
  }
};
