"""seqkit's built-in plugins, installed as ``seqkit_plugins``.

Each module is one plugin, registered through the ``seqkit`` entry-point group exactly
as a third-party plugin is (see pyproject.toml): ``seqkit.cells``,
``seqkit.collators``, ``seqkit.datasets``, ``seqkit.encoders``, ``seqkit.tasks``.
"""
