"""Every test runs against a ledger in a temporary folder (never the user's real runs); servers
and CLIs started by the tests inherit it through the environment."""
import os
import tempfile

os.environ["MNIST_PLAYGROUND_HOME"] = tempfile.mkdtemp(prefix="mnist-playground-tests-")
