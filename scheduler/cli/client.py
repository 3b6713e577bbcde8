"""HTTP client of the `gpusched` CLI: which server, which token, and errors a user can read."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_HOME = "~/.local/share/gpusched"
TIMEOUT = httpx.Timeout(15.0, connect=3.0)
PAGE_SIZE = 100

# A reset or a timeout may hide a request the server did carry out: only requests that are safe
# to repeat (GET, or a POST with an Idempotency-Key) are retried, once.
_RETRYABLE = (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError, httpx.TimeoutException)


class ApiError(Exception):
    """A request failed; `str(err)` is the sentence to show the user."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """The server and the token to send; `token_source` says where the token came from."""

    url: str
    token: str | None
    token_source: str
    home: Path


def gpusched_home() -> Path:
    """`$GPUSCHED_HOME`, default ~/.local/share/gpusched."""
    return Path(os.environ.get("GPUSCHED_HOME") or DEFAULT_HOME).expanduser()


def resolve_config(url: str | None = None, token: str | None = None) -> ClientConfig:
    """Options first, then GPUSCHED_URL / GPUSCHED_TOKEN, then defaults (the admin-token file)."""
    home = gpusched_home()
    base = (url or os.environ.get("GPUSCHED_URL") or DEFAULT_URL).strip().rstrip("/")
    if "://" not in base:
        base = "http://" + base
    if token:
        return ClientConfig(url=base, token=token.strip(), token_source="--token", home=home)
    env_token = os.environ.get("GPUSCHED_TOKEN", "").strip()
    if env_token:
        return ClientConfig(url=base, token=env_token, token_source="GPUSCHED_TOKEN", home=home)
    token_file = home / "admin-token"
    try:
        file_token = token_file.read_text(encoding="utf-8").strip()
    except OSError:
        file_token = ""
    if file_token:
        return ClientConfig(url=base, token=file_token, token_source=str(token_file), home=home)
    return ClientConfig(url=base, token=None, token_source="", home=home)


def path_for(*segments: str) -> str:
    """`/v1/seg/seg`, each segment quoted so a name with `/` or `?` cannot reach another route."""
    return "/v1/" + "/".join(quote(segment, safe="") for segment in segments)


def detail_of(response: httpx.Response) -> str:
    """The server's explanation: FastAPI's `detail` (a string or validation errors) or the text."""
    try:
        payload = response.json()
    except ValueError:
        return response.text.strip()[:500] or response.reason_phrase
    detail = payload.get("detail", payload) if isinstance(payload, dict) else payload
    if isinstance(detail, list):
        return "; ".join(_validation_line(entry) for entry in detail)
    if isinstance(detail, str):
        return detail
    return str(detail)


def _validation_line(entry: object) -> str:
    # Pydantic's loc starts with where the value came from (body/query/path); the field is the rest.
    if not isinstance(entry, dict):
        return str(entry)
    loc = [str(part) for part in entry.get("loc", ())]
    if loc and loc[0] in ("body", "query", "path", "header"):
        loc = loc[1:]
    message = str(entry.get("msg", "invalid value"))
    return f"{'.'.join(loc)}: {message}" if loc else message


class ApiClient:
    """Talks to one gpusched server; every failure comes out as an `ApiError`."""

    def __init__(self, config: ClientConfig, *, transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        headers = {"Accept": "application/json", "User-Agent": "gpusched-cli"}
        if config.token:
            headers["Authorization"] = f"Bearer {config.token}"
        self._http = httpx.Client(base_url=config.url, headers=headers, timeout=TIMEOUT, transport=transport)

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request; 2xx comes back, anything else raises `ApiError` with a sentence."""
        retry = method == "GET" or (headers is not None and "Idempotency-Key" in headers)
        clean_params = {k: v for k, v in (params or {}).items() if v is not None}
        attempts = 2 if retry else 1
        for attempt in range(attempts):
            try:
                response = self._http.request(method, path, params=clean_params, json=json, headers=headers)
                break
            except httpx.ConnectError as err:
                raise self._unreachable() from err
            except _RETRYABLE as err:
                if attempt + 1 < attempts:
                    continue
                raise ApiError(
                    f"gpusched at {self.config.url} did not answer {method} {path}: "
                    f"{type(err).__name__}: {err or 'connection closed'}"
                ) from err
            except httpx.HTTPError as err:
                raise ApiError(f"request to {self.config.url} failed: {err}") from err
        if response.is_success:
            return response
        raise self._error_for(response)

    def get(self, path: str, **params: Any) -> Any:
        """GET `path` and return its JSON."""
        return _json_of(self.request("GET", path, params=params))

    @staticmethod
    def json_of(response: httpx.Response) -> Any:
        """A response's JSON; a body that is not JSON raises `ApiError`."""
        return _json_of(response)

    def send(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        """POST/PATCH/DELETE `path`; the JSON reply, or None when the reply has no body."""
        response = self.request(method, path, json=body, **kwargs)
        return _json_of(response) if response.content else None

    def list_all(self, path: str, *, limit: int | None = None, **params: Any) -> list[Any]:
        """Every item of a list endpoint (at most `limit`), following pages; see `list_page`."""
        return self.list_page(path, limit=limit, **params)[0]

    def list_page(
        self, path: str, *, limit: int | None = None, **params: Any
    ) -> tuple[list[Any], int | None]:
        """Items of a list endpoint and how many match in all (None when the server won't say).

        Pages are asked for with `limit`/`offset`; the answer is a JSON list and the total comes
        from `X-Total-Count`. A list without a total is taken as the whole answer (the routes that
        do not page): asking again at another offset would only repeat it.
        """
        items: list[Any] = []
        while True:
            page_size = PAGE_SIZE if limit is None else min(PAGE_SIZE, limit - len(items))
            query = {**params, "limit": page_size, "offset": len(items)}
            response = self.request("GET", path, params=query)
            page = _json_of(response)
            if not isinstance(page, list):
                raise ApiError(f"GET {path} answered with an unexpected shape: {str(page)[:200]}")
            total = _count_header(response)
            if total is None:
                return (page if limit is None else page[:limit]), None
            items.extend(page)
            finished = len(page) < page_size or len(items) >= total
            if finished or (limit is not None and len(items) >= limit):
                return items, total

    def _unreachable(self) -> ApiError:
        return ApiError(
            f"cannot reach gpusched at {self.config.url}: is `gpusched up` running? "
            "(point GPUSCHED_URL or --url at another server)"
        )

    def _error_for(self, response: httpx.Response) -> ApiError:
        status = response.status_code
        detail = detail_of(response)
        where = f"{response.request.method} {response.request.url.path}"
        if status == 401:
            return ApiError(self._rejected_token(detail), status=status)
        if status == 403:
            return ApiError(
                f"not allowed: {detail} ({where} is outside this token's scope; an admin "
                "token, or a user token for that queue, may do it)",
                status=status,
            )
        if status == 404:
            return ApiError(f"not found: {detail}", status=status)
        if status == 422:
            return ApiError(f"invalid request: {detail}", status=status)
        if status >= 500:
            return ApiError(f"server error ({status}) on {where}: {detail}", status=status)
        return ApiError(f"{detail} ({status})", status=status)

    def _rejected_token(self, detail: str) -> str:
        token_file = self.config.home / "admin-token"
        if self.config.token is None:
            return (
                f"no token to send ({detail}): set GPUSCHED_TOKEN or pass --token; "
                f"`gpusched up` writes an admin token to {token_file}"
            )
        return (
            f"the token was rejected ({detail}; it came from {self.config.token_source}): "
            f"set GPUSCHED_TOKEN or pass --token with a valid token; "
            f"`gpusched up` writes the admin token to {token_file}"
        )


def _json_of(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as err:
        raise ApiError(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code} with a body that is not JSON: {response.text[:200]!r}"
        ) from err


def _count_header(response: httpx.Response) -> int | None:
    value = response.headers.get("X-Total-Count", "")
    return int(value) if value.isdigit() else None
