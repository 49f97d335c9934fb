"""Orchestrations: generator functions only, deterministic and free of I/O.

Time comes from `context.current_utc_datetime`, waits from durable timers, side effects
from activities. Durations come from the input, so tests can shorten them.
"""
