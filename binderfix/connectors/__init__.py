"""How pyinfra reaches a node when SSH is not the way: ``@kubenode``, through the Kubernetes API."""
