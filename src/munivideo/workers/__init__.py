"""``munivideo worker``: the long-running process that delivers write-backs and runs periodic
syncs for many tenants.

* SQLite store: :class:`munivideo.workers.local.LocalWorker`, a scheduler loop on one machine.
* PostgreSQL store: :mod:`munivideo.workers.queue`, Procrastinate workers on any number of
  machines; the job that wakes a worker for a tenant is deferred by the store in the same
  transaction as the outbox row (:mod:`munivideo.store.wake`).

Both drain a tenant the same way (:func:`munivideo.workers.drain.drain`), stop gracefully on
SIGTERM, and expose the same metrics (:mod:`munivideo.workers.metrics`).
"""
