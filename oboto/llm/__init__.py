"""One async client over litellm: streaming, tool calls, retries, budgets, usage (no Textual)."""
