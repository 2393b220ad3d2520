"""A plugin whose import fails."""
raise ImportError("seqkit_testplugin.broken needs a module that is not installed")
