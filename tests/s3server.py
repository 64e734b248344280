"""A real S3 peer for the recordings store's tests: moto's S3 server (pinned in
the ``test`` extra) on a free loopback port, in a thread of the test process,
stopped when the module is done. If it cannot start, the test FAILS with the
reason; nothing here skips."""
from __future__ import annotations

import itertools
import socket

import pytest

ACCESS_KEY = "ctidesk-test-access"
SECRET_KEY = "ctidesk-test-secret-DO-NOT-LOG"
REGION = "us-east-1"
_buckets = itertools.count(1)


class S3Server:
    def __init__(self) -> None:
        self.server = None
        self.endpoint = ""

    def start(self) -> "S3Server":
        try:
            from moto.server import ThreadedMotoServer
        except ImportError as exc:
            pytest.fail(f"moto's S3 server is not installed ({exc}; pip install -e '.[test]'): "
                        "the S3 recordings tests did NOT run", pytrace=False)
        try:
            self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            self.server.start()
            host, port = self.server.get_host_and_port()
        except Exception as exc:  # noqa: BLE001 - any reason it cannot start fails the test, loudly
            pytest.fail(f"moto's S3 server did not start on 127.0.0.1: {exc!r}", pytrace=False)
        self.endpoint = f"http://{host}:{port}"
        with socket.create_connection((host, port), timeout=5):
            pass  # listening (make_server bound it before start() returned)
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def client(self):
        import boto3

        return boto3.session.Session().client("s3", endpoint_url=self.endpoint, region_name=REGION,
                                               aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)

    def new_bucket(self) -> str:
        name = f"ctidesk-recs-{next(_buckets)}"
        self.client().create_bucket(Bucket=name)
        return name

    def settings(self, bucket: str, prefix: str = "site1/recordings") -> dict:
        """The settings a site would write for this store."""
        return {"recordings_storage": "s3", "recordings_s3_endpoint": self.endpoint,
                "recordings_s3_bucket": bucket, "recordings_s3_prefix": prefix,
                "recordings_s3_region": REGION, "recordings_s3_access_key": ACCESS_KEY,
                "recordings_s3_secret_key": SECRET_KEY}
