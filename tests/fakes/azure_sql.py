"""Azure SQL's management plane for the fake Azure: one logical server and its databases.

Mounted into `AzureServer` (same HTTPS server, same bearer tokens), following the
documented Microsoft.Sql REST contract the official azure-mgmt-sql client expects:

- `GET .../servers/{s}/databases/{db}`: the Database (status, databaseId, creationDate,
  earliestRestoreDate, currentSku, maxSizeBytes, collation, sourceDatabaseId); 404
  ResourceNotFound for an unknown name.
- `PUT .../databases/{db}` with `createMode` Copy (sourceDatabaseId) or
  PointInTimeRestore (sourceDatabaseId, restorePointInTime within the source's restore
  window): 202 with the new database (status Creating), `Azure-AsyncOperation`
  (`.../locations/{loc}/databaseAzureAsyncOperation/{id}`), `Location` and
  `Retry-After` (`retry_after`); the operation runs `operation_seconds` (and until
  `gate` is set), then the database is Online with the source's content at that
  point, or the operation is Failed (an ARM error) and the database gone.
- `GET .../databases/{db}/backupShortTermRetentionPolicies/default`: `retentionDays`.
- `POST .../databases/{db}/export` (ExportDatabaseDefinition): 202 with
  `importExportAzureAsyncOperation` and `importExportOperationResults` URLs; when it
  finishes the fake writes a .bacpac (a zip of the database's content) to `storageUri` in
  the real storage emulator, signed with the key (StorageAccessKey) or SAS
  (SharedAccessKey) it was given; the Location then answers the ImportExportOperationResult.
- `POST .../servers/{s}/import` (ImportNewDatabaseDefinition): the same operation
  shape; it reads the bacpac from storage and creates the database from it.
- `POST .../databases/{db}/move` with `{"id": newId}`: the rename (200); 404 for an
  unknown source, 409 when the new name is taken.
- `DELETE .../databases/{db}`: 200.

Each database keeps its content (what a test says it holds) with the times it changed,
so a point-in-time restore gives back what the database held at that point.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from tests.fakes.webhook_server import RecordedRequest, Response, json_response

if TYPE_CHECKING:
    from tests.fakes.azure_server import AzureServer

Content = dict[str, Any]


@dataclass
class FakeDatabase:
    """One database of the server."""

    name: str
    location: str
    content: Content
    history: list[tuple[datetime, Content]]
    """(since when, what it held), oldest first: what a point-in-time restore reads."""
    database_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    status: str = "Online"
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    earliest_restore: datetime | None = None
    create_mode: str = "Default"
    source_database_id: str | None = None
    sku: str = "S0"
    max_size_bytes: int = 268435456000
    collation: str = "SQL_Latin1_General_CP1_CI_AS"

    def held_at(self, when: datetime) -> Content | None:
        """The content at a moment (None: the database did not exist yet)."""
        found = None
        for since, content in self.history:
            if since <= when:
                found = content
        return found


@dataclass
class SqlOperation:
    """A running or finished create, export or import."""

    id: str
    kind: str
    database: str
    status: str = "InProgress"
    error: dict[str, str] | None = None
    result: dict[str, Any] = field(default_factory=dict)
    started: datetime = field(default_factory=lambda: datetime.now(UTC))


class FakeAzureSql:
    """The logical server `server` in the fake's subscription and resource group."""

    def __init__(
        self, azure: AzureServer, server: str = "tesoro-production-sql", retention_days: int = 7
    ) -> None:
        self.azure = azure
        self.server = server
        self.retention_days = retention_days
        self.databases: dict[str, FakeDatabase] = {}
        self.operations: dict[str, SqlOperation] = {}
        # Knobs a test turns.
        self.operation_seconds = 0.3
        """How long a create, export or import runs."""
        self.retry_after: str | None = "1"
        """The Retry-After of operation answers (None: none sent, so the client's own
        polling interval paces its looks, as the SDK does when Azure sends none)."""
        self.gate = threading.Event()
        """Operations finish only once this is set (a test holds them in progress)."""
        self.gate.set()
        self.fail_create: dict[str, str] = {}
        """Database name -> the reason its creation fails."""
        self.fail_export: str | None = None
        """The reason every export fails (None: exports succeed)."""
        self.on_move: Callable[[str, str], None] | None = None
        """Called with (name, new name) when a rename arrives, before it is applied."""
        self.fail_move: dict[str, str] = {}
        """Database name -> the reason renaming it fails."""
        self.moves: list[tuple[str, str]] = []
        self.creates: list[tuple[str, str]] = []
        """(name, createMode) of every create asked for."""
        azure.mount(self.handle)

    # -- set-up and observation --------------------------------------------------------
    def add_database(
        self, name: str, content: Content, *, age: timedelta = timedelta(days=10)
    ) -> FakeDatabase:
        """A database that has existed for `age` (its restore window starts then)."""
        created = datetime.now(UTC) - age
        db = FakeDatabase(
            name,
            self.azure.location,
            dict(content),
            [(created, dict(content))],
            created=created,
            earliest_restore=created + timedelta(minutes=10) if age > timedelta(0) else None,
        )
        with self.azure.lock:
            self.databases[name] = db
        return db

    def write(self, name: str, content: Content) -> None:
        """What an application (or a migration) changes in a database, now."""
        with self.azure.lock:
            db = self.databases[name]
            db.content = dict(content)
            db.history.append((datetime.now(UTC), dict(content)))

    def content_of(self, name: str) -> Content | None:
        """What the database under `name` holds now (None: no such database)."""
        with self.azure.lock:
            db = self.databases.get(name)
            return None if db is None else dict(db.content)

    def database_id(self, name: str) -> str:
        """The resource id of a database of this server."""
        return f"{self.server_id}/databases/{name}"

    @property
    def server_id(self) -> str:
        """The server's resource id."""
        a = self.azure
        return (
            f"/subscriptions/{a.subscription}/resourceGroups/{a.resource_group}"
            f"/providers/Microsoft.Sql/servers/{self.server}"
        )

    # -- dispatch ----------------------------------------------------------------------
    def handle(self, request: RecordedRequest) -> Response | None:
        """Answer Microsoft.Sql requests of the fake's subscription; None for the rest."""
        path = request.path.rstrip("/")
        lowered = path.lower()
        if request.host or "/providers/microsoft.sql/" not in lowered:
            return None
        if self.azure.principal_of(request) is None:
            return _error(401, "InvalidAuthenticationToken", "The access token is invalid.")
        operation = re.fullmatch(
            r"/subscriptions/[^/]+/providers/microsoft\.sql/locations/[^/]+/"
            r"(databaseazureasyncoperation|databaseoperationresults|"
            r"importexportazureasyncoperation|importexportoperationresults)/([^/]+)",
            lowered,
        )
        if operation is not None:
            return self._operation(operation.group(1), operation.group(2))
        prefix = self.server_id.lower()
        if not lowered.startswith(prefix):
            return _error(404, "ResourceNotFound", f"The resource '{path}' was not found.")
        rest = path[len(prefix) :]
        if rest.lower() == "/import" and request.method == "POST":
            return self._import(request.json())
        match = re.fullmatch(r"/databases/([^/]+)(/.*)?", rest, flags=re.IGNORECASE)
        if match is None:
            return _error(404, "ResourceNotFound", f"The resource '{path}' was not found.")
        name, tail = unquote(match.group(1)), (match.group(2) or "").lower()
        if tail == "":
            if request.method == "GET":
                return self._get(name)
            if request.method == "PUT":
                return self._create(name, request.json())
            if request.method == "DELETE":
                with self.azure.lock:
                    self.databases.pop(name, None)
                return 200, {}, b""
        if tail == "/backupshorttermretentionpolicies/default" and request.method == "GET":
            return self._retention(name)
        if tail == "/export" and request.method == "POST":
            return self._export(name, request.json())
        if tail == "/move" and request.method == "POST":
            return self._move(name, request.json())
        return _error(404, "ResourceNotFound", f"The resource '{path}' was not found.")

    # -- databases ---------------------------------------------------------------------
    def _json(self, db: FakeDatabase) -> dict[str, Any]:
        properties: dict[str, Any] = {
            "collation": db.collation,
            "maxSizeBytes": db.max_size_bytes,
            "status": db.status,
            "databaseId": db.database_id,
            "creationDate": _iso(db.created),
            "currentServiceObjectiveName": db.sku,
            "requestedServiceObjectiveName": db.sku,
            "currentSku": {"name": db.sku, "tier": "Standard"},
            "catalogCollation": db.collation,
            "zoneRedundant": False,
            "readScale": "Disabled",
        }
        if db.earliest_restore is not None:
            properties["earliestRestoreDate"] = _iso(db.earliest_restore)
        if db.source_database_id is not None:
            properties["sourceDatabaseId"] = db.source_database_id
        return {
            "id": self.database_id(db.name),
            "name": db.name,
            "type": "Microsoft.Sql/servers/databases",
            "location": db.location,
            "kind": "v12.0,user",
            "sku": {"name": db.sku, "tier": "Standard"},
            "properties": properties,
        }

    def _get(self, name: str) -> Response:
        with self.azure.lock:
            db = self.databases.get(name)
            if db is None:
                return _not_found(name)
            return json_response(200, self._json(db))

    def _retention(self, name: str) -> Response:
        with self.azure.lock:
            if name not in self.databases:
                return _not_found(name)
        return json_response(
            200,
            {
                "id": f"{self.database_id(name)}/backupShortTermRetentionPolicies/default",
                "name": "default",
                "type": "Microsoft.Sql/servers/databases/backupShortTermRetentionPolicies",
                "properties": {
                    "retentionDays": self.retention_days,
                    "diffBackupIntervalInHours": 12,
                },
            },
        )

    def _source(self, source_id: str | None) -> FakeDatabase | None:
        if not source_id:
            return None
        prefix = f"{self.server_id}/databases/".lower()
        if not source_id.lower().startswith(prefix):
            return None
        return self.databases.get(source_id[len(prefix) :])

    def _create(self, name: str, body: Any) -> Response:
        properties = (body or {}).get("properties") or {}
        mode = str(properties.get("createMode") or "Default")
        with self.azure.lock:
            self.creates.append((name, mode))
            if name in self.databases:
                return _error(409, "DatabaseAlreadyExists", f"Database '{name}' already exists.")
            source = self._source(properties.get("sourceDatabaseId"))
            if mode in ("Copy", "PointInTimeRestore") and source is None:
                return _error(
                    400,
                    "InvalidSourceDatabaseId",
                    f"The source database '{properties.get('sourceDatabaseId')}' does not exist.",
                )
            assert source is not None or mode == "Default"
            content: Content | None = {} if source is None else dict(source.content)
            if mode == "PointInTimeRestore":
                assert source is not None  # checked above
                raw = properties.get("restorePointInTime")
                if not raw:
                    return _error(400, "InvalidRestorePointInTime", "restorePointInTime missing")
                point = _parse(str(raw))
                now = datetime.now(UTC)
                if (
                    source.earliest_restore is None
                    or point < source.earliest_restore
                    or (point > now)
                ):
                    return _error(
                        400,
                        "InvalidRestorePointInTime",
                        f"The restore point {raw} is outside the source database's restore window.",
                    )
                content = source.held_at(point)
            db = FakeDatabase(
                name,
                str((body or {}).get("location") or self.azure.location),
                content or {},
                [],
                status="Creating",
                create_mode=mode,
                source_database_id=self.database_id(source.name) if source else None,
            )
            self.databases[name] = db
            operation = self._new_operation("create", name)
        threading.Thread(target=self._finish_create, args=(operation,), daemon=True).start()
        headers = self._async_headers(
            "databaseAzureAsyncOperation", "databaseOperationResults", operation
        )
        return json_response(202, self._json(db), headers)

    def _finish_create(self, operation: SqlOperation) -> None:
        self._wait()
        with self.azure.lock:
            db = self.databases.get(operation.database)
            reason = self.fail_create.get(operation.database)
            if db is None or reason is not None:
                self.databases.pop(operation.database, None)
                operation.status = "Failed"
                operation.error = {"code": "DatabaseCreationFailed", "message": reason or "gone"}
                return
            db.status = "Online"
            db.created = datetime.now(UTC)
            db.history = [(db.created, dict(db.content))]
            db.earliest_restore = db.created
            operation.status = "Succeeded"

    def _move(self, name: str, body: Any) -> Response:
        new_id = str((body or {}).get("id") or "")
        new_name = new_id.rsplit("/", 1)[-1]
        if not new_id.lower().startswith(f"{self.server_id}/databases/".lower()) or not new_name:
            return _error(400, "InvalidResourceId", f"Invalid target resource id '{new_id}'.")
        hook = self.on_move
        if hook is not None:
            hook(name, new_name)
        with self.azure.lock:
            db = self.databases.get(name)
            if db is None:
                return _not_found(name)
            if name in self.fail_move:
                return _error(400, "DatabaseRenameFailed", self.fail_move[name])
            if new_name in self.databases:
                return _error(
                    409, "DatabaseAlreadyExists", f"Database '{new_name}' already exists."
                )
            del self.databases[name]
            db.name = new_name
            self.databases[new_name] = db
            self.moves.append((name, new_name))
        return 200, {}, b""

    # -- bacpac export and import ------------------------------------------------------
    def _export(self, name: str, body: Any) -> Response:
        with self.azure.lock:
            db = self.databases.get(name)
            if db is None:
                return _not_found(name)
            snapshot = dict(db.content)
            operation = self._new_operation("export", name)
        threading.Thread(
            target=self._finish_export, args=(operation, body or {}, snapshot), daemon=True
        ).start()
        return (
            202,
            self._async_headers(
                "importExportAzureAsyncOperation", "importExportOperationResults", operation
            ),
            b"",
        )

    def _finish_export(
        self, operation: SqlOperation, body: dict[str, Any], content: Content
    ) -> None:
        self._wait()
        uri = str(body.get("storageUri") or "")
        operation.result = {"requestType": "Export", "blobUri": uri}
        if self.fail_export is not None:
            self._fail(operation, "ExportFailed", self.fail_export)
            return
        data = io.BytesIO()
        with zipfile.ZipFile(data, "w") as archive:
            archive.writestr(
                "Origin.xml", f"<DacOrigin><Database>{operation.database}</Database></DacOrigin>"
            )
            archive.writestr("model.xml", "<DataSchemaModel/>")
            archive.writestr("Data/content.json", json.dumps(content))
        try:
            _blob(uri, body).upload_blob(data.getvalue(), overwrite=True)
        except Exception as exc:  # the storage account refused the export's credential
            self._fail(operation, "ExportFailed", f"could not write {uri}: {exc}")
            return
        with self.azure.lock:
            operation.status = "Succeeded"

    def _import(self, body: Any) -> Response:
        body = body or {}
        name = str(body.get("databaseName") or "")
        with self.azure.lock:
            self.creates.append((name, "Import"))
            if not name or name in self.databases:
                return _error(409, "DatabaseAlreadyExists", f"Database '{name}' already exists.")
            self.databases[name] = FakeDatabase(
                name, self.azure.location, {}, [], status="Creating", create_mode="Import"
            )
            operation = self._new_operation("import", name)
        threading.Thread(target=self._finish_import, args=(operation, body), daemon=True).start()
        return (
            202,
            self._async_headers(
                "importExportAzureAsyncOperation", "importExportOperationResults", operation
            ),
            b"",
        )

    def _finish_import(self, operation: SqlOperation, body: dict[str, Any]) -> None:
        self._wait()
        uri = str(body.get("storageUri") or "")
        operation.result = {"requestType": "Import", "blobUri": uri}
        try:
            raw = _blob(uri, body).download_blob().readall()
            with zipfile.ZipFile(io.BytesIO(raw)) as archive:
                content = json.loads(archive.read("Data/content.json"))
        except Exception as exc:  # no such blob, a refused key, not a bacpac
            with self.azure.lock:
                self.databases.pop(operation.database, None)
            self._fail(operation, "ImportFailed", f"could not read {uri}: {exc}")
            return
        with self.azure.lock:
            db = self.databases[operation.database]
            now = datetime.now(UTC)
            db.content, db.history, db.status = content, [(now, dict(content))], "Online"
            db.created = db.earliest_restore = now
            operation.status = "Succeeded"

    # -- long-running operations -------------------------------------------------------
    def _new_operation(self, kind: str, database: str) -> SqlOperation:
        operation = SqlOperation(str(uuid.uuid4()), kind, database)
        self.operations[operation.id] = operation
        return operation

    def _wait(self) -> None:
        time.sleep(self.operation_seconds)
        self.gate.wait()

    def _fail(self, operation: SqlOperation, code: str, message: str) -> None:
        with self.azure.lock:
            operation.status = "Failed"
            operation.error = {"code": code, "message": message}

    def _async_headers(
        self, status_kind: str, result_kind: str, operation: SqlOperation
    ) -> dict[str, str]:
        base = (
            f"{self.azure.url}/subscriptions/{self.azure.subscription}/providers/Microsoft.Sql"
            f"/locations/{self.azure.location}"
        )
        headers = {
            "Azure-AsyncOperation": f"{base}/{status_kind}/{operation.id}?api-version=2025-01-01",
            "Location": f"{base}/{result_kind}/{operation.id}?api-version=2025-01-01",
        }
        return self._paced(headers)

    def _paced(self, headers: dict[str, str]) -> dict[str, str]:
        return headers if self.retry_after is None else {**headers, "Retry-After": self.retry_after}

    def _operation(self, kind: str, operation_id: str) -> Response:
        with self.azure.lock:
            operation = next(
                (o for o in self.operations.values() if o.id.lower() == operation_id), None
            )
            if operation is None:
                return _error(404, "ResourceNotFound", f"No operation {operation_id}.")
            if kind.endswith("asyncoperation"):
                doc: dict[str, Any] = {
                    "name": operation.id,
                    "status": operation.status,
                    "startTime": _iso(operation.started),
                }
                if operation.error is not None:
                    doc["error"] = operation.error
                return json_response(200, doc, self._paced({}))
            if operation.status == "InProgress":
                return 202, self._paced({}), b""
            if operation.status == "Failed":
                error = operation.error or {}
                return _error(400, error.get("code", "Failed"), error.get("message", "failed"))
            if kind == "databaseoperationresults":
                db = self.databases.get(operation.database)
                return json_response(200, self._json(db)) if db else _not_found(operation.database)
            return json_response(
                200,
                {
                    "id": f"{self.server_id}/importExportOperationResults/{operation.id}",
                    "name": operation.id,
                    "type": "Microsoft.Sql/servers/importExportOperationResults",
                    "properties": {
                        "requestId": operation.id,
                        "serverName": self.server,
                        "databaseName": operation.database,
                        "status": "Completed",
                        "queuedTime": _iso(operation.started),
                        "lastModifiedTime": _iso(datetime.now(UTC)),
                        **operation.result,
                    },
                },
            )


def _blob(uri: str, body: dict[str, Any]) -> Any:
    """A client for the export's blob, signed with what the request gave the platform."""
    from azure.core.credentials import AzureNamedKeyCredential
    from azure.storage.blob import BlobClient

    kind = str(body.get("storageKeyType") or "")
    key = str(body.get("storageKey") or "")
    if kind == "SharedAccessKey":
        return BlobClient.from_blob_url(f"{uri}?{key.lstrip('?')}")
    if kind != "StorageAccessKey":
        raise ValueError(f"the fake signs storage with a key or a SAS, not {kind!r}")
    account = urlsplit(uri).path.strip("/").split("/", 1)[0]
    return BlobClient.from_blob_url(uri, credential=AzureNamedKeyCredential(account, key))


def _error(status: int, code: str, message: str) -> Response:
    return json_response(status, {"error": {"code": code, "message": message}})


def _not_found(name: str) -> Response:
    return _error(
        404,
        "ResourceNotFound",
        f"The requested resource of type 'Microsoft.Sql/servers/databases' with name '{name}'"
        " was not found.",
    )


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
