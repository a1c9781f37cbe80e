"""The vision-language-model recognizer: loading, prompts, closed-set scoring.

Public API (heavy libraries load lazily, inside the functions):
- `spec.ModelSpec` — base model, adapter, quantisation, dtype, device, mode, threshold.
- `loading.load_base`, `loading.load_adapter`, `loading.check_adapter_fits`,
  `loading.quantization_config` (shared with training).
- `prompts.get_prompt`, `prompts.prompt_for`, `prompts.build_messages` (shared with training).
- `encoding.encode_prompts`, `encoding.encode_training_batch`, `encoding.answer_token_ids`,
  `encoding.end_of_answer_ids`, `encoding.ImageLimits`.
- `metadata.AdapterMetadata`, `metadata.read_metadata` (`cer_adapter.json`).
- `scoring.ClosedSetScorer` (its path chosen once by `capabilities.detect`), `trie.LabelTrie`,
  `generation.generate_answers`, `generation.parse_answer`,
  `generation.reference_log_likelihoods`.
- `recognizer.LVLMRecognizer`; build it with `cer_desktop.recognition.factory.create_recognizer`.
"""
