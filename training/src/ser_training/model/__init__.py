"""The network, its training and scoring, and its export to ONNX."""
