"""ONNX export checked in onnxruntime, and the model card."""
