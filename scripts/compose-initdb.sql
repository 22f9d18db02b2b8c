-- docker-compose: LiteLLM and Langfuse keep their own databases in the same PostgreSQL server.
CREATE DATABASE litellm;
CREATE DATABASE langfuse;
