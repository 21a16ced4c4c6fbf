"""A run's states, named once: the trainer, the ledger, the service and every page use these.

    idle ─start─► queued ⇄ running ⇄ paused ─► finished | stopped | diverged | failed
                                              └─(server crash)─► interrupted

A run waits as *queued* while every training slot is taken; a paused run gives its slot away.
*stopped* and *interrupted* runs keep their last checkpoint and can be continued.
"""
IDLE, QUEUED, RUNNING, PAUSED = "idle", "queued", "running", "paused"
FINISHED, STOPPED, DIVERGED, FAILED, INTERRUPTED = "finished", "stopped", "diverged", "failed", "interrupted"

ACTIVE_STATES = (QUEUED, RUNNING, PAUSED)
ENDED_STATES = (FINISHED, STOPPED, DIVERGED, FAILED, INTERRUPTED)
RESUMABLE_STATES = (STOPPED, INTERRUPTED)
ALL_STATES = (IDLE, *ACTIVE_STATES, *ENDED_STATES)

BADGE = {IDLE: "⚪ ready", QUEUED: "⏳ queued", RUNNING: "🟢 running", PAUSED: "⏸️ paused",
         FINISHED: "✅ finished", STOPPED: "⏹️ stopped", DIVERGED: "💥 diverged", FAILED: "❌ failed",
         INTERRUPTED: "⚡ interrupted"}
