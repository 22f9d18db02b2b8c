"""Thin typed clients for the services the portal drives: LiteLLM, Langfuse, Microsoft Graph."""
