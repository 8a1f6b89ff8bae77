"""A local BinderHub cluster of real parts, for trying binderfix and for its tests.

- Nodes (:mod:`.cluster`, :mod:`.netns`, :mod:`.nodeinit`): each a Linux network, mount
  and UTS namespace with its own ``/run`` (so its own ``/var/run``), hostname and sshd,
  reachable over real SSH.
- The Kubernetes API (:mod:`.apiserver`): kmock's KubernetesEmulator, taught label and
  field selectors (:mod:`.selectors`), server-side tables (:mod:`.tables`), watches,
  pod logs and exec, so the real kubectl works.
- The builder DaemonSet (:mod:`.kubelet`): a stand-in docker daemon per node that binds
  a real unix socket, crash-loops where the socket path is a directory, and is recreated
  under a new name when its pod is deleted.
- Control-plane pods (:mod:`.services`): hub, proxy and binder as real HTTP servers in
  their own network namespaces, plus a stand-in for "the internet".
- Pods clients create: netcheck's probe pods, and pods pinned to a node with the node's
  ``/`` mounted (:mod:`.podroot`), after PodSecurity admission (:mod:`.admission`).
- Several sandboxes as one federation (:mod:`.federation`).

:mod:`.cluster` ties them together (up, down, status), with what a sandbox is in
:mod:`.state` (names, hosts, the state file), the checks before ``up`` in :mod:`.preflight`
and the files its tools read (SSH keys and config, kubeconfigs) in :mod:`.files`;
:mod:`.command` is the CLI.
"""
