"""The vision-language-model recognizer: loading, prompts, closed-set scoring."""
