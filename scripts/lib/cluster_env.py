"""The settings a cluster's run directory holds in cluster.env (written by
scripts/lib/cluster.sh's cluster_write_env), for the Python drivers of scripts/cluster-test.sh
and scripts/benchmark-cluster.sh."""

import os
import shlex


def read_settings(directory):
    """cluster.env of `directory` as a dict of name to value (shell quoting undone)."""
    settings = {}
    with open(os.path.join(directory, "cluster.env")) as file:
        for line in file:
            name, _, value = line.strip().partition("=")
            settings[name] = shlex.split(value)[0] if value else ""
    return settings
