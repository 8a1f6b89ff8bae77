"""The one way into the Kubernetes API: errors, exec status, timeouts. Pure parts."""

from __future__ import annotations

import json

import pytest

from binderfix.errors import BinderfixError
from binderfix.kube.client import api_timeout
from binderfix.kube.exec import exec_error, exec_status


def test_exec_errors_become_messages_with_hints() -> None:
    from kubernetes.client.exceptions import ApiException

    body = b'{"kind":"Status","message":"container hub is waiting to start","code":400}'
    cases = {
        "Handshake status 403 Forbidden -+-+- {} -+-+- b''": "forbidden (403)",
        "Handshake status 401 Unauthorized": "credentials (401)",
        "Handshake status 404 Not Found": "no such pod",
        f"Handshake status 400 Bad Request -+-+- {{}} -+-+- {body!r}": "waiting to start",
        "[Errno 111] Connection refused": "cannot reach the Kubernetes API",
    }
    for reason, words in cases.items():
        err = exec_error(ApiException(status=0, reason=reason), "hub-1")
        assert words in err.message and err.hint, (reason, err.message)


def testexec_status_channel() -> None:
    assert exec_status("") == (0, "")
    assert exec_status('{"status": "Success"}') == (0, "")
    failed = {
        "status": "Failure",
        "message": "command terminated with non-zero exit code: exit status 127",
        "details": {"causes": [{"reason": "ExitCode", "message": "127"}]},
    }
    assert exec_status(json.dumps(failed))[0] == 127
    oci = {"status": "Failure", "message": 'exec: "sh": executable file not found in $PATH'}
    assert exec_status(json.dumps(oci)) == (None, oci["message"])


@pytest.mark.parametrize("raw", ["0", "-3", "nan", "inf", "1e9", "ten", "0.1"])
def test_an_api_timeout_out_of_range_is_refused_with_its_range(raw: str) -> None:
    with pytest.raises(BinderfixError, match="from 0.5 to 600") as caught:
        api_timeout({"BINDERFIX_API_TIMEOUT": raw})
    assert "BINDERFIX_API_TIMEOUT" in caught.value.message and caught.value.hint


def test_the_api_timeout_defaults_to_ten_seconds_and_takes_fractions() -> None:
    assert api_timeout({}) == 10.0
    assert api_timeout({"BINDERFIX_API_TIMEOUT": "2.5"}) == 2.5


def test_what_the_client_raises_becomes_one_line_naming_the_server() -> None:
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import MaxRetryError, NewConnectionError, ReadTimeoutError

    from binderfix.kube.client import api_error

    server = "https://10.0.0.1:6443"
    timed_out = MaxRetryError(None, "/api/v1/pods", ReadTimeoutError(None, "/", "timed out"))
    err = api_error(timed_out, "listing pods", server)
    assert err.message == f"listing pods: the Kubernetes API at {server} did not answer in time"
    assert "BINDERFIX_API_TIMEOUT" in (err.hint or "")

    refused = MaxRetryError(
        None, "/", NewConnectionError(None, "x: [Errno 111] Connection refused")
    )
    err = api_error(refused, "listing pods", server)
    assert (
        "cannot reach the Kubernetes API at" in err.message and "Connection refused" in err.message
    )

    denied = ApiException(status=403, reason="Forbidden")
    denied.body = b'{"kind":"Status","message":"pods is forbidden: User \\"x\\" cannot list"}'
    err = api_error(denied, "listing pods", server)
    assert err.message.startswith(
        "listing pods: the Kubernetes API answered 403 Forbidden: pods is"
    )
    assert "rbac" in (err.hint or "")
