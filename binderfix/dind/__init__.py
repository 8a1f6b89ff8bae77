"""The Docker-in-Docker socket: "the socket path is absent or a socket", the pyinfra way.

- :mod:`.paths`: which paths may be touched at all (pure).
- :mod:`.state`: a path's state and what to do about it, with the diff (pure).
- :mod:`.facts`: ``SocketPathState``, the pyinfra fact that reads a path's state.
- :mod:`.operations`: ``socket_path``, the pyinfra operation that ensures it.
- :mod:`.deploy`: the whole remediation as a pyinfra deploy.
"""
