"""Inference on your own images: reading real files
(:mod:`.images`) and a predictor that runs a checkpoint or an exported
file behind the config's test pipeline (:mod:`.inference`)."""
