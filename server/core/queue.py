"""The job queue: real RQ on Redis in production, RQ inline over fakeredis by default.

Jobs are named by dotted path (``"jobs.maintenance.purge_expired_tokens"``) so that the domain
can ask for one without importing ``jobs``. They are enqueued only after the surrounding
transaction commits (see :func:`server.core.db.after_commit`), so a worker never looks for a row
that is not there yet and a rolled-back request starts nothing.
"""

from __future__ import annotations

from typing import Any

from redis import Redis
from rq import Queue, Retry
from rq.job import Job
from rq.serializers import JSONSerializer
from sqlalchemy.orm import Session

from server.core.db import after_commit
from server.core.process import Slot


class JobQueue:
    def __init__(self, redis_url: str | None, name: str = "union"):
        self.inline = not redis_url
        if self.inline:
            import fakeredis

            self.redis: Redis = fakeredis.FakeRedis(server=fakeredis.FakeServer())
        else:
            self.redis = Redis.from_url(redis_url, socket_connect_timeout=5, socket_timeout=30)
        self.queue = Queue(name, connection=self.redis, is_async=not self.inline, serializer=JSONSerializer)

    def enqueue(self, func: str, *args: Any, retry: tuple[int, int] | None = None,
                job_id: str | None = None, **kwargs: Any) -> Job:
        return self.queue.enqueue_call(
            func, args=args, kwargs=kwargs or None, job_id=job_id,
            retry=Retry(max=retry[0], interval=retry[1]) if retry else None,
            result_ttl=86400, failure_ttl=7 * 86400,
        )

    def enqueue_after_commit(self, session: Session, func: str, *args: Any, **kwargs: Any) -> None:
        after_commit(session, lambda: self.enqueue(func, *args, **kwargs))

    def fetch(self, job_id: str) -> Job | None:
        try:
            return Job.fetch(job_id, connection=self.redis, serializer=JSONSerializer)
        except Exception:  # noqa: BLE001  (rq raises NoSuchJobError or a decoding error)
            return None


# Jobs and CLI commands find the process's job queue here (one per process).
_slot: Slot[JobQueue] = Slot("job queue")
set_current = _slot.set
current = _slot.get
