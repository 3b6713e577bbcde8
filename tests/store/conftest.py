from tests.store.databases import db_url, engine

__all__ = ["db_url", "engine"]
