"""Directories on object stores: URIs checked before anything is read or written, and
every store that cannot be used one line naming the URI and the cause, exit status 2,
against a real S3-protocol server (moto's, on 127.0.0.1)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from storage_helpers import mirrors_left, private_cache  # noqa: F401 - private_cache: autouse
from stdp_ray import cli, uris
from stdp_ray.cli import main


# --------------------------------------------------------------------------
# URIs (no server)
# --------------------------------------------------------------------------
@pytest.mark.parametrize("text,expected", [
    ("runs/a", Path("runs/a")), ("/abs/run", Path("/abs/run")),
    ("file:///abs/run", Path("/abs/run")), ("file://localhost/abs/run", Path("/abs/run"))])
def test_paths_and_file_uris_are_local_directories(text, expected):
    assert uris.parse_location(text) == expected
    assert not uris.is_remote(text)


@pytest.mark.parametrize("text,match", [
    ("foo://bucket/run", r"^foo://bucket/run: unknown storage scheme 'foo'"),
    ("hdfs://host/run", r"^hdfs://host/run: unknown storage scheme 'hdfs'"),
    ("s3:///run", r"^s3:///run: no bucket"),
    ("s3://bucket/run?endpoint_override=127.0.0.1:9000",
     r"options in the URI are not accepted; the endpoint, region and credentials come from "
     r"the environment"),
    ("s3://KEY:SECRET@bucket/run", r"^s3://\*\*\*:\*\*\*@bucket/run: credentials in the URI "
                                   r"are not"),
    ("s3://bucket/a/../b", r"must not hold empty, '\.' or '\.\.' parts"),
    ("file://otherhost/run", r"a file:// URI must be file:///ABSOLUTE/PATH")])
def test_a_malformed_uri_is_refused_before_any_connection(text, match):
    with pytest.raises(uris.StorageError, match=match):
        uris.parse_location(text)


#: An access key and secrets of the forms AWS gives (a secret may hold ``/``, ``+``, ``@``, ``:``).
KEY = "AKIAIOSFODNN7EXAMPLE"
SECRETS = ["wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI+K7MDENGbPxRfiCYEXAMPLEKEY",
           "wJalr@XUtnFEMI/K7MD:ENG", "wJalr:XUtnFEMI@K7MD/ENG@bPx"]


@pytest.mark.parametrize("scheme", ["s3", "gs", "gcs", "file", "http"])
@pytest.mark.parametrize("secret", SECRETS, ids=["slashes", "plus", "at-slash-colon", "two-ats"])
def test_credentials_in_a_uri_are_refused_and_never_printed(scheme, secret):
    text = f"{scheme}://{KEY}:{secret}@bucket/runs/a"
    with pytest.raises(uris.StorageError, match=rf"^{scheme}://\*\*\*:\*\*\*@bucket/runs/a: "
                                                r"credentials in the URI are not accepted") as info:
        uris.parse_location(text)
    shown = str(info.value)
    assert KEY not in shown and not any(part in shown for part in re.split(r"[/@:+]", secret)
                                        if len(part) > 3)


@pytest.mark.parametrize("text, shown", [
    (f"s3://{KEY}@bucket/run", "s3://***@bucket/run"),
    ("s3://bucket/run?access_key=K&secret_key=S3CR3T", "s3://bucket/run?..."),
    ("s3://bucket/run#S3CR3T", "s3://bucket/run#..."),
    ("foo://bucket/run?token=S3CR3T", "foo://bucket/run?..."),
    ("file://host/run?token=S3CR3T", "file://host/run?..."),
    ("s3://bucket/user@example.org/run", "s3://bucket/user@example.org/run"),
])
def test_a_uri_is_shown_without_its_credentials_or_options(text, shown):
    assert uris.redact(text) == shown
    if "@example" not in text:
        with pytest.raises(uris.StorageError, match=rf"^{re.escape(shown)}: "):
            uris.parse_location(text)


@pytest.mark.parametrize("before, after", [
    (["test"], []), (["train"], ["--samples", "1"]), (["report"], []), (["config", "show"], [])],
    ids=["test", "train", "report", "config-show"])
def test_a_command_given_a_uri_with_credentials_exits_2_and_prints_neither_part(
        caplog, capsys, before, after):
    uri = f"s3://{KEY}:{SECRETS[3]}@bucket/run"
    assert main([*before, uri, *after]) == cli.EXIT_USAGE
    out = caplog.text + "".join(capsys.readouterr())
    assert "s3://***:***@bucket/run: credentials in the URI are not accepted" in out
    assert KEY not in out and "XUtnFEMI" not in out and "bPx" not in out


# --------------------------------------------------------------------------
# Bad input: one line naming the URI and the cause, exit 2, nothing written
# --------------------------------------------------------------------------
def _no_credentials(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))


#: (case, change to the environment, the bucket to name, the cause expected)
BAD_INPUT = [
    ("unreachable endpoint", {"AWS_ENDPOINT_URL": "http://127.0.0.1:1"}, "own",
     r"cannot connect to the endpoint \(http://127\.0\.0\.1:1\)"),
    ("missing bucket", {}, "missing", r"bucket 'no-such-bucket' does not exist"),
    ("unknown access key", {"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE"}, "own",
     r"the access key is not known to the store \(AWS_ACCESS_KEY_ID\)"),
    ("wrong secret key", {"AWS_SECRET_ACCESS_KEY": "wrong"}, "own",
     r"the secret key does not match the access key \(AWS_SECRET_ACCESS_KEY\)"),
    ("missing credentials", None, "own", r"refused without credentials: none in the "
                                         r"environment"),
]


@pytest.mark.parametrize("case,env,bucket,cause", BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
def test_a_store_that_cannot_be_used_exits_2_naming_the_uri_and_the_cause(
        s3_server, s3_bucket, monkeypatch, tmp_path, caplog, mnist_dir, private_cache,
        no_ray_start, case, env, bucket, cause):
    name = s3_bucket if bucket == "own" else "no-such-bucket"
    uri = f"s3://{name}/runs/n10"
    if env is None:
        _no_credentials(monkeypatch, tmp_path)
    else:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
    status = main(["train", uri, "--neurons", "10", "--samples", "2", "--data-dir",
                   str(mnist_dir), "--no-progress"])
    assert status == cli.EXIT_USAGE
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and not errors[0].exc_info
    message = errors[0].getMessage()
    assert "\n" not in message and message.startswith(f"{uri}: ")
    assert re.search(cause, message), message
    assert len(message) < 250
    assert s3_server.keys(s3_bucket) == {}  # nothing written
    assert mirrors_left(private_cache) == []


@pytest.mark.parametrize("argv", [
    ["observe", "{uri}"], ["test", "{uri}"], ["run", "{uri}", "--samples", "2"],
    ["ensemble", "{uri}", "--seeds", "1,2", "--samples", "2"], ["report", "{uri}"],
    ["import", "{network}", "{uri}"], ["import", "{uri}", "{local}"], ["curve", "{uri}"],
    ["sweep", "{uri}", "--grid", "nu_post=0.01", "--samples", "2"],
    ["config", "show", "{uri}"]], ids=lambda argv: " ".join(argv[:2]))
def test_every_command_takes_a_uri_and_refuses_a_missing_bucket(s3_server, tmp_path, caplog,
                                                                mnist_dir, argv):
    uri = "s3://no-such-bucket/run"
    argv = [a.format(uri=uri, network=tmp_path / "net", local=tmp_path / "run") for a in argv]
    if argv[0] not in ("report", "import", "config"):
        argv += ["--data-dir", str(mnist_dir)]
    assert main(argv) == cli.EXIT_USAGE
    assert "s3://no-such-bucket/run: bucket 'no-such-bucket' does not exist" in caplog.text
    assert not (tmp_path / "run").exists()


def test_an_unknown_scheme_exits_2_on_the_command_line(tmp_path, caplog, mnist_dir):
    assert main(["test", "foo://bucket/run", "--data-dir", str(mnist_dir)]) == cli.EXIT_USAGE
    assert "foo://bucket/run: unknown storage scheme 'foo'" in caplog.text
