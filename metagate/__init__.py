"""The metagate application shell: the command line, pipeline wiring and configuration."""

__all__: list[str] = []
