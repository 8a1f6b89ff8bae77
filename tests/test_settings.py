"""Every setting is checked when it is read: a bad value is one error that names the
variable and says what it may be (range or syntax), with a hint; nothing wraps, nothing
silently falls back to a default. Pure: no cluster, no node."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from binderfix.errors import BinderfixError
from binderfix.inventory.settings import VARIABLES, from_env, selector_problem
from binderfix.kube.model import DEFAULT_SELECTORS

# (variable, bad value, words the message must hold besides the variable's name)
BAD = [
    ("BINDERFIX_SSH_PORT", "99999", ["1-65535"]),  # paramiko would wrap it to 34463
    ("BINDERFIX_SSH_PORT", "0", ["1-65535"]),
    ("BINDERFIX_SSH_PORT", "-1", ["1-65535"]),
    ("BINDERFIX_SSH_PORT", "22.5", ["whole number", "1-65535"]),
    ("BINDERFIX_SSH_PORT", "twenty-two", ["whole number"]),
    ("BINDERFIX_WAIT_TIMEOUT", "1e9", ["1-3600"]),
    ("BINDERFIX_WAIT_TIMEOUT", "inf", ["1-3600"]),
    ("BINDERFIX_WAIT_TIMEOUT", "nan", ["1-3600"]),
    ("BINDERFIX_WAIT_TIMEOUT", "0", ["1-3600"]),
    ("BINDERFIX_WAIT_TIMEOUT", "2m", ["seconds", "1-3600"]),
    ("BINDERFIX_SELECTOR", ";;", ["no label selector"]),
    ("BINDERFIX_SELECTOR", " ; ", ["no label selector"]),
    ("BINDERFIX_SELECTOR", "app=binder,", ["ends with ','"]),
    ("BINDERFIX_SELECTOR", "app==bin der", ["'der'", "joined by ','"]),
    ("BINDERFIX_SELECTOR", "=binder", ["key is missing"]),
    ("BINDERFIX_SELECTOR", "component in (dind", ["')' is missing"]),
    ("BINDERFIX_SELECTOR", "component in dind", ["parentheses"]),
    ("BINDERFIX_SELECTOR", "app=bin@der", ["label value"]),
    ("BINDERFIX_SELECTOR", "App.Kubernetes.io/component=x", ["label key"]),
    ("BINDERFIX_SSH_ADDRESS", "PublicIP", ["InternalIP", "ExternalIP"]),
    ("BINDERFIX_SUDO", "maybe", ["yes/no", "1, 0"]),
    ("BINDERFIX_FORCE", "sure", ["yes/no"]),
    ("BINDERFIX_NAMESPACE", "Prod", ["namespace name", "a-z 0-9"]),
    ("BINDERFIX_NAMESPACE", "prod ns", ["namespace name"]),
    ("BINDERFIX_SSH_USER", "binderfix@node-1", ["login name", "'@'"]),
    ("BINDERFIX_SSH_USER", "bin derfix", ["login name"]),
    ("BINDERFIX_SSH_KEY", "/nonexistent/id_ed25519", ["does not exist"]),
    ("BINDERFIX_SSH_KNOWN_HOSTS", "/nonexistent/known_hosts", ["does not exist"]),
    ("BINDERFIX_SSH_CONFIG", "/", ["is a directory"]),
    ("BINDERFIX_LISTING", "/nonexistent/pods.txt", ["does not exist"]),
    ("BINDERFIX_SOCKET_PATH", "/etc/passwd", ["outside"]),
    ("BINDERFIX_SOCKET_PATH", "var/run/dind/docker.sock", ["relative"]),
]


@pytest.mark.parametrize(("name", "value", "words"), BAD)
def test_a_bad_value_is_one_error_naming_the_setting_with_a_hint(
    name: str, value: str, words: list[str]
) -> None:
    with pytest.raises(BinderfixError) as err:
        from_env({name: value})
    assert name in err.value.message
    for word in words:
        assert word in err.value.message
    assert err.value.hint, "every settings error says what to do"
    assert "\n" not in err.value.message


def test_an_empty_label_value_is_valid_as_kubernetes_says() -> None:
    assert from_env({"BINDERFIX_SELECTOR": "app=binder;component="}).selectors == (
        "app=binder",
        "component=",
    )


@pytest.mark.parametrize(
    ("env", "field", "expected"),
    [
        ({}, "selectors", DEFAULT_SELECTORS),
        ({"BINDERFIX_SELECTOR": ""}, "selectors", DEFAULT_SELECTORS),  # empty means unset
        ({"BINDERFIX_SELECTOR": "a=b; c in (d, e),!f"}, "selectors", ("a=b", "c in (d, e),!f")),
        ({"BINDERFIX_SSH_PORT": "1"}, "ssh_port", 1),
        ({"BINDERFIX_SSH_PORT": "65535"}, "ssh_port", 65535),
        ({"BINDERFIX_WAIT_TIMEOUT": "3600"}, "wait_timeout", 3600.0),
        ({"BINDERFIX_WAIT_TIMEOUT": "2.5"}, "wait_timeout", 2.5),
        ({}, "wait_timeout", 120.0),
        ({"BINDERFIX_SUDO": "Yes"}, "sudo", True),
        ({"BINDERFIX_SUDO": "off"}, "sudo", False),
        ({"BINDERFIX_NAMESPACE": "prod-2"}, "namespace", "prod-2"),
        ({"BINDERFIX_SSH_USER": "ci_runner"}, "ssh_user", "ci_runner"),
        ({"BINDERFIX_LISTING": "-"}, "listing", "-"),
    ],
)
def test_good_values_are_read(env: dict[str, str], field: str, expected: object) -> None:
    assert getattr(from_env(env), field) == expected


def test_wait_timeout_is_finite_whatever_the_spelling() -> None:
    for value in ("1e308", "1e309", "-inf", "NaN", "Infinity"):
        with pytest.raises(BinderfixError):
            from_env({"BINDERFIX_WAIT_TIMEOUT": value})
    assert math.isfinite(from_env({"BINDERFIX_WAIT_TIMEOUT": "1e3"}).wait_timeout)


def test_a_key_file_must_be_a_private_key_and_is_never_printed(tmp_path: Path) -> None:
    public = tmp_path / "id_ed25519.pub"
    public.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAISECRETISH user@host\n")
    with pytest.raises(BinderfixError) as err:
        from_env({"BINDERFIX_SSH_KEY": str(public)})
    assert "not a private key" in err.value.message and ".pub" in err.value.message
    assert "SECRETISH" not in str(err.value)
    private = tmp_path / "id_ed25519"
    private.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaA==\n")
    assert from_env({"BINDERFIX_SSH_KEY": str(private)}).ssh_key == str(private)


@pytest.mark.parametrize(
    "selector",
    [
        "app=binder,component=image-builder",
        "component=dind",
        "app.kubernetes.io/component=docker-api",
        "tier notin (web, db),!canary",
        "generation>3",
        "x==y",
    ],
)
def test_the_selectors_kubernetes_accepts_are_accepted(selector: str) -> None:
    assert selector_problem(selector) is None


def test_every_variable_has_a_documented_meaning() -> None:
    for name, meaning in VARIABLES.items():
        assert name.isupper() and meaning
