from tests.api.conftest import api
from tests.store.databases import db_url, engine

__all__ = ["api", "db_url", "engine"]
