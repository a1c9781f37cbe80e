"""The remote tier: an OpenAI-compatible server (vLLM, SGLang, llama.cpp) scores the faces."""
