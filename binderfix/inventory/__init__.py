"""Which nodes run BinderHub builder pods, and how to reach them.

Pure parsing and decisions live in :mod:`.model` and :mod:`.listing`; talking to the
Kubernetes API lives in :mod:`binderfix.kube`; :mod:`.hosts` turns both into pyinfra hosts.
"""
