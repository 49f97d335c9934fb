"""Activities: parse input, call one service, return a small JSON-able result.

Each takes the plain dict its orchestration sends and is idempotent (names derive from
the run id and agent id), so a retried or re-run activity does no harm. Failures raise:
the orchestration decides whether to retry or to record them.
"""
