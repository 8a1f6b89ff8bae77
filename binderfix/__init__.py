"""binderfix: the mybinder.org runbook as declarative remediation.

Capabilities, one subpackage each:

- ``binderfix.inventory``: which nodes run builder pods, from the API or a saved listing.
- ``binderfix.dind``: the pyinfra fact and operation for "the socket path is absent or a socket".
- ``binderfix.kube``: the Kubernetes side: find, delete and wait for builder pods.
- ``binderfix.netcheck``: connectivity checks between pods.
- ``binderfix.spikes``: spikes to the ``/build`` API in ingress logs.
- ``binderfix.sandbox``: a local BinderHub cluster of real parts to run all of it on.
- ``binderfix.cli``: the ``binderfix`` command, a thin layer over the above.
"""

__version__ = "0.1.0"
