"""A run as code to take home: a PyTorch or Keras script and a notebook that rebuild the network and its training."""
