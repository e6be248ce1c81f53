"""Speech-emotion-recognition inference API: FastAPI in front of an ONNX Runtime model.

Feature extraction comes from ``ser_features``, the package training uses, so a file is
turned into exactly the numbers the model was trained on. No TensorFlow, no librosa.
"""

__version__ = "0.1.0"
