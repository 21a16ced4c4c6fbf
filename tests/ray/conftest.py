"""A real two-node Ray cluster on this machine for the Ray executor's tests (tests/ray/local_cluster.py):
started once for the session, stopped at the end whatever happens (also on Ctrl-C: atexit)."""
import atexit

import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "ray: starts a local Ray cluster (needs requirements-ray.txt)")


@pytest.fixture(scope="session")
def cluster():
    pytest.importorskip("ray", reason="Ray is not installed: pip install -r requirements-ray.txt")
    from .local_cluster import LocalCluster
    c = LocalCluster()
    atexit.register(c.stop)
    try:
        c.start_head(cpus=1)
        c.add_node(cpus=1)
        yield c
    finally:
        c.stop()
