"""Two-stage LoRA fine-tuning and evaluation (Yu & Lu, arXiv 2503.11241)."""
