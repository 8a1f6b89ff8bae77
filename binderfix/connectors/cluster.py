"""
``@binderfix-cluster/NAME``: a cluster of a federation run that could not be read.

The inventory reads every cluster at once; one whose API does not answer (or refuses) must
neither stop the others nor vanish from the run. It stands in as this one host, which never
connects and says why, so pyinfra's own output names the cluster and the run ends non-zero
while the other clusters' nodes are fixed.
"""

from __future__ import annotations

from pyinfra.api.exceptions import ConnectError, InventoryError
from pyinfra.connectors.base import BaseConnector, DataMeta
from typing_extensions import TypedDict, override


class ConnectorData(TypedDict):
    binderfix_cluster_error: str


connector_data_meta: dict[str, DataMeta] = {
    "binderfix_cluster_error": DataMeta("why the cluster could not be read", "not read"),
}


class ClusterErrorConnector(BaseConnector):
    """A cluster that could not be read: connecting to it fails with the reason."""

    handles_execution = True
    data_cls = ConnectorData
    data_meta = connector_data_meta
    data: ConnectorData

    @override
    @staticmethod
    def make_names_data(name: str | None = None):
        if not name:
            raise InventoryError("No cluster name provided: use @binderfix-cluster/NAME")
        yield f"@binderfix-cluster/{name}", {}, ["@binderfix-cluster"]

    @override
    def connect(self) -> None:
        raise ConnectError(f"cluster not read: {self.data['binderfix_cluster_error']}")

    @override
    def run_shell_command(self, command, print_output=False, print_input=False, **arguments):
        raise ConnectError(self.data["binderfix_cluster_error"])

    @override
    def put_file(self, filename_or_io, remote_filename, *args, **kwargs) -> bool:
        raise ConnectError(self.data["binderfix_cluster_error"])

    @override
    def get_file(self, remote_filename, filename_or_io, *args, **kwargs) -> bool:
        raise ConnectError(self.data["binderfix_cluster_error"])
