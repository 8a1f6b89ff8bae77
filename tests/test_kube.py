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
