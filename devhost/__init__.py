"""devhost: a local host for Python v2-model Azure Durable Functions apps.

It indexes an app's function_app.py the way the Python worker does, serves its HTTP
triggers and the Durable HTTP management API, runs orchestrations through the real
azure-functions-durable replay engine, and keeps all state in Azure Storage (Azurite
by default).
"""

__version__ = "0.2.0"
