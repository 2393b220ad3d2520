"""A plugin that imports fine but raises inside its hook."""
from seqkit import hookimpl


@hookimpl
def seqkit_register_datasets(register):
    raise RuntimeError("badhook cannot reach its data server")
