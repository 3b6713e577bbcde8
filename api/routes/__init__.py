"""Thin route modules: parse, check scope, call the store, commit once, shape the reply."""
