"""The Scrutineer console: a server-rendered web app over the same library functions the CLI and
DAGs call (pipelines/*, storage/*). `scrutineer web` serves it with uvicorn."""
