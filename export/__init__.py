"""Export a trained run to a self-contained bundle: ONNX (+fp16/int8), TensorRT engines, tables."""
