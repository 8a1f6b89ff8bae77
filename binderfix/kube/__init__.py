"""The Kubernetes side of binderfix: the API client, builder pods, and the kube step.

- :mod:`.client`: connect with the user's kubeconfig; API errors as clear messages.
- :mod:`.builders`: list builder pods (both label generations), read node addresses,
  delete a pod and wait for the DaemonSet's replacement.
- :mod:`.operations`: the pyinfra operation that does that as a deploy step.
"""
