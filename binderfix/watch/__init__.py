"""``binderfix watch``: notice a broken builder and fix it, safely, with no one awake.

The entry point is :func:`binderfix.watch.loop.run_watcher`; decisions are pure code in
:mod:`.decide`; the node work is the deploy's own operation and kube step (:mod:`.remedy`).
"""
