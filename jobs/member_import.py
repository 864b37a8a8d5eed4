"""Old home of :func:`jobs.members.run_import`, kept for one release.

A deployed Redis may still hold jobs queued under ``jobs.member_import.run_import`` before the
areas moved (issue 13); RQ resolves a job's function by that dotted name, so the name must keep
working until those queues have drained. Remove after the next release.
"""

from jobs.members import run_import

__all__ = ["run_import"]
