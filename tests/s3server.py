"""moto's S3 server on 127.0.0.1 (a free port), for the blob store's S3 tests.

A real HTTP server speaking S3, in a thread of the test process; a boto3 client
(moto's own dependency) does what watcher never does: make buckets, and delete or
replace objects behind watcher's back.
"""

from __future__ import annotations

import itertools
import os
from typing import Any

from watcher.store.blobs import blob_key

REGION = "us-east-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
# variables that would point the tests elsewhere than the local server
FOREIGN = (
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_REGION",
    "WATCHER_BLOBS",
)
_names = itertools.count()


class S3Server:
    """One moto server; ``bucket()`` makes a fresh bucket for one test."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer  # imported by the tests that use it

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server._server.server_address[:2]  # the free port it was given
        self.endpoint = f"http://{host}:{port}"
        import boto3

        self.client: Any = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    def bucket(self) -> str:
        name = f"evidence-{os.getpid()}-{next(_names)}"
        self.client.create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> list[str]:
        listed = self.client.list_objects_v2(Bucket=bucket)
        return sorted(o["Key"] for o in listed.get("Contents", []))

    def key(self, prefix: str, digest: str) -> str:
        return f"{prefix}/{blob_key(digest)}" if prefix else blob_key(digest)

    def read(self, bucket: str, key: str) -> bytes:
        return self.client.get_object(Bucket=bucket, Key=key)["Body"].read()

    def write(self, bucket: str, key: str, body: bytes) -> None:
        self.client.put_object(Bucket=bucket, Key=key, Body=body)

    def delete(self, bucket: str, key: str) -> None:
        self.client.delete_object(Bucket=bucket, Key=key)

    def stop(self) -> None:
        """Stop answering and close the port: a client then finds nobody there."""
        self._server.stop()
        server = self._server._server
        if server is not None:
            server.server_close()
