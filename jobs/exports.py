"""Old home of :func:`jobs.statistics.run_export`, kept for one release.

A deployed Redis may still hold jobs queued under ``jobs.exports.run_export`` before the
areas moved (issue 13); RQ resolves a job's function by that dotted name, so the name must keep
working until those queues have drained. Remove after the next release.
"""

from jobs.statistics import run_export

__all__ = ["run_export"]
