"""Retry policies for activity calls (Python RetryOptions: first interval and attempts)."""

import azure.durable_functions as df

# Cloud calls: throttling and eventual consistency settle within a few retries.
CLOUD_CALL = df.RetryOptions(first_retry_interval_in_milliseconds=5_000, max_number_of_attempts=4)
# Bookkeeping against the app's own storage.
BOOKKEEPING = df.RetryOptions(first_retry_interval_in_milliseconds=2_000, max_number_of_attempts=5)
