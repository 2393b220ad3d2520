"""Dataset manifests (JSON), installed as ``seqkit_plugins.manifests``; see README.md here."""
