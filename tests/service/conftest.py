from tests.api.conftest import api
from tests.store.databases import db_url, engine
from tests.support.services import live_redis

__all__ = ["api", "db_url", "engine", "live_redis"]
