"""seqkit's built-in plugins, installed as ``seqkit_plugins``.

Each is registered through the ``seqkit`` entry-point group exactly as a third-party
plugin is (see pyproject.toml), and loads in this order (sorted by entry-point name):

- ``seqkit.cells`` (:mod:`.cells`): the ``rnn``, ``lstm`` and ``gru`` cells (torch's modules);
- ``seqkit.classify`` (:mod:`.classify`): the ``classify`` task, its model, metrics and
  plots, and the ``name2lang`` and ``csv`` datasets;
- ``seqkit.collators`` (:mod:`.collators`): the ``pad`` and ``pack`` collators;
- ``seqkit.encoders`` (:mod:`.encoders`): the ``onehot`` and ``index`` encoders;
- ``seqkit.fused`` (:mod:`.fused`): the ``fused-pack`` collator and the ``fused-gru``
  cell on seqkit's compiled ops;
- ``seqkit.seq2seq`` (:mod:`.seq2seq`): the ``seq2seq`` task, its encoder-decoder,
  decoding and metrics, and the ``pairs`` and ``cmudict`` datasets.

Features (a task with everything it needs) are packages; the kind-wise built-ins that any
task uses are modules.
"""
