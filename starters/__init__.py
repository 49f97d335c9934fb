"""Starters: the HTTP API and timer triggers' code, behind function_app.py's decorators."""
