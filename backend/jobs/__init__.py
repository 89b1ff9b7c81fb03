"""Persisted jobs: long-running work (backtests, sweeps, model training) queued in PostgreSQL and run
in worker processes by the engine that owns the job's kind.

    kinds.JobKind        a kind of job: its name and the import path of ``run(ctx: JobContext) -> dict``
    store                the ``jobs`` table: submit, get, list, request cancel, claim, finish
    runner.JobRunner     the engine-side loop: claims queued jobs, runs them in a process pool, relays progress
    worker.JobContext    what a job function gets in its worker process: params, settings, ``progress(...)``
    ops.job_operations   the generic get_job / list_jobs / cancel_job operations an engine declares

Lifecycle (a table, ``store.TRANSITIONS``): queued -> running -> succeeded | failed | cancelled;
queued -> cancelled. A job still ``running`` when its engine restarts is queued again (up to
``MAX_ATTEMPTS``), so a crash never leaves a job hanging as running forever.
"""
