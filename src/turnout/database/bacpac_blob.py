"""The bacpac's blob in Azure Storage, through azure-storage-blob: where it goes, and
reading it back after the export (it exists, it is not empty, its properties).

The storage account key (azure_sql.storage_key) signs the requests when one is
configured; otherwise the environment's Azure credential does (the principal then needs
Storage Blob Data Contributor on the container).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from turnout.azure_sql_record import BacpacArchive
from turnout.database.driver import DatabaseError
from turnout.targets.azure.failures import azure_reason

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential


def account_name(account_url: str) -> str:
    """The storage account's name: the host's first label (tesoroprodst.blob.core.windows.net),
    or the first path segment of an emulator's path-style URL (127.0.0.1:10000/devstoreaccount1)."""
    parts = urlsplit(account_url)
    host = parts.hostname or ""
    if ".blob." in host:
        return host.split(".", 1)[0]
    return parts.path.strip("/").split("/", 1)[0]


@dataclass(frozen=True)
class BlobPlace:
    """Where one bacpac goes, and what signs the requests to it."""

    account_url: str
    container: str
    name: str
    account_key: str | None
    credential: TokenCredential | None

    @property
    def url(self) -> str:
        """The blob's URL (no key, no SAS)."""
        return f"{self.account_url}/{self.container}/{quote(self.name)}"

    def _credential(self) -> Any:
        if self.account_key is not None:
            from azure.core.credentials import AzureNamedKeyCredential

            return AzureNamedKeyCredential(account_name(self.account_url), self.account_key)
        return self.credential

    def _service(self) -> Any:
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient(self.account_url, credential=self._credential())

    def ensure_container(self) -> None:
        """Create the container when it does not exist yet (the export writes into it)."""
        from azure.core.exceptions import AzureError, ResourceExistsError

        try:
            self._service().create_container(self.container)
        except ResourceExistsError:
            return
        except AzureError as exc:
            raise DatabaseError(
                f"blob container {self.account_url}/{self.container}: {azure_reason(exc)}"
            ) from exc

    def exists(self) -> bool:
        """Whether the blob is there (a resumed export looks before exporting again)."""
        from azure.core.exceptions import AzureError

        blob = self._service().get_blob_client(self.container, self.name)
        try:
            return bool(blob.exists())
        except AzureError as exc:
            raise DatabaseError(f"blob {self.url}: {azure_reason(exc)}") from exc

    def read_back(self, started: float, export_status: str | None) -> BacpacArchive:
        """The exported blob's properties; DatabaseError when it is missing or empty."""
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        blob = self._service().get_blob_client(self.container, self.name)
        try:
            props = blob.get_blob_properties()
        except ResourceNotFoundError:
            raise DatabaseError(
                f"the bacpac export reported {export_status or 'success'}, but blob"
                f" {self.url} does not exist"
            ) from None
        except AzureError as exc:
            raise DatabaseError(f"reading blob {self.url}: {azure_reason(exc)}") from exc
        if not props.size:
            raise DatabaseError(f"the bacpac blob {self.url} is empty (0 bytes)")
        md5 = props.content_settings.content_md5 if props.content_settings else None
        return BacpacArchive(
            blob_url=self.url,
            size=int(props.size),
            etag=str(props.etag).strip('"'),
            content_md5=bytes(md5).hex() if md5 else None,
            last_modified=props.last_modified,
            export_status=export_status,
            seconds=round(time.monotonic() - started, 3),
        )
