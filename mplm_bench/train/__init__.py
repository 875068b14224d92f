"""Train a tiny Llama-architecture protocol model from oracle transcripts (needs the
optional `train` extra: torch and gguf)."""
