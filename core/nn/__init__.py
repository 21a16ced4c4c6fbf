"""The network and its training, free of any service: the hyper-parameter schema, the data set, the model, the trainer and what it measures."""
