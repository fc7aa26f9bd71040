"""Bundle loading and generation on onnxruntime: token ids in, token ids out."""
