"""The REST API: FastAPI app, pydantic schemas, bearer-token auth, thin routes over the store."""
