"""The agent: one turn's tool loop, the tool registry, built-in tools, the briefing (no Textual)."""
