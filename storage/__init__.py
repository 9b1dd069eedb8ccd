"""Storage: the Article record, the schema and the only SQL in Scrutineer.

Imports nothing else of ours, so crawlers, pipelines and DAG tasks can all share it.
"""
