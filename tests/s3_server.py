"""A real S3-protocol server on 127.0.0.1 for the tests: moto's standalone server.

:class:`S3Server` starts ``python -m moto.server`` in a process of its own on a
free port, with IAM authentication enforced (so that unknown keys and wrong
secrets are refused as S3 refuses them), creates one user allowed everything
and returns its keys. Tests reach it as any S3 client does: through the
standard environment variables (:meth:`S3Server.environment`).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field

from stdp_ray.testing.localcluster import HOST, free_port

#: Requests moto serves without authentication before enforcing it: the three
#: that create the user, its policy and its access key.
_SETUP_ACTIONS = 3
_POLICY = {"Version": "2012-10-17",
           "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


@dataclass
class S3Server:
    """moto's S3 server on 127.0.0.1 with one user; use as a context manager."""

    port: int = 0
    proc: subprocess.Popen | None = None
    access_key: str = ""
    secret_key: str = ""
    buckets: list = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    def __enter__(self) -> "S3Server":
        self.port = free_port()
        env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT=str(_SETUP_ACTIONS))
        self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", HOST, "-p",
                                      str(self.port)], env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{self.endpoint}/moto-api/data.json", timeout=2)
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto's S3 server did not start") from None
                time.sleep(0.2)
        iam = self.client("iam", "setup", "setup")
        iam.create_user(UserName="stdp-ray")
        iam.put_user_policy(UserName="stdp-ray", PolicyName="all",
                            PolicyDocument=json.dumps(_POLICY))
        key = iam.create_access_key(UserName="stdp-ray")["AccessKey"]
        self.access_key, self.secret_key = key["AccessKeyId"], key["SecretAccessKey"]
        return self

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                os.kill(self.proc.pid, signal.SIGCONT)  # stopped by stopped(): let it end
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)

    @contextlib.contextmanager
    def stopped(self):
        """The server stopped (SIGSTOP: it accepts connections and answers nothing) while the
        block runs; it continues (SIGCONT) at the end."""
        os.kill(self.proc.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(self.proc.pid, signal.SIGCONT)

    def client(self, service: str = "s3", access_key: str | None = None,
               secret_key: str | None = None):
        """A boto3 client of this server (the user's keys unless others are given)."""
        import boto3

        return boto3.client(service, endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=access_key or self.access_key,
                            aws_secret_access_key=secret_key or self.secret_key)

    def environment(self) -> dict[str, str]:
        """The standard variables that point an S3 client at this server with the user's keys."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": self.access_key,
                "AWS_SECRET_ACCESS_KEY": self.secret_key, "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_EC2_METADATA_DISABLED": "true"}

    def new_bucket(self) -> str:
        """A new, empty bucket's name."""
        name = f"runs-{secrets.token_hex(4)}"
        self.client().create_bucket(Bucket=name)
        self.buckets.append(name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> dict[str, bytes]:
        """Every object below ``prefix`` of ``bucket``: key -> content.

        Empty "folder" objects (``a/b/``, which pyarrow leaves where it deleted
        the last object of a folder, as S3 consoles do) are not listed, nor
        objects removed between the listing and their reading (a run in progress).
        """
        s3 = self.client()
        out = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                if obj["Key"].endswith("/"):
                    continue
                try:
                    out[obj["Key"]] = s3.get_object(Bucket=bucket,
                                                    Key=obj["Key"])["Body"].read()
                except s3.exceptions.NoSuchKey:  # removed since it was listed
                    pass
        return out
